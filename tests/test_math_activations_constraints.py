"""bnnstat.math, bnnstat.activations and bnnstat.constraints against their formulas."""

from __future__ import annotations

import numpy as np
import pytest

X = np.float32([-3.0, -1.001, -1.0, -0.999, -0.5, -1e-7, 0.0, 1e-7, 0.5, 0.999, 1.0, 1.001, 3.0])


def value_and_grad(tf, fn, x):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = fn(xt)
    return np.asarray(y), np.asarray(tape.gradient(y, xt))


def test_sign_never_zero(tf):
    from bnnstat import math

    np.testing.assert_array_equal(np.asarray(math.sign(X)), np.where(X >= 0, 1.0, -1.0))
    assert np.asarray(math.sign(tf.constant(0.0))) == 1.0
    assert math.sign(tf.constant([0], tf.int32)).dtype == tf.int32


def test_heaviside(tf):
    from bnnstat import math

    np.testing.assert_array_equal(np.asarray(math.heaviside(X)), np.where(X > 0, 1.0, 0.0))


def test_hard_tanh(tf):
    from bnnstat import activations

    y, g = value_and_grad(tf, activations.hard_tanh, X)
    np.testing.assert_allclose(y, np.clip(X, -1, 1))
    np.testing.assert_array_equal(g, (np.abs(X) <= 1).astype(np.float32))


@pytest.mark.parametrize("alpha", [0.2, 0.5])
def test_leaky_tanh(tf, alpha):
    from bnnstat import activations

    want = np.where(X > 1, 1 + alpha * (X - 1), np.where(X < -1, -1 + alpha * (X + 1), X))
    fn = activations.leaky_tanh if alpha == 0.2 else lambda v: activations.leaky_tanh(v, alpha)
    y, g = value_and_grad(tf, fn, X)
    np.testing.assert_allclose(y, want, atol=1e-6)
    inside = np.abs(X) < 1
    outside = np.abs(X) > 1
    np.testing.assert_allclose(g[inside], 1.0)
    np.testing.assert_allclose(g[outside], alpha, atol=1e-6)


def test_activation_strings(tf):
    import keras

    from bnnstat import activations

    assert keras.activations.get("leaky_tanh") is activations.leaky_tanh
    layer = keras.layers.Activation("leaky_tanh")
    np.testing.assert_allclose(np.asarray(layer(np.float32([2.0]))), [1.2], atol=1e-6)
    # "hard_tanh" as a string is Keras' own built-in: we never shadow Keras
    np.testing.assert_allclose(np.asarray(keras.activations.get("hard_tanh")(X)), np.clip(X, -1, 1))


@pytest.mark.parametrize("clip_value", [1, 0.5, 2.0])
def test_weight_clip(tf, clip_value):
    from bnnstat.constraints import WeightClip

    y = np.asarray(WeightClip(clip_value)(X))
    np.testing.assert_allclose(y, np.clip(X, -clip_value, clip_value))


def test_weight_clip_alias_and_serialization(tf):
    import keras

    from bnnstat.constraints import WeightClip, weight_clip

    assert weight_clip is WeightClip
    assert WeightClip().clip_value == 1
    by_string = keras.constraints.get("weight_clip")
    assert isinstance(by_string, WeightClip) and by_string.clip_value == 1
    dense = keras.layers.Dense(3, kernel_constraint="weight_clip")
    assert isinstance(dense.kernel_constraint, WeightClip)
    config = keras.saving.serialize_keras_object(WeightClip(0.3))
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, WeightClip) and restored.clip_value == 0.3
    legacy = keras.constraints.get({"class_name": "WeightClip", "config": {"clip_value": 0.7}})
    assert legacy.clip_value == 0.7


def test_weight_clip_applied_in_fit(tf, tmp_path):
    import keras

    from bnnstat.constraints import WeightClip

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(3, kernel_constraint=WeightClip(0.05),
                           kernel_initializer=keras.initializers.Constant(0.5)),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mean_squared_error")
    data = np.random.default_rng(0).normal(size=(16, 4))
    model.fit(data, np.ones((16, 3)), epochs=1, batch_size=8, verbose=0)
    assert np.max(np.abs(model.layers[0].kernel.numpy())) <= 0.05 + 1e-7
    path = tmp_path / "clip.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    assert loaded.layers[0].kernel_constraint.clip_value == 0.05
