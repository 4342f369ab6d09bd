"""Container access: sniffing a file's kind, and opening `.h5` files and `.keras` zip archives.

Only `h5py`, `json` and `zipfile` are used; files are opened read-only. Weight *values* are never
read here (only dataset shapes and attributes), and nothing stored in a file is executed. Every
problem a user's file can cause raises `BnnstatError` with a message naming the file.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bnnstat.errors import BnnstatError
from bnnstat.inspect.reader.keras_config import is_model_config

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"

ModelFileKind = Literal["h5", "keras"]


def fail(path: Path, problem: str) -> BnnstatError:
    return BnnstatError(f"{path}: {problem}")


class Window(io.RawIOBase):
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


def h5py_module():  # noqa: ANN201
    import h5py  # imported here so that importing the reader stays cheap

    return h5py


def model_file_kind(path: str | os.PathLike[str]) -> ModelFileKind | None:
    """`"h5"` or `"keras"` from the file's first bytes, or None when it is neither.

    Raises `BnnstatError` only when there is no regular file to look at (missing, a directory).
    An empty file or any other content gives None. HDF5 files may start with a user block, so
    the signature is also looked for at offsets 512, 1024, 2048, ... as the HDF5 spec allows.
    """
    path = Path(path)
    if not path.exists():
        raise fail(path, "file not found")
    if not path.is_file():
        raise fail(path, "not a regular file")
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
        raise fail(path, f"cannot read ({error.strerror or error})") from None
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
        raise fail(path, "empty file")
    raise fail(path, "not a Keras model file (neither HDF5 nor a .keras zip archive)")


def decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def parse_json(path: Path, text: Any, what: str) -> Any:
    try:
        return json.loads(decode(text))
    except (ValueError, UnicodeDecodeError) as error:
        raise fail(path, f"{what} is not valid JSON ({error})") from None


@contextmanager
def open_h5(path: Path, source: Any = None) -> Iterator[Any]:
    h5py = h5py_module()
    try:
        handle = h5py.File(source if source is not None else str(path), "r", locking=False)
    except (OSError, ValueError) as error:
        reason = str(error).split("(")[0].strip().rstrip(":") or type(error).__name__
        raise fail(path, f"cannot read HDF5 data (truncated or corrupt file?): {reason}") from None
    with handle:
        yield handle


# --- weight shapes -----------------------------------------------------------------------------


@dataclass
class Weights:
    """Weight shapes found in the file for one layer (short name, shape)."""

    items: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    # Keras 3 archives: sub-model weights keyed like the layer tree; legacy h5: full names.
    children: dict[str, Weights] = field(default_factory=dict)
    name_reader: Any = None  # reads the layer name Keras >= 3.? stores on `vars` (lazily)

    @property
    def saved_name(self) -> str | None:
        return self.name_reader() if self.name_reader is not None else None


def legacy_h5_weights(path: Path, group: Any) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """`{layer name: [(full weight name, shape), ...]}` from a Keras 2 / legacy-h5 weights group.

    Low-level h5py with relative opens (see `_keras3_node` for why).
    """
    h5g, h5d = h5py_module().h5g, h5py_module().h5d
    names = attribute(group.id, b"layer_names")
    if names is None:
        raise fail(path, "HDF5 file has no 'layer_names': not a Keras model weights group")
    table: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for layer_name in (decode(n) for n in names):
        layer_id = h5g.open(group.id, layer_name.encode())
        entries = []
        for weight_name in (decode(n) for n in attribute(layer_id, b"weight_names") or []):
            shape = h5d.open(layer_id, weight_name.encode()).shape
            entries.append((weight_name, tuple(int(d) for d in shape)))
        table[layer_name] = entries
    return table


def attribute(object_id: Any, name: bytes) -> Any:
    """An HDF5 attribute by low-level id (None when absent); strings decoded."""
    h5py = h5py_module()
    if not h5py.h5a.exists(object_id, name):
        return None
    import numpy

    attribute = h5py.h5a.open(object_id, name)
    buffer = numpy.empty(attribute.shape, dtype=attribute.dtype)
    attribute.read(buffer)
    return decode(buffer[()] if buffer.shape == () else buffer.tolist())


def keras3_node(group_id: Any) -> Weights:
    """The variable shapes under one saveable's group of a Keras 3 weights file.

    Uses h5py's low-level API with relative opens: the high-level one costs about 3x more per
    object, which dominates the read time of models with hundreds of layers.
    """
    h5g, h5d = h5py_module().h5g, h5py_module().h5d
    node = Weights()
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
        node.name_reader = lambda: attribute(vars_id, b"name")
    for key in keys:
        if key == "vars":
            continue
        child_id = h5g.open(group_id, key.encode())
        if key == "layers":
            for child in child_id:
                node.children[child.decode()] = keras3_node(h5g.open(child_id, child))
        else:  # state of a sub-object (e.g. a quantizer with variables): keep it counted
            extra = keras3_node(child_id)
            node.items.extend((f"{key}/{n}", shape) for n, shape in extra.items)
    return node


def check_model_config(path: Path, entry: Any, what: str) -> Mapping[str, Any]:
    """The saved model config, if it lists its layers (else a `BnnstatError` saying why not)."""
    if not isinstance(entry, Mapping):
        raise fail(
            path,
            f"{what} holds a JSON {type(entry).__name__}, not a model config object: "
            "not a Keras model file",
        )
    if is_model_config(entry):
        return entry
    class_name = entry.get("class_name")
    if not isinstance(class_name, str) or not class_name:
        raise fail(path, f"{what} has no model class name and no layer list: not a Keras model")
    raise fail(
        path,
        f"model '{class_name}' is a subclassed model with no functional config (no layer "
        "list), so it cannot be read statically; `bnnstat summary --engine keras` may load it",
    )


@dataclass
class Source:
    config: Mapping[str, Any]
    legacy: dict[str, list[tuple[str, tuple[int, ...]]]] | None = None
    keras3: Weights | None = None
    notes: list[str] = field(default_factory=list)


# --- HDF5 model files: where Keras 2 and Keras 3's legacy saver put things ---------------------


def h5_model_config(path: Path, handle: Any) -> Any:
    """The parsed JSON of an HDF5 model file's ``model_config`` attribute (not yet checked)."""
    raw = handle.attrs.get("model_config")
    if raw is None:
        raise fail(
            path, "no model config in this HDF5 file (a weights-only file or not a Keras model)"
        )
    return parse_json(path, raw, "model_config")


