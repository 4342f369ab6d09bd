"""Small helpers shared by the training stack and the inspector (no TensorFlow imported here).

`register_keras_custom_object` and `register_alias` are Larq's decorators for third-party code
(Larq Zoo registers its quantizers, initializers and activations with them); they import Keras
when called.

Precision tags: a weight's bit width is the attribute ``precision`` on the variable (set by the
quantized layers from their quantizer in ``build()``), and on functions by `set_precision`.
`precision_of` is the one way the optimizers and the inspector read it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_SIZE_UNITS = ("B", "KiB", "MiB", "GiB")


def register_keras_custom_object(cls: F) -> F:
    """Decorator: make `cls` (a class or function) known to Keras under its ``__name__``.

    As in Larq, the object is added to Keras' global custom objects, so configs that name it
    (``kernel_quantizer="my_quantizer"``, ``kernel_initializer="my_init"``) resolve while the
    defining module is imported. On Keras 3 a registered *function* also resolves as an
    activation string (``Activation("my_activation")``), as custom objects did in Keras 2;
    Keras' own activations of the same name are never shadowed.
    """
    from bnnstat import _registry

    _registry.register_custom_object(cls.__name__, cls)
    return cls


def register_alias(name: str) -> Callable[[F], F]:
    """Decorator factory: make the decorated class or function known to Keras as `name`.

    ```python
    @register_alias("degeneration")
    class Degeneration(keras.metrics.Metric): ...
    ```
    Same rules as `register_keras_custom_object`, with `name` instead of ``__name__``. Keras
    writes an instance of a class into a saved config under the class's ``__name__``, so that
    name is registered too when it is still free (Larq code usually adds
    `register_keras_custom_object` for this; here the alias alone round-trips).
    """

    def register(cls: F) -> F:
        from bnnstat import _registry

        _registry.register_custom_object(name, cls)
        if isinstance(cls, type):
            _registry.register_custom_object(cls.__name__, cls, replace=False)
        return cls

    return register


def set_precision(precision: int = 32) -> Callable[[F], F]:
    """Decorator that tags a quantizer function with its output bit width.

    ```python
    @set_precision(1)
    def my_sign(x): ...
    assert my_sign.precision == 1
    ```
    """

    def tag(function: F) -> F:
        function.precision = precision  # type: ignore[attr-defined]
        return function

    return tag


@contextmanager
def patch_object(obj: Any, name: str, value: Any) -> Iterator[None]:
    """Set attribute `name` of `obj` to `value` inside the ``with`` block (Larq's
    `larq.utils.patch_object`); the old value comes back on exit, also when the block raises."""
    old_value = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old_value)


def precision_of(obj: Any) -> int | None:
    """The bit width tagged on a variable, quantizer or function, or None when it has no tag."""
    precision = getattr(obj, "precision", None)
    return int(precision) if precision is not None else None


def tag_precision(variable: Any, precision: int | None) -> None:
    """Attach a bit width to a (Keras) variable; `None` leaves the variable untagged."""
    if precision is not None:
        variable.precision = int(precision)


def memory_as_readable_str(num_bits: int) -> str:
    """Format a size given in bits as bytes with a binary unit, e.g. ``33.05 KiB``.

    The byte count is divided by 1024 until it is below 1024 (or the unit is GiB), then shown
    with two decimals, exactly as Larq's summary prints sizes.
    """
    size = num_bits / 8
    unit = _SIZE_UNITS[0]
    for unit in _SIZE_UNITS:
        if size < 1024 or unit == _SIZE_UNITS[-1]:
            break
        size /= 1024
    return f"{size:,.2f} {unit}"


def as_given(value: float) -> float:
    """The shortest decimal that a float32 `value` round-trips to, as a Python float.

    Hyperparameters such as Bop's threshold live in float32 variables, so reading one back gives
    ``9.99999993922529e-09`` for a threshold given as ``1e-8``; this returns ``1e-08`` again (the
    shortest ``%.Ng`` form whose float32 rounding equals the stored one). A value that is not
    exactly a float32 (already a float64 with more digits) is returned unchanged.
    """
    value = float(value)
    try:
        stored = struct.pack("<f", value)
    except OverflowError:
        return value
    if struct.unpack("<f", stored)[0] != value:
        return value
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == stored:
            return candidate
    return value
