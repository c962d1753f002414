"""The networks: the face generators (ProGAN-128, the DCGAN, the synthetic test bed), FaceNet and the ResNet18 encoder."""
