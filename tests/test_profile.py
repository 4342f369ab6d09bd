"""Profile rules: Larq's numbers on the reference fixtures, and each extension on a hand example."""

from __future__ import annotations

import pytest
from golden.larq_records import FIXTURE_NAMES, load_reference, model_record

from bnnstat.errors import BnnstatError
from bnnstat.inspect.profile import profile
from bnnstat.inspect.records import LayerRecord, ModelRecord, WeightRecord


def _keyed(mapping):
    return {str(k): v for k, v in mapping.items()}


@pytest.fixture(params=FIXTURE_NAMES)
def reference(request, larq_fixtures):
    return load_reference(larq_fixtures, request.param)


def test_fixture_totals_match_larq(reference):
    totals = reference["model"]["totals"]
    result = profile(model_record(reference))
    assert result.params == totals["params_total"]
    assert result.trainable_params == totals["params_trainable"]
    assert result.non_trainable_params == totals["params_non_trainable"]
    assert _keyed(result.params_by_bitwidth()) == totals["params_by_bitwidth"]
    assert result.memory_bits == totals["memory_bits"]
    assert result.int8_fp_weights_memory_bits == totals["int8_fp_weights_memory_bits"]
    assert result.fp32_equivalent_memory_bits == totals["fp_equivalent_memory_bits"]
    assert result.compression_ratio == pytest.approx(totals["compression_ratio"], rel=1e-12)
    assert result.mac_count() == totals["macs_total"]
    assert _keyed(result.macs_by_precision()) == totals["macs_by_precision"]
    assert result.binarized_mac_ratio == pytest.approx(totals["binarization_ratio"], rel=1e-12)
    assert result.ternarized_mac_ratio == pytest.approx(totals["ternarization_ratio"], rel=1e-12)
    assert list(result.param_bitwidths) == reference["model"]["unique_param_bitwidths"]
    assert list(result.mac_precisions) == reference["model"]["unique_op_precisions"]
    assert result.keras_param_count == reference["model"]["keras"]["count_params"]


def test_fixture_layers_match_larq(reference):
    result = profile(model_record(reference))
    assert [layer.name for layer in result.layers] == [
        entry["name"] for entry in reference["model"]["layers"]
    ]
    for layer, entry in zip(result.layers, reference["model"]["layers"], strict=True):
        assert layer.input_precision == entry["input_precision"], layer.name
        assert layer.output_shape_str == entry["output_shape_str"], layer.name
        assert layer.output_pixels == entry["output_pixels"], layer.name
        assert layer.params == entry["params_total"], layer.name
        assert layer.trainable_params == entry["params_trainable"], layer.name
        assert layer.non_trainable_params == entry["params_non_trainable"], layer.name
        by_bits = {b: layer.param_count(int(b)) for b in entry["params_by_bitwidth"]}
        assert by_bits == entry["params_by_bitwidth"], layer.name
        assert layer.memory_bits == entry["memory_bits"], layer.name
        assert layer.int8_fp_weights_memory_bits == entry["int8_fp_weights_memory_bits"]
        assert layer.fp32_equivalent_memory_bits == entry["fp_equivalent_memory_bits"]
        assert [w.name for w in layer.weights] == [
            w["name"].split("/")[-1].replace(":0", "") for w in entry["weights"]
        ], layer.name
        assert [(m.n, m.precision) for m in layer.macs or ()] == [
            (op["n"], op["precision"]) for op in entry["op_profiles"]
        ], layer.name
        assert layer.mac_count() == entry["macs_total"], layer.name
        for precision, count in entry["macs_by_precision"].items():
            assert layer.mac_count(int(precision)) == count, (layer.name, precision)


def test_every_question_mark_has_a_note(reference):
    for layer in profile(model_record(reference)).layers:
        if layer.macs is None:
            assert layer.note, layer.name
            assert layer.ext_macs == ()  # known no-MAC layers count 0 in the extension


# -- hand-built records ------------------------------------------------------------------------
def _layer(name, class_name, weights=(), output=None, **kwargs) -> LayerRecord:
    return LayerRecord(
        name=name,
        class_name=class_name,
        weights=tuple(weights),
        output_shape=output,
        output_shapes=(output,) if output else (),
        **kwargs,
    )


def _model(*layers, name="m") -> ModelRecord:
    return ModelRecord(name=name, class_name="Functional", layers=tuple(layers))


