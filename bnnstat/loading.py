"""Load Keras 3 `.keras` / `.h5` files and Larq-saved Keras 2 `.h5` files into Keras 3 models.

`load_model(path)` is what `bnnstat.models.load_model` and the CLI call. Keras 3 files go to
Keras' own loader (with bnnstat's objects registered). A Keras 2 HDF5 file (Larq, Larq Zoo) is
translated instead:

1. its JSON model config is read with h5py (read-only) and rewritten layer by layer into
   Keras 3 arguments: ``batch_input_shape`` becomes an `Input`, Keras 2 nested object configs
   (initializers, constraints, ``{"class_name": "SteSign", ...}`` quantizers and
   ``{"class_name": "function", "config": NAME}`` functions) become objects, Larq layers become
   `bnnstat.layers`, ``TFOpLambda`` layers (``tf.__operators__.add``, ``tf.concat``, ``tf.split``,
   ``tf.nn.relu``, ...) become bnnstat's `TFOpLambda` layer, which keeps Keras 2's class and
   layer names and computes the operation with keras.ops;
2. the model is rebuilt (Sequential, or a functional graph from the Keras 2 node lists; a Larq
   Zoo model subclass is rebuilt as the functional model it saved);
3. the weights are assigned from the file's ``model_weights`` groups by layer name, in the
   saved order, with shapes checked.

Anything without a Keras 3 equivalent raises `BnnstatError` with one line naming the file,
the layer and the reason. Lambda layers hold Python bytecode: they are only deserialized with
``safe_mode=False``. HDF5 files are always loaded without compiling (Keras 3.15 loses the
optimizer state of legacy HDF5 files); training state belongs in `.keras` files.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from bnnstat.errors import BnnstatError

__all__ = ["TFOpLambda", "load_model"]

# Larq / Keras 2 layer classes that map to a bnnstat layer of another name.
_RENAMED = {
    "LocallyConnected1D": "QuantLocallyConnected1D",
    "LocallyConnected2D": "QuantLocallyConnected2D",
}
# Keras 2 config keys Keras 3 has no use for (dropped silently when harmless).
_IGNORED_KEYS = {"batch_input_shape", "ragged"}
# Keras 2 separable convolutions also wrote the unused `kernel_*` arguments of their base class.
_UNUSED_BY_SEPARABLE = {"kernel_initializer", "kernel_regularizer", "kernel_constraint"}
_MODEL_CLASSES = {"Sequential", "Functional", "Model"}
# Keras 2 TFOpLambda functions rebuilt by `TFOpLambda`: name -> keras.ops function.
_BINARY_OPS = {
    "__operators__.add": "add",
    "math.add": "add",
    "__operators__.sub": "subtract",
    "math.subtract": "subtract",
    "__operators__.mul": "multiply",
    "math.multiply": "multiply",
    "math.maximum": "maximum",
    "math.minimum": "minimum",
}
_UNARY_OPS = {
    "nn.relu": "relu",
    "nn.relu6": "relu6",
    "math.sigmoid": "sigmoid",
    "nn.sigmoid": "sigmoid",
    "math.tanh": "tanh",
    "nn.softmax": "softmax",
}
_STRUCTURAL_OPS = {"concat", "split"}


@keras.saving.register_keras_serializable(package="bnnstat")
class TFOpLambda(keras.layers.Layer):
    """A Keras 2 ``TFOpLambda`` layer (a ``tf.*`` call in a functional model), on keras.ops.

    Keeps Keras 2's class and layer name, so a loaded Larq model lists the same
    ``model.layers`` as it did under Keras 2. Supported functions: element-wise binary
    (``__operators__.add``/``sub``/``mul``, ``math.add``/``subtract``/``multiply``/``maximum``/
    ``minimum``) on ``[x, y]``; ``nn.relu``, ``nn.relu6``, ``math.sigmoid``, ``math.tanh``,
    ``nn.softmax`` on one tensor; ``concat`` (``axis``) on a list; ``split``
    (``num_or_size_splits``, ``axis``) returning a list.

    Args:
        function: the Keras 2 name, ``tf.`` removed (``"__operators__.add"``).
        arguments: the call's constant keyword arguments (``axis``, ``num_or_size_splits``).
    """

    def __init__(self, function: str, arguments: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if function not in {*_BINARY_OPS, *_UNARY_OPS, *_STRUCTURAL_OPS}:
            raise ValueError(f"TF operation tf.{function} has no Keras 3 equivalent")
        self.function = function
        self.arguments = dict(arguments or {})

    def call(self, inputs: Any) -> Any:
        if self.function in _BINARY_OPS:
            first, second = inputs
            return getattr(keras.ops, _BINARY_OPS[self.function])(first, second)
        if self.function in _UNARY_OPS:
            return getattr(keras.ops, _UNARY_OPS[self.function])(inputs)
        if self.function == "concat":
            return keras.ops.concatenate(list(inputs), axis=self.arguments.get("axis", 0))
        return keras.ops.split(inputs, self._split_points(), axis=self.arguments.get("axis", 0))

    def _split_points(self) -> Any:
        """tf.split's ``num_or_size_splits`` as keras.ops.split's sections or split indices."""
        splits = self.arguments["num_or_size_splits"]
        if isinstance(splits, int):
            return splits
        return [sum(splits[: i + 1]) for i in range(len(splits) - 1)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "function": self.function, "arguments": self.arguments}


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model, and the class name its file saved it under when it had to be rebuilt
    as another class (a Larq Zoo subclass rebuilt as a functional model), else None."""

    model: keras.Model
    saved_class_name: str | None = None


