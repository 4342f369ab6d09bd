"""Synthetic Keras 2 (Larq / TF <= 2.15) HDF5 model files for tests.

Keras 3 cannot write this format, so tests that need Larq-style files (``TFOpLambda`` layers,
``batch_input_shape``, model-subclass class names, nested-model weight groups) write the model
config JSON and the ``model_weights`` groups the way Keras 2.15 lays them out. Used by
`test_loading.py` and `test_engines_agree.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

Weights = dict[str, list[tuple[str, Any]]]


def write_keras2_h5(path: Path, model_config: dict[str, Any], weights: Weights | None = None):
    """A file laid out as Keras 2.15 writes it: model_config JSON + model_weights groups.

    Every entry of ``model.layers`` gets a group, in order (a Sequential model's InputLayer is
    not one of them); `weights` maps a layer name to ``[(weight name, array), ...]`` in saving
    order, each stored as ``LAYER/NAME:0``. Layers without weights get an empty group.
    """
    import h5py

    weights = weights or {}
    names = keras2_layer_names(model_config)
    unknown = set(weights) - set(names)
    if unknown:
        raise ValueError(f"weights for layers not in the config: {sorted(unknown)}")
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(model_config)
        handle.attrs["keras_version"] = "2.15.0"
        handle.attrs["backend"] = "tensorflow"
        group = handle.create_group("model_weights")
        group.attrs["layer_names"] = [n.encode() for n in names]
        group.attrs["keras_version"] = "2.15.0"
        group.attrs["backend"] = "tensorflow"
        for layer_name in names:
            sub = group.create_group(layer_name)
            arrays = weights.get(layer_name, [])
            full_names = [f"{layer_name}/{n}:0" for n, _ in arrays]
            sub.attrs["weight_names"] = [n.encode() for n in full_names]
            for full, (_, array) in zip(full_names, arrays, strict=True):
                sub.create_dataset(full, data=array)
    return path


def keras2_layer_names(model_config: dict[str, Any]) -> list[str]:
    """Names of ``model.layers`` in a Keras 2 model config, in order."""
    layers = model_config["config"]["layers"]
    if model_config["class_name"] == "Sequential":
        layers = [entry for entry in layers if entry["class_name"] != "InputLayer"]
    return [entry["config"]["name"] for entry in layers]


def input_layer(name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    return {
        "class_name": "InputLayer",
        "name": name,
        "inbound_nodes": [],
        "config": {
            "batch_input_shape": [None, *shape],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": name,
        },
    }


def node(layer: str, class_name: str, config: dict[str, Any], inbound: list) -> dict[str, Any]:
    """One functional-model layer entry; `inbound` is its Keras 2 ``inbound_nodes`` list."""
    return {
        "class_name": class_name,
        "name": layer,
        "config": {"name": layer, **config},
        "inbound_nodes": inbound,
    }


def functional(
    name: str, layers: list, inputs: list[str], outputs: list[str], class_name: str = "Functional"
) -> dict[str, Any]:
    return {
        "class_name": class_name,
        "config": {
            "name": name,
            "layers": layers,
            "input_layers": [[i, 0, 0] for i in inputs],
            "output_layers": [[o, 0, 0] for o in outputs],
        },
    }


def larq_quantizer(class_name: str, name: str, **config: Any) -> dict[str, Any]:
    """A Larq quantizer object as Keras 2.15 serializes it."""
    return {
        "module": "larq.quantizers",
        "class_name": class_name,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "registered_name": class_name,
    }


STE_SIGN = larq_quantizer("SteSign", "ste_sign", clip_value=1.0)


def residual_config(class_name: str = "Functional") -> dict[str, Any]:
    """Larq-Zoo-like block: a binary conv plus shortcut via tf.__operators__.add.

    Input (6, 6, 2); the only weight is ``qconv/kernel`` of shape (3, 3, 2, 2).
    """
    layers = [
        input_layer("x", (6, 6, 2)),
        node(
            "qconv",
            "larq>QuantConv2D",
            {
                "filters": 2,
                "kernel_size": [3, 3],
                "padding": "same",
                "pad_values": 1.0,
                "use_bias": False,
                "input_quantizer": STE_SIGN,
                "kernel_quantizer": {"class_name": "function", "config": "ste_sign"},
                "kernel_constraint": {
                    "module": "larq.constraints",
                    "class_name": "weight_clip",
                    "config": {"clip_value": 1},
                    "registered_name": "weight_clip",
                },
                "dtype": "float32",
                "groups": 1,
            },
            [[["x", 0, 0, {}]]],
        ),
        node(
            "tf.__operators__.add",
            "TFOpLambda",
            {"function": "__operators__.add", "trainable": True, "dtype": "float32"},
            [["qconv", 0, 0, {"y": ["x", 0, 0], "name": None}]],
        ),
        node(
            "gap",
            "GlobalAveragePooling2D",
            {"data_format": "channels_last"},
            [[["tf.__operators__.add", 0, 0, {}]]],
        ),
    ]
    return functional("zoo_block", layers, ["x"], ["gap"], class_name=class_name)


def group_conv_config() -> dict[str, Any]:
    """Larq-Zoo-style grouped convolution: tf.split -> two Conv2D -> tf.concat -> tf.nn.relu.

    Input (3, 3, 4) split into 1 + 3 channels; weights ``ca/kernel`` (1, 1, 1, 2) and
    ``cb/kernel`` (1, 1, 3, 2).
    """
    conv = {"filters": 2, "kernel_size": [1, 1], "use_bias": False}
    layers = [
        input_layer("x", (3, 3, 4)),
        node(
            "tf.split",
            "TFOpLambda",
            {"function": "split"},
            [["x", 0, 0, {"num_or_size_splits": [1, 3], "axis": -1, "name": None}]],
        ),
        node("ca", "Conv2D", conv, [[["tf.split", 0, 0, {}]]]),
        node("cb", "Conv2D", conv, [[["tf.split", 0, 1, {}]]]),
        node(
            "tf.concat",
            "TFOpLambda",
            {"function": "concat"},
            [[["ca", 0, 0, {"axis": -1, "name": None}], ["cb", 0, 0, {"axis": -1}]]],
        ),
        node(
            "tf.nn.relu",
            "TFOpLambda",
            {"function": "nn.relu"},
            [["tf.concat", 0, 0, {"name": None}]],
        ),
    ]
    return functional("groups", layers, ["x"], ["tf.nn.relu"])


def nested_sequential_config() -> dict[str, Any]:
    """A functional model whose only layer is a nested Sequential ``block`` (Dense, BN).

    Input (4,); the nested model's weights are saved in one group ``block`` as
    ``block/d1/kernel``, ``block/d1/bias``, ``block/bn/gamma`` ... (see `nested_weights`).
    """
    inner = {
        "class_name": "Sequential",
        "name": "block",
        "inbound_nodes": [[["x", 0, 0, {}]]],
        "config": {
            "name": "block",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "bi"},
                },
                {
                    "class_name": "Dense",
                    "config": {"name": "d1", "units": 3, "use_bias": True, "dtype": "float32"},
                },
                {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [1]}},
            ],
        },
    }
    return functional("outer", [input_layer("x", (4,)), inner], ["x"], ["block"])


def nested_weights(kernel, bias, gamma, beta, mean, var) -> Weights:
    return {
        "block": [
            ("d1/kernel", kernel),
            ("d1/bias", bias),
            ("bn/gamma", gamma),
            ("bn/beta", beta),
            ("bn/moving_mean", mean),
            ("bn/moving_variance", var),
        ]
    }


def random_nested_weights(seed: int = 0) -> Weights:
    rng = np.random.default_rng(seed)
    return nested_weights(
        rng.normal(size=(4, 3)),
        rng.normal(size=3),
        rng.normal(size=3),
        rng.normal(size=3),
        rng.normal(size=3),
        rng.uniform(1, 2, size=3),
    )
