"""Any callable works as a quantizer of every Quant layer (Larq's "Using Custom Quantizers").

A `tf.custom_gradient` sign with an identity gradient is used as input and weight quantizer of
each layer, eagerly, in `tf.function` and in `fit`. The reference is the same layer without
quantizers, given sign(x) and sign(w): its outputs must match, and, because the pseudo-gradient
is the identity, its gradients with respect to its input and weights are exactly the gradients
the quantized layer must give its latent input and weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_layers import CASES, LOCALLY_CONNECTED, weight_quantizer_args

ALL_LAYERS = [(name, kwargs, shape) for name, _, kwargs, shape in CASES] + LOCALLY_CONNECTED


@pytest.fixture(scope="module")
def identity_sign(tf):
    @tf.custom_gradient
    def identity_sign(x):
        def grad(dy):
            return dy

        return tf.sign(x), grad

    return identity_sign


def _pair(tf, name, kwargs, shape, quantizer):
    """(quantized layer, plain reference layer) with the same random latent weights."""
    from bnnstat import layers

    cls = getattr(layers, name)
    quantizers = {arg: quantizer for arg in weight_quantizer_args(cls)}
    ours = cls(**kwargs, input_quantizer=quantizer, bias_initializer="random_normal", **quantizers)
    ref = cls(**kwargs)
    ours.build(shape)
    ref.build(shape)
    rng = np.random.default_rng(3)
    # Latent values away from 0, so tf.sign never meets a 0.
    ours.set_weights(
        [
            rng.choice([-1.0, 1.0], size=w.shape) * rng.uniform(0.1, 1.5, size=w.shape)
            for w in ours.get_weights()
        ]
    )
    quantized = {id(getattr(ours, spec.variable)) for spec in cls._weight_quantizers}
    ref.set_weights([np.sign(w.numpy()) if id(w) in quantized else w.numpy() for w in ours.weights])
    return ours, ref


def _forward_backward(tf, layer, x, compiled=False):
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.cos(y))  # a non-uniform upstream gradient
        return y, tape.gradient(loss, [x, *layer.trainable_weights])

    if compiled:
        step = tf.function(step)
    y, grads = step(tf.constant(x))
    return y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("name, kwargs, shape", ALL_LAYERS, ids=[c[0] for c in ALL_LAYERS])
def test_custom_gradient_quantizer_in_every_layer(tf, identity_sign, name, kwargs, shape):
    ours, ref = _pair(tf, name, kwargs, shape, identity_sign)
    x = np.random.default_rng(4).normal(size=shape).astype("float32")
    y_ref, grads_ref = _forward_backward(tf, ref, np.sign(x))
    for compiled in (False, True):
        y, grads = _forward_backward(tf, ours, x, compiled=compiled)
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
        assert len(grads) == len(grads_ref)
        for got, expected in zip(grads, grads_ref, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, kwargs, shape", ALL_LAYERS, ids=[c[0] for c in ALL_LAYERS])
def test_weight_quantizer_receives_a_tensor_never_the_variable(tf, name, kwargs, shape):
    import keras

    from bnnstat import layers

    seen = []

    def recording(x):
        seen.append(x)
        return x * 1.0

    cls = getattr(layers, name)
    quantizers = {arg: recording for arg in weight_quantizer_args(cls)}
    layer = cls(**kwargs, **quantizers)
    x = np.zeros(shape, "float32")
    layer(x)
    tf.function(layer)(tf.constant(x))
    assert len(seen) == 2 * len(quantizers)
    for value in seen:
        assert tf.is_tensor(value)
        assert not isinstance(value, (tf.Variable, keras.Variable))


def test_custom_quantizers_train_with_fit(tf, identity_sign):
    import keras

    from bnnstat import layers

    def clip(x):  # a plain function: its true gradient is used
        return tf.clip_by_value(x, -1.0, 1.0)

    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            layers.QuantConv2D(4, 3, input_quantizer=clip, kernel_quantizer=identity_sign),
            layers.QuantDepthwiseConv2D(
                3, input_quantizer=identity_sign, depthwise_quantizer=identity_sign
            ),
            keras.layers.Flatten(),
            layers.QuantDense(3, input_quantizer=identity_sign, kernel_quantizer=identity_sign),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 6, 6, 2)).astype("float32")
    y = rng.normal(size=(16, 3)).astype("float32")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)]
    assert all(changed)  # every kernel and bias received a gradient
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), rtol=1e-5)


def test_smooth_weight_quantizer_gradient_matches_finite_differences(tf):
    """d loss / d latent kernel through a smooth quantizer (tanh), against central differences
    in float64: the chain rule runs through the value the quantizer receives."""
    from bnnstat import layers

    layer = layers.QuantDense(3, kernel_quantizer=tf.tanh, dtype="float64")
    x = tf.constant(np.random.default_rng(6).normal(size=(4, 5)))
    layer.build(x.shape)

    def loss():
        y = layer(x)
        return tf.reduce_sum(y * tf.sin(y))

    with tf.GradientTape() as tape:
        value = loss()
    grad = tape.gradient(value, layer.kernel).numpy()
    kernel = layer.kernel.numpy()
    numeric = np.zeros_like(kernel)
    eps = 1e-6
    for index in np.ndindex(kernel.shape):
        for sign in (1, -1):
            shifted = kernel.copy()
            shifted[index] += sign * eps
            layer.kernel.assign(shifted)
            numeric[index] += sign * float(loss()) / (2 * eps)
    layer.kernel.assign(kernel)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_quantizer_subclass_with_its_own_call(tf):
    """Larq's way to write a quantizer class: subclass `Quantizer` and implement `call`."""
    import copy

    from bnnstat import context, layers, precision_of, quantizers

    class Sign(quantizers.Quantizer):
        precision = 1

        def call(self, x):
            return tf.sign(x)

    layer = layers.QuantDense(
        2, input_quantizer=Sign(), kernel_quantizer=Sign(), kernel_constraint="weight_clip"
    )
    x = np.array([[0.5, -2.0, 1.0]])
    y = layer(x)
    assert y.dtype == tf.float32 and precision_of(layer.kernel) == 1
    np.testing.assert_allclose(y.numpy(), np.sign(x) @ np.sign(layer.kernel.numpy()), rtol=1e-6)
    latent = layer.kernel.numpy()
    with context.quantized_scope(True):
        view = copy.copy(layer.kernel)
        np.testing.assert_array_equal(np.asarray(view), np.sign(latent))
