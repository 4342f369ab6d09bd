"""LCE deployment predictions against sizes measured with the real Larq Compute Engine 0.16.0.

`tests/data/lce/measured.json` and the `.h5` probes come from
`benchmarks/lce_oracle/make_probes.py` (real Larq + LCE in their own virtualenv). The probes are
read with the static reader, so these tests need neither TensorFlow nor Larq.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import LARQ_FIXTURES, REPO, TEST_DATA

from bnnstat.cli import main
from bnnstat.inspect import lce, serialize
from bnnstat.inspect.profile import profile
from bnnstat.inspect.reader import read
from bnnstat.inspect.records import LayerRecord, ModelRecord, QuantizerRecord, WeightRecord

DATA = TEST_DATA / "lce"
MEASURED = json.loads((DATA / "measured.json").read_text())["probes"]
ZOO = ("zoo_quicknet", "zoo_birealnet", "zoo_densenet28", "xnor_like")
CONVERTED = sorted(name for name, entry in MEASURED.items() if entry["converted"])
RULE_PROBES = [name for name in CONVERTED if name not in ZOO]
# every Larq Zoo 2.4 architecture at 224x224 (benchmarks/lce_oracle/make_zoo.py)
ZOO_MODELS = json.loads((DATA / "zoo.json").read_text())["models"]
# one-factor sweeps of the converter's limits (benchmarks/lce_oracle/make_sweeps.py)
SWEEPS = json.loads((DATA / "sweeps.json").read_text())["probes"]
FIT_SWEEPS = sorted(name for name, entry in SWEEPS.items() if entry["split"] == "fit")
HELDOUT_SWEEPS = sorted(name for name, entry in SWEEPS.items() if entry["split"] == "heldout")
TOLERANCE = 0.02  # every probe and every convertible Zoo model within 2 %

# probe -> (layer class whose deployment is checked, stored_as, accelerated)
EXPECTED_LAYER = {
    "bconv_c64": ("QuantConv2D", "bitpacked", True),
    "bconv_c48": ("QuantConv2D", "bitpacked", True),
    "bconv_grouped": ("QuantConv2D", "bitpacked", True),
    "bconv_xnor_scale": ("QuantConv2D", "bitpacked", True),
    "bconv_approx_magnitude": ("QuantConv2D", "bitpacked", True),
    "bconv_bn": ("BatchNormalization", "multiplier_bias", False),
    "bconv_bn_bconv": ("BatchNormalization", "threshold", False),
    "qdense_binary": ("QuantDense", "float32", False),
    "qdense_bn": ("BatchNormalization", "folded", False),
    "depthwise_binary": ("QuantDepthwiseConv2D", "float32", False),
    "separable_binary": ("QuantSeparableConv2D", "float32", False),
    "conv1d_binary": ("QuantConv1D", "float32", False),
    "transposed_binary": ("QuantConv2DTranspose", "float32", False),
    "transposed3d_binary": ("QuantConv3DTranspose", "float32", False),
    "conv3d_binary": ("QuantConv3D", "float32", False),
    "channels_first_binary": ("QuantConv2D", "float32", False),
    "bconv_no_input_quantizer": ("QuantConv2D", "float32", False),
    "kernel_heaviside": ("QuantConv2D", "float32", False),
    "kernel_tern": ("QuantConv2D", "float32", False),
    "kernel_dorefa": ("QuantConv2D", "float32", False),
    "kernel_noop1": ("QuantConv2D", "float32", False),
    "locally_connected_binary": ("QuantLocallyConnected2D", "float32", False),
    "float_conv_bn": ("BatchNormalization", "folded", False),
    "float_dense_bn": ("BatchNormalization", "folded", False),
    "preact_bn": ("BatchNormalization", "float32", False),
    "huge_bconv_2p24": ("QuantConv2D", "bitpacked", True),
    "huge_bconv_2p25": ("QuantConv2D", "float32", False),
    "huge_qdense_2p24": ("QuantDense", "float32", False),
}

# probe -> the finding codes it must produce (exactly)
EXPECTED_CODES = {
    "clean_packed": [],
    "bconv_c64": [],
    "bconv_bn_bconv": [],
    "shared_bconv": [],
    "zoo_quicknet": [],
    "zoo_birealnet": [],
    "bconv_c48": ["LCE004"],
    "bconv_no_input_quantizer": ["LCE002"],
    "channels_first_binary": ["LCE002"],
    "kernel_heaviside": ["LCE002"],
    "kernel_noop1": ["LCE002"],
    "kernel_tern": ["LCE007"],
    "kernel_dorefa": ["LCE007"],
    "qdense_binary": ["LCE003"],
    "depthwise_binary": ["LCE003"],
    "separable_binary": ["LCE003"],
    "conv1d_binary": ["LCE003"],
    "transposed_binary": ["LCE003"],
    "conv3d_binary": ["LCE003"],
    "locally_connected_binary": ["LCE003"],
    "preact_bn": ["LCE006"],
    "huge_bconv_2p25": ["LCE002", "LCE005"],
    "huge_qdense_fail": ["LCE001", "LCE003"],
    # a 1-channel first layer: packing would save nothing, BNN001 wants it in high precision
    "first_layer_1ch": [],
    "mixed_layers": ["LCE003", "LCE006"],  # BN after a 3-D conv is not folded
    "transposed3d_binary": ["LCE003"],
    "transposed1d_float": [],
}


def predict(record: ModelRecord):
    """LCE's prediction with the profile it needs (as `analysis.analyze` runs it)."""
    return lce.predict(record, profile(record))


