"""Container access: sniffing a file's kind, and opening `.h5` files and `.keras` zip archives.

Only `h5py`, `json` and `zipfile` are used; files are opened read-only. Weight *values* are never
read here (only dataset shapes and attributes), and nothing stored in a file is executed. Every
problem a user's file can cause raises `BnnstatError` with a message naming the file.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
import zlib
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


class OutsideFileError(BnnstatError):
    """The file names data outside itself (an external link, external raw storage, a virtual
    dataset): refused by every reader, reported by `bnnstat audit` as finding SEC002."""

    def __init__(self, path: Path, object_name: str, problem: str) -> None:
        super().__init__(f"{path}: HDF5 {problem}; bnnstat never reads outside the model file")
        self.object_name = object_name
        self.problem = problem


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


# Deepest JSON nesting accepted: a Keras config nests about 4 levels per nested model, so this
# allows models nested ~25 deep while keeping every recursive walk far from Python's limit.
MAX_JSON_DEPTH = 100


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a number a model config may hold")


def _finite_float(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise ValueError(f"number {token[:20]} is out of range")
    return value


def parse_json(path: Path, text: Any, what: str) -> Any:
    """Strict JSON: no NaN/Infinity, no number beyond float range, nesting at most
    `MAX_JSON_DEPTH` deep (else `BnnstatError`)."""
    try:
        value = json.loads(decode(text), parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise fail(path, f"{what} is nested too deeply (limit {MAX_JSON_DEPTH})") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise fail(path, f"{what} is not valid JSON ({one_line(str(error))})") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise fail(path, f"{what} is nested too deeply (limit {MAX_JSON_DEPTH})")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), level by level, without recursion; stops
    counting past `MAX_JSON_DEPTH`."""
    depth, level = 0, [value] if isinstance(value, (dict, list)) else []
    while level and depth <= MAX_JSON_DEPTH:
        depth += 1
        below = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, (dict, list)):
                    below.append(child)
        level = below
    return depth


def one_line(text: str) -> str:
    """`text` on one line: whitespace runs (newlines included) become single spaces."""
    return " ".join(text.split())


@contextmanager
def open_h5(path: Path, source: Any = None) -> Iterator[Any]:
    h5py = h5py_module()
    try:
        handle = h5py.File(source if source is not None else str(path), "r", locking=False)
    except (OSError, ValueError) as error:
        reason = str(error).split("(")[0].strip().rstrip(":") or type(error).__name__
        raise fail(path, f"cannot read HDF5 data (truncated or corrupt file?): {reason}") from None
    with handle:
        try:
            check_h5(path, handle)
            yield handle
        except (RuntimeError, OSError, UnicodeDecodeError) as error:
            # What h5py raises for a corrupt structure met while walking or reading (bad object
            # headers, impossible dataspaces, undecodable names); our own code raises neither.
            raise fail(
                path, f"corrupt HDF5 data ({one_line(str(error)) or type(error).__name__})"
            ) from None


# --- HDF5: nothing outside the file, bounded walks and reads ---------------------------------

MAX_GROUP_DEPTH = 64  # Keras nests a group per layer, sub-model and sub-object: a few dozen