def _only(layer: LayerRecord):
    return profile(_model(layer)).layers[0]


def test_batch_norm_fusion_drops_beta_and_gamma_only_with_partners():
    full = _layer(
        "bn",
        "BatchNormalization",
        [
            WeightRecord("gamma", (8,)),
            WeightRecord("beta", (8,)),
            WeightRecord("moving_mean", (8,), trainable=False),
            WeightRecord("moving_variance", (8,), trainable=False),
        ],
        (None, 8),
    )
    result = _only(full)
    assert [w.name for w in result.weights] == ["moving_mean", "moving_variance"]
    assert result.fused_weights == ("beta", "gamma")
    assert result.keras_param_count == 32 and result.params == 16
    # Without moving statistics nothing is fused.
    partial = _layer("bn", "BatchNormalization", [WeightRecord("gamma", (8,))], (None, 8))
    assert _only(partial).params == 8


def test_mac_precision_is_max_of_input_and_weight_bits():
    kernel = WeightRecord("kernel", (16, 4), precision=1)
    no_input = _only(_layer("d", "QuantDense", [kernel], (None, 4)))
    binary = _only(_layer("d", "QuantDense", [kernel], (None, 4), input_precision=1))
    four_bit_input = _only(_layer("d", "QuantDense", [kernel], (None, 4), input_precision=4))
    assert [(m.n, m.precision) for m in no_input.macs] == [(64, 32)]
    assert [(m.n, m.precision) for m in binary.macs] == [(64, 1)]
    assert [(m.n, m.precision) for m in four_bit_input.macs] == [(64, 4)]


def test_bias_excluded_from_macs_and_larq_name_match_quirk():
    weights = [WeightRecord("kernel", (3, 3, 2, 4)), WeightRecord("bias", (4,))]
    conv = _only(_layer("conv", "Conv2D", weights, (None, 5, 5, 4)))
    assert conv.mac_count() == 72 * 25
    # Larq matches "bias" in the full variable name, so a layer named like this has no MACs.
    quirky = _only(_layer("bias_conv", "Conv2D", weights, (None, 5, 5, 4)))
    assert quirky.mac_count() == 0


def test_unknown_shape_gives_question_mark_with_note():
    layer = _only(
        _layer("c", "Conv2D", [WeightRecord("kernel", (3, 3, 2, 4))], None, note="Lambda before")
    )
    assert layer.macs is None and layer.output_shape_str == "multiple"
    assert "Lambda before" in layer.note


def test_unknown_dims_counted_as_minus_one_like_larq():
    layer = _only(_layer("c", "Conv2D", [WeightRecord("kernel", (1, 1, 2, 4))], (None, None, 7, 4)))
    assert layer.output_pixels == -7 and layer.mac_count() == -56
    assert layer.ext_macs is None and "unknown" in layer.note


def test_nested_model_is_one_row_summing_its_layers_profiles():
    # Larq 0.14 profiles a nested model as a ModelProfile of its layers: BN fusion applies
    # inside it and its MACs are its layers' (checked against the real Larq:
    # tests/data/larq_reference/nested_*.txt, see test_nested_reference.py).
    inner = _layer(
        "inner",
        "Functional",
        [],
        (None, 4),
        layers=(
            _layer("in", "InputLayer", [], (None, 8)),
            _layer(
                "d",
                "Dense",
                [WeightRecord("kernel", (8, 4)), WeightRecord("bias", (4,))],
                (None, 4),
            ),
            _layer(
                "bn",
                "BatchNormalization",
                [
                    WeightRecord("gamma", (4,)),
                    WeightRecord("beta", (4,)),
                    WeightRecord("moving_mean", (4,), trainable=False),
                    WeightRecord("moving_variance", (4,), trainable=False),
                ],
                (None, 4),
            ),
        ),
    )
    result = profile(_model(_layer("x", "InputLayer", [], (None, 8)), inner))
    row = result.layer("inner")
    assert row.is_nested_model and row.input_precision is None  # its InputLayer's
    assert row.mac_count() == 32 and row.mac_count(32) == 32 and row.mac_count(1) == 0
    assert row.params == 32 + 4 + 8  # beta and gamma fused into the moving statistics
    assert row.keras_param_count == 32 + 4 + 16
    assert row.fused_weights == ("bn/beta", "bn/gamma")
    assert [sub.name for sub in row.layers] == ["in", "d", "bn"]
    assert row.layers[2].params == 8  # ...but each nested layer is profiled with the rules
    assert row.ext_mac_count() == 32
    assert row.note is None
    assert result.params == 44 and result.mac_count() == 32


