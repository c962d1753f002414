"""Faces on disk and in tf.data: face sets, folders of faces, real photos aligned with MTCNN, attribute splits."""
