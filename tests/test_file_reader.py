"""The static file reader: Larq fixtures, Keras 3 files, Keras 2 graphs, safety, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import LARQ_FIXTURES, REPO, SAMPLE_MODELS, TEST_DATA

from bnnstat.errors import BnnstatError
from bnnstat.inspect.reader import quantizer_record, read

FIXTURES = ("binarynet_mlp", "binary_cnn_cifar", "bop_noop_cnn", "ternary_kbit_conv1d")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _short(name: str, class_name: str = "") -> str:
    """Short weight name; a DepthwiseConv kernel is `kernel` (its Keras 3 name) in records."""
    short = name.rsplit("/", 1)[-1].split(":")[0]
    if "DepthwiseConv" in class_name and short == "depthwise_kernel":
        return "kernel"
    return short


def _shape(listed):
    return None if listed is None else tuple(None if d == -1 else d for d in listed)


# --- Larq fixtures -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_larq_fixture_records_match_reference(larq_fixtures, name):
    path = larq_fixtures / f"{name}.h5"
    before = sha256(path)
    reference = json.loads((larq_fixtures / f"{name}.json").read_text())["model"]
    record = read(path)
    assert sha256(path) == before
    assert record.name == reference["name"]
    assert record.input_shapes == (_shape(reference["keras"]["input_shape"]),)
    assert [(r.name, r.class_name) for r in record.layers] == [
        (layer["name"], layer["class_name"]) for layer in reference["layers"]
    ]
    for layer, expected in zip(record.layers, reference["layers"], strict=True):
        assert layer.output_shape == _shape(expected["output_shape"]), layer.name
        assert layer.input_precision == expected["input_precision"], layer.name
        names = [_short(n, layer.class_name) for n in expected["all_weight_names"]]
        assert sorted(w.name for w in layer.weights) == sorted(names), layer.name
        by_name = {w.name: w for w in layer.weights}
        for weight in expected["weights"]:
            ours = by_name[_short(weight["name"], layer.class_name)]
            assert ours.shape == tuple(weight["shape"])
            assert (ours.precision or 32) == weight["bitwidth"]
            assert ours.trainable == weight["trainable"]
        assert layer.note is None and not layer.shape_assumed
    # Keras' own parameter count (BN gamma/beta included) is in the file too.
    total = sum(w.count for layer in record.layers for w in layer.weights)
    assert total == reference["keras"]["count_params"]


@pytest.mark.parametrize("name", FIXTURES)
def test_larq_fixture_profile_numbers_match_reference(larq_fixtures, name):
    """End to end with the inspector core: per-layer params and MACs exactly as Larq's JSON."""
    from bnnstat.inspect.profile import profile

    reference = json.loads((larq_fixtures / f"{name}.json").read_text())["model"]
    result = profile(read(larq_fixtures / f"{name}.h5"))
    for layer, expected in zip(result.layers, reference["layers"], strict=True):
        for bits, count in expected["params_by_bitwidth"].items():
            assert layer.param_count(int(bits)) == count, (layer.name, bits)
        if expected["macs_total"] is None:
            assert layer.macs is None, layer.name
        else:
            assert sum(m.n for m in layer.macs) == expected["macs_total"], layer.name


# --- Keras 3 files, compared with the live model that wrote them ------------------------------


def _compare_with_live(model, record):
    import keras

    from bnnstat.utils import precision_of

    assert record.name == model.name
    assert [layer.name for layer in record.layers] == [layer.name for layer in model.layers]
    for live, ours in zip(model.layers, record.layers, strict=True):
        assert ours.class_name == type(live).__name__
        live_weights = [
            (v.path.rsplit("/", 1)[-1], tuple(v.shape), precision_of(v), v.trainable)
            for v in live.weights
        ]
        if isinstance(live, keras.Model):
            assert ours.weights == ()
            _compare_with_live(live, type(record)(live.name, "", ours.layers))
            continue
        assert [(w.name, w.shape, w.precision, w.trainable) for w in ours.weights] == live_weights
        if not isinstance(live, keras.layers.InputLayer) and len(live._inbound_nodes) == 1:
            assert ours.output_shape == tuple(live.output.shape), live.name


def _quant_cnn(keras):
    import bnnstat.layers as ql
    from bnnstat import quantizers as qq

    inp = keras.Input((16, 16, 3), name="image")
    x = ql.QuantConv2D(8, 3, padding="same", kernel_quantizer="ste_sign", use_bias=False)(inp)
    x = keras.layers.BatchNormalization(scale=False)(x)
    x = ql.QuantDepthwiseConv2D(
        3, depthwise_quantizer="ste_sign", input_quantizer="ste_sign", padding="same",
        use_bias=False, pad_values=1.0,
    )(x)  # fmt: skip
    x = ql.QuantSeparableConv2D(
        16, 3, depthwise_quantizer=qq.SteTern(), input_quantizer=qq.SteSign(),
        pointwise_quantizer=qq.DoReFa(k_bit=3, mode="weights"),
    )(x)  # fmt: skip
    x = keras.layers.Activation("ste_sign")(x)
    x = ql.QuantConv2D(8, 3, kernel_quantizer=qq.NoOp(precision=1), input_quantizer="ste_sign")(x)
    frozen = keras.layers.BatchNormalization(name="frozen_bn")
    frozen.trainable = False
    x = frozen(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = ql.QuantDense(4, kernel_quantizer="ste_tern", input_quantizer="dorefa_quantizer")(x)
    return keras.Model(inp, x, name="quant_cnn")


def _nested_shared(keras):
    layers = keras.layers
    inner_in = keras.Input((8, 8, 4))
    y = layers.Conv2D(5, 3, padding="same", name="inner_conv")(inner_in)
    y = layers.BatchNormalization(name="inner_bn")(y)
    inner = keras.Model(inner_in, y, name="inner")
    seq = keras.Sequential([layers.Dense(6, name="seq_dense"), layers.ReLU()], name="head")
    inp = keras.Input((8, 8, 3), name="img")
    x = layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = inner(x)
    shared = layers.Dense(6, name="shared")
    a = shared(layers.GlobalAveragePooling2D(name="gap")(x))
    b = shared(layers.Flatten(name="flat")(layers.MaxPooling2D(name="mp")(x)[:, :1, :1, :]))
    out = layers.Concatenate(name="cat")([layers.Add(name="add")([a, b]), seq(a)])
    return keras.Model(inp, out, name="outer")


def _sequential(keras):
    return keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
         keras.layers.Dropout(0.1), keras.layers.Dense(10)], name="seq",
    )  # fmt: skip