def test_shared_layer_counts_one_call_for_larq_and_every_call_as_extension():
    layer = LayerRecord(
        name="shared",
        class_name="Dense",
        weights=(WeightRecord("kernel", (10, 3)), WeightRecord("bias", (3,))),
        output_shape=(None, 3),
        output_shapes=((None, 3), (None, 3)),
        call_count=2,
    )
    result = _only(layer)
    assert result.mac_count() == 30
    assert result.ext_mac_count() == 60
    assert "2 times" in result.note


# -- extension formulas on hand-computed examples -------------------------------------------
def test_conv3d_macs():
    layer = _layer("c3", "Conv3D", [WeightRecord("kernel", (3, 3, 3, 2, 4))], (None, 6, 5, 4, 4))
    result = _only(layer)
    assert result.macs is None  # Larq prints '?'
    assert result.ext_mac_count() == (27 * 2 * 4) * (6 * 5 * 4)
    assert "not counted by Larq" in result.note


def test_conv2d_transpose_counts_input_positions():
    layer = LayerRecord(
        name="up",
        class_name="Conv2DTranspose",
        weights=(WeightRecord("kernel", (3, 3, 8, 16)),),  # (kh, kw, out, in)
        input_shapes=((None, 4, 5, 16),),
        output_shape=(None, 8, 10, 8),
        output_shapes=((None, 8, 10, 8),),
        config={"strides": (2, 2)},
    )
    result = _only(layer)
    assert result.mac_count() == 1152 * 80  # Larq: Conv2D subclass, output pixels
    assert result.ext_mac_count() == 1152 * 20  # each input position times the whole kernel
    assert "transposed" in result.note


def test_conv1d_transpose_and_conv3d_transpose():
    one_d = LayerRecord(
        name="t1",
        class_name="Conv1DTranspose",
        weights=(WeightRecord("kernel", (3, 2, 6)),),
        input_shapes=((None, 7, 6),),
        output_shape=(None, 9, 2),
        output_shapes=((None, 9, 2),),
    )
    three_d = LayerRecord(
        name="t3",
        class_name="Conv3DTranspose",
        weights=(WeightRecord("kernel", (2, 2, 2, 3, 5)),),
        input_shapes=((None, 2, 3, 4, 5),),
        output_shape=(None, 4, 6, 8, 3),
        output_shapes=((None, 4, 6, 8, 3),),
    )
    assert _only(one_d).ext_mac_count() == 36 * 7
    assert _only(three_d).macs is None
    assert _only(three_d).ext_mac_count() == 120 * 24


def test_depthwise_conv1d_macs():
    layer = _layer(
        "dw1", "DepthwiseConv1D", [WeightRecord("depthwise_kernel", (3, 8, 1))], (None, 30, 8)
    )
    result = _only(layer)
    assert result.macs is None
    assert result.ext_mac_count() == 24 * 30


def test_locally_connected_2d_macs():
    layer = LayerRecord(
        name="lc",
        class_name="LocallyConnected2D",
        config={"kernel_size": [3, 3], "filters": 4},
        # implementation 1: (output positions, kh * kw * C_in, filters)
        weights=(WeightRecord("kernel", (16, 27, 4)), WeightRecord("bias", (4, 4, 4))),
        input_shapes=((None, 6, 6, 3),),
        output_shape=(None, 4, 4, 4),
        output_shapes=((None, 4, 4, 4),),
    )
    result = _only(layer)
    assert result.macs is None
    assert result.ext_mac_count() == 16 * 9 * 3 * 4  # = the kernel size for implementation 1
    layer_1d = LayerRecord(
        name="lc1",
        class_name="LocallyConnected1D",
        config={"kernel_size": [2], "filters": 5},
        weights=(WeightRecord("kernel", (9, 6, 5)),),
        input_shapes=((None, 10, 3),),
        output_shape=(None, 9, 5),
        output_shapes=((None, 9, 5),),
    )
    assert _only(layer_1d).ext_mac_count() == 9 * 2 * 3 * 5