def h5_keras_version(handle: Any) -> str:
    """The ``keras_version`` that saved an HDF5 model file (``""`` when not recorded)."""
    return str(decode(handle.attrs.get("keras_version", "")))


def legacy_weights_group(handle: Any) -> Any:
    """The group holding an HDF5 model file's weights by layer name (a weights-only file: the
    root); `legacy_h5_weights` lists it, `legacy_h5_value` reads from it."""
    return handle.get("model_weights", handle)


def legacy_h5_value(path: Path, group: Any, layer_name: str, weight_name: str) -> Any:
    """The saved value (a numpy array) of one weight listed by `legacy_h5_weights`."""
    import numpy

    try:
        return numpy.asarray(group[layer_name][weight_name][()])
    except (KeyError, OSError, ValueError, TypeError) as error:
        raise fail(
            path, f"cannot read weight {weight_name!r} of layer {layer_name!r} ({error})"
        ) from None


def h5_training_config(path: Path, handle: Any) -> Any:
    """The parsed ``training_config`` attribute (optimizer, loss, metrics), or None."""
    raw = handle.attrs.get("training_config")
    return None if raw is None else parse_json(path, raw, "training_config")


def h5_optimizer_state(path: Path, handle: Any) -> list[tuple[str, Any]]:
    """The saved optimizer variables as ``(weight name, numpy array)``, in saved order."""
    import numpy

    group = handle.get("optimizer_weights")
    if group is None:
        return []
    names = [str(decode(name)) for name in group.attrs.get("weight_names", [])]
    try:
        return [(name, numpy.asarray(group[name][()])) for name in names]
    except (KeyError, OSError, ValueError, TypeError) as error:
        raise fail(path, f"cannot read the saved optimizer state ({error})") from None


