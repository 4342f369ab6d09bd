"""Read a saved Keras model file into a `ModelRecord` without TensorFlow or Keras.

Supported: `.h5` files written by Keras 2 (Larq, TF <= 2.15) and Keras 3's legacy HDF5 saver,
and `.keras` zip archives (`config.json` + `model.weights.h5`). Only `h5py`, `json` and `zipfile`
are used. The file is opened read-only; weight *values* are never read (only dataset shapes), and
nothing stored in the file (Lambda bytecode, custom objects) is ever executed or unmarshalled.

Output shapes come from `bnnstat.inspect.shapes`. Where a rule is missing (a Lambda), the reader
leaves the shape unknown with a reason, or, for a Lambda, assumes its spatial size is unchanged and
takes the channel count from the weights of the layer that consumes it, marking every shape that
rests on that assumption (`shape_assumed`). Keras 3 files record the shape of every tensor fed
to a layer, and those recorded shapes fill any gap.

Quantizer precision: Larq/bnnstat quantizer classes (1-bit sign quantizers, `SteTern` = 2,
`DoReFa(k_bit)`, `NoOp(precision)`), their string aliases, serialized function references, and
the Larq Zoo functions `xnor_weight_scale` / `magnitude_aware_sign_unclipped` (1-bit). Other
functions get their bit width from `precision_overrides` (the CLI's `--precision NAME=BITS`),
or none (counted as 32-bit) with a note.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bnnstat.errors import BnnstatError
from bnnstat.inspect import shapes
from bnnstat.inspect.records import LayerRecord, ModelRecord, QuantizerRecord, Shape, WeightRecord

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"

ModelFileKind = Literal["h5", "keras"]

# --- quantizer precision ---------------------------------------------------------------------

_ONE_BIT = ("SteSign", "ApproxSign", "SwishSign", "SteHeaviside", "MagnitudeAwareSign")
_CLASS_PRECISION = {**dict.fromkeys(_ONE_BIT, 1), "SteTern": 2}
_FUNCTION_PRECISION = {
    "ste_sign": 1,
    "approx_sign": 1,
    "swish_sign": 1,
    "ste_heaviside": 1,
    "magnitude_aware_sign": 1,
    "ste_tern": 2,
    # Larq Zoo plain functions, known to be binary:
    "xnor_weight_scale": 1,
    "magnitude_aware_sign_unclipped": 1,
}
_DOREFA = ("DoReFa", "DoReFaQuantizer", "dorefa_quantizer", "dorefa")
_NOOP = ("NoOp", "NoOpQuantizer")
_QUANTIZER_CLASSES = set(_CLASS_PRECISION) | set(_DOREFA) | set(_NOOP)
_QUANTIZER_ARGS = (
    "input_quantizer",
    "kernel_quantizer",
    "depthwise_quantizer",
    "pointwise_quantizer",
)
# Which quantizer tags which weight.
_WEIGHT_QUANTIZER = {
    "kernel": "kernel_quantizer",
    "depthwise_kernel": "depthwise_quantizer",
    "pointwise_kernel": "pointwise_quantizer",
}
_NON_TRAINABLE = {"moving_mean", "moving_variance", "count", "mean", "variance"}
_NON_TRAINABLE_CLASSES = {"BatchNormalization", "SyncBatchNormalization", "Normalization"}


def strip_package(name: str) -> str:
    """`"larq>QuantDense"` -> `"QuantDense"`."""
    return name.rsplit(">", 1)[-1]


def _quantizer_identity(value: Any) -> tuple[str, Mapping[str, Any], bool] | None:
    """(name, config, is_function) of a serialized quantizer, or None when it is not one."""
    if isinstance(value, str):
        name = strip_package(value)
        return name, {}, name not in _QUANTIZER_CLASSES
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
    if name in _FUNCTION_PRECISION:
        return _FUNCTION_PRECISION[name]
    if name in _CLASS_PRECISION:
        return _CLASS_PRECISION[name]
    if name in _DOREFA:
        return int(config.get("k_bit", 2))
    if not is_function and config.get("precision") is not None:
        return int(config["precision"])  # NoOp(precision=p) and any tagged quantizer class
    return None


def _is_quantizer_activation(value: Any) -> bool:
    identity = _quantizer_identity(value)
    if identity is None:
        return False
    name = identity[0]
    return name in _FUNCTION_PRECISION or name in _QUANTIZER_CLASSES


def layer_quantizers(
    class_name: str, config: Mapping[str, Any], overrides: Mapping[str, int] | None
) -> dict[str, QuantizerRecord]:
    """Quantizer records of a layer: its `*_quantizer` arguments, plus a quantizer activation."""
    found: dict[str, QuantizerRecord] = {}
    for argument in _QUANTIZER_ARGS:
        record = quantizer_record(config.get(argument), overrides)
        if record is not None:
            found[argument] = record
    activation = config.get("activation")
    if _is_quantizer_activation(activation):
        found["activation"] = quantizer_record(activation, overrides)  # type: ignore[assignment]
    elif class_name in _QUANTIZER_CLASSES:  # a quantizer used as a layer of its own
        found["activation"] = quantizer_record({"class_name": class_name, "config": config})  # type: ignore[assignment]
    return found


# --- file access -----------------------------------------------------------------------------


def _fail(path: Path, problem: str) -> BnnstatError:
    return BnnstatError(f"{path}: {problem}")


class _Window(io.RawIOBase):
    """A read-only, seekable view of `length` bytes at `start` of a binary file."""

    def __init__(self, handle: Any, start: int, length: int) -> None:
        self._handle, self._start, self._length, self._pos = handle, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        size = max(0, min(len(buffer), self._length - self._pos))
        self._handle.seek(self._start + self._pos)
        data = self._handle.read(size)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _h5py():
    import h5py  # imported here so that `import bnnstat.inspect.file_reader` stays cheap

    return h5py


def model_file_kind(path: str | os.PathLike[str]) -> ModelFileKind | None:
    """`"h5"` or `"keras"` from the file's first bytes, or None when it is neither.

    Raises `BnnstatError` only when there is no regular file to look at (missing, a directory).
    An empty file or any other content gives None. HDF5 files may start with a user block, so
    the signature is also looked for at offsets 512, 1024, 2048, ... as the HDF5 spec allows.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(path, "file not found")
    if not path.is_file():
        raise _fail(path, "not a regular file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if head.startswith(_ZIP_SIGNATURE):
                return "keras"
            size = os.fstat(handle.fileno()).st_size
            offset = 0
            while offset + 8 <= size:
                handle.seek(offset)
                if handle.read(8) == _HDF5_SIGNATURE:
                    return "h5"
                offset = 512 if offset == 0 else offset * 2
    except OSError as error:
        raise _fail(path, f"cannot read ({error.strerror or error})") from None
    return None


def sniff(path: str | os.PathLike[str]) -> ModelFileKind:
    """`"h5"` (HDF5) or `"keras"` (zip archive) for a Keras model file, judged by its content.

    Raises `BnnstatError` with one of the messages ``PATH: file not found``,
    ``PATH: not a regular file``, ``PATH: empty file`` or
    ``PATH: not a Keras model file (neither HDF5 nor a .keras zip archive)``. Only the first
    bytes are read, so a truncated or corrupt file of the right kind passes: its reader says
    what is wrong with it.
    """
    path = Path(path)
    kind = model_file_kind(path)
    if kind is not None:
        return kind
    if path.stat().st_size == 0:
        raise _fail(path, "empty file")
    raise _fail(path, "not a Keras model file (neither HDF5 nor a .keras zip archive)")


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def _json(path: Path, text: Any, what: str) -> Any:
    try:
        return json.loads(_decode(text))
    except (ValueError, UnicodeDecodeError) as error:
        raise _fail(path, f"{what} is not valid JSON ({error})") from None


@contextmanager
def _open_h5(path: Path, source: Any = None) -> Iterator[Any]:
    h5py = _h5py()
    try:
        handle = h5py.File(source if source is not None else str(path), "r", locking=False)
    except (OSError, ValueError) as error:
        reason = str(error).split("(")[0].strip().rstrip(":") or type(error).__name__
        raise _fail(path, f"cannot read HDF5 data (truncated or corrupt file?): {reason}") from None
    with handle:
        yield handle


# --- weights ---------------------------------------------------------------------------------


@dataclass
class _Weights:
    """Weight shapes found in the file for one layer (short name, shape)."""

    items: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    # Keras 3 archives: sub-model weights keyed like the layer tree; legacy h5: full names.
    children: dict[str, _Weights] = field(default_factory=dict)
    name_reader: Any = None  # reads the layer name Keras >= 3.? stores on `vars` (lazily)

    @property
    def saved_name(self) -> str | None:
        return self.name_reader() if self.name_reader is not None else None


def _short_name(weight_name: str) -> str:
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def _legacy_h5_weights(path: Path, group: Any) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """`{layer name: [(full weight name, shape), ...]}` from a Keras 2 / legacy-h5 weights group.

    Low-level h5py with relative opens (see `_keras3_node` for why).
    """
    h5g, h5d = _h5py().h5g, _h5py().h5d
    names = _attribute(group.id, b"layer_names")
    if names is None:
        raise _fail(path, "HDF5 file has no 'layer_names': not a Keras model weights group")
    table: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for layer_name in (_decode(n) for n in names):
        layer_id = h5g.open(group.id, layer_name.encode())
        entries = []
        for weight_name in (_decode(n) for n in _attribute(layer_id, b"weight_names") or []):
            shape = h5d.open(layer_id, weight_name.encode()).shape
            entries.append((weight_name, tuple(int(d) for d in shape)))
        table[layer_name] = entries
    return table


def _attribute(object_id: Any, name: bytes) -> Any:
    """An HDF5 attribute by low-level id (None when absent); strings decoded."""
    h5py = _h5py()
    if not h5py.h5a.exists(object_id, name):
        return None
    import numpy

    attribute = h5py.h5a.open(object_id, name)
    buffer = numpy.empty(attribute.shape, dtype=attribute.dtype)
    attribute.read(buffer)
    return _decode(buffer[()] if buffer.shape == () else buffer.tolist())


def _keras3_node(group_id: Any) -> _Weights:
    """The variable shapes under one saveable's group of a Keras 3 weights file.

    Uses h5py's low-level API with relative opens: the high-level one costs about 3x more per
    object, which dominates the read time of models with hundreds of layers.
    """
    h5g, h5d = _h5py().h5g, _h5py().h5d
    node = _Weights()
    keys = [k.decode() for k in group_id]
    if "vars" in keys:
        vars_id = h5g.open(group_id, b"vars")
        names = sorted(
            (k.decode() for k in vars_id),
            key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k),
        )
        node.items = [
            (k, tuple(int(d) for d in h5d.open(vars_id, k.encode()).shape)) for k in names
        ]
        node.name_reader = lambda: _attribute(vars_id, b"name")
    for key in keys:
        if key == "vars":
            continue
        child_id = h5g.open(group_id, key.encode())
        if key == "layers":
            for child in child_id:
                node.children[child.decode()] = _keras3_node(h5g.open(child_id, child))
        else:  # state of a sub-object (e.g. a quantizer with variables): keep it counted
            extra = _keras3_node(child_id)
            node.items.extend((f"{key}/{n}", shape) for n, shape in extra.items)
    return node


