"""Quantized layers against the stock Keras 3 layers: values, gradients, padding, signatures."""

from __future__ import annotations

import inspect
import logging

import numpy as np
import pytest

# (quantized class name, Keras class name or None, constructor kwargs, input shape)
CASES = [
    ("QuantDense", "Dense", {"units": 5}, (3, 7)),
    ("QuantConv1D", "Conv1D", {"filters": 4, "kernel_size": 3}, (2, 9, 3)),
    ("QuantConv2D", "Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2}, (2, 7, 7, 3)),
    ("QuantConv3D", "Conv3D", {"filters": 2, "kernel_size": 2}, (2, 4, 4, 4, 2)),
    (
        "QuantDepthwiseConv2D",
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2},
        (2, 6, 6, 3),
    ),
    ("QuantSeparableConv1D", "SeparableConv1D", {"filters": 4, "kernel_size": 3}, (2, 9, 3)),
    ("QuantSeparableConv2D", "SeparableConv2D", {"filters": 4, "kernel_size": 3}, (2, 6, 6, 3)),
    (
        "QuantConv2DTranspose",
        "Conv2DTranspose",
        {"filters": 3, "kernel_size": 3, "strides": 2},
        (2, 4, 4, 2),
    ),
    ("QuantConv3DTranspose", "Conv3DTranspose", {"filters": 2, "kernel_size": 2}, (2, 3, 3, 3, 2)),
    (
        "QuantConv1DTranspose",
        "Conv1DTranspose",
        {"filters": 3, "kernel_size": 3, "strides": 2},
        (2, 5, 2),
    ),
]
LOCALLY_CONNECTED = [
    ("QuantLocallyConnected1D", {"filters": 4, "kernel_size": 3, "strides": 2}, (2, 9, 3)),
    ("QuantLocallyConnected2D", {"filters": 3, "kernel_size": (2, 3)}, (2, 5, 6, 2)),
]


def weight_quantizer_args(cls) -> list[str]:
    return [spec.argument for spec in cls._weight_quantizers]


def sign(x):
    return np.where(x >= 0, 1.0, -1.0).astype("float32")


def random_weights(layer, rng):
    """Latent weights in [-1.5, 1.5] so that some lie outside the STE clip range."""
    return [rng.uniform(-1.5, 1.5, size=w.shape).astype("float32") for w in layer.weights]


def value_and_grads(tf, layer, x):
    x = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * tf.cos(y))  # non-uniform upstream gradient
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("qname, kname, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_without_quantizers_equals_keras(tf, qname, kname, kwargs, shape):
    import keras

    from bnnstat import layers

    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    ours = getattr(layers, qname)(**kwargs, use_bias=True, bias_initializer="random_normal")
    ref = getattr(keras.layers, kname)(**kwargs, use_bias=True)
    ours.build(shape)
    ref.build(shape)
    ref.set_weights(ours.get_weights())
    y, grads = value_and_grads(tf, ours, x)
    y_ref, grads_ref = value_and_grads(tf, ref, x)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("qname, kname, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_ste_sign_equals_keras_on_signs_with_straight_through_gradient(
    tf, qname, kname, kwargs, shape
):
    """q(x) = sign(x), q(w) = sign(w); dL/dw_latent = dL/dq * 1[|w| <= 1], same for x."""
    import keras

    from bnnstat import layers

    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=shape).astype("float32")
    cls = getattr(layers, qname)
    quantizers = {arg: "ste_sign" for arg in weight_quantizer_args(cls)}
    ours = cls(**kwargs, input_quantizer="ste_sign", **quantizers, use_bias=True)
    ref = getattr(keras.layers, kname)(**kwargs, use_bias=True)
    ours.build(shape)
    ref.build(shape)
    latent = random_weights(ours, rng)
    ours.set_weights(latent)
    is_bias = [w.name == "bias" for w in ours.weights]
    ref.set_weights([w if b else sign(w) for w, b in zip(latent, is_bias, strict=True)])

    y, (gx, *gw) = value_and_grads(tf, ours, x)
    y_ref, (gx_ref, *gw_ref) = value_and_grads(tf, ref, sign(x))
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gx, gx_ref * (np.abs(x) <= 1), rtol=1e-5, atol=1e-4)
    for w, b, g, g_ref in zip(latent, is_bias, gw, gw_ref, strict=True):
        expected = g_ref if b else g_ref * (np.abs(w) <= 1)
        np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-4)
    assert any((np.abs(w) > 1).any() for w in latent)  # the clip mask was exercised


