"""Face -> latent: the encoder's training and losses, gradient-based recovery and the hybrid, interpolation."""
