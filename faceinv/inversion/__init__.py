"""Face -> latent: the encoder's training and losses, SSIM, gradient-based recovery and the hybrid, interpolation."""