@pytest.fixture(scope="module")
def records() -> dict[str, ModelRecord]:
    return {name: read(DATA / entry["file"]) for name, entry in MEASURED.items()}


def _relative_error(name: str, records) -> float:
    predicted = predict(records[name]).total_bytes
    measured = MEASURED[name]["tflite_bytes"]
    return (predicted - measured) / measured


@pytest.mark.parametrize("name", RULE_PROBES)
def test_rule_probe_size_matches_measurement(name, records):
    # Each rule's probe: the whole .tflite within 1.5 % (tiny probes are mostly overhead).
    assert abs(_relative_error(name, records)) < 0.015


@pytest.mark.parametrize("name", ZOO)
def test_zoo_architecture_within_5_percent(name, records):
    assert abs(_relative_error(name, records)) < 0.05


@pytest.mark.parametrize("name", sorted(EXPECTED_LAYER))
def test_layer_storage_per_rule(name, records):
    class_name, stored_as, accelerated = EXPECTED_LAYER[name]
    record = records[name]
    deployment = predict(record)
    layer = next(r for r in record.layers if r.class_name == class_name)
    view = deployment.layer(layer.name)
    assert (view.stored_as, view.accelerated) == (stored_as, accelerated)


@pytest.mark.parametrize("name", CONVERTED)
def test_packed_kernels_exact(name, records):
    """Every LceBconv2d filter constant equals C_out*kh*kw*ceil(C_in/32)*4, in model order."""
    measured = [
        op["constants"][0]["bytes"] for op in MEASURED[name]["ops"] if op["op"] == "LceBconv2d"
    ]
    seen: set[int] = set()
    unique = []
    for op in MEASURED[name]["ops"]:
        if op["op"] == "LceBconv2d" and op["constants"][0]["buffer"] not in seen:
            seen.add(op["constants"][0]["buffer"])
            unique.append(op["constants"][0]["bytes"])
    predicted = [
        lce.packed_kernel_bytes(layer.weight("kernel").shape)
        for layer in records[name].layers
        if lce.is_packed(layer)
    ]
    assert predicted == unique
    assert len(measured) >= len(unique)


@pytest.mark.parametrize("name", sorted(EXPECTED_CODES))
def test_findings_per_probe(name, records):
    record = records[name]
    codes = [f.code for f in lce.findings(record, predict(record))]
    assert sorted(set(codes)) == sorted(EXPECTED_CODES[name])


def test_converter_failure_is_predicted(records):
    assert MEASURED["huge_qdense_fail"]["converted"] is False
    deployment = predict(records["huge_qdense_fail"])
    assert deployment.convertible is False and deployment.problems
    found = lce.findings(records["huge_qdense_fail"], deployment)
    errors = [f for f in found if f.code == "LCE001"]
    assert errors and all(f.severity == "error" for f in errors)


def test_c_in_padding_costs_the_same_as_next_multiple_of_32(records):
    # Measured: C_in=48 packs into exactly as many bytes as C_in=64.
    assert MEASURED["bconv_c48"]["tflite_bytes"] == MEASURED["bconv_c64"]["tflite_bytes"]
    assert lce.packed_kernel_bytes((3, 3, 48, 64)) == lce.packed_kernel_bytes((3, 3, 64, 64))
    assert lce.padding_waste_bytes((3, 3, 48, 64)) == 64 * 9 * 16 // 8
    assert lce.padding_waste_bytes((3, 3, 64, 64)) == 0


