"""Reports: Larq's tables byte for byte, golden text/Markdown, JSON schema, CSV.

Golden files live in tests/golden/; regenerate them with ``BNNSTAT_REGEN_GOLDEN=1 pytest
tests/test_report.py`` and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from golden.larq_records import FIXTURE_NAMES, load_reference, model_record

from bnnstat.errors import BnnstatError
from bnnstat.inspect.analysis import Analysis
from bnnstat.inspect.deployment import Deployment, LayerDeployment
from bnnstat.inspect.profile import ModelProfile, profile
from bnnstat.inspect.records import LayerRecord, ModelRecord, WeightRecord
from bnnstat.inspect.report import box, readable_number, render
from bnnstat.inspect.serialize import to_json

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("BNNSTAT_REGEN_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"{path} missing: run with BNNSTAT_REGEN_GOLDEN=1 to create it"
    assert text + "\n" == path.read_text(encoding="utf-8")


@pytest.fixture(params=FIXTURE_NAMES)
def fixture_name(request):
    return request.param


def _fixture_profile(larq_fixtures, name) -> ModelProfile:
    return profile(model_record(load_reference(larq_fixtures, name)))


def test_table_reproduces_larq_text_byte_for_byte(larq_fixtures, fixture_name):
    expected = (larq_fixtures / f"{fixture_name}.txt").read_text(encoding="utf-8")
    text = render(_fixture_profile(larq_fixtures, fixture_name), "table")
    assert text[: len(expected)] == expected
    assert "extensions (bnnstat, beyond Larq)" in text[len(expected) :]


def test_table_cells_match_reference_table(larq_fixtures, fixture_name):
    from bnnstat.inspect.report import layer_table_rows, summary_rows

    reference = load_reference(larq_fixtures, fixture_name)["model"]
    result = _fixture_profile(larq_fixtures, fixture_name)
    assert layer_table_rows(result) == reference["table"]
    assert summary_rows(result) == reference["summary_rows"]


def _hand_record() -> ModelRecord:
    bn = (
        WeightRecord("gamma", (4,)),
        WeightRecord("beta", (4,)),
        WeightRecord("moving_mean", (4,), trainable=False),
        WeightRecord("moving_variance", (4,), trainable=False),
    )
    return ModelRecord(
        name="hand_made",
        class_name="Functional",
        layers=(
            LayerRecord("vol", "InputLayer", output_shape=(None, 4, 6, 6, 2)),
            LayerRecord(
                "c3",
                "Conv3D",
                weights=(WeightRecord("kernel", (3, 3, 3, 2, 4)), WeightRecord("bias", (4,))),
                output_shape=(None, 2, 4, 4, 4),
                inbound=("vol",),
            ),
            LayerRecord("r", "Reshape", output_shape=(None, 8, 16), inbound=("c3",)),
            LayerRecord(
                "qd",
                "QuantDense",
                weights=(WeightRecord("kernel", (16, 4), precision=1),),
                input_precision=1,
                output_shape=(None, 8, 4),
                inbound=("r",),
            ),
            LayerRecord(
                "block",
                "Functional",
                output_shape=(None, 8, 4),
                inbound=("qd",),
                layers=(
                    LayerRecord("block_in", "InputLayer", output_shape=(None, 8, 4)),
                    LayerRecord(
                        "block_bn", "BatchNormalization", weights=bn, output_shape=(None, 8, 4)
                    ),
                ),
            ),
            LayerRecord(
                "lam", "Lambda", output_shape=None, note="shape unknown: Lambda layer not executed"
            ),
            LayerRecord(
                "d",
                "Dense",
                weights=(WeightRecord("kernel", (4, 2)), WeightRecord("bias", (2,))),
                output_shape=(None, 8, 2),
                output_shapes=((None, 8, 2), (None, 8, 2)),
                call_count=2,
            ),
        ),
    )


def test_golden_fixture_table_and_markdown(larq_fixtures):
    result = _fixture_profile(larq_fixtures, "binary_cnn_cifar")
    check_golden("binary_cnn_cifar.table.txt", render(result, "table"))
    check_golden("binary_cnn_cifar.md", render(result, "markdown"))
    check_golden("binary_cnn_cifar.no_macs.table.txt", render(result, "table", include_macs=False))


def test_golden_hand_made_table_and_markdown():
    result = profile(_hand_record())
    check_golden("hand_made.table.txt", render(result, "table"))
    check_golden("hand_made.md", render(result, "markdown"))


def test_larq_snapshot_of_its_own_test_model():
    """The model of Larq's `models_test.py`, whose printed summary Larq keeps as a snapshot."""
    record = ModelRecord(
        name="sequential",
        class_name="Sequential",
        layers=(
            LayerRecord(
                "quant_conv2d",
                "QuantConv2D",
                weights=(WeightRecord("kernel", (3, 3, 1, 32), 1), WeightRecord("bias", (32,))),
                output_shape=(None, 64, 64, 32),
            ),
            LayerRecord("max_pooling2d", "MaxPooling2D", output_shape=(None, 32, 32, 32)),
            LayerRecord(
                "quant_depthwise_conv2d",
                "QuantDepthwiseConv2D",
                weights=(WeightRecord("depthwise_kernel", (3, 3, 32, 1), 2),),
                input_precision=2,
                output_shape=(None, 11, 11, 32),
            ),
            LayerRecord(
                "quant_separable_conv2d",
                "QuantSeparableConv2D",
                weights=(
                    WeightRecord("depthwise_kernel", (3, 3, 32, 1), 1),
                    WeightRecord("pointwise_kernel", (1, 1, 32, 32), 1),
                    WeightRecord("bias", (32,)),
                ),
                input_precision=1,
                output_shape=(None, 11, 11, 32),
            ),
            LayerRecord("flatten", "Flatten", output_shape=(None, 3872)),
            LayerRecord(
                "dense",
                "Dense",
                weights=(
                    WeightRecord("kernel", (3872, 10), trainable=False),
                    WeightRecord("bias", (10,), trainable=False),
                ),
                output_shape=(None, 10),
            ),
        ),
    )
    text = render(profile(record), "table")
    # Larq's own snapshot of this model (larq/snapshots/snap_models_test.py, "test_summary 1"),
    # copied as data; never regenerated.
    expected = (GOLDEN / "larq_snapshot_sequential.expected.txt").read_text(encoding="utf-8")
    assert text.startswith(expected)


