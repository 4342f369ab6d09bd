"""Larq Zoo: its registered functions compute the zoo's math, and every larq-zoo 2.4 model that
Larq saved loads through the Keras engine (Lambda ones only with safe_mode=False); a Keras 2
model with a nested Sequential and a layer shared between inputs of different shapes loads with
Keras 2's predictions."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.conftest import TEST_DATA

ZOO = TEST_DATA / "larq_zoo"
EXPECTED = json.loads((ZOO / "zoo_models.json").read_text())


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    with zipfile.ZipFile(ZOO / "zoo_models.zip") as archive:
        archive.extractall(out)
    for path in out.glob("*.h5"):
        _store_zeros(path)
    return out


def _store_zeros(path):
    """Give every weight of a shape-only copy stored zeros, as a real saved model stores values:
    the loaders refuse a dataset that declares more bytes than its file holds (hostile files)."""
    import h5py

    def fill(_name, item):
        if isinstance(item, h5py.Dataset) and item.size and item.id.get_storage_size() == 0:
            item[...] = np.zeros(item.shape, item.dtype)

    with h5py.File(path, "r+") as handle:
        handle.visititems(fill)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_zoo_model_loads_through_keras(tf, zoo_files, name):
    from bnnstat import models
    from bnnstat.errors import ModelLoadError

    expected = EXPECTED[name]
    path = zoo_files / f"{name}.h5"
    if expected["lambda_layers"]:
        with pytest.raises(ValueError, match="safe_mode=False") as info:
            models.load_model(path)
        assert isinstance(info.value, ModelLoadError)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
        return
    model = models.load_model(path, compile=False)
    assert model.count_params() == expected["count_params"]
    assert len(model.layers) == expected["n_layers"]
    assert list(model.input_shape) == expected["input_shape"]
    assert list(model.output_shape) == expected["output_shape"]


def test_nested_sequential_and_shared_layer_match_keras2(tf):
    from bnnstat import models

    with pytest.warns(UserWarning, match="no training configuration"):
        model = models.load_model(ZOO / "nested_shared.h5")  # compile=True, nothing to compile
    assert getattr(model, "optimizer", None) is None
    data = np.load(ZOO / "nested_shared_io.npz")
    np.testing.assert_allclose(
        model.predict([data["big"], data["small"]], verbose=0), data["output"], rtol=1e-5, atol=1e-5
    )
    assert model.get_layer("block").count_params() == 3 * 3 * 3 * 8 + 4 * 8


def test_blurpool_initializer(tf):
    from bnnstat import zoo

    kernel = np.array(zoo.blurpool_initializer((3, 3, 2, 1)))
    row = np.array([1.0, 2.0, 1.0])
    expected = np.outer(row, row) / 16.0
    assert kernel.shape == (3, 3, 2, 1)
    np.testing.assert_allclose(kernel[:, :, 0, 0], expected)
    np.testing.assert_allclose(kernel[:, :, 1, 0], expected)
    np.testing.assert_allclose(np.array(zoo.blurpool_initializer((2, 2, 1, 1)))[..., 0, 0], 0.25)
    with pytest.raises(ValueError, match="2, 3, 5"):
        zoo.blurpool_initializer((4, 4, 1, 1))


def test_xnor_weight_scale(tf):
    from bnnstat import zoo

    w = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype("float32")
    clipped = np.clip(w, -1, 1)
    alpha = np.abs(clipped).mean(axis=(0, 1, 2), keepdims=True)
    expected = alpha * np.where(clipped >= 0, 1.0, -1.0)
    np.testing.assert_allclose(np.array(zoo.xnor_weight_scale(tf.constant(w))), expected, rtol=1e-6)


def test_magnitude_aware_sign_unclipped_and_clip_activation(tf):
    import keras

    from bnnstat import utils, zoo

    x = tf.constant([-3.0, -0.5, 0.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = zoo.magnitude_aware_sign_unclipped(x)
    scale = np.abs([-3.0, -0.5, 0.0, 2.0]).mean()
    np.testing.assert_allclose(np.array(y), [-scale, -scale, scale, scale], rtol=1e-6)
    np.testing.assert_allclose(np.array(tape.gradient(y, x)), [1.0, 1.0, 1.0, 1.0])
    assert utils.precision_of(zoo.magnitude_aware_sign_unclipped) == 1
    layer = keras.layers.Activation("clip_by_value_activation")
    np.testing.assert_allclose(np.array(layer(tf.constant([-1.0, 0.5, 2.0]))), [0.0, 0.5, 1.0])


def test_keras_engine_summarizes_the_nested_shared_model(tf):
    from click.testing import CliRunner

    from bnnstat.cli import main

    result = CliRunner().invoke(
        main, ["summary", "--engine", "keras", str(ZOO / "nested_shared.h5")]
    )
    assert result.exit_code == 0, result.output
    assert "shared_bconv" in result.output and "block" in result.output
    assert "different output shapes" in result.output
