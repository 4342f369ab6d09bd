"""Live Keras 3 models -> records -> profiles: Larq's numbers from bnnstat layers, nested,
shared and subclassed models, and `bnnstat.models.summary`."""

from __future__ import annotations

import pytest
from golden.larq_records import load_reference

from bnnstat.errors import BnnstatError


@pytest.fixture(scope="module")
def keras(tf):
    import keras

    return keras


def _binary_cnn_cifar(keras):
    """The Keras 3 / bnnstat twin of the `binary_cnn_cifar` Larq fixture (same names/shapes)."""
    from bnnstat import layers as lq

    binary = {"input_quantizer": "ste_sign", "kernel_constraint": "weight_clip"}
    image = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv_fp")(image)
    x = keras.layers.BatchNormalization(name="bn_0")(x)
    x = lq.QuantConv2D(
        64,
        3,
        padding="same",
        pad_values=1.0,
        use_bias=False,
        kernel_quantizer="ste_sign",
        name="qconv_1",
        **binary,
    )(x)
    x = keras.layers.BatchNormalization(name="bn_1")(x)
    x = keras.layers.MaxPool2D(2, name="maxpool_1")(x)
    x = lq.QuantDepthwiseConv2D(
        3,
        padding="same",
        pad_values=1.0,
        use_bias=False,
        input_quantizer="ste_sign",
        depthwise_quantizer="ste_sign",
        depthwise_constraint="weight_clip",
        name="qdwconv_2",
    )(x)
    x = keras.layers.BatchNormalization(scale=False, name="bn_2")(x)
    x = lq.QuantSeparableConv2D(
        128,
        3,
        padding="same",
        use_bias=False,
        input_quantizer="ste_sign",
        depthwise_quantizer="ste_sign",
        pointwise_quantizer="ste_sign",
        depthwise_constraint="weight_clip",
        pointwise_constraint="weight_clip",
        name="qsepconv_3",
    )(x)
    x = keras.layers.BatchNormalization(scale=False, name="bn_3")(x)
    x = keras.layers.AveragePooling2D(2, name="avgpool_3")(x)
    x = lq.QuantConv2D(
        128, 3, use_bias=False, kernel_quantizer="ste_sign", name="qconv_4", **binary
    )(x)
    x = keras.layers.BatchNormalization(scale=False, name="bn_4")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(10, name="dense_fp")(x)
    out = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(image, out, name="binary_cnn_cifar")


def _profile(model):
    from bnnstat.inspect import keras_adapter
    from bnnstat.inspect.profile import profile

    return profile(keras_adapter.record(model))


def test_bnnstat_twin_of_larq_fixture_gives_larq_numbers(keras, larq_fixtures):
    reference = load_reference(larq_fixtures, "binary_cnn_cifar")["model"]
    result = _profile(_binary_cnn_cifar(keras))
    totals = reference["totals"]
    assert result.params == totals["params_total"]
    assert result.trainable_params == totals["params_trainable"]
    assert result.memory_bits == totals["memory_bits"]
    assert {str(k): v for k, v in result.macs_by_precision().items()} == totals["macs_by_precision"]
    for layer, entry in zip(result.layers, reference["layers"], strict=True):
        assert layer.name == entry["name"]
        assert layer.input_precision == entry["input_precision"], layer.name
        assert layer.output_shape_str == entry["output_shape_str"], layer.name
        assert layer.params == entry["params_total"], layer.name
        assert layer.memory_bits == entry["memory_bits"], layer.name
        assert layer.mac_count() == entry["macs_total"], layer.name
    from bnnstat.inspect.report import layer_table_rows, summary_rows

    assert layer_table_rows(result) == reference["table"]
    assert summary_rows(result) == reference["summary_rows"]


def test_models_summary_prints_larq_tables_and_returns_profile(keras, larq_fixtures):
    from bnnstat.models import summary

    printed = []
    result = summary(_binary_cnn_cifar(keras), print_fn=printed.append)
    expected = (larq_fixtures / "binary_cnn_cifar.txt").read_text()
    assert len(printed) == 1 and printed[0].startswith(expected)
    assert result.mac_count() == 27460864


