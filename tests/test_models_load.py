"""`bnnstat.models.load_model`: Keras' signature and defaults; compiled HDF5 models keep their
optimizer state (Larq files included, with Larq's CaseOptimizer routing); errors are
`ValueError`s; Bop and CaseOptimizer accept Keras' legacy build on no variables."""

from __future__ import annotations

import inspect

import numpy as np
import pytest


def test_signature_is_keras_load_model(tf):
    import keras

    from bnnstat import models

    ours = inspect.signature(models.load_model).parameters
    theirs = inspect.signature(keras.models.load_model).parameters
    assert list(ours) == list(theirs) == ["filepath", "custom_objects", "compile", "safe_mode"]
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


def test_larq_case_optimizer_file_compiles_with_its_state(tf, larq_fixtures):
    import h5py
    import keras

    from bnnstat import models, optimizers

    path = larq_fixtures / "bop_noop_cnn.h5"
    model = models.load_model(path)
    optimizer = model.optimizer
    assert isinstance(optimizer, optimizers.CaseOptimizer)
    bop, adam = optimizer.optimizers
    assert isinstance(bop, optimizers.Bop) and isinstance(adam, keras.optimizers.Adam)
    assert float(bop.threshold) == pytest.approx(1e-8) and float(bop.gamma) == pytest.approx(1e-4)
    assert float(adam.learning_rate) == pytest.approx(0.01)
    routes = {"/".join(v.path.split("/")[-2:]): o for v, o in optimizer.routes()}
    assert [k for k, o in routes.items() if o is bop] == [
        "qconv_bop_1/kernel", "qconv_bop_2/kernel", "qdense_bop_3/kernel",
    ]
    assert all(o is adam for k, o in routes.items() if "bop" not in k)
    assert [int(o.iterations) for o in (optimizer, bop, adam)] == [3, 3, 3]
    with h5py.File(path, "r") as handle:
        saved = handle["optimizer_weights"]
        bop_m = saved["qconv_bop_1/kernel/m:0"][()]
        adam_v = saved["conv_fp/kernel/v:0"][()]
    by_name = {v.name: keras.ops.convert_to_numpy(v) for o in (bop, adam) for v in o.variables}
    assert np.any(bop_m != 0)
    np.testing.assert_array_equal(
        next(v for k, v in by_name.items() if k.endswith("qconv_bop_1_kernel_m")), bop_m
    )
    np.testing.assert_array_equal(
        next(v for k, v in by_name.items() if k.endswith("conv_fp_kernel_velocity")), adam_v
    )
    x = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
    model.fit(x, np.arange(8) % 10, verbose=0)
    assert [int(o.iterations) for o in (optimizer, bop, adam)] == [4, 4, 4]
    assert set(np.unique(keras.ops.convert_to_numpy(model.get_layer("qconv_bop_1").kernel))) <= {
        -1.0, 1.0,
    }


def test_compile_false_and_files_without_training_config(tf, larq_fixtures):
    from bnnstat import models

    assert getattr(models.load_model(larq_fixtures / "bop_noop_cnn.h5", compile=False),
                   "optimizer", None) is None
    with pytest.warns(UserWarning, match="no training configuration"):
        model = models.load_model(larq_fixtures / "binarynet_mlp.h5")
    assert getattr(model, "optimizer", None) is None


def test_keras3_h5_with_case_optimizer_compiles_through_keras_and_ours(tf, tmp_path):
    """Keras' legacy loader builds the optimizer on no variables: Bop/CaseOptimizer stay
    unbuilt (state restore fails as Keras expects) and build on the first training step."""
    import keras

    import bnnstat as lq

    model = keras.Sequential([
        keras.Input((4,)),
        lq.layers.QuantDense(3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip"),
        keras.layers.Dense(2),
    ])
    model.compile(
        optimizer=lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
            default_optimizer=keras.optimizers.Adam(),
        ),
        loss=keras.losses.MeanSquaredError(),
    )
    x, y = np.ones((4, 4), "float32"), np.zeros((4, 2), "float32")
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "m.h5")
    plain = keras.models.load_model(tmp_path / "m.h5")
    assert isinstance(plain.optimizer, lq.optimizers.CaseOptimizer) and not plain.optimizer.built
    plain.fit(x, y, verbose=0)
    assert int(plain.optimizer.iterations) == 1
    ours = lq.models.load_model(tmp_path / "m.h5")
    assert int(ours.optimizer.iterations) == 1  # the saved state
    ours.fit(x, y, verbose=0)
    assert int(ours.optimizer.iterations) == 2


def test_empty_build_leaves_bop_and_case_optimizer_unbuilt(tf):
    import keras

    from bnnstat import optimizers

    for optimizer in (
        optimizers.Bop(),
        optimizers.CaseOptimizer(
            (optimizers.Bop.is_binary_variable, optimizers.Bop()),
            default_optimizer=keras.optimizers.SGD(),
        ),
    ):
        optimizer.build([])
        assert not optimizer.built
        with pytest.raises(ValueError):
            optimizer.set_weights([np.zeros(())] * 9)


def test_loading_errors_are_value_errors(tf, tmp_path):
    from bnnstat import models
    from bnnstat.errors import BnnstatError, ModelLoadError

    for path in (tmp_path / "missing.keras", tmp_path):
        with pytest.raises(ValueError) as info:
            models.load_model(path)
        assert isinstance(info.value, ModelLoadError) and isinstance(info.value, BnnstatError)
        assert str(path) in str(info.value)


def test_custom_objects_are_passed_through(tf, tmp_path):
    import keras

    from bnnstat import models

    def triple(x):
        return 3 * x

    model = keras.Sequential([keras.Input((2,)), keras.layers.Activation(triple)])
    model.save(tmp_path / "t.keras")
    with pytest.raises(ValueError):
        models.load_model(tmp_path / "t.keras")
    loaded = models.load_model(tmp_path / "t.keras", custom_objects={"triple": triple})
    np.testing.assert_allclose(loaded.predict(np.ones((1, 2)), verbose=0), [[3.0, 3.0]])


def test_keras3_h5_compiled_with_loss_and_metric_names_resumes(tf, tmp_path):
    """`compile(loss="mse", metrics=["mae"])` saved to HDF5: Keras 3.15's own reader cannot
    deserialize "mse"; ours compiles with the names and restores Adam's state."""
    import keras

    from bnnstat import models

    x, y = np.ones((8, 6), "float32"), np.ones((8, 2), "float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    path = tmp_path / "named.h5"
    model.save(path)

    loaded = models.load_model(path)
    assert loaded.loss == "mse"
    assert int(loaded.optimizer.iterations.numpy()) == 4
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))
    history = loaded.fit(x, y, epochs=1, batch_size=4, verbose=0).history
    assert set(history) == {"loss", "mae"}
