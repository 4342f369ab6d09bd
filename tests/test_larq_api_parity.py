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


def _generic_layers(tf):
    import keras

    from bnnstat import layers

    @keras.saving.register_keras_serializable(package="tests")
    class QuantConv1DTranspose(layers.QuantizerBase, keras.layers.Conv1DTranspose):
        pass

    @keras.saving.register_keras_serializable(package="tests")
    class PaddedConv1D(layers.QuantizerBase, layers.QuantizerBaseConv, keras.layers.Conv1D):
        pass

    @keras.saving.register_keras_serializable(package="tests")
    class QuantDepthwiseConv1D(layers.QuantizerDepthwiseBase, keras.layers.DepthwiseConv1D):
        pass

    @keras.saving.register_keras_serializable(package="tests")
    class SeparableConv1D(layers.QuantizerSeparableBase, keras.layers.SeparableConv1D):
        pass

    return [
        (QuantConv1DTranspose, {"filters": 4, "kernel_size": 3, "strides": 2}),
        (QuantDepthwiseConv1D, {"kernel_size": 3, "depth_multiplier": 2}),
        (SeparableConv1D, {"filters": 4, "kernel_size": 3}),
    ], PaddedConv1D


def test_larq_base_classes_quantize_any_keras_layer(tf, tmp_path):
    """Larq's pattern ``class X(QuantizerBase, keras.layers.SomeLayer)``: the Keras layer's own
    call on quantized input and weights, with gradients, in tf.function, saved and reloaded."""
    import keras

    from bnnstat import context

    @tf.custom_gradient
    def identity_sign(x):
        return tf.sign(x), lambda dy: dy

    cases, _ = _generic_layers(tf)
    rng = np.random.default_rng(8)
    x = tf.constant(rng.normal(size=(2, 9, 3)).astype("float32"))
    for cls, kwargs in cases:
        weight_args = {spec.argument: identity_sign for spec in cls._weight_quantizers}
        layer = cls(**kwargs, input_quantizer=identity_sign, **weight_args)
        reference = next(c for c in cls.__mro__ if c.__module__.startswith("keras"))(**kwargs)
        layer.build(x.shape)
        reference.build(x.shape)
        quantized = {id(getattr(layer, spec.variable)) for spec in cls._weight_quantizers}
        reference.set_weights(
            [np.sign(w.numpy()) if id(w) in quantized else w.numpy() for w in layer.weights]
        )
        for fn in (layer, tf.function(layer)):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                y = fn(x)
                loss = tf.reduce_sum(y * tf.cos(y))
            grads = tape.gradient(loss, [x, *layer.trainable_weights])
            sx = tf.sign(x)
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(sx)
                y_ref = reference(sx)
                loss_ref = tf.reduce_sum(y_ref * tf.cos(y_ref))
            grads_ref = tape.gradient(loss_ref, [sx, *reference.trainable_weights])
            np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-5, atol=1e-5)
            for got, expected in zip(grads, grads_ref, strict=True):
                np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
        assert getattr(layer, cls._weight_quantizers[0].variable) is layer.weights[0]
        with context.quantized_scope(True):
            assert set(np.unique(layer.get_weights()[0])) == {-1.0, 1.0}

    cls, kwargs = cases[0]
    model = keras.Sequential([keras.Input((9, 3)), cls(**kwargs, kernel_quantizer="ste_sign")])
    model.save(tmp_path / "generic.keras")
    loaded = keras.saving.load_model(tmp_path / "generic.keras")
    assert type(loaded.layers[0]).__name__ == "QuantConv1DTranspose"
    assert type(loaded.layers[0].kernel_quantizer).__name__ == "SteSign"
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_larq_quantizer_base_conv_pad_values(tf):
    _, padded = _generic_layers(tf)
    layer = padded(2, 3, padding="same", pad_values=1.0)
    layer.build((None, 5, 1))
    layer.set_weights([np.ones((3, 1, 2), "float32"), np.zeros(2, "float32")])
    y = layer(np.zeros((1, 5, 1), "float32")).numpy()
    np.testing.assert_array_equal(y[0, :, 0], [1.0, 0.0, 0.0, 0.0, 1.0])  # padded with ones
    assert layer.get_config()["pad_values"] == 1.0
    assert padded.from_config(layer.get_config()).pad_values == 1.0


