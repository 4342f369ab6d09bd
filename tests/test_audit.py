"""Audit rules and budgets on hand-built records (no TensorFlow), plus the `audit` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest
from click.testing import CliRunner

import bnnstat.inspect
from bnnstat.cli import main
from bnnstat.errors import BnnstatError
from bnnstat.inspect import audit as au
from bnnstat.inspect import audit_report, serialize
from bnnstat.inspect.findings import SEVERITIES, Finding
from bnnstat.inspect.records import LayerRecord, ModelRecord, QuantizerRecord, WeightRecord
from tests.conftest import REPO, SAMPLE_MODELS

SIGN = QuantizerRecord("ste_sign", 1)


def layer(
    name: str,
    cls: str = "QuantConv2D",
    *,
    kernel: int | None = None,
    inputs: QuantizerRecord | None = None,
    kernel_quantizer: QuantizerRecord | None = None,
    constraint: str | None = "weight_clip",
    activation: QuantizerRecord | None = None,
    inbound: tuple[str, ...] = (),
) -> LayerRecord:
    """A layer; `kernel` is the kernel bit width (None: the layer has no kernel)."""
    weights: tuple[WeightRecord, ...] = ()
    quantizers: dict[str, QuantizerRecord] = {}
    config: dict = {}
    if kernel is not None:
        precision = None if kernel == 32 else kernel
        weights = (WeightRecord("kernel", (3, 3, 8, 8), precision),)
        if kernel_quantizer is None and kernel == 1:
            kernel_quantizer = SIGN
        if kernel_quantizer is not None:
            quantizers["kernel_quantizer"] = kernel_quantizer
        config["kernel_constraint"] = constraint if kernel == 1 else None
    if inputs is not None:
        quantizers["input_quantizer"] = inputs
    if activation is not None:
        quantizers["activation"] = activation
    if cls == "BatchNormalization":
        weights = tuple(WeightRecord(n, (8,)) for n in ("gamma", "beta", "moving_mean"))
    return LayerRecord(
        name=name,
        class_name=cls,
        config=config,
        weights=weights,
        quantizers=quantizers,
        input_precision=inputs.precision if inputs is not None else None,
        inbound=inbound,
    )


def model(*layers: LayerRecord, name: str = "m") -> ModelRecord:
    return ModelRecord(name=name, class_name="Sequential", layers=tuple(layers))


def clean_layers() -> list[LayerRecord]:
    """A model that follows the guide: fp first/last, binary middle with sign inputs, BN after."""
    return [
        layer("conv_fp", "Conv2D", kernel=32),
        layer("bn0", "BatchNormalization"),
        layer("qconv1", kernel=1, inputs=SIGN),
        layer("pool1", "MaxPooling2D"),
        layer("bn1", "BatchNormalization"),
        layer("qconv2", kernel=1, inputs=SIGN),
        layer("bn2", "BatchNormalization"),
        layer("gap", "GlobalAveragePooling2D"),
        layer("dense_fp", "Dense", kernel=32),
    ]


def codes(record: ModelRecord) -> list[str]:
    return [f.code for f in au.find_problems(record)]


def replaced(name: str, new: LayerRecord) -> ModelRecord:
    return model(*[new if item.name == name else item for item in clean_layers()])


def test_clean_model_has_no_findings():
    assert au.find_problems(model(*clean_layers())) == []


def test_clean_functional_model_with_shortcut_has_no_findings():
    layers = [
        layer("stem", "Conv2D", kernel=32),
        layer("stem_bn", "BatchNormalization", inbound=("stem",)),
        layer("q1", kernel=1, inputs=SIGN, inbound=("stem_bn",)),
        layer("q1_bn", "BatchNormalization", inbound=("q1",)),
        layer("add1", "Add", inbound=("q1_bn", "stem_bn")),
        layer("q2", kernel=1, inputs=SIGN, inbound=("add1",)),
        layer("q2_pool", "MaxPooling2D", inbound=("q2",)),
        layer("q2_bn", "BatchNormalization", inbound=("q2_pool",)),
        layer("gap", "GlobalAveragePooling2D", inbound=("q2_bn",)),
        layer("head", "Dense", kernel=32, inbound=("gap",)),
    ]
    assert au.find_problems(ModelRecord("f", "Functional", tuple(layers))) == []


BROKEN = {
    "BNN001": lambda: replaced("conv_fp", layer("conv_fp", kernel=1)),
    "BNN002": lambda: replaced(
        "dense_fp", layer("dense_fp", "QuantConv2D", kernel=32, inputs=SIGN, kernel_quantizer=None)
    ),
    "BNN003": lambda: model(*[x for x in clean_layers() if x.name != "bn2"]),
    "BNN004": lambda: model(
        *[
            layer("conv_fp", "Conv2D", kernel=32),
            layer("q", kernel=1, inputs=SIGN),
            layer("bn", "BatchNormalization"),
            layer("pool", "MaxPooling2D"),
            layer("dense_fp", "Dense", kernel=32),
        ]
    ),
    "BNN005": lambda: replaced("qconv2", layer("qconv2", kernel=1)),
    "BNN006": lambda: replaced("qconv2", layer("qconv2", kernel=32, inputs=SIGN)),
    "BNN007": lambda: model(
        *[
            layer("conv_fp", "Conv2D", kernel=32, activation=SIGN),
            layer("bn0", "BatchNormalization"),
            layer("q", kernel=1, inputs=SIGN),
            layer("bn", "BatchNormalization"),
            layer("dense_fp", "Dense", kernel=32),
        ]
    ),
    "BNN008": lambda: model(
        *[
            layer("conv_fp", "Conv2D", kernel=32),
            layer("flat", "Flatten"),
            layer("qd", "QuantDense", kernel=1, inputs=SIGN),
            layer("bn", "BatchNormalization"),
            layer("dense_fp", "Dense", kernel=32),
        ]
    ),
    "BNN009": lambda: replaced(
        "qconv2", layer("qconv2", "QuantConv2DTranspose", kernel=1, inputs=SIGN)
    ),
    "BNN010": lambda: replaced(
        "qconv2", layer("qconv2", kernel=1, inputs=QuantizerRecord("ste_heaviside", 1))
    ),
    "BNN011": lambda: replaced("qconv2", layer("qconv2", kernel=1, inputs=SIGN, constraint=None)),
}


def test_every_rule_has_a_trigger_case():
    assert set(BROKEN) == set(au.RULES)


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_each_rule_fires_on_its_broken_model(code):
    findings = au.find_problems(BROKEN[code]())
    assert code in [f.code for f in findings], findings
    finding = next(f for f in findings if f.code == code)
    assert finding.severity == au.RULES[code].severity in SEVERITIES
    assert finding.layer and finding.layer in finding.message
    assert finding.hint and "\n" not in finding.message


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_each_broken_model_fires_only_related_rules(code):
    # one broken practice should not cascade into unrelated findings
    related = {
        "BNN002": {"BNN006"},  # the broken last layer quantizes inputs with an fp kernel
    }
    assert set(codes(BROKEN[code]())) <= {code} | related.get(code, set())


def test_first_layer_binarized_inputs_only_counts():
    record = replaced("conv_fp", layer("conv_fp", "QuantConv2D", kernel=32, inputs=SIGN))
    finding = next(f for f in au.find_problems(record) if f.code == "BNN001")
    assert "inputs" in finding.message and "weights" not in finding.message


def test_noop_kernels_for_bop_need_no_constraint():
    noop = QuantizerRecord("NoOp", 1, {"precision": 1})
    record = replaced(
        "qconv2",
        layer("qconv2", kernel=1, inputs=SIGN, kernel_quantizer=noop, constraint=None),
    )
    assert codes(record) == []


@pytest.mark.parametrize("weight", ["kernel", "depthwise_kernel"])
def test_depthwise_kernels_use_depthwise_arguments(weight):
    def depthwise(constraint):
        return LayerRecord(
            "qdw",
            "QuantDepthwiseConv2D",
            config={"depthwise_constraint": constraint},
            weights=(WeightRecord(weight, (3, 3, 8, 1), 1),),
            quantizers={"input_quantizer": SIGN, "depthwise_quantizer": SIGN},
            input_precision=1,
        )

    assert codes(replaced("qconv2", depthwise("weight_clip"))) == []
    findings = au.find_problems(replaced("qconv2", depthwise(None)))
    assert [f.code for f in findings] == ["BNN011"]
    assert "depthwise_constraint" in findings[0].message


def test_larq_fixture_findings(larq_fixtures):
    from bnnstat.inspect import reader

    found = {
        name: [(f.code, f.layer) for f in au.find_problems(reader.read(larq_fixtures / name))]
        for name in ("binary_cnn_cifar.h5", "bop_noop_cnn.h5")
    }
    assert found == {
        "binary_cnn_cifar.h5": [("BNN004", "maxpool_1")],
        # NoOp kernels trained by Bop need no constraint; binary last layer and QuantDense
        "bop_noop_cnn.h5": [
            ("BNN002", "qdense_bop_3"),
            ("BNN004", "maxpool_1"),
            ("BNN004", "maxpool_2"),
            ("BNN008", "qdense_bop_3"),
        ],
    }


def test_activation_quantizer_feeding_a_shortcut():
    layers = [
        layer("stem", "Conv2D", kernel=32),
        layer("q1", kernel=1, inputs=SIGN, inbound=("stem",)),
        layer("bn", "BatchNormalization", inbound=("q1",)),
        layer("act", "Activation", activation=SIGN, inbound=("bn",)),
        layer("add", "Add", inbound=("act", "stem")),
        layer("head", "Dense", kernel=32, inbound=("add",)),
    ]
    record = ModelRecord("f", "Functional", tuple(layers))
    assert [(f.code, f.layer) for f in au.find_problems(record)] == [("BNN007", "act")]


def test_activation_quantizer_straight_into_a_layer_is_not_flagged():
    layers = [
        layer("stem", "Conv2D", kernel=32, activation=SIGN),
        layer("q1", kernel=1, inputs=SIGN),
        layer("bn", "BatchNormalization"),
        layer("head", "Dense", kernel=32),
    ]
    assert codes(model(*layers)) == []


def test_rules_look_inside_nested_models():
    inner = LayerRecord(
        "block",
        "Functional",
        layers=(
            layer("inner_q", kernel=1, inputs=SIGN, constraint=None),
            layer("inner_bn", "BatchNormalization"),
        ),
    )
    record = model(layer("conv_fp", "Conv2D", kernel=32), inner, layer("head", "Dense", kernel=32))
    assert [(f.code, f.layer) for f in au.find_problems(record)] == [("BNN011", "inner_q")]


# --------------------------------------------------------------------------- budgets

TOTALS = {
    "memory_bits": 8 * 3 * 1024 * 1024,  # 3 MiB
    "binarized_mac_ratio": 0.75,
    "params_by_bitwidth": {"1": 1000, "32": 500},
}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2MiB", 2 * 1024**2),
        ("500KiB", 500 * 1024),
        ("1.5MB", 1_500_000),
        ("1200", 1200),
        ("10 B", 10),
        ("3GiB", 3 * 1024**3),
        ("2kB", 2000),
    ],
)
def test_parse_size(text, expected):
    assert au.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "2 MiBs", "-1KiB", "1e3", "two", "5 mb", "1.2.3KiB"])
def test_parse_size_rejects_garbage(text):
    with pytest.raises(BnnstatError, match="invalid size"):
        au.parse_size(text)


@pytest.mark.parametrize("text, expected", [("0.8", 0.8), ("80%", 0.8), ("1", 1.0), ("0", 0.0)])
def test_parse_ratio(text, expected):
    assert au.parse_ratio(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["1.5", "-0.1", "abc", "120%", "nan"])
def test_parse_ratio_rejects(text):
    with pytest.raises(BnnstatError, match="invalid ratio"):
        au.parse_ratio(text)


def test_budgets_pass_and_fail():
    record = model(*clean_layers())
    ok = au.audit(record, {"totals": TOTALS}, au.Budgets(4 * 1024**2, 0.7, 500))
    assert ok.passed and [b.passed for b in ok.budgets] == [True, True, True]
    assert [b.actual for b in ok.budgets] == [3 * 1024**2, 0.75, 500]
    bad = au.audit(record, TOTALS, au.Budgets(max_memory=2 * 1024**2, max_fp_params=499))
    assert not bad.passed
    assert [(b.name, b.passed) for b in bad.budgets] == [
        ("max_memory", False),
        ("max_fp_params", False),
    ]
    ratio = au.audit(record, TOTALS, au.Budgets(min_binarized_macs=0.8))
    assert not ratio.passed


def test_error_findings_fail_and_ignore_restores():
    record = BROKEN["BNN003"]()
    assert not au.audit(record).passed
    assert au.audit(record, ignore=["bnn003"]).passed
    # warnings alone do not fail the audit
    assert au.audit(BROKEN["BNN011"]()).passed


def test_ignore_rejects_unknown_codes():
    with pytest.raises(BnnstatError, match="unknown audit code"):
        au.audit(model(*clean_layers()), ignore=["BNN999"])
    assert au.normalise_codes(["BNN001,bnn002", "LCE003"]) == {"BNN001", "BNN002", "LCE003"}


def test_deployed_size_budget_needs_a_deployment():
    class FakeDeployment:
        total_bytes = 1000

    record = model(*clean_layers())
    result = au.audit(record, None, au.Budgets(max_deployed_size=999), deployment=FakeDeployment())
    assert [(b.name, b.actual, b.passed) for b in result.budgets] == [
        ("max_deployed_size", 1000, False)
    ]
    with pytest.raises(BnnstatError, match="--target lce"):
        au.audit(record, None, au.Budgets(max_deployed_size=999))


def test_extra_findings_are_merged_and_ignorable():
    extra = Finding("LCE001", "error", "q", "not convertible", "fix it")
    record = model(*clean_layers())
    assert not au.audit(record, extra_findings=[extra]).passed
    assert au.audit(record, extra_findings=[extra], ignore=["LCE001"]).passed


def test_json_schema():
    result = au.audit(BROKEN["BNN003"](), TOTALS, au.Budgets(max_memory=10**9))
    data = json.loads(json.dumps(serialize.to_json(result)))
    assert set(data) == {"passed", "budgets", "findings"}
    assert data["passed"] is False
    assert all(set(b) == {"name", "limit", "actual", "passed"} for b in data["budgets"])
    assert all(set(f) == {"code", "severity", "layer", "message", "hint"} for f in data["findings"])
    assert {f["code"] for f in data["findings"]} == {"BNN003"}


def test_text_rendering_mentions_everything():
    result = au.audit(BROKEN["BNN003"](), TOTALS, au.Budgets(max_memory=2 * 1024**2))
    text = audit_report.render_text(result, "x.h5")
    assert "FAIL  max_memory" in text and "3.00 MiB" in text and "2.00 MiB" in text
    assert (
        "BNN003 error" in text
        and "hint:" in text
        and text.endswith("result: FAILED (1 budget(s) broken, 1 error(s), 0 warning(s), 0 info)")
    )


# --------------------------------------------------------------------------- CLI on sample models

BAD = str(SAMPLE_MODELS / "bad_practices.h5")
CLEAN = str(SAMPLE_MODELS / "quicknet_small.keras")
ERROR_CODES = ["BNN003", "BNN007"]


def _audit(*args):
    return CliRunner().invoke(main, ["audit", *args])


def test_cli_clean_model_passes():
    result = _audit(CLEAN)
    assert result.exit_code == 0, result.output
    assert "findings: none" in result.output and "PASSED" in result.output


def test_cli_bad_model_fails_with_every_code():
    result = _audit(BAD, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["passed"] is False and data["budgets"] == []
    assert sorted({f["code"] for f in data["findings"]}) == sorted(au.RULES)
    # each finding sits on the layer named after its code
    for finding in data["findings"]:
        if finding["code"] not in ("BNN003",):
            assert finding["code"].lower() in finding["layer"], finding


def test_cli_ignore_error_codes_passes():
    assert _audit(BAD, "--ignore", ",".join(ERROR_CODES)).exit_code == 0
    assert _audit(BAD, "--ignore", "BNN003", "--ignore", "bnn007").exit_code == 0
    unknown = _audit(BAD, "--ignore", "BNN999")
    assert unknown.exit_code == 2 and "unknown audit code 'BNN999'" in unknown.output


def test_cli_budgets_and_exit_codes():
    ok = _audit(CLEAN, "--max-memory", "1MiB", "--max-fp-params", "100000", "--format", "json")
    assert ok.exit_code == 0, ok.output
    budgets = json.loads(ok.output)["budgets"]
    assert [(b["name"], b["limit"], b["passed"]) for b in budgets] == [
        ("max_memory", 1024**2, True),
        ("max_fp_params", 100000, True),
    ]
    small = _audit(CLEAN, "--max-memory", "1KiB")
    assert small.exit_code == 1 and "FAIL  max_memory" in small.output
    ratio = _audit(CLEAN, "--min-binarized-macs", "99%")
    assert ratio.exit_code == 1 and "FAIL  min_binarized_macs" in ratio.output
    fp = _audit(CLEAN, "--max-fp-params", "10")
    assert fp.exit_code == 1


def test_cli_budget_actuals_match_the_profile():
    from bnnstat.inspect import profile, reader, serialize

    totals = serialize.to_json(profile.profile(reader.read(CLEAN)))["totals"]
    data = json.loads(
        _audit(
            CLEAN,
            "--max-memory",
            "1GiB",
            "--min-binarized-macs",
            "0",
            "--max-fp-params",
            "0",
            "--format",
            "json",
        ).output
    )
    actual = {b["name"]: b["actual"] for b in data["budgets"]}
    assert actual == {
        "max_memory": totals["memory_bits"] / 8,
        "min_binarized_macs": totals["binarized_mac_ratio"],
        "max_fp_params": totals["params_by_bitwidth"]["32"],
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-memory", "2 MiBs"], "invalid size '2 MiBs'"),
        (["--min-binarized-macs", "2"], "invalid ratio '2'"),
        (["--max-fp-params", "-1"], "-1"),
        (["--max-deployed-size", "1MiB"], "--max-deployed-size needs --target lce"),
        (["--format", "xml"], "xml"),
    ],
)
def test_cli_bad_options_exit_2(args, message):
    result = _audit(CLEAN, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_bad_files_exit_2(tmp_path):
    missing = _audit(str(tmp_path / "nope.h5"))
    assert missing.exit_code == 2 and "nope.h5" in missing.output
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not a model at all")
    result = _audit(str(junk))
    assert result.exit_code == 2 and "junk.h5" in result.output


def test_cli_target_lce_uses_lce_rules(monkeypatch):
    from bnnstat.inspect import analysis
    from bnnstat.inspect.deployment import Deployment

    fake = types.ModuleType("bnnstat.inspect.lce")
    fake.predict = lambda record, profile: Deployment("lce", True, (), 12345, 0.9, ())
    fake.findings = lambda record, deployment: [
        Finding("LCE001", "error", record.layers[1].name, "cannot convert", "do something")
    ]
    monkeypatch.setitem(sys.modules, "bnnstat.inspect.lce", fake)
    monkeypatch.setattr(bnnstat.inspect, "lce", fake, raising=False)  # if already imported
    monkeypatch.setattr(analysis, "lce", fake)  # the pipeline's stage
    result = _audit(CLEAN, "--target", "lce", "--max-deployed-size", "12345", "--format", "json")
    data = json.loads(result.output)
    assert result.exit_code == 1
    assert data["budgets"] == [
        {"name": "max_deployed_size", "limit": 12345, "actual": 12345, "passed": True}
    ]
    assert [f["code"] for f in data["findings"]] == ["LCE001"]
    ignored = _audit(CLEAN, "--target", "lce", "--max-deployed-size", "12KiB", "--ignore", "LCE001")
    assert ignored.exit_code == 1 and "FAIL  max_deployed_size" in ignored.output


def test_cli_subprocess_json_and_exit_code(tmp_path):
    out = tmp_path / "audit.json"
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat", "audit", BAD, "--format", "json", "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    data = json.loads(out.read_text())
    assert set(data) == {"passed", "budgets", "findings"} and data["passed"] is False
    clean = subprocess.run(
        [sys.executable, "-m", "bnnstat", "audit", CLEAN, "--max-memory", "500KiB"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "bnnstat", "audit", CLEAN, "--max-memory", "lots"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert bad.returncode == 2 and "invalid size 'lots'" in bad.stderr


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


@pytest.mark.parametrize(
    "args",
    [
        ["audit", BAD, "--max-memory", "1MiB", "--format", "json"],
        ["flips", str(SAMPLE_MODELS / "bad_practices.h5"), str(SAMPLE_MODELS / "bad_practices.h5")],
    ],
)
def test_audit_and_flips_never_import_tensorflow(args):
    done = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(("exit 0", "exit 1"))


def test_cli_target_lce_with_the_real_rules():
    from bnnstat.inspect import lce, reader
    from bnnstat.inspect.profile import profile

    record = reader.read(CLEAN)
    deployment = lce.predict(record, profile(record))
    expected_codes = sorted({f.code for f in lce.findings(record, deployment)})
    result = _audit(CLEAN, "--target", "lce", "--max-deployed-size", "10MiB", "--format", "json")
    data = json.loads(result.output)
    assert result.exit_code == (0 if data["passed"] else 1)
    assert data["budgets"] == [
        {
            "name": "max_deployed_size",
            "limit": 10 * 1024**2,
            "actual": deployment.total_bytes,
            "passed": True,
        }
    ]
    assert sorted({f["code"] for f in data["findings"]}) == expected_codes
    tight = _audit(CLEAN, "--target", "lce", "--max-deployed-size", str(deployment.total_bytes - 1))
    assert tight.exit_code == 1 and "FAIL  max_deployed_size" in tight.output


# ------------------------------------------------------------------ several codes, --fail-on,
# no quantized layer, budget digits, whole bytes


@pytest.mark.parametrize(
    "args",
    [
        ["--ignore", "BNN003", "BNN007"],
        ["--ignore", "BNN003,BNN007"],
        ["--ignore", "BNN003", "--ignore", "bnn007"],
        ["--ignore=BNN003", "bnn007"],
    ],
)
def test_cli_ignore_takes_several_codes_in_every_form(args):
    after = _audit(BAD, *args, "--format", "json")
    before = CliRunner().invoke(main, ["audit", *args, BAD, "--format", "json"])
    for result in (after, before):
        assert result.exit_code == 0, result.output
        found = {f["code"] for f in json.loads(result.output)["findings"]}
        assert found and not found & {"BNN003", "BNN007"}


def test_expand_ignore_stops_at_the_first_word_that_is_not_a_code():
    from bnnstat.cli.audit import expand_ignore

    assert expand_ignore(["--ignore", "BNN003", "BNN005,LCE001", "m.h5", "BNN001"]) == [
        "--ignore", "BNN003", "--ignore", "BNN005,LCE001", "m.h5", "BNN001",
    ]  # fmt: skip
    assert expand_ignore(["--ignore", "BNN003", "--", "BNN004"]) == [
        "--ignore", "BNN003", "--", "BNN004",
    ]  # fmt: skip
    # a trailing code after FILE is an extra argument again: one line, exit 2
    extra = _audit(BAD, "BNN003")
    assert extra.exit_code == 2 and "unexpected extra argument" in extra.output


def test_fail_on_warning_and_info():
    record = BROKEN["BNN005"]()  # one warning, no error
    assert au.audit(record).passed
    assert not au.audit(record, fail_on="warning").passed
    assert au.audit(record, fail_on="warning", ignore=["BNN005"]).passed
    info_only = BROKEN["BNN008"]()
    assert {f.severity for f in au.audit(info_only).findings} == {"info"}
    assert au.audit(info_only, fail_on="warning").passed
    assert not au.audit(info_only, fail_on="info").passed
    with pytest.raises(BnnstatError, match="unknown severity"):
        au.audit(record, fail_on="fatal")


def test_cli_fail_on():
    ignore_errors = ["--ignore", *ERROR_CODES]
    assert _audit(BAD, *ignore_errors).exit_code == 0
    strict = _audit(BAD, *ignore_errors, "--fail-on", "warning")
    assert strict.exit_code == 1 and "failing on warning and above" in strict.output
    assert _audit(CLEAN, "--fail-on", "info").exit_code == 0
    bad = _audit(CLEAN, "--fail-on", "fatal")
    assert bad.exit_code == 2 and "'--fail-on'" in bad.output


def test_model_without_quantized_layer_gets_an_info_finding():
    float_model = model(layer("conv", "Conv2D", kernel=32), layer("dense", "Dense", kernel=32))
    findings = au.find_problems(float_model)
    assert [(f.code, f.severity, f.layer) for f in findings] == [("BNN012", "info", None)]
    assert au.audit(float_model).passed and not au.audit(float_model, fail_on="info").passed
    assert au.audit(float_model, ignore=["BNN012"]).findings == ()
    # one quantized input is enough to be a quantized model
    inputs_only = model(layer("conv", "QuantConv2D", kernel=32, inputs=SIGN))
    assert "BNN012" not in codes(inputs_only)
    text = audit_report.render_text(au.audit(float_model), "float.h5")
    assert "BNN012 info" in text and "findings: none" not in text


def test_budget_lines_show_digits_that_tell_limit_and_actual_apart():
    # 28.66 KiB is 29,347 bytes; quicknet_small has 29,352 bytes of weight memory
    result = _audit(CLEAN, "--max-memory", "28.66KiB")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "max_memory" in x)
    assert line.split() == [
        "FAIL", "max_memory", "28.66", "KiB", "=", "29,352", "B",
        "(limit", "<=", "28.66", "KiB", "=", "29,347", "B)",
    ]  # fmt: skip
    # short forms that already differ stay short
    far = _audit(CLEAN, "--max-memory", "1KiB")
    assert " B" not in next(x for x in far.output.splitlines() if "max_memory" in x)
    check = au.BudgetCheck("min_binarized_macs", 0.95241, 0.952409, False)
    actual, limit = audit_report.format_budget(check)
    assert actual != limit and float(actual) == 0.952409 and float(limit) == 0.95241


@pytest.mark.parametrize("text", ["1.5", "1.5B", "0.5 B"])
def test_sizes_without_a_unit_are_whole_bytes(text):
    with pytest.raises(BnnstatError, match="must be a whole number"):
        au.parse_size(text)
    result = _audit(CLEAN, "--max-memory", text)
    assert result.exit_code == 2 and "must be a whole number" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_subprocess_several_codes_and_fail_on():
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "bnnstat", "audit", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )

    several = run(BAD, "--ignore", "BNN003", "BNN007")
    assert several.returncode == 0, several.stdout + several.stderr
    strict = run(BAD, "--ignore", "BNN003", "BNN007", "--fail-on", "warning")
    assert strict.returncode == 1 and "FAILED" in strict.stdout
    fraction = run(CLEAN, "--max-memory", "1.5")
    assert fraction.returncode == 2 and fraction.stderr.count("\n") == 1
