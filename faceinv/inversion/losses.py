"""Losses of the encoder and of gradient-based recovery.

The `*_per_face` forms return one value per face [N]: the optimisation baselines
need them, so that each face's latent follows its own loss alone. The scalar
forms are their means over the batch.
"""
import tensorflow as tf

from faceinv.inversion.similarity import ms_ssim, ssim


def z_loss(true_latents, predicted_latents):
    """Mean absolute error between latents: only for generated faces, whose latent is known."""
    return tf.reduce_mean(tf.abs(tf.cast(true_latents, tf.float32) - tf.cast(predicted_latents, tf.float32)))


def pixel_loss(targets, reconstructions):
    """Mean absolute error between the face and the generator's face for the predicted latent."""
    return tf.reduce_mean(tf.abs(targets - reconstructions))


def perceptual_per_face(target_features, reconstruction_features):
    """Mean over FaceNet's concatenation layers of each face's per-layer mean squared error."""
    per_layer = [tf.reduce_mean(tf.square(a - b), axis=tf.range(1, tf.rank(a)))
                 for a, b in zip(target_features, reconstruction_features)]
    return tf.add_n(per_layer) / len(per_layer)


def perceptual_loss(target_features, reconstruction_features):
    """The paper's perceptual loss: `perceptual_per_face` averaged over the batch."""
    return tf.reduce_mean(perceptual_per_face(target_features, reconstruction_features))


def embedding_distance(target_embeddings, reconstruction_embeddings):
    """Mean cosine distance (1 - cos) between unit FaceNet embeddings: 0 same, 2 opposite."""
    return tf.reduce_mean(1.0 - tf.reduce_sum(target_embeddings * reconstruction_embeddings, axis=-1))


IMAGE_LOSSES = {
    "mae": lambda t, r: tf.reduce_mean(tf.abs(t - r), axis=[1, 2, 3]),
    "mse": lambda t, r: tf.reduce_mean(tf.square(t - r), axis=[1, 2, 3]),
    "ssim": lambda t, r: 1.0 - ssim(t, r),
    "ms-ssim": lambda t, r: 1.0 - ms_ssim(t, r),
}
"""Image losses per face [N], 0 for identical images; "facenet" (perceptual_per_face) needs FaceNet."""
