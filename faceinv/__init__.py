"""Shared parts of the inverse-mapping scripts.

The stages read bottom-up, each importing only from those below it (and from
the shared modules at this level: files, config, paths, training, ...):
models (the networks), data (faces on disk, CelebA, MTCNN alignment),
inversion (face to latent), editing (moving a latent or a face), report
(results, Table 1). tests/test_layering.py keeps them so.
"""