def load_model(path: str | Path, safe_mode: bool = True, compile: bool = False) -> keras.Model:
    """Load a `.keras` file, a Keras 3 `.h5` file or a Keras 2 (Larq) `.h5` file (see `load`)."""
    return load(path, safe_mode=safe_mode, compile=compile).model


def load(path: str | Path, safe_mode: bool = True, compile: bool = False) -> LoadedModel:
    """Load a `.keras` file, a Keras 3 `.h5` file or a Keras 2 (Larq) `.h5` file.

    Args:
        path: the model file; it is only read, never written.
        safe_mode: refuse to deserialize Lambda layers (stored Python code); pass False only
            for files you trust.
        compile: compile `.keras` models with their saved optimizer and loss. HDF5 files are
            always loaded uncompiled.

    Raises:
        BnnstatError: the file is missing, not a Keras model, or holds a layer with no Keras 3
            equivalent; the message names the file and the layer.
    """
    from bnnstat.inspect.reader import sniff

    path = Path(path)
    kind = sniff(path)  # BnnstatError: missing, not a regular file, empty, not a model file
    _register_bnnstat_objects()
    if kind == "keras":
        return LoadedModel(_keras3_load(path, safe_mode=safe_mode, compile=compile))
    config, keras_version = _read_h5_config(path)
    if keras_version.startswith("3."):
        return LoadedModel(_keras3_load(path, safe_mode=safe_mode, compile=False))
    return _Keras2Loader(path, safe_mode).load(config)


def _register_bnnstat_objects() -> None:
    """Importing these modules registers bnnstat's layers, quantizers and constraints."""
    import bnnstat.constraints  # noqa: F401
    import bnnstat.layers  # noqa: F401
    import bnnstat.quantizers  # noqa: F401


def _keras3_load(path: Path, safe_mode: bool, compile: bool) -> keras.Model:
    try:
        return keras.models.load_model(path, compile=compile, safe_mode=safe_mode)
    except (ValueError, TypeError, KeyError, OSError) as error:
        raise BnnstatError(f"{path}: cannot load model: {_first_line(error)}") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read_h5_config(path: Path) -> tuple[dict[str, Any], str]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            version = handle.attrs.get("keras_version", b"")
    except OSError as error:
        raise BnnstatError(f"{path}: unreadable HDF5 file: {_first_line(error)}") from error
    if raw is None:
        raise BnnstatError(f"{path}: HDF5 file has no model config (weights-only file?)")
    raw = raw.decode() if isinstance(raw, bytes) else raw
    version = version.decode() if isinstance(version, bytes) else str(version)
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise BnnstatError(f"{path}: model config is not valid JSON: {error}") from error
    return config, version


