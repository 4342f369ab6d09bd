"""Registering bnnstat objects with Keras 3 so that Keras can name and find them.

Each module registers its own objects when it is imported (`register`, `register_alias`).
`register_all` imports every such module; `bnnstat/__init__.py` runs it from a post-import hook
on ``keras``, so after ``import bnnstat`` plain ``keras.models.load_model`` and
``keras.saving.deserialize_keras_object`` find every bnnstat object, whichever of the two was
imported first, while ``import bnnstat`` alone never imports Keras.
"""

from __future__ import annotations

import importlib
from typing import Any

import keras

from bnnstat import _keras_compat

PACKAGE = "bnnstat"

# Every module that registers Keras objects at import, dependencies first.
MODULES = (
    "bnnstat.activations",
    "bnnstat.constraints",
    "bnnstat.metrics",
    "bnnstat.quantizers",
    "bnnstat.layers",
    "bnnstat.optimizers",
    "bnnstat.loading",
    "bnnstat.zoo",
)


def register_all() -> None:
    """Import every module of `MODULES`, which registers all of bnnstat's Keras objects."""
    for name in MODULES:
        importlib.import_module(name)


def register(obj: Any, name: str | None = None) -> Any:
    """Register `obj` for Keras serialization as ``bnnstat>{name}`` and return it unchanged."""
    return keras.saving.register_keras_serializable(package=PACKAGE, name=name)(obj)


def register_alias(alias: str, obj: Any, keras_module: str | None = None) -> None:
    """Make `alias` resolve to `obj` in Keras' custom objects (and a Keras string lookup table).

    `keras_module` is ``"activations"`` or ``"constraints"``; the alias is added to that
    module's table only when Keras has no built-in of the same name (we never shadow Keras).
    """
    keras.saving.get_custom_objects().setdefault(alias, obj)
    if keras_module is None:
        return
    table = _keras_compat.string_table(keras_module)
    if table is not None:
        table.setdefault(alias, obj)


def register_custom_object(name: str, obj: Any, replace: bool = True) -> None:
    """Larq's registration: ``custom_objects[name] = obj``; a function is also an activation
    string (Keras 3 only looks activation strings up in its own table, see `_keras_compat`),
    unless Keras has a built-in activation of that name."""
    custom_objects = keras.saving.get_custom_objects()
    if not replace and name in custom_objects:
        return
    custom_objects[name] = obj
    if isinstance(obj, type) or not callable(obj):
        return
    table = _keras_compat.string_table("activations")
    if table is None:
        return
    current = table.get(name)
    if current is None or not str(getattr(current, "__module__", "")).startswith("keras."):
        table[name] = obj
