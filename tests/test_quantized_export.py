"""Exporting quantized weights: inside `quantized_scope(True)`, `get_weights()`, `model.save`
(`.h5`, `.keras`) and `save_weights` give quantizer(latent weights); outside it, the latent ones.

Every check reloads what was written and compares it with the quantizers applied, outside the
scope, to the latent weights of the model that wrote it.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture()
def model(tf):
    import keras

    from bnnstat import layers, quantizers

    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.QuantConv2D(
                4, 3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name="conv"
            ),
            keras.layers.BatchNormalization(name="bn"),
            layers.QuantDepthwiseConv2D(
                3,
                input_quantizer="ste_sign",
                depthwise_quantizer=quantizers.MagnitudeAwareSign(),
                depthwise_constraint="weight_clip",
                name="depthwise",
            ),
            layers.QuantSeparableConv2D(
                5,
                2,
                input_quantizer="ste_sign",
                depthwise_quantizer="ste_tern",
                pointwise_quantizer="ste_sign",
                depthwise_constraint="weight_clip",
                pointwise_constraint="weight_clip",
                name="separable",
            ),
            keras.layers.Flatten(name="flatten"),
            layers.QuantDense(
                2,
                input_quantizer="ste_sign",
                kernel_quantizer=quantizers.DoReFa(k_bit=2, mode="weights"),
                name="dense",
            ),
        ]
    )
    rng = np.random.default_rng(7)
    model.set_weights([rng.uniform(-1.5, 1.5, size=w.shape) for w in model.get_weights()])
    return model


def _expected(tf, model, quantize: bool) -> list[np.ndarray]:
    """model.weights' values: latent, or (quantize=True) through their layer's quantizer."""
    quantizer_of = {}
    for layer in model.layers:
        for spec in getattr(layer, "_weight_quantizers", ()):
            quantizer = getattr(layer, spec.argument)
            if quantizer is not None:
                quantizer_of[id(getattr(layer, spec.variable))] = quantizer
    values = []
    for variable in model.weights:
        value = variable.numpy()
        if quantize and id(variable) in quantizer_of:
            value = quantizer_of[id(variable)](tf.constant(value)).numpy()
        values.append(value)
    return values


def _assert_weights(actual, expected):
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_quantized_values_differ_from_latent(tf, model):
    latent, quantized = _expected(tf, model, False), _expected(tf, model, True)
    differing = sum(not np.allclose(a, b) for a, b in zip(latent, quantized, strict=True))
    assert differing == 5  # conv, depthwise, separable depthwise + pointwise, dense kernels


def test_get_weights(tf, model):
    from bnnstat import context

    _assert_weights(model.get_weights(), _expected(tf, model, False))
    with context.quantized_scope(True):
        _assert_weights(model.get_weights(), _expected(tf, model, True))
        _assert_weights(model.get_layer("dense").get_weights(), _expected(tf, model, True)[-2:])
        with context.quantized_scope(False):
            _assert_weights(model.get_weights(), _expected(tf, model, False))
    _assert_weights(model.get_weights(), _expected(tf, model, False))


def test_weights_in_scope_behave_like_variables(tf, model):
    from bnnstat import context

    names = [w.path for w in model.weights]
    trainable = [w.path for w in model.trainable_weights]
    with context.quantized_scope(True):
        assert [w.path for w in model.weights] == names
        assert [w.path for w in model.trainable_weights] == trainable
        assert all(w.trainable for w in model.get_layer("conv").weights)
        kernel = model.get_layer("conv").weights[0]
        assert set(np.unique(np.asarray(kernel))) == {-1.0, 1.0}
        assert set(np.unique(tf.convert_to_tensor(kernel).numpy())) == {-1.0, 1.0}
        kernel.assign(np.full(kernel.shape, 0.25, "float32"))  # writes the latent weight
    np.testing.assert_array_equal(model.get_layer("conv").kernel.numpy(), 0.25)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_model_save(tf, model, tmp_path, suffix):
    from bnnstat import context
    from bnnstat.models import load_model

    model.save(tmp_path / f"latent{suffix}")
    with context.quantized_scope(True):
        model.save(tmp_path / f"binary{suffix}")
    _assert_weights(
        load_model(tmp_path / f"latent{suffix}").get_weights(), _expected(tf, model, False)
    )
    binary = load_model(tmp_path / f"binary{suffix}")
    _assert_weights(binary.get_weights(), _expected(tf, model, True))


def test_save_weights(tf, model, tmp_path):
    import keras

    from bnnstat import context

    with context.quantized_scope(True):
        model.save_weights(tmp_path / "binary.weights.h5")
    model.save_weights(tmp_path / "latent.weights.h5")
    for name, quantize in (("binary", True), ("latent", False)):
        clone = keras.models.clone_model(model)
        clone.load_weights(tmp_path / f"{name}.weights.h5")
        _assert_weights(clone.get_weights(), _expected(tf, model, quantize))


def test_export_does_not_touch_flip_ratio_metrics(tf):
    from bnnstat import context, layers, quantizers

    layer = layers.QuantDense(
        3,
        kernel_quantizer=quantizers.SteSign(metrics=["flip_ratio"]),
        kernel_constraint="weight_clip",
    )
    layer(np.ones((2, 4), "float32"))
    metric = layer.kernel_quantizer.flip_ratio
    count = float(metric.count.numpy())
    assert count == 1.0
    with context.quantized_scope(True):
        layer.get_weights()
    assert float(metric.count.numpy()) == count


def test_layer_weight_attributes_read_quantized_in_scope(tf, model):
    """As Larq's ``layer.kernel`` (a QuantizedVariable): quantized inside the scope, the latent
    variable outside it; the forward pass quantizes once either way."""
    from bnnstat import context

    x = np.random.default_rng(9).normal(size=(2, 8, 8, 3)).astype("float32")
    outside = model(x, training=False).numpy()
    expected = dict(zip((w.path for w in model.weights), _expected(tf, model, True), strict=True))
    separable = model.get_layer("separable")
    with context.quantized_scope(True):
        for layer, name in (
            (model.get_layer("conv"), "kernel"),
            (model.get_layer("depthwise"), "kernel"),
            (separable, "depthwise_kernel"),
            (separable, "pointwise_kernel"),
            (model.get_layer("dense"), "kernel"),
        ):
            view = getattr(layer, name)
            np.testing.assert_allclose(np.asarray(view), expected[view.path], rtol=1e-6)
        np.testing.assert_allclose(model(x, training=False).numpy(), outside, rtol=1e-5, atol=1e-5)
    kernel = model.get_layer("conv").kernel
    assert kernel is model.get_layer("conv").weights[0]
    assert not set(np.unique(kernel.numpy())) <= {-1.0, 1.0}


def test_profile_inside_scope_sees_the_same_weights(tf, model):
    """The inspector compares weights by identity (trainable or not): the views are stable."""
    from bnnstat import context
    from bnnstat.models import ModelProfile

    outside = ModelProfile(model)
    with context.quantized_scope(True):
        conv = model.get_layer("conv")
        assert conv.kernel is conv.kernel is conv.weights[0]
        assert conv.weights[0] in conv.trainable_weights
        inside = ModelProfile(model)
    assert inside.generate_table() == outside.generate_table()
    assert inside.weight_count(trainable=True) == outside.weight_count(trainable=True)
