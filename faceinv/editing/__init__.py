"""Latent and image edits: attribute scores, InterFaceGAN boundaries, conditional edits, the residual attribute inverter."""
