"""Layer records: what the inspector knows about a model, as plain frozen dataclasses.

Records hold facts read from a model (names, classes, shapes, weight shapes, precision tags,
graph edges), never derived numbers: those are computed by `bnnstat.inspect.profile`.
Shapes include the batch dimension, with `None` for unknown sizes (the batch is always `None`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class QuantizerRecord:
    """A quantizer as configured on a layer.

    `name` is the quantizer's class name (`"SteSign"`) or function name (`"ste_sign"`,
    `"xnor_weight_scale"`) without any `package>` prefix; `precision` its bit width, or None when
    nothing tells it (a plain function without a known tag); `note` says why when it was guessed.
    """

    name: str
    precision: int | None
    config: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True)
class WeightRecord:
    """One weight variable of a layer.

    `name` is the short variable name (`"kernel"`, `"bias"`, `"depthwise_kernel"`,
    `"moving_mean"`, ...), with no layer path and no `:0`. `precision` is the bit-width tag the
    weight carries (from its layer's quantizer), or None for an untagged (32-bit) weight.
    """

    name: str
    shape: tuple[int, ...]
    precision: int | None = None
    trainable: bool = True

    @property
    def count(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class LayerRecord:
    """One entry of `model.layers` (a nested model is one record with its own `layers`).

    - `class_name`: without a `package>` prefix (`"QuantConv2D"`, `"Functional"`, `"TFOpLambda"`).
    - `config`: the layer's config as saved (Keras 2 or 3 keys); rules read e.g. `data_format`,
      `strides`, `pad_values` from it. Never contains executable code that anyone runs.
    - `quantizers`: `{"input_quantizer": QuantizerRecord, "kernel_quantizer": ...}` for the
      quantizer arguments that are set (absent or None ones are left out); a quantizer used as
      `activation` is stored under `"activation"`.
    - `input_precision`: bit width of the input quantizer, None when the layer has none.
    - `input_shapes`/`output_shape`: per call; `output_shape` is None when unknown or when calls
      disagree ("multiple"); `output_shapes` lists every call's output shape.
    - `inbound`: names of the layers whose outputs feed this one (over all calls, in order,
      without duplicates); the model's inputs for the first layer of a Sequential are `()`.
    - `call_count`: how many times the layer is called in the graph (a shared layer: > 1).
    - `note`: why something could not be known (e.g. "shape unknown: Lambda layer not executed").
    - `shape_assumed`: True when the output shape rests on an assumption (e.g. after a Lambda).
    """

    name: str
    class_name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    weights: tuple[WeightRecord, ...] = ()
    quantizers: Mapping[str, QuantizerRecord] = field(default_factory=dict)
    input_precision: int | None = None
    input_shapes: tuple[Shape, ...] = ()
    output_shape: Shape | None = None
    output_shapes: tuple[Shape, ...] = ()
    inbound: tuple[str, ...] = ()
    call_count: int = 1
    note: str | None = None
    shape_assumed: bool = False
    layers: tuple[LayerRecord, ...] = ()

    @property
    def is_nested_model(self) -> bool:
        return bool(self.layers)

    def weight(self, name: str) -> WeightRecord | None:
        return next((w for w in self.weights if w.name == name), None)

    def quantizer(self, argument: str) -> QuantizerRecord | None:
        return self.quantizers.get(argument)


@dataclass(frozen=True)
class ModelRecord:
    """A whole model: its layers in `model.layers` order, plus where it came from."""

    name: str
    class_name: str
    layers: tuple[LayerRecord, ...]
    source: str = "<in-memory>"
    input_shapes: tuple[Shape, ...] = ()
    output_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def layer(self, name: str) -> LayerRecord:
        for record in self.layers:
            if record.name == name:
                return record
        raise KeyError(name)

    def walk(self) -> Iterator[LayerRecord]:
        """Every layer, depth first, nested models' layers after the nested model itself."""
        stack = list(reversed(self.layers))
        while stack:
            record = stack.pop()
            yield record
            stack.extend(reversed(record.layers))

    def outbound(self, name: str) -> tuple[str, ...]:
        """Names of the top-level layers that consume the output of layer `name`."""
        return tuple(r.name for r in self.layers if name in r.inbound)