def test_accelerated_mac_ratio(records):
    assert predict(records["zoo_quicknet"]).accelerated_binary_mac_ratio == 1.0
    assert predict(records["qdense_binary"]).accelerated_binary_mac_ratio == 0.0
    xnor = predict(records["xnor_like"]).accelerated_binary_mac_ratio
    assert 0.5 < xnor < 1.0  # its binary QuantDense is not accelerated


def test_mac_ratio_uses_precomputed_profile(records):
    record = records["xnor_like"]
    assert lce.predict(record, profile(record)) == predict(record)
    with pytest.raises(ValueError):
        lce.predict(record, profile(records["zoo_quicknet"]))


def _larq_binary_cnn():
    reference = json.loads((LARQ_FIXTURES / "binary_cnn_cifar.json").read_text())["model"]
    return read(LARQ_FIXTURES / "binary_cnn_cifar.h5"), reference["layers"]


def test_mac_ratio_on_larq_fixture_counts_every_binary_mac():
    # Every binary layer of this fixture has ste_sign input and kernel, channels_last, so exactly
    # its QuantConv2D layers pack; the depthwise and separable (depthwise + pointwise) MACs don't.
    record, reference = _larq_binary_cnn()
    one_bit = {layer["name"]: layer["macs_by_precision"].get("1") or 0 for layer in reference}
    packed = {layer["name"] for layer in reference if layer["class_name"] == "QuantConv2D"}
    expected = sum(one_bit[name] for name in packed) / sum(one_bit.values())
    deployment = predict(record)
    assert {layer.name for layer in deployment.layers if layer.accelerated} == packed
    assert deployment.accelerated_binary_mac_ratio == pytest.approx(expected, abs=1e-12)
    separable = next(r for r in reference if r["class_name"] == "QuantSeparableConv2D")
    assert len(separable["op_profiles"]) == 2  # depthwise and pointwise MACs, both 1-bit
    done = CliRunner().invoke(main, ["summary", str(LARQ_FIXTURES / "binary_cnn_cifar.h5"),
                                     "--target", "lce"])
    assert done.exit_code == 0, done.output
    row = next(line for line in done.stdout.splitlines() if "run as packed ops" in line)
    assert f"{expected:.4f}" in row


def test_mac_ratio_counts_separable_pointwise_macs():
    conv = _conv(name="bconv", shape=(3, 3, 64, 64))
    separable = LayerRecord(
        name="sep",
        class_name="QuantSeparableConv2D",
        config={"padding": "same"},
        weights=(
            WeightRecord("depthwise_kernel", (3, 3, 64, 1), 1),
            WeightRecord("pointwise_kernel", (1, 1, 64, 128), 1),
        ),
        quantizers={
            "input_quantizer": QuantizerRecord("SteSign", 1),
            "depthwise_quantizer": QuantizerRecord("SteSign", 1),
            "pointwise_quantizer": QuantizerRecord("SteSign", 1),
        },
        input_precision=1,
        output_shape=(None, 8, 8, 128),
        inbound=("bconv",),
    )
    model = ModelRecord("m", "Functional", (LayerRecord("input", "InputLayer"), conv, separable),
                        input_shapes=((None, 8, 8, 64),))
    pixels = 8 * 8
    conv_macs = 3 * 3 * 64 * 64 * pixels
    separable_macs = (3 * 3 * 64 + 64 * 128) * pixels
    deployment = predict(model)
    assert deployment.layer("sep").accelerated is False
    expected = conv_macs / (conv_macs + separable_macs)
    assert deployment.accelerated_binary_mac_ratio == pytest.approx(expected, abs=1e-12)


def test_deployment_json_schema(records):
    payload = serialize.to_json(predict(records["bconv_bn_bconv"]))
    assert set(payload) == {
        "target", "convertible", "problems", "total_bytes", "accelerated_binary_mac_ratio",
        "layers",
    }
    assert payload["target"] == "lce" and payload["convertible"] is True
    assert isinstance(payload["total_bytes"], int)
    for layer in payload["layers"]:
        assert set(layer) == {"name", "bytes", "stored_as", "accelerated", "note"}
    json.dumps(payload)


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_total_is_layer_bytes_plus_fixed_terms(name, records):
    # README: total_bytes = sum(layers[].bytes) + BASE_BYTES + TENSOR_BYTES * model inputs.
    record = records[name]
    deployment = predict(record)
    inputs = max(len(record.input_shapes), 1)
    fixed = lce.BASE_BYTES + lce.TENSOR_BYTES * inputs
    assert lce.fixed_bytes(record) == fixed
    assert deployment.total_bytes == sum(layer.bytes for layer in deployment.layers) + fixed