def check_h5(path: Path, handle: Any) -> None:
    """Refuse an HDF5 file that would make a reader look outside it.

    Every link reachable from the root is listed once (HDF5's own visit does not enter a group
    twice, so cycles and shared groups cost one visit each): external links and user-defined
    links are refused, then soft links must resolve to an object of this file (with external
    links gone, every path inside the file stays inside it). Every dataset must keep its data
    in the file: external raw storage and virtual datasets are refused.
    """
    h5py = h5py_module()
    root = handle.id
    soft: list[bytes] = []
    outside: list[tuple[bytes, int]] = []

    def visit_link(name: bytes, info: Any) -> None:
        if info.type == h5py.h5l.TYPE_SOFT:
            soft.append(name)
        elif info.type != h5py.h5l.TYPE_HARD:
            outside.append((name, info.type))
        return None

    root.links.visit(visit_link, info=True)
    for name, kind in outside:
        where = f"object {_h5_name(name)}"
        if kind == h5py.h5l.TYPE_EXTERNAL:
            target_file, target = root.links.get_val(name)
            problem = f"{where} is an external link to {decode(target_file)!r}:{decode(target)}"
            raise OutsideFileError(path, _h5_name(name), problem)
        raise OutsideFileError(path, _h5_name(name), f"{where} is a user-defined link")
    for name in soft:
        try:
            h5py.h5o.open(root, name)
        except (KeyError, OSError, ValueError, RuntimeError):
            target = decode(root.links.get_val(name))
            raise fail(
                path, f"HDF5 soft link {_h5_name(name)} points to {target!r}, which is not there"
            ) from None

    datasets: list[bytes] = []

    def visit_object(name: bytes, info: Any) -> None:
        if info.type == h5py.h5o.TYPE_DATASET:
            datasets.append(name)
        return None

    h5py.h5o.visit(root, visit_object, info=True)
    for name in datasets:
        try:
            plist = h5py.h5d.open(root, name).get_create_plist()
        except (KeyError, ValueError):  # listed by the visit, yet cannot be opened: corrupt
            raise fail(path, f"corrupt HDF5 dataset {_h5_name(name)}") from None
        if plist.get_layout() == h5py.h5d.VIRTUAL:
            problem = f"dataset {_h5_name(name)} is a virtual dataset (data in other files)"
            raise OutsideFileError(path, _h5_name(name), problem)
        if plist.get_external_count() > 0:
            problem = f"dataset {_h5_name(name)} keeps its data in an external file"
            raise OutsideFileError(path, _h5_name(name), problem)


def _h5_name(name: bytes | str) -> str:
    return repr("/" + decode(name).lstrip("/"))


def object_address(object_id: Any) -> tuple[int, int]:
    """Where an HDF5 object lives in its file: the same object reached twice has one address."""
    info = h5py_module().h5o.get_info(object_id)
    return (info.fileno, info.addr)


