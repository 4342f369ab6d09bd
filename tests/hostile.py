"""Crafted hostile model files for tests: each function writes one attack into a directory.

Every file is made here, from nothing but h5py, zipfile and json (no TensorFlow), and anything a
file links to is a file this module writes next to it (``secret.bin``, ``secret.h5``): the tests
never point at a file outside their temporary directory. Two small, valid models are the base:

- ``keras2_model``: a Keras 2 (Larq-style) ``.h5``: ``Input(4) -> QuantDense(3, ste_sign
  kernel, no bias) -> Dense(2)``, weights ``qd/kernel:0`` (4, 3), ``d/kernel:0`` (3, 2),
  ``d/bias:0`` (2,);
- ``keras3_model``: the same model as Keras 3 writes it to a ``.keras`` archive
  (``config.json`` + ``model.weights.h5``, stored uncompressed).

`ATTACKS` maps an attack name to its writer; `tests/test_hostile.py` runs every command on them.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tests.keras2_h5 import write_keras2_h5

SECRET = b"root:x:0:0:secret outside the model file\n" * 8


# --- the two base models ---------------------------------------------------------------------


def _k2_layer(class_name: str, name: str, **config: Any) -> dict[str, Any]:
    return {"class_name": class_name, "config": {"name": name, **config}}


def keras2_config(**dense_overrides: Any) -> dict[str, Any]:
    """Sequential Input(4) -> larq QuantDense(3) -> Dense(2), as Keras 2.15 writes it."""
    quant = {
        "units": 3,
        "use_bias": False,
        "activation": "linear",
        "kernel_quantizer": {"class_name": "SteSign", "config": {"clip_value": 1.0}},
        "batch_input_shape": [None, 4],
        "dtype": "float32",
        **dense_overrides,
    }
    return {
        "class_name": "Sequential",
        "config": {
            "name": "tiny",
            "layers": [
                _k2_layer("InputLayer", "x", batch_input_shape=[None, 4], dtype="float32"),
                _k2_layer("QuantDense", "qd", **quant),
                _k2_layer("Dense", "d", units=2, use_bias=True, activation="linear"),
            ],
        },
    }


def keras2_weights() -> dict[str, list[tuple[str, Any]]]:
    rng = np.random.default_rng(0)
    return {
        "qd": [("kernel", rng.normal(size=(4, 3)).astype("float32"))],
        "d": [
            ("kernel", rng.normal(size=(3, 2)).astype("float32")),
            ("bias", np.zeros(2, "float32")),
        ],
    }


def keras2_model(
    path: Path, config: dict[str, Any] | None = None, weights: dict | None = None
) -> Path:
    return write_keras2_h5(
        path, config or keras2_config(), keras2_weights() if weights is None else weights
    )


def keras3_config(**dense_overrides: Any) -> dict[str, Any]:
    """The Keras 3 config of the same tiny model (``config.json`` of a ``.keras`` archive)."""
    quant = {
        "name": "qd",
        "units": 3,
        "activation": "linear",
        "use_bias": False,
        "kernel_quantizer": {
            "module": "bnnstat.quantizers",
            "class_name": "SteSign",
            "config": {"name": "ste_sign", "clip_value": 1.0},
            "registered_name": "bnnstat>SteSign",
        },
        **dense_overrides,
    }
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "tiny",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "x"},
                    "registered_name": None,
                },
                {
                    "module": "bnnstat.layers",
                    "class_name": "QuantDense",
                    "config": quant,
                    "registered_name": "bnnstat>QuantDense",
                    "build_config": {"input_shape": [None, 4]},
                },
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {"name": "d", "units": 2, "activation": "linear", "use_bias": True},
                    "registered_name": None,
                    "build_config": {"input_shape": [None, 3]},
                },
            ],
            "build_input_shape": [None, 4],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
        "compile_config": {},
    }


def keras3_weights_h5(
    edit: Callable[[h5py.File], None] | None = None, directory: Path | None = None
) -> bytes:
    """`model.weights.h5` of the tiny model as bytes; `edit` may change it before it is closed.

    HDF5 needs a real file for external links to resolve relative to; `directory` is where that
    scratch file is written (and what relative links resolve against).
    """
    rng = np.random.default_rng(1)
    scratch = (directory or Path(".")) / "weights.scratch.h5"
    with h5py.File(scratch, "w") as handle:
        quant = handle.create_group("layers/quant_dense/vars")
        quant.attrs["name"] = "qd"
        quant.create_dataset("0", data=rng.normal(size=(4, 3)).astype("float32"))
        handle.create_group("layers/quant_dense/kernel_quantizer/vars").attrs["name"] = "ste_sign"
        dense = handle.create_group("layers/dense/vars")
        dense.attrs["name"] = "d"
        dense.create_dataset("0", data=rng.normal(size=(3, 2)).astype("float32"))
        dense.create_dataset("1", data=np.zeros(2, "float32"))
        handle.create_group("vars").attrs["name"] = "tiny"
        if edit is not None:
            edit(handle)
    data = scratch.read_bytes()
    scratch.unlink()
    return data


def write_keras_zip(
    path: Path,
    config: Any = None,
    weights: bytes | None = None,
    compression: int = zipfile.ZIP_STORED,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A `.keras` archive; `config` may be a dict (dumped) or raw bytes."""
    config = keras3_config() if config is None else config
    raw = config if isinstance(config, bytes) else json.dumps(config).encode()
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", raw)
        archive.writestr(
            "model.weights.h5",
            keras3_weights_h5(directory=path.parent) if weights is None else weights,
        )
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def keras3_model(path: Path) -> Path:
    return write_keras_zip(path)


