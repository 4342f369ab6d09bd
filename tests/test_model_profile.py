"""`bnnstat.models.ModelProfile`: Larq's profile objects, checked against what Larq 0.14 itself
reported for the reference models (tests/data/larq_reference)."""

from __future__ import annotations

import json

import pytest

FIXTURES = ["binarynet_mlp", "binary_cnn_cifar", "bop_noop_cnn", "ternary_kbit_conv1d"]


@pytest.fixture(scope="module")
def loaded(tf, larq_fixtures):
    from bnnstat.models import load_model

    return {
        name: (
            load_model(larq_fixtures / f"{name}.h5"),
            json.loads((larq_fixtures / f"{name}.json").read_text())["model"],
            (larq_fixtures / f"{name}.txt").read_text(),
        )
        for name in FIXTURES
    }


@pytest.mark.parametrize("name", FIXTURES)
def test_tables_equal_larqs(loaded, name):
    from bnnstat.models import LayersTable, ModelProfile, SummaryTable, sanitize_table

    model, reference, text = loaded[name]
    profile = ModelProfile(model)
    assert sanitize_table(profile.generate_table()) == reference["table"]
    assert sanitize_table(profile.generate_summary()) == reference["summary_rows"]
    printed = [
        LayersTable(profile.generate_table(), title=f"{model.name} stats").table,
        SummaryTable(profile.generate_summary(), title=f"{model.name} summary").table,
    ]
    assert "\n".join(printed) == text.rstrip("\n")


@pytest.mark.parametrize("name", FIXTURES)
def test_profile_numbers_equal_larqs(loaded, name):
    from bnnstat.models import ModelProfile

    model, reference, _ = loaded[name]
    profile = ModelProfile(model)
    totals = reference["totals"]
    assert profile.name == reference["name"]
    assert profile.unique_param_bidtwidths == reference["unique_param_bitwidths"]
    assert profile.unique_op_precisions == reference["unique_op_precisions"]
    assert profile.weight_count() == totals["params_total"]
    assert profile.weight_count(trainable=True) == totals["params_trainable"]
    assert profile.weight_count(trainable=False) == totals["params_non_trainable"]
    for bits, count in totals["params_by_bitwidth"].items():
        assert profile.weight_count(int(bits)) == count
    assert profile.memory == totals["memory_bits"]
    assert profile.int8_fp_weights_memory == totals["int8_fp_weights_memory_bits"]
    assert profile.fp_equivalent_memory == totals["fp_equivalent_memory_bits"]
    assert profile.op_count("mac") == totals["macs_total"]
    assert len(profile.layer_profiles) == len(reference["layers"])
    for layer_profile, layer in zip(profile.layer_profiles, reference["layers"], strict=True):
        assert layer_profile.name == layer["name"]
        assert layer_profile.input_precision == layer["input_precision"]
        assert layer_profile.output_shape_str == layer["output_shape_str"]
        assert layer_profile.output_pixels == layer["output_pixels"]
        assert layer_profile.op_count("mac") == layer["macs_total"]
        assert [w.bitwidth for w in layer_profile.weight_profiles] == [
            w["bitwidth"] for w in layer["weights"]
        ]
        assert [(op.n, op.precision, op.op_type) for op in layer_profile.op_profiles] == [
            (op["n"], op["precision"], op["op_type"]) for op in layer["op_profiles"]
        ]
        assert layer_profile.memory == layer["memory_bits"]


