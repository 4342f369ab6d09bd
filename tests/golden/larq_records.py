"""Build `ModelRecord`s by hand from the Larq reference JSON (test helper, no file reader).

The reference JSON lists the weights Larq counts plus `all_weight_names`; the BatchNormalization
weights Larq drops (beta/gamma) are restored here with the shape of their partner, so the records
hold every weight, as a loader would produce them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bnnstat.inspect.records import LayerRecord, ModelRecord, WeightRecord

FIXTURE_NAMES = ("binarynet_mlp", "binary_cnn_cifar", "bop_noop_cnn", "ternary_kbit_conv1d")
PARTNERS = {"beta": "moving_mean", "gamma": "moving_variance"}


def load_reference(directory: Path, name: str) -> dict[str, Any]:
    return json.loads((directory / f"{name}.json").read_text())


def _short(name: str) -> str:
    return name.split("/")[-1].replace(":0", "")


def _weights(entry: dict[str, Any]) -> tuple[WeightRecord, ...]:
    counted = {_short(w["name"]): w for w in entry["weights"]}
    weights = []
    for full_name in entry["all_weight_names"]:
        short = _short(full_name)
        if short in counted:
            w = counted[short]
            precision = None if w["bitwidth"] == 32 else w["bitwidth"]
            weights.append(WeightRecord(short, tuple(w["shape"]), precision, w["trainable"]))
        else:
            partner = counted[PARTNERS[short]]
            weights.append(WeightRecord(short, tuple(partner["shape"]), None, True))
    return tuple(weights)


def _shape(shape: list[int] | None) -> tuple[int | None, ...] | None:
    if shape is None:
        return None
    return tuple(None if dim == -1 else dim for dim in shape)


def layer_record(entry: dict[str, Any]) -> LayerRecord:
    shape = _shape(entry["output_shape"])
    return LayerRecord(
        name=entry["name"],
        class_name=entry["class_name"],
        weights=_weights(entry),
        input_precision=entry["input_precision"],
        output_shape=shape,
        output_shapes=(shape,) if shape else (),
        layers=tuple(layer_record(sub) for sub in entry.get("layers") or ()),
    )


def model_record(reference: dict[str, Any]) -> ModelRecord:
    model = reference["model"]
    return ModelRecord(
        name=model["name"],
        class_name=model["model_class"],
        layers=tuple(layer_record(entry) for entry in model["layers"]),
        source=reference["file"]["name"],
    )