# --- helpers to plant links and odd storage --------------------------------------------------


def secret_file(directory: Path) -> Path:
    path = directory / "secret.bin"
    path.write_bytes(SECRET)
    return path


def secret_h5(directory: Path) -> Path:
    """An HDF5 file outside the model, holding a (4, 3) dataset the model must never read."""
    path = directory / "secret.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("kernel", data=np.full((4, 3), 42.0, "float32"))
        handle.create_dataset("bytes", data=np.frombuffer(SECRET[:48], "float32").reshape(4, 3))
    return path


def _edit_h5(path: Path, edit: Callable[[h5py.File], None]) -> Path:
    with h5py.File(path, "r+") as handle:
        edit(handle)
    return path


_K2_KERNEL = "model_weights/qd/qd/kernel:0"


def _replace(handle: h5py.File, name: str, make: Callable[[h5py.Group, str], Any]) -> None:
    parent, _, leaf = name.rpartition("/")
    del handle[name]
    make(handle[parent], leaf)


# --- HDF5: reading outside the file ----------------------------------------------------------


def h5_external_link(tmp: Path) -> Path:
    """Keras 2 file whose binary kernel is an external link to another HDF5 file."""
    secret_h5(tmp)
    path = keras2_model(tmp / "external_link.h5")
    return _edit_h5(
        path,
        lambda h: _replace(
            h,
            _K2_KERNEL,
            lambda g, leaf: g.__setitem__(leaf, h5py.ExternalLink("secret.h5", "/bytes")),
        ),
    )


def h5_external_link_fifo(tmp: Path) -> Path:
    """An external link to a FIFO: opening it would block forever."""
    fifo = tmp / "fifo.h5"
    os.mkfifo(fifo)
    path = keras2_model(tmp / "external_fifo.h5")
    return _edit_h5(
        path,
        lambda h: _replace(
            h, _K2_KERNEL, lambda g, leaf: g.__setitem__(leaf, h5py.ExternalLink(str(fifo), "/x"))
        ),
    )


def h5_soft_link_out(tmp: Path) -> Path:
    """A soft link to a group that is an external link: the path leaves the file."""
    secret_h5(tmp)
    path = keras2_model(tmp / "soft_link_out.h5")

    def edit(handle: h5py.File) -> None:
        handle["outside"] = h5py.ExternalLink("secret.h5", "/")
        _replace(
            handle, _K2_KERNEL, lambda g, leaf: g.__setitem__(leaf, h5py.SoftLink("/outside/bytes"))
        )

    return _edit_h5(path, edit)


def h5_dangling_link(tmp: Path) -> Path:
    """A soft link to nothing where a weight should be."""
    path = keras2_model(tmp / "dangling.h5")
    return _edit_h5(
        path,
        lambda h: _replace(
            h, _K2_KERNEL, lambda g, leaf: g.__setitem__(leaf, h5py.SoftLink("/no/such/object"))
        ),
    )


