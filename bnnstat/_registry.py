"""Registering bnnstat objects with Keras 3 so they can be named by string.

Keras 3 resolves an activation or constraint *string* (``Activation("ste_sign")``,
``kernel_constraint="weight_clip"``) only through the module-level ``ALL_OBJECTS_DICT`` of
``keras.src.activations`` / ``keras.src.constraints``; the custom-object registry is consulted for
dict configs only. So a Larq-style string alias needs an entry in both places.
"""

from __future__ import annotations

from typing import Any

import keras

PACKAGE = "bnnstat"


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
    table = _string_table(keras_module)
    if table is not None:
        table.setdefault(alias, obj)


def _string_table(keras_module: str) -> dict[str, Any] | None:
    if keras_module == "activations":
        from keras.src import activations as module
    elif keras_module == "constraints":
        from keras.src import constraints as module
    else:
        raise ValueError(f"unknown Keras module {keras_module!r}")
    table = getattr(module, "ALL_OBJECTS_DICT", None)
    return table if isinstance(table, dict) else None