@pytest.mark.parametrize("builder", [_quant_cnn, _nested_shared, _sequential])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_files_match_the_live_model(tf, tmp_path, builder, suffix):
    import keras

    model = builder(keras)
    path = tmp_path / f"model{suffix}"
    model.save(path)
    record = read(path)
    _compare_with_live(model, record)
    assert record.input_shapes == tuple(tuple(t.shape) for t in model.inputs)


def test_nested_and_shared_graph_details(tf, tmp_path):
    import keras

    path = tmp_path / "nested.keras"
    _nested_shared(keras).save(path)
    record = read(path)
    shared = record.layer("shared")
    assert shared.call_count == 2
    assert shared.inbound == ("gap", "flat")
    assert shared.output_shapes == ((None, 6), (None, 6))
    assert record.layer("flat").inbound == ("mp",)  # through the Keras 3 GetItem op
    inner = record.layer("inner")
    assert inner.is_nested_model and inner.output_shape == (None, 8, 8, 5)
    assert [r.class_name for r in inner.layers] == ["InputLayer", "Conv2D", "BatchNormalization"]
    assert [r.name for r in inner.layers[1:]] == ["inner_conv", "inner_bn"]
    head = record.layer("head")
    assert [r.class_name for r in head.layers] == ["Dense", "ReLU"]
    assert head.layers[0].weights[0].shape == (6, 6)
    assert record.layer("cat").output_shape == (None, 12)
    assert record.output_names == ("cat",)


def test_keras_archive_weights_are_mapped_by_class_path_without_name_attributes(tf, tmp_path):
    """Older Keras 3 archives have no `name` attribute on the `vars` groups."""
    import keras

    model = _quant_cnn(keras)
    path = tmp_path / "model.keras"
    model.save(path)
    stripped = tmp_path / "stripped.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(stripped, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "model.weights.h5":
                weights = tmp_path / "w.h5"
                weights.write_bytes(data)
                with h5py.File(weights, "r+") as handle:
                    handle.visititems(lambda _, obj: obj.attrs.pop("name", None))
                data = weights.read_bytes()
            target.writestr(info, data)
    _compare_with_live(model, read(stripped))


# --- Keras 2 graphs (hand-written files in the Keras 2 / TF 2.15 format) ------------------------


def write_keras2_h5(path: Path, config: dict, weights: dict[str, dict[str, tuple]]) -> Path:
    """A Keras 2 style .h5: model_config JSON + model_weights/<layer>/<layer>/<name>:0 datasets.

    Datasets are created with their shape only (no values written).
    """
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
        handle.attrs["keras_version"] = "2.15.0"
        group = handle.create_group("model_weights")
        layer_names = [entry["config"]["name"] for entry in config["config"]["layers"]]
        if config["class_name"] == "Sequential":
            layer_names = [n for n, e in zip(layer_names, config["config"]["layers"], strict=True)
                           if e["class_name"] != "InputLayer"]  # fmt: skip
        group.attrs["layer_names"] = np.array(layer_names, dtype="S")
        for name in layer_names:
            layer_group = group.create_group(name)
            names = []
            for weight, shape in weights.get(name, {}).items():
                full = weight if "/" in weight else f"{name}/{weight}:0"
                layer_group.create_dataset(full, shape=shape, dtype="float32")
                names.append(full)
            layer_group.attrs["weight_names"] = np.array(names, dtype="S")
    return path


def _layer(class_name, name, inbound, **config):
    config = {"name": name, "trainable": True, "dtype": "float32", **config}
    nodes = [[[n, 0, 0, {}] for n in inbound]] if inbound else []
    return {"class_name": class_name, "config": config, "name": name, "inbound_nodes": nodes}


def _functional(name, layers, inputs, outputs):
    return {
        "class_name": "Functional",
        "config": {"name": name, "trainable": True, "layers": layers,
                   "input_layers": [[n, 0, 0] for n in inputs],
                   "output_layers": [[n, 0, 0] for n in outputs]},
    }  # fmt: skip


def _conv(name, inbound, filters, **extra):
    return _layer("Conv2D", name, inbound, filters=filters, kernel_size=[3, 3], strides=[1, 1],
                  padding="same", data_format="channels_last", dilation_rate=[1, 1],
                  use_bias=False, **extra)  # fmt: skip


def _lambda_config(marker: Path) -> dict:
    import base64
    import marshal

    code = compile(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]", "<m>", "eval")
    function = base64.b64encode(marshal.dumps(code.co_consts[0])).decode()
    return {"function": [function, None, None], "function_type": "lambda", "module": "__main__",
            "output_shape": None, "arguments": {}}  # fmt: skip


