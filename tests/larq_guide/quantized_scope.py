"""Larq's `quantized_scope` example (larq.context), with bnnstat in place of larq."""

import numpy as np
import tensorflow as tf

import bnnstat as larq

model = tf.keras.Sequential(
    [
        tf.keras.Input((6,)),
        larq.layers.QuantDense(
            4,
            input_quantizer="ste_sign",
            kernel_quantizer="ste_sign",
            kernel_constraint="weight_clip",
        ),
        tf.keras.layers.BatchNormalization(),
        larq.layers.QuantDense(2, kernel_quantizer="ste_sign", kernel_constraint="weight_clip"),
    ]
)
model.compile(optimizer="adam", loss="mse")
rng = np.random.default_rng(1)
model.fit(rng.normal(size=(32, 6)), rng.normal(size=(32, 2)), epochs=1, verbose=0)

# --- Larq guide ---
model.save("full_precision_model.h5")  # save full precision latent weights
fp_weights = model.get_weights()  # get latent weights

with larq.context.quantized_scope(True):
    model.save("binary_model.h5")  # save binarized weights
    weights = model.get_weights()  # get binarized weights
# --- end of the Larq guide ---

kernels = {0, 6}  # the two QuantDense kernels in model.get_weights() order
for i, (latent, exported) in enumerate(zip(fp_weights, weights, strict=True)):
    if i in kernels:
        np.testing.assert_array_equal(exported, np.where(latent >= 0, 1.0, -1.0))
        assert not set(np.unique(latent)) <= {-1.0, 1.0}
    else:
        np.testing.assert_array_equal(exported, latent)

for path, expected in (("full_precision_model.h5", fp_weights), ("binary_model.h5", weights)):
    loaded = larq.models.load_model(path)
    for a, b in zip(loaded.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(a, b)
print("OK")