def _check_model_config(path: Path, entry: Any, what: str) -> Mapping[str, Any]:
    """The saved model config, if it lists its layers (else a `BnnstatError` saying why not)."""
    if not isinstance(entry, Mapping):
        raise _fail(
            path,
            f"{what} holds a JSON {type(entry).__name__}, not a model config object: "
            "not a Keras model file",
        )
    if _is_model_config(entry):
        return entry
    class_name = entry.get("class_name")
    if not isinstance(class_name, str) or not class_name:
        raise _fail(path, f"{what} has no model class name and no layer list: not a Keras model")
    raise _fail(
        path,
        f"model '{class_name}' is a subclassed model with no functional config (no layer "
        "list), so it cannot be read statically; `bnnstat summary --engine keras` may load it",
    )


@dataclass
class _Source:
    config: Mapping[str, Any]
    legacy: dict[str, list[tuple[str, tuple[int, ...]]]] | None = None
    keras3: _Weights | None = None
    notes: list[str] = field(default_factory=list)


@contextmanager
def _read_h5(path: Path) -> Iterator[_Source]:
    with _open_h5(path) as handle:
        raw = handle.attrs.get("model_config")
        if raw is None:
            raise _fail(
                path,
                "no model config in this HDF5 file (a weights-only file or not a Keras model)",
            )
        config = _check_model_config(path, _json(path, raw, "model_config"), "model_config")
        group = handle.get("model_weights", handle)
        yield _Source(config, legacy=_legacy_h5_weights(path, group))