def test_tfoplambda_add_split_concat_graph(tmp_path):
    image = {
        "class_name": "InputLayer",
        "name": "image",
        "inbound_nodes": [],
        "config": {"batch_input_shape": [None, 8, 8, 6], "dtype": "float32", "name": "image"},
    }
    split = _layer("TFOpLambda", "tf.split", [], function="split")
    split["inbound_nodes"] = [[["image", 0, 0, {"num_or_size_splits": 2, "axis": -1}]]]
    conv_a = _conv("conv_a", [], 4)
    conv_a["inbound_nodes"] = [[["tf.split", 0, 0, {}]]]
    conv_b = _conv("conv_b", [], 4)
    conv_b["inbound_nodes"] = [[["tf.split", 0, 1, {}]]]
    concat = _layer("TFOpLambda", "tf.concat", [], function="concat")
    concat["inbound_nodes"] = [[[["conv_a", 0, 0, {"axis": -1}], ["conv_b", 0, 0, {"axis": -1}]]]]
    add = _layer("TFOpLambda", "tf.__operators__.add", [], function="__operators__.add")
    add["inbound_nodes"] = [[["tf.concat", 0, 0, {"y": ["image", 0, 0], "name": None}]]]
    relu = _layer("TFOpLambda", "tf.nn.relu", ["tf.__operators__.add"], function="nn.relu")
    config = _functional(
        "ops", [image, split, conv_a, conv_b, concat, add, relu], ["image"], ["tf.nn.relu"]
    )
    weights = {"conv_a": {"kernel": (3, 3, 3, 4)}, "conv_b": {"kernel": (3, 3, 3, 4)}}
    record = read(write_keras2_h5(tmp_path / "ops.h5", config, weights))
    assert record.layer("tf.split").output_shapes == ((None, 8, 8, 3), (None, 8, 8, 3))
    assert record.layer("conv_b").input_shapes == ((None, 8, 8, 3),)
    assert record.layer("tf.concat").output_shape == (None, 8, 8, 8)
    assert record.layer("tf.__operators__.add").inbound == ("tf.concat", "image")
    assert record.layer("tf.nn.relu").output_shape == (None, 8, 8, 8)
    assert record.layer("tf.split").note == "multiple outputs"
    assert all(r.note is None for r in record.layers if r.name != "tf.split")


def test_keras2_nested_model_weights_are_split_by_layer_name(tmp_path):
    inner_in = {
        "class_name": "InputLayer",
        "name": "inner_in",
        "inbound_nodes": [],
        "config": {"batch_input_shape": [None, 8, 8, 3], "name": "inner_in"},
    }
    inner = _functional("block", [inner_in, _conv("inner_conv", ["inner_in"], 5),
                                  _layer("BatchNormalization", "inner_bn", ["inner_conv"],
                                         axis=[3])], ["inner_in"], ["inner_bn"])  # fmt: skip
    inner.update(name="block", inbound_nodes=[[["image", 0, 0, {}]]])
    image = {
        "class_name": "InputLayer",
        "name": "image",
        "inbound_nodes": [],
        "config": {"batch_input_shape": [None, 8, 8, 3], "name": "image"},
    }
    gap = _layer("GlobalAveragePooling2D", "gap", ["block"], data_format="channels_last")
    config = _functional("outer", [image, inner, gap], ["image"], ["gap"])
    weights = {"block": {"inner_conv/kernel:0": (3, 3, 3, 5), "inner_bn/gamma:0": (5,),
                         "inner_bn/beta:0": (5,), "inner_bn/moving_mean:0": (5,),
                         "inner_bn/moving_variance:0": (5,)}}  # fmt: skip
    record = read(write_keras2_h5(tmp_path / "nested.h5", config, weights))
    block = record.layer("block")
    assert block.weights == () and block.output_shape == (None, 8, 8, 5)
    conv, bn = block.layers[1], block.layers[2]
    assert [w.name for w in conv.weights] == ["kernel"]
    assert [(w.name, w.trainable) for w in bn.weights] == [
        ("gamma", True),
        ("beta", True),
        ("moving_mean", False),
        ("moving_variance", False),
    ]
    assert record.layer("gap").output_shape == (None, 5)


def _lambda_model(marker: Path, then: dict) -> dict:
    image = {
        "class_name": "InputLayer",
        "name": "image",
        "inbound_nodes": [],
        "config": {"batch_input_shape": [None, 8, 8, 6], "name": "image"},
    }
    lam = _layer("Lambda", "rename", ["image"], **_lambda_config(marker))
    gap = _layer("GlobalAveragePooling2D", "gap", [then["config"]["name"]],
                 data_format="channels_last")  # fmt: skip
    return _functional("lam", [image, lam, then, gap], ["image"], ["gap"])


def test_lambda_is_never_run_and_its_shape_is_assumed_and_pinned(tmp_path):
    marker = tmp_path / "marker.txt"
    conv = _conv("after", ["rename"], 16)
    path = write_keras2_h5(tmp_path / "lambda.h5", _lambda_model(marker, conv),
                           {"after": {"kernel": (3, 3, 12, 16)}})  # fmt: skip
    before = sha256(path)
    record = read(path)
    assert not marker.exists()
    assert sha256(path) == before
    lam = record.layer("rename")
    # spatial size kept, channels (12) taken from the following conv's kernel
    assert lam.output_shape == (None, 8, 8, 12)
    assert lam.shape_assumed and "not executed" in lam.note and "after" in lam.note
    after = record.layer("after")
    assert after.shape_assumed and after.output_shape == (None, 8, 8, 16)
    assert "assumed" in after.note
    assert [w.count for w in after.weights] == [3 * 3 * 12 * 16]  # weights stay exact
    assert record.layer("gap").shape_assumed


def test_lambda_without_a_weighted_consumer_keeps_the_input_shape(tmp_path):
    marker = tmp_path / "marker.txt"
    act = _layer("Activation", "after", ["rename"], activation="relu")
    record = read(write_keras2_h5(tmp_path / "l.h5", _lambda_model(marker, act), {}))
    assert record.layer("rename").output_shape == (None, 8, 8, 6)
    assert record.layer("rename").shape_assumed
    assert not marker.exists()


