"""The two `bnnstat summary` engines give identical JSON for the same file.

`static` reads the file with h5py/zipfile/json (`bnnstat.inspect.reader.read`); `keras`
loads it with `bnnstat.loading.load_model` and records the live model
(`bnnstat.inspect.keras_adapter.record`). Both go through the same profile and JSON report, so
any difference is a difference in what the two engines read from the file.

Models: every file in ``sample_models/``, the four Larq reference fixtures, and this project's
own test models generated into a temporary directory at test time: Keras 3 models built with
bnnstat's layers (every Quant layer type, nested functional and Sequential sub-models, a shared
layer, channels_first, a quantizer used as an activation, Add/Concatenate), each saved as
``.keras`` and as Keras 3 ``.h5``, and Keras 2 (Larq-style) ``.h5`` files written by
`keras2_h5` (``TFOpLambda`` add, a zoo model subclass, a nested Sequential, channels_first,
a shared layer).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import LARQ_FIXTURES, REPO, SAMPLE_MODELS, TEST_DATA
from keras2_h5 import (
    STE_SIGN,
    functional,
    group_conv_config,
    input_layer,
    larq_quantizer,
    nested_sequential_config,
    node,
    random_nested_weights,
    residual_config,
    write_keras2_h5,
)

LARQ_NAMES = ("binarynet_mlp", "binary_cnn_cifar", "bop_noop_cnn", "ternary_kbit_conv1d")
SAMPLE_FILES = sorted(p.name for p in SAMPLE_MODELS.glob("*") if p.suffix in (".h5", ".keras"))


# --- comparing the two engines ----------------------------------------------------------------


def static_json(path: Path) -> dict[str, Any]:
    from bnnstat.inspect import profile, reader, serialize

    return serialize.to_json(profile.profile(reader.read(path)))


def keras_json(path: Path) -> dict[str, Any]:
    from bnnstat.inspect import keras_adapter, profile, serialize
    from bnnstat.loading import load

    loaded = load(path)
    record = keras_adapter.record(loaded.model, loaded.saved_class_name)
    return serialize.to_json(profile.profile(record))


def differences(static: Any, loaded: Any, where: str = "") -> list[str]:
    """Every place the two JSON values differ, as ``path: static != keras`` lines."""
    if isinstance(static, dict) and isinstance(loaded, dict):
        found = []
        for key in sorted(set(static) | set(loaded), key=str):
            if key not in loaded or key not in static:
                side = "keras" if key not in loaded else "static"
                found.append(f"{where}/{key}: missing in {side}")
            else:
                found += differences(static[key], loaded[key], f"{where}/{key}")
        return found
    if isinstance(static, list) and isinstance(loaded, list) and len(static) == len(loaded):
        found = []
        for i, (a, b) in enumerate(zip(static, loaded, strict=True)):
            label = a.get("name", i) if isinstance(a, dict) else i
            found += differences(a, b, f"{where}[{label}]")
        return found
    if type(static) is not type(loaded) or static != loaded:
        return [f"{where}: static {static!r} != keras {loaded!r}"]
    return []


def engine_differences(path: Path) -> list[str]:
    """Library-level comparison. The keras engine's record has no file behind it, so its
    `source` is "<in-memory>"; the CLI tests check `source`."""
    static = static_json(path)
    loaded = keras_json(path)
    assert static.pop("source") == str(path)
    loaded.pop("source")
    return differences(static, loaded)


def assert_engines_agree(path: Path) -> None:
    """Identical JSON from both engines."""
    assert engine_differences(path) == []


# --- Keras 3 test models (bnnstat layers) ----------------------------------------------------


def every_quant_2d(keras, lq) -> Any:
    """Functional 2-D model: every 2-D Quant layer, quantizer as activation, Add, Concatenate."""
    q = lq.quantizers
    inp = keras.Input((12, 12, 3), name="image")
    a = lq.layers.QuantConv2D(
        8,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        name="qconv",
    )(inp)
    b = keras.layers.BatchNormalization(name="bn")(a)
    c = keras.layers.Activation("ste_sign", name="sign_act")(b)
    d = lq.layers.QuantDepthwiseConv2D(
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="approx_sign",
        depthwise_quantizer="ste_sign",
        depthwise_constraint="weight_clip",
        name="qdw",
    )(c)
    e = keras.layers.Add(name="add")([c, d])
    f = lq.layers.QuantSeparableConv2D(
        8,
        3,
        padding="same",
        input_quantizer=q.SwishSign(),
        depthwise_quantizer=q.MagnitudeAwareSign(),
        pointwise_quantizer=q.DoReFa(2, "weights"),
        name="qsep",
    )(e)
    g = lq.layers.QuantConv2DTranspose(
        4, 2, strides=2, input_quantizer="ste_tern", kernel_quantizer="ste_tern", name="qconvT"
    )(f)
    h = keras.layers.MaxPooling2D(2, name="pool")(g)
    i = keras.layers.Concatenate(name="cat")([f, h])
    j = lq.layers.QuantLocallyConnected2D(
        4, 3, input_quantizer="ste_heaviside", kernel_quantizer="ste_sign", name="qlc"
    )(i)
    k = keras.layers.GlobalAveragePooling2D(name="gap")(j)
    out = lq.layers.QuantDense(
        10, input_quantizer=q.DoReFa(4), kernel_quantizer=q.NoOp(precision=1), name="qdense"
    )(k)
    return keras.Model(inp, out, name="every_quant_2d")


def every_quant_1d_sequential(keras, lq) -> Any:
    """Sequential 1-D model: QuantConv1D, QuantSeparableConv1D, QuantLocallyConnected1D."""
    return keras.Sequential(
        [
            keras.Input((24, 4)),
            lq.layers.QuantConv1D(
                8, 3, padding="same", pad_values=1.0, kernel_quantizer="ste_tern", name="qc1"
            ),
            lq.layers.QuantSeparableConv1D(
                8,
                3,
                input_quantizer="ste_sign",
                depthwise_quantizer="ste_sign",
                pointwise_quantizer="ste_sign",
                name="qsep1",
            ),
            keras.layers.AveragePooling1D(2, name="avg"),
            lq.layers.QuantLocallyConnected1D(
                4, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="qlc1"
            ),
            lq.layers.QuantConv1DTranspose(
                4, 3, strides=2, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                name="qc1T",
            ),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dropout(0.2, name="drop"),
            lq.layers.QuantDense(3, input_quantizer="ste_sign", kernel_quantizer="ste_sign"),
        ],
        name="every_quant_1d",
    )


def every_quant_3d_sequential(keras, lq) -> Any:
    return keras.Sequential(
        [
            keras.Input((6, 6, 6, 2)),
            lq.layers.QuantConv3D(
                4, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="qc3"
            ),
            lq.layers.QuantConv3DTranspose(
                2,
                2,
                strides=2,
                input_quantizer="ste_sign",
                kernel_quantizer="ste_sign",
                name="qc3T",
            ),
            keras.layers.GlobalAveragePooling3D(name="gap3"),
            keras.layers.Dense(2, name="head"),
        ],
        name="every_quant_3d",
    )


def channels_first(keras, lq) -> Any:
    fmt = {"data_format": "channels_first"}
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign"}
    inp = keras.Input((3, 10, 10), name="chw")
    x = lq.layers.QuantConv2D(6, 3, padding="same", pad_values=1.0, name="qc", **fmt, **binary)(inp)
    x = keras.layers.BatchNormalization(axis=1, name="bn_cf")(x)
    x = lq.layers.QuantDepthwiseConv2D(
        3, input_quantizer="ste_sign", depthwise_quantizer="ste_sign", name="qdw_cf", **fmt
    )(x)
    x = lq.layers.QuantSeparableConv2D(
        4,
        3,
        padding="same",
        input_quantizer="ste_sign",
        depthwise_quantizer="ste_sign",
        pointwise_quantizer="ste_sign",
        name="qsep_cf",
        **fmt,
    )(x)
    x = keras.layers.MaxPooling2D(2, name="pool_cf", **fmt)(x)
    x = lq.layers.QuantConv2DTranspose(2, 2, strides=2, name="qT_cf", **fmt, **binary)(x)
    x = keras.layers.Flatten(name="flat_cf")(x)
    out = lq.layers.QuantDense(5, name="qd", **binary)(x)
    return keras.Model(inp, out, name="channels_first")


def nested_shared(keras, lq) -> Any:
    """Nested functional (itself holding a nested Sequential), a shared QuantDense, Add,
    Concatenate."""
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign"}
    head = keras.Sequential(
        [
            keras.Input((6,)),
            lq.layers.QuantDense(6, name="head_dense", **binary),
            keras.layers.ReLU(name="relu"),
        ],
        name="head",
    )
    inner_in = keras.Input((8, 8, 4), name="inner_in")
    y = lq.layers.QuantConv2D(5, 3, padding="same", name="inner_qconv", **binary)(inner_in)
    y = keras.layers.BatchNormalization(scale=False, name="inner_bn")(y)
    y = keras.layers.GlobalAveragePooling2D(name="inner_gap")(y)
    y = keras.layers.Dense(6, name="inner_dense")(y)
    inner = keras.Model(inner_in, head(y), name="inner")
    inp = keras.Input((8, 8, 3), name="img")
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    x = inner(x)
    shared = lq.layers.QuantDense(6, name="shared", **binary)
    a = shared(x)
    b = shared(keras.layers.Activation("ste_sign", name="act")(x))
    out = keras.layers.Concatenate(name="cat")([keras.layers.Add(name="add")([a, b]), x])
    return keras.Model(inp, out, name="nested_shared")


def plain_sequential(keras, lq) -> Any:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, name="c"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dropout(0.1, name="d"),
            keras.layers.Dense(10, name="out"),
        ],
        name="plain_sequential",
    )


KERAS3_BUILDERS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        every_quant_2d,
        every_quant_1d_sequential,
        every_quant_3d_sequential,
        channels_first,
        nested_shared,
        plain_sequential,
    )
}


# --- Keras 2 (Larq-style) test files -----------------------------------------------------------


def _random(*shape: int) -> np.ndarray:
    return np.random.default_rng(len(shape)).normal(size=shape).astype("float32")


def keras2_residual_zoo(path: Path) -> Path:
    """Zoo model subclass name, binary conv, shortcut through TFOpLambda tf.__operators__.add."""
    config = residual_config(class_name="QuickNetSmall")
    return write_keras2_h5(path, config, {"qconv": [("kernel", _random(3, 3, 2, 2))]})


def keras2_split_concat(path: Path) -> Path:
    """Grouped convolution through TFOpLambda tf.split / tf.concat / tf.nn.relu."""
    weights = {"ca": [("kernel", _random(1, 1, 1, 2))], "cb": [("kernel", _random(1, 1, 3, 2))]}
    return write_keras2_h5(path, group_conv_config(), weights)


def keras2_nested_sequential(path: Path) -> Path:
    return write_keras2_h5(path, nested_sequential_config(), random_nested_weights())


def keras2_channels_first_sequential(path: Path) -> Path:
    """Larq-style Keras 2 Sequential: channels_first QuantConv2D, a quantizer as activation,
    a DoReFa input quantizer and a plain-function kernel quantizer."""
    dorefa = larq_quantizer("DoReFa", "do_re_fa", k_bit=2, mode="activations")
    layers = [
        {
            "class_name": "InputLayer",
            "config": {"batch_input_shape": [None, 2, 8, 8], "dtype": "float32", "name": "in"},
        },
        {
            "class_name": "QuantConv2D",
            "config": {
                "name": "qconv_cf",
                "filters": 4,
                "kernel_size": [3, 3],
                "padding": "same",
                "data_format": "channels_first",
                "use_bias": True,
                "pad_values": 1.0,
                "input_quantizer": dorefa,
                "kernel_quantizer": {"class_name": "function", "config": "ste_sign"},
                "dtype": "float32",
            },
        },
        {"class_name": "Activation", "config": {"name": "sign", "activation": "ste_sign"}},
        {
            "class_name": "MaxPooling2D",
            "config": {"name": "pool", "pool_size": [2, 2], "data_format": "channels_first"},
        },
        {"class_name": "Flatten", "config": {"name": "flat", "data_format": "channels_first"}},
        {
            "class_name": "QuantDense",
            "config": {
                "name": "qdense",
                "units": 3,
                "use_bias": False,
                "input_quantizer": STE_SIGN,
                "kernel_quantizer": STE_SIGN,
            },
        },
    ]
    config = {"class_name": "Sequential", "config": {"name": "k2_channels_first", "layers": layers}}
    weights = {
        "qconv_cf": [("kernel", _random(3, 3, 2, 4)), ("bias", _random(4))],
        "qdense": [("kernel", _random(64, 3))],
    }
    return write_keras2_h5(path, config, weights)


def keras2_shared_concat(path: Path) -> Path:
    """Keras 2 functional graph with a layer called twice (two inbound nodes) and a
    Concatenate reading the shared layer's second node."""
    layers = [
        input_layer("a", (5,)),
        input_layer("b", (5,)),
        node(
            "shared",
            "QuantDense",
            {"units": 4, "input_quantizer": STE_SIGN, "kernel_quantizer": STE_SIGN},
            [[["a", 0, 0, {}]], [["b", 0, 0, {}]]],
        ),
        node("cat", "Concatenate", {"axis": -1}, [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]]),
        node("out", "Dense", {"units": 2}, [[["cat", 0, 0, {}]]]),
    ]
    config = functional("k2_shared", layers, ["a", "b"], ["out"])
    weights = {
        "shared": [("kernel", _random(5, 4)), ("bias", _random(4))],
        "out": [("kernel", _random(8, 2)), ("bias", _random(2))],
    }
    return write_keras2_h5(path, config, weights)