class _Keras2Loader:
    """Rebuilds one Keras 2 HDF5 model in Keras 3 (see the module docstring)."""

    def __init__(self, path: Path, safe_mode: bool) -> None:
        self.path = path
        self.safe_mode = safe_mode

    def fail(self, layer: str, why: str) -> BnnstatError:
        return BnnstatError(f"{self.path}: layer {layer!r}: {why}")

    def load(self, config: dict[str, Any]) -> LoadedModel:
        model = self.build_model(config)
        self.assign_weights(model)
        saved_class = _short(config.get("class_name"))
        # A Larq Zoo subclass rebuilt as a functional model: keep the class it was saved as.
        return LoadedModel(model, saved_class if saved_class not in _MODEL_CLASSES else None)

    # -- model structure ---------------------------------------------------------------
    def build_model(self, config: dict[str, Any]) -> keras.Model:
        inner = config.get("config")
        if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
            raise BnnstatError(
                f"{self.path}: top-level class {config.get('class_name')!r} is not a "
                "Sequential or functional model config"
            )
        if "input_layers" in inner:
            return self.build_functional(inner)
        return self.build_sequential(inner)

    def build_sequential(self, config: dict[str, Any]) -> keras.Model:
        model = keras.Sequential(name=config.get("name"))
        entries = config["layers"]
        if entries and _short(entries[0].get("class_name")) != "InputLayer":
            shape = entries[0].get("config", {}).get("batch_input_shape")
            if shape is not None:
                model.add(keras.Input(batch_shape=tuple(shape)))
        for entry in entries:
            layer = self.make_layer(entry)
            if isinstance(layer, _OpLambda):
                raise self.fail(layer.name, "TFOpLambda inside a Sequential model")
            model.add(layer)
        return model

    def build_functional(self, config: dict[str, Any]) -> keras.Model:
        entries = config["layers"]
        layers = {entry["config"]["name"]: self.make_layer(entry) for entry in entries}
        outputs: dict[str, list[Any]] = {}  # layer name -> output of each call, in order
        pending = {
            entry["config"]["name"]: list(entry.get("inbound_nodes", [])) for entry in entries
        }
        for name, layer in layers.items():
            if isinstance(layer, keras.KerasTensor):  # an Input
                outputs[name] = [layer]
        while any(pending.values()):
            progressed = False
            for name, nodes in pending.items():
                while nodes and self.inputs_ready(nodes[0], outputs):
                    outputs.setdefault(name, []).append(
                        self.call_node(name, layers[name], nodes.pop(0), outputs)
                    )
                    progressed = True
            if not progressed:
                stuck = next(name for name, nodes in pending.items() if nodes)
                raise self.fail(stuck, "its inbound layers cannot be resolved")
        inputs = [self.tensor(ref, outputs) for ref in config["input_layers"]]
        results = [self.tensor(ref, outputs) for ref in config["output_layers"]]
        return keras.Model(
            inputs=inputs if len(inputs) > 1 else inputs[0],
            outputs=results if len(results) > 1 else results[0],
            name=config.get("name"),
        )

    def inputs_ready(self, node: list[Any], outputs: dict[str, list[Any]]) -> bool:
        entries = _node_entries(node)
        refs = [e[:3] for e in entries if e[0] != _CONSTANT] + _tensor_refs(_node_kwargs(node))
        return all(len(outputs.get(ref[0], [])) > ref[1] for ref in refs)

    def tensor(self, ref: list[Any], outputs: dict[str, list[Any]]) -> Any:
        name, node_index, tensor_index = ref[:3]
        result = outputs[name][node_index]
        return (
            keras.tree.flatten(result)[tensor_index] if isinstance(result, list | tuple) else result
        )

    def call_node(self, name: str, layer: Any, node: list[Any], outputs: dict[str, Any]) -> Any:
        entries = _node_entries(node)
        if any(entry[0] == _CONSTANT for entry in entries):
            raise self.fail(name, "constant (non-tensor) inputs are not supported")
        args = [self.tensor(entry, outputs) for entry in entries]
        kwargs = _node_kwargs(node)
        if isinstance(layer, _OpLambda):
            return layer.call(args, kwargs, lambda ref: self.tensor(ref, outputs))
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if any(_is_ref(v) for v in kwargs.values()):
            raise self.fail(name, "tensor keyword arguments in a layer call are not supported")
        return layer(args if len(args) > 1 else args[0], **kwargs)

    # -- layers ------------------------------------------------------------------------
    def make_layer(self, entry: dict[str, Any]) -> Any:
        class_name = _short(entry.get("class_name"))
        config = dict(entry.get("config") or {})
        name = config.get("name", class_name)
        if class_name in _MODEL_CLASSES or "layers" in config:
            return self.build_model({"class_name": class_name, "config": config})
        if class_name == "InputLayer":
            shape = config.get("batch_input_shape") or config.get("batch_shape")
            return keras.Input(
                batch_shape=tuple(shape),
                dtype=_dtype(config.get("dtype")),
                name=name,
                sparse=bool(config.get("sparse", False)),
            )
        if class_name in ("TFOpLambda", "SlicingOpLambda"):
            return self.op_lambda(name, config)
        if class_name == "Lambda":
            return self.make_lambda(name, entry)
        cls = self.resolve_class(class_name, name)
        kwargs = self.translate_config(cls, config, name)
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as error:
            raise self.fail(name, f"cannot build {class_name}: {_first_line(error)}") from error

    def resolve_class(self, class_name: str, layer_name: str) -> type:
        from bnnstat import layers as bnn_layers

        class_name = _RENAMED.get(class_name, class_name)
        if class_name in bnn_layers.__all__:
            return getattr(bnn_layers, class_name)
        cls = getattr(keras.layers, class_name, None)
        if isinstance(cls, type) and issubclass(cls, keras.layers.Layer):
            return cls
        raise self.fail(layer_name, f"class {class_name!r} has no Keras 3 equivalent")

    def translate_config(self, cls: type, config: dict[str, Any], name: str) -> dict[str, Any]:
        accepted = _accepted_arguments(cls)
        kwargs: dict[str, Any] = {}
        for key, value in config.items():
            if key in _IGNORED_KEYS:
                continue
            if key not in accepted:
                if key == "groups" and value == 1:
                    continue
                if key in _UNUSED_BY_SEPARABLE and "pointwise_initializer" in accepted:
                    continue
                raise self.fail(name, f"argument {key}={value!r} has no Keras 3 equivalent")
            kwargs[key] = self.translate_value(key, value, name)
        if cls is keras.layers.BatchNormalization and isinstance(kwargs.get("axis"), list):
            if len(kwargs["axis"]) != 1:
                raise self.fail(name, f"BatchNormalization over axes {kwargs['axis']}")
            kwargs["axis"] = kwargs["axis"][0]
        return kwargs

    def translate_value(self, key: str, value: Any, name: str) -> Any:
        from bnnstat import quantizers

        if key == "dtype":
            return _dtype(value)
        if key.endswith("_quantizer"):
            try:
                return quantizers.get(value)
            except (ValueError, TypeError) as error:
                raise self.fail(name, f"unknown {key}: {_first_line(error)}") from error
        if not isinstance(value, dict) or "class_name" not in value:
            return value
        getter = _OBJECT_GETTERS.get(key.rpartition("_")[2])
        if getter is None:
            raise self.fail(name, f"cannot translate argument {key}={value!r}")
        plain = {"class_name": value["class_name"], "config": value.get("config", {})}
        if value["class_name"] == "function" and isinstance(plain["config"], str):
            plain = plain["config"]
        try:
            return getter(plain)
        except (ValueError, TypeError) as error:
            raise self.fail(name, f"unknown {key}: {_first_line(error)}") from error

    def op_lambda(self, name: str, config: dict[str, Any]) -> _OpLambda:
        function = str(config.get("function", ""))
        if function not in {*_BINARY_OPS, *_UNARY_OPS, *_STRUCTURAL_OPS}:
            raise self.fail(name, f"TF operation tf.{function} has no Keras 3 layer equivalent")
        return _OpLambda(name, function, self)

    def make_lambda(self, name: str, entry: dict[str, Any]) -> Any:
        if self.safe_mode:
            raise self.fail(
                name, "Lambda layer holds Python code; load with safe_mode=False only if trusted"
            )
        from keras.src.utils import python_utils

        config = entry["config"]
        if config.get("function_type") != "lambda":
            raise self.fail(name, "Lambda wrapping a named Python function cannot be rebuilt")
        code, defaults, closure = (list(config["function"]) + [None, None])[:3]
        try:
            function = python_utils.func_load(code, defaults=defaults, closure=closure)
        except Exception as error:  # bytecode from another Python version, etc.
            raise self.fail(name, f"cannot rebuild Lambda code: {_first_line(error)}") from error
        return keras.layers.Lambda(function, name=name, arguments=config.get("arguments") or {})

    # -- weights -----------------------------------------------------------------------
    def assign_weights(self, model: keras.Model) -> None:
        import h5py

        try:
            with h5py.File(self.path, "r") as handle:
                group = handle.get("model_weights", handle)
                for layer_name in _names(group.attrs.get("layer_names", [])):
                    saved = group[layer_name]
                    names = _names(saved.attrs.get("weight_names", []))
                    if names:
                        values = {n: saved[n][()] for n in names}
                        self.assign_layer(model, layer_name, names, values)
        except (OSError, KeyError) as error:
            raise BnnstatError(f"{self.path}: cannot read weights: {_first_line(error)}") from error

    def assign_layer(
        self, model: keras.Model, layer_name: str, names: list[str], values: dict[str, Any]
    ) -> None:
        try:
            layer = model.get_layer(layer_name)
        except ValueError as error:
            raise self.fail(layer_name, "has saved weights but no layer in the model") from error
        targets = _named_variables(layer)
        if len(targets) != len(names):
            raise self.fail(
                layer_name, f"file has {len(names)} weights, the Keras 3 layer {len(targets)}"
            )
        by_name = dict(targets)
        keys = [_weight_key(n, nested=isinstance(layer, keras.Model)) for n in names]
        if set(keys) == set(by_name):
            pairs = [(by_name[k], values[n]) for k, n in zip(keys, names, strict=True)]
        else:  # names differ between Keras versions (e.g. depthwise_kernel): use saved order
            pairs = [(v, values[n]) for (_, v), n in zip(targets, names, strict=True)]
        for variable, value in pairs:
            if tuple(variable.shape) != tuple(value.shape):
                raise self.fail(
                    layer_name,
                    f"weight {variable.path} has shape {tuple(variable.shape)} but the file "
                    f"has {tuple(value.shape)}",
                )
            variable.assign(value)


