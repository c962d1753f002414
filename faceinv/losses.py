"""The encoder's losses (Bayat et al. 2020, section 3), each a scalar mean."""
import tensorflow as tf


def z_loss(true_latents, predicted_latents):
    """Mean absolute error between latents: only for generated faces, whose latent is known."""
    return tf.reduce_mean(tf.abs(tf.cast(true_latents, tf.float32) - tf.cast(predicted_latents, tf.float32)))


def pixel_loss(targets, reconstructions):
    """Mean absolute error between the face and the generator's face for the predicted latent."""
    return tf.reduce_mean(tf.abs(targets - reconstructions))


def perceptual_loss(target_features, reconstruction_features):
    """Mean over FaceNet's concatenation layers of the per-layer mean squared error."""
    per_layer = [tf.reduce_mean(tf.square(a - b)) for a, b in zip(target_features, reconstruction_features)]
    return tf.add_n(per_layer) / len(per_layer)


def embedding_distance(target_embeddings, reconstruction_embeddings):
    """Mean cosine distance (1 - cos) between unit FaceNet embeddings: 0 same, 2 opposite."""
    return tf.reduce_mean(1.0 - tf.reduce_sum(target_embeddings * reconstruction_embeddings, axis=-1))
