"""Quantized layers: config round trips, .keras/.h5 save-load, clone_model, mixed precision,
MirroredStrategy, and precision tags surviving all of them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

BINARY = {
    "input_quantizer": "ste_sign",
    "kernel_quantizer": "ste_sign",
    "kernel_constraint": "weight_clip",
}


def models_by_rank():
    """Three small models that together use every quantized layer type."""
    import keras

    from bnnstat import layers, quantizers

    sep = {
        "input_quantizer": "ste_sign",
        "depthwise_quantizer": "ste_sign",
        "pointwise_quantizer": quantizers.NoOp(precision=1),
        "depthwise_constraint": "weight_clip",
    }
    two_d = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            layers.QuantConv2D(4, 3, padding="same", pad_values=1.0, **BINARY),
            layers.QuantDepthwiseConv2D(
                3,
                padding="same",
                pad_values=1.0,
                input_quantizer="ste_sign",
                depthwise_quantizer="ste_tern",
            ),
            layers.QuantSeparableConv2D(4, 3, **sep),
            layers.QuantConv2DTranspose(3, 2, strides=2, **BINARY),
            layers.QuantLocallyConnected2D(2, 3, strides=2, **BINARY),
            keras.layers.Flatten(),
            layers.QuantDense(
                3,
                input_quantizer="ste_sign",
                kernel_quantizer=quantizers.DoReFa(k_bit=4, mode="weights"),
            ),
        ],
        name="two_d",
    )
    one_d = keras.Sequential(
        [
            keras.Input((12, 3)),
            layers.QuantConv1D(4, 3, padding="same", pad_values=1.0, **BINARY),
            layers.QuantSeparableConv1D(4, 3, padding="same", **sep),
            layers.QuantLocallyConnected1D(2, 3, **BINARY),
        ],
        name="one_d",
    )
    three_d = keras.Sequential(
        [
            keras.Input((4, 4, 4, 1)),
            layers.QuantConv3D(2, 2, **BINARY),
            layers.QuantConv3DTranspose(2, 2, **BINARY),
        ],
        name="three_d",
    )
    return [two_d, one_d, three_d]


def precision_tags(model):
    """[(layer class, weight name, precision tag)] in model order (paths differ per instance)."""
    return [
        (type(layer).__name__, w.name, getattr(w, "precision", None))
        for layer in model.layers
        for w in layer.weights
    ]


def test_every_layer_config_round_trips(tf):
    from bnnstat import layers

    for model in models_by_rank():
        for layer in model.layers:
            if not isinstance(layer, layers.QuantizerBase):
                continue
            config = layer.get_config()
            clone = type(layer).from_config(config)
            assert clone.get_config() == config
            for key in (
                "input_quantizer",
                "kernel_quantizer",
                "depthwise_quantizer",
                "pointwise_quantizer",
            ):
                if key in config:
                    assert getattr(clone, key).__class__ is getattr(layer, key).__class__


def test_precision_tags_cover_the_quantized_kernels(tf):
    two_d, one_d, three_d = models_by_rank()
    kernels = [getattr(w, "precision", None) for w in two_d.weights if w.name != "bias"]
    # conv 1, depthwise tern 2, separable (1, NoOp 1), transpose 1, locally connected 1, dorefa 4
    assert kernels == [1, 2, 1, 1, 1, 1, 4]
    assert all(getattr(w, "precision", None) is None for w in two_d.weights if w.name == "bias")
    assert [getattr(w, "precision", None) for w in one_d.weights if w.name != "bias"] == [
        1,
        1,
        1,
        1,
    ]
    assert [getattr(w, "precision", None) for w in three_d.weights if w.name != "bias"] == [1, 1]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_load_gives_identical_predictions_and_tags(tf, tmp_path, suffix):
    import keras

    from bnnstat import loading

    rng = np.random.default_rng(0)
    for model in models_by_rank():
        x = rng.normal(size=(2, *model.input_shape[1:])).astype("float32")
        expected = model.predict(x, verbose=0)
        path = tmp_path / f"{model.name}{suffix}"
        model.save(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for reloaded in (keras.models.load_model(path, compile=False), loading.load_model(path)):
            np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)
            assert precision_tags(reloaded) == precision_tags(model)
            assert [type(layer) for layer in reloaded.layers] == [
                type(layer) for layer in model.layers
            ]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # never written to


def test_clone_model_keeps_tags_and_config(tf):
    import keras

    for model in models_by_rank():
        clone = keras.models.clone_model(model)
        assert precision_tags(clone) == precision_tags(model)
        assert [layer.get_config() for layer in clone.layers] == [
            layer.get_config() for layer in model.layers
        ]


def test_mixed_float16_policy(tf):
    import keras

    from bnnstat import layers

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models_by_rank()[0]
        conv = model.layers[0]
        assert conv.compute_dtype == "float16" and conv.kernel.dtype == "float32"
        x = np.random.default_rng(1).normal(size=(4, 8, 8, 2)).astype("float32")
        y = model(x)
        assert y.dtype == "float16"
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, np.zeros((4, 3), "float32"), epochs=1, verbose=0)
        assert np.isfinite(model.predict(x, verbose=0).astype("float32")).all()
        assert conv.kernel.precision == 1
        dense = layers.QuantDense(2, **BINARY)
        assert dense(x.reshape(4, -1)).dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_trains_under_mirrored_strategy(tf, mirrored_strategy):
    import keras

    from bnnstat import layers

    assert len(tf.config.list_logical_devices("CPU")) >= 2
    strategy = mirrored_strategy
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((6, 6, 1)),
                layers.QuantConv2D(4, 3, padding="same", pad_values=1.0, **BINARY),
                keras.layers.BatchNormalization(),
                keras.layers.Flatten(),
                layers.QuantDense(2, **BINARY),
            ]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    kernel = model.layers[0].kernel
    assert isinstance(kernel.value, tf.distribute.DistributedValues)
    assert kernel.precision == 1
    before = kernel.numpy().copy()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 6, 6, 1)).astype("float32")
    history = model.fit(
        x, rng.normal(size=(8, 2)).astype("float32"), batch_size=4, epochs=2, verbose=0
    )
    assert np.isfinite(history.history["loss"]).all()
    assert not np.array_equal(kernel.numpy(), before)  # latent weights were trained
    assert np.abs(kernel.numpy()).max() <= 1.0  # weight_clip applied
    assert model.layers[-1].kernel.precision == 1
