"""`bnnstat summary`: through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bnnstat.cli import main
from bnnstat.cli.summary import parse_precision
from bnnstat.errors import BnnstatError

FIXTURE = "binary_cnn_cifar"


def run(*args: str):
    return CliRunner().invoke(main, ["summary", *args])


@pytest.mark.parametrize(
    "name", ["binarynet_mlp", "binary_cnn_cifar", "bop_noop_cnn", "ternary_kbit_conv1d"]
)
def test_table_matches_larq_text(larq_fixtures, name):
    result = run(str(larq_fixtures / f"{name}.h5"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith((larq_fixtures / f"{name}.txt").read_text())


def test_json_output_file_and_no_macs(larq_fixtures, tmp_path):
    out = tmp_path / "profile.json"
    result = run(str(larq_fixtures / f"{FIXTURE}.h5"), "--format", "json", "-o", str(out))
    assert result.exit_code == 0 and result.output == ""
    data = json.loads(out.read_text())
    assert data["totals"]["macs"] == 27460864
    assert data["totals"]["params_by_bitwidth"] == {"1": 175232, "32": 2986}
    no_macs = run(str(larq_fixtures / f"{FIXTURE}.h5"), "--no-macs")
    assert no_macs.exit_code == 0 and "MACs" not in no_macs.output.split("extensions")[0]


@pytest.mark.parametrize("fmt", ["markdown", "csv"])
def test_other_formats(larq_fixtures, fmt):
    result = run(str(larq_fixtures / f"{FIXTURE}.h5"), "--format", fmt)
    assert result.exit_code == 0
    assert "qsepconv_3" in result.output


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "empty.h5"), (b"not a model at all", "text.h5"), (b"PK\x03\x04broken", "bad.keras")],
)
def test_bad_files_exit_2_with_one_line(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    result = run(str(path))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and lines[0].startswith("bnnstat: error:")


def test_missing_file_and_bad_options(tmp_path, larq_fixtures):
    missing = run(str(tmp_path / "nope.h5"))
    assert missing.exit_code == 2 and "nope.h5" in missing.output
    bad_precision = run(str(larq_fixtures / f"{FIXTURE}.h5"), "--precision", "sign")
    assert bad_precision.exit_code == 2 and "NAME=BITS" in bad_precision.output
    assert run(str(larq_fixtures / f"{FIXTURE}.h5"), "--format", "yaml").exit_code == 2


def test_parse_precision():
    assert parse_precision(("my_sign=1", " other = 4")) == {"my_sign": 1, "other": 4}
    for bad in ("x", "x=", "=2", "x=0", "x=two"):
        with pytest.raises(BnnstatError):
            parse_precision((bad,))


def test_help_describes_options():
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--format", "--no-macs", "--output", "--engine", "--precision", "--target"):
        assert option in result.output


def test_subprocess_static_path_never_imports_tensorflow(larq_fixtures):
    code = (
        "import sys; from bnnstat.cli import main\n"
        "try:\n"
        f"    main(['summary', {str(larq_fixtures / (FIXTURE + '.h5'))!r}, '--format', 'json'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == FIXTURE


def test_subprocess_bad_input_exit_code(tmp_path):
    path = tmp_path / "garbage.keras"
    path.write_bytes(b"\x00" * 100)
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "garbage.keras" in done.stderr


LARQ_LAYER_FIELDS = (
    "name",
    "class_name",
    "input_precision",
    "output_shape",
    "params_by_bitwidth",
    "trainable_params",
    "memory_bits",
    "macs_by_precision",
)


@pytest.mark.parametrize(
    "name", ["binarynet_mlp", "binary_cnn_cifar", "bop_noop_cnn", "ternary_kbit_conv1d"]
)
def test_static_and_keras_engines_agree(larq_fixtures, tf, name):
    path = str(larq_fixtures / f"{name}.h5")
    static = json.loads(run(path, "--format", "json").output)
    keras_result = run(path, "--format", "json", "--engine", "keras")
    assert keras_result.exit_code == 0, keras_result.output
    loaded = json.loads(keras_result.output)
    assert static["totals"] == loaded["totals"]
    for ours, theirs in zip(static["layers"], loaded["layers"], strict=True):
        assert {k: ours[k] for k in LARQ_LAYER_FIELDS} == {k: theirs[k] for k in LARQ_LAYER_FIELDS}
        assert ours["extensions"] == theirs["extensions"], ours["name"]
