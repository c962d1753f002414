"""Latent and image edits: attribute scores, InterFaceGAN boundaries, conditional edits, the residual attribute
inverter and the faces it trains on."""
