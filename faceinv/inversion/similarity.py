"""SSIM and multi-scale SSIM per face, in TensorFlow.

The optimisation baselines use them as losses (faceinv/inversion/losses.py) and
the report as figures (faceinv/report/table.py), so they sit here, in the
inversion stage, below the report. They take arrays or tensors of images in
[0, 1] and return a tensor [N].
"""
import numpy as np
import tensorflow as tf

SSIM_FILTER_SIZE, SSIM_SIGMA = 11, 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
# Wang et al.'s five scale weights. The coarsest scale must still hold an 11-pixel
# window, so five scales need 176 px: a 128 px face allows four, a 64 px face three.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_STABLE_FLOOR = 1e-6


def _gaussian_filter(channels):
    x = np.arange(SSIM_FILTER_SIZE, dtype=np.float64) - (SSIM_FILTER_SIZE - 1) / 2.0
    g = np.exp(-x ** 2 / (2.0 * SSIM_SIGMA ** 2))
    g /= g.sum()
    kernel = np.outer(g, g)[:, :, None, None] * np.ones((1, 1, channels, 1))
    return tf.constant(kernel, tf.float32)


def _ssim_and_contrast_structure(x, y):
    """Per-image, per-channel mean SSIM and contrast-structure term [N, C]
    (Wang et al. 2004): Gaussian window 11 / 1.5, valid positions, images in [0, 1]."""
    kernel = _gaussian_filter(x.shape[-1])

    def blur(image):
        return tf.nn.depthwise_conv2d(image, kernel, [1, 1, 1, 1], "VALID")

    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2.0 * cov + c2) / (var_x + var_y + c2)
    return (tf.reduce_mean(luminance * contrast_structure, [1, 2]),
            tf.reduce_mean(contrast_structure, [1, 2]))


def ssim(a, b):
    """Structural similarity per image, in [-1, 1] (1: identical); agrees with tf.image.ssim."""
    full, _ = _ssim_and_contrast_structure(tf.cast(a, tf.float32), tf.cast(b, tf.float32))
    return tf.reduce_mean(full, axis=-1)


def ms_ssim_scales(size):
    """How many of Wang et al.'s scales fit a `size`-pixel image."""
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and size / 2 ** scales >= SSIM_FILTER_SIZE:
        scales += 1
    return scales


def ms_ssim(a, b, weights=None):
    """Multi-scale SSIM per image (per channel, then averaged, as tf.image.ssim_multiscale),
    with as many scales as the image size allows (the weights renormalised to sum
    to 1). Unlike TensorFlow's it has finite gradients for dissimilar images: each
    factor is floored at a tiny positive value before its fractional power, so it
    can serve as a loss from a random start."""
    x, y = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    if weights is None:
        weights = MS_SSIM_WEIGHTS[:ms_ssim_scales(min(x.shape[1], x.shape[2]))]
    weights = np.asarray(weights, np.float64) / np.sum(weights)
    value = 1.0
    for scale, weight in enumerate(weights):
        full, contrast_structure = _ssim_and_contrast_structure(x, y)
        last = scale == len(weights) - 1
        factor = full if last else contrast_structure
        value *= tf.pow(tf.maximum(factor, _STABLE_FLOOR), float(weight))
        if not last:
            x = tf.nn.avg_pool2d(x, 2, 2, "SAME")
            y = tf.nn.avg_pool2d(y, 2, 2, "SAME")
    return tf.reduce_mean(value, axis=-1)