def h5_external_storage(tmp: Path) -> Path:
    """A weight dataset whose raw data lives in another (non-HDF5) file."""
    secret = secret_file(tmp)
    path = keras2_model(tmp / "external_storage.h5")
    return _edit_h5(
        path,
        lambda h: _replace(
            h,
            _K2_KERNEL,
            lambda g, leaf: g.create_dataset(
                leaf, shape=(4, 3), dtype="float32", external=[(secret.name, 0, 48)]
            ),
        ),
    )


def h5_virtual_dataset(tmp: Path) -> Path:
    """A weight that is a virtual dataset mapping another file's data."""
    secret_h5(tmp)
    path = keras2_model(tmp / "virtual.h5")

    def make(group: h5py.Group, leaf: str) -> None:
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="float32")
        layout[:] = h5py.VirtualSource("secret.h5", "bytes", shape=(4, 3))
        group.create_virtual_dataset(leaf, layout)

    return _edit_h5(path, lambda h: _replace(h, _K2_KERNEL, make))


def keras_external_link(tmp: Path) -> Path:
    """A `.keras` archive whose weights file links the binary kernel to another HDF5 file."""
    secret_h5(tmp)

    def edit(handle: h5py.File) -> None:
        del handle["layers/quant_dense/vars/0"]
        handle["layers/quant_dense/vars/0"] = h5py.ExternalLink(str(tmp / "secret.h5"), "/bytes")

    return write_keras_zip(tmp / "external_link.keras", weights=keras3_weights_h5(edit, tmp))


def keras_external_storage(tmp: Path) -> Path:
    secret = secret_file(tmp)

    def edit(handle: h5py.File) -> None:
        del handle["layers/quant_dense/vars/0"]
        handle["layers/quant_dense/vars"].create_dataset(
            "0", shape=(4, 3), dtype="float32", external=[(str(secret), 0, 48)]
        )

    return write_keras_zip(tmp / "external_storage.keras", weights=keras3_weights_h5(edit, tmp))


# --- HDF5: walks that never end --------------------------------------------------------------


def keras_link_cycle(tmp: Path) -> Path:
    """A group that contains itself (a hard-link cycle) in the weights file."""

    def edit(handle: h5py.File) -> None:
        handle["layers/quant_dense/loop"] = handle["layers/quant_dense"]

    return write_keras_zip(tmp / "cycle.keras", weights=keras3_weights_h5(edit, tmp))


def keras_link_dag(tmp: Path, depth: int = 40) -> Path:
    """Each group links twice to the next: 2**depth paths through `depth` groups."""

    def edit(handle: h5py.File) -> None:
        groups = [handle.create_group(f"dag/g{i}") for i in range(depth)]
        for upper, lower in zip(groups, groups[1:], strict=False):
            upper["a"] = lower
            upper["b"] = lower
        handle["layers/quant_dense/dag"] = groups[0]

    return write_keras_zip(tmp / "dag.keras", weights=keras3_weights_h5(edit, tmp))


def h5_link_cycle(tmp: Path) -> Path:
    """Keras 2 file whose layer group contains itself."""
    path = keras2_model(tmp / "cycle.h5")
    return _edit_h5(
        path, lambda h: h["model_weights/qd"].__setitem__("loop", h["model_weights/qd"])
    )


# --- zip archives ----------------------------------------------------------------------------


def zip_bomb_declared(tmp: Path) -> Path:
    """`config.json` whose headers declare 8 GiB (the data is small): a lie in the size field."""
    path = write_keras_zip(tmp / "declared_bomb.keras", compression=zipfile.ZIP_DEFLATED)
    return _patch_zip_sizes(path, "config.json", uncompressed=8 << 30)


def zip_bomb_actual(tmp: Path, megabytes: int = 300) -> Path:
    """`config.json` that really inflates to `megabytes` MB of spaces (about 300 KB on disk)."""
    config = json.dumps(keras3_config()).encode()
    padded = config[:-1] + b" " * (megabytes << 20) + config[-1:]
    return write_keras_zip(
        tmp / "actual_bomb.keras", config=padded, compression=zipfile.ZIP_DEFLATED
    )


