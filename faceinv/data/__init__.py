"""Faces on disk and in tf.data: face sets, folders of faces, CelebA, real photos aligned with MTCNN."""
