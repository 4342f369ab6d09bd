"""Workflow script (run by tests/test_workflows.py in a fresh process, as a user would):
train a small BNN with CaseOptimizer(Bop, Adam), save it, and record what a reload must give.

    python train_bnn.py ORDER SUFFIX OUTDIR

ORDER is "keras-first" or "bnnstat-first" (import order); SUFFIX ".keras" or ".h5". Writes
OUTDIR/model{SUFFIX} and OUTDIR/expected.npz: the inputs, the saved model's predictions and
optimizer state, and the weights after one more epoch of uninterrupted training.
"""

import sys

ORDER, SUFFIX, OUT = sys.argv[1:4]
if ORDER == "keras-first":
    import keras

    import bnnstat as lq
else:
    import bnnstat as lq
    import keras
import numpy as np

keras.utils.set_random_seed(0)
model = keras.Sequential(
    [
        keras.Input((8, 8, 1)),
        lq.layers.QuantConv2D(
            4, 3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False,
            name="bconv",
        ),
        keras.layers.BatchNormalization(name="bn"),
        lq.layers.QuantConv2D(
            4, 3, input_quantizer="ste_sign", kernel_quantizer=lq.quantizers.NoOp(precision=1),
            use_bias=False, name="bop_conv",
        ),
        keras.layers.Flatten(),
        lq.layers.QuantDense(
            3, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
            kernel_constraint="weight_clip", name="head",
        ),
        keras.layers.Activation("softmax"),
    ]
)
model.compile(
    optimizer=lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(threshold=1e-6, gamma=1e-2)),
        default_optimizer=keras.optimizers.Adam(0.01),
    ),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=["accuracy"],
)
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 8, 8, 1)).astype("float32")
y = rng.integers(0, 3, size=32)
model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
model.save(f"{OUT}/model{SUFFIX}")
predictions = model.predict(x, verbose=0)
state = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
np.savez(
    f"{OUT}/expected.npz",
    x=x,
    y=y,
    predictions=predictions,
    **{f"state_{i}": value for i, value in enumerate(state)},
    **{f"resumed_{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(model.weights)},
)
print("trained", int(model.optimizer.iterations))
