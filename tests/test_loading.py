"""Loading Larq-saved Keras 2 HDF5 files (and Keras 3 files) into Keras 3 models."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from keras2_h5 import (
    functional,
    group_conv_config,
    input_layer,
    nested_sequential_config,
    nested_weights,
    node,
    residual_config,
    write_keras2_h5,
)

FIXTURES = ["binarynet_mlp", "binary_cnn_cifar", "bop_noop_cnn", "ternary_kbit_conv1d"]


def reference(larq_fixtures, name):
    return json.loads((larq_fixtures / f"{name}.json").read_text())["model"]


def saved_weights(path):
    """{layer name: [arrays in saved order]} read straight from the HDF5 file."""
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["model_weights"]
        result = {}
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            names = group[layer].attrs["weight_names"]
            result[layer] = [
                group[layer][n.decode() if isinstance(n, bytes) else n][()] for n in names
            ]
        return result


@pytest.fixture(scope="module")
def loaded(tf, larq_fixtures):
    from bnnstat import loading

    return {name: loading.load_model(larq_fixtures / f"{name}.h5") for name in FIXTURES}


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_structure_and_params_match_larq(loaded, larq_fixtures, name):
    model = loaded[name]
    ref = reference(larq_fixtures, name)
    keras_ref = ref["keras"]
    assert model.count_params() == keras_ref["count_params"]
    assert len(model.layers) == keras_ref["n_layers"]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == keras_ref["trainable_params"]
    assert list(model.input_shape) == keras_ref["input_shape"]
    assert list(model.output_shape) == keras_ref["output_shape"]
    rows = ref["layers"]  # one row per entry of model.layers (functional: with the Input)
    assert [layer.name for layer in model.layers] == [row["name"] for row in rows]
    for layer, row in zip(model.layers, rows, strict=True):
        assert type(layer).__name__ == row["class_name"]
        expected_shape = [None if d == -1 else d for d in row["output_shape"]]
        assert list(layer.output.shape) == expected_shape, layer.name


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_weights_and_precision_tags(loaded, larq_fixtures, name):
    model = loaded[name]
    path = larq_fixtures / f"{name}.h5"
    for layer_name, arrays in saved_weights(path).items():
        layer = model.get_layer(layer_name)
        assert len(layer.weights) == len(arrays)
        for variable, array in zip(layer.weights, arrays, strict=True):
            np.testing.assert_array_equal(variable.numpy(), array)
    for row in reference(larq_fixtures, name)["layers"]:
        if row["class_name"] == "InputLayer":
            continue
        variables = {f"{row['name']}/{v.name}": v for v in model.get_layer(row["name"]).weights}
        for weight in row["weights"]:
            variable = variables[
                weight["name"].split(":")[0].replace("depthwise_kernel", "kernel")
                if row["class_name"] == "QuantDepthwiseConv2D"
                else weight["name"].split(":")[0]
            ]
            tag = getattr(variable, "precision", None)
            assert tag == (weight["bitwidth"] if weight["is_quantized_variable"] else None)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_forward_pass_runs_and_file_is_untouched(loaded, larq_fixtures, name):
    model = loaded[name]
    x = np.random.default_rng(0).normal(size=(3, *model.input_shape[1:])).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (3, model.output_shape[-1]) and np.isfinite(y).all()
    if name != "ternary_kbit_conv1d":  # the others end in softmax
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    index = json.loads((larq_fixtures / "index.json").read_text())["fixtures"][name]
    assert (
        hashlib.sha256((larq_fixtures / f"{name}.h5").read_bytes()).hexdigest() == (index["sha256"])
    )


def test_binarynet_mlp_forward_equals_numpy_reference(loaded, larq_fixtures):
    """flatten -> [x @ sign(W1)] -> BN -> [sign(.) @ sign(W2)] -> BN -> ... -> softmax."""
    weights = saved_weights(larq_fixtures / "binarynet_mlp.h5")
    x = np.random.default_rng(1).normal(size=(4, 28, 28, 1)).astype("float32")
    h = x.reshape(4, -1).astype("float64")
    for i in (1, 2, 3):
        (kernel,) = weights[f"quant_dense_{i}"]
        beta, mean, var = weights[f"bn_{i}"]
        inputs = h if i == 1 else np.where(h >= 0, 1.0, -1.0)
        h = inputs @ np.where(kernel >= 0, 1.0, -1.0)
        h = (h - mean) / np.sqrt(var + 1e-3) + beta
    expected = np.exp(h - h.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        loaded["binarynet_mlp"].predict(x, verbose=0), expected, rtol=1e-4, atol=1e-6
    )


# -- synthetic Keras 2 files -------------------------------------------------------------------


def test_tfoplambda_add_and_zoo_subclass_translate(tf, tmp_path):
    from bnnstat import layers, loading

    kernel = np.random.default_rng(2).uniform(-1.5, 1.5, size=(3, 3, 2, 2)).astype("float32")
    path = write_keras2_h5(
        tmp_path / "zoo.h5",
        residual_config(class_name="QuickNetSmall"),
        {"qconv": [("kernel", kernel)]},
    )
    model = loading.load_model(path)
    assert model.name == "zoo_block"
    assert isinstance(model.get_layer("qconv"), layers.QuantConv2D)
    add = model.get_layer("tf.__operators__.add")
    assert isinstance(add, loading.TFOpLambda) and add.function == "__operators__.add"
    assert model.get_layer("qconv").kernel.precision == 1
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 2)).astype("float32")
    conv = model.get_layer("qconv")
    expected = np.mean(conv(x).numpy() + x, axis=(1, 2))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(conv.kernel.numpy(), kernel)


def test_tfoplambda_split_conv_concat_relu_and_keras_round_trip(tf, tmp_path):
    """tf.split -> two convs -> tf.concat -> tf.nn.relu, as Larq Zoo group convolutions do."""
    import keras

    from bnnstat import loading

    rng = np.random.default_rng(5)
    ka, kb = rng.normal(size=(1, 1, 1, 2)), rng.normal(size=(1, 1, 3, 2))
    path = write_keras2_h5(
        tmp_path / "groups.h5",
        group_conv_config(),
        {"ca": [("kernel", ka)], "cb": [("kernel", kb)]},
    )
    model = loading.load_model(path)
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "TFOpLambda", "Conv2D", "Conv2D", "TFOpLambda", "TFOpLambda",
    ]  # fmt: skip
    x = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    expected = np.maximum(np.concatenate([x[..., :1] @ ka[0, 0], x[..., 1:] @ kb[0, 0]], -1), 0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "groups.keras")
    again = keras.models.load_model(tmp_path / "groups.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_nested_sequential_inside_functional(tf, tmp_path):
    from bnnstat import loading

    config = nested_sequential_config()
    rng = np.random.default_rng(4)
    kernel, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
    gamma, beta, mean, var = (
        rng.normal(size=3),
        rng.normal(size=3),
        rng.normal(size=3),
        rng.uniform(1, 2, size=3),
    )
    weights = nested_weights(kernel, bias, gamma, beta, mean, var)
    model = loading.load_model(write_keras2_h5(tmp_path / "nested.h5", config, weights))
    x = rng.normal(size=(2, 4)).astype("float32")
    expected = (x @ kernel + bias - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def error_of(path, **kwargs):
    from bnnstat import loading
    from bnnstat.errors import BnnstatError

    with pytest.raises(BnnstatError) as info:
        loading.load_model(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_file_kind_comes_from_content_not_suffix(tf, tmp_path, larq_fixtures):
    """A Larq .h5 renamed .keras still loads; bad files get the shared sniff messages."""
    renamed = tmp_path / "binarynet_mlp.keras"
    renamed.write_bytes((larq_fixtures / "binarynet_mlp.h5").read_bytes())
    from bnnstat import loading

    assert loading.load_model(renamed).name
    (tmp_path / "notes.h5").write_text("hello")
    assert error_of(tmp_path / "notes.h5").endswith(
        ": not a Keras model file (neither HDF5 nor a .keras zip archive)"
    )
    (tmp_path / "empty.keras").write_bytes(b"")
    assert error_of(tmp_path / "empty.keras").endswith(": empty file")
    assert error_of(tmp_path / "missing.h5").endswith(": file not found")
    assert error_of(tmp_path).endswith(": not a regular file")


def test_unknown_layer_class_is_a_one_line_error(tf, tmp_path):
    layers = [input_layer("x", (4,)), node("mystery", "MyCustomLayer", {}, [[["x", 0, 0, {}]]])]
    path = write_keras2_h5(tmp_path / "unknown.h5", functional("m", layers, ["x"], ["mystery"]))
    message = error_of(path)
    assert "'mystery'" in message and "MyCustomLayer" in message


def test_untranslatable_op_and_argument_errors(tf, tmp_path):
    layers = [
        input_layer("x", (4,)),
        node("tf.einsum", "TFOpLambda", {"function": "einsum"}, [[["x", 0, 0, {}]]]),
    ]
    path = write_keras2_h5(tmp_path / "op.h5", functional("m", layers, ["x"], ["tf.einsum"]))
    assert "tf.einsum" in error_of(path)
    layers = [
        input_layer("x", (4,)),
        node("d", "Dense", {"units": 2, "fancy_option": True}, [[["x", 0, 0, {}]]]),
    ]
    path = write_keras2_h5(tmp_path / "arg.h5", functional("m", layers, ["x"], ["d"]))
    assert "fancy_option" in error_of(path)


def test_lambda_refused_in_safe_mode(tf, tmp_path):
    layers = [
        input_layer("x", (4,)),
        node(
            "lam",
            "Lambda",
            {
                "function": ["4wEAAAAAAAAA", None, None],
                "function_type": "lambda",
                "module": "__main__",
                "output_shape": None,
                "arguments": {},
            },
            [[["x", 0, 0, {}]]],
        ),
    ]
    path = write_keras2_h5(tmp_path / "lambda.h5", functional("m", layers, ["x"], ["lam"]))
    before = path.read_bytes()
    assert "safe_mode" in error_of(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"hello, not a model", b"\x89HDF\r\n\x1a\n" + b"\0" * 20])
def test_not_a_model_file(tf, tmp_path, content):
    path = tmp_path / "bad.h5"
    path.write_bytes(content)
    error_of(path)


def test_missing_and_weights_only_files(tf, tmp_path):
    import h5py

    error_of(tmp_path / "missing.h5")
    path = tmp_path / "weights_only.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("model_weights")
    assert "no model config" in error_of(path)


def test_truncated_fixture(tf, tmp_path, larq_fixtures):
    path = tmp_path / "truncated.h5"
    path.write_bytes((larq_fixtures / "binarynet_mlp.h5").read_bytes()[:4096])
    error_of(path)


def test_keras3_files_load_through_keras(tf, tmp_path):
    import keras

    from bnnstat import layers, loading

    model = keras.Sequential(
        [
            keras.Input((5,)),
            layers.QuantDense(
                2,
                input_quantizer="ste_sign",
                kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip",
            ),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 5)), np.ones((4, 2)), verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = loading.load_model(tmp_path / "m.keras", compile=True)
    assert reloaded.optimizer is not None and int(reloaded.optimizer.iterations) == 1
    assert reloaded.layers[0].kernel.precision == 1
    bad = tmp_path / "broken.keras"
    bad.write_bytes((tmp_path / "m.keras").read_bytes()[:200])
    error_of(bad)


def test_lambda_loads_only_with_safe_mode_false(tf, tmp_path):
    from keras.src.utils import python_utils

    from bnnstat import loading

    code = python_utils.func_dump(lambda t: t * 2.0)
    layers = [
        input_layer("x", (4,)),
        node(
            "lam",
            "Lambda",
            {
                "function": list(code),
                "function_type": "lambda",
                "module": "__main__",
                "output_shape": None,
                "output_shape_type": "raw",
                "arguments": {},
            },
            [[["x", 0, 0, {}]]],
        ),
    ]
    path = write_keras2_h5(tmp_path / "lambda_ok.h5", functional("m", layers, ["x"], ["lam"]))
    assert "safe_mode" in error_of(path)
    model = loading.load_model(path, safe_mode=False)
    np.testing.assert_allclose(model.predict(np.ones((1, 4)), verbose=0), 2.0 * np.ones((1, 4)))
