"""The one place that touches Keras internals (``keras.src`` and private attributes).

Everything here was checked against the Keras version in `CHECKED_KERAS_VERSION`;
``tests/test_keras_compat.py`` fails as soon as another Keras is installed, so that someone
re-reads each function below against the new Keras source before moving the pin.

Why each one exists:

- Keras 3 resolves an activation or constraint *string* (``Activation("ste_sign")``,
  ``kernel_constraint="weight_clip"``) only through the module-level ``ALL_OBJECTS_DICT`` of
  ``keras.src.activations`` / ``keras.src.constraints``; the custom-object registry is consulted
  for dict configs only. A Larq-style string alias needs an entry in that table
  (`string_table`).
- Keras optimizers keep their variables in private lists and look variables up by a private
  key; `Bop` and `CaseOptimizer` subclass `keras.optimizers.Optimizer` and must use them the
  way the base class does (`track_variable` ... `check_variables_are_known`).
- Keras 2 HDF5 files (Larq) store Lambda layers as marshalled bytecode, which only Keras'
  private ``func_load`` turns back into a function (`load_lambda_function`), and nested models
  list their sub-layers only through ``_flatten_layers`` (`sublayers`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

CHECKED_KERAS_VERSION = "3.15.1"
"""The Keras version every function in this module was read against."""


# -- string lookup tables ------------------------------------------------------------------
def string_table(kind: str) -> dict[str, Any] | None:
    """Keras' own name -> object table behind ``keras.{kind}.get(string)``.

    `kind` is ``"activations"`` or ``"constraints"``; None when this Keras has no such table.
    """
    if kind == "activations":
        from keras.src import activations as module
    elif kind == "constraints":
        from keras.src import constraints as module
    else:
        raise ValueError(f"unknown Keras module {kind!r}")
    table = getattr(module, "ALL_OBJECTS_DICT", None)
    return table if isinstance(table, dict) else None


# -- optimizer internals -------------------------------------------------------------------
def no_automatic_dependency_tracking(method: Callable[..., Any]) -> Callable[..., Any]:
    """Keras' decorator that stops attribute assignment from tracking variables (the
    base class puts it on `Optimizer.build`)."""
    from keras.src.utils import tracking

    return tracking.no_automatic_dependency_tracking(method)


def track_variable(optimizer: keras.optimizers.Optimizer, variable: Any) -> None:
    """Make `variable` part of the optimizer's saved state (``optimizer.variables``)."""
    optimizer._track_variable(variable)


def untrack_variable(optimizer: keras.optimizers.Optimizer, variable: Any) -> None:
    """Remove `variable` from the optimizer's saved state."""
    optimizer._untrack_variable(variable)


def drop_learning_rate(optimizer: keras.optimizers.Optimizer) -> None:
    """Remove the learning-rate variable the base class always creates (Bop and CaseOptimizer
    have none of their own)."""
    optimizer._untrack_variable(optimizer._learning_rate)
    optimizer._learning_rate = None


def own_variables(optimizer: keras.optimizers.Optimizer) -> list[Any]:
    """The variables the optimizer object itself tracks (not those of inner optimizers)."""
    return optimizer._variables


def built_variables(optimizer: keras.optimizers.Optimizer) -> list[Any]:
    """The model variables the optimizer was built on, in build order."""
    return optimizer._trainable_variables


def variable_index(optimizer: keras.optimizers.Optimizer, variable: Any) -> int:
    """Position of `variable` among `built_variables`, by Keras' own variable key (which maps
    the per-replica variables of a distribution strategy to their container)."""
    return optimizer._get_variable_index(variable)


def check_variables_are_known(optimizer: keras.optimizers.Optimizer, variables: Any) -> None:
    """Raise Keras' ValueError when `variables` are not those the optimizer was built on."""
    optimizer._check_variables_are_known(variables)


def name_scope(name: str, caller: Any) -> Any:
    """Keras' name scope, with `caller` (the optimizer) as Keras' own optimizers pass it."""
    return keras.name_scope(name, caller=caller)


# -- models and layers ---------------------------------------------------------------------
def sublayers(model: keras.Model) -> Sequence[Any]:
    """Every layer inside `model`, recursively, without `model` itself."""
    return list(model._flatten_layers(include_self=False))


def producing_layer_name(tensor: Any) -> str | None:
    """The name of the layer whose call produced symbolic `tensor`, or None for other tensors."""
    history = getattr(tensor, "_keras_history", None)
    return history.operation.name if history is not None else None


def load_lambda_function(code: Any, defaults: Any = None, closure: Any = None) -> Any:
    """Keras' rebuild of a marshalled Python function (Lambda layers of Keras 2 files).

    Executes stored bytecode: callers must only use it with ``safe_mode=False``.
    """
    from keras.src.utils import python_utils

    return python_utils.func_load(code, defaults=defaults, closure=closure)


def causal_padding(layer: Any) -> Any:
    """The ``[(before, after), ...]`` padding Keras' Conv1D applies for ``padding="causal"``."""
    return layer._compute_causal_padding()


# -- legacy HDF5 training configs ----------------------------------------------------------
def compile_arguments(training_config: dict[str, Any]) -> dict[str, Any]:
    """`model.compile` arguments from an HDF5 file's ``training_config`` (Keras 2 or 3), by
    Keras' own legacy-HDF5 reader (custom objects come from the active custom-object scope)."""
    from keras.src.legacy.saving import saving_utils

    # Names such as "mse" go to `compile` as they are: Keras 3.15's reader fails on some of them
    # ("Could not deserialize 'keras.metrics.mse'"), while `compile` resolves every one.
    names = {
        key: training_config[key]
        for key in ("loss", "metrics", "weighted_metrics")
        if _only_names(training_config.get(key))
    }
    arguments = saving_utils.compile_args_from_training_config(
        {**training_config, **dict.fromkeys(names)}
    )
    return {**arguments, **names}


def _only_names(value: Any) -> bool:
    """A string, or a list / dict of strings (a compile argument Keras resolves by name)."""
    if isinstance(value, str):
        return True
    items = value.values() if isinstance(value, dict) else value
    return isinstance(value, (list, dict)) and bool(value) and all(
        isinstance(item, str) for item in items
    )