def test_keras3_lambda_file_is_read_without_running_it(tf, tmp_path):
    import keras

    marker = tmp_path / "k3_marker.txt"
    source = f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x * 2)[1]"
    inp = keras.Input((4, 4, 2))
    x = keras.layers.Lambda(eval(source))(inp)
    x = keras.layers.Conv2D(3, 1)(x)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, x).save(path)
    marker.unlink()
    before = sha256(path)
    record = read(path)
    assert not marker.exists() and sha256(path) == before
    # Keras 3 recorded the Lambda's output shape as the Conv2D's input: nothing assumed
    lam = next(r for r in record.layers if r.class_name == "Lambda")
    assert lam.output_shape == (None, 4, 4, 2) and not lam.shape_assumed


def test_unknown_layer_class_propagates_none_with_reason_and_exact_weights(tmp_path):
    image = {
        "class_name": "InputLayer",
        "name": "image",
        "inbound_nodes": [],
        "config": {"batch_input_shape": [None, 10], "name": "image"},
    }
    custom = _layer("my_pkg>Mystery", "mystery", ["image"])
    dense = _layer("Dense", "dense", ["mystery"], units=3, use_bias=True)
    config = _functional("m", [image, custom, dense], ["image"], ["dense"])
    weights = {"mystery": {"w": (10, 7)}, "dense": {"kernel": (7, 3), "bias": (3,)}}
    record = read(write_keras2_h5(tmp_path / "m.h5", config, weights))
    mystery = record.layer("mystery")
    assert mystery.class_name == "Mystery" and mystery.output_shape is None
    assert "Mystery" in mystery.note
    dense = record.layer("dense")
    assert dense.output_shape is None and "Mystery" in dense.note
    assert sum(w.count for w in dense.weights) == 24


# --- quantizer precision -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name", "precision"),
    [
        ("ste_sign", "ste_sign", 1),
        ("approx_sign", "approx_sign", 1),
        ("SwishSign", "SwishSign", 1),
        ("ste_tern", "ste_tern", 2),
        ("larq>ste_heaviside", "ste_heaviside", 1),
        ({"class_name": "MagnitudeAwareSign", "config": {}}, "MagnitudeAwareSign", 1),
        ({"class_name": "SteTern", "config": {"threshold_value": 0.1}}, "SteTern", 2),
        ({"class_name": "DoReFa", "config": {"k_bit": 4}}, "DoReFa", 4),
        ({"class_name": "DoReFaQuantizer", "config": {}}, "DoReFaQuantizer", 2),
        ({"class_name": "NoOp", "config": {"precision": 3}}, "NoOp", 3),
        ({"module": "larq.quantizers", "class_name": "SteSign", "config": {},
          "registered_name": "SteSign"}, "SteSign", 1),
        ({"module": "bnnstat.quantizers", "class_name": "bnnstat>NoOp",
          "config": {"precision": 1}, "registered_name": "bnnstat>NoOp"}, "NoOp", 1),
        ({"class_name": "function", "config": "ste_sign"}, "ste_sign", 1),
        ({"module": "builtins", "class_name": "function", "config": "bnnstat>ste_tern",
          "registered_name": "function"}, "ste_tern", 2),
        ("xnor_weight_scale", "xnor_weight_scale", 1),
        ({"class_name": "function", "config": "magnitude_aware_sign_unclipped"},
         "magnitude_aware_sign_unclipped", 1),
    ],
)  # fmt: skip
def test_quantizer_precision_from_config(value, name, precision):
    record = quantizer_record(value)
    assert (record.name, record.precision, record.note) == (name, precision, None)


def test_plain_function_without_tag_is_noted_and_overridable():
    record = quantizer_record({"class_name": "function", "config": "my_sign"})
    assert record.precision is None
    assert "my_sign" in record.note and "--precision my_sign=BITS" in record.note
    assert quantizer_record("my_sign", {"my_sign": 1}).precision == 1
    assert quantizer_record(None) is None


def test_precision_override_reaches_weights_and_notes(tmp_path):
    dense = _layer("QuantDense", "qd", [], units=4, use_bias=False,
                   input_quantizer="my_act", kernel_quantizer="my_sign",
                   batch_input_shape=[None, 8])  # fmt: skip
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [dense]}}
    path = write_keras2_h5(tmp_path / "f.h5", config, {"qd": {"kernel": (8, 4)}})
    plain = read(path)
    layer = plain.layers[0]
    assert layer.weights[0].precision is None and layer.input_precision is None
    assert "my_sign" in layer.note and any("my_sign" in n for n in plain.notes)
    tagged = read(path, {"my_sign": 1, "my_act": 2}).layers[0]
    assert tagged.weights[0].precision == 1 and tagged.input_precision == 2
    assert tagged.note is None
    assert layer.output_shape == (None, 4)


def test_quantizer_as_activation_is_recorded(tmp_path):
    act = _layer("Activation", "sign", [], activation="ste_sign", batch_input_shape=[None, 8])
    relu = _layer("Activation", "relu", [], activation="relu")
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [act, relu]}}
    record = read(write_keras2_h5(tmp_path / "a.h5", config, {}))
    assert record.layer("sign").quantizers["activation"].precision == 1
    assert record.layer("relu").quantizers == {}