def test_larq_snapshot_of_a_model_without_weights():
    record = ModelRecord(
        name="sequential_1",
        class_name="Sequential",
        layers=(LayerRecord("lambda", "Lambda", output_shape=(2,)),),
    )
    text = render(profile(record), "table")
    expected = """\
+sequential_1 stats--------------------+
| Layer   Input prec.  Outputs  Memory |
|               (bit)             (kB) |
+--------------------------------------+
| lambda            -     (2,)       0 |
+--------------------------------------+
| Total                              0 |
+--------------------------------------+
+sequential_1 summary-------------------+
| Total params                   0      |
| Trainable params               0      |
| Non-trainable params           0      |
| Model size                     0.00 B |
| Model size (8-bit FP weights)  0.00 B |
| Float-32 Equivalent            0.00 B |
| Compression Ratio of Memory    0.00   |
| Number of MACs                 0      |
+---------------------------------------+
"""
    assert text.startswith(expected)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "0"),
        (832, "832"),
        (999, "999"),
        (1044, "1.04 k"),
        (12707, "12.7 k"),
        (178218, "178 k"),
        (999999, "1 M"),
        (27460864, "27.5 M"),
        (4.2e9, "4.2 B"),
        (1e16, "1.00E+16"),
    ],
)
def test_readable_number(number, text):
    assert readable_number(number) == text


def test_box_hides_a_title_that_does_not_fit_and_pads_wide_characters():
    assert box([["a", "b"]], title="much too long").splitlines()[0] == "+------+"
    wide = box([["名前"], ["ab"]]).splitlines()
    assert len({len(line) + line.count("名") + line.count("前") for line in wide}) == 1


# -- JSON ---------------------------------------------------------------------------------------
LAYER_KEYS = {
    "name": str,
    "class_name": str,
    "input_precision": (int, type(None)),
    "output_shape": (list, type(None)),
    "params_by_bitwidth": dict,
    "trainable_params": int,
    "memory_bits": int,
    "macs_by_precision": (dict, type(None)),
    "note": (str, type(None)),
    "layers": list,
}
TOTAL_KEYS = {
    "params": int,
    "trainable_params": int,
    "non_trainable_params": int,
    "params_by_bitwidth": dict,
    "memory_bits": int,
    "int8_fp_weights_memory_bits": int,
    "fp32_equivalent_memory_bits": int,
    "compression_ratio": float,
    "macs": int,
    "macs_by_precision": dict,
    "binarized_mac_ratio": float,
    "ternarized_mac_ratio": float,
}