def test_nested_model_row_sums_its_layers_as_larq(tf):
    """Larq profiles a nested model as a ModelProfile: BatchNormalization fusion applies inside
    it and its row carries its layers' MACs (checked against Larq 0.14 on the same model)."""
    import keras

    from bnnstat import layers
    from bnnstat.models import LayerProfile, ModelProfile

    inner = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4), keras.layers.BatchNormalization()],
        name="inner",
    )
    inputs = keras.Input((8,))
    outputs = layers.QuantDense(
        3,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        name="quant_dense",
    )(inner(inputs))
    profile = ModelProfile(keras.Model(inputs, outputs))
    row = profile.layer_profiles[1]
    assert isinstance(row, ModelProfile) and row.name == "inner"
    assert [type(p) for p in row.layer_profiles] == [LayerProfile, LayerProfile]
    # Dense 8x4 + 4, BatchNormalization's moving mean and variance (gamma/beta fused away).
    assert row.weight_count() == 32 + 4 + 8
    assert row.op_count("mac") == row.op_count("mac", 32) == 8 * 4
    assert row.output_shape == (-1, 4) and row.input_precision is None
    table = profile.generate_table()
    assert table[2] == ["inner", "-", "(-1, 4)", 0, 44, 44 * 32 / 8192, 0, 32]
    assert table[3] == ["quant_dense", 1, "(-1, 3)", 12, 3, (12 + 3 * 32) / 8192, 12, 0]
    assert table[-1] == ["Total", "", "", 12, 47, (44 * 32 + 12 + 96) / 8192, 12, 32]
    summary = dict((label, value) for label, value in profile.generate_summary())
    assert summary["Number of MACs"] == "44"
    assert summary["Ratio of MACs that are binarized"] == f"{12 / 44:.4f}"
    assert summary["Compression Ratio of Memory"] == pytest.approx((44 * 32 + 108) / (59 * 32))


def test_layer_and_weight_profiles(tf):
    import keras

    from bnnstat import layers
    from bnnstat.models import LayerProfile, OperationProfile, WeightProfile

    layer = layers.QuantConv2D(
        6,
        3,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
    )
    keras.Sequential([keras.Input((10, 10, 2)), layer])
    profile = LayerProfile(layer)
    assert profile.name == layer.name
    assert profile.output_shape == (-1, 8, 8, 6) and profile.output_pixels == 64
    assert profile.op_profiles == [
        OperationProfile(n=3 * 3 * 2 * 6 * 64, precision=1, op_type="mac")
    ]
    assert profile.op_count("mac", 1) == 3 * 3 * 2 * 6 * 64 and profile.op_count("mac", 32) == 0
    with pytest.raises(ValueError, match="only counting of MAC"):
        profile.op_count()
    kernel, bias = profile.weight_profiles
    assert (kernel.bitwidth, kernel.count, kernel.is_bias()) == (1, 108, False)
    assert (bias.bitwidth, bias.count, bias.is_bias()) == (32, 6, True)
    assert profile.memory == 108 + 6 * 32
    assert profile.int8_fp_weights_memory == 108 + 6 * 8
    assert profile.fp_equivalent_memory == 114 * 32
    assert profile.unique_param_bidtwidths == profile.unique_param_bitwidths == [1, 32]
    direct = WeightProfile(layer.kernel)
    assert (direct.bitwidth, direct.count, direct.trainable) == (1, 108, True)
    assert WeightProfile(layer.bias, trainable=False).is_bias()


def test_unbuilt_model_raises_value_error(tf):
    import keras

    from bnnstat.models import ModelProfile

    with pytest.raises(ValueError, match="not yet been built"):
        ModelProfile(keras.Sequential([keras.layers.Dense(2)]))


def test_larq_layer_class_tuples(tf):
    import keras

    from bnnstat import layers, models

    macs, counted = models.mac_containing_layers, models.op_count_supported_layer_types
    for cls in (layers.QuantDense, layers.QuantConv2D, keras.layers.SeparableConv1D):
        assert cls in macs and cls in counted
    for cls in (keras.layers.BatchNormalization, keras.layers.Flatten, keras.layers.MaxPool2D):
        assert cls not in macs and cls in counted
    assert layers.QuantConv3D not in counted and keras.layers.Add not in counted
    assert models.memory_as_readable_str(8 * 2048) == "2.00 KiB"
    with pytest.raises(AttributeError):
        models.no_such_name  # noqa: B018
