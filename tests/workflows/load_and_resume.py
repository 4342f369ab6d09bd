"""Workflow script (run by tests/test_workflows.py in a fresh process): load the model saved
by train_bnn.py with plain Keras after `import bnnstat`, and with `bnnstat.models.load_model`;
check predictions, optimizer state and resumed training.

    python load_and_resume.py ORDER SUFFIX OUTDIR

Both loaders must give the saved predictions and a compiled CaseOptimizer(Bop, Adam) that
resumes training. The optimizer state (iterations, Bop's `m`, Adam's moments) must be the saved
one, and one more epoch must give exactly the uninterrupted run's weights, except through
Keras' own HDF5 loader, which drops optimizer state for every optimizer (there training must
still run, from a fresh optimizer).
"""

import json
import sys

ORDER, SUFFIX, OUT = sys.argv[1:4]
if ORDER == "keras-first":
    import keras

    import bnnstat as lq
else:
    import bnnstat as lq
    import keras
import numpy as np

expected = np.load(f"{OUT}/expected.npz")
x, y = expected["x"], expected["y"]


def saved(prefix):
    return [expected[f"{prefix}_{i}"] for i in range(sum(k.startswith(prefix) for k in expected))]


state, resumed = saved("state"), saved("resumed")
report = {}
for loader in ("keras", "bnnstat"):
    load = keras.models.load_model if loader == "keras" else lq.models.load_model
    model = load(f"{OUT}/model{SUFFIX}")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected["predictions"], atol=1e-6)
    optimizer = model.optimizer
    assert type(optimizer).__name__ == "CaseOptimizer", type(optimizer)
    keeps_state = not (loader == "keras" and SUFFIX == ".h5")
    if keeps_state:
        values = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
        assert len(values) == len(state), (len(values), len(state))
        for got, want in zip(values, state, strict=True):
            np.testing.assert_array_equal(got, want)
        assert int(optimizer.iterations) == 4
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    routes = {"/".join(v.path.split("/")[-2:]): type(o).__name__ for v, o in optimizer.routes()}
    assert routes["bop_conv/kernel"] == "Bop" and routes["bn/gamma"] == "Adam", routes
    for name in ("bconv", "bop_conv", "head"):
        kernel = keras.ops.convert_to_numpy(model.get_layer(name).kernel)
        assert set(np.unique(kernel)) <= {-1.0, 1.0}, (name, np.unique(kernel))
    if keeps_state:
        assert int(optimizer.iterations) == 6
        for got, want in zip(model.weights, resumed, strict=True):
            got = keras.ops.convert_to_numpy(got)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    report[loader] = {"iterations": int(optimizer.iterations), "kept_state": keeps_state}
print(json.dumps(report))