@contextmanager
def read_h5(path: Path) -> Iterator[Source]:
    with open_h5(path) as handle:
        entry = h5_model_config(path, handle)
        config = check_model_config(path, entry, "model_config")
        yield Source(config, legacy=legacy_h5_weights(path, legacy_weights_group(handle)))


@contextmanager
def read_keras_zip(path: Path) -> Iterator[Source]:
    try:
        archive = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError) as error:
        raise fail(path, f"not a valid .keras archive ({error})") from None
    with archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise fail(path, "zip archive has no config.json: not a .keras model")
        try:
            text = archive.read("config.json")
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise fail(path, f"cannot read config.json ({error})") from None
        config = check_model_config(path, parse_json(path, text, "config.json"), "config.json")
        if "model.weights.h5" not in names:
            # Keras 3 writes this member even for a model without weights (empty groups).
            raise fail(
                path, ".keras archive has no model.weights.h5: truncated or not saved by Keras?"
            )
        info = archive.getinfo("model.weights.h5")
    with open(path, "rb") as handle:
        source: Any = stored_member(path, handle, info)
        with open_h5(path, source) as weights:
            # The file stays open while the model is built: layer names are read lazily.
            yield Source(config, keras3=keras3_node(weights.id))


def stored_member(path: Path, handle: Any, info: zipfile.ZipInfo) -> Any:
    """A seekable reader of an archive member: a window on the file when stored uncompressed."""
    if info.compress_type != zipfile.ZIP_STORED:
        # Compressed weights: h5py needs random access, so decompress the member into memory.
        with zipfile.ZipFile(handle) as archive:
            return io.BytesIO(archive.read(info))
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) < 30 or not header.startswith(_ZIP_SIGNATURE):
        raise fail(path, "corrupt .keras archive (bad local header for model.weights.h5)")
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > os.path.getsize(path):
        raise fail(path, "truncated .keras archive (model.weights.h5 is cut off)")
    return io.BufferedReader(Window(handle, start, info.file_size))


@contextmanager
def open_source(path: Path) -> Iterator[Source]:
    """The model config and weight shapes of a model file (sniffed); open while in use."""
    opener = read_keras_zip if sniff(path) == "keras" else read_h5
    with opener(path) as source:
        yield source


@contextmanager
def open_weights(path: str | os.PathLike[str]) -> Iterator[Any]:
    """The root HDF5 group holding the weights of a `.h5` or `.keras` file (read-only)."""
    path = Path(path)
    if sniff(path) == "h5":
        with open_h5(path) as handle:
            yield handle
        return
    with open(path, "rb") as raw:
        try:
            archive = zipfile.ZipFile(raw)
            info = archive.getinfo("model.weights.h5")
        except KeyError:
            raise fail(
                path, ".keras archive has no model.weights.h5: truncated or not saved by Keras?"
            ) from None
        except (zipfile.BadZipFile, OSError) as error:
            raise fail(path, f"not a valid .keras archive ({error})") from None
        with open_h5(path, stored_member(path, raw, info)) as handle:
            yield handle


def read_member_json(path: str | os.PathLike[str], member: str) -> Any:
    """The parsed JSON of one member (e.g. ``config.json``) of a `.keras` archive."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read(member)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as error:
        raise fail(path, f"cannot read {member} ({error})") from None
    return parse_json(path, text, member)
