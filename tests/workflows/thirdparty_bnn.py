"""A third-party module written for Larq (tests/test_workflows.py imports it in a fresh process):
it registers its own quantizer, initializer and activation with
`register_keras_custom_object` (and a quantizer class with `register_alias`) at import, and
uses them by name only."""

import tensorflow as tf

import bnnstat as lq


@lq.utils.register_keras_custom_object
@lq.utils.set_precision(1)
def halfway_sign(x):
    """sign(x) forward, identity backward (written without tf.custom_gradient)."""
    return x + tf.stop_gradient(lq.math.sign(x) - x)


@lq.utils.register_keras_custom_object
def centred_uniform(shape, dtype=None):
    """Deterministic initializer: evenly spaced values in [-0.5, 0.5]."""
    size = 1
    for dim in shape:
        size *= int(dim)
    values = tf.linspace(-0.5, 0.5, size)
    return tf.cast(tf.reshape(values, shape), dtype or "float32")


@lq.utils.register_keras_custom_object
def unit_clip(x):
    """Activation: clip to [0, 1]."""
    return tf.clip_by_value(x, 0.0, 1.0)


@lq.utils.register_alias("third_party_tern")
class ThirdPartyTern(lq.quantizers.Quantizer):
    """Ternary quantizer class registered under an alias."""

    precision = 2

    def call(self, inputs):
        x = tf.convert_to_tensor(inputs)
        return x + tf.stop_gradient(tf.sign(tf.round(x)) - x)


def build(keras):
    model = keras.Sequential(
        [
            keras.Input((6,)),
            lq.layers.QuantDense(
                8,
                input_quantizer="halfway_sign",
                kernel_quantizer="halfway_sign",
                kernel_initializer="centred_uniform",
                kernel_constraint="weight_clip",
                activation="unit_clip",
                name="first",
            ),
            lq.layers.QuantDense(
                4, kernel_quantizer="third_party_tern", kernel_initializer="centred_uniform",
                name="second",
            ),
            keras.layers.Activation("unit_clip", name="clip"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.MeanSquaredError())
    return model
