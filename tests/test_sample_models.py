"""The committed sample models: present, small, made by sample_models/make_samples.py, usable."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from bnnstat.inspect import reader
from bnnstat.inspect.flips import read_weight_values
from tests.conftest import REPO, SAMPLE_MODELS

NAMES = ("binarynet_mlp.h5", "quicknet_small.keras", "bad_practices.h5")


def _script():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLE_MODELS / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_samples_exist_and_are_small():
    assert set(_script().SAMPLES) == set(NAMES)
    for name in NAMES:
        assert (SAMPLE_MODELS / name).stat().st_size < 1_500_000, name


@pytest.mark.parametrize("name", NAMES)
def test_committed_files_come_from_the_script(tf, name):
    """Rebuilding from the fixed seed gives exactly the committed weights (and structure)."""
    model = _script().build(name)
    stored = read_weight_values(SAMPLE_MODELS / name)
    record = reader.read(SAMPLE_MODELS / name)
    assert [layer.name for layer in record.layers] == [layer.name for layer in model.layers]
    for layer in model.layers:
        values = [array for _, array in stored.get(layer.name, [])]
        expected = [np.asarray(w) for w in layer.get_weights()]
        assert len(values) == len(expected), layer.name
        for got, want in zip(values, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_binary_layers_are_tagged():
    record = reader.read(SAMPLE_MODELS / "quicknet_small.keras")
    binary = [layer.name for layer in record.layers if any(w.precision == 1 for w in layer.weights)]
    assert len(binary) == 6 and all(name.endswith("_qconv") for name in binary)
    mlp = reader.read(SAMPLE_MODELS / "binarynet_mlp.h5")
    assert [
        layer.input_precision
        for layer in mlp.layers
        if layer.weights and layer.class_name == "QuantDense"
    ] == [None, 1, 1]


def test_quickstart_summary_command():
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", "sample_models/binarynet_mlp.h5"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "dense_hidden" in done.stdout and "Ratio of MACs that are binarized" in done.stdout