# --- bad input ---------------------------------------------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    fixture = LARQ_FIXTURES / "binary_cnn_cifar.h5"
    data = fixture.read_bytes()
    files = {}
    (tmp_path / "empty.h5").write_bytes(b"")
    files["empty"] = (tmp_path / "empty.h5", "empty")
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 3])
    files["truncated"] = (tmp_path / "truncated.h5", "truncated")
    (tmp_path / "random.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    files["random"] = (tmp_path / "random.h5", "not a Keras model file")
    with h5py.File(tmp_path / "data.h5", "w") as handle:
        handle.create_dataset("x", data=np.arange(10))
    files["non-model h5"] = (tmp_path / "data.h5", "no model config")
    (tmp_path / "text.keras").write_text("this is not a zip")
    files["non-zip keras"] = (tmp_path / "text.keras", "not a Keras model file")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "hello")
    files["zip without config"] = (tmp_path / "other.keras", "config.json")
    keras_bytes = tmp_path / "trunc_src.keras"
    _sequential_keras(keras_bytes)
    (tmp_path / "truncated.keras").write_bytes(keras_bytes.read_bytes()[:-2000])
    files["truncated keras"] = (tmp_path / "truncated.keras", ".keras")
    files["missing"] = (tmp_path / "missing.h5", "not found")
    return files


def _sequential_keras(path: Path) -> None:
    """A minimal .keras archive (config.json + weights), written without Keras."""
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, 300], "name": "in"}},
        {"module": "keras.layers", "class_name": "Dense",
         "config": {"name": "d", "units": 300, "use_bias": True}}]}}  # fmt: skip
    weights = path.with_suffix(".w.h5")
    with h5py.File(weights, "w") as handle:
        group = handle.create_group("layers/dense/vars")
        group.create_dataset("0", data=np.zeros((300, 300), "float32"))
        group.create_dataset("1", data=np.zeros((300,), "float32"))
        handle.create_group("vars")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", json.dumps(config))
        archive.write(weights, "model.weights.h5")


def test_minimal_keras_archive_reads(tmp_path):
    path = tmp_path / "s.keras"
    _sequential_keras(path)
    record = read(path)
    assert [(w.name, w.shape) for w in record.layers[0].weights] == [
        ("kernel", (300, 300)),
        ("bias", (300,)),
    ]
    assert record.layers[0].output_shape == (None, 300)


def test_bad_inputs_raise_one_line_errors_naming_the_file(tmp_path):
    for case, (path, words) in _bad_files(tmp_path).items():
        before = sha256(path) if path.exists() else None
        with pytest.raises(BnnstatError) as info:
            read(path)
        message = str(info.value)
        assert str(path) in message, case
        assert words.lower() in message.lower(), (case, message)
        assert "\n" not in message, case
        if before is not None:
            assert sha256(path) == before, case


def test_weights_only_h5_is_rejected(tf, tmp_path):
    import keras

    model = _sequential(keras)
    path = tmp_path / "only.weights.h5"
    model.save_weights(path)
    with pytest.raises(BnnstatError, match="no model config"):
        read(path)


# --- no TensorFlow, no weight values ----------------------------------------------------------


def test_reading_imports_neither_tensorflow_nor_keras(larq_fixtures, tmp_path):
    keras_file = tmp_path / "s.keras"
    _sequential_keras(keras_file)
    script = (
        "from bnnstat.inspect.reader import read; "
        f"read({str(larq_fixtures / 'binary_cnn_cifar.h5')!r}); read({str(keras_file)!r})"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script],
        capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "h5py" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
    assert heavy == []


def test_weight_values_are_never_read(larq_fixtures, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a weight value was read")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", refuse)
    monkeypatch.setattr(h5py.Dataset, "read_direct", refuse)
    monkeypatch.setattr(h5py.Dataset, "__array__", refuse)
    keras_file = tmp_path / "s.keras"
    _sequential_keras(keras_file)
    assert read(larq_fixtures / "binarynet_mlp.h5").layers[1].weights[0].shape == (784, 256)
    assert read(keras_file).layers[0].weights[0].shape == (300, 300)


def test_large_weights_are_not_loaded(tmp_path):
    """A 40M-parameter (160 MB) file is read in a fresh process with a small peak RSS."""
    dense = _layer("Dense", "big", [], units=4000, use_bias=False, batch_input_shape=[None, 10000])
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [dense]}}
    path = tmp_path / "big.h5"
    write_keras2_h5(path, config, {})
    with h5py.File(path, "r+") as handle:
        group = handle["model_weights/big"]
        dataset = group.create_dataset("big/kernel:0", shape=(10000, 4000), dtype="float32")
        block = np.ones((1000, 4000), "float32")
        for start in range(0, 10000, 1000):
            dataset[start : start + 1000] = block
        group.attrs["weight_names"] = np.array(["big/kernel:0"], dtype="S")
    assert path.stat().st_size > 150 * 2**20
    # VmHWM (peak RSS of this process image; ru_maxrss would include the forking parent's)
    script = (
        "import sys; from bnnstat.inspect.reader import read; "
        "r = read(sys.argv[1]); assert r.layers[0].weights[0].count == 40_000_000; "
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, check=True, cwd=REPO)  # fmt: skip
    peak_mib = int(out.stdout.strip()) / 1024
    assert peak_mib < 100, peak_mib


def test_read_only_file_on_read_only_copy(larq_fixtures, tmp_path):
    copy = tmp_path / "ro.h5"
    shutil.copy(larq_fixtures / "bop_noop_cnn.h5", copy)
    os.chmod(copy, 0o444)
    before = sha256(copy)
    assert len(read(copy).layers) == 12
    assert sha256(copy) == before


# --- through the CLI -----------------------------------------------------------------------------


def _lambda_h5(tmp_path: Path, marker: Path) -> Path:
    conv = _conv("after", ["rename"], 16)
    return write_keras2_h5(
        tmp_path / "lambda.h5", _lambda_model(marker, conv), {"after": {"kernel": (3, 3, 12, 16)}}
    )


