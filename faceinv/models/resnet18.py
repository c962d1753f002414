"""ResNet18 from scratch (He et al. 2016), as the paper's encoder uses it; the attribute
classifier shares it. It takes faces of any size in [0, 1] and resizes them to
`input_size` inside the model, so an exported network takes the generator's images as they are.
"""
import keras
import tensorflow as tf

layers = keras.layers


def batch_norm(name):
    """BatchNorm whose batch statistics are summed over all replicas, so that two
    workers (or GPUs) normalise by the global batch as one device does. On one
    device it computes the moments from sums instead of tf.nn.moments, at no
    measurable cost (docs/scaling.md, "What scaling out costs on 2 cores")."""
    return layers.BatchNormalization(synchronized=True, name=name)


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
    x = batch_norm(name + "_bn1")(x)
    x = layers.ReLU()(x)
    x = Conv2D(filters, 3, padding="same", use_bias=False, name=name + "_conv2")(x)
    x = batch_norm(name + "_bn2")(x)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, stride, use_bias=False, name=name + "_down")(shortcut)
        shortcut = batch_norm(name + "_down_bn")(shortcut)
    return layers.ReLU()(layers.Add()([x, shortcut]))


def resnet18(faces, input_size, width=64):
    """ResNet18 from scratch on faces in [0, 1] of any size, resized to `input_size`
    inside the model; returns the pooled features (8 * `width`: 512 at He et al.'s
    width 64). The encoder and the attribute classifier share it."""
    x = layers.Resizing(input_size, input_size, name="resize")(faces)
    x = layers.Rescaling(2.0, offset=-1.0)(x)
    x = layers.Conv2D(width, 7, 2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.ReLU()(batch_norm("stem_bn")(x))
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    for stage, filters in enumerate((width, 2 * width, 4 * width, 8 * width)):
        x = _basic_block(x, filters, 1 if stage == 0 else 2, f"stage{stage + 1}_block1")
        x = _basic_block(x, filters, 1, f"stage{stage + 1}_block2")
    return layers.GlobalAveragePooling2D()(x)
