"""Workflow script: `python thirdparty_workflow.py train|load OUTDIR` (fresh process each).

train: build the third-party model by names only, train it, save .keras and .h5, record inputs
and predictions. load: import the third-party module again, load both files with plain Keras
(and with `bnnstat.models.load_model`), compare predictions, and train on. Keras' own HDF5
loader leaves a compiled Adam unable to train (it builds the optimizer on no variables), so the
plain-Keras HDF5 model is loaded uncompiled and compiled again, as Keras users do.
"""

import sys

import keras
import numpy as np
import thirdparty_bnn

import bnnstat

MODE, OUT = sys.argv[1:3]
rng = np.random.default_rng(1)
x = rng.normal(size=(16, 6)).astype("float32")
y = rng.uniform(size=(16, 4)).astype("float32")
if MODE == "train":
    model = thirdparty_bnn.build(keras)
    first = model.get_layer("first")
    assert first.kernel_quantizer is thirdparty_bnn.halfway_sign
    assert first.activation is thirdparty_bnn.unit_clip
    assert isinstance(model.get_layer("second").kernel_quantizer, thirdparty_bnn.ThirdPartyTern)
    assert model.get_layer("clip").activation is thirdparty_bnn.unit_clip
    before = keras.ops.convert_to_numpy(first.kernel)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert not np.array_equal(before, keras.ops.convert_to_numpy(first.kernel)), "did not train"
    model.save(f"{OUT}/third.keras")
    model.save(f"{OUT}/third.h5")
    np.save(f"{OUT}/third_predictions.npy", model.predict(x, verbose=0))
    print("trained")
else:
    expected = np.load(f"{OUT}/third_predictions.npy")
    loaders = {
        ".keras": keras.models.load_model,
        ".h5": lambda path: keras.models.load_model(path, compile=False),
        "bnnstat .keras": bnnstat.models.load_model,
        "bnnstat .h5": bnnstat.models.load_model,
    }
    for how, load in loaders.items():
        suffix = how.split()[-1]
        model = load(f"{OUT}/third{suffix}")
        if getattr(model, "optimizer", None) is None:
            model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mean_squared_error")
        assert model.get_layer("first").kernel_quantizer is thirdparty_bnn.halfway_sign
        assert model.get_layer("clip").activation is thirdparty_bnn.unit_clip
        second = model.get_layer("second").kernel_quantizer
        assert isinstance(second, thirdparty_bnn.ThirdPartyTern), second
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
        history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        print("reloaded", how)
