"""Keras 2/3 config parsing: the layer graph of a saved model config, and its quantizers.

Keras 2 (Larq, TF <= 2.15) and Keras 3 configs differ in how a call's inputs are written
(`[name, node, tensor, kwargs]` lists vs `__keras_tensor__` objects carrying the recorded shape);
both are parsed into the same `ModelConfig`: layers, their calls (inputs and keyword arguments),
and the model's inputs and outputs. Nested models are parsed recursively. Nothing here reads a
file or evaluates anything.

Quantizer precision: Larq/bnnstat quantizer classes (1-bit sign quantizers, `SteTern` = 2,
`DoReFa(k_bit)`, `NoOp(precision)`), their string aliases, serialized function references, and
the Larq Zoo functions `xnor_weight_scale` / `magnitude_aware_sign_unclipped` (1-bit). Other
functions get their bit width from `precision_overrides` (the CLI's `--precision NAME=BITS`),
or none (counted as 32-bit) with a note.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnnstat.errors import BnnstatError
from bnnstat.inspect.catalog import (
    QUANTIZER_ARGUMENTS,
    family,
    quantizer_kind,
    quantizer_precision,
    strip_package,
)
from bnnstat.inspect.records import QuantizerRecord, Shape, WeightRecord

if TYPE_CHECKING:
    from bnnstat.inspect.reader.graph import CallResult

# --- quantizers -------------------------------------------------------------------------------


def _quantizer_identity(value: Any) -> tuple[str, Mapping[str, Any], bool] | None:
    """(name, config, is_function) of a serialized quantizer, or None when it is not one."""
    if isinstance(value, str):
        name = strip_package(value)
        return name, {}, quantizer_kind(name) is None
    if isinstance(value, Mapping) and "class_name" in value:
        class_name = strip_package(str(value["class_name"]))
        config = value.get("config")
        if class_name == "function" and isinstance(config, str):
            return strip_package(config), {}, True
        if class_name == "__lambda__":
            return "<lambda>", {}, True
        return class_name, config if isinstance(config, Mapping) else {}, False
    return None


def quantizer_record(
    value: Any, overrides: Mapping[str, int] | None = None
) -> QuantizerRecord | None:
    """The `QuantizerRecord` of a serialized quantizer argument (None when unset)."""
    identity = _quantizer_identity(value)
    if identity is None:
        return None
    name, config, is_function = identity
    overrides = overrides or {}
    if name in overrides:
        return QuantizerRecord(name, int(overrides[name]), dict(config))
    precision = _known_precision(name, config, is_function)
    if precision is not None:
        return QuantizerRecord(name, precision, dict(config))
    kind = "function" if is_function else "quantizer class"
    note = (
        f"{kind} '{name}' carries no precision in the file; counted as 32-bit "
        f"(pass --precision {name}=BITS to set it)"
    )
    return QuantizerRecord(name, None, dict(config), note)


def _known_precision(name: str, config: Mapping[str, Any], is_function: bool) -> int | None:
    precision = quantizer_precision(name, config)
    if precision is not None:
        return precision
    if not is_function and config.get("precision") is not None:
        return int(config["precision"])  # NoOp(precision=p) and any tagged quantizer class
    return None


def _is_quantizer_activation(value: Any) -> bool:
    identity = _quantizer_identity(value)
    return identity is not None and quantizer_kind(identity[0]) is not None


def layer_quantizers(
    class_name: str, config: Mapping[str, Any], overrides: Mapping[str, int] | None
) -> dict[str, QuantizerRecord]:
    """Quantizer records of a layer: its `*_quantizer` arguments, plus a quantizer activation."""
    found: dict[str, QuantizerRecord] = {}
    for argument in QUANTIZER_ARGUMENTS:
        record = quantizer_record(config.get(argument), overrides)
        if record is not None:
            found[argument] = record
    activation = config.get("activation")
    if _is_quantizer_activation(activation):
        found["activation"] = quantizer_record(activation, overrides)  # type: ignore[assignment]
    elif quantizer_kind(class_name) is not None:  # a quantizer used as a layer of its own
        found["activation"] = quantizer_record({"class_name": class_name, "config": config})  # type: ignore[assignment]
    return found


# --- sane values ------------------------------------------------------------------------------

# Layer arguments that count something: positive integers, alone or in a list/tuple.
_POSITIVE_ARGS = (
    "units", "filters", "kernel_size", "strides", "dilation_rate", "pool_size",
    "depth_multiplier", "groups", "size", "output_dim", "input_dim", "n",
)  # fmt: skip
# Arguments that are a tensor shape: positive integers or None (the batch / unknown size).
_SHAPE_ARGS = ("batch_shape", "batch_input_shape", "input_shape", "shape")
# Quantizer arguments that are a bit width: integers from 1 to 64.
_BIT_ARGS = ("k_bit", "precision")
MAX_BITS = 64


class BadValue(ValueError):
    """A config value that cannot be right (`units: 0`, `strides: [0, 1]`, `k_bit: -3`)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_layer_values(class_name: str, config: Mapping[str, Any]) -> None:
    """Raise `BadValue` unless every counting argument of a layer config is a positive integer,
    every shape argument holds positive integers or None, and every bit width is 1..64."""
    for key in _POSITIVE_ARGS:
        if key not in config or config[key] is None:
            continue
        value = config[key]
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(_is_int(v) and v > 0 for v in items):
            raise BadValue(f"{key} must be a positive integer or a list of them, got {value!r}")
    for key in _SHAPE_ARGS:
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, (list, tuple)) or not all(
            v is None or (_is_int(v) and v > 0) for v in value
        ):
            raise BadValue(f"{key} must list positive dimensions (or null), got {value!r}")
    for argument, value in config.items():
        if argument.endswith("_quantizer") or argument == "activation":
            check_bits(value)
    if quantizer_kind(class_name) is not None:
        check_bits({"class_name": class_name, "config": config})


