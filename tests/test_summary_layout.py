"""The summary's layout: a default that fits 120 columns (notes below the tables), `--larq-only`
with exactly Larq's two tables, and float config values shown as they were given."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from bnnstat.cli import main
from bnnstat.utils import as_given
from tests.conftest import REPO, SAMPLE_MODELS

LARQ_FIXTURES = ["binary_cnn_cifar", "binarynet_mlp", "bop_noop_cnn"]


def _summary(*args):
    return CliRunner().invoke(main, ["summary", *map(str, args)])


@pytest.mark.parametrize("name", ["bad_practices.h5", "binarynet_mlp.h5", "quicknet_small.keras"])
def test_default_fits_120_columns_with_notes_below(name):
    result = _summary(SAMPLE_MODELS / name)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 120
    # each layer note is a key in the table and its text below the last table
    last_box = max(i for i, line in enumerate(lines) if line.startswith("+"))
    below = lines[last_box + 1 :]
    keys = [line.split()[0] for line in below if line.startswith("[")]
    assert keys == [f"[{k}]" for k in range(1, len(keys) + 1)]
    for key in keys:
        assert any(line.rstrip(" |").endswith(key) for line in lines[:last_box])


def test_shared_notes_are_written_once():
    lines = _summary(SAMPLE_MODELS / "quicknet_small.keras").output.splitlines()
    activation = [line for line in lines if "element-wise activation: no MACs" in line]
    assert len(activation) == 1 and activation[0].startswith("[")
    key = activation[0].split()[0]
    assert sum(line.rstrip(" |").endswith(key) for line in lines) >= 2


def test_long_notes_wrap_with_a_hanging_indent(larq_fixtures):
    lines = _summary(larq_fixtures / "binary_cnn_cifar.h5").output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Note: Keras counts"))
    assert len(lines[start]) <= 120 and lines[start + 1].startswith("      moving_mean")


@pytest.mark.parametrize("name", LARQ_FIXTURES)
def test_larq_only_is_exactly_larqs_two_tables(larq_fixtures, name):
    expected = (larq_fixtures / f"{name}.txt").read_text(encoding="utf-8")
    result = _summary(larq_fixtures / f"{name}.h5", "--larq-only")
    assert result.exit_code == 0, result.output
    assert result.output.rstrip("\n") == expected.rstrip("\n")
    markdown = _summary(larq_fixtures / f"{name}.h5", "--larq-only", "--format", "markdown")
    assert "Extensions" not in markdown.output and markdown.output.count("\n|-") == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "json"], "--larq-only applies to --format table or markdown"),
        (["--target", "lce"], "drop --target"),
        (["--compare"], "drop --compare"),
    ],
)
def test_larq_only_refuses_what_larq_does_not_print(args, message):
    result = _summary(SAMPLE_MODELS / "binarynet_mlp.h5", "--larq-only", *args)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_larq_only_in_a_real_process(larq_fixtures):
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", str(larq_fixtures / "binarynet_mlp.h5"),
         "--larq-only"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = (larq_fixtures / "binarynet_mlp.txt").read_text(encoding="utf-8")
    assert done.stdout.rstrip("\n") == expected.rstrip("\n")


@pytest.mark.parametrize(
    "given", [1e-8, 1e-7, 0.9, 0.001, 0.1, 1.5, 3.14159, 2.5e-5, 1e-30, 65504.0]
)
def test_float32_values_read_back_as_given(given):
    import struct

    stored = struct.unpack("<f", struct.pack("<f", given))[0]
    assert as_given(stored) == given
    assert repr(as_given(stored)) == repr(given)


def test_values_that_are_not_float32_stay():
    assert as_given(1 / 3) == 1 / 3 and as_given(0.1) == 0.1 and as_given(2) == 2.0


def test_bop_config_and_state_show_the_threshold_as_given(tf, tmp_path):
    import json
    import zipfile

    import keras

    import bnnstat as lq

    optimizer = lq.optimizers.Bop(threshold=1e-8, gamma=1e-4)
    assert optimizer.get_config()["threshold"] == 1e-8
    assert repr(optimizer.get_config()["gamma"]) == "0.0001"
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": lq.quantizers.NoOp(precision=1)}
    model = keras.Sequential(
        [keras.Input((4,)), lq.layers.QuantDense(3, use_bias=False, name="q", **binary)]
    )
    model.compile(optimizer=lq.optimizers.Bop(threshold=1e-8), loss="mse")
    model.fit(keras.ops.ones((4, 4)), keras.ops.ones((4, 3)), verbose=0)
    path = tmp_path / "bop.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    assert config["compile_config"]["optimizer"]["config"]["threshold"] == 1e-8
    state = CliRunner().invoke(main, ["flips", str(path), "--format", "json"])
    assert state.exit_code == 0, state.output
    assert '"threshold": 1e-08' in state.output


def test_keras_engine_shows_progress_on_a_terminal_only():
    from tests.terminal import run_with_terminal_stderr

    command = [
        sys.executable, "-m", "bnnstat", "summary", str(SAMPLE_MODELS / "binarynet_mlp.h5"),
        "--engine", "keras",
    ]  # fmt: skip
    code, stdout, seen = run_with_terminal_stderr(command)
    assert code == 0
    assert b"binarynet_mlp stats" in stdout
    assert "bnnstat: importing TensorFlow ..." in seen and seen.endswith(" \r")