class GroupWalk:
    """Visited set and depth limit for one walk over the groups of an HDF5 file.

    A file may hard-link a group into itself (a cycle) or into many places (2**40 paths through
    an 80 KB file); Keras never does either, so a group met twice is an error, as is nesting
    deeper than `MAX_GROUP_DEPTH`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: set[tuple[int, int]] = set()

    def enter(self, group_id: Any, depth: int) -> None:
        if depth > MAX_GROUP_DEPTH:
            raise fail(self.path, f"HDF5 groups nested deeper than {MAX_GROUP_DEPTH}")
        address = object_address(group_id)
        if address in self.seen:
            name = decode(h5py_module().h5i.get_name(group_id) or b"?")
            raise fail(
                self.path,
                f"HDF5 group {_h5_name(name)} is reached twice (a hard-link cycle or a shared "
                "group); not a file Keras writes",
            )
        self.seen.add(address)


def walk_groups(path: Path, group: Any, skip: tuple[str, ...] = ()) -> Iterator[Any]:
    """The groups under `group` (high-level h5py objects), itself first, each once, depth first;
    children named in `skip` are not entered."""
    h5py = h5py_module()
    walk = GroupWalk(path)
    stack = [(group, 0)]
    while stack:
        current, depth = stack.pop()
        walk.enter(current.id, depth)
        yield current
        children = [current[key] for key in sorted(current.keys(), reverse=True) if key not in skip]
        stack.extend((c, depth + 1) for c in children if isinstance(c, h5py.Group))


def read_array(path: Path, dataset: Any) -> Any:
    """The values of an HDF5 dataset, if it declares no more bytes than its whole file holds.

    Keras stores weights uncompressed, so a dataset larger than its file is a lie about its
    shape (a small file declaring terabytes); it is refused before any memory is allocated.
    """
    import numpy

    limit = dataset.file.id.get_filesize()
    declared = int(numpy.prod(dataset.shape, dtype=object)) * dataset.dtype.itemsize
    if declared > limit:
        raise fail(
            path,
            f"HDF5 dataset {_h5_name(dataset.name)} declares shape {tuple(dataset.shape)} "
            f"({declared} bytes), more than the {limit}-byte file holds",
        )
    try:
        return numpy.asarray(dataset[()])
    except (OSError, ValueError, TypeError) as error:
        raise fail(
            path, f"cannot read HDF5 dataset {_h5_name(dataset.name)}: {one_line(str(error))}"
        ) from None


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
    for layer_name in (decode(n) for n in _as_list(path, names, "layer_names")):
        try:
            layer_id = h5g.open(group.id, str(layer_name).encode())
        except (KeyError, ValueError, TypeError):
            raise fail(
                path, f"layer_names lists {str(layer_name)!r} but the file has no such group"
            ) from None
        entries = []
        weight_names = attribute(layer_id, b"weight_names") or []
        for weight_name in (decode(n) for n in _as_list(path, weight_names, "weight_names")):
            try:
                shape = h5d.open(layer_id, str(weight_name).encode()).shape
            except (KeyError, ValueError, TypeError):
                raise fail(
                    path,
                    f"layer {str(layer_name)!r} lists weight {str(weight_name)!r} but the file "
                    "has no such dataset",
                ) from None
            entries.append((weight_name, tuple(int(d) for d in shape or ())))
        table[layer_name] = entries
    return table


def _as_list(path: Path, value: Any, what: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise fail(path, f"HDF5 attribute {what} is not a list of names")


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


def keras3_node(group_id: Any, walk: GroupWalk, depth: int = 0) -> Weights:
    """The variable shapes under one saveable's group of a Keras 3 weights file.

    Uses h5py's low-level API with relative opens: the high-level one costs about 3x more per
    object, which dominates the read time of models with hundreds of layers. `walk` refuses a
    group met twice and nesting beyond `MAX_GROUP_DEPTH`.
    """
    h5g, h5d = h5py_module().h5g, h5py_module().h5d
    walk.enter(group_id, depth)
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
            walk.enter(child_id, depth + 1)
            for child in child_id:
                node.children[child.decode()] = keras3_node(
                    h5g.open(child_id, child), walk, depth + 2
                )
        else:  # state of a sub-object (e.g. a quantizer with variables): keep it counted
            extra = keras3_node(child_id, walk, depth + 1)
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
    try:
        return read_array(path, group[layer_name][weight_name])
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
    group = handle.get("optimizer_weights")
    if group is None:
        return []
    names = [str(decode(name)) for name in group.attrs.get("weight_names", [])]
    try:
        return [(name, read_array(path, group[name])) for name in names]
    except (KeyError, OSError, ValueError, TypeError) as error:
        raise fail(path, f"cannot read the saved optimizer state ({error})") from None


@contextmanager
def read_h5(path: Path) -> Iterator[Source]:
    with open_h5(path) as handle:
        entry = h5_model_config(path, handle)
        config = check_model_config(path, entry, "model_config")
        yield Source(config, legacy=legacy_h5_weights(path, legacy_weights_group(handle)))


# --- zip archives: limits before reading, CRC always checked ---------------------------------

# A member may inflate to at most this many times its compressed size (Keras stores members
# uncompressed; deflated weights shrink a few times, a zip bomb a thousand times) ...
MAX_ZIP_RATIO = 50
# ... and config.json, parsed in memory, to at most this many bytes.
MAX_CONFIG_BYTES = 64 << 20
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def open_archive(path: Path, source: Any = None) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source if source is not None else path, "r")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise fail(path, f"not a valid .keras archive ({one_line(str(error))})") from None


def member_info(path: Path, archive: zipfile.ZipFile, member: str, limit: int | None) -> Any:
    """The checked `ZipInfo` of `member`: not encrypted, a known method, a declared size within
    `limit` and within `MAX_ZIP_RATIO` times its compressed size. Nothing is decompressed."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise fail(
            path, f".keras archive has no {member}: truncated or not saved by Keras?"
        ) from None
    if info.flag_bits & 0x1:
        raise fail(path, f"{member} is encrypted in the archive; Keras never encrypts")
    if info.compress_type not in _ZIP_METHODS:
        raise fail(path, f"{member} uses unsupported zip compression method {info.compress_type}")
    if limit is not None and info.file_size > limit:
        raise fail(
            path, f"{member} declares {info.file_size} bytes uncompressed, over the {limit} limit"
        )
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_ZIP_RATIO * max(
        info.compress_size, 1 << 14
    ):
        raise fail(
            path,
            f"{member} would inflate {info.compress_size} bytes to {info.file_size} (more than "
            f"{MAX_ZIP_RATIO}x): refused as a zip bomb",
        )
    return info