KERAS2_WRITERS: dict[str, Callable[[Path], Path]] = {
    f.__name__: f
    for f in (
        keras2_residual_zoo,
        keras2_split_concat,
        keras2_nested_sequential,
        keras2_channels_first_sequential,
        keras2_shared_concat,
    )
}


@pytest.fixture(scope="module")
def generated(tf, tmp_path_factory) -> dict[str, Path]:
    """Every project test model, written once per module: ``name.keras``, ``name.h5``
    (Keras 3) and the Keras 2 files."""
    import keras

    import bnnstat as lq

    folder = tmp_path_factory.mktemp("engine_models")
    files = {}
    for name, builder in KERAS3_BUILDERS.items():
        model = builder(keras, lq)
        for suffix in (".keras", ".h5"):
            files[name + suffix] = folder / f"{name}{suffix}"
            model.save(files[name + suffix])
    for name, writer in KERAS2_WRITERS.items():
        files[name] = writer(folder / f"{name}.h5")
    return files


# --- the tests ---------------------------------------------------------------------------------


def test_the_model_sets_are_not_empty():
    assert SAMPLE_FILES, f"no .h5/.keras files in {SAMPLE_MODELS}"
    assert all((LARQ_FIXTURES / f"{name}.h5").is_file() for name in LARQ_NAMES)


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_models(tf, name):
    assert_engines_agree(SAMPLE_MODELS / name)


