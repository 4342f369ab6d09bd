"""Every CLI command answers bad input with exactly one stderr line and exit code 2, and never
writes to the model file it reads.

Most cases go through click's CliRunner (click >= 8.2 keeps `result.stderr` apart from
`result.stdout`); a few run the real `python -m bnnstat` in a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from bnnstat.cli import main
from tests.conftest import REPO, SAMPLE_MODELS

MLP = SAMPLE_MODELS / "binarynet_mlp.h5"
QUICKNET = SAMPLE_MODELS / "quicknet_small.keras"


# --- bad model files -------------------------------------------------------------------------


def _missing(tmp: Path) -> Path:
    return tmp / "missing.h5"


def _directory(tmp: Path) -> Path:
    path = tmp / "models.h5"
    path.mkdir()
    return path


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.h5"
    path.write_bytes(b"")
    return path


def _random_bytes(tmp: Path) -> Path:
    path = tmp / "random.keras"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


def _truncated_h5(tmp: Path) -> Path:
    path = tmp / "truncated.h5"
    path.write_bytes(MLP.read_bytes()[: MLP.stat().st_size // 3])
    return path


def _text_file(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("this is not a model\n", encoding="utf-8")
    return path


def _non_model_h5(tmp: Path) -> Path:
    path = tmp / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(10.0))
    return path


BAD_FILES: dict[str, Callable[[Path], Path]] = {
    "missing": _missing,
    "directory": _directory,
    "empty": _empty,
    "random-bytes": _random_bytes,
    "truncated-h5": _truncated_h5,
    "txt": _text_file,
    "non-model-h5": _non_model_h5,
}

# command name -> argument list for a bad model path
COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "summary": lambda bad, tmp: ["summary", bad],
    "summary-json": lambda bad, tmp: ["summary", bad, "--format", "json"],
    "audit": lambda bad, tmp: ["audit", bad],
    "flips-one": lambda bad, tmp: ["flips", bad],
    "flips-before": lambda bad, tmp: ["flips", bad, str(MLP)],
    "flips-after": lambda bad, tmp: ["flips", str(MLP), bad],
    "plot-model": lambda bad, tmp: ["plot", "model", bad, "-o", str(tmp / "out.png")],
}


def _one_error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bnnstat: error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("bad_file", sorted(BAD_FILES))
def test_bad_model_file_is_one_line_exit_2(tmp_path, command, bad_file):
    bad = BAD_FILES[bad_file](tmp_path)
    result = CliRunner().invoke(main, COMMANDS[command](str(bad), tmp_path))
    assert result.exit_code == 2, (result.output, result.exception)
    assert str(bad) in _one_error_line(result)
    assert result.stdout == ""
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("bad_file", sorted(BAD_FILES))
def test_bad_model_file_keras_engine_is_one_line_exit_2(tf, tmp_path, bad_file):
    bad = BAD_FILES[bad_file](tmp_path)
    result = CliRunner().invoke(main, ["summary", str(bad), "--engine", "keras"])
    assert result.exit_code == 2, (result.output, result.exception)
    assert str(bad) in _one_error_line(result)


# --- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        (["summary", str(MLP), "--format", "xml"], "'--format'"),
        (["summary", str(MLP), "--target", "tflite"], "'--target'"),
        (["summary", str(MLP), "--engine", "torch"], "'--engine'"),
        (["summary", str(MLP), "--precision", "sign"], "--precision 'sign'"),
        (["summary"], "Missing argument 'PATH'"),
        (["summary", str(MLP), "--bogus-option"], "--bogus-option"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["audit", str(MLP), "--format", "yaml"], "'--format'"),
        (["audit", str(MLP), "--max-memory", "2 MiBs"], "'--max-memory': invalid size '2 MiBs'"),
        (["audit", str(MLP), "--max-deployed-size", "lots"], "'--max-deployed-size'"),
        (["audit", str(MLP), "--min-binarized-macs", "150%"], "'--min-binarized-macs'"),
        (["audit", str(MLP), "--max-fp-params", "-1"], "'--max-fp-params'"),
        (["audit", str(MLP), "--ignore", "BNN999"], "BNN999"),
        (["audit", str(MLP), "--max-memory"], "'--max-memory' requires an argument"),
        (["flips"], "Missing argument 'PATHS...'"),
        (["flips", str(MLP), "--format", "csv"], "'--format'"),
        (["flips", str(MLP), str(MLP), str(MLP)], "give two checkpoints"),
        (["plot", "model", str(MLP)], "Missing option '-o'"),
        (["plot", "quantizer", "bogus", "-o", "x.png"], "unknown quantizer 'bogus'"),
        (["plot", "quantizer", "NoOp", "-o", "x.png"], "'NoOp' needs a precision"),
        (["plot", "quantizer", "ste_sign", "--range", "1", "-1", "-o", "x.png"], "--range"),
        (["plot", "quantizer", "ste_sign", "--range", "a", "b", "-o", "x.png"], "'--range'"),
        (["plot", "quantizer", "ste_sign", "-o", "no_such_dir/x.png"], "no_such_dir"),
        (["plot", "scatter"], "No such command 'scatter'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args, expected):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert expected in _one_error_line(result)
    assert "Usage:" not in result.output and "Try " not in result.output


@pytest.mark.parametrize(
    "args", [["--help"], ["summary", "-h"], ["audit", "--help"], ["plot", "quantizer", "-h"]]
)
def test_help_still_works(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and result.stdout.startswith("Usage:") and result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [["audit"], ["flips"], ["plot", "quantizer"], ["plot", "model"], ["summary"]],
)
def test_every_option_has_help_and_examples(args):
    text = CliRunner().invoke(main, [*args, "--help"]).stdout
    examples = text.split("Examples:")[-1]
    assert "Examples:" in text and examples.count(f"bnnstat {' '.join(args)} ") >= 2
    options = [line for line in text.splitlines() if line.lstrip().startswith("-")]
    assert options
    # an option line without help text ends with its metavar / flag name
    for line in options:
        assert len(line.split("  ")) > 1 and line.split("  ")[-1].strip(), line


@pytest.mark.parametrize("command", ["audit", "flips", "summary"])
def test_output_has_short_option(command, tmp_path):
    out = tmp_path / "report.txt"
    args = [command, str(MLP), str(MLP)] if command == "flips" else [command, str(MLP)]
    result = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    assert out.read_text(encoding="utf-8").strip() and result.stdout == ""


def test_plot_quantizer_fails_before_importing_tensorflow():
    script = (
        "import sys\n"
        "from bnnstat.cli import main\n"
        "for args in (['plot', 'quantizer', 'bogus', '-o', 'x.png'],\n"
        "             ['plot', 'quantizer', 'ste_sign', '--range', '2', '1', '-o', 'x.png'],\n"
        "             ['plot', 'quantizer', 'ste_sign', '-o', 'nowhere/x.png']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 2, stop.code\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.splitlines()) == 3


# --- the real command line -------------------------------------------------------------------


def _bnnstat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bnnstat", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=180,
    )


def test_subprocess_errors_are_one_line(tmp_path):
    directory = _directory(tmp_path)
    for args, expected in [
        (["summary", str(directory)], str(directory)),
        (["audit", str(MLP), "--format", "yaml"], "'--format'"),
        (["nope"], "No such command 'nope'"),
    ]:
        done = _bnnstat(*args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        assert done.stderr.startswith("bnnstat: error: ") and done.stdout == ""


def test_subprocess_tensorflow_path_error_stays_one_line(tmp_path):
    """`--engine keras` imports TensorFlow, whose start-up lines must not reach stderr (run as a
    user would, without the TF_CPP_MIN_LOG_LEVEL that conftest sets)."""
    missing = tmp_path / "missing.h5"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = _bnnstat("summary", str(missing), "--engine", "keras", env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()] and str(missing) in done.stderr


# --- reading never writes --------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


READING_COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "summary-table": lambda m, tmp: ["summary", str(m)],
    "summary-markdown": lambda m, tmp: ["summary", str(m), "--format", "markdown"],
    "summary-json": lambda m, tmp: ["summary", str(m), "--format", "json"],
    "summary-csv": lambda m, tmp: ["summary", str(m), "--format", "csv"],
    "summary-lce": lambda m, tmp: ["summary", str(m), "--target", "lce"],
    "audit": lambda m, tmp: ["audit", str(m), "--max-memory", "1GiB"],
    "audit-lce": lambda m, tmp: ["audit", str(m), "--target", "lce"],
    "flips": lambda m, tmp: ["flips", str(m), str(m)],
    "plot-model": lambda m, tmp: ["plot", "model", str(m), "-o", str(tmp / "model.png")],
}


@pytest.mark.parametrize("model", [MLP, QUICKNET], ids=["h5", "keras"])
def test_reading_commands_never_change_the_file(tmp_path, model):
    before = _sha256(model)
    mtime = model.stat().st_mtime_ns
    for name, make_args in READING_COMMANDS.items():
        result = CliRunner().invoke(main, make_args(model, tmp_path))
        assert result.exit_code in (0, 1), (name, result.output)
        assert _sha256(model) == before, f"`bnnstat {name}` changed {model.name}"
    assert model.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("model", [MLP, QUICKNET], ids=["h5", "keras"])
def test_keras_engine_never_changes_the_file(tf, model):
    before = _sha256(model)
    result = CliRunner().invoke(main, ["summary", str(model), "--engine", "keras"])
    assert result.exit_code == 0, result.output
    assert _sha256(model) == before
