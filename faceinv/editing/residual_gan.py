"""The attribute inverter's networks and losses: two residual generators, one discriminator.

Following "Learning Residual Images for Face Attribute Manipulation" (Shen & Liu
2017), which the paper reimplements: the generator `add` (the paper's G0) turns
a face without the attribute into one with it, `remove` (G1) does the reverse.
Each predicts only a residual image that is added to its input, so the rest of
the face is kept by construction rather than redrawn.

Images are float32 in [0, 1]; residuals live in [-1, 1] (the same units).

Generator: 5x5 conv 64 stride 1, 4x4 conv 128 stride 2, 4x4 conv 256 stride
2, two upsampling blocks back to the input's size (128, then 64 channels), 4x4
conv to 3 channels; leaky ReLU and instance norm after every hidden layer. The
published table upsamples with 4x4 transposed convolutions of stride 1, which
cannot bring a 32x32 map back to 128x128. By default (`upsample="resize"`) each
block doubles the map bilinearly and then applies a 3x3 conv, which leaves no
checkerboard; `upsample="transposed"` gives the table's transposed convs with
stride 2, which overlap their kernels unevenly and leave a period-2 checkerboard
in every residual (`checkerboard_energy` measures it). `skips` adds U-Net skip
connections, `blocks` residual blocks at a quarter of the size. `width` scales
every channel count (64 is the paper's); any input size divisible by 4 works.

With `attention`, the last conv has a fourth channel: a sigmoid mask m, and the
residual becomes m * tanh(r). With `edit="blend"` the generator paints a colour
over the face under such a mask instead of adding a residual. Either mask's
mean is penalised (`mask_loss`), so the generator must say where it edits; the
authors report residuals that brighten the whole face and leak outside the
attribute's region.

Discriminator: five 4x4 stride-2 convs (64 to 1024 channels at width 64), a 4x4
conv to one channel, flatten, and a dense layer of three logits, for the
classes real without the attribute, real with it, and generated. Its second
block's activations are the features of the perceptual loss (as in Shen & Liu,
no external network). With `eye_discriminator` a second one, of the same
design at half the size (and at its own width, `eye_width`), judges the eye
region alone (`eye_crop`).
"""
import os

import keras
import numpy as np
import tensorflow as tf

from faceinv import files, savedmodel
from faceinv.models.generators import PROGAN_HANDLE, SYNTHETIC

layers = keras.layers
META_FILE = "inverter.json"
WITHOUT, WITH, GENERATED = 0, 1, 2  # the discriminator's classes
SLOPE = 0.2                          # leaky ReLU


def _norm_act(x):
    x = layers.GroupNormalization(groups=-1, epsilon=1e-5)(x)  # groups=-1: instance norm
    return layers.LeakyReLU(SLOPE)(x)


UPSAMPLING = ("resize", "transposed")


class BilinearDouble(layers.Layer):
    """Twice the map's size, bilinear. Keras' UpSampling2D needs the size known when
    traced, which the exported SavedModel (any input size) does not give it."""

    def call(self, x):
        return tf.image.resize(x, 2 * tf.shape(x)[1:3], "bilinear")


def _upsample(x, channels, upsample):
    """Double the map's size. A stride-2 transposed conv (the paper's) overlaps its
    kernel unevenly, which leaves a period-2 checkerboard in the residual; resizing
    (bilinear) and then convolving does not (Odena et al. 2016, "Deconvolution and
    checkerboard artifacts")."""
    if upsample == "transposed":
        return layers.Conv2DTranspose(channels, 4, 2, padding="same")(x)
    x = BilinearDouble()(x)
    return layers.Conv2D(channels, 3, 1, padding="same")(x)


EDITS = ("residual", "blend")
# The blend's mask starts at sigmoid(-4) = 1.8% everywhere: near the identity
# edit, and local from the first step (a mask of 0.5 lets the whole face change).
BLEND_MASK_START = -4.0


def _residual_block(x):
    """Two 3x3 convs added back to their input, as in CycleGAN's ResNet generator."""
    channels = x.shape[-1]
    y = _norm_act(layers.Conv2D(channels, 3, 1, padding="same")(x))
    y = layers.GroupNormalization(groups=-1, epsilon=1e-5)(layers.Conv2D(channels, 3, 1, padding="same")(y))
    return layers.Add()([x, y])