class _OpLambda:
    """A Keras 2 TFOpLambda whose `TFOpLambda` layer is made when its node is called: the
    node's keyword arguments say which are tensors (operands) and which are constants."""

    def __init__(self, name: str, function: str, loader: _Keras2Loader) -> None:
        self.name = name
        self.function = function
        self.loader = loader

    def call(self, args: list[Any], kwargs: dict[str, Any], resolve: Any) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if k != "name"}
        tensors = [resolve(v) for v in kwargs.values() if _is_ref(v)]
        constants = {k: v for k, v in kwargs.items() if not _is_ref(v) and v is not None}
        if self.function in _BINARY_OPS:
            if constants or len(args) + len(tensors) != 2:
                raise self.fail(f"two tensor operands, got {len(args) + len(tensors)} {constants}")
            inputs: Any = [*args, *tensors]
        elif self.function in _UNARY_OPS:
            if constants or tensors or len(args) != 1:
                raise self.fail(f"one tensor argument, got arguments {constants}")
            inputs = args[0]
        else:
            allowed = {"axis"} if self.function == "concat" else {"axis", "num_or_size_splits"}
            if tensors or set(constants) - allowed:
                raise self.fail(f"constant arguments {sorted(allowed)}, got {kwargs}")
            if self.function == "split" and len(args) != 1:
                raise self.fail("one tensor to split")
            inputs = args if self.function == "concat" else args[0]
        layer = TFOpLambda(self.function, constants, name=self.name)
        return layer(inputs)

    def fail(self, expected: str) -> BnnstatError:
        return self.loader.fail(self.name, f"tf.{self.function} takes {expected}")


