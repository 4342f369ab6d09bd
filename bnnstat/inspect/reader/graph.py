"""Static graph evaluation: every tensor's shape in a parsed model config, without running it.

Output shapes come from `bnnstat.inspect.shapes`. Where a rule is missing, the shape stays
unknown with a reason, or, for a Lambda, its spatial size is assumed unchanged and its channel
count taken from the weights of the layer that consumes it, marking every shape that rests on
that assumption (`assumed`). Keras 3 files record the shape of every tensor fed to a layer, and
those recorded shapes fill any gap.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bnnstat.errors import BnnstatError
from bnnstat.inspect import shapes
from bnnstat.inspect.catalog import family
from bnnstat.inspect.reader.keras_config import Call, Layer, ModelConfig, Ref
from bnnstat.inspect.records import Shape


@dataclass
class Tensor:
    """A tensor's shape (None: unknown, with `reason`); `assumed` when it rests on a guess."""

    shape: Shape | None
    assumed: bool = False
    reason: str | None = None


@dataclass
class CallResult:
    """The input and output tensors of one call (inbound node) of a layer."""

    inputs: list[Tensor]
    outputs: list[Tensor]
    note: str | None = None
    node: int = 0  # which call (inbound node) of the layer this is


def evaluate(model: ModelConfig, input_shapes: Sequence[Tensor] | None) -> list[Tensor]:
    """Run shape inference for one call of this model; returns its output tensors."""
    if model.sequential:
        return _evaluate_sequential(model, input_shapes)
    return _evaluate_functional(model, input_shapes)


def _evaluate_sequential(model: ModelConfig, input_shapes: Sequence[Tensor] | None) -> list[Tensor]:
    if input_shapes:
        current = input_shapes[0]
    elif model.input_config is not None:
        inferred = shapes.infer_input(model.input_config)
        current = Tensor(inferred.shapes[0] if inferred.known else None, False, inferred.note)
    else:
        current = Tensor(None, False, "shape unknown: the model has no input shape")
    model.model_input_shapes = [current.shape] if current.shape is not None else []
    for index, layer in enumerate(model.layers):
        following = model.layers[index + 1] if index + 1 < len(model.layers) else None
        consumers = {0: [following]} if following else {}
        outputs = _run_layer(model, layer, layer.calls[0], [current], {}, consumers)
        current = outputs[0] if outputs else Tensor(None, False, "no output")
    return [current]


def _consumers(model: ModelConfig) -> dict[str, dict[int, list[Layer]]]:
    """For each layer name: tensor index -> layers consuming it (any node)."""
    table: dict[str, dict[int, list[Layer]]] = {}
    for layer in model.layers:
        for call in layer.calls:
            for ref in call.inputs:
                table.setdefault(ref.layer, {}).setdefault(ref.tensor, []).append(layer)
    return table


def _evaluate_functional(model: ModelConfig, input_shapes: Sequence[Tensor] | None) -> list[Tensor]:
    produced: dict[tuple[str, int], list[Tensor]] = {}
    recorded: dict[Ref, Shape] = {}
    for layer in model.layers:
        for call in layer.calls:
            for ref, shape in zip(call.inputs, call.recorded, strict=False):
                if shape is not None:
                    recorded[ref] = shape
    model.recorded = recorded
    consumers = _consumers(model)
    given = dict(zip([ref.layer for ref in model.inputs], input_shapes or [], strict=False))
    # Kahn's algorithm: each call runs once all the calls it reads are done, so the cost is
    # linear in the number of calls whatever order the file lists the layers in.
    items = [(layer, i) for layer in model.layers for i in range(max(1, len(layer.calls)))]
    missing: list[set[tuple[str, int]]] = []
    waiters: dict[tuple[str, int], list[int]] = {}
    ready: list[int] = []
    for number, (layer, index) in enumerate(items):
        needs: set[tuple[str, int]] = set()
        if family(layer.class_name) != "input" and layer.calls:
            needs = {(ref.layer, ref.node) for ref in layer.calls[index].inputs}
        missing.append(needs)
        for key in needs:
            waiters.setdefault(key, []).append(number)
        if not needs:
            ready.append(number)
    heapq.heapify(ready)  # listing order among the calls that can run
    done = 0
    while ready:
        number = heapq.heappop(ready)
        layer, index = items[number]
        done += 1
        if family(layer.class_name) == "input" or not layer.calls:
            produced[(layer.name, index)] = _run_input(layer, given.get(layer.name))
        else:
            call = layer.calls[index]
            tensors = [_tensor_of(produced, ref) for ref in call.inputs]
            kw_tensors = dict(zip(call.inputs, tensors, strict=True))
            produced[(layer.name, index)] = _run_layer(
                model, layer, call, tensors, kw_tensors, consumers.get(layer.name, {}), index
            )
        for waiter in waiters.pop((layer.name, index), []):
            missing[waiter].discard((layer.name, index))
            if not missing[waiter]:
                heapq.heappush(ready, waiter)
    if done < len(items):
        names = sorted({items[n][0].name for n, needs in enumerate(missing) if needs})
        raise BnnstatError(
            f"{model.context.path}: model '{model.name}' has layers whose inputs are never "
            f"produced (broken graph): {', '.join(names[:5])}"
        )
    model.model_input_shapes = [
        produced[(ref.layer, ref.node)][0].shape for ref in model.inputs
        if (ref.layer, ref.node) in produced
    ]  # fmt: skip
    return [_tensor_of(produced, ref) for ref in model.outputs]