def test_cli_summarises_a_lambda_file_without_running_it(tmp_path):
    from click.testing import CliRunner

    from bnnstat.cli import main

    marker = tmp_path / "marker.txt"
    path = _lambda_h5(tmp_path, marker)
    before = sha256(path)
    result = CliRunner().invoke(main, ["summary", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    layers = {layer["name"]: layer for layer in json.loads(result.output)["layers"]}
    assert layers["after"]["params_by_bitwidth"] == {"32": 3 * 3 * 12 * 16}
    assert "Lambda" in layers["rename"]["note"]
    process = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", str(path)],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    assert "rename" in process.stdout
    assert not marker.exists()
    assert sha256(path) == before


def test_cli_bad_inputs_exit_2_with_one_line(tmp_path):
    from click.testing import CliRunner

    from bnnstat.cli import main

    runner = CliRunner()
    bad_files = _bad_files(tmp_path)
    for case, (path, _) in bad_files.items():
        before = sha256(path) if path.exists() else None
        result = runner.invoke(main, ["summary", str(path)])
        assert result.exit_code == 2, (case, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and str(path.name) in lines[0], (case, result.output)
        if before is not None:
            assert sha256(path) == before, case
    path = bad_files["truncated"][0]
    process = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", str(path)],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert process.returncode == 2
    assert len(process.stderr.strip().splitlines()) == 1 and str(path) in process.stderr


@pytest.mark.parametrize("builder", [_quant_cnn, _nested_shared, _sequential])
def test_static_and_keras_engines_agree_on_keras3_files(tf, tmp_path, builder):
    import keras

    from bnnstat.inspect import keras_adapter, profile, serialize
    from bnnstat.loading import load_model

    path = tmp_path / "model.keras"
    builder(keras).save(path)
    static = serialize.to_json(profile.profile(read(path)))
    loaded = serialize.to_json(profile.profile(keras_adapter.record(load_model(path))))
    assert static.pop("source") == str(path)
    loaded.pop("source")
    assert static == loaded


def test_keras2_shared_layer_and_nested_sequential(tmp_path):
    """Keras 2 node indices: the second call of a shared layer is referenced as node 1."""
    image = {
        "class_name": "InputLayer",
        "name": "image",
        "inbound_nodes": [],
        "config": {"batch_input_shape": [None, 6, 6, 2], "name": "image"},
    }
    left = _layer("Flatten", "flat", ["image"])
    right = _layer("GlobalMaxPooling2D", "gmp", ["image"])
    right_dense = _layer("Dense", "proj", ["gmp"], units=72, use_bias=False)
    shared = _layer("Dense", "shared", [], units=5, use_bias=True)
    shared["inbound_nodes"] = [[["flat", 0, 0, {}]], [["proj", 0, 0, {}]]]
    head_layers = [
        _layer("Dense", "head_dense", [], units=3, use_bias=True),
        _layer("Activation", "head_act", [], activation="softmax"),
    ]
    head = {
        "class_name": "Sequential",
        "name": "head",
        "config": {"name": "head", "layers": head_layers},
        "inbound_nodes": [[["add", 0, 0, {}]]],
    }
    add = _layer("Add", "add", [])
    add["inbound_nodes"] = [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]]
    config = _functional(
        "m", [image, left, right, right_dense, shared, add, head], ["image"], ["head"]
    )
    weights = {
        "proj": {"kernel": (2, 72)},
        "shared": {"kernel": (72, 5), "bias": (5,)},
        "head": {"head_dense/kernel:0": (5, 3), "head_dense/bias:0": (3,)},
    }
    record = read(write_keras2_h5(tmp_path / "shared.h5", config, weights))
    shared_record = record.layer("shared")
    assert shared_record.call_count == 2 and shared_record.inbound == ("flat", "proj")
    assert shared_record.input_shapes == ((None, 72), (None, 72))
    assert record.layer("add").inbound == ("shared",)
    head_record = record.layer("head")
    assert head_record.output_shape == (None, 3)
    assert [(r.name, r.output_shape) for r in head_record.layers] == [
        ("head_dense", (None, 3)),
        ("head_act", (None, 3)),
    ]
    assert [w.shape for w in head_record.layers[0].weights] == [(5, 3), (3,)]


def test_larq_nested_sequential_numbered_from_1_and_shared_between_shapes():
    """Larq-saved: a nested Sequential with its own InputLayer (Keras 2 refers to its calls as
    nodes 1 and 2), and a QuantConv2D + pooling pair shared by a 32x32 and a 16x16 input."""
    from click.testing import CliRunner

    from bnnstat.cli import main
    from bnnstat.inspect.profile import profile

    path = TEST_DATA / "larq_zoo" / "nested_shared.h5"
    record = read(path)
    block = record.layer("block")
    assert block.inbound == ("big", "small") and block.call_count == 2
    assert block.output_shapes == ((None, 32, 32, 8), (None, 16, 16, 8))
    # Its own layers as the Sequential defines them, on its input (None, None, None, 3).
    assert [(r.name, r.output_shape) for r in block.layers] == [
        ("conv2d", (None, None, None, 8)),
        ("batch_normalization", (None, None, None, 8)),
    ]
    assert record.layer("shared_bconv").inbound == ("block",)
    assert record.layer("shared_pool").output_shapes == ((None, 8), (None, 8))
    assert record.layer("merge").output_shape == (None, 16)

    result = {layer.name: layer for layer in profile(record).layers}
    conv_params, bn_params = 3 * 3 * 3 * 8, 4 * 8  # no bias; gamma, beta, moving mean/variance
    # Larq 0.14 fuses the nested BN's beta and gamma (its own summary of this file: 876 params)
    assert result["block"].params == conv_params + bn_params - 2 * 8 == 232
    # ...and counts the conv's (-1, -1) pixels as 1, as it prints: 216 MACs
    assert result["block"].mac_count(32) == 3 * 3 * 3 * 8
    assert result["block"].non_trainable_params == 2 * 8
    # The nested conv's spatial size is unknown in its own graph: no extension count.
    assert result["block"].layers[0].ext_mac_count() is None
    bconv = result["shared_bconv"]
    assert bconv.param_count(bitwidth=1) == 3 * 3 * 8 * 8
    assert bconv.call_count == 2 and bconv.mac_count() is None  # Larq: "multiple" -> ?
    per_pixel = 3 * 3 * 8
    assert bconv.ext_mac_count(1) == (32 * 32 + 16 * 16) * 8 * per_pixel == 737280
    assert result["head"].params == 16 * 4 + 4 and result["head"].mac_count(32) == 16 * 4
    assert profile(record).params == 232 + 576 + 68
    assert profile(record).trainable_params == 232 + 576 + 68 - 16

    output = CliRunner().invoke(main, ["summary", str(path)])
    assert output.exit_code == 0, output.output
    assert "broken graph" not in output.output
    assert "Total params                   876" in output.output


def test_keras2_nested_call_numbers_count_from_0_after_parsing():
    """Keras 2 refers to the calls of a nested model with its own InputLayer from node 1; a
    config that refers to node 0 of it keeps its numbering."""
    from keras2_h5 import nested_sequential_config

    from bnnstat.inspect.reader.keras_config import Context, ModelConfig, Ref

    with h5py.File(TEST_DATA / "larq_zoo" / "nested_shared.h5", "r") as handle:
        entry = json.loads(handle.attrs["model_config"])
    model = ModelConfig(entry, Context(Path("x.h5"), {}))
    assert model.by_name["block"].model.own_input_node
    assert [call.inputs for call in model.by_name["shared_bconv"].calls] == [
        [Ref("block", 0, 0)],
        [Ref("block", 1, 0)],
    ]
    plain = ModelConfig(nested_sequential_config(), Context(Path("y.h5"), {}))
    assert plain.outputs == [Ref("block", 0, 0)]


def test_lambda_channels_pinned_on_the_channels_first_axis(tmp_path):
    marker = tmp_path / "marker.txt"
    conv = _conv("after", ["rename"], 4)
    conv["config"]["data_format"] = "channels_first"
    config = _lambda_model(marker, conv)
    config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 6, 10, 10]
    config["config"]["layers"][-1]["config"]["data_format"] = "channels_first"
    path = write_keras2_h5(tmp_path / "cf.h5", config, {"after": {"kernel": (3, 3, 2, 4)}})
    record = read(path)
    assert record.layer("rename").output_shape == (None, 2, 10, 10)
    assert record.layer("after").output_shape == (None, 4, 10, 10)
    assert record.layer("gap").output_shape == (None, 4)
    assert not marker.exists()


ENGINE_FILES = [
    *(LARQ_FIXTURES / f"{name}.h5" for name in FIXTURES),
    *sorted(p for p in SAMPLE_MODELS.glob("*") if p.suffix in (".h5", ".keras")),
]


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: p.name)
def test_static_and_keras_engines_agree_on_fixtures_and_sample_models(tf, path):
    from bnnstat.inspect import keras_adapter, profile, serialize
    from bnnstat.loading import load_model

    before = sha256(path)
    static = serialize.to_json(profile.profile(read(path)))
    loaded = serialize.to_json(profile.profile(keras_adapter.record(load_model(path))))
    static.pop("source")
    loaded.pop("source")
    assert static == loaded
    assert sha256(path) == before