def test_float64_layer_quantizes_in_float64(tf):
    """A float64 QuantDense with string quantizers: output, input and kernel gradients in
    float64; 1 + 1e-12 lies outside ste_sign's clip range only at float64 precision."""
    from bnnstat import layers

    layer = layers.QuantDense(
        1,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
        dtype="float64",
    )
    layer.build((None, 2))
    layer.kernel.assign(np.array([[1.0 + 1e-12], [0.5]]))
    x = tf.constant([[1.0 + 1e-12, 0.25]], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    grad_x, grad_kernel = tape.gradient(y, [x, layer.kernel])
    assert y.dtype == tf.float64
    np.testing.assert_array_equal(y.numpy(), [[2.0]])
    np.testing.assert_array_equal(grad_x.numpy(), [[0.0, 1.0]])
    np.testing.assert_array_equal(grad_kernel.numpy().ravel(), [0.0, 1.0])


def test_patch_object_restores_the_attribute_even_on_error():
    from types import SimpleNamespace

    from bnnstat.utils import patch_object

    target = SimpleNamespace(rate=1)
    with patch_object(target, "rate", 2):
        assert target.rate == 2
    assert target.rate == 1
    with pytest.raises(RuntimeError), patch_object(target, "rate", 3):
        assert target.rate == 3
        raise RuntimeError("inside the block")
    assert target.rate == 1
    with pytest.raises(AttributeError), patch_object(target, "missing", 0):
        pass


# Larq 0.14's modules (larq/*.py without the tests, conftest and `testing_utils`, Larq's own
# test helpers).
LARQ_MODULES = [
    "activations",
    "callbacks",
    "constraints",
    "context",
    "layers",
    "layers_base",
    "math",
    "metrics",
    "models",
    "optimizers",
    "quantized_variable",
    "quantizers",
    "utils",
]


def test_every_larq_module_is_a_bnnstat_attribute(tf):
    import importlib

    import bnnstat as lq

    assert set(LARQ_MODULES) <= set(dir(lq))
    for name in LARQ_MODULES:
        assert getattr(lq, name) is importlib.import_module(f"bnnstat.{name}")


def test_layers_base_reexports_the_layer_bases(tf):
    import bnnstat as lq

    names = ["BaseLayer", "QuantizerBase", "QuantizerBaseConv"]
    names += ["QuantizerDepthwiseBase", "QuantizerSeparableBase"]
    assert sorted(lq.layers_base.__all__) == names
    for name in names:
        assert getattr(lq.layers_base, name) is getattr(lq.layers, name)


def test_base_layer_quantizes_only_the_input(tf, tmp_path):
    """Larq's ``BaseLayer`` pattern: a Keras layer without weights run on the quantized input."""
    import keras

    from bnnstat.layers_base import BaseLayer

    @keras.saving.register_keras_serializable(package="tests")
    class QuantMaxPooling1D(BaseLayer, keras.layers.MaxPooling1D):
        pass

    layer = QuantMaxPooling1D(pool_size=2, input_quantizer="ste_sign")
    x = tf.constant([[[0.3], [-0.2], [-0.5], [-0.1]]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    np.testing.assert_array_equal(y.numpy().ravel(), [1.0, -1.0])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy().ravel(), [1.0, 0.0, 1.0, 0.0])
    assert layer.get_config()["input_quantizer"]["class_name"] == "SteSign"
    model = keras.Sequential([keras.Input((4, 1)), layer])
    model.save(tmp_path / "pool.keras")
    loaded = keras.saving.load_model(tmp_path / "pool.keras")
    assert type(loaded.layers[0].input_quantizer).__name__ == "SteSign"
    np.testing.assert_array_equal(loaded(x).numpy(), y.numpy())