def _check_layer_schema(layer):
    for key, kind in LAYER_KEYS.items():
        assert isinstance(layer[key], kind), (layer["name"], key)
    assert all(isinstance(k, str) and k.isdigit() for k in layer["params_by_bitwidth"])
    if layer["output_shape"] is not None:
        assert layer["output_shape"][0] is None  # batch dimension
    for sub in layer["layers"]:
        _check_layer_schema(sub)


@pytest.mark.parametrize("which", ["fixture", "hand"])
def test_json_schema(larq_fixtures, which):
    result = (
        _fixture_profile(larq_fixtures, "ternary_kbit_conv1d")
        if which == "fixture"
        else profile(_hand_record())
    )
    data = json.loads(render(result, "json"))
    assert data == json.loads(json.dumps(to_json(result)))
    assert isinstance(data["model"], str)
    for layer in data["layers"]:
        _check_layer_schema(layer)
    for key, kind in TOTAL_KEYS.items():
        assert isinstance(data["totals"][key], kind), key
    assert all(k.isdigit() for k in data["totals"]["macs_by_precision"])
    assert "deployment" not in data


def test_json_numbers_match_reference(larq_fixtures, fixture_name):
    reference = load_reference(larq_fixtures, fixture_name)["model"]
    data = to_json(_fixture_profile(larq_fixtures, fixture_name))
    totals = reference["totals"]
    assert data["totals"]["params"] == totals["params_total"]
    assert data["totals"]["params_by_bitwidth"] == totals["params_by_bitwidth"]
    assert data["totals"]["macs_by_precision"] == totals["macs_by_precision"]
    assert data["totals"]["memory_bits"] == totals["memory_bits"]
    assert data["totals"]["keras_params"] == reference["keras"]["count_params"]
    for layer, entry in zip(data["layers"], reference["layers"], strict=True):
        assert layer["params_by_bitwidth"] == entry["params_by_bitwidth"]
        assert layer["macs_by_precision"] == (
            None if entry["macs_total"] is None else entry["macs_by_precision"]
        )
        assert layer["input_precision"] == entry["input_precision"]
        assert layer["output_shape"] == [None if d == -1 else d for d in entry["output_shape"]]


def test_json_keeps_nested_records():
    data = to_json(profile(_hand_record()))
    block = next(layer for layer in data["layers"] if layer["name"] == "block")
    assert [sub["name"] for sub in block["layers"]] == ["block_in", "block_bn"]
    assert block["params_by_bitwidth"] == {"1": 0, "32": 8}  # BN fused inside, as Larq does
    assert block["layers"][1]["params_by_bitwidth"] == {"32": 8}
    conv3d = next(layer for layer in data["layers"] if layer["name"] == "c3")
    assert conv3d["macs_by_precision"] is None
    assert conv3d["extensions"]["macs"] == 216 * 32


# -- CSV ----------------------------------------------------------------------------------------
def test_csv_one_row_per_layer_with_json_fields():
    result = profile(_hand_record())
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    names = [row["name"] for row in rows]
    assert names == ["vol", "c3", "r", "qd", "block", "block_in", "block_bn", "lam", "d"]
    qd = rows[3]
    assert qd["params_1bit"] == "64" and qd["macs_1bit"] == "512" and qd["input_precision"] == "1"
    assert rows[5]["parent"] == "block"
    assert rows[1]["macs_32bit"] == "" and "Conv3D" in rows[1]["note"]
    no_macs = render(result, "csv", include_macs=False).splitlines()[0]
    assert "macs" not in no_macs


# -- deployment view ----------------------------------------------------------------------------
def test_deployment_column_rows_and_json(larq_fixtures):
    base = _fixture_profile(larq_fixtures, "binarynet_mlp")
    deployment = Deployment(
        target="lce",
        convertible=True,
        problems=(),
        total_bytes=40000,
        accelerated_binary_mac_ratio=0.0,
        layers=(LayerDeployment("quant_dense_1", 30000, "float32", False, "dense is float"),),
    )
    result = Analysis(ModelProfile(base.name, base.class_name, base.layers), deployment)
    text = render(result, "table")
    header = text.splitlines()[1]
    assert header.rstrip(" |").endswith("LCE bytes")
    assert "30000 |" in text and "40000 |" in text
    assert "Predicted LCE size" in text and "39.06 KiB" in text
    data = to_json(result)
    assert data["deployment"] == to_json(deployment)
    assert data["totals"] == to_json(base)["totals"]  # Larq fields unchanged
    assert "LCE bytes" in render(result, "markdown")


def test_unknown_format():
    with pytest.raises(BnnstatError, match="unknown format"):
        render(profile(_hand_record()), "yaml")