def zip_weights_bomb(tmp: Path, megabytes: int = 300) -> Path:
    """`model.weights.h5` deflated, inflating to `megabytes` MB (a valid HDF5 plus zeros)."""
    weights = keras3_weights_h5(directory=tmp) + bytes(megabytes << 20)
    return write_keras_zip(
        tmp / "weights_bomb.keras", weights=weights, compression=zipfile.ZIP_DEFLATED
    )


def _patch_zip_sizes(path: Path, member: str, uncompressed: int) -> Path:
    """Rewrite the uncompressed size of `member` in both headers (zip64 not used)."""
    data = bytearray(path.read_bytes())
    uncompressed = min(uncompressed, 0xFFFFFFFE)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, uncompressed)
    central = _central_entry(data, member)
    struct.pack_into("<I", data, central + 24, uncompressed)
    path.write_bytes(bytes(data))
    return path


def _central_entry(data: bytearray, member: str) -> int:
    name = member.encode()
    position = data.find(b"PK\x01\x02")
    while position >= 0:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == name:
            return position
        position = data.find(b"PK\x01\x02", position + 4)
    raise KeyError(member)


def _patch_member(
    path: Path,
    member: str,
    *,
    flags: int | None = None,
    method: int | None = None,
    crc: int | None = None,
) -> Path:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(member).header_offset
    central = _central_entry(data, member)
    for offset, base in ((local, 6), (central, 8)):
        if flags is not None:
            struct.pack_into("<H", data, offset + base, flags)
        if method is not None:
            struct.pack_into("<H", data, offset + base + 2, method)
        if crc is not None:
            struct.pack_into("<I", data, offset + base + 8, crc)
    path.write_bytes(bytes(data))
    return path


def zip_encrypted(tmp: Path) -> Path:
    path = write_keras_zip(tmp / "encrypted.keras")
    return _patch_member(path, "config.json", flags=0x1)


def zip_unknown_method(tmp: Path) -> Path:
    path = write_keras_zip(tmp / "method.keras")
    return _patch_member(path, "config.json", method=99)


def zip_bad_crc_config(tmp: Path) -> Path:
    path = write_keras_zip(tmp / "crc_config.keras")
    return _patch_member(path, "config.json", crc=0xDEADBEEF)


def zip_bad_crc_weights(tmp: Path) -> Path:
    """The stored (uncompressed) weights member has a wrong CRC: data damaged in transit."""
    path = write_keras_zip(tmp / "crc_weights.keras")
    return _patch_member(path, "model.weights.h5", crc=0xDEADBEEF)


# --- JSON and config values ------------------------------------------------------------------


def deep_json(tmp: Path, depth: int = 100_000) -> Path:
    raw = b'{"class_name": "Sequential", "config": ' + b"[" * depth + b"]" * depth + b"}"
    return write_keras_zip(tmp / "deep.keras", config=raw)


def deep_json_h5(tmp: Path, depth: int = 100_000) -> Path:
    path = keras2_model(tmp / "deep.h5")
    raw = '{"class_name": "Sequential", "config": ' + "[" * depth + "]" * depth + "}"
    return _edit_h5(path, lambda h: h.attrs.__setitem__("model_config", raw))


def nested_models(tmp: Path, depth: int = 60) -> Path:
    """Sequential models nested `depth` deep (legal JSON, deep structure)."""
    inner: dict[str, Any] = keras3_config()
    for level in range(depth):
        inner = {"class_name": "Sequential", "config": {"name": f"m{level}", "layers": [inner]}}
    return write_keras_zip(tmp / "nested.keras", config=inner)


def _keras3_with(tmp: Path, name: str, **overrides: Any) -> Path:
    return write_keras_zip(tmp / name, config=keras3_config(**overrides))


def _keras3_raw(tmp: Path, name: str, replace: tuple[str, str]) -> Path:
    """A config with a raw JSON token swapped in (for NaN, Infinity, 1e400 in numbers)."""
    text = json.dumps(keras3_config()).replace(*replace, 1)
    return write_keras_zip(tmp / name, config=text.encode())