def test_compressed_keras_archive_is_read(tmp_path):
    """Keras stores members uncompressed; a re-zipped (deflated) archive still reads."""
    stored = tmp_path / "s.keras"
    _sequential_keras(stored)
    deflated = tmp_path / "deflated.keras"
    with zipfile.ZipFile(stored) as source, zipfile.ZipFile(deflated, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
    assert read(deflated).layers[0].weights == read(stored).layers[0].weights


def test_subclassed_model_without_layer_config_is_a_clear_error(tmp_path):
    config = {"class_name": "MyModel", "config": {"name": "m", "units": 3}}
    with h5py.File(tmp_path / "sub.h5", "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
    with pytest.raises(BnnstatError) as info:
        read(tmp_path / "sub.h5")
    message = str(info.value)
    assert "model 'MyModel' is a subclassed model with no functional config" in message
    assert "`bnnstat summary --engine keras` may load it" in message
    assert "(try --engine keras)" not in message


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ([{"class_name": "Dense"}], "config.json holds a JSON list, not a model config object"),
        ("just a string", "config.json holds a JSON str, not a model config object"),
        ({"config": {"name": "m"}}, "config.json has no model class name and no layer list"),
    ],
)
def test_config_that_is_not_a_model_config_object_is_a_clear_error(tmp_path, config, words):
    path = tmp_path / "s.keras"
    _sequential_keras(path)
    _rewrite_archive(path, {"config.json": json.dumps(config)})
    with pytest.raises(BnnstatError) as info:
        read(path)
    assert str(info.value) == f"{path}: {words}" + (
        ": not a Keras model file" if "holds a JSON" in words else ": not a Keras model"
    )
    assert "'None'" not in str(info.value)


def _rewrite_archive(path: Path, replace: dict[str, str | None]) -> None:
    """Rewrite a zip archive with some members replaced (text) or dropped (None)."""
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    for name, text in replace.items():
        if text is None:
            del members[name]
        else:
            members[name] = text.encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)


def test_keras_archive_without_weights_member_is_an_error(tmp_path):
    """Not "zero weights": a summary or audit of it would pass any budget."""
    path = tmp_path / "noweights.keras"
    _sequential_keras(path)
    _rewrite_archive(path, {"model.weights.h5": None})
    with pytest.raises(BnnstatError) as info:
        read(path)
    assert str(info.value) == (
        f"{path}: .keras archive has no model.weights.h5: truncated or not saved by Keras?"
    )