# --- hand-built records: rules without files ---------------------------------------------------
def _conv(name="conv", input_q="SteSign", kernel_q="SteSign", shape=(3, 3, 64, 64), **config):
    quantizers = {}
    if input_q:
        quantizers["input_quantizer"] = QuantizerRecord(input_q, 1)
    if kernel_q:
        quantizers["kernel_quantizer"] = QuantizerRecord(kernel_q, 1)
    return LayerRecord(
        name=name,
        class_name="QuantConv2D",
        config={"padding": "same", "pad_values": 1.0, **config},
        weights=(WeightRecord("kernel", shape, 1 if kernel_q else None),),
        quantizers=quantizers,
        input_precision=1 if input_q else None,
        output_shape=(None, 8, 8, shape[-1]),
        inbound=("input",),
    )


@pytest.mark.parametrize(
    ("input_q", "kernel_q", "packed"),
    [
        ("SteSign", "SteSign", True),
        ("ApproxSign", "MagnitudeAwareSign", True),
        ("swish_sign", "xnor_weight_scale", True),
        ("ste_sign", "magnitude_aware_sign_unclipped", True),
        (None, "SteSign", False),
        ("SteSign", "SteHeaviside", False),
        ("SteSign", "SteTern", False),
        ("SteSign", "NoOp", False),
        ("SteTern", "SteSign", False),
    ],
)
def test_packs_rule(input_q, kernel_q, packed):
    assert (lce.packs(_conv(input_q=input_q, kernel_q=kernel_q)) is None) is packed


def test_fold_and_fail_limits():
    folded = _conv(shape=(4, 4, 1024, 1024))  # 2^24
    unfolded = _conv(shape=(4, 4, 2048, 1024))  # 2^25
    assert lce.packs(folded) is None
    assert "2^25" in lce.packs(unfolded)
    dense = LayerRecord(
        "fc", "QuantDense", weights=(WeightRecord("kernel", (9216, 4096), 1),),
        quantizers={"kernel_quantizer": QuantizerRecord("SteSign", 1)}, inbound=("input",),
    )
    model = ModelRecord("m", "Functional", (LayerRecord("input", "InputLayer"), dense))
    assert predict(model).convertible is False


# --- real architectures and sweeps ----------------------------------------------------------
def _check_against_measurement(path, entry) -> float | None:
    """Convertibility both ways; the relative size error when the converter succeeded."""
    deployment = predict(read(path))
    assert deployment.convertible is entry["converted"], entry.get("error")
    if not entry["converted"]:
        assert deployment.problems
        return None
    return (deployment.total_bytes - entry["tflite_bytes"]) / entry["tflite_bytes"]


@pytest.mark.parametrize("arch", sorted(ZOO_MODELS))
def test_zoo_architecture_trained_like_size(arch):
    """Every Larq Zoo model: converter failure predicted both ways, else within 2 % of the
    trained-like .tflite (all-equal weight tensors made distinct, as after training)."""
    entry = ZOO_MODELS[arch]
    error = _check_against_measurement(DATA / entry["file"], entry["trained_like"])
    assert error is None or abs(error) < TOLERANCE


def test_zoo_covers_every_architecture_and_both_variants():
    assert len(ZOO_MODELS) == 14
    for entry in ZOO_MODELS.values():
        built, trained = entry["as_built"], entry["trained_like"]
        assert built["converted"] is trained["converted"]
        if trained["converted"]:
            # identical constant vectors are stored once: an untrained model is never larger
            assert built["tflite_bytes"] <= trained["tflite_bytes"]


@pytest.mark.parametrize("name", FIT_SWEEPS)
def test_sweep_probe(name):
    error = _check_against_measurement(DATA / SWEEPS[name]["file"], SWEEPS[name])
    assert error is None or abs(error) < TOLERANCE


@pytest.mark.parametrize("name", HELDOUT_SWEEPS)
def test_heldout_sweep_probe(name):
    """Probes no rule was fitted on (README reports their error separately)."""
    error = _check_against_measurement(DATA / SWEEPS[name]["file"], SWEEPS[name])
    assert error is None or abs(error) < TOLERANCE


