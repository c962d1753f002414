"""The networks: the face generators (ProGAN-128, the DCGAN, the synthetic test bed) and their landmark templates,
FaceNet and the ResNet18 encoder."""