_OBJECT_GETTERS = {
    "initializer": keras.initializers.get,
    "regularizer": keras.regularizers.get,
    "constraint": keras.constraints.get,
    "activation": keras.activations.get,
}


def _short(class_name: Any) -> str:
    """``package>Name`` (Keras 3 registered names) -> ``Name``."""
    return str(class_name or "").rpartition(">")[2]


def _dtype(value: Any) -> Any:
    """Keras 2 mixed-precision policy dicts -> the policy name."""
    if isinstance(value, dict):
        inner = value.get("config", {})
        return inner.get("name") if isinstance(inner, dict) else None
    return value


def _accepted_arguments(cls: type) -> set[str]:
    names = {"name", "trainable", "dtype"}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
        if klass is keras.layers.Layer:
            break
    names.discard("self")
    return names


_CONSTANT = "_CONSTANT_VALUE"  # Keras 2 marker for a constant in a node's first argument


def _node_entries(node: list[Any]) -> list[list[Any]]:
    """The ``[layer, node_index, tensor_index, kwargs]`` entries of one Keras 2 inbound node.

    Ordinary layers write a node as a list of entries; TFOpLambda layers keep their input
    structure, so a single-tensor call is written as the bare entry.
    """
    if node and isinstance(node[0], str):
        return [node]
    return [entry for entry in node if isinstance(entry, list) and entry]