def test_weightless_model_saved_by_keras_reads_with_zero_weights(tf, tmp_path):
    """Keras 3 writes model.weights.h5 (empty groups) even for a model without weights."""
    import keras

    path = tmp_path / "flat.keras"
    keras.Sequential([keras.Input((4, 2)), keras.layers.Flatten(name="flat")]).save(path)
    assert "model.weights.h5" in zipfile.ZipFile(path).namelist()
    record = read(path)
    assert [layer.name for layer in record.layers] == ["flat"]
    assert record.layers[0].weights == () and record.layers[0].output_shape == (None, 8)


# --- sniff -------------------------------------------------------------------------------------


def test_sniff_tells_model_files_by_content(tmp_path):
    from bnnstat.inspect.reader import model_file_kind, sniff

    keras_file = tmp_path / "model.h5"  # a zip archive, whatever its suffix says
    _sequential_keras(keras_file)
    with h5py.File(tmp_path / "plain.bin", "w") as handle:
        handle.attrs["x"] = 1
    with h5py.File(tmp_path / "userblock.h5", "w", userblock_size=1024) as handle:
        handle.attrs["x"] = 1
    assert sniff(keras_file) == "keras"
    assert sniff(str(tmp_path / "plain.bin")) == "h5"
    assert sniff(tmp_path / "userblock.h5") == "h5"
    (tmp_path / "log.csv").write_text("epoch,step\n")
    (tmp_path / "empty.h5").write_bytes(b"")
    assert model_file_kind(tmp_path / "log.csv") is None
    assert model_file_kind(tmp_path / "empty.h5") is None


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (
            lambda p: p.write_text("epoch,step\n"),
            "not a Keras model file (neither HDF5 nor a .keras zip archive)",
        ),
    ],
)
def test_sniff_messages_are_uniform_across_readers(tf, tmp_path, make, problem):
    """reader.read, sniff, loading.load_model and flips give the same one-line message."""
    from bnnstat import loading
    from bnnstat.inspect import flips
    from bnnstat.inspect.reader import sniff

    path = tmp_path / "model.keras"
    make(path)
    calls = {
        "sniff": lambda: sniff(path),
        "read": lambda: read(path),
        "load_model": lambda: loading.load_model(path),
        "flips.compare_checkpoints": lambda: flips.compare_checkpoints(path, path),
        "flips.bop_state": lambda: flips.bop_state(path),
    }
    for name, call in calls.items():
        with pytest.raises(BnnstatError) as info:
            call()
        assert str(info.value) == f"{path}: {problem}", name


def test_shared_layer_calls_resolving_out_of_order_keep_node_order(tmp_path):
    """Call 0 of `shared` waits for a layer listed after it; call 1 is ready first."""
    image = {
        "class_name": "InputLayer",
        "name": "image",
        "inbound_nodes": [],
        "config": {"batch_input_shape": [None, 4], "name": "image"},
    }
    early = _layer("Dense", "early", ["image"], units=8, use_bias=False)
    shared = _layer("Dense", "shared", [], units=2, use_bias=False)
    shared["inbound_nodes"] = [[["late", 0, 0, {}]], [["early", 0, 0, {}]]]
    late = _layer("RepeatVector", "late", ["early"], n=3)
    add = _layer("Flatten", "flat", [])
    add["inbound_nodes"] = [[["shared", 0, 0, {}]]]
    config = _functional("m", [image, early, shared, late, add], ["image"], ["flat"])
    weights = {"early": {"kernel": (4, 8)}, "shared": {"kernel": (8, 2)}}
    record = read(write_keras2_h5(tmp_path / "order.h5", config, weights))
    shared_record = record.layer("shared")
    assert shared_record.input_shapes == ((None, 3, 8), (None, 8))
    assert shared_record.output_shapes == ((None, 3, 2), (None, 2))
    assert shared_record.output_shape is None and "multiple" in shared_record.note
    assert record.layer("flat").output_shape == (None, 6)


# --- the build step's error boundary --------------------------------------------------------


def _small_functional(tmp_path, **dense_config):
    dense = _layer("Dense", "d", ["x"], units=2, **dense_config)
    inp = _layer("InputLayer", "x", [], batch_input_shape=[None, 3])
    config = _functional("m", [inp, dense], ["x"], ["d"])
    return write_keras2_h5(tmp_path / "m.h5", config, {"d": {"kernel": (3, 2)}})


def test_malformed_config_is_one_user_error(tmp_path):
    path = _small_functional(tmp_path)
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        config["config"]["layers"][1]["config"] = ["not", "an", "object"]
        handle.attrs["model_config"] = json.dumps(config)
    with pytest.raises(BnnstatError, match="unexpected model config structure"):
        read(path)
    bad_quantizer = _small_functional(tmp_path, kernel_quantizer={
        "class_name": "DoReFa", "config": {"k_bit": "two"}})  # fmt: skip
    with pytest.raises(BnnstatError, match="unexpected model config structure"):
        read(bad_quantizer)


def test_a_reader_bug_after_parsing_is_not_reported_as_bad_input(tmp_path, monkeypatch):
    """Only parsing reads the file's untrusted structure: an error in weight matching or shape
    evaluation is a bug in bnnstat and must surface as such."""
    from bnnstat.inspect.reader import build

    path = _small_functional(tmp_path)
    assert read(path).layer("d").weights[0].shape == (3, 2)

    def broken(model, input_shapes):
        raise TypeError("a bug in graph evaluation")

    monkeypatch.setattr(build, "evaluate", broken)
    with pytest.raises(TypeError, match="a bug in graph evaluation"):
        read(path)