def _tensor_of(produced: Mapping[tuple[str, int], list[Tensor]], ref: Ref) -> Tensor:
    outputs = produced[(ref.layer, ref.node)]
    if ref.tensor < len(outputs):
        return outputs[ref.tensor]
    return Tensor(None, False, f"shape unknown: output {ref.tensor} of '{ref.layer}'")


def _run_input(layer: Layer, given: Tensor | None) -> list[Tensor]:
    if given is not None and given.shape is not None:
        tensor = given
    else:
        inferred = shapes.infer_input(layer.config)
        tensor = Tensor(inferred.shapes[0] if inferred.known else None, False, inferred.note)
    layer.results.append(CallResult([], [tensor], tensor.reason))
    return [tensor]


def _run_layer(
    model: ModelConfig,
    layer: Layer,
    call: Call,
    inputs: list[Tensor],
    by_ref: Mapping[Ref, Tensor],
    consumers: Mapping[int, list[Layer]],
    node: int = 0,
) -> list[Tensor]:
    kw_refs = set(_collect_refs(call.kwargs))
    first = [t for ref, t in zip(call.inputs, inputs, strict=False) if ref not in kw_refs]
    if not first:  # Sequential: positional inputs only
        first = inputs
    kwargs = _kwargs_with_shapes(call.kwargs, by_ref)
    assumed = any(t.assumed for t in inputs)
    if layer.model is not None:
        outputs = _evaluate_nested(layer.model, first)
        note = None
    else:
        outputs, note = _infer(layer, first, kwargs, consumers)
    if assumed:
        outputs = [Tensor(t.shape, True, t.reason) for t in outputs]
    outputs = [_fill_recorded(model, Ref(layer.name, node, i), t) for i, t in enumerate(outputs)]
    if note and all(t.shape is not None and not t.assumed for t in outputs):
        note = None  # Keras recorded the shapes that inference could not give
    layer.results.append(CallResult(list(inputs), outputs, note, node))
    return outputs


def _evaluate_nested(model: ModelConfig, inputs: list[Tensor]) -> list[Tensor]:
    """A nested model's outputs for one call on `inputs`.

    Its layers are recorded as Keras defines them: evaluated once on the nested model's own
    input shape, or, when it has none (a Sequential without an InputLayer), on its first
    call's, which is what Keras builds it with. A call on other shapes (a nested model shared
    by a 32x32 and a 16x16 input) gives its outputs but adds nothing to its layers' records.
    """
    if not model.evaluated:
        model.evaluated = True
        own = _has_own_input(model)
        outputs = evaluate(model, None if own else inputs)
        if not own:
            return outputs
    kept = [(layer, len(layer.results)) for layer in _all_layers(model)]
    input_shapes = model.model_input_shapes
    outputs = evaluate(model, inputs)
    for layer, count in kept:
        del layer.results[count:]
    model.model_input_shapes = input_shapes
    return outputs