def _node_kwargs(node: list[Any]) -> dict[str, Any]:
    """Keras 2 attaches the call's keyword arguments to every entry; read them from the first."""
    entries = _node_entries(node)
    if entries and len(entries[0]) > 3 and isinstance(entries[0][3], dict):
        return dict(entries[0][3])
    return {}


def _is_ref(value: Any) -> bool:
    """A Keras 2 serialized tensor reference ``[layer_name, node_index, tensor_index]``."""
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) for v in value[1:])
    )


def _tensor_refs(kwargs: Any) -> list[list[Any]]:
    if not isinstance(kwargs, dict):
        return []
    return [v for v in kwargs.values() if _is_ref(v)]


def _names(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _weight_key(saved_name: str, nested: bool) -> str:
    """``layer/kernel:0`` -> ``kernel`` (or ``layer/kernel`` inside a nested model)."""
    parts = saved_name.split(":")[0].split("/")
    return "/".join(parts[-2:]) if nested else parts[-1]


def _named_variables(layer: Any) -> list[tuple[str, Any]]:
    """(key, variable) in Keras 2 saving order: a layer's own weights, or for a nested model
    all trainable weights then all non-trainable ones, keyed ``sublayer/name``."""
    if not isinstance(layer, keras.Model):
        return [(v.name, v) for v in layer.weights]
    owners = {}
    for sub in layer._flatten_layers(include_self=False):
        for variable in sub.weights:
            owners.setdefault(id(variable), f"{sub.name}/{variable.name}")
    ordered = layer.trainable_weights + layer.non_trainable_weights
    return [(owners.get(id(v), v.name), v) for v in ordered]
