"""LCE deployment predictions against sizes measured with the real Larq Compute Engine 0.16.0.

`tests/data/lce/measured.json` and the `.h5` probes come from
`benchmarks/lce_oracle/make_probes.py` (real Larq + LCE in their own virtualenv). The probes are
read with the static reader, so these tests need neither TensorFlow nor Larq.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, TEST_DATA

from bnnstat.inspect import lce
from bnnstat.inspect.file_reader import read
from bnnstat.inspect.records import LayerRecord, ModelRecord, QuantizerRecord, WeightRecord

DATA = TEST_DATA / "lce"
MEASURED = json.loads((DATA / "measured.json").read_text())["probes"]
ZOO = ("zoo_quicknet", "zoo_birealnet", "zoo_densenet28", "xnor_like")
CONVERTED = sorted(name for name, entry in MEASURED.items() if entry["converted"])
RULE_PROBES = [name for name in CONVERTED if name not in ZOO]

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
}


@pytest.fixture(scope="module")
def records() -> dict[str, ModelRecord]:
    return {name: read(DATA / entry["file"]) for name, entry in MEASURED.items()}


def _relative_error(name: str, records) -> float:
    predicted = lce.predict(records[name]).total_bytes
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
    deployment = lce.predict(record)
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
    codes = [f.code for f in lce.findings(record, lce.predict(record))]
    assert sorted(set(codes)) == sorted(EXPECTED_CODES[name])


def test_converter_failure_is_predicted(records):
    assert MEASURED["huge_qdense_fail"]["converted"] is False
    deployment = lce.predict(records["huge_qdense_fail"])
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
    assert lce.predict(records["zoo_quicknet"]).accelerated_binary_mac_ratio == 1.0
    assert lce.predict(records["qdense_binary"]).accelerated_binary_mac_ratio == 0.0
    xnor = lce.predict(records["xnor_like"]).accelerated_binary_mac_ratio
    assert 0.5 < xnor < 1.0  # its binary QuantDense is not accelerated


def test_deployment_json_schema(records):
    payload = lce.predict(records["bconv_bn_bconv"]).to_json()
    assert set(payload) == {
        "target", "convertible", "problems", "total_bytes", "accelerated_binary_mac_ratio",
        "layers",
    }
    assert payload["target"] == "lce" and payload["convertible"] is True
    assert isinstance(payload["total_bytes"], int)
    for layer in payload["layers"]:
        assert set(layer) == {"name", "bytes", "stored_as", "accelerated", "note"}
    assert sum(layer["bytes"] for layer in payload["layers"]) < payload["total_bytes"]
    json.dumps(payload)


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
    assert lce.predict(model).convertible is False


def test_lce_module_does_not_import_tensorflow():
    code = "import sys, bnnstat.inspect.lce; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
