"""Turn a live Keras 3 model into a `ModelRecord` (the only inspector module that uses Keras).

What is read, per entry of `model.layers`:
- weights: short name, shape, precision tag (`bnnstat.utils.precision_of` of the variable: the
  quantized layers tag their kernels in `build()`), trainable (the variable is among the layer's
  trainable weights, so a frozen layer's weights are non-trainable);
- quantizers: the `input_quantizer`, `kernel_quantizer`, `depthwise_quantizer` and
  `pointwise_quantizer` attributes that are set, and a quantizer used as `activation`;
- shapes and graph edges from the model's own graph nodes (a shared layer has one node per call;
  nodes the layer got in other models are ignored);
- a nested model becomes one record with all its weights and its own `layers`.

Subclassed models have no graph: their layers' shapes are traced by running the model's `call`
symbolically on its build input shape (no data, no weights changed) while recording what each
layer receives and returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bnnstat.errors import BnnstatError
from bnnstat.inspect.catalog import QUANTIZER_ARGUMENTS
from bnnstat.inspect.records import LayerRecord, ModelRecord, QuantizerRecord, Shape, WeightRecord
from bnnstat.utils import precision_of

QUANTIZER_ATTRIBUTES = QUANTIZER_ARGUMENTS  # Larq layers keep each argument as an attribute


def _shape(shape: Any) -> Shape:
    return tuple(None if dim is None else int(dim) for dim in shape)


def _flat_shapes(value: Any) -> list[Shape]:
    import keras

    return [_shape(t.shape) for t in keras.tree.flatten(value) if hasattr(t, "shape")]


def quantizer_record(quantizer: Any) -> QuantizerRecord:
    """Name, precision tag and config of a quantizer object or function."""
    name = getattr(quantizer, "__name__", None) or type(quantizer).__name__
    config: Mapping[str, Any] = {}
    get_config = getattr(quantizer, "get_config", None)
    if callable(get_config):
        try:
            config = dict(get_config())
        except (TypeError, NotImplementedError, AttributeError):
            config = {}
    precision = precision_of(quantizer)
    note = None if precision is not None else f"quantizer {name} has no precision tag"
    return QuantizerRecord(name=name, precision=precision, config=config, note=note)


def layer_quantizers(layer: Any) -> dict[str, QuantizerRecord]:
    """The quantizer arguments that are set on `layer` (a tagged activation counts too)."""
    found = {}
    for attribute in QUANTIZER_ATTRIBUTES:
        quantizer = getattr(layer, attribute, None)
        if quantizer is not None:
            found[attribute] = quantizer_record(quantizer)
    activation = getattr(layer, "activation", None)
    if activation is not None and precision_of(activation) is not None:
        found["activation"] = quantizer_record(activation)
    return found


def _weights(layer: Any) -> tuple[WeightRecord, ...]:
    trainable = [id(v) for v in layer.trainable_weights]
    return tuple(
        WeightRecord(
            name=v.name.split("/")[-1].replace(":0", ""),
            shape=_shape(v.shape),
            precision=precision_of(v),
            trainable=id(v) in trainable,
        )
        for v in layer.weights
    )


def _config(layer: Any) -> dict[str, Any]:
    try:
        return dict(layer.get_config())
    except (NotImplementedError, TypeError, AttributeError):
        return {}


class _Calls:
    """Per layer (by id): the input and output shapes of each call, and inbound layer names."""

    def __init__(self) -> None:
        self.inputs: dict[int, list[Shape]] = {}
        self.outputs: dict[int, list[list[Shape]]] = {}
        self.inbound: dict[int, list[str]] = {}

    def add(self, layer: Any, inputs: list[Shape], outputs: list[Shape], parents: list[str]):
        self.inputs.setdefault(id(layer), []).extend(inputs)
        self.outputs.setdefault(id(layer), []).append(outputs)
        names = self.inbound.setdefault(id(layer), [])
        names.extend(p for p in parents if p not in names)


def _graph_nodes(model: Any) -> Any:
    graph = getattr(model, "_functional", None) or model
    return getattr(graph, "_nodes_by_depth", None)


def _calls_from_graph(nodes_by_depth: Mapping[int, Any]) -> _Calls:
    calls = _Calls()
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            calls.add(
                node.operation,
                _flat_shapes(node.input_tensors),
                _flat_shapes(node.outputs),
                [parent.operation.name for parent in node.parent_nodes],
            )
    return calls


@contextmanager
def _recording_calls(layers: list[Any], calls: _Calls) -> Iterator[None]:
    originals = {}
    for layer in layers:
        original = layer.call

        def recorder(*args: Any, _layer: Any = layer, _call: Any = original, **kwargs: Any):
            result = _call(*args, **kwargs)
            calls.add(_layer, _flat_shapes(args[:1]), _flat_shapes(result), [])
            return result

        originals[id(layer)] = layer
        object.__setattr__(layer, "call", recorder)
    try:
        yield
    finally:
        for layer in originals.values():
            object.__delattr__(layer, "call")


def _calls_by_tracing(model: Any) -> tuple[_Calls, str | None]:
    """Trace a subclassed model symbolically on the input shape it was built with."""
    import keras

    calls = _Calls()
    build_shapes = getattr(model, "_build_shapes_dict", None) or {}
    if len(build_shapes) != 1:
        return calls, "subclassed model: input shape unknown, layer shapes not traced"
    input_shape = (None, *_shape(next(iter(build_shapes.values())))[1:])
    try:
        with _recording_calls(list(model.layers), calls):
            model.compute_output_spec(keras.KerasTensor(input_shape))
    except Exception as error:  # a model whose call cannot be traced symbolically
        return _Calls(), f"subclassed model: tracing its call failed ({type(error).__name__})"
    return calls, f"subclassed model: layer shapes traced from its call on {input_shape}"


def _output_shape(outputs: list[list[Shape]]) -> tuple[Shape | None, tuple[Shape, ...], str | None]:
    """The output shape when every call gives the same single output, else None."""
    if not outputs:
        return None, (), None
    if any(len(call) != 1 for call in outputs):
        return None, (), ("multiple outputs" if outputs else None)
    shapes = tuple(call[0] for call in outputs)
    if len(set(shapes)) > 1:
        return None, shapes, "calls have different output shapes (multiple)"
    return shapes[0], shapes, None


def layer_record(layer: Any, calls: _Calls, names: set[str]) -> LayerRecord:
    """One `model.layers` entry; a nested model recursively."""
    outputs = calls.outputs.get(id(layer), [])
    output_shape, output_shapes, note = _output_shape(outputs)
    nested = getattr(layer, "layers", None) if _is_model(layer) else None
    sub_records: tuple[LayerRecord, ...] = ()
    if nested is not None:
        sub_records = record(layer).layers
    input_quantizer = getattr(layer, "input_quantizer", None)
    return LayerRecord(
        name=layer.name,
        class_name=type(layer).__name__,
        config=_config(layer),
        weights=_weights(layer),
        quantizers=layer_quantizers(layer),
        input_precision=precision_of(input_quantizer) if input_quantizer is not None else None,
        input_shapes=tuple(calls.inputs.get(id(layer), [])),
        output_shape=output_shape,
        output_shapes=output_shapes,
        inbound=tuple(n for n in calls.inbound.get(id(layer), []) if n in names),
        call_count=max(1, len(outputs)),
        note=note,
        layers=sub_records,
    )


def _is_model(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def record(model: Any, class_name: str | None = None) -> ModelRecord:
    """A `ModelRecord` of a built Keras 3 model (Sequential, functional or subclassed).

    `class_name` overrides the model's class name: the class a file saved it under when the
    loader rebuilt it as another class (`bnnstat.loading.LoadedModel.saved_class_name`).
    """
    if not _is_model(model):
        raise BnnstatError(f"{type(model).__name__} is not a keras.Model")
    if not model.built:
        raise BnnstatError(
            f"model {model.name!r} has not been built yet: call it on data or build it with an "
            "input shape first"
        )
    notes: list[str] = []
    nodes = _graph_nodes(model)
    if nodes:
        calls = _calls_from_graph(nodes)
    else:
        calls, note = _calls_by_tracing(model)
        if note:
            notes.append(note)
    layers = list(model.layers)
    names = {layer.name for layer in layers}
    inputs = getattr(model, "inputs", None) or []
    outputs = getattr(model, "outputs", None) or []
    output_names = tuple(
        t._keras_history.operation.name for t in outputs if hasattr(t, "_keras_history")
    )
    return ModelRecord(
        name=model.name,
        class_name=class_name or type(model).__name__,
        layers=tuple(layer_record(layer, calls, names) for layer in layers),
        input_shapes=tuple(_shape(t.shape) for t in inputs),
        output_names=output_names,
        notes=tuple(notes),
    )