def build_generator(name, width=64, attention=False, upsample="resize", skips=False, edit="residual", blocks=0):
    """faces [N, H, W, 3] -> [edited faces, residual] (both [N, H, W, 3]), and
    with `attention` (or `edit="blend"`) the mask [N, H, W, 1] as a third output.
    With `skips`, each upsampling block also sees the encoder's map of its size
    (a U-Net), so the residual can be drawn where the input's edges are.

    The paper's generator draws each pixel from a window of about 25 pixels
    around it: enough to paint over a rim it sees, too little to draw a ring
    around an eye whose centre lies outside that window. `blocks` residual
    blocks at a quarter of the size widen the window by up to 16 pixels each
    (CycleGAN's generator has 6 at 128 px).

    `edit="blend"` paints instead of adding: edited = (1 - m) x + m c, a colour c
    in [0, 1] laid over the face with opacity m (as GANimation does, and as
    glasses sit on a face). A dark rim is then one colour and one mask whatever
    the skin beneath, where a residual must be computed from the skin per pixel."""
    if upsample not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, not {upsample!r}")
    if edit not in EDITS:
        raise ValueError(f"edit must be one of {EDITS}, not {edit!r}")
    faces = keras.Input((None, None, 3), name="faces")
    x = layers.Rescaling(2.0, offset=-1.0)(faces)
    full = _norm_act(layers.Conv2D(width, 5, 1, padding="same")(x))
    half = _norm_act(layers.Conv2D(2 * width, 4, 2, padding="same")(full))
    x = _norm_act(layers.Conv2D(4 * width, 4, 2, padding="same")(half))
    for _ in range(blocks):
        x = _residual_block(x)
    x = _norm_act(_upsample(x, 2 * width, upsample))
    if skips:
        x = layers.Concatenate()([x, half])
    x = _norm_act(_upsample(x, width, upsample))
    if skips:
        x = layers.Concatenate()([x, full])
    if edit == "blend":
        # Zero kernel: every face starts under the same faint grey (see BLEND_MASK_START).
        out = layers.Conv2D(4, 4, 1, padding="same", kernel_initializer="zeros",
                            bias_initializer=keras.initializers.Constant([0.0, 0.0, 0.0, BLEND_MASK_START]),
                            name="residual_conv")(x)
        colour = layers.Activation("sigmoid")(out[..., :3])
        mask = layers.Activation("sigmoid", name="mask")(out[..., 3:])
        residual = mask * (colour - faces)
        return keras.Model(faces, [faces + residual, residual, mask], name=name)
    # Zero-initialised: training starts from the identity edit (residual 0, mask 0.5).
    out = layers.Conv2D(4 if attention else 3, 4, 1, padding="same", kernel_initializer="zeros",
                        name="residual_conv")(x)
    residual = layers.Activation("tanh")(out[..., :3])
    outputs = []
    if attention:
        mask = layers.Activation("sigmoid", name="mask")(out[..., 3:])
        residual = mask * residual
        outputs = [mask]
    edited = layers.Activation(lambda t: tf.clip_by_value(t, 0.0, 1.0))(faces + residual)
    return keras.Model(faces, [edited, residual] + outputs, name=name)


def build_discriminator(size, width=64):
    """faces [N, size, size, 3] -> [logits [N, 3], perceptual features]; the
    dense layer fixes the size, which must be divisible by 32."""
    faces = keras.Input((size, size, 3), name="faces")
    x = layers.Rescaling(2.0, offset=-1.0)(faces)
    features = None
    for i, channels in enumerate((1, 2, 4, 8, 16)):
        x = layers.Conv2D(channels * width, 4, 2, padding="same")(x)
        x = layers.LeakyReLU(SLOPE)(x) if i == 0 else _norm_act(x)
        if i == 1:
            features = x
    x = layers.Conv2D(1, 4, 1, padding="same")(x)
    logits = layers.Dense(3, name="logits")(layers.Flatten()(x))
    return keras.Model(faces, [logits, features], name="discriminator")


