"""Weight matching: attach the weight shapes saved in a file to the layers of a parsed config.

Keras 2 (and Keras 3's legacy HDF5 saver) store weights by layer name with full variable names
(`conv/kernel:0`; a nested model's as `inner_layer/kernel:0` under the nested model's group).
Keras 3 `.keras` archives store them under `layers/<snake_case(class)>[_N]/vars/<i>`, numbered
in creation order, so each layer class's creation order of variables names them here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bnnstat.inspect.catalog import weight_names, weight_role
from bnnstat.inspect.reader.container import Weights
from bnnstat.inspect.reader.keras_config import Layer, ModelConfig
from bnnstat.inspect.records import WeightRecord


def short_name(weight_name: str) -> str:
    """`"model/conv/kernel:0"` -> `"kernel"`."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def owned_name(weight_name: str) -> str:
    """`"block/conv/kernel:0"` -> `"conv/kernel"`: a nested model's weight, keyed by the layer
    inside it that owns the weight (Keras 2 saves a nested model's weights together)."""
    return "/".join(weight_name.split(":", 1)[0].split("/")[-2:])


def snake_case(name: str) -> str:
    """Keras' rule for the path of a layer in a `.keras` weights file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_weight_names(class_name: str, config: Mapping[str, Any], count: int) -> list[str]:
    """Names of a Keras 3 layer's variables in creation order (the `.keras` file numbers them).

    Unknown classes, or a count that does not fit, give `variable_0`, `variable_1`, ...
    """
    names = weight_names(class_name, config)
    if names is None or len(names) != count:
        names = [f"variable_{i}" for i in range(count)]
    return names


def attach_legacy_weights(
    model: ModelConfig, table: Mapping[str, list[tuple[str, tuple[int, ...]]]]
) -> None:
    """Weights of a Keras 2 / legacy-h5 file, `{layer name: [(full name, shape), ...]}`."""
    for layer in model.layers:
        if not model.sequential and table and layer.name not in table:
            layer.operation = True  # a Keras 3 op saved without its module (legacy h5)
    for layer in model.model_layers:
        entries = table.get(layer.name, [])
        if layer.model is not None:
            _attach_nested_legacy(layer.model, entries)
        else:
            layer.weights = weight_records(model, layer, entries)


def _descendants(model: ModelConfig) -> dict[str, tuple[ModelConfig, Layer]]:
    found: dict[str, tuple[ModelConfig, Layer]] = {}
    for layer in model.model_layers:
        if layer.model is not None:
            found.update(_descendants(layer.model))
        else:
            found[layer.name] = (model, layer)
    return found


def _attach_nested_legacy(model: ModelConfig, entries: list[tuple[str, tuple[int, ...]]]) -> None:
    """Weights of a nested model are saved together, as `inner_layer/kernel[:0]`."""
    owners = _descendants(model)
    grouped: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    unmatched: list[str] = []
    for weight_name, shape in entries:
        parts = weight_name.split("/")[:-1]
        owner = next((p for p in reversed(parts) if p in owners), None)
        if owner is None:
            unmatched.append(weight_name)
            owner = next(iter(owners), None)
            if owner is None:
                continue
        grouped.setdefault(owner, []).append((weight_name, shape))
    for owner, items in grouped.items():
        inner, layer = owners[owner]
        layer.weights = weight_records(inner, layer, items)
    if unmatched:
        model.context.notes.append(
            f"nested model '{model.name}': weights {unmatched} could not be matched to a layer "
            "by name; they are counted on its first layer"
        )


def attach_keras3_weights(model: ModelConfig, node: Weights) -> None:
    """Match each layer to its group `layers/<snake_case(class)>[_N]` of the weights file.

    Keras numbers groups per class in `model.layers` order. When that does not fit (a
    renamed class, a layer missing from the file), fall back to the layer name Keras stores
    on each `vars` group.
    """
    by_path = _keras3_paths(model, node)
    if by_path is None:
        by_name = {c.saved_name: c for c in node.children.values()}
        by_path = {layer.name: by_name.get(layer.name) for layer in model.model_layers}
    for layer in model.model_layers:
        child = by_path.get(layer.name)
        if child is None:
            continue
        if layer.model is not None:
            attach_keras3_weights(layer.model, child)
            continue
        numbered = [(k, shape) for k, shape in child.items if k.isdigit()]
        names = keras3_weight_names(layer.class_name, layer.config, len(numbered))
        items = list(zip(names, (shape for _, shape in numbered), strict=True))
        items += [(k, shape) for k, shape in child.items if not k.isdigit()]
        layer.weights = weight_records(model, layer, items, legacy=False)


def _keras3_paths(model: ModelConfig, node: Weights) -> dict[str, Weights | None] | None:
    used: dict[str, int] = {}
    found: dict[str, Weights | None] = {}
    for layer in model.model_layers:
        key = snake_case(layer.class_name)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        child = node.children.get(key)
        if child is None and node.children:
            return None
        if child is not None and layer.model is None:
            numbered = [k for k, _ in child.items if k.isdigit()]
            expected = weight_names(layer.class_name, layer.config)
            if expected is not None and len(expected) != len(numbered):
                return None  # the group's variables do not fit this layer class
        found[layer.name] = child
    return found


def weight_records(
    model: ModelConfig,
    layer: Layer,
    items: Iterable[tuple[str, tuple[int, ...]]],
    legacy: bool = True,
) -> tuple[WeightRecord, ...]:
    """`WeightRecord`s of `layer` from its saved `(name, shape)` items, tagged with precision."""
    layer_trainable = model.trainable and layer.config.get("trainable", True) is not False
    records = []
    for full_name, shape in items:
        name = short_name(full_name) if legacy else full_name
        role = weight_role(layer.class_name, name)
        if role is not None:
            # Keras 2 and 3 may name a weight differently (a DepthwiseConv kernel): records use
            # the Keras 3 name so both engines (and both file generations) agree.
            name = role.name
        quantizer = layer.quantizers.get(role.quantizer) if role and role.quantizer else None
        non_trainable = role is not None and not role.trainable
        records.append(
            WeightRecord(
                name=name,
                shape=tuple(shape),
                precision=quantizer.precision if quantizer else None,
                trainable=layer_trainable and not non_trainable,
            )
        )
    return tuple(records)
