"""Load Keras 3 `.keras` / `.h5` files and Larq-saved Keras 2 `.h5` files into Keras 3 models.

`load_model(filepath)` is what `bnnstat.models.load_model` and the CLI call. Keras 3 files go to
Keras' own loader (with bnnstat's objects registered). A Keras 2 HDF5 file (Larq, Larq Zoo) is
translated instead:

1. its model config is read and parsed by the shared reader (`bnnstat.inspect.reader`:
   `container` opens the file read-only, `keras_config` parses layers, calls and nested models,
   numbering every call from 0), and each layer is rewritten into Keras 3 arguments:
   ``batch_input_shape`` becomes an `Input`, Keras 2 nested object configs
   (initializers, constraints, ``{"class_name": "SteSign", ...}`` quantizers and
   ``{"class_name": "function", "config": NAME}`` functions) become objects, Larq layers become
   `bnnstat.layers`, ``TFOpLambda`` layers (``tf.__operators__.add``, ``tf.concat``, ``tf.split``,
   ``tf.nn.relu``, ...) become bnnstat's `TFOpLambda` layer, which keeps Keras 2's class and
   layer names and computes the operation with keras.ops;
2. the model is rebuilt (Sequential, or a functional graph from the parsed calls; a Larq Zoo
   model subclass is rebuilt as the functional model it saved);
3. the weights are assigned from the file's saved weights by layer name, in the saved order,
   with shapes checked.

With ``compile=True`` an HDF5 model (Keras 3 or Larq) is compiled from its ``training_config``
and its optimizer state is restored (`_compile_from_h5`), which Keras' own HDF5 loader does not.

Anything without a Keras 3 equivalent raises `ModelLoadError` (a `BnnstatError` and a
`ValueError`) with one line naming the file, the layer and the reason. Lambda layers hold Python
bytecode: they are only deserialized with ``safe_mode=False``.
"""

from __future__ import annotations

import inspect
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from bnnstat import _keras_compat
from bnnstat.errors import BnnstatError, ModelLoadError
from bnnstat.inspect.reader import container
from bnnstat.inspect.reader.keras_config import (
    Call,
    Context,
    Layer,
    ModelConfig,
    Ref,
    is_model_config,
    iter_refs,
    parse_model_config,
)
from bnnstat.inspect.reader.weights import owned_name, short_name

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


def load_model(
    filepath: str | Path,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = False,
    safe_mode: bool = True,
) -> keras.Model:
    """Load a `.keras` file, a Keras 3 `.h5` file or a Keras 2 (Larq) `.h5` file (see `load`)."""
    return load(filepath, custom_objects, compile, safe_mode).model


def load(
    filepath: str | Path,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = False,
    safe_mode: bool = True,
) -> LoadedModel:
    """Load a `.keras` file, a Keras 3 `.h5` file or a Keras 2 (Larq) `.h5` file.

    Keras 3 files go to `keras.models.load_model` unchanged (with bnnstat's objects registered);
    Keras 2 files are translated (module docstring). `bnnstat.models.load_model` is the public
    entry point (Keras' defaults, ``compile=True``); the inspector calls this one uncompiled.

    Args:
        filepath: the model file; it is only read, never written.
        custom_objects: extra ``name -> class or function`` for names the file uses.
        compile: compile the model with its saved optimizer, loss and metrics, restoring the
            optimizer state where the file has one (`_compile_from_h5` for HDF5 files).
        safe_mode: refuse to deserialize Lambda layers (stored Python code); pass False only
            for files you trust.

    Raises:
        ModelLoadError (a `BnnstatError` and a `ValueError`): the file is missing, not a Keras
            model, or holds a layer with no Keras 3 equivalent; one line naming the file and
            the layer.
    """
    try:
        return _load(Path(filepath), custom_objects, compile, safe_mode)
    except ModelLoadError:
        raise
    except BnnstatError as error:
        raise ModelLoadError(str(error)) from error