@contextmanager
def _read_keras_zip(path: Path) -> Iterator[_Source]:
    try:
        archive = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError) as error:
        raise _fail(path, f"not a valid .keras archive ({error})") from None
    with archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise _fail(path, "zip archive has no config.json: not a .keras model")
        try:
            text = archive.read("config.json")
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise _fail(path, f"cannot read config.json ({error})") from None
        config = _check_model_config(path, _json(path, text, "config.json"), "config.json")
        if "model.weights.h5" not in names:
            # Keras 3 writes this member even for a model without weights (empty groups).
            raise _fail(
                path, ".keras archive has no model.weights.h5: truncated or not saved by Keras?"
            )
        info = archive.getinfo("model.weights.h5")
    with open(path, "rb") as handle:
        source: Any = _stored_member(path, handle, info)
        with _open_h5(path, source) as weights:
            # The file stays open while the model is built: layer names are read lazily.
            yield _Source(config, keras3=_keras3_node(weights.id))


def _stored_member(path: Path, handle: Any, info: zipfile.ZipInfo) -> Any:
    """A seekable reader of an archive member: a window on the file when stored uncompressed."""
    if info.compress_type != zipfile.ZIP_STORED:
        # Compressed weights: h5py needs random access, so decompress the member into memory.
        with zipfile.ZipFile(handle) as archive:
            return io.BytesIO(archive.read(info))
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) < 30 or not header.startswith(_ZIP_SIGNATURE):
        raise _fail(path, "corrupt .keras archive (bad local header for model.weights.h5)")
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > os.path.getsize(path):
        raise _fail(path, "truncated .keras archive (model.weights.h5 is cut off)")
    return io.BufferedReader(_Window(handle, start, info.file_size))


# --- the graph -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    layer: str
    node: int
    tensor: int


@dataclass
class _Tensor:
    shape: Shape | None
    assumed: bool = False
    reason: str | None = None


@dataclass
class _Call:
    inputs: list[_Ref]
    kwargs: dict[str, Any]
    recorded: list[Shape | None]


@dataclass
class _CallResult:
    inputs: list[_Tensor]
    outputs: list[_Tensor]
    note: str | None = None
    node: int = 0  # which call (inbound node) of the layer this is


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


