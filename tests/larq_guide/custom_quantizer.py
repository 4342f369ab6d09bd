"""Larq key concepts, "Using Custom Quantizers", with bnnstat in place of larq."""

import numpy as np
import tensorflow as tf

import bnnstat as larq


# --- Larq guide ---
@tf.custom_gradient
def identity_sign(x):
    def grad(dy):
        return dy
    return tf.sign(x), grad

layer = larq.layers.QuantDense(10, input_quantizer=identity_sign, kernel_quantizer=identity_sign)
# --- end of the Larq guide ---

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 8)).astype("float32")
y = rng.normal(size=(64, 10)).astype("float32")
model = tf.keras.Sequential([tf.keras.Input((8,)), layer])
before = layer.kernel.numpy().copy()
expected = np.sign(x) @ np.sign(before) + layer.bias.numpy()
np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(tf.function(model)(x).numpy(), expected, rtol=1e-5, atol=1e-5)

model.compile(optimizer=tf.keras.optimizers.SGD(0.01), loss="mse")
history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
# One SGD step on the whole batch; with the identity gradient the latent kernel moves by
# -lr * sign(x)^T dL/dy, dL/dy of the mean squared error at the quantized forward pass.
residual = 2.0 * (expected - y) / y.size
np.testing.assert_allclose(
    layer.kernel.numpy(), before - 0.01 * np.sign(x).T @ residual, rtol=1e-4, atol=1e-6
)
assert np.isfinite(history.history["loss"][0])
print("OK")