def _load(
    path: Path, custom_objects: dict[str, Any] | None, compile: bool, safe_mode: bool
) -> LoadedModel:
    from bnnstat import _registry
    from bnnstat.inspect.reader import sniff

    kind = sniff(path)  # BnnstatError: missing, not a regular file, empty, not a model file
    _registry.register_all()
    if kind == "keras":
        _check_keras_archive(path)
        return LoadedModel(_keras3_load(path, custom_objects, compile, safe_mode))
    config, keras_version = _read_h5_config(path)
    if keras_version.startswith("3."):
        loaded = LoadedModel(_keras3_load(path, custom_objects, False, safe_mode))
    else:
        with keras.saving.custom_object_scope(custom_objects or {}):
            loaded = _Keras2Loader(path, safe_mode).load(config)
    if compile:
        with keras.saving.custom_object_scope(custom_objects or {}):
            _compile_from_h5(loaded.model, path, keras2=not keras_version.startswith("3."))
    return loaded


def _keras3_load(
    path: Path, custom_objects: dict[str, Any] | None, compile: bool, safe_mode: bool
) -> keras.Model:
    try:
        return keras.models.load_model(
            path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
        )
    except Exception as error:  # Keras' loader on a stranger's file: any failure is the file's
        raise ModelLoadError(f"{path}: cannot load model: {_first_line(error)}") from error


def _compile_from_h5(model: keras.Model, path: Path, keras2: bool) -> None:
    """Compile `model` from the file's ``training_config`` and restore the optimizer state.

    Keras' own legacy loader builds the optimizer on the model's own (empty) variable list and
    so drops the saved state; here the optimizer is built on ``model.trainable_variables``, in
    the order it was trained with, and its saved values are assigned by position (Keras 3
    files: ``optimizer.variables`` order) or by weight name (Larq files, `_assign_keras2_state`).
    Without a training config the model stays uncompiled, with Keras' warning.
    """
    with container.open_h5(path) as handle:
        training_config = container.h5_training_config(path, handle)
        state = container.h5_optimizer_state(path, handle)
    if training_config is None:
        warnings.warn(
            f"{path}: no training configuration found in the file, so the model was *not* "
            "compiled. Compile it manually.",
            stacklevel=3,
        )
        return
    try:
        if keras2:
            training_config = _keras2_training_config(training_config)
        model.compile(**_keras_compat.compile_arguments(training_config))
    except (ValueError, TypeError, KeyError) as error:
        raise ModelLoadError(
            f"{path}: cannot compile from the saved training config: {_first_line(error)}; "
            "load with compile=False and compile the model yourself"
        ) from error
    if not state:
        return
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    values = [value for _, value in state]
    variables = list(optimizer.variables)
    if keras2:
        _assign_keras2_state(optimizer, model, state, path)
    elif len(values) == len(variables) and all(
        tuple(v.shape) == tuple(x.shape) for v, x in zip(variables, values, strict=True)
    ):
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
    else:
        warnings.warn(
            f"{path}: the saved optimizer state ({len(values)} values) does not match the "
            f"optimizer ({len(variables)} variables); training restarts from a fresh optimizer.",
            stacklevel=3,
        )