@pytest.mark.parametrize("name", LARQ_NAMES)
def test_larq_fixtures(tf, name):
    path = LARQ_FIXTURES / f"{name}.h5"
    assert_engines_agree(path)
    reference = json.loads((LARQ_FIXTURES / f"{name}.json").read_text())["model"]["totals"]
    totals = static_json(path)["totals"]
    assert totals["params"] == reference["params_total"]
    assert totals["memory_bits"] == reference["memory_bits"]
    assert totals["macs_by_precision"] == reference["macs_by_precision"]


def test_larq_nested_sequential_and_shared_layer(tf):
    """Larq-saved (Keras 2): a nested Sequential whose calls Keras 2 numbers from 1, and a layer
    shared between inputs of different shapes (tests/data/larq_zoo/README.md)."""
    path = TEST_DATA / "larq_zoo" / "nested_shared.h5"
    assert_engines_agree(path)
    # Larq 0.14's own summary of this file: 876 (the nested BatchNormalization's beta and gamma
    # are fused; Keras counts 892)
    assert static_json(path)["totals"]["params"] == 876


@pytest.mark.parametrize(
    "name", [f"{n}{s}" for n in KERAS3_BUILDERS for s in (".keras", ".h5")] + list(KERAS2_WRITERS)
)
def test_project_models(generated, name):
    assert_engines_agree(generated[name])