def test_channels_first_uses_spatial_dims_in_extension_only():
    layer = LayerRecord(
        name="cf",
        class_name="Conv2D",
        config={"data_format": "channels_first"},
        weights=(WeightRecord("kernel", (3, 3, 2, 16)),),
        output_shape=(None, 16, 10, 12),
        output_shapes=((None, 16, 10, 12),),
    )
    result = _only(layer)
    assert result.mac_count() == 288 * 16 * 10  # Larq's count: shape[1] * shape[2]
    assert result.ext_mac_count() == 288 * 10 * 12
    assert "channels_first" in result.note


def test_dense_on_sequence_and_rank5_outputs():
    seq = _only(_layer("d", "Dense", [WeightRecord("kernel", (8, 4))], (None, 5, 4)))
    assert seq.mac_count() == 32 * 5 and seq.ext_mac_count() == 32 * 5
    vol = _only(_layer("d", "Dense", [WeightRecord("kernel", (8, 4))], (None, 2, 3, 5, 4)))
    assert vol.macs is None and "5-D" in vol.note
    assert vol.ext_mac_count() == 32 * 30


def test_bops_and_activation_memory():
    layer = _layer(
        "q",
        "QuantConv2D",
        [WeightRecord("kernel", (3, 3, 4, 8), precision=1)],
        (None, 6, 6, 8),
        input_precision=2,
    )
    result = _only(layer)
    macs = 288 * 36
    assert result.ext_bops == macs * 2 * 1
    assert result.ext_activation_memory_bits == 6 * 6 * 8 * 32
    model = profile(_model(layer, _layer("f", "Flatten", [], (None, 288))))
    assert model.ext_bops == macs * 2
    assert model.ext_activation_memory_bits == (288 + 288) * 32
    assert model.ext_peak_layer_activation_bits == 288 * 32


def test_compression_factor():
    layer = _layer(
        "d",
        "QuantDense",
        [WeightRecord("kernel", (64, 2), precision=1), WeightRecord("bias", (2,))],
        (None, 2),
    )
    result = profile(_model(layer))
    assert result.memory_bits == 128 + 64
    assert result.compression_factor == pytest.approx(130 * 32 / 192)
    assert profile(_model(_layer("x", "InputLayer", [], (None, 3)))).compression_factor is None


def test_no_mac_layers_explain_themselves():
    for class_name, words in [
        ("InputLayer", "input layer"),
        ("Add", "element-wise add"),
        ("Concatenate", "concatenation"),
        ("Activation", "activation"),
        ("GlobalAveragePooling2D", "pooling"),
        ("Dropout", "dropout"),
        ("Reshape", "data movement"),
    ]:
        result = _only(_layer("x", class_name, [], (None, 4)))
        assert result.macs is None
        assert result.ext_macs == ()
        assert words in result.note and "no MACs" in result.note
    lam = _only(_layer("lam", "Lambda", [], None))
    assert lam.ext_macs is None and "not executed" in lam.note


def test_keras2_tf_ops_explain_themselves_by_function():
    def tf_op(function: str) -> LayerRecord:
        return LayerRecord(
            name=f"tf.{function}",
            class_name="TFOpLambda",
            config={"function": function},
            output_shape=(None, 4),
        )

    for function, words in [
        ("__operators__.add", "element-wise add"),
        ("math.multiply", "element-wise multiply"),
        ("nn.relu", "element-wise activation"),
        ("concat", "concatenation"),
    ]:
        result = _only(tf_op(function))
        assert result.macs is None  # Larq prints "?" for TFOpLambda
        assert result.ext_macs == ()
        assert result.note == f"{words}: no MACs"
    unknown = _only(tf_op("linalg.matmul"))
    assert unknown.ext_macs is None and "not executed" in unknown.note


def test_unknown_target_is_a_user_error():
    from bnnstat.inspect.analysis import analyze

    with pytest.raises(BnnstatError, match="unknown target"):
        analyze(_model(), target="tflite")


def test_lce_target_attaches_the_lce_prediction():
    from bnnstat.inspect import lce
    from bnnstat.inspect.analysis import analyze

    record = _model(_layer("d", "Dense", [WeightRecord("kernel", (2, 2))], (None, 2)))
    result = analyze(record, target="lce")
    assert result.deployment == lce.predict(record, profile(record))
    assert [layer.name for layer in result.deployment.layers] == ["d"]
    assert analyze(record).deployment is None
    assert result.profile == profile(record)