def _is_keras3_tensor(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__"


def _keras3_ref(value: Mapping[str, Any]) -> tuple[_Ref, Shape | None]:
    config = value["config"]
    name, node, tensor = config["keras_history"]
    shape = config.get("shape")
    return _Ref(name, int(node), int(tensor)), (tuple(shape) if shape is not None else None)


def _replace_refs(value: Any, found: list[_Ref], keras3: bool) -> Any:
    """Copy of a kwargs structure with tensors replaced by `_Ref`s (collected into `found`)."""
    if keras3 and _is_keras3_tensor(value):
        ref, _ = _keras3_ref(value)
        found.append(ref)
        return ref
    if not keras3 and _is_history(value) and len(value) == 3:
        ref = _Ref(value[0], value[1], value[2])
        found.append(ref)
        return ref
    if isinstance(value, Mapping):
        return {k: _replace_refs(v, found, keras3) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_refs(v, found, keras3) for v in value]
    return value


def _keras2_call(node: Any) -> _Call:
    refs: list[_Ref] = []
    kwargs: dict[str, Any] = {}

    def walk(value: Any) -> None:
        nonlocal kwargs
        if _is_history(value):
            refs.append(_Ref(value[0], value[1], value[2]))
            if len(value) == 4 and value[3]:
                kwargs = dict(value[3])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(node)
    kw_refs: list[_Ref] = []
    kwargs = _replace_refs(kwargs, kw_refs, keras3=False)
    return _Call(refs + kw_refs, kwargs, [None] * (len(refs) + len(kw_refs)))


def _keras3_call(node: Mapping[str, Any]) -> _Call:
    refs: list[_Ref] = []
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
    kw_refs: list[_Ref] = []
    kwargs = _replace_refs(dict(node.get("kwargs", {})), kw_refs, keras3=True)
    for ref in kw_refs:  # tensors passed by keyword (their shapes were recorded too)
        refs.append(ref)
    for value in _iter_keras3_tensors(node.get("kwargs", {})):
        recorded.append(_keras3_ref(value)[1])
    return _Call(refs, kwargs, recorded)


def _iter_keras3_tensors(value: Any) -> Iterator[Mapping[str, Any]]:
    if _is_keras3_tensor(value):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _iter_keras3_tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _iter_keras3_tensors(item)


def _history_list(value: Any) -> list[_Ref]:
    """`input_layers`/`output_layers` entries: one `[name, node, tensor]` or a list of them."""
    if not value:
        return []
    if _is_history(value):
        return [_Ref(value[0], value[1], value[2])]
    if isinstance(value, Mapping):
        value = list(value.values())
    refs: list[_Ref] = []
    for item in value:
        refs.extend(_history_list(item))
    return refs


def _snake_case(name: str) -> str:
    """Keras' rule for the path of a layer in a `.keras` weights file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _base_class(class_name: str) -> str:
    return class_name[5:] if class_name.startswith("Quant") and len(class_name) > 5 else class_name


def _keras3_weight_names(class_name: str, config: Mapping[str, Any], count: int) -> list[str]:
    """Names of a Keras 3 layer's variables in creation order (the `.keras` file numbers them).

    Unknown classes, or a count that does not fit, give `variable_0`, `variable_1`, ...
    """
    names = _known_keras3_names(class_name, config)
    if names is None or len(names) != count:
        names = [f"variable_{i}" for i in range(count)]
    return names


def _known_keras3_names(class_name: str, config: Mapping[str, Any]) -> list[str] | None:
    base = _base_class(class_name)
    bias = ["bias"] if config.get("use_bias", True) else []
    names: list[str]
    if base.startswith("SeparableConv"):
        names = ["depthwise_kernel", "pointwise_kernel", *bias]
    elif base in ("Dense", "EinsumDense") or base.startswith(
        ("Conv", "DepthwiseConv", "LocallyConnected")
    ):
        names = ["kernel", *bias]
    elif base in ("BatchNormalization", "SyncBatchNormalization"):
        names = ["gamma"] if config.get("scale", True) else []
        names += ["beta"] if config.get("center", True) else []
        names += ["moving_mean", "moving_variance"]
    elif base == "LayerNormalization":
        names = ["gamma"] if config.get("scale", True) else []
        names += ["beta"] if config.get("center", True) else []
    elif base == "Embedding":
        names = ["embeddings"]
    elif base == "PReLU":
        names = ["alpha"]
    elif base == "Normalization":
        names = ["mean", "variance", "count"]
    elif base in _IDENTITY_LIKE:
        names = []
    else:
        return None
    return names


# Weightless layer classes (for checking the `.keras` group-to-layer match).
_IDENTITY_LIKE = {
    "InputLayer", "Activation", "Flatten", "Reshape", "Permute", "Dropout", "Add", "Subtract",
    "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "ReLU", "Softmax", "Rescaling",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "ZeroPadding1D", "ZeroPadding2D",
    "UpSampling2D", "Cropping2D", "Lambda",
}  # fmt: skip


def _is_model_config(entry: Mapping[str, Any]) -> bool:
    config = entry.get("config")
    return isinstance(config, Mapping) and isinstance(config.get("layers"), list)


def _is_operation(entry: Mapping[str, Any]) -> bool:
    """Keras 3 ops (`keras.ops.*` calls) in a functional graph: nodes, but not model layers."""
    module = str(entry.get("module") or "")
    return module.startswith(("keras.src.ops", "keras.ops"))


@dataclass
class _Layer:
    name: str
    class_name: str
    config: Mapping[str, Any]
    calls: list[_Call]
    operation: bool = False
    model: _Model | None = None
    weights: tuple[WeightRecord, ...] = ()
    results: list[_CallResult] = field(default_factory=list)


class _Model:
    """One (possibly nested) model config: its layers, graph, and static evaluation."""

    def __init__(self, entry: Mapping[str, Any], context: _Context, trainable: bool = True):
        self.class_name = strip_package(str(entry.get("class_name", "Model")))
        self.config = entry.get("config") or {}
        self.name = str(self.config.get("name", "model"))
        self.context = context
        self.trainable = trainable and self.config.get("trainable", True) is not False
        raw_layers = self.config["layers"]
        self.sequential = "input_layers" not in self.config
        self.layers: list[_Layer] = []
        self.inputs: list[_Ref] = []
        self.outputs: list[_Ref] = []
        self.input_config: Mapping[str, Any] | None = None
        # Filled by `evaluate`: shapes Keras 3 recorded per tensor, and the model's input shapes.
        self.recorded: dict[_Ref, Shape] = {}
        self.model_input_shapes: list[Shape | None] = []
        if self.sequential:
            self._parse_sequential(raw_layers)
        else:
            self._parse_functional(raw_layers)
        self._by_name = {layer.name: layer for layer in self.layers}

    # parsing

    def _layer(self, entry: Mapping[str, Any], calls: list[_Call]) -> _Layer:
        class_name = strip_package(str(entry["class_name"]))
        config = entry.get("config") or {}
        name = str(entry.get("name") or config.get("name") or class_name)
        layer = _Layer(name, class_name, config, calls, operation=_is_operation(entry))
        if _is_model_config(entry):
            layer.model = _Model(entry, self.context, self.trainable)
        return layer

    def _parse_sequential(self, raw_layers: list[Mapping[str, Any]]) -> None:
        previous: str | None = None
        for entry in raw_layers:
            if strip_package(str(entry["class_name"])) == "InputLayer":
                self.input_config = entry.get("config") or {}
                continue
            calls = [_Call([_Ref(previous, 0, 0)], {}, [None])] if previous else [_Call([], {}, [])]
            layer = self._layer(entry, calls)
            if previous is None and self.input_config is None:
                self.input_config = _sequential_input(self.config, entry)
            self.layers.append(layer)
            previous = layer.name
        self.outputs = [_Ref(previous, 0, 0)] if previous else []

    def _parse_functional(self, raw_layers: list[Mapping[str, Any]]) -> None:
        for entry in raw_layers:
            nodes = entry.get("inbound_nodes") or []
            calls = [
                _keras3_call(node) if isinstance(node, Mapping) else _keras2_call(node)
                for node in nodes
            ]
            self.layers.append(self._layer(entry, calls))
        self.inputs = _history_list(self.config.get("input_layers"))
        self.outputs = _history_list(self.config.get("output_layers"))

    @property
    def model_layers(self) -> list[_Layer]:
        """What Keras lists as `model.layers` (Sequential drops its InputLayer; no ops)."""
        return [layer for layer in self.layers if not layer.operation]

    # weights

    def attach_legacy_weights(self, table: Mapping[str, list[tuple[str, tuple[int, ...]]]]) -> None:
        for layer in self.layers:
            if not self.sequential and table and layer.name not in table:
                layer.operation = True  # a Keras 3 op saved without its module (legacy h5)
        for layer in self.model_layers:
            entries = table.get(layer.name, [])
            if layer.model is not None:
                layer.model.attach_nested_legacy(entries)
            else:
                layer.weights = self._weight_records(layer, entries)

    def _descendants(self) -> dict[str, tuple[_Model, _Layer]]:
        found: dict[str, tuple[_Model, _Layer]] = {}
        for layer in self.model_layers:
            if layer.model is not None:
                found.update(layer.model._descendants())
            else:
                found[layer.name] = (self, layer)
        return found

    def attach_nested_legacy(self, entries: list[tuple[str, tuple[int, ...]]]) -> None:
        """Weights of a nested model are saved together, as `inner_layer/kernel[:0]`."""
        owners = self._descendants()
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
            model, layer = owners[owner]
            layer.weights = model._weight_records(layer, items)
        if unmatched:
            self.context.notes.append(
                f"nested model '{self.name}': weights {unmatched} could not be matched to a layer "
                "by name; they are counted on its first layer"
            )

    def attach_keras3_weights(self, node: _Weights) -> None:
        """Match each layer to its group `layers/<snake_case(class)>[_N]` of the weights file.

        Keras numbers groups per class in `model.layers` order. When that does not fit (a
        renamed class, a layer missing from the file), fall back to the layer name Keras stores
        on each `vars` group.
        """
        by_path = self._keras3_paths(node)
        if by_path is None:
            by_name = {c.saved_name: c for c in node.children.values()}
            by_path = {layer.name: by_name.get(layer.name) for layer in self.model_layers}
        for layer in self.model_layers:
            child = by_path.get(layer.name)
            if child is None:
                continue
            if layer.model is not None:
                layer.model.attach_keras3_weights(child)
                continue
            numbered = [(k, shape) for k, shape in child.items if k.isdigit()]
            names = _keras3_weight_names(layer.class_name, layer.config, len(numbered))
            items = list(zip(names, (shape for _, shape in numbered), strict=True))
            items += [(k, shape) for k, shape in child.items if not k.isdigit()]
            layer.weights = self._weight_records(layer, items, legacy=False)

    def _keras3_paths(self, node: _Weights) -> dict[str, _Weights | None] | None:
        used: dict[str, int] = {}
        found: dict[str, _Weights | None] = {}
        for layer in self.model_layers:
            key = _snake_case(layer.class_name)
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
                expected = _known_keras3_names(layer.class_name, layer.config)
                if expected is not None and len(expected) != len(numbered):
                    return None  # the group's variables do not fit this layer class
            found[layer.name] = child
        return found

    def _weight_records(
        self, layer: _Layer, items: Iterable[tuple[str, tuple[int, ...]]], legacy: bool = True
    ) -> tuple[WeightRecord, ...]:
        quantizers = layer_quantizers(layer.class_name, layer.config, self.context.overrides)
        layer_trainable = self.trainable and layer.config.get("trainable", True) is not False
        depthwise = _base_class(layer.class_name).startswith("DepthwiseConv")
        records = []
        for full_name, shape in items:
            name = _short_name(full_name) if legacy else full_name
            if depthwise and name == "depthwise_kernel":
                # Keras 2 names a DepthwiseConv kernel `depthwise_kernel`, Keras 3 `kernel`: use
                # the Keras 3 name so both engines (and both file generations) agree.
                name = "kernel"
            argument = _WEIGHT_QUANTIZER.get(name)
            if depthwise and name == "kernel" and "kernel_quantizer" not in quantizers:
                argument = "depthwise_quantizer"
            quantizer = quantizers.get(argument) if argument else None
            non_trainable = name in _NON_TRAINABLE and (
                _base_class(layer.class_name) in _NON_TRAINABLE_CLASSES
            )
            records.append(
                WeightRecord(
                    name=name,
                    shape=tuple(shape),
                    precision=quantizer.precision if quantizer else None,
                    trainable=layer_trainable and not non_trainable,
                )
            )
        return tuple(records)

    # static evaluation

    def evaluate(self, input_shapes: Sequence[_Tensor] | None) -> list[_Tensor]:
        """Run shape inference for one call of this model; returns its output tensors."""
        if self.sequential:
            return self._evaluate_sequential(input_shapes)
        return self._evaluate_functional(input_shapes)

    def _evaluate_sequential(self, input_shapes: Sequence[_Tensor] | None) -> list[_Tensor]:
        if input_shapes:
            current = input_shapes[0]
        elif self.input_config is not None:
            inferred = shapes.infer("InputLayer", self.input_config, [])
            current = _Tensor(inferred.shapes[0] if inferred.known else None, False, inferred.note)
        else:
            current = _Tensor(None, False, "shape unknown: the model has no input shape")
        self.model_input_shapes = [current.shape] if current.shape is not None else []
        for index, layer in enumerate(self.layers):
            following = self.layers[index + 1] if index + 1 < len(self.layers) else None
            consumers = {0: [following]} if following else {}
            outputs = self._run_layer(layer, layer.calls[0], [current], {}, consumers)
            current = outputs[0] if outputs else _Tensor(None, False, "no output")
        return [current]

    def _consumers(self) -> dict[str, dict[int, list[_Layer]]]:
        """For each layer name: tensor index -> layers consuming it (any node)."""
        table: dict[str, dict[int, list[_Layer]]] = {}
        for layer in self.layers:
            for call in layer.calls:
                for ref in call.inputs:
                    table.setdefault(ref.layer, {}).setdefault(ref.tensor, []).append(layer)
        return table

    def _evaluate_functional(self, input_shapes: Sequence[_Tensor] | None) -> list[_Tensor]:
        produced: dict[tuple[str, int], list[_Tensor]] = {}
        recorded: dict[_Ref, Shape] = {}
        for layer in self.layers:
            for call in layer.calls:
                for ref, shape in zip(call.inputs, call.recorded, strict=False):
                    if shape is not None:
                        recorded[ref] = shape
        self.recorded = recorded
        consumers = self._consumers()
        given = dict(zip([ref.layer for ref in self.inputs], input_shapes or [], strict=False))
        pending = [(layer, i) for layer in self.layers for i in range(max(1, len(layer.calls)))]
        while pending:
            waiting = []
            for layer, index in pending:
                if layer.class_name == "InputLayer" or not layer.calls:
                    outputs = self._run_input(layer, given.get(layer.name))
                    produced[(layer.name, index)] = outputs
                    continue
                call = layer.calls[index]
                if any((ref.layer, ref.node) not in produced for ref in call.inputs):
                    waiting.append((layer, index))
                    continue
                tensors = [self._tensor_of(produced, ref) for ref in call.inputs]
                kw_tensors = dict(zip(call.inputs, tensors, strict=True))
                produced[(layer.name, index)] = self._run_layer(
                    layer, call, tensors, kw_tensors, consumers.get(layer.name, {}), index
                )
            if len(waiting) == len(pending):
                names = sorted({layer.name for layer, _ in waiting})
                raise BnnstatError(
                    f"{self.context.path}: model '{self.name}' has layers whose inputs are never "
                    f"produced (broken graph): {', '.join(names[:5])}"
                )
            pending = waiting
        self.model_input_shapes = [
            produced[(ref.layer, ref.node)][0].shape for ref in self.inputs
            if (ref.layer, ref.node) in produced
        ]  # fmt: skip
        return [self._tensor_of(produced, ref) for ref in self.outputs]

    def _tensor_of(self, produced: Mapping[tuple[str, int], list[_Tensor]], ref: _Ref) -> _Tensor:
        outputs = produced[(ref.layer, ref.node)]
        if ref.tensor < len(outputs):
            return outputs[ref.tensor]
        return _Tensor(None, False, f"shape unknown: output {ref.tensor} of '{ref.layer}'")

    def _run_input(self, layer: _Layer, given: _Tensor | None) -> list[_Tensor]:
        if given is not None and given.shape is not None:
            tensor = given
        else:
            inferred = shapes.infer("InputLayer", layer.config, [])
            tensor = _Tensor(inferred.shapes[0] if inferred.known else None, False, inferred.note)
        layer.results.append(_CallResult([], [tensor], tensor.reason))
        return [tensor]

    def _run_layer(
        self,
        layer: _Layer,
        call: _Call,
        inputs: list[_Tensor],
        by_ref: Mapping[_Ref, _Tensor],
        consumers: Mapping[int, list[_Layer]],
        node: int = 0,
    ) -> list[_Tensor]:
        kw_refs = set(_collect_refs(call.kwargs))
        first = [t for ref, t in zip(call.inputs, inputs, strict=False) if ref not in kw_refs]
        if not first:  # Sequential: positional inputs only
            first = inputs
        kwargs = _kwargs_with_shapes(call.kwargs, by_ref)
        assumed = any(t.assumed for t in inputs)
        if layer.model is not None:
            outputs = layer.model.evaluate(first)
            note = None
        else:
            outputs, note = self._infer(layer, first, kwargs, consumers)
        if assumed:
            outputs = [_Tensor(t.shape, True, t.reason) for t in outputs]
        outputs = [self._fill_recorded(_Ref(layer.name, node, i), t) for i, t in enumerate(outputs)]
        if note and all(t.shape is not None and not t.assumed for t in outputs):
            note = None  # Keras recorded the shapes that inference could not give
        layer.results.append(_CallResult(list(inputs), outputs, note, node))
        return outputs

    def _fill_recorded(self, ref: _Ref, tensor: _Tensor) -> _Tensor:
        """Use the shape Keras 3 recorded for this tensor where inference left a gap."""
        recorded = self.recorded
        shape = recorded.get(ref)
        if shape is None:
            return tensor
        if tensor.shape is None or tensor.assumed or None in tensor.shape[1:]:
            return _Tensor((None, *shape[1:]), False, None)
        return tensor

    def _infer(
        self,
        layer: _Layer,
        inputs: list[_Tensor],
        kwargs: Mapping[str, Any],
        consumers: Mapping[int, list[_Layer]],
    ) -> tuple[list[_Tensor], str | None]:
        in_shapes = [t.shape for t in inputs]
        inferred = shapes.infer(layer.class_name, layer.config, in_shapes, kwargs)
        if inferred.known:
            return [_Tensor(s) for s in inferred.shapes], None
        if layer.class_name == "Lambda" and in_shapes and in_shapes[0] is not None:
            return self._assume_lambda(layer, in_shapes[0], consumers)
        reason = inferred.note
        if any(s is None for s in in_shapes):
            upstream = next((t.reason for t in inputs if t.shape is None and t.reason), None)
            reason = upstream or reason
        return [_Tensor(None, False, reason)], reason

    def _assume_lambda(
        self, layer: _Layer, shape: Shape, consumers: Mapping[int, list[_Layer]]
    ) -> tuple[list[_Tensor], str]:
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
            outputs.append(_Tensor(tuple(out), True, None))
        note = "Lambda layer not executed: output assumed to keep the input's spatial size"
        if pinned_by:
            note += f", channels taken from the weights of {', '.join(sorted(set(pinned_by)))}"
        return outputs, note

    # records

    def records(self) -> tuple[LayerRecord, ...]:
        return tuple(self._record(layer) for layer in self.model_layers)

    def _record(self, layer: _Layer) -> LayerRecord:
        quantizers = layer_quantizers(layer.class_name, layer.config, self.context.overrides)
        layer.results.sort(key=lambda result: result.node)  # calls may resolve out of order
        outputs = [t for result in layer.results for t in result.outputs]
        known = [t.shape for t in outputs if t.shape is not None]
        single = all(len(r.outputs) == 1 for r in layer.results)
        output_shape = known[0] if single and known and len(set(known)) == 1 and len(
            known) == len(outputs) else None  # fmt: skip
        notes = []
        if layer.class_name != "InputLayer" or not known:
            notes += [r.note for r in layer.results if r.note]
        if not known:
            notes += [t.reason for t in outputs if t.reason]
        elif not single:
            notes.append("multiple outputs")
        elif len(set(known)) > 1:
            notes.append("calls have different output shapes (multiple)")
        assumed = any(t.assumed for t in outputs)
        if assumed and layer.class_name != "Lambda":
            notes.append("output shape rests on an assumed Lambda output shape")
        notes += [q.note for q in quantizers.values() if q.note]
        input_precision = quantizers["input_quantizer"].precision if (
            "input_quantizer" in quantizers) else None  # fmt: skip
        nested = layer.model.records() if layer.model is not None else ()
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
            inbound=self._inbound(layer),
            call_count=max(1, len(layer.calls)) if not self.sequential else 1,
            note="; ".join(dict.fromkeys(notes)) or None,
            shape_assumed=assumed,
            layers=nested,
        )

    def _inbound(self, layer: _Layer) -> tuple[str, ...]:
        names: list[str] = []
        stack = [ref.layer for call in reversed(layer.calls) for ref in reversed(call.inputs)]
        seen_ops: set[str] = set()
        while stack:
            name = stack.pop()
            source = self._by_name.get(name)
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


def _sequential_input(model_config: Mapping[str, Any], first: Mapping[str, Any]) -> Any:
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


def _collect_refs(value: Any) -> Iterator[_Ref]:
    if isinstance(value, _Ref):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _collect_refs(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _collect_refs(item)


def _kwargs_with_shapes(value: Any, by_ref: Mapping[_Ref, _Tensor]) -> Any:
    if isinstance(value, _Ref):
        tensor = by_ref.get(value)
        return shapes.TensorArg(tensor.shape if tensor else None)
    if isinstance(value, Mapping):
        return {k: _kwargs_with_shapes(v, by_ref) for k, v in value.items()}
    if isinstance(value, list):
        return [_kwargs_with_shapes(v, by_ref) for v in value]
    return value


def _input_channels(layer: _Layer) -> int | None:
    """Input channel count implied by a layer's weights (to pin the output of a Lambda)."""
    base = _base_class(layer.class_name)
    weights = {w.name: w.shape for w in layer.weights}
    groups = int(layer.config.get("groups", 1) or 1)
    if base == "Dense" and "kernel" in weights:
        return weights["kernel"][0]
    if base.startswith("SeparableConv") and "depthwise_kernel" in weights:
        return weights["depthwise_kernel"][-2]
    if base.startswith("DepthwiseConv"):
        kernel = weights.get("depthwise_kernel") or weights.get("kernel")
        return kernel[-2] if kernel else None
    if base.startswith("Conv") and base.endswith("Transpose") and "kernel" in weights:
        return weights["kernel"][-1]
    if base.startswith(("Conv", "LocallyConnected")) and "kernel" in weights:
        return weights["kernel"][-2] * groups
    if base in ("BatchNormalization", "LayerNormalization"):
        for name in ("moving_mean", "gamma", "beta"):
            if name in weights and len(weights[name]) == 1:
                return weights[name][0]
    return None


def _channels_first_consumer(consumers: Sequence[_Layer]) -> bool:
    return any(c.config.get("data_format") == "channels_first" for c in consumers)


@dataclass
class _Context:
    path: Path
    overrides: Mapping[str, int]
    notes: list[str] = field(default_factory=list)


# --- entry point -----------------------------------------------------------------------------


def read(
    path: str | os.PathLike[str], precision_overrides: Mapping[str, int] | None = None
) -> ModelRecord:
    """Read a `.h5` or `.keras` model file into a `ModelRecord` (statically, read-only).

    Raises `BnnstatError` (message names the file and the problem) for a missing, empty,
    truncated, corrupt or non-model file.
    """
    path = Path(path)
    kind = sniff(path)
    opener = _read_keras_zip if kind == "keras" else _read_h5
    context = _Context(path, dict(precision_overrides or {}))
    with opener(path) as source:
        context.notes.extend(source.notes)
        model = _build(path, source, context)
        layers = model.records()
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


def _build(path: Path, source: _Source, context: _Context) -> _Model:
    """Parse the config, attach weight shapes and run shape inference (file still open)."""
    entry = source.config
    try:
        model = _Model(entry, context)
        if source.legacy is not None:
            model.attach_legacy_weights(source.legacy)
        elif source.keras3 is not None:
            model.attach_keras3_weights(source.keras3)
        model.evaluate(None)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise _fail(
            path, f"unexpected model config structure ({type(error).__name__}: {error})"
        ) from None
    return model


def _walk(record: LayerRecord) -> Iterator[LayerRecord]:
    yield record
    for child in record.layers:
        yield from _walk(child)