def test_quantizer_records_and_precision_tags(keras):
    from bnnstat import layers as lq
    from bnnstat.inspect import keras_adapter

    model = keras.Sequential(
        [
            keras.Input((6, 4)),
            lq.QuantConv1D(
                8,
                3,
                input_quantizer="ste_tern",
                kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip",
                name="q1",
            ),
        ],
        name="seq",
    )
    record = keras_adapter.record(model)
    layer = record.layer("q1")
    assert layer.input_precision == 2
    assert layer.quantizers["kernel_quantizer"].precision == 1
    assert layer.weight("kernel").precision == 1 and layer.weight("bias").precision is None
    assert layer.output_shape == (None, 4, 8) and layer.inbound == ()
    assert _profile(model).layer("q1").macs[0].precision == 2


def test_nested_and_shared_layers(keras):
    from bnnstat.inspect import keras_adapter

    inner_in = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(5, 3, name="iconv")(inner_in)
    inner = keras.Model(inner_in, keras.layers.BatchNormalization(name="ibn")(conv), name="inner")
    image = keras.Input((8, 8, 3), name="img")
    flat = keras.layers.Flatten(name="flat")(inner(image))
    shared = keras.layers.Dense(4, name="shared")
    wide = keras.layers.Dense(180, name="wide")(flat)
    out = keras.layers.Concatenate(name="cat")([shared(flat), shared(wide)])
    model = keras.Model(image, out, name="outer")
    # The shared layer's node in another model must not count here.
    keras.Model(image, shared(flat), name="other")

    record = keras_adapter.record(model)
    assert record.layer("shared").call_count == 2
    assert record.layer("shared").inbound == ("flat", "wide")
    assert record.layer("cat").inbound == ("shared",)
    assert [sub.name for sub in record.layer("inner").layers][1:] == ["iconv", "ibn"]

    result = _profile(model)
    nested = result.layer("inner")
    # Larq 0.14 sums the sub-model's layers: BN beta/gamma fused, the conv's 6x6 x 135 MACs
    assert nested.params == 135 + 5 + 10 and nested.keras_param_count == 135 + 5 + 20
    assert nested.mac_count(32) == 135 * 36 and nested.ext_mac_count() == 135 * 36
    shared_row = result.layer("shared")
    assert shared_row.mac_count() == 720 and shared_row.ext_mac_count() == 1440


def test_frozen_layer_weights_are_non_trainable(keras):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.layers[0].trainable = False
    result = _profile(model)
    assert result.trainable_params == 0 and result.non_trainable_params == 8


def test_subclassed_model_shapes_are_traced(keras):
    class Tiny(keras.Model):
        def __init__(self):
            super().__init__(name="tiny")
            self.conv = keras.layers.Conv2D(4, 3, name="c")
            self.flat = keras.layers.Flatten(name="f")
            self.dense = keras.layers.Dense(3, name="d")

        def call(self, x):
            return self.dense(self.flat(self.conv(x)))

    model = Tiny()
    model(keras.ops.zeros((2, 6, 6, 1)))
    from bnnstat.inspect import keras_adapter

    record = keras_adapter.record(model)
    assert [layer.output_shape for layer in record.layers] == [
        (None, 4, 4, 4),
        (None, 64),
        (None, 3),
    ]
    assert any("traced" in note for note in record.notes)
    result = _profile(model)
    assert result.mac_count() == 36 * 16 + 192
    # Tracing leaves the model usable and unchanged.
    assert model(keras.ops.zeros((1, 6, 6, 1))).shape == (1, 3)


def test_unbuilt_model_is_a_user_error(keras):
    from bnnstat.inspect import keras_adapter

    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(BnnstatError, match="not been built"):
        keras_adapter.record(model)
    with pytest.raises(BnnstatError, match="not a keras.Model"):
        keras_adapter.record(keras.layers.Dense(2))
