"""Record building: read a model file and turn its parsed, evaluated config into a `ModelRecord`.

Supported: `.h5` files written by Keras 2 (Larq, TF <= 2.15) and Keras 3's legacy HDF5 saver,
and `.keras` zip archives (`config.json` + `model.weights.h5`). The file is opened read-only;
weight *values* are never read (only dataset shapes), and nothing stored in the file (Lambda
bytecode, custom objects) is ever executed or unmarshalled.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from bnnstat.inspect.catalog import family
from bnnstat.inspect.reader.container import Source, open_source
from bnnstat.inspect.reader.graph import evaluate
from bnnstat.inspect.reader.keras_config import (
    Context,
    Layer,
    ModelConfig,
    parse_model_config,
)
from bnnstat.inspect.reader.weights import attach_keras3_weights, attach_legacy_weights
from bnnstat.inspect.records import LayerRecord, ModelRecord


def read(
    path: str | os.PathLike[str], precision_overrides: Mapping[str, int] | None = None
) -> ModelRecord:
    """Read a `.h5` or `.keras` model file into a `ModelRecord` (statically, read-only).

    Raises `BnnstatError` (message names the file and the problem) for a missing, empty,
    truncated, corrupt or non-model file.
    """
    path = Path(path)
    context = Context(path, dict(precision_overrides or {}))
    with open_source(path) as source:
        context.notes.extend(source.notes)
        model = _build(path, source, context)
        layers = records(model)
    notes = list(dict.fromkeys(context.notes))
    for record in (r for layer in layers for r in _walk(layer)):
        for quantizer in record.quantizers.values():
            if quantizer.note and f"{record.name}: {quantizer.note}" not in notes:
                notes.append(f"{record.name}: {quantizer.note}")
    return ModelRecord(
        name=model.name,
        class_name=model.class_name,
        layers=layers,
        source=str(path),
        input_shapes=tuple(s for s in model.model_input_shapes if s is not None),
        output_names=tuple(dict.fromkeys(ref.layer for ref in model.outputs)),
        notes=tuple(notes),
    )


def _build(path: Path, source: Source, context: Context) -> ModelConfig:
    """Parse the config, attach weight shapes and run shape inference (file still open).

    Only parsing reads the file's untrusted structure, so only its errors become "unexpected
    model config structure"; an error in a later step is a bug in the reader and propagates.
    """
    model = parse_model_config(source.config, context)
    if source.legacy is not None:
        attach_legacy_weights(model, source.legacy)
    elif source.keras3 is not None:
        attach_keras3_weights(model, source.keras3)
    evaluate(model, None)
    return model


def _walk(record: LayerRecord) -> Iterator[LayerRecord]:
    yield record
    for child in record.layers:
        yield from _walk(child)


def records(model: ModelConfig) -> tuple[LayerRecord, ...]:
    return tuple(_record(model, layer) for layer in model.model_layers)


def _record(model: ModelConfig, layer: Layer) -> LayerRecord:
    quantizers = layer.quantizers
    layer.results.sort(key=lambda result: result.node)  # calls may resolve out of order
    outputs = [t for result in layer.results for t in result.outputs]
    known = [t.shape for t in outputs if t.shape is not None]
    single = all(len(r.outputs) == 1 for r in layer.results)
    output_shape = known[0] if single and known and len(set(known)) == 1 and len(
        known) == len(outputs) else None  # fmt: skip
    notes = []
    kind = family(layer.class_name)
    if kind != "input" or not known:
        notes += [r.note for r in layer.results if r.note]
    if not known:
        notes += [t.reason for t in outputs if t.reason]
    elif not single:
        notes.append("multiple outputs")
    elif len(set(known)) > 1:
        notes.append("calls have different output shapes (multiple)")
    assumed = any(t.assumed for t in outputs)
    if assumed and kind != "lambda":
        notes.append("output shape rests on an assumed Lambda output shape")
    notes += [q.note for q in quantizers.values() if q.note]
    input_precision = quantizers["input_quantizer"].precision if (
        "input_quantizer" in quantizers) else None  # fmt: skip
    nested = records(layer.model) if layer.model is not None else ()
    return LayerRecord(
        name=layer.name,
        class_name=layer.class_name,
        config=layer.config,
        weights=layer.weights,
        quantizers=quantizers,
        input_precision=input_precision,
        input_shapes=tuple(t.shape for r in layer.results for t in r.inputs if t.shape),
        output_shape=output_shape,
        output_shapes=tuple(known),
        inbound=_inbound(model, layer),
        call_count=max(1, len(layer.calls)) if not model.sequential else 1,
        note="; ".join(dict.fromkeys(notes)) or None,
        shape_assumed=assumed,
        layers=nested,
    )


def _inbound(model: ModelConfig, layer: Layer) -> tuple[str, ...]:
    names: list[str] = []
    stack = [ref.layer for call in reversed(layer.calls) for ref in reversed(call.inputs)]
    seen_ops: set[str] = set()
    while stack:
        name = stack.pop()
        source = model.by_name.get(name)
        if source is not None and source.operation:  # look through Keras 3 ops to layers
            if name not in seen_ops:
                seen_ops.add(name)
                stack.extend(
                    ref.layer for call in reversed(source.calls)
                    for ref in reversed(call.inputs)
                )  # fmt: skip
            continue
        if name not in names:
            names.append(name)
    return tuple(names)