def locally_connected_reference(x, kernel, bias, kernel_size, strides):
    """Direct loop: y[p] = vec(x[window(p)]) @ kernel[p] + bias[p] (channels_last)."""
    spatial = x.shape[1:-1]
    out = [(n - k) // s + 1 for n, k, s in zip(spatial, kernel_size, strides, strict=True)]
    y = np.zeros((x.shape[0], *out, kernel.shape[-1]), dtype="float64")
    for p, position in enumerate(np.ndindex(*out)):
        window = tuple(
            slice(i * s, i * s + k) for i, k, s in zip(position, kernel_size, strides, strict=True)
        )
        patch = x[(slice(None), *window, slice(None))].reshape(x.shape[0], -1)
        y[(slice(None), *position)] = patch @ kernel[p] + bias[position]
    return y


@pytest.mark.parametrize(
    "qname, kwargs, shape", LOCALLY_CONNECTED, ids=[c[0] for c in LOCALLY_CONNECTED]
)
def test_locally_connected_matches_direct_loop_and_ste(tf, qname, kwargs, shape):
    from bnnstat import layers

    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, size=shape).astype("float32")
    cls = getattr(layers, qname)
    plain = cls(**kwargs)
    plain.build(shape)
    kernel, bias = random_weights(plain, rng)
    plain.set_weights([kernel, bias])
    rank = len(shape) - 2
    ksize = np.broadcast_to(kwargs["kernel_size"], rank)
    strides = np.broadcast_to(kwargs.get("strides", 1), rank)
    expected = locally_connected_reference(x, kernel, bias, ksize, strides)
    np.testing.assert_allclose(plain(x).numpy(), expected, rtol=1e-5, atol=1e-4)

    binary = cls(**kwargs, input_quantizer="ste_sign", kernel_quantizer="ste_sign")
    binary.build(shape)
    binary.set_weights([kernel, bias])
    plain.set_weights([sign(kernel), bias])
    y, (gx, gk, gb) = value_and_grads(tf, binary, x)
    y_ref, (gx_ref, gk_ref, gb_ref) = value_and_grads(tf, plain, sign(x))
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gx, gx_ref * (np.abs(x) <= 1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gk, gk_ref * (np.abs(kernel) <= 1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gb, gb_ref, rtol=1e-5, atol=1e-4)


def test_locally_connected_channels_first_uses_keras2_layout(tf):
    """channels_first windows flatten as (channel, row, col); bias is reshaped like Keras 2."""
    from bnnstat import layers

    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 2, 4, 5)).astype("float32")  # (batch, channels, rows, cols)
    layer = layers.QuantLocallyConnected2D(3, 2, data_format="channels_first")
    layer.build(x.shape)
    kernel, bias = random_weights(layer, rng)
    layer.set_weights([kernel, bias])
    y = layer(x).numpy()
    assert y.shape == (2, 3, 3, 4)
    for p, (i, j) in enumerate(np.ndindex(3, 4)):
        patch = x[:, :, i : i + 2, j : j + 2].reshape(2, -1)
        expected = patch @ kernel[p] + bias.reshape(3, 3, 4)[:, i, j]
        np.testing.assert_allclose(y[:, :, i, j], expected, rtol=1e-5, atol=1e-5)


# -- pad_values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, stride, kernel, dilation, expected",
    [
        (8, 2, 3, 1, (0, 1)),
        (7, 2, 3, 1, (1, 1)),
        (5, 1, 3, 2, (2, 2)),
        (6, 1, 4, 1, (1, 2)),
        (4, 4, 2, 1, (0, 0)),
    ],
)
def test_same_padding_amounts(size, stride, kernel, dilation, expected):
    from bnnstat.layers import _same_padding

    assert _same_padding(size, stride, kernel=kernel, dilation=dilation) == expected


