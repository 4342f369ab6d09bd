"""`summary FILE... [--compare]` and `bnnstat diff`: pure comparison functions on hand-built
profiles, renderers in every format, and the CLI (CliRunner and a real process)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner

from bnnstat.cli import main
from bnnstat.inspect import compare, compare_report, profile, reader
from bnnstat.inspect.analysis import analyze
from bnnstat.inspect.records import LayerRecord, ModelRecord, QuantizerRecord, WeightRecord
from tests.conftest import REPO, SAMPLE_MODELS

SIGN = QuantizerRecord("ste_sign", 1)
QUICKNET = SAMPLE_MODELS / "quicknet_small.keras"
MLP = SAMPLE_MODELS / "binarynet_mlp.h5"
BAD = SAMPLE_MODELS / "bad_practices.h5"


def dense(name: str, units_in: int, units: int, bits: int | None, inputs: bool = False):
    return LayerRecord(
        name=name,
        class_name="QuantDense" if bits else "Dense",
        weights=(WeightRecord("kernel", (units_in, units), bits),),
        quantizers={"input_quantizer": SIGN} if inputs else {},
        input_precision=1 if inputs else None,
        input_shapes=((None, units_in),),
        output_shape=(None, units),
        output_shapes=((None, units),),
    )


def record(*layers: LayerRecord, source: str) -> ModelRecord:
    return ModelRecord("m", "Sequential", tuple(layers), source=source)


BEFORE = record(
    dense("stem", 8, 16, None),
    dense("hidden", 16, 16, 1, inputs=True),
    dense("dropped", 16, 16, 1, inputs=True),
    dense("head", 16, 4, None),
    source="before.h5",
)
AFTER = record(
    dense("stem", 8, 16, None),
    dense("hidden", 16, 16, None),  # now full precision
    dense("extra", 16, 32, None),  # new, another class than the removed QuantDense
    dense("head_renamed", 32, 4, None),  # renamed head: matched by position
    source="after.h5",
)


def test_model_totals_are_the_profile_totals():
    p = profile.profile(BEFORE)
    totals = compare.model_totals(p)
    assert totals.params == p.params == 8 * 16 + 16 * 16 * 2 + 16 * 4
    assert dict(totals.params_by_bitwidth) == {1: 512, 32: 192}
    assert totals.memory_bits == 512 + 32 * 192
    assert dict(totals.macs_by_precision) == {1: 512, 32: 192}
    assert totals.binarized_mac_ratio == pytest.approx(512 / 704)
    assert totals.bops == p.ext_bops and totals.deployed_bytes is None


def test_diff_matches_by_name_then_position():
    result = compare.diff(profile.profile(BEFORE), profile.profile(AFTER))
    rows = [
        (c.status, c.before and c.before.name, c.after and c.after.name, c.changes)
        for c in result.layers
    ]
    assert rows == [
        ("same", "stem", "stem", ()),
        ("changed", "hidden", "hidden", ("class", "precision", "memory")),
        ("added", None, "extra", ()),
        ("removed", "dropped", None, ()),
        ("changed", "head", "head_renamed", ("name", "params", "memory", "macs")),
    ]
    hidden = result.layers[1]
    assert hidden.before.weight_bits == (1,) and hidden.after.weight_bits == (32,)
    assert hidden.before.input_bits == 1 and hidden.after.input_bits is None
    assert result.grew  # a 1-bit layer became 32-bit
    assert not compare.diff(profile.profile(AFTER), profile.profile(AFTER)).grew
    assert [result.count(s) for s in ("added", "removed", "changed", "same")] == [1, 1, 2, 1]


def _facts(*pairs):
    return [compare.LayerFacts(n, c, (), None, 0, 0, 0) for n, c in pairs]


@pytest.mark.parametrize(
    "before, after, expected",
    [
        # z and w share class and position after the name-matched x: a rename
        ([("x", "A"), ("y", "B"), ("z", "C")], [("x", "A"), ("w", "C")], {0: 0, 1: 2}),
        # one layer inserted at the front does not shift the renamed ones behind it
        ([("a", "D"), ("b", "D")], [("new", "C"), ("a2", "D"), ("b2", "D")], {1: 0, 2: 1}),
        # name matches that cross leave nothing to pair by position between them
        ([("x", "A"), ("q", "B"), ("y", "A")], [("y", "A"), ("r", "B"), ("x", "A")], {0: 2, 2: 0}),
    ],
)
def test_match_layers(before, after, expected):
    assert compare.match_layers(_facts(*before), _facts(*after)) == expected


def _cells(text):
    return [line.strip("| ").split() for line in text.splitlines()]


def test_diff_renderers():
    result = compare.diff(profile.profile(BEFORE), profile.profile(AFTER))
    text = compare_report.render_diff(result)
    assert text.splitlines()[0] == (
        "diff before.h5 -> after.h5: 2 changed, 1 added, 1 removed, 1 unchanged"
    )
    lines = _cells(text)
    assert [
        "hidden", "class,", "precision,", "memory", "w1", "in1", "->", "w32",
        "256", "1.00", "(+0.97)", "256",
    ] in lines  # fmt: skip
    assert ["extra", "added", "w32", "+512", "+2.00", "+512"] in lines
    assert ["dropped", "removed", "w1", "in1", "-256", "-0.03", "-256"] in lines
    assert next(r for r in lines if r and r[0] == "head")[:3] == ["head", "->", "head_renamed"]
    assert not any(row and row[0] == "stem" for row in lines)  # unchanged layers hidden
    every = _cells(compare_report.render_diff(result, all_layers=True))
    assert ["stem", "same", "w32", "128", "0.50", "128"] in every
    assert ["Total", "params", "704", "1,024", "+320"] in lines
    assert ["Model", "size", "832.00", "B", "4.00", "KiB", "+3.19", "KiB"] in lines
    data = json.loads(compare_report.render_diff(result, "json"))
    assert data["kind"] == "diff" and data["grew"] is True
    assert data["counts"] == {"added": 1, "removed": 1, "changed": 2, "same": 1}
    assert data["before"]["params"] == 704 and data["after"]["params"] == 1024
    assert data["layers"][3] == {
        "status": "removed",
        "changes": [],
        "before": {
            "name": "dropped", "class_name": "QuantDense", "weight_bits": [1], "input_bits": 1,
            "params": 256, "memory_bits": 256, "macs": 256, "deployed_bytes": None,
        },
        "after": None,
    }  # fmt: skip
    markdown = compare_report.render_diff(result, "markdown")
    assert markdown.startswith("## diff before.h5 -> after.h5") and "| hidden" in markdown


def test_comparison_in_every_format():
    totals = [compare.model_totals(profile.profile(r)) for r in (BEFORE, AFTER)]
    lines = _cells(compare_report.render_comparison(totals))
    assert ["#", "1-bit", "params", "512", "0"] in lines
    assert ["#", "32-bit", "params", "192", "1,024"] in lines
    assert ["Ratio", "of", "MACs", "that", "are", "binarized", "0.7273", "0.0000"] in lines
    rows = list(csv.reader(io.StringIO(compare_report.render_comparison(totals, "csv"))))
    assert rows[0] == ["metric", "before.h5", "after.h5"]
    assert ["Model size (bits)", str(512 + 32 * 192), str(32 * 1024)] in rows
    data = json.loads(compare_report.render_comparison(totals, "json"))
    assert [m["params_by_bitwidth"] for m in data["models"]] == [
        {"1": 512, "32": 192},
        {"32": 1024},
    ]
    markdown = compare_report.render_comparison(totals, "markdown")
    assert markdown.splitlines()[0].startswith("|") and "before.h5" in markdown.splitlines()[0]
    no_macs = compare_report.render_comparison(totals, include_macs=False)
    assert "MACs" not in no_macs and "BOPs" not in no_macs


# ------------------------------------------------------------------ CLI


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_summary_several_files_one_report_each():
    result = _run("summary", QUICKNET, MLP)
    assert result.exit_code == 0, result.output
    assert f"==> {QUICKNET} <==" in result.output and f"==> {MLP} <==" in result.output
    single = _run("summary", MLP).output
    assert single.strip() in result.output  # each report unchanged
    data = json.loads(_run("summary", QUICKNET, MLP, "--format", "json").output)
    assert [d["source"] for d in data] == [str(QUICKNET), str(MLP)]
    rows = list(
        csv.DictReader(io.StringIO(_run("summary", QUICKNET, MLP, "--format", "csv").output))
    )
    assert {r["source"] for r in rows} == {str(QUICKNET), str(MLP)}


def test_cli_summary_quoted_glob_is_expanded():
    result = _run("summary", SAMPLE_MODELS / "*.h5", "--compare", "--format", "json")
    assert result.exit_code == 0, result.output
    sources = [m["source"] for m in json.loads(result.output)["models"]]
    assert sources == sorted(str(p) for p in SAMPLE_MODELS.glob("*.h5"))
    none = _run("summary", SAMPLE_MODELS / "*.nothing")
    assert none.exit_code == 2 and "no file matches" in none.output


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "csv"])
def test_cli_summary_compare_every_format(fmt):
    result = _run("summary", QUICKNET, MLP, "--compare", "--target", "lce", "--format", fmt)
    assert result.exit_code == 0, result.output
    expected = {}
    for path in (QUICKNET, MLP):
        a = analyze(reader.read(path), "lce")
        expected[str(path)] = (a.profile.params, a.deployment.total_bytes)
    if fmt == "json":
        models = json.loads(result.output)["models"]
        assert {m["source"]: (m["params"], m["deployed_bytes"]) for m in models} == expected
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(result.output)))
        by_label = {row[0]: row[1:] for row in rows}
        assert by_label["Total params"] == [str(v[0]) for v in expected.values()]
        assert by_label["Predicted LCE size (bytes)"] == [str(v[1]) for v in expected.values()]
    else:
        assert f"{expected[str(QUICKNET)][0]:,}" in result.output
        assert "Predicted LCE size" in result.output


def _without_quantizers(tmp_path, layer_name="stage0_block0_qconv"):
    """A copy of quicknet_small with one binary layer made full precision (config edited)."""
    out = tmp_path / "float_block.keras"
    with zipfile.ZipFile(QUICKNET) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "config.json":
                config = json.loads(data)
                for layer in config["config"]["layers"]:
                    if layer["config"]["name"] == layer_name:
                        layer["config"]["input_quantizer"] = None
                        layer["config"]["kernel_quantizer"] = None
                data = json.dumps(config).encode()
            target.writestr(item, data)
    return out


def test_cli_diff_and_fail_if_larger(tmp_path):
    changed = _without_quantizers(tmp_path)
    result = _run("diff", QUICKNET, changed)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith("1 changed, 31 unchanged")
    assert "stage0_block0_qconv" in result.output and "w1 in1 -> w32" in result.output
    grew = _run("diff", QUICKNET, changed, "--fail-if-larger")
    assert grew.exit_code == 1
    shrank = _run("diff", changed, QUICKNET, "--fail-if-larger", "--target", "lce")
    assert shrank.exit_code == 0, shrank.output
    data = json.loads(_run("diff", QUICKNET, changed, "--format", "json", "--target", "lce").output)
    changed_rows = [x for x in data["layers"] if x["status"] != "same"]
    # the layer itself, and the deployed bytes of a neighbour whose LCE plan depends on it
    assert (changed_rows[0]["after"]["name"], changed_rows[0]["changes"]) == (
        "stage0_block0_qconv",
        ["precision", "memory", "deployed"],
    )
    assert all(x["changes"] == ["deployed"] for x in changed_rows[1:])
    assert changed_rows[0]["after"]["memory_bits"] == 32 * changed_rows[0]["before"]["memory_bits"]
    assert (
        data["grew"] is True and data["after"]["deployed_bytes"] > data["before"]["deployed_bytes"]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["diff", "missing.h5", str(QUICKNET)], "missing.h5"),
        (["diff", str(QUICKNET)], "Missing argument 'AFTER'"),
        (["diff", str(QUICKNET), str(MLP), "--format", "csv"], "'--format'"),
        (["summary", str(QUICKNET), "nope.keras", "--compare"], "nope.keras"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, message, tmp_path):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


NO_TF_SCRIPT = """
import sys
from bnnstat.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    code = done.code
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TensorFlow imported"
print("exit", code)
"""


def test_cli_subprocess_diff_and_compare_never_import_tensorflow(tmp_path):
    changed = _without_quantizers(tmp_path)
    runs = {
        ("diff", str(QUICKNET), str(changed), "--fail-if-larger", "--target", "lce"): "exit 1",
        ("summary", str(QUICKNET), str(MLP), "--compare", "--format", "csv"): "exit 0",
    }
    for args, expected in runs.items():
        done = subprocess.run(
            [sys.executable, "-c", NO_TF_SCRIPT, *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.rstrip().endswith(expected)
    real = subprocess.run(
        [sys.executable, "-m", "bnnstat", "diff", str(QUICKNET), str(changed), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert real.returncode == 0 and json.loads(real.stdout)["counts"]["changed"] == 1
    bad = subprocess.run(
        [sys.executable, "-m", "bnnstat", "diff", str(QUICKNET), str(tmp_path / "none.h5")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "none.h5" in bad.stderr


def test_cli_diff_all_layers_markdown_and_keras_engine(tf, tmp_path):
    changed = _without_quantizers(tmp_path)
    every = _run("diff", QUICKNET, changed, "--all-layers")
    assert every.exit_code == 0
    rows = [line for line in every.output.splitlines() if line.startswith("| ")]
    assert sum(" same " in row for row in rows) == 31  # the unchanged layers are listed too
    markdown = _run("diff", QUICKNET, changed, "--format", "markdown")
    assert markdown.exit_code == 0 and markdown.output.startswith("## diff ")
    assert "| stage0_block0_qconv" in markdown.output
    # the Keras engine reads the same model the same way: nothing differs
    keras_engine = _run("diff", QUICKNET, QUICKNET, "--engine", "keras", "--format", "json")
    assert keras_engine.exit_code == 0, keras_engine.output
    assert json.loads(keras_engine.output)["counts"]["same"] == 32


def test_cli_subprocess_summary_of_several_files():
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", str(QUICKNET), str(MLP)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("==> ") == 2 and "quicknet_small stats" in done.stdout