def check_bits(value: Any) -> None:
    """Raise `BadValue` if a serialized quantizer's `k_bit`/`precision` is not an int 1..64."""
    if not isinstance(value, Mapping) or not isinstance(value.get("config"), Mapping):
        return
    for key in _BIT_ARGS:
        bits = value["config"].get(key)
        if bits is not None and not (_is_int(bits) and 1 <= bits <= MAX_BITS):
            raise BadValue(f"bit width {key} must be an integer from 1 to {MAX_BITS}, got {bits!r}")


# --- the graph -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """Output `tensor` of call number `node` (0 = first listed inbound node) of `layer`."""

    layer: str
    node: int
    tensor: int


@dataclass
class Call:
    """One call (inbound node) of a layer.

    `inputs`: every tensor it reads, the positional ones first, then those inside `kwargs`
    (where they appear as `Ref`s). `recorded`: the shape Keras 3 wrote for each input.
    `constants`: values a Keras 2 file wrote in place of a positional tensor
    (``["_CONSTANT_VALUE", -1, value]``).
    """

    inputs: list[Ref]
    kwargs: dict[str, Any]
    recorded: list[Shape | None]
    constants: list[Any] = field(default_factory=list)

    @property
    def args(self) -> list[Ref]:
        """The tensors passed positionally."""
        return self.inputs[: len(self.inputs) - sum(1 for _ in iter_refs(self.kwargs))]


def iter_refs(value: Any) -> Iterator[Ref]:
    """The `Ref`s inside a (kwargs) structure, in order."""
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_refs(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from iter_refs(item)


def _is_history(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) in (3, 4)
        and isinstance(value[0], str)
        and value[0] != "_CONSTANT_VALUE"
        and isinstance(value[1], int)
        and isinstance(value[2], int)
        and (len(value) == 3 or isinstance(value[3], Mapping))
    )


def _is_constant(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple)) and len(value) in (3, 4) and value[0] == "_CONSTANT_VALUE"
    )