def test_project_models_cover_every_quant_layer_and_the_graph_features(generated):
    from bnnstat import layers
    from bnnstat.inspect.reader import read

    records = [read(path) for path in generated.values()]
    classes = {layer.class_name for record in records for layer in record.walk()}
    assert set(layers.__all__) <= classes
    assert {"Add", "Concatenate", "TFOpLambda", "Sequential", "Functional"} <= classes
    layers_by_name = {layer.name: layer for record in records for layer in record.walk()}
    assert layers_by_name["shared"].call_count == 2
    assert layers_by_name["sign_act"].quantizers["activation"].precision == 1
    assert layers_by_name["qc"].config["data_format"] == "channels_first"


# --- through the CLI, in real subprocesses -----------------------------------------------------


def cli_json(path: Path, engine: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bnnstat", "summary", str(path), "--format", "json"]
    process = subprocess.run(
        [*command, "--engine", engine], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert process.returncode == 0, process.stderr[-2000:]
    return json.loads(process.stdout)


CLI_CASES = {"larq": LARQ_FIXTURES / "binary_cnn_cifar.h5", "quant": "every_quant_2d.keras"}


@pytest.fixture(scope="module")
def cli_outputs(generated) -> dict[str, dict[str, Any]]:
    """`bnnstat summary FILE --format json` by both engines, on a Larq fixture and on a Keras 3
    model with every 2-D Quant layer (one Keras process each: TensorFlow import is slow)."""
    outputs = {}
    for case, path in CLI_CASES.items():
        path = generated[path] if isinstance(path, str) else path
        outputs[case] = {engine: cli_json(path, engine) for engine in ("static", "keras")}
        outputs[case]["path"] = str(path)
    return outputs


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_engines_agree(cli_outputs, case):
    static, loaded = dict(cli_outputs[case]["static"]), dict(cli_outputs[case]["keras"])
    assert static.pop("source") == cli_outputs[case]["path"]
    loaded.pop("source")
    assert differences(static, loaded) == []
    assert static == loaded


def test_cli_engines_report_the_same_source(cli_outputs):
    assert cli_outputs["larq"]["keras"]["source"] == cli_outputs["larq"]["static"]["source"]