def units_zero(tmp: Path) -> Path:
    return _keras3_with(tmp, "units_zero.keras", units=0)


def units_negative(tmp: Path) -> Path:
    return _keras3_with(tmp, "units_negative.keras", units=-5)


def units_string(tmp: Path) -> Path:
    return _keras3_with(tmp, "units_string.keras", units="many")


def units_huge_float(tmp: Path) -> Path:
    return _keras3_raw(tmp, "units_1e400.keras", ('"units": 3', '"units": 1e400'))


def units_nan(tmp: Path) -> Path:
    return _keras3_raw(tmp, "units_nan.keras", ('"units": 3', '"units": NaN'))


def negative_dimension(tmp: Path) -> Path:
    config = keras3_config()
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, -4]
    config["config"]["build_input_shape"] = [None, -4]
    return write_keras_zip(tmp / "negative_dim.keras", config=config)


def zero_dimension(tmp: Path) -> Path:
    config = keras3_config()
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, 0]
    return write_keras_zip(tmp / "zero_dim.keras", config=config)


def _conv_model(**conv: Any) -> dict[str, Any]:
    config = keras3_config()
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, 8, 8, 2]
    config["config"]["layers"][1:] = [
        {
            "module": "bnnstat.layers",
            "class_name": "QuantConv2D",
            "config": {
                "name": "qc",
                "filters": 2,
                "kernel_size": [3, 3],
                "strides": [1, 1],
                "padding": "valid",
                "use_bias": False,
                **conv,
            },
            "registered_name": "bnnstat>QuantConv2D",
        }
    ]
    return config


def strides_zero(tmp: Path) -> Path:
    return write_keras_zip(tmp / "strides_zero.keras", config=_conv_model(strides=[0, 0]))


def kernel_size_negative(tmp: Path) -> Path:
    return write_keras_zip(tmp / "kernel_negative.keras", config=_conv_model(kernel_size=[-3, 3]))


def dilation_string(tmp: Path) -> Path:
    return write_keras_zip(
        tmp / "dilation_string.keras", config=_conv_model(dilation_rate=["x", 1])
    )


def negative_bit_width(tmp: Path) -> Path:
    quantizer = {"class_name": "DoReFa", "config": {"k_bit": -3, "mode": "weights"}}
    return _keras3_with(tmp, "negative_bits.keras", kernel_quantizer=quantizer)


def huge_bit_width(tmp: Path) -> Path:
    quantizer = {"class_name": "NoOp", "config": {"precision": 1000}}
    return _keras3_with(tmp, "huge_bits.keras", kernel_quantizer=quantizer)


def nan_bit_width(tmp: Path) -> Path:
    text = json.dumps(
        keras3_config(kernel_quantizer={"class_name": "NoOp", "config": {"precision": 7}})
    )
    text = text.replace('"precision": 7', '"precision": NaN')
    return write_keras_zip(tmp / "nan_bits.keras", config=text.encode())


def model_config_list(tmp: Path) -> Path:
    return write_keras_zip(tmp / "config_list.keras", config=[1, 2, 3])


def model_config_inner_string(tmp: Path) -> Path:
    return write_keras_zip(
        tmp / "config_inner.keras", config={"class_name": "Sequential", "config": "layers"}
    )


def layers_not_objects(tmp: Path) -> Path:
    config = keras3_config()
    config["config"]["layers"] = [1, "two", None]
    return write_keras_zip(tmp / "layers_ints.keras", config=config)


def h5_model_config_number(tmp: Path) -> Path:
    path = keras2_model(tmp / "config_number.h5")
    return _edit_h5(path, lambda h: h.attrs.__setitem__("model_config", "12"))


def h5_missing_weight_group(tmp: Path) -> Path:
    """`layer_names` names a group the file does not have."""
    path = keras2_model(tmp / "missing_group.h5")
    return _edit_h5(path, lambda h: h.__delitem__("model_weights/qd"))


def h5_missing_weight_dataset(tmp: Path) -> Path:
    path = keras2_model(tmp / "missing_weight.h5")
    return _edit_h5(path, lambda h: h.__delitem__(_K2_KERNEL))