def _is_keras3_tensor(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__"


def _keras3_ref(value: Mapping[str, Any]) -> tuple[Ref, Shape | None]:
    config = value["config"]
    name, node, tensor = config["keras_history"]
    if not isinstance(name, str):
        raise TypeError(f"keras_history names a {type(name).__name__}, not a layer")
    shape = config.get("shape")
    if shape is not None and not (
        isinstance(shape, list) and all(d is None or (_is_int(d) and d > 0) for d in shape)
    ):
        raise BadValue(f"a recorded tensor shape must list positive dimensions, got {shape!r}")
    return Ref(name, int(node), int(tensor)), (tuple(shape) if shape is not None else None)


def _replace_refs(value: Any, found: list[Ref], keras3: bool) -> Any:
    """Copy of a kwargs structure with tensors replaced by `Ref`s (collected into `found`)."""
    if keras3 and _is_keras3_tensor(value):
        ref, _ = _keras3_ref(value)
        found.append(ref)
        return ref
    if not keras3 and _is_history(value) and len(value) == 3:
        ref = Ref(value[0], value[1], value[2])
        found.append(ref)
        return ref
    if isinstance(value, Mapping):
        return {k: _replace_refs(v, found, keras3) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_refs(v, found, keras3) for v in value]
    return value


def keras2_call(node: Any) -> Call:
    """A Keras 2 inbound node: a list of ``[layer, node, tensor, kwargs]`` entries (a TFOpLambda
    keeps its input's structure, so a bare entry or nested lists), kwargs on every entry."""
    refs: list[Ref] = []
    kwargs: dict[str, Any] = {}
    constants: list[Any] = []

    def walk(value: Any) -> None:
        nonlocal kwargs
        if _is_history(value):
            refs.append(Ref(value[0], value[1], value[2]))
            if len(value) == 4 and value[3]:
                kwargs = dict(value[3])
        elif _is_constant(value):
            constants.append(value[2])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(node)
    kw_refs: list[Ref] = []
    kwargs = _replace_refs(kwargs, kw_refs, keras3=False)
    return Call(refs + kw_refs, kwargs, [None] * (len(refs) + len(kw_refs)), constants)


def keras3_call(node: Mapping[str, Any]) -> Call:
    refs: list[Ref] = []
    recorded: list[Shape | None] = []

    def walk(value: Any) -> None:
        if _is_keras3_tensor(value):
            ref, shape = _keras3_ref(value)
            refs.append(ref)
            recorded.append(shape)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    for arg in node.get("args", []):
        walk(arg)
    kw_refs: list[Ref] = []
    kwargs = _replace_refs(dict(node.get("kwargs", {})), kw_refs, keras3=True)
    for ref in kw_refs:  # tensors passed by keyword (their shapes were recorded too)
        refs.append(ref)
    for value in _iter_keras3_tensors(node.get("kwargs", {})):
        recorded.append(_keras3_ref(value)[1])
    return Call(refs, kwargs, recorded)


def _iter_keras3_tensors(value: Any) -> Iterator[Mapping[str, Any]]:
    if _is_keras3_tensor(value):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _iter_keras3_tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _iter_keras3_tensors(item)


def history_list(value: Any) -> list[Ref]:
    """`input_layers`/`output_layers` entries: one `[name, node, tensor]` or a list of them."""
    if not value:
        return []
    if _is_history(value):
        return [Ref(value[0], value[1], value[2])]
    if isinstance(value, Mapping):
        value = list(value.values())
    refs: list[Ref] = []
    for item in value:
        refs.extend(history_list(item))
    return refs


def is_model_config(entry: Mapping[str, Any]) -> bool:
    config = entry.get("config")
    return isinstance(config, Mapping) and isinstance(config.get("layers"), list)


def is_operation(entry: Mapping[str, Any]) -> bool:
    """Keras 3 ops (`keras.ops.*` calls) in a functional graph: nodes, but not model layers."""
    module = str(entry.get("module") or "")
    return module.startswith(("keras.src.ops", "keras.ops"))


@dataclass
class Layer:
    name: str
    class_name: str
    config: Mapping[str, Any]
    calls: list[Call]
    operation: bool = False
    model: ModelConfig | None = None
    quantizers: dict[str, QuantizerRecord] = field(default_factory=dict)
    weights: tuple[WeightRecord, ...] = ()
    results: list[CallResult] = field(default_factory=list)


class ModelConfig:
    """One (possibly nested) model config: its layers and their call graph, as parsed.

    `reader.weights` attaches weight shapes to its layers, `reader.graph` evaluates shapes on it
    (filling `recorded`, `model_input_shapes` and each layer's `results`).
    """

    def __init__(self, entry: Mapping[str, Any], context: Context, trainable: bool = True):
        self.class_name = strip_package(str(entry.get("class_name", "Model")))
        self.config = entry.get("config") or {}
        self.name = str(self.config.get("name", "model"))
        self.context = context
        self.trainable = trainable and self.config.get("trainable", True) is not False
        raw_layers = self.config["layers"]
        self.sequential = "input_layers" not in self.config
        self.layers: list[Layer] = []
        self.inputs: list[Ref] = []
        self.outputs: list[Ref] = []
        self.input_config: Mapping[str, Any] | None = None
        # Keras 2 gave a model with its own InputLayer a first call at construction (see
        # `_renumber_keras2_nested_calls`); a Sequential without one has no such call.
        self.own_input_node = not self.sequential
        # Filled by `evaluate`: shapes Keras 3 recorded per tensor, and the model's input shapes.
        self.recorded: dict[Ref, Shape] = {}
        self.model_input_shapes: list[Shape | None] = []
        self.evaluated = False  # its layers' own records made (`graph._evaluate_nested`)
        if self.sequential:
            self._parse_sequential(raw_layers)
        else:
            self._parse_functional(raw_layers)
        self.by_name = {layer.name: layer for layer in self.layers}

    # parsing

    def _layer(self, entry: Mapping[str, Any], calls: list[Call]) -> Layer:
        class_name = strip_package(str(entry["class_name"]))
        config = entry.get("config") or {}
        if not isinstance(config, Mapping):
            raise TypeError(f"config of layer {class_name} is a {type(config).__name__}")
        name = str(entry.get("name") or config.get("name") or class_name)
        try:
            check_layer_values(class_name, config)
        except BadValue as error:  # reported by the build step as a config-structure error
            raise BadValue(f"layer {name!r}: {error}") from None
        layer = Layer(name, class_name, config, calls, operation=is_operation(entry))
        layer.quantizers = layer_quantizers(class_name, config, self.context.overrides)
        if is_model_config(entry):
            layer.model = ModelConfig(entry, self.context, self.trainable)
        return layer

    def _parse_sequential(self, raw_layers: list[Mapping[str, Any]]) -> None:
        previous: str | None = None
        for entry in raw_layers:
            if family(str(entry["class_name"])) == "input":
                self.own_input_node = self.own_input_node or not self.layers
                self.input_config = entry.get("config") or {}
                if not isinstance(self.input_config, Mapping):
                    raise TypeError("InputLayer config is not an object")
                try:
                    check_layer_values("InputLayer", self.input_config)
                except BadValue as error:
                    raise BadValue(f"input layer: {error}") from None
                continue
            calls = [Call([Ref(previous, 0, 0)], {}, [None])] if previous else [Call([], {}, [])]
            layer = self._layer(entry, calls)
            if previous is None and self.input_config is None:
                self.input_config = sequential_input(self.config, entry)
            self.layers.append(layer)
            previous = layer.name
        self.outputs = [Ref(previous, 0, 0)] if previous else []

    def _parse_functional(self, raw_layers: list[Mapping[str, Any]]) -> None:
        keras2 = True
        for entry in raw_layers:
            nodes = entry.get("inbound_nodes") or []
            keras2 = keras2 and not any(isinstance(node, Mapping) for node in nodes)
            calls = [
                keras3_call(node) if isinstance(node, Mapping) else keras2_call(node)
                for node in nodes
            ]
            self.layers.append(self._layer(entry, calls))
        self.inputs = history_list(self.config.get("input_layers"))
        self.outputs = history_list(self.config.get("output_layers"))
        if keras2:
            self._renumber_keras2_nested_calls()

    def _renumber_keras2_nested_calls(self) -> None:
        """Make every `Ref.node` of a Keras 2 config count the listed calls from 0.

        Keras 2 numbers a nested model's calls after the node its own InputLayer made at
        construction (Keras 2's `_should_skip_first_node`: a functional model, or a Sequential
        whose first layer is an InputLayer), so the outer model refers to its first call as
        node 1. A config that does refer to node 0 of such a model keeps its numbering.
        """
        refs = [ref for layer in self.layers for call in layer.calls for ref in call.inputs]
        refs += self.inputs + self.outputs
        used_zero = {ref.layer for ref in refs if ref.node == 0}
        shifted = {
            layer.name
            for layer in self.layers
            if layer.model is not None and layer.model.own_input_node
        } - used_zero
        if not shifted:
            return

        def renumber(value: Any) -> Any:
            if isinstance(value, Ref):
                return Ref(value.layer, value.node - 1, value.tensor) if (
                    value.layer in shifted) else value  # fmt: skip
            if isinstance(value, Mapping):
                return {k: renumber(v) for k, v in value.items()}
            if isinstance(value, list):
                return [renumber(v) for v in value]
            return value

        for layer in self.layers:
            for call in layer.calls:
                call.inputs = renumber(call.inputs)
                call.kwargs = renumber(call.kwargs)
        self.inputs = renumber(self.inputs)
        self.outputs = renumber(self.outputs)

    @property
    def model_layers(self) -> list[Layer]:
        """What Keras lists as `model.layers` (Sequential drops its InputLayer; no ops)."""
        return [layer for layer in self.layers if not layer.operation]


def sequential_input(model_config: Mapping[str, Any], first: Mapping[str, Any]) -> Any:
    config = first.get("config") or {}
    for shape in (
        config.get("batch_input_shape"),
        config.get("batch_shape"),
        (first.get("build_config") or {}).get("input_shape"),
        model_config.get("build_input_shape"),
        (model_config.get("build_config") or {}).get("input_shape"),
    ):
        if isinstance(shape, list) and shape and not isinstance(shape[0], list):
            return {"batch_shape": shape}
    return None


def parse_model_config(entry: Mapping[str, Any], context: Context) -> ModelConfig:
    """The parsed model config; `BnnstatError` naming the file when its structure is not what
    Keras writes (a missing key, a wrong type, an impossible value)."""
    try:
        return ModelConfig(entry, context)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise BnnstatError(
            f"{context.path}: unexpected model config structure ({type(error).__name__}: {error})"
        ) from None


@dataclass
class Context:
    """What one read needs everywhere: the file (for messages), precision overrides, notes."""

    path: Path
    overrides: Mapping[str, int]
    notes: list[str] = field(default_factory=list)
