"""Smaller pieces of Larq's public API: float64 quantizers, FlipRatio's Keras-2 attributes,
per-thread training metrics, and the legacy (Keras 2) quantizer serialization."""

from __future__ import annotations

import threading

import numpy as np
import pytest

QUANTIZER_CLASSES = [
    ("SteSign", {}),
    ("ApproxSign", {}),
    ("SwishSign", {}),
    ("SteHeaviside", {}),
    ("MagnitudeAwareSign", {}),
    ("SteTern", {}),
    ("DoReFa", {}),
    ("DoReFa", {"mode": "weights"}),
    ("NoOp", {"precision": 1}),
]
FUNCTIONS = ["ste_sign", "approx_sign", "swish_sign", "ste_heaviside", "ste_tern", "dorefa"]


def _value_and_gradient(tf, quantizer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = quantizer(x)
        loss = tf.reduce_sum(y * x)  # upstream gradient dy = x, so float32 rounding shows
    return y, tape.gradient(loss, x)


@pytest.mark.parametrize(
    "name, kwargs", QUANTIZER_CLASSES, ids=[c[0] + str(c[1]) for c in QUANTIZER_CLASSES]
)
def test_quantizer_classes_keep_float64(tf, name, kwargs):
    from bnnstat import quantizers

    quantizer = getattr(quantizers, name)(**kwargs)
    x = tf.constant([0.3 + 1e-12, -0.7, 1.0 + 1e-12, -1.0 - 1e-12, 0.5], tf.float64)
    y, grad = _value_and_gradient(tf, quantizer, x)
    assert y.dtype == tf.float64 and grad.dtype == tf.float64
    # A float32 input stays float32, and a symbolic float64 input is float64 too.
    y32, _ = _value_and_gradient(tf, quantizer, tf.cast(x, tf.float32))
    assert y32.dtype == tf.float32
    symbolic = quantizer(__import__("keras").Input((5,), dtype="float64"))
    assert symbolic.dtype == "float64"


def test_float64_gradient_precision(tf):
    """|x| = 1 + 1e-12 is outside the clip range only in float64; rounded to float32 it is 1."""
    from bnnstat import quantizers

    x = tf.constant([1.0 + 1e-12, 1.0, 0.5 + 1e-12], tf.float64)
    for quantizer in (quantizers.SteSign(), quantizers.ste_sign):
        _, grad = _value_and_gradient(tf, quantizer, x)
        # gradient of sum(q(x) * x) = q(x) + x * 1[|x| <= 1]
        np.testing.assert_array_equal(grad.numpy(), [1.0, 2.0, 1.0 + 0.5 + 1e-12])
    swish = quantizers.SwishSign(beta=5.0)
    x = tf.constant([0.123456789012345], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = swish(x)
    b_x = 5.0 * 0.123456789012345
    expected = 5.0 * (2 - b_x * np.tanh(b_x / 2)) / (1 + np.cosh(b_x))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [expected], rtol=1e-14)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_quantizer_functions_keep_float64(tf, name):
    from bnnstat import quantizers

    x = tf.constant([0.3, -0.7, 1.5], tf.float64)
    y, grad = _value_and_gradient(tf, getattr(quantizers, name), x)
    assert y.dtype == tf.float64 and grad.dtype == tf.float64


def test_mixed_precision_policy_still_casts(tf):
    import keras

    from bnnstat import quantizers

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        quantizer = quantizers.SteSign()
        assert quantizer(tf.constant([0.5, -2.0], tf.float64)).dtype == tf.float16
    finally:
        keras.config.set_dtype_policy(policy)
    assert quantizers.SteSign()(np.array([0.5, -2.0])).dtype == tf.float32  # NumPy: as Keras


def test_flip_ratio_keras2_attributes(tf):
    from bnnstat.metrics import FlipRatio

    metric = FlipRatio(values_dtype="int16")
    assert metric.stateful is True
    assert metric.built is False
    assert metric.values_dtype == tf.int16 and metric.get_config()["values_dtype"] == "int16"
    metric.update_state((1, 1))
    assert metric.built is True
    metric.update_state((2, 1))
    assert float(metric.result()) == 0.5
    metric.reset_states()
    assert float(metric.result()) == 0.0


def test_training_metrics_are_per_thread():
    from bnnstat import context

    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def other_thread():
        inside.wait(5)
        seen["other"] = set(context.get_training_metrics())
        with context.metrics_scope(["flip_ratio"]):
            seen["other_scope"] = set(context.get_training_metrics())
            release.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with context.metrics_scope(["flip_ratio"]):
        inside.set()
        release.wait(5)
        seen["main"] = set(context.get_training_metrics())
    thread.join(5)
    assert seen == {"other": set(), "other_scope": {"flip_ratio"}, "main": {"flip_ratio"}}
    assert context.get_training_metrics() == set()


def test_kernel_quantizer_metrics_come_from_the_creating_thread(tf):
    from bnnstat import context, quantizers

    created = {}

    def create():
        created["other"] = quantizers.get_kernel_quantizer("ste_sign")

    with context.metrics_scope(["flip_ratio"]):
        thread = threading.Thread(target=create)
        thread.start()
        thread.join(5)
        created["main"] = quantizers.get_kernel_quantizer("ste_sign")
    assert created["main"]._custom_metrics == ["flip_ratio"]
    assert created["other"]._custom_metrics == []


def test_legacy_serialization_format(tf):
    from bnnstat import quantizers

    quantizer = quantizers.SteSign(clip_value=0.5, name="q")
    assert quantizers.serialize(quantizer, use_legacy_format=True) == {
        "class_name": "SteSign",
        "config": {"name": "q", "trainable": True, "dtype": "float32", "clip_value": 0.5},
    }
    assert quantizers.serialize(quantizers.ste_sign, use_legacy_format=True) == "ste_sign"
    assert quantizers.serialize(None, use_legacy_format=True) is None
    config = quantizers.serialize(quantizers.DoReFa(k_bit=3), use_legacy_format=True)
    restored = quantizers.deserialize(config, use_legacy_format=True)
    assert isinstance(restored, quantizers.DoReFa) and restored.precision == 3
    keras3 = quantizers.serialize(quantizers.DoReFa(k_bit=3))
    assert isinstance(quantizers.deserialize(keras3, use_legacy_format=True), quantizers.DoReFa)


def test_conv3d_transpose_positional_order_as_larq(tf):
    from bnnstat import layers

    layer = layers.QuantConv3DTranspose(2, 2, 1, "valid", None, "channels_last")
    assert layer.output_padding is None and layer.data_format == "channels_last"