def test_sweeps_have_a_heldout_split_and_find_failures():
    assert len(HELDOUT_SWEEPS) >= 10 and len(FIT_SWEEPS) > 5 * len(HELDOUT_SWEEPS)
    grids = {entry["grid"] for entry in SWEEPS.values()}
    assert {"size", "quantizer", "packed", "heldout", "bisect"} <= grids
    # the limits the sweeps found: 9216x4096 converts and packs as a 1x1 conv, fails as a dense
    assert SWEEPS["conv1_9216_4096"]["converted"] and not SWEEPS["dense_9216_4096"]["converted"]
    assert any(op["op"] == "LceBconv2d" for op in SWEEPS["conv1_9216_4096"]["ops"])
    # ste_sign at exactly 2^25 elements is not folded (SIGN at inference), one channel more is
    assert any(op["op"] == "SIGN" for op in SWEEPS["conv1_8192_4096"]["ops"])
    assert any(op["op"] == "LceBconv2d" for op in SWEEPS["conv1_8193_4096"]["ops"])


def test_every_bnnstat_layer_has_an_lce_plan():
    import bnnstat.layers

    for name in bnnstat.layers.__all__:
        assert lce.unpacked_rule(name) is not None, name
    assert lce.unpacked_rule("QuantConv1DTranspose") is lce.plan_transposed


def test_conv3d_transpose_is_planned_like_a_transposed_conv():
    layer = LayerRecord(
        "t3", "QuantConv3DTranspose", config={"padding": "same"},
        weights=(WeightRecord("kernel", (3, 3, 3, 64, 64), 1),),
        quantizers={"input_quantizer": QuantizerRecord("SteSign", 1),
                    "kernel_quantizer": QuantizerRecord("SteSign", 1)},
        input_precision=1, inbound=("input",),
    )
    model = ModelRecord("m", "Functional", (LayerRecord("input", "InputLayer"), layer))
    deployment = predict(model)
    view = deployment.layer("t3")
    assert view.stored_as == "float32" and not view.accelerated
    assert view.bytes > 4 * 3 * 3 * 3 * 64 * 64
    codes = [f.code for f in lce.findings(model, deployment)]
    assert codes == ["LCE003"]


def _first_layer_model(c_in: int) -> ModelRecord:
    first = _conv(name="first", input_q=None, shape=(3, 3, c_in, 32))
    second = _conv(name="second", shape=(3, 3, 32, 32))
    second = dataclasses.replace(second, inbound=("first",))
    return ModelRecord("m", "Functional", (LayerRecord("input", "InputLayer"), first, second),
                       input_shapes=((None, 8, 8, c_in),))


def test_lce002_not_raised_where_packing_saves_nothing():
    # one input channel: a packed word per weight, 4 bytes either way ("1152 instead of 1152")
    model = _first_layer_model(1)
    assert lce.packed_kernel_bytes((3, 3, 1, 32)) == 4 * 3 * 3 * 1 * 32
    assert "LCE002" not in [f.code for f in lce.findings(model, predict(model))]


def test_lce002_on_the_first_layer_relates_to_bnn001():
    model = _first_layer_model(3)
    found = [f for f in lce.findings(model, predict(model)) if f.code == "LCE002"]
    assert len(found) == 1 and found[0].layer == "first"
    assert "BNN001" in found[0].hint and "high precision" in found[0].hint
    assert "input_quantizer='ste_sign'" not in found[0].hint


# --- reports -----------------------------------------------------------------------------------
def test_accelerated_ratio_is_none_without_binary_macs(records):
    deployment = predict(records["float_layers"])
    assert deployment.accelerated_binary_mac_ratio is None
    payload = json.loads(CliRunner().invoke(
        main, ["summary", str(DATA / "float_layers.h5"), "--target", "lce", "--format", "json"]
    ).stdout)
    assert payload["deployment"]["accelerated_binary_mac_ratio"] is None
    done = CliRunner().invoke(main, ["summary", str(DATA / "float_layers.h5"), "--target", "lce"])
    row = next(line for line in done.stdout.splitlines() if "run as packed ops" in line)
    assert row.split()[-2] == "n/a"
    # a binary model whose binary MACs all run unpacked is 0, not n/a
    assert predict(records["qdense_binary"]).accelerated_binary_mac_ratio == 0.0


def _lce_column(stdout: str) -> tuple[list[int], int]:
    """The LCE bytes cells of the layer table (layer rows + file header) and its Total."""
    rows = [line for line in stdout.splitlines() if line.startswith("| ")]
    table = rows[2:rows.index(next(r for r in rows if r.startswith("| Total")))]
    total = int(next(r for r in rows if r.startswith("| Total")).split()[-2])
    return [int(line.split()[-2]) for line in table], total


