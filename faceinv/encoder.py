"""The encoder: ResNet18 (from scratch, as in the paper) and a 2048-1024-latent_dim dense head.

It takes faces of any size in [0, 1] and resizes them to `input_size` inside
the model (the paper: 224; smaller sizes train faster on a CPU), so the
exported SavedModel takes the generator's images as they are.
"""
import json
import os
import shutil

import keras
import tensorflow as tf

from faceinv.errors import InputError

META_FILE = "encoder.json"
layers = keras.layers


@tf.custom_gradient
def conv_same(x, kernel):
    """A stride-1 'same' convolution whose input gradient is computed as the forward
    convolution it equals (the kernel flipped, its channels swapped). TensorFlow's
    own CPU kernel for that gradient is 30x slower than this on ResNet18's last
    stage (512 channels on 2x2 or 4x4 maps), which made an encoder step at 64 px
    2.5 times slower on a CPU (benchmarks/bench_encoder.py prints both)."""
    def gradient(upstream):
        flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
        return (tf.nn.conv2d(upstream, flipped, 1, "SAME"),
                tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel), out_backprop=upstream,
                                                strides=[1, 1, 1, 1], padding="SAME"))
    return tf.nn.conv2d(x, kernel, 1, "SAME"), gradient


class Conv2D(layers.Conv2D):
    """keras.layers.Conv2D, with `conv_same` for stride-1 'same' convolutions of odd kernels."""

    def convolution_op(self, inputs, kernel):
        if self.strides == (1, 1) and self.padding == "same" and self.dilation_rate == (1, 1) \
                and all(k % 2 for k in self.kernel_size) and self.data_format == "channels_last":
            return conv_same(inputs, tf.cast(kernel, inputs.dtype))
        return super().convolution_op(inputs, kernel)


def _basic_block(x, filters, stride, name):
    shortcut = x
    x = Conv2D(filters, 3, stride, padding="same", use_bias=False, name=name + "_conv1")(x)
    x = layers.BatchNormalization(name=name + "_bn1")(x)
    x = layers.ReLU()(x)
    x = Conv2D(filters, 3, padding="same", use_bias=False, name=name + "_conv2")(x)
    x = layers.BatchNormalization(name=name + "_bn2")(x)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, stride, use_bias=False, name=name + "_down")(shortcut)
        shortcut = layers.BatchNormalization(name=name + "_down_bn")(shortcut)
    return layers.ReLU()(layers.Add()([x, shortcut]))


def resnet18(faces, input_size):
    """ResNet18 from scratch on faces in [0, 1] of any size, resized to `input_size`
    inside the model; returns the 512-d pooled features. The encoder and the
    attribute classifier share it."""
    x = layers.Resizing(input_size, input_size, name="resize")(faces)
    x = layers.Rescaling(2.0, offset=-1.0)(x)
    x = layers.Conv2D(64, 7, 2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.ReLU()(layers.BatchNormalization(name="stem_bn")(x))
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    for stage, filters in enumerate((64, 128, 256, 512)):
        x = _basic_block(x, filters, 1 if stage == 0 else 2, f"stage{stage + 1}_block1")
        x = _basic_block(x, filters, 1, f"stage{stage + 1}_block2")
    return layers.GlobalAveragePooling2D()(x)


def build_encoder(input_size, latent_dim):
    """ResNet18 + Dense(2048) + Dense(1024) + Dense(latent_dim): face -> latent
    (the paper: input 224, ProGAN's 512-d latent)."""
    faces = keras.Input((None, None, 3), name="faces")
    x = resnet18(faces, input_size)
    x = layers.Dense(2048, activation="relu", name="head_2048")(x)
    x = layers.Dense(1024, activation="relu", name="head_1024")(x)
    latents = layers.Dense(latent_dim, dtype="float32", name="latent")(x)
    return keras.Model(faces, latents, name="resnet18_encoder")


class _Serving(tf.Module):
    def __init__(self, model, output):
        super().__init__()
        self.model, self.output = model, output

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="faces")])
    def serve(self, faces):
        outputs = self.model(faces, training=False)
        if isinstance(self.output, str):
            return {self.output: tf.cast(outputs, tf.float32)}
        return {name: tf.cast(o, tf.float32) for name, o in zip(self.output, outputs)}


def export_model(model, folder, meta, meta_file=META_FILE, output="latents"):
    """Write a SavedModel (signature `serving_default`: faces [N, H, W, 3] in [0, 1]
    -> `output`, or one output per name when `output` is a tuple of names) plus a
    JSON meta file; the folder appears whole or not at all."""
    folder = os.path.abspath(folder)
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    module = _Serving(model, output)
    tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
    with open(os.path.join(tmp, meta_file), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def export_encoder(model, folder, meta):
    """The encoder's SavedModel: faces -> latents [N, latent_dim], plus encoder.json."""
    export_model(model, folder, meta)


class LoadedEncoder:
    """An exported encoder: faces -> latents, with the meta it was trained under."""

    def __init__(self, folder):
        if not os.path.exists(os.path.join(folder, "saved_model.pb")):
            raise InputError(f"no exported encoder in {folder} (resnet.py writes one)")
        self._module = tf.saved_model.load(folder)
        self._serve = self._module.signatures["serving_default"]
        with open(os.path.join(folder, META_FILE)) as f:
            self.meta = json.load(f)
        self.folder = folder

    def __call__(self, faces):
        return self._serve(faces=tf.convert_to_tensor(faces, tf.float32))["latents"]

    def check_generator(self, generator):
        """An encoder predicts latents of the generator it was trained for, and of its size."""
        dim = self.meta.get("latent_dim", int(self._serve.structured_outputs["latents"].shape[-1]))
        if dim != generator.latent_dim:
            raise InputError(f"the encoder {self.folder} predicts {dim}-d latents, but generator "
                             f"{generator.handle} takes {generator.latent_dim}-d ones")

    def label(self, generator_label):
        """A results label: the generator's, plus a warning if a stand-in FaceNet trained this encoder."""
        if self.meta.get("facenet_standin"):
            return generator_label + " | encoder trained with a STAND-IN random FaceNet"
        return generator_label