def eye_crop(faces):
    """The face's central half, rows 7/32 to 23/32 and columns 1/4 to 3/4: the
    glasses of the synthetic faces (all but the tips of a few temples), and the
    eyes of ProGAN's CelebA framing
    (rows 54, columns 44 and 83 of 128). The eye discriminator sees it at full
    detail, where the whole-face one sees thin rims through five halvings."""
    size = faces.shape[1]
    top, left = 7 * size // 32, size // 4
    return faces[:, top:top + size // 2, left:left + size // 2]


def discriminator_loss(logits_without, logits_with, logits_generated):
    """Cross entropy of the 3-way softmax: real faces to their class, edits to `generated`."""
    def ce(logits, label):
        labels = tf.fill(tf.shape(logits)[:1], label)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    return (ce(logits_without, WITHOUT) + ce(logits_with, WITH) + ce(logits_generated, GENERATED)) / 3.0


def adversarial_loss(logits, target):
    """Cross entropy pushing the discriminator to see an edit as a real face of class `target`."""
    labels = tf.fill(tf.shape(logits)[:1], target)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def dual_loss(faces, round_trip):
    """Mean absolute error between a face and its edit edited back (remove(add(x)) ~ x)."""
    return tf.reduce_mean(tf.abs(faces - round_trip))


def residual_loss(residual):
    """Mean absolute residual: edits should be small and local."""
    return tf.reduce_mean(tf.abs(residual))


def discriminator_feature_loss(features, edited_features):
    """Mean absolute difference of discriminator features: the edit keeps the face's content.
    The attribute paper calls it a perceptual loss; unlike the encoder's, it needs no FaceNet."""
    return tf.reduce_mean(tf.abs(features - edited_features))


def mask_loss(mask):
    """Mean attention mask: the fraction of the image the generator says it edits."""
    return tf.reduce_mean(mask)


def checkerboard_energy(images, band=1 / 16):
    """[N]: the share of each image's spectral power (mean removed, channels summed)
    near the period-2 frequencies (N/2, 0), (0, N/2) and (N/2, N/2), within `band`
    of the image's size: about 3 (2 band)^2 (5%) for white noise, near 0 for a
    smooth residual, most of it for a checkerboard."""
    images = np.asarray(images, np.float64)
    images = images - images.mean((1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(images, axes=(1, 2))) ** 2).sum(-1)
    height, width = power.shape[1:]
    fy = np.abs(np.fft.fftfreq(height))[:, None]  # cycles per pixel; 0.5 is period 2
    fx = np.abs(np.fft.fftfreq(width))[None, :]
    near_y, near_x = np.abs(fy - 0.5) <= band, np.abs(fx - 0.5) <= band
    low_y, low_x = fy <= band, fx <= band
    period2 = (near_y & low_x) | (low_y & near_x) | (near_y & near_x)
    return (power * period2).sum((1, 2)) / np.maximum(power.sum((1, 2)), 1e-30)


def export_inverter(add, remove, folder, meta):
    """Both generators as SavedModels, folder/add and folder/remove (signature
    `serving_default`: faces [N, H, W, 3] in [0, 1] -> `edited`, `residual`, and
    `mask` with attention), each with inverter.json beside it."""
    for name, model in (("add", add), ("remove", remove)):
        outputs = ("edited", "residual", "mask")[:len(model.outputs)]
        savedmodel.export(model, os.path.join(folder, name), dict(meta, direction=name), META_FILE, outputs)


def trained_for(meta):
    """(generator handle, attribute) an exported inverter was trained for, from its inverter.json.
    Exports made before the record was kept are read by the faces they learnt from: synthetic
    faces are the renderer's, CelebA crops ProGAN-128's, a score folder names its generator;
    two folders of crops say nothing (None)."""
    if "generator" in meta:
        return meta["generator"], meta.get("attribute")
    source, config = meta.get("source"), meta.get("config") or {}
    if source == "synthetic":
        return SYNTHETIC, "eyeglasses"
    if source == "celeba":
        return PROGAN_HANDLE, (config.get("attribute") or "").lower() or None
    if source == "dcgan" and config.get("scores"):
        scores_meta = os.path.join(config["scores"], "meta.json")
        if os.path.isfile(scores_meta):
            return files.load_json(scores_meta).get("generator"), "eyeglasses"
    return None, None


class LoadedInverter:
    """Exported generators: `inverter(faces, "add")` -> (edited, residual), float32 numpy."""

    def __init__(self, folder):
        self.folder = folder
        self.directions = {name: savedmodel.SavedModel(os.path.join(folder, name), META_FILE,
                                                       f"attribute inverter ({name}/)", "attribute_inverter.py train")
                           for name in ("add", "remove")}
        self.meta = self.directions["add"].meta
        self.size = self.meta["size"]
        self.label = self.meta["label"]

    def __call__(self, faces, direction):
        out = self.directions[direction](faces)
        return out["edited"], out["residual"]