def _keras2_training_config(config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 2 ``training_config`` in the form Keras 3's legacy reader accepts.

    Metrics that Keras 2 wrapped as ``MeanMetricWrapper(fn="name")`` become the metric string
    they were compiled from (``"accuracy"`` keeps Keras' choice of accuracy for the loss), and
    optimizer arguments Keras 3 dropped with value 0 (``decay``) are removed.
    """

    def metric(value: Any) -> Any:
        if isinstance(value, list):
            return [metric(item) for item in value]
        if isinstance(value, dict) and value.get("class_name") == "MeanMetricWrapper":
            inner = value.get("config") or {}
            if isinstance(inner.get("fn"), str):
                name = inner.get("name")
                return name if name in ("accuracy", "acc") else inner["fn"]
        return value

    def optimizer(value: Any) -> Any:
        if isinstance(value, list):
            return [optimizer(item) for item in value]
        if not isinstance(value, dict):
            return value
        return {
            key: optimizer(item)
            for key, item in value.items()
            if not (key == "decay" and item in (0, 0.0, None))
        }

    config = dict(config)
    for key in ("metrics", "weighted_metrics"):
        if config.get(key) is not None:
            config[key] = metric(config[key])
    config["optimizer_config"] = optimizer(config.get("optimizer_config"))
    return config


# Keras 2 optimizer slot names -> the Keras 3 slot names of the same state.
_KERAS2_SLOTS = {
    "m": ("m", "momentum"),
    "v": ("velocity",),
    "vhat": ("velocity_hat",),
    "momentum": ("momentum",),
    "rms": ("velocity",),
    "accumulator": ("accumulator",),
}


def _assign_keras2_state(
    optimizer: Any, model: keras.Model, state: list[tuple[str, Any]], path: Path
) -> None:
    """Assign a Larq (Keras 2) optimizer state by weight name to a built Keras 3 optimizer.

    Keras 2 names a slot ``"layer/kernel/m:0"`` and an iteration count ``"[case/]Adam/iter:0"``;
    Keras 3 names the same slot ``"<path with _>_m"`` / ``"..._momentum"`` in the optimizer
    that trains the variable. Every saved value must find exactly one variable of its shape,
    otherwise nothing is assigned and a warning says training restarts from a fresh optimizer.
    """
    inner = list(getattr(optimizer, "optimizers", None) or [optimizer])
    assignments: list[tuple[Any, Any]] = []
    missing: list[str] = []
    for name, value in state:
        parts = name.split(":")[0].split("/")
        target = None
        if parts[-1] == "iter":
            owner = parts[-2] if len(parts) > 1 else None
            matches = [o for o in inner if len(inner) == 1 or o.name == owner]
            target = matches[0].iterations if len(matches) == 1 else None
        else:
            stem = "_".join(parts[:-1])
            suffixes = tuple(f"{stem}_{slot}" for slot in _KERAS2_SLOTS.get(parts[-1], ()))
            matches = [
                v
                for o in inner
                for v in o.variables
                if suffixes and v.name.endswith(suffixes) and tuple(v.shape) == value.shape
            ]
            target = matches[0] if len(matches) == 1 else None
        if target is None:
            missing.append(name)
        else:
            assignments.append((target, value))
    if missing:
        warnings.warn(
            f"{path}: {len(missing)} saved optimizer values (e.g. {missing[0]!r}) have no single "
            "matching variable in the Keras 3 optimizer; training restarts from a fresh "
            "optimizer.",
            stacklevel=4,
        )
        return
    for variable, value in assignments:
        variable.assign(value)
    if inner != [optimizer]:  # a CaseOptimizer counts its own steps
        optimizer.iterations.assign(max(int(o.iterations.numpy()) for o in inner))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_keras_archive(path: Path) -> None:
    """Before Keras reads a `.keras` archive: every member within the zip limits, config.json
    strict JSON of bounded depth, the weights file free of links or storage outside it."""
    with container.open_archive(path) as archive:
        for info in archive.infolist():
            container.member_info(path, archive, info.filename, None)
    container.read_member_json(path, "config.json")
    with container.open_weights(path):
        pass


def _read_h5_config(path: Path) -> tuple[Any, str]:
    """The parsed model config and the Keras version of an HDF5 model file."""
    with container.open_h5(path) as handle:
        return container.h5_model_config(path, handle), container.h5_keras_version(handle)


class _Keras2Loader:
    """Rebuilds one Keras 2 HDF5 model in Keras 3 (see the module docstring)."""

    def __init__(self, path: Path, safe_mode: bool) -> None:
        self.path = path
        self.safe_mode = safe_mode

    def fail(self, layer: str, why: str) -> BnnstatError:
        return BnnstatError(f"{self.path}: layer {layer!r}: {why}")

    def load(self, entry: Any) -> LoadedModel:
        if not isinstance(entry, dict) or not is_model_config(entry):
            class_name = entry.get("class_name") if isinstance(entry, dict) else None
            raise BnnstatError(
                f"{self.path}: top-level class {class_name!r} is not a Sequential or "
                "functional model config"
            )
        parsed = parse_model_config(entry, Context(self.path, {}))
        try:
            model = self.build_model(parsed)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            if isinstance(error, BnnstatError):
                raise
            raise BnnstatError(
                f"{self.path}: unexpected model config structure "
                f"({type(error).__name__}: {_first_line(error)})"
            ) from None
        self.assign_weights(model)
        # A Larq Zoo subclass rebuilt as a functional model: keep the class it was saved as.
        saved_class = parsed.class_name
        return LoadedModel(model, saved_class if saved_class not in _MODEL_CLASSES else None)

    # -- model structure ---------------------------------------------------------------
    def build_model(self, parsed: ModelConfig) -> keras.Model:
        if parsed.sequential:
            return self.build_sequential(parsed)
        return self.build_functional(parsed)

    def build_sequential(self, parsed: ModelConfig) -> keras.Model:
        model = keras.Sequential(name=parsed.name)
        if parsed.input_config is not None:
            model.add(self.make_input(dict(parsed.input_config)))
        for entry in parsed.layers:
            layer = self.make_layer(entry)
            if isinstance(layer, _OpLambda):
                raise self.fail(layer.name, "TFOpLambda inside a Sequential model")
            model.add(layer)
        return model

    def build_functional(self, parsed: ModelConfig) -> keras.Model:
        layers = {entry.name: self.make_layer(entry) for entry in parsed.layers}
        outputs: dict[str, list[Any]] = {}  # layer name -> output of each call, in order
        pending = {entry.name: list(entry.calls) for entry in parsed.layers}
        for name, layer in layers.items():
            if isinstance(layer, keras.KerasTensor):  # an Input
                outputs[name] = [layer]
        # A layer waits on the first producer it still needs and is looked at again only when
        # that producer has made another output: linear in the calls, in any listing order.
        waiting: dict[str, list[str]] = {}
        queue = deque(pending)
        while queue:
            name = queue.popleft()
            calls = pending[name]
            while calls:
                blocker = self.missing_input(calls[0], outputs)
                if blocker is not None:
                    waiting.setdefault(blocker, []).append(name)
                    break
                outputs.setdefault(name, []).append(
                    self.call_node(name, layers[name], calls.pop(0), outputs)
                )
                queue.extend(waiting.pop(name, []))
        stuck = next((name for name, calls in pending.items() if calls), None)
        if stuck is not None:
            raise self.fail(stuck, "its inbound layers cannot be resolved")
        inputs = [self.tensor(ref, outputs) for ref in parsed.inputs]
        results = [self.tensor(ref, outputs) for ref in parsed.outputs]
        return keras.Model(
            inputs=inputs if len(inputs) > 1 else inputs[0],
            outputs=results if len(results) > 1 else results[0],
            name=parsed.name,
        )

    def missing_input(self, call: Call, outputs: dict[str, list[Any]]) -> str | None:
        """The first layer whose output this call reads but which has not made it yet."""
        return next(
            (ref.layer for ref in call.inputs if len(outputs.get(ref.layer, [])) <= ref.node), None
        )

    def tensor(self, ref: Ref, outputs: dict[str, list[Any]]) -> Any:
        results = outputs.get(ref.layer, [])
        if ref.node >= len(results):
            raise self.fail(ref.layer, f"the graph reads its call {ref.node}, which never runs")
        result = results[ref.node]
        if isinstance(result, list | tuple):
            flat = keras.tree.flatten(result)
            if ref.tensor >= len(flat):
                raise self.fail(ref.layer, f"the graph reads its output {ref.tensor}, not made")
            return flat[ref.tensor]
        return result

    def call_node(self, name: str, layer: Any, call: Call, outputs: dict[str, Any]) -> Any:
        if call.constants:
            raise self.fail(name, "constant (non-tensor) inputs are not supported")
        args = [self.tensor(ref, outputs) for ref in call.args]
        kwargs = dict(call.kwargs)
        if isinstance(layer, _OpLambda):
            return layer.call(args, kwargs, lambda ref: self.tensor(ref, outputs))
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if any(True for _ in iter_refs(kwargs)):
            raise self.fail(name, "tensor keyword arguments in a layer call are not supported")
        if not args:
            raise self.fail(name, "a call without input tensors")
        return layer(args if len(args) > 1 else args[0], **kwargs)

    # -- layers ------------------------------------------------------------------------
    def make_layer(self, entry: Layer) -> Any:
        class_name, name = entry.class_name, entry.name
        config = dict(entry.config)
        if entry.model is not None:
            return self.build_model(entry.model)
        if class_name == "InputLayer":
            return self.make_input(config)
        if class_name in ("TFOpLambda", "SlicingOpLambda"):
            return self.op_lambda(name, config)
        if class_name == "Lambda":
            return self.make_lambda(name, config)
        cls = self.resolve_class(class_name, name)
        kwargs = self.translate_config(cls, config, name)
        try:
            with _keras_compat.safe_mode_scope(self.safe_mode):
                return cls.from_config(kwargs)
        except (ValueError, TypeError) as error:
            raise self.fail(name, f"cannot build {class_name}: {_first_line(error)}") from error

    def make_input(self, config: dict[str, Any]) -> Any:
        """A Keras 2 InputLayer config (or the input shape of a Sequential's first layer)."""
        shape = config.get("batch_input_shape") or config.get("batch_shape")
        if not isinstance(shape, list):
            raise BnnstatError(f"{self.path}: input {config.get('name')!r} has no input shape")
        return keras.Input(
            batch_shape=tuple(shape),
            dtype=_dtype(config.get("dtype")),
            name=config.get("name"),
            sparse=bool(config.get("sparse", False)),
        )

    def resolve_class(self, class_name: str, layer_name: str) -> type:
        """The class to build a layer with, from the allowlist only: bnnstat's layers and
        Keras' built-in layers (those defined in ``keras.src.layers``; not `TFSMLayer`,
        `TorchModuleWrapper`, `JaxLayer`, `FlaxLayer`, which load or run code from elsewhere).
        Anything else is refused, whatever `safe_mode` says."""
        from bnnstat import layers as bnn_layers

        class_name = _RENAMED.get(class_name, class_name)
        if class_name in bnn_layers.__all__:
            return getattr(bnn_layers, class_name)
        cls = getattr(keras.layers, class_name, None)
        if _keras_compat.is_builtin_layer_class(cls) and cls is not keras.layers.Lambda:
            return cls
        raise self.fail(
            layer_name,
            f"class {class_name!r} is not a Keras built-in or bnnstat layer; bnnstat builds "
            "no other classes from a file",
        )

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

    def make_lambda(self, name: str, config: dict[str, Any]) -> Any:
        if self.safe_mode:
            raise self.fail(
                name, "Lambda layer holds Python code; load with safe_mode=False only if trusted"
            )
        if config.get("function_type") != "lambda":
            raise self.fail(name, "Lambda wrapping a named Python function cannot be rebuilt")
        code, defaults, closure = (list(config["function"]) + [None, None])[:3]
        try:
            function = _keras_compat.load_lambda_function(code, defaults, closure)
        except Exception as error:  # bytecode from another Python version, etc.
            raise self.fail(name, f"cannot rebuild Lambda code: {_first_line(error)}") from error
        return keras.layers.Lambda(function, name=name, arguments=config.get("arguments") or {})

    # -- weights -----------------------------------------------------------------------
    def assign_weights(self, model: keras.Model) -> None:
        with container.open_h5(self.path) as handle:
            group = container.legacy_weights_group(handle)
            for layer_name, saved in container.legacy_h5_weights(self.path, group).items():
                names = [weight_name for weight_name, _ in saved]
                if names:
                    read = container.legacy_h5_value
                    values = {n: read(self.path, group, layer_name, n) for n in names}
                    self.assign_layer(model, layer_name, names, values)

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
        key = owned_name if isinstance(layer, keras.Model) else short_name
        keys = [key(n) for n in names]
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
        tensors = [resolve(v) for v in kwargs.values() if isinstance(v, Ref)]
        constants = {k: v for k, v in kwargs.items() if not isinstance(v, Ref) and v is not None}
        if any(True for _ in iter_refs(constants)):
            raise self.fail(f"tensors only as whole arguments, got {kwargs}")
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


def _named_variables(layer: Any) -> list[tuple[str, Any]]:
    """(key, variable) in Keras 2 saving order: a layer's own weights, or for a nested model
    all trainable weights then all non-trainable ones, keyed ``sublayer/name``."""
    if not isinstance(layer, keras.Model):
        return [(v.name, v) for v in layer.weights]
    owners = {}
    for sub in _keras_compat.sublayers(layer):
        for variable in sub.weights:
            owners.setdefault(id(variable), f"{sub.name}/{variable.name}")
    ordered = layer.trainable_weights + layer.non_trainable_weights
    return [(owners.get(id(v), v.name), v) for v in ordered]
