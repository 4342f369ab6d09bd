"""Hostile model files: nothing in the file runs, nothing outside it is read, no small file can
hurt, and every bad file gets one line and exit code 2.

The files come from `tests/hostile.py` (made here, in each test's temporary directory); anything
they link to is a file that module writes beside them (``secret.h5``, ``secret.bin``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bnnstat.cli import main
from bnnstat.errors import BnnstatError
from tests import hostile
from tests.conftest import REPO

STATIC_COMMANDS = {
    "summary": lambda p, t: ["summary", str(p)],
    "audit": lambda p, t: ["audit", str(p)],
    "flips": lambda p, t: ["flips", str(p), str(hostile.copy_of(p, t))],
    "plot-model": lambda p, t: ["plot", "model", str(p), "-o", str(t / "out.png")],
}


def _run(args: list[str]):
    return CliRunner().invoke(main, args)


def _one_error_line(result, path: Path | None = None) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bnnstat: error: ")
    assert "Traceback" not in result.output
    assert "\x1b" not in result.stderr
    if path is not None:
        assert path.name.split("\n")[0] in lines[0]
    return lines[0]


def _refused_everywhere(tmp_path: Path, attack: str, *phrases: str, skip: str = "") -> None:
    for command, make_args in STATIC_COMMANDS.items():
        if command == skip:
            continue
        directory = tmp_path / command
        directory.mkdir()
        path = hostile.ATTACKS[attack](directory)
        result = _run(make_args(path, directory))
        line = _one_error_line(result, path)
        assert any(p in line for p in phrases), (command, line)
        assert hostile.SECRET[:20].decode() not in result.output
        assert not (directory / "out.png").exists()


# --- nothing outside the file is read ----------------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "phrase"),
    [
        ("h5_external_link", "is an external link"),
        ("h5_soft_link_out", "is an external link"),
        ("h5_dangling_link", "which is not there"),
        ("h5_external_storage", "keeps its data in an external file"),
        ("h5_virtual_dataset", "is a virtual dataset"),
        ("keras_external_link", "is an external link"),
        ("keras_external_storage", "keeps its data in an external file"),
    ],
)
def test_links_and_storage_outside_the_file_are_refused(tmp_path, attack, phrase):
    # audit reports these as finding SEC002 instead (see the end of this file)
    _refused_everywhere(
        tmp_path, attack, phrase, skip="" if attack == "h5_dangling_link" else "audit"
    )


@pytest.mark.parametrize(
    "attack", ["h5_external_link", "keras_external_link", "h5_virtual_dataset"]
)
def test_load_model_refuses_links_outside_the_file(tf, tmp_path, attack):
    import bnnstat.models

    path = hostile.ATTACKS[attack](tmp_path)
    with pytest.raises(BnnstatError, match="never reads outside the model file"):
        bnnstat.models.load_model(path)


def test_external_link_to_a_fifo_does_not_block(tmp_path):
    path = hostile.h5_external_link_fifo(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2, result.stderr
    assert "external link" in result.stderr
    assert len(result.stderr.splitlines()) == 1


# --- bounded cost -------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["keras_link_cycle", "keras_link_dag"])
def test_hard_link_cycles_and_dags_cost_one_visit(tmp_path, attack):
    started = time.perf_counter()
    _refused_everywhere(tmp_path, attack, "is reached twice")
    assert time.perf_counter() - started < 60


def test_keras2_layer_group_cycle_is_harmless(tmp_path):
    path = hostile.h5_link_cycle(tmp_path)
    result = _run(["summary", str(path)])
    assert result.exit_code == 0, result.output
    assert "qd" in result.stdout


@pytest.mark.parametrize(
    ("attack", "phrase"),
    [
        ("zip_bomb_declared", "refused as a zip bomb"),
        ("zip_bomb_actual", "refused as a zip bomb"),
        ("zip_weights_bomb", "refused as a zip bomb"),
    ],
)
def test_zip_bombs_are_refused_before_inflating(tmp_path, attack, phrase):
    _refused_everywhere(tmp_path, attack, phrase, "over the")


# VmHWM (peak resident memory of this process image; ru_maxrss would inherit the parent's).
_PEAK_MEMORY = """
import re, sys
from bnnstat.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
status = open("/proc/self/status").read()
print(code, int(re.search(r"VmHWM:\\s*(\\d+)", status).group(1)) // 1024)
"""


@pytest.mark.parametrize("attack", ["zip_bomb_actual", "zip_weights_bomb"])
def test_zip_bomb_costs_no_memory(tmp_path, attack):
    path = hostile.ATTACKS[attack](tmp_path)  # members inflate to 300 MB
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY, "summary", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    code, peak_mib = result.stdout.split()[-2:]
    assert code == "2", result.stderr
    assert int(peak_mib) < 200


@pytest.mark.parametrize(
    ("attack", "phrase"),
    [
        ("zip_encrypted", "is encrypted"),
        ("zip_unknown_method", "unsupported zip compression method 99"),
        ("zip_bad_crc_config", "Bad CRC-32"),
        ("zip_bad_crc_weights", "fails its CRC check"),
    ],
)
def test_unreadable_zip_members_are_one_line(tmp_path, attack, phrase):
    _refused_everywhere(tmp_path, attack, phrase)


@pytest.mark.parametrize("attack", ["deep_json", "deep_json_h5", "nested_models"])
def test_deep_json_is_refused(tmp_path, attack):
    _refused_everywhere(tmp_path, attack, "nested too deeply")


@pytest.mark.parametrize("attack", ["h5_huge_declared_shape", "keras_huge_declared_shape"])
def test_datasets_declaring_more_than_the_file_holds_are_not_read(tmp_path, attack):
    path = hostile.ATTACKS[attack](tmp_path)
    line = _one_error_line(_run(["flips", str(path), str(hostile.copy_of(path, tmp_path))]))
    assert "declares shape (1048576, 1048576)" in line


def test_huge_declared_shape_does_not_reach_the_keras2_loader(tf, tmp_path):
    import bnnstat.models

    path = hostile.h5_huge_declared_shape(tmp_path)
    with pytest.raises(BnnstatError, match="more than the"):
        bnnstat.models.load_model(path)


def test_reverse_listed_graph_is_linear(tmp_path):
    path = hostile.reversed_layers(tmp_path, count=4000)
    started = time.perf_counter()
    result = _run(["summary", str(path), "--format", "json"])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert '"name": "r3999"' in result.stdout
    assert elapsed < 30  # was quadratic: minutes for this file


# --- sane values or a clear error ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "phrase"),
    [
        ("units_zero", "units must be a positive integer"),
        ("units_negative", "units must be a positive integer"),
        ("units_string", "units must be a positive integer"),
        ("units_huge_float", "out of range"),
        ("units_nan", "NaN is not a number"),
        ("negative_dimension", "batch_shape must list positive dimensions"),
        ("zero_dimension", "batch_shape must list positive dimensions"),
        ("strides_zero", "strides must be a positive integer"),
        ("kernel_size_negative", "kernel_size must be a positive integer"),
        ("dilation_string", "dilation_rate must be a positive integer"),
        ("negative_bit_width", "bit width k_bit must be an integer from 1 to 64"),
        ("huge_bit_width", "bit width precision must be an integer from 1 to 64"),
        ("nan_bit_width", "NaN is not a number"),
    ],
)
def test_impossible_values_are_one_line(tmp_path, attack, phrase):
    _refused_everywhere(tmp_path, attack, phrase)


@pytest.mark.parametrize(
    ("attack", "phrase"),
    [
        ("model_config_list", "holds a JSON list"),
        ("model_config_inner_string", "no functional config"),
        ("layers_not_objects", "unexpected model config structure"),
        ("h5_model_config_number", "holds a JSON int"),
        ("h5_missing_weight_group", "has no such group"),
        ("h5_missing_weight_dataset", "has no such dataset"),
    ],
)
def test_wrong_structure_is_one_line(tmp_path, attack, phrase):
    _refused_everywhere(tmp_path, attack, phrase, "no weights group", "no weight dataset")


def test_310_digit_budgets_are_one_line(tmp_path):
    path = hostile.keras3_model(tmp_path / "m.keras")
    for option in ("--max-memory", "--max-deployed-size", "--min-binarized-macs"):
        extra = ["--target", "lce"] if option == "--max-deployed-size" else []
        line = _one_error_line(_run(["audit", str(path), option, "9" * 310, *extra]))
        assert option in line
    result = _run(["audit", str(path), "--max-memory", "9" * 18])
    assert result.exit_code == 1, result.output  # findings fail, the budget holds
    assert "PASS  max_memory" in result.stdout


def test_json_output_is_strict(tmp_path):
    import json

    path = hostile.keras3_model(tmp_path / "m.keras")
    result = _run(["summary", str(path), "--format", "json"])
    json.loads(result.stdout, parse_constant=lambda token: pytest.fail(f"{token} in JSON"))


# --- terminal injection -------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["escape_layer_name", "escape_model_name"])
@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_names_cannot_control_the_terminal(tmp_path, attack, fmt):
    path = hostile.ATTACKS[attack](tmp_path)
    result = _run(["summary", str(path), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\r" not in result.stdout
    if fmt != "csv" or attack == "escape_layer_name":  # csv has no model name
        assert "\\x1b" in result.stdout
    assert not any(line.startswith("result: PASSED") for line in result.stdout.splitlines())
    audit = _run(["audit", str(path)])
    assert "\x1b" not in audit.stdout and "\x1b" not in audit.stderr


def test_escape_sequences_in_names_reach_json_escaped(tmp_path):
    path = hostile.escape_layer_name(tmp_path)
    result = _run(["summary", str(path), "--format", "json"])
    assert "\x1b" not in result.stdout
    assert "\\u001b" in result.stdout  # the real name, JSON-escaped


def test_file_name_with_escape_and_newline_is_one_line(tmp_path):
    path = hostile.escape_file_name(tmp_path)
    for args in (["summary", str(path)], ["audit", str(path)]):
        line = _one_error_line(_run(args))
        assert "\\x1b[2J\\x0aresult: PASSED.h5" in line


def test_plot_model_escapes_names_for_matplotlib(tmp_path):
    path = hostile.escape_layer_name(tmp_path)
    result = _run(["plot", "model", str(path), "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert (tmp_path / "out.png").stat().st_size > 0


# --- outputs never clobber inputs ---------------------------------------------------------------


def _spellings(path: Path) -> dict[str, Path]:
    (path.parent / "sub").mkdir(exist_ok=True)
    symlink = path.parent / "link.keras"
    symlink.symlink_to(path)
    hardlink = path.parent / "hard.keras"
    os.link(path, hardlink)
    return {
        "same": path,
        "symlink": symlink,
        "hardlink": hardlink,
        "dotdot": path.parent / "sub" / ".." / path.name,
    }


@pytest.mark.parametrize("spelling", ["same", "symlink", "hardlink", "dotdot"])
def test_outputs_never_overwrite_the_input(tmp_path, spelling):
    path = hostile.keras3_model(tmp_path / "model.keras")
    original = path.read_bytes()
    output = _spellings(path)[spelling]
    for args in (
        ["summary", str(path), "-o", str(output)],
        ["audit", str(path), "-o", str(output)],
        ["flips", str(path), str(hostile.copy_of(path, tmp_path)), "-o", str(output)],
    ):
        line = _one_error_line(_run(args))
        assert "refusing to write the output over the input file" in line
    assert path.read_bytes() == original


def test_plot_outputs_never_overwrite_the_input(tmp_path):
    path = tmp_path / "model.png"
    hostile.keras3_model(path)
    original = path.read_bytes()
    line = _one_error_line(_run(["plot", "model", str(path), "-o", str(path)]))
    assert "refusing to write" in line
    assert path.read_bytes() == original


# --- no code from the file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "phrase"),
    [
        ("keras2_tfsm_layer", "class 'TFSMLayer' is not a Keras built-in or bnnstat layer"),
        ("keras2_unknown_class", "class 'TorchModuleWrapper' is not a Keras built-in"),
        ("keras2_lambda", "Lambda layer holds Python code"),
        ("keras3_lambda", "Lambda"),
    ],
)
def test_keras_engine_builds_only_allowlisted_layers(tf, tmp_path, attack, phrase):
    import bnnstat.models

    path = hostile.ATTACKS[attack](tmp_path)
    with pytest.raises(BnnstatError, match=phrase):
        bnnstat.models.load_model(path)
    result = _run(["summary", str(path), "--engine", "keras"])
    assert phrase in _one_error_line(result, path)
    assert not (tmp_path / "LAMBDA_RAN").exists()
    # Reading the structure statically never runs anything either.
    assert _run(["summary", str(path)]).exit_code == 0
    assert not (tmp_path / "LAMBDA_RAN").exists()


def test_tfsm_layer_is_refused_even_without_safe_mode(tf, tmp_path):
    import bnnstat.models

    path = hostile.keras2_tfsm_layer(tmp_path)
    with pytest.raises(BnnstatError, match="TFSMLayer"):
        bnnstat.models.load_model(path, safe_mode=False)


def test_no_safe_mode_is_the_only_way_to_lambda(tf, tmp_path):
    path = hostile.keras2_lambda(tmp_path)
    result = _run(["summary", str(path), "--engine", "keras", "--no-safe-mode"])
    assert result.exit_code == 0, result.output
    assert "lam" in result.stdout
    assert "--no-safe-mode" in _run(["summary", "--help"]).stdout
    line = _one_error_line(_run(["summary", str(path), "--no-safe-mode"]))
    assert "--no-safe-mode only applies to --engine keras" in line


def test_keras_engine_failure_is_one_line_without_warnings(tf, tmp_path):
    path = hostile.zero_dimension(tmp_path)
    result = _run(["summary", str(path), "--engine", "keras"])
    _one_error_line(result, path)


# --- audit reports it ---------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["keras2_lambda", "keras3_lambda"])
def test_audit_reports_python_bytecode_as_sec001(tmp_path, attack):
    path = hostile.ATTACKS[attack](tmp_path)
    result = _run(["audit", str(path), "--format", "json"])
    codes = [(f["code"], f["layer"]) for f in json.loads(result.stdout)["findings"]]
    assert ("SEC001", "lam") in codes
    assert not (tmp_path / "LAMBDA_RAN").exists()
    clean = _run(["audit", str(hostile.keras3_model(tmp_path / "clean.keras")), "--format", "json"])
    assert "SEC001" not in clean.stdout


@pytest.mark.parametrize(
    "attack",
    ["h5_external_link", "h5_external_storage", "h5_virtual_dataset", "keras_external_link"],
)
def test_audit_reports_data_outside_the_file_as_sec002(tmp_path, attack):
    path = hostile.ATTACKS[attack](tmp_path)
    result = _run(["audit", str(path)])
    assert result.exit_code == 1, result.output
    assert "SEC002 error" in result.stdout
    assert "result: FAILED" in result.stdout
    ignored = _run(["audit", str(path), "--ignore", "SEC002", "--format", "json"])
    assert ignored.exit_code == 0, ignored.output
    assert json.loads(ignored.stdout)["findings"] == []


@pytest.mark.parametrize("attack", ["negative_bit_width", "huge_bit_width"])
def test_keras_engine_refuses_impossible_bit_widths(tf, tmp_path, attack):
    path = hostile.ATTACKS[attack](tmp_path)
    line = _one_error_line(_run(["summary", str(path), "--engine", "keras"]), path)
    assert "is not an integer from 1 to 64" in line


def test_flips_log_layer_names_are_terminal_safe(tmp_path):
    log = tmp_path / "flips.jsonl"
    name = "conv\x1b]0;pwned\x07\nresult: PASSED"
    rows = [{"epoch": e, "step": None, "layer": name, "flipped": 1, "total": 4, "ratio": 0.25}
            for e in (1, 2)]  # fmt: skip
    log.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    result = _run(["flips", str(log), "--plot", str(tmp_path / "ratio.png")])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert not any(line.startswith("result: PASSED") for line in result.stdout.splitlines())
    assert (tmp_path / "ratio.png").stat().st_size > 0
    raw = json.loads(_run(["flips", str(log), "--format", "json"]).stdout)
    assert raw["layers"] == [name]  # JSON keeps the real name


def test_keras2_translator_builds_reverse_listed_graphs(tf, tmp_path):
    import bnnstat.models
    from tests.keras2_h5 import functional, input_layer, node, write_keras2_h5

    count = 300
    chain = [
        node(f"r{i}", "ReLU", {}, [[[f"r{i - 1}" if i else "x", 0, 0, {}]]]) for i in range(count)
    ]
    config = functional(
        "chain", [input_layer("x", (4,)), *reversed(chain)], ["x"], [f"r{count - 1}"]
    )
    path = write_keras2_h5(tmp_path / "chain.h5", config)
    started = time.perf_counter()
    model = bnnstat.models.load_model(path)
    assert time.perf_counter() - started < 60
    assert [layer.name for layer in model.layers][1:3] == ["r0", "r1"]
    assert len(model.layers) == count + 1
    static = _run(["summary", str(path), "--format", "json"])
    assert static.exit_code == 0, static.output