PAD_CASES = [
    ("QuantConv1D", "Conv1D", {"filters": 2, "kernel_size": 4}, (2, 6, 3)),
    ("QuantConv2D", "Conv2D", {"filters": 2, "kernel_size": 3, "strides": 2}, (2, 8, 7, 3)),
    ("QuantConv2D", "Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2}, (2, 5, 5, 2)),
    ("QuantConv3D", "Conv3D", {"filters": 2, "kernel_size": 3}, (1, 4, 4, 4, 1)),
    ("QuantDepthwiseConv2D", "DepthwiseConv2D", {"kernel_size": 3, "strides": 2}, (2, 7, 8, 2)),
    ("QuantSeparableConv1D", "SeparableConv1D", {"filters": 2, "kernel_size": 3}, (2, 6, 3)),
    ("QuantSeparableConv2D", "SeparableConv2D", {"filters": 2, "kernel_size": 3}, (2, 5, 5, 2)),
]


@pytest.mark.parametrize("qname, kname, kwargs, shape", PAD_CASES)
def test_pad_values_pads_edges_with_the_value(tf, qname, kname, kwargs, shape):
    """padding='same' + pad_values=v equals Keras 'valid' on the input padded with v."""
    import keras

    from bnnstat import layers
    from bnnstat.layers import _same_padding

    rng = np.random.default_rng(4)
    x = rng.normal(size=shape).astype("float32")
    ours = getattr(layers, qname)(**kwargs, padding="same", pad_values=1.0)
    ref = getattr(keras.layers, kname)(**kwargs, padding="valid")
    rank = len(shape) - 2
    strides = np.broadcast_to(kwargs.get("strides", 1), rank)
    dilation = np.broadcast_to(kwargs.get("dilation_rate", 1), rank)
    ksize = np.broadcast_to(kwargs["kernel_size"], rank)
    widths = (
        [(0, 0)]
        + [
            _same_padding(int(n), int(s), int(d), int(k))
            for n, s, d, k in zip(shape[1:-1], strides, dilation, ksize, strict=True)
        ]
        + [(0, 0)]
    )
    padded = np.pad(x, widths, constant_values=1.0)
    ours.build(shape)
    ref.build(padded.shape)
    ref.set_weights(ours.get_weights())
    y = ours(x).numpy()
    np.testing.assert_allclose(y, ref(padded).numpy(), rtol=1e-5, atol=1e-5)
    # and it differs from zero padding at the edges only
    zero = getattr(keras.layers, kname)(**kwargs, padding="same")
    zero.build(shape)
    zero.set_weights(ours.get_weights())
    diff = np.abs(y - zero(x).numpy()) > 1e-6
    assert diff.any()
    interior = tuple(slice(None) for _ in range(1)) + tuple(slice(2, -2) for _ in range(rank))
    if all(n > 4 for n in y.shape[1:-1]) and kwargs.get("strides", 1) == 1:
        assert not diff[interior].any()


def test_pad_values_with_unknown_spatial_size(tf):
    import keras

    from bnnstat import layers

    inputs = keras.Input((None, None, 2))
    layer = layers.QuantConv2D(2, 3, strides=2, padding="same", pad_values=1.0)
    model = keras.Model(inputs, layer(inputs))
    x = np.ones((1, 7, 8, 2), "float32")
    ref = keras.layers.Conv2D(2, 3, strides=2)
    ref.build((1, 9, 9, 2))
    ref.set_weights(layer.get_weights())
    # all-ones input padded with ones is all ones: 'same' == 'valid' on a bigger ones tensor
    np.testing.assert_allclose(
        model(x).numpy(), ref(np.ones((1, 9, 10, 2), "float32")).numpy(), rtol=1e-5, atol=1e-5
    )
    assert model(x).shape == (1, 4, 4, 2)


def test_causal_padding_with_pad_values_raises(tf):
    from bnnstat import layers

    with pytest.raises(ValueError, match="Causal padding"):
        layers.QuantConv1D(2, 3, padding="causal", pad_values=1.0)
    layers.QuantConv1D(2, 3, padding="causal")  # zero padding is fine


def test_causal_conv1d_matches_keras(tf):
    import keras

    from bnnstat import layers

    x = np.random.default_rng(5).normal(size=(2, 8, 3)).astype("float32")
    ours = layers.QuantConv1D(2, 3, padding="causal", dilation_rate=2)
    ref = keras.layers.Conv1D(2, 3, padding="causal", dilation_rate=2)
    ours.build(x.shape)
    ref.build(x.shape)
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)


# -- signatures, warnings, quantizer identifiers -----------------------------------------------