@pytest.mark.parametrize("name", ["bconv_bn_bconv", "xnor_like", "float_layers"])
def test_table_lce_column_adds_up_with_file_header_row(name):
    done = CliRunner().invoke(main, ["summary", str(DATA / f"{name}.h5"), "--target", "lce"])
    assert done.exit_code == 0, done.output
    assert any(line.startswith("| File header ") for line in done.stdout.splitlines())
    cells, total = _lce_column(done.stdout)
    assert sum(cells) == total


def test_csv_carries_the_deployment_columns():
    path = str(DATA / "bconv_bn_bconv.h5")
    done = CliRunner().invoke(main, ["summary", path, "--target", "lce", "--format", "csv"])
    assert done.exit_code == 0, done.output
    process = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", path, "--target", "lce", "--format", "csv"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert process.returncode == 0 and process.stdout.strip() == done.stdout.strip()
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert {"lce_bytes", "stored_as", "accelerated"} <= set(rows[0])
    deployment = predict(read(DATA / "bconv_bn_bconv.h5"))
    for row in rows:
        view = deployment.layer(row["name"])
        assert (int(row["lce_bytes"]), row["stored_as"], row["accelerated"]) == (
            view.bytes, view.stored_as, str(view.accelerated))
    assert sum(int(r["lce_bytes"]) for r in rows) + lce.fixed_bytes(
        read(DATA / "bconv_bn_bconv.h5")) == deployment.total_bytes
    plain = CliRunner().invoke(main, ["summary", path, "--format", "csv"])
    assert "lce_bytes" not in plain.stdout


def test_lce_module_does_not_import_tensorflow():
    code = "import sys, bnnstat.inspect.lce; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- bad input: as in `summary` -----------------------------------------------------------------
def _bad_files(tmp_path):
    random_bytes = tmp_path / "random.h5"
    random_bytes.write_bytes(bytes(range(256)) * 8)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes((LARQ_FIXTURES / "binary_cnn_cifar.h5").read_bytes()[:4096])
    return {"missing": tmp_path / "missing.h5", "random": random_bytes, "truncated": truncated}


@pytest.mark.parametrize("command", ["summary", "audit"])
@pytest.mark.parametrize("kind", ["missing", "random", "truncated"])
def test_bad_input_with_target_lce_exits_2_with_one_line(tmp_path, command, kind):
    path = _bad_files(tmp_path)[kind]
    done = CliRunner().invoke(main, [command, str(path), "--target", "lce"])
    assert done.exit_code == 2, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]
    assert done.stdout == ""


def test_bad_input_with_target_lce_subprocess(tmp_path):
    path = _bad_files(tmp_path)["truncated"]
    for command in ("summary", "audit"):
        done = subprocess.run(
            [sys.executable, "-m", "bnnstat", command, str(path), "--target", "lce"],
            capture_output=True, text=True, cwd=REPO, timeout=120,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in done.stderr
        assert done.stdout == ""


def _readme_row(name: str, path, entry) -> str:
    """The README row `benchmarks/lce_table.py` prints for one measured model."""
    deployment = predict(read(path))
    if not entry["converted"]:
        return f"| `{name}` | conversion fails | convertible: false | - |"
    error = (deployment.total_bytes - entry["tflite_bytes"]) / entry["tflite_bytes"]
    return (f"| `{name}` | {entry['tflite_bytes']} | {deployment.total_bytes} | "
            f"{100 * error:+.2f} % |")


def test_readme_table_covers_every_measured_model():
    readme = (REPO / "README.md").read_text()
    models = [(name, DATA / e["file"], e) for name, e in MEASURED.items()]
    models += [(name, DATA / e["file"], e["trained_like"]) for name, e in ZOO_MODELS.items()]
    models += [(name, DATA / e["file"], e) for name, e in SWEEPS.items()]
    missing = [name for name, path, entry in models
               if _readme_row(name, path, entry) not in readme]
    assert not missing, f"rerun benchmarks/lce_table.py --write: {missing[:5]}"


def test_readme_states_the_fixed_terms():
    readme = (REPO / "README.md").read_text()
    formula = f"sum(layers[].bytes) + {lce.BASE_BYTES} + {lce.TENSOR_BYTES} * max(number of model"
    assert formula in readme