def _has_own_input(model: ModelConfig) -> bool:
    return not model.sequential or model.input_config is not None


def _all_layers(model: ModelConfig) -> Iterator[Layer]:
    for layer in model.layers:
        yield layer
        if layer.model is not None:
            yield from _all_layers(layer.model)


def _fill_recorded(model: ModelConfig, ref: Ref, tensor: Tensor) -> Tensor:
    """Use the shape Keras 3 recorded for this tensor where inference left a gap."""
    recorded = model.recorded
    shape = recorded.get(ref)
    if shape is None:
        return tensor
    if tensor.shape is None or tensor.assumed or None in tensor.shape[1:]:
        return Tensor((None, *shape[1:]), False, None)
    return tensor


def _infer(
    layer: Layer,
    inputs: list[Tensor],
    kwargs: Mapping[str, Any],
    consumers: Mapping[int, list[Layer]],
) -> tuple[list[Tensor], str | None]:
    in_shapes = [t.shape for t in inputs]
    inferred = shapes.infer(layer.class_name, layer.config, in_shapes, kwargs)
    if inferred.known:
        return [Tensor(s) for s in inferred.shapes], None
    if family(layer.class_name) == "lambda" and in_shapes and in_shapes[0] is not None:
        return _assume_lambda(layer, in_shapes[0], consumers)
    reason = inferred.note
    if any(s is None for s in in_shapes):
        upstream = next((t.reason for t in inputs if t.shape is None and t.reason), None)
        reason = upstream or reason
    return [Tensor(None, False, reason)], reason


def _assume_lambda(
    layer: Layer, shape: Shape, consumers: Mapping[int, list[Layer]]
) -> tuple[list[Tensor], str]:
    count = max(consumers, default=0) + 1
    outputs, pinned_by = [], []
    for index in range(count):
        channels, source = None, None
        for consumer in consumers.get(index, []):
            channels = _input_channels(consumer)
            if channels is not None:
                source = consumer.name
                break
        out = list(shape)
        if channels is not None and len(out) > 1:
            axis = 1 if _channels_first_consumer(consumers.get(index, [])) else -1
            out[axis] = channels
            pinned_by.append(source)
        outputs.append(Tensor(tuple(out), True, None))
    note = "Lambda layer not executed: output assumed to keep the input's spatial size"
    if pinned_by:
        note += f", channels taken from the weights of {', '.join(sorted(set(pinned_by)))}"
    return outputs, note


# records


def _collect_refs(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _collect_refs(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _collect_refs(item)


def _kwargs_with_shapes(value: Any, by_ref: Mapping[Ref, Tensor]) -> Any:
    if isinstance(value, Ref):
        tensor = by_ref.get(value)
        return shapes.TensorArg(tensor.shape if tensor else None)
    if isinstance(value, Mapping):
        return {k: _kwargs_with_shapes(v, by_ref) for k, v in value.items()}
    if isinstance(value, list):
        return [_kwargs_with_shapes(v, by_ref) for v in value]
    return value


def _input_channels(layer: Layer) -> int | None:
    """Input channel count implied by a layer's weights (to pin the output of a Lambda)."""
    try:
        return _channels_from_weights(layer)
    except (IndexError, TypeError, ValueError):  # odd weight ranks or config values in the file
        return None


def _channels_from_weights(layer: Layer) -> int | None:
    kind = family(layer.class_name)
    weights = {w.name: w.shape for w in layer.weights}
    groups = int(layer.config.get("groups", 1) or 1)
    kernel = weights.get("kernel")
    if kind == "dense" and kernel:
        return kernel[0]
    if kind == "separable" and "depthwise_kernel" in weights:
        return weights["depthwise_kernel"][-2]
    if kind == "depthwise":
        return kernel[-2] if kernel else None
    if kind == "transpose" and kernel:
        return kernel[-1]
    if kind in ("conv", "locally_connected") and kernel:
        return kernel[-2] * groups
    if kind in ("batch_norm", "normalization"):
        for name in ("moving_mean", "gamma", "beta"):
            if name in weights and len(weights[name]) == 1:
                return weights[name][0]
    return None


def _channels_first_consumer(consumers: Sequence[Layer]) -> bool:
    return any(c.config.get("data_format") == "channels_first" for c in consumers)