def h5_huge_declared_shape(tmp: Path) -> Path:
    """A 38 KB-ish file whose kernel declares (2**20, 2**20) float32 (4 TiB), chunked, empty."""
    path = keras2_model(tmp / "huge_shape.h5")
    return _edit_h5(
        path,
        lambda h: _replace(
            h,
            _K2_KERNEL,
            lambda g, leaf: g.create_dataset(
                leaf, shape=(1 << 20, 1 << 20), dtype="float32", chunks=(64, 64)
            ),
        ),
    )


def keras_huge_declared_shape(tmp: Path) -> Path:
    def edit(handle: h5py.File) -> None:
        del handle["layers/quant_dense/vars/0"]
        handle["layers/quant_dense/vars"].create_dataset(
            "0", shape=(1 << 20, 1 << 20), dtype="float32", chunks=(64, 64)
        )

    return write_keras_zip(tmp / "huge_shape.keras", weights=keras3_weights_h5(edit, tmp))


# --- names that attack the terminal ----------------------------------------------------------

ESCAPE_NAME = "qd\x1b]0;pwned\x07\x1b[2J\nresult: PASSED"


def escape_layer_name(tmp: Path) -> Path:
    config = keras3_config(name=ESCAPE_NAME)
    weights_edit = lambda h: h["layers/quant_dense/vars"].attrs.__setitem__("name", ESCAPE_NAME)  # noqa: E731
    return write_keras_zip(
        tmp / "escape_layer.keras", config=config, weights=keras3_weights_h5(weights_edit, tmp)
    )


def escape_model_name(tmp: Path) -> Path:
    config = keras3_config()
    config["config"]["name"] = "\x1b[31mtiny\x1b[0m\r\nresult: PASSED"
    return write_keras_zip(tmp / "escape_model.keras", config=config)


def escape_file_name(tmp: Path) -> Path:
    """A broken file whose *name* carries an escape sequence and a newline."""
    path = tmp / "evil\x1b[2J\nresult: PASSED.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    return path


# --- code in the file ------------------------------------------------------------------------


def keras2_tfsm_layer(tmp: Path) -> Path:
    """Keras 2 `.h5` naming `TFSMLayer` with a SavedModel path: must never be built."""
    target = tmp / "saved_model_dir"
    target.mkdir(exist_ok=True)
    config = keras2_config()
    config["config"]["layers"].insert(
        2,
        _k2_layer(
            "TFSMLayer", "tfsm", filepath=str(target), call_endpoint="serve", trainable=False
        ),
    )
    return keras2_model(tmp / "tfsm.h5", config=config)


def keras2_unknown_class(tmp: Path) -> Path:
    """A class that is no Keras layer: `os.system`-like names must not be looked up at all."""
    config = keras2_config()
    config["config"]["layers"].insert(2, _k2_layer("Model", "not_a_layer_list"))
    config["config"]["layers"][2]["class_name"] = "TorchModuleWrapper"
    return keras2_model(tmp / "unknown_class.h5", config=config)


def keras2_lambda(tmp: Path) -> Path:
    """A Keras 2 Lambda layer whose 'bytecode' would write a marker file if ever run."""
    import base64
    import marshal

    marker = tmp / "LAMBDA_RAN"
    source = f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]"
    code = marshal.dumps(compile(source, "<lambda>", "eval").co_consts[0])
    config = keras2_config()
    config["config"]["layers"].insert(
        2,
        _k2_layer(
            "Lambda",
            "lam",
            function=[base64.b64encode(code).decode(), None, None],
            function_type="lambda",
            module="__main__",
            output_shape=None,
            arguments={},
        ),
    )
    return keras2_model(tmp / "lambda.h5", config=config)


def keras3_lambda(tmp: Path) -> Path:
    """A Keras 3 Lambda layer carrying (harmless) bytecode: audit reports SEC001."""
    import base64
    import marshal

    code = marshal.dumps(compile("lambda x: x", "<lambda>", "eval").co_consts[0])
    config = keras3_config()
    config["config"]["layers"].insert(
        2,
        {
            "module": "keras.layers",
            "class_name": "Lambda",
            "registered_name": None,
            "config": {
                "name": "lam",
                "function": {
                    "class_name": "__lambda__",
                    "config": {
                        "code": base64.b64encode(code).decode(),
                        "defaults": None,
                        "closure": None,
                    },
                },
                "arguments": {},
            },
        },
    )
    return write_keras_zip(tmp / "lambda.keras", config=config)