def read_member(path: Path, archive: zipfile.ZipFile, member: str, limit: int | None) -> bytes:
    """One member's bytes, after `member_info`'s checks; zipfile stops at the declared size
    and checks the CRC."""
    info = member_info(path, archive, member, limit)
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError,
            NotImplementedError, zlib.error) as error:  # fmt: skip
        raise fail(
            path, f"cannot read {member} from the archive ({one_line(str(error))})"
        ) from None


@contextmanager
def read_keras_zip(path: Path) -> Iterator[Source]:
    with open_archive(path) as archive:
        if "config.json" not in set(archive.namelist()):
            raise fail(path, "zip archive has no config.json: not a .keras model")
        text = read_member(path, archive, "config.json", MAX_CONFIG_BYTES)
        config = check_model_config(path, parse_json(path, text, "config.json"), "config.json")
    with open_weights(path) as weights:
        try:
            # The file stays open while the model is built: layer names are read lazily.
            node = keras3_node(weights.id, GroupWalk(path))
        except (KeyError, ValueError, TypeError) as error:
            raise fail(
                path, f"unexpected weights file structure ({one_line(str(error))})"
            ) from None
        yield Source(config, keras3=node)


def stored_member(path: Path, handle: Any, info: zipfile.ZipInfo) -> Any:
    """A seekable reader of a checked archive member (see `member_info`): a window on the file
    when stored uncompressed (its CRC checked first), else the member decompressed in memory."""
    if info.compress_type != zipfile.ZIP_STORED:
        # Compressed weights: h5py needs random access, so decompress the member into memory.
        with open_archive(path, handle) as archive:
            return io.BytesIO(read_member(path, archive, info.filename, None))
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) < 30 or not header.startswith(_ZIP_SIGNATURE):
        raise fail(path, f"corrupt .keras archive (bad local header for {info.filename})")
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > os.path.getsize(path):
        raise fail(path, f"truncated .keras archive ({info.filename} is cut off)")
    window = io.BufferedReader(Window(handle, start, info.file_size), buffer_size=1 << 20)
    crc = 0
    while chunk := window.read(1 << 20):
        crc = zlib.crc32(chunk, crc)
    if crc != info.CRC:
        raise fail(path, f"{info.filename} fails its CRC check: the archive is corrupt")
    window.seek(0)
    return window


@contextmanager
def open_source(path: Path) -> Iterator[Source]:
    """The model config and weight shapes of a model file (sniffed); open while in use."""
    opener = read_keras_zip if sniff(path) == "keras" else read_h5
    with opener(path) as source:
        yield source


@contextmanager
def open_weights(path: str | os.PathLike[str]) -> Iterator[Any]:
    """The root HDF5 group holding the weights of a `.h5` or `.keras` file (read-only, checked
    by `check_h5`)."""
    path = Path(path)
    if sniff(path) == "h5":
        with open_h5(path) as handle:
            yield handle
        return
    with open(path, "rb") as raw:
        with open_archive(path, raw) as archive:
            info = member_info(path, archive, "model.weights.h5", None)
        with open_h5(path, stored_member(path, raw, info)) as handle:
            yield handle


def read_member_json(path: str | os.PathLike[str], member: str) -> Any:
    """The parsed JSON of one member (e.g. ``config.json``) of a `.keras` archive."""
    path = Path(path)
    with open_archive(path) as archive:
        text = read_member(path, archive, member, MAX_CONFIG_BYTES)
    return parse_json(path, text, member)