@pytest.mark.parametrize("qname, kname, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_signature_parity_with_keras(tf, qname, kname, kwargs, shape):
    import keras

    from bnnstat import layers

    cls = getattr(layers, qname)
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(getattr(keras.layers, kname).__init__).parameters
    for name, param in theirs.items():
        assert name in ours, f"{qname} lacks Keras argument {name!r}"
        assert ours[name].default == param.default, name
        assert ours[name].kind == param.kind, name
    required = [
        n for n, p in theirs.items() if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD
    ]
    assert [n for n in ours if n in required] == required
    extra = set(ours) - set(theirs)
    expected = {"input_quantizer", *weight_quantizer_args(cls)}
    if "Transpose" not in qname and qname != "QuantDense":
        expected.add("pad_values")
    assert extra == expected
    for name in extra:
        assert ours[name].default == (0.0 if name == "pad_values" else None)


def test_locally_connected_signature_matches_keras2(tf):
    from bnnstat import layers

    keras2 = [
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "data_format",
        "activation",
        "use_bias",
        "kernel_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "bias_regularizer",
        "activity_regularizer",
        "kernel_constraint",
        "bias_constraint",
        "implementation",
    ]
    for cls in (layers.QuantLocallyConnected1D, layers.QuantLocallyConnected2D):
        params = inspect.signature(cls.__init__).parameters
        assert set(keras2) | {"input_quantizer", "kernel_quantizer"} <= set(params)


LARQ_WARNING = (
    "Using a binary weight quantizer without setting `kernel_constraint` may result in starved "
    "weights (where the gradient is always zero)."
)


def test_binary_kernel_quantizer_without_constraint_warns(tf, caplog):
    from bnnstat import layers, quantizers

    with caplog.at_level(logging.WARNING, logger="bnnstat.layers"):
        layers.QuantDense(3, kernel_quantizer="ste_sign")
    assert [r.getMessage() for r in caplog.records] == [LARQ_WARNING]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bnnstat.layers"):
        layers.QuantDense(3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
        layers.QuantDense(3, kernel_quantizer=quantizers.NoOp(precision=1))
        layers.QuantDense(3, kernel_quantizer="ste_tern")
        layers.QuantDense(3, input_quantizer="ste_sign")
    assert caplog.records == []
    with caplog.at_level(logging.WARNING, logger="bnnstat.layers"):
        layers.QuantSeparableConv2D(2, 3, pointwise_quantizer="ste_sign")
    assert (
        caplog.records[0]
        .getMessage()
        .startswith("Using a binary `pointwise_quantizer` without setting `pointwise_constraint`")
    )


@pytest.mark.parametrize(
    "identifier", ["ste_sign", "SteSign", "quantizer_object", "config_dict", "function"]
)
def test_quantizer_identifiers(tf, identifier):
    from bnnstat import layers, quantizers

    value = {
        "quantizer_object": quantizers.SteSign(),
        "config_dict": {"class_name": "SteSign", "config": {"clip_value": 1.0}},
        "function": quantizers.ste_sign,
    }.get(identifier, identifier)
    layer = layers.QuantDense(2, kernel_quantizer=value, kernel_constraint="weight_clip")
    layer.build((1, 3))
    assert layer.kernel.precision == 1
    out = layer(np.ones((1, 3), "float32")).numpy()
    np.testing.assert_allclose(out, np.ones((1, 3)) @ sign(layer.kernel.numpy()), atol=1e-6)


def test_precision_tags(tf):
    from bnnstat import layers, precision_of, quantizers

    cases = [
        ("ste_sign", 1),
        ("ste_tern", 2),
        (quantizers.DoReFa(k_bit=4, mode="weights"), 4),
        (quantizers.NoOp(precision=1), 1),
        (None, None),
    ]
    for quantizer, bits in cases:
        layer = layers.QuantConv2D(2, 3, kernel_quantizer=quantizer)
        layer.build((1, 5, 5, 2))
        assert precision_of(layer.kernel) == bits
        assert precision_of(layer.bias) is None
    noop = layers.QuantDense(2, kernel_quantizer=quantizers.NoOp(precision=1))
    noop.build((1, 3))
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(noop(x).numpy(), x @ noop.kernel.numpy(), atol=1e-6)
    sep = layers.QuantSeparableConv2D(
        2, 3, depthwise_quantizer="ste_sign", pointwise_quantizer="ste_tern"
    )
    sep.build((1, 5, 5, 2))
    assert (precision_of(sep.depthwise_kernel), precision_of(sep.pointwise_kernel)) == (1, 2)


def test_quantized_scope_exposes_quantized_weights(tf, tmp_path):
    import keras

    from bnnstat import context, layers

    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.QuantDense(3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip"),
        ]
    )
    latent = model.get_weights()[0]
    assert not np.isin(latent, [-1.0, 1.0]).all()
    with context.quantized_scope(True):
        quantized = model.get_weights()[0]
        model.save(tmp_path / "binary.keras")
    np.testing.assert_array_equal(quantized, sign(latent))
    np.testing.assert_array_equal(model.get_weights()[0], latent)  # scope exited
    reloaded = keras.models.load_model(tmp_path / "binary.keras")
    np.testing.assert_array_equal(reloaded.get_weights()[0], sign(latent))