# --- size ------------------------------------------------------------------------------------


def reversed_layers(tmp: Path, count: int = 20_000) -> Path:
    """A functional chain of `count` ReLU layers, listed last-first in the config."""
    layers: list[dict[str, Any]] = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "name": "x",
            "inbound_nodes": [],
            "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "x"},
        }
    ]
    previous = "x"
    for index in range(count):
        name = f"r{index}"
        layers.append(
            {
                "module": "keras.layers",
                "class_name": "ReLU",
                "name": name,
                "config": {"name": name},
                "inbound_nodes": [
                    {
                        "args": [
                            {
                                "class_name": "__keras_tensor__",
                                "config": {
                                    "shape": [None, 4],
                                    "dtype": "float32",
                                    "keras_history": [previous, 0, 0],
                                },
                            }
                        ],
                        "kwargs": {},
                    }
                ],
            }
        )
        previous = name
    config = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "chain",
            "layers": layers[:1] + layers[:0:-1],
            "input_layers": [["x", 0, 0]],
            "output_layers": [[previous, 0, 0]],
        },
    }
    weights = keras3_weights_h5(lambda h: h.__delitem__("layers"), tmp)
    return write_keras_zip(tmp / "reversed.keras", config=config, weights=weights)


def copy_of(path: Path, directory: Path) -> Path:
    """A byte copy of `path` in `directory` (flips compares two checkpoints)."""
    target = directory / f"copy_{path.name}"
    target.write_bytes(path.read_bytes())
    return target


ATTACKS: dict[str, Callable[[Path], Path]] = {
    "h5_external_link": h5_external_link,
    "h5_external_link_fifo": h5_external_link_fifo,
    "h5_soft_link_out": h5_soft_link_out,
    "h5_dangling_link": h5_dangling_link,
    "h5_external_storage": h5_external_storage,
    "h5_virtual_dataset": h5_virtual_dataset,
    "keras_external_link": keras_external_link,
    "keras_external_storage": keras_external_storage,
    "keras_link_cycle": keras_link_cycle,
    "keras_link_dag": keras_link_dag,
    "h5_link_cycle": h5_link_cycle,
    "zip_bomb_declared": zip_bomb_declared,
    "zip_bomb_actual": zip_bomb_actual,
    "zip_weights_bomb": zip_weights_bomb,
    "zip_encrypted": zip_encrypted,
    "zip_unknown_method": zip_unknown_method,
    "zip_bad_crc_config": zip_bad_crc_config,
    "zip_bad_crc_weights": zip_bad_crc_weights,
    "deep_json": deep_json,
    "deep_json_h5": deep_json_h5,
    "nested_models": nested_models,
    "units_zero": units_zero,
    "units_negative": units_negative,
    "units_string": units_string,
    "units_huge_float": units_huge_float,
    "units_nan": units_nan,
    "negative_dimension": negative_dimension,
    "zero_dimension": zero_dimension,
    "strides_zero": strides_zero,
    "kernel_size_negative": kernel_size_negative,
    "dilation_string": dilation_string,
    "negative_bit_width": negative_bit_width,
    "huge_bit_width": huge_bit_width,
    "nan_bit_width": nan_bit_width,
    "model_config_list": model_config_list,
    "model_config_inner_string": model_config_inner_string,
    "layers_not_objects": layers_not_objects,
    "h5_model_config_number": h5_model_config_number,
    "h5_missing_weight_group": h5_missing_weight_group,
    "h5_missing_weight_dataset": h5_missing_weight_dataset,
    "h5_huge_declared_shape": h5_huge_declared_shape,
    "keras_huge_declared_shape": keras_huge_declared_shape,
    "escape_layer_name": escape_layer_name,
    "escape_model_name": escape_model_name,
    "escape_file_name": escape_file_name,
    "keras2_tfsm_layer": keras2_tfsm_layer,
    "keras2_unknown_class": keras2_unknown_class,
    "keras2_lambda": keras2_lambda,
    "keras3_lambda": keras3_lambda,
    "reversed_layers": reversed_layers,
}
