"""Larq's ``larq.quantized_variable``: a variable read through its quantizer.

`QuantizedVariable(variable, quantizer=None, precision=None, op=None)` (or
`QuantizedVariable.from_variable(...)`, the same) wraps a latent full-precision variable. Inside
`bnnstat.context.quantized_scope(True)` every read of it -- `read_value()`, `value`, `numpy()`,
`np.asarray`, `tf.convert_to_tensor`, arithmetic such as ``qv + 1`` -- gives
``quantizer(latent value)``; outside the scope (or with ``quantizer=None``) it gives the latent
value. Everything else (`name`, `path`, `shape`, `dtype`, `trainable`, `constraint`, ...) is the
latent variable's, and `assign`, `assign_add` and `assign_sub` write the latent variable.
`precision` is the given one, else the quantizer's (e.g. 1 for `ste_sign`), else None.

The quantized layers hand these out: inside `quantized_scope(True)`, ``layer.kernel`` and the
entries of ``layer.weights`` of a quantized weight are `QuantizedVariable` views (the same object
on every read), which is how `get_weights()` and saving export the quantized values.

Differences from Larq, because Keras 3 is not Keras 2:

- It is not a ``tf.Variable`` subclass. Larq's layers create their weights through Keras 2's
  ``_add_variable_with_custom_getter``, which Keras 3 no longer has; a Keras 3 layer holds
  ``keras.Variable`` objects. So bnnstat's layers keep the latent ``keras.Variable`` as the
  weight and give out the view only inside the scope; outside it, ``layer.kernel`` is the
  latent variable itself, which reads exactly as Larq's ``QuantizedVariable`` does there.
  ``isinstance(qv, tf.Variable)`` is False; TensorFlow ops and NumPy still accept it.
- `value`: wrapping a ``keras.Variable`` (what layers hold) it is a property, as on every Keras 3
  variable; wrapping a ``tf.Variable`` it is a method, ``value()``, as in Larq. `read_value()`
  is a method in both cases.
- `from_variable` needs no special class for distributed variables: under a `tf.distribute`
  strategy Keras 3 puts the distributed ``tf.Variable`` inside its own ``keras.Variable``.
- `op` is accepted and returned by the `op` property, for Larq's signature; the TF1 graph API
  (``eval``, ``initialized_value``, ``to_proto``) and the checkpoint / SavedModel hooks are not
  provided: Keras 3 saving goes through the layers, which export the quantized values inside the
  scope.
- `assign` and friends return the `QuantizedVariable` itself (Larq returns a new wrapper of the
  same variable); with ``read_value=False`` they return what the latent variable's method does.
- ``==`` and ``!=`` compare identity, not elements, so ``w in layer.trainable_weights`` works.
- bnnstat's quantizer functions carry their bit width (``ste_sign.precision == 1``), so
  ``QuantizedVariable(v, ste_sign).precision`` is 1 where Larq's is None; with a quantizer
  object (what a layer holds, e.g. `SteSign()` for ``"ste_sign"``) both give 1.
- Reading through a bnnstat quantizer does not update its training metrics (`flip_ratio`):
  reading a weight for export is not a training step.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from bnnstat import context, quantizers

__all__ = ["QuantizedVariable"]

_UNSPECIFIED = object()


def _read(variable: Any) -> Any:
    """The variable's current value as a tensor (autocast under mixed precision).

    `keras.ops.convert_to_tensor` would return a Keras variable unchanged (it counts as a tensor).
    """
    return tf.convert_to_tensor(variable)


def quantize_value(quantizer: Any, value: Any) -> Any:
    """`quantizer(value)` for export: a bnnstat quantizer's training metrics are not updated."""
    if isinstance(quantizer, quantizers._BaseQuantizer) and (
        type(quantizer).call is quantizers._BaseQuantizer.call
    ):
        return quantizer._quantize(value)
    return quantizer(value)


class QuantizedVariable:
    """A latent variable that reads as ``quantizer(value)`` inside `quantized_scope(True)`.

    Args:
        variable: the latent floating-point variable (a ``keras.Variable`` or ``tf.Variable``).
        quantizer: a callable applied to the latent value when quantized reads are on, or None.
        precision: the bit width; None takes the quantizer's ``precision``.
        op: kept for Larq's signature; returned by the `op` property.
    """

    def __new__(cls, variable: Any = None, *args: Any, **kwargs: Any) -> QuantizedVariable:
        if cls is QuantizedVariable and isinstance(variable, tf.Variable):
            cls = _QuantizedTFVariable
        return object.__new__(cls)

    def __init__(
        self,
        variable: Any,
        quantizer: Any = None,
        precision: int | None = None,
        op: Any = _UNSPECIFIED,
    ) -> None:
        if not isinstance(variable, (keras.Variable, tf.Variable, QuantizedVariable)):
            raise ValueError(
                "`variable` must be a `keras.Variable` or `tf.Variable`, "
                f"but got `{type(variable)}`."
            )
        if not (quantizer is None or callable(quantizer)):
            raise ValueError(
                f"`quantizer` must be `callable` or `None`, but got `{type(quantizer)}`."
            )
        if not (precision is None or type(precision) is int):
            raise ValueError(
                f"`precision` must be of type `int` or `None`, but got `{type(precision)}`."
            )
        self.latent_variable = variable
        self.quantizer = quantizer
        self.precision = precision or getattr(quantizer, "precision", None)
        self._op = op

    @classmethod
    def from_variable(
        cls,
        variable: Any,
        quantizer: Any = None,
        precision: int | None = None,
        op: Any = _UNSPECIFIED,
    ) -> QuantizedVariable:
        """A `QuantizedVariable` wrapping `variable` (Larq's constructor of choice)."""
        return cls(variable, quantizer, precision, op=op)

    def __getattr__(self, name: str) -> Any:
        if name in ("latent_variable", "quantizer", "precision", "_op"):  # not set yet (copy)
            raise AttributeError(name)
        return getattr(self.latent_variable, name)

    # -- reads ---------------------------------------------------------------------------
    def _quantize(self, value: Any) -> Any:
        if self.quantizer is not None and context.should_quantize():
            return quantize_value(self.quantizer, value)
        return value

    @property
    def value(self) -> Any:
        return self._quantize(_read(self.latent_variable))

    def read_value(self) -> Any:
        return self._quantize(_read(self.latent_variable))

    def numpy(self) -> Any:
        return keras.ops.convert_to_numpy(self.read_value())

    def sparse_read(self, *args: Any, **kwargs: Any) -> Any:
        return self._quantize(self.latent_variable.sparse_read(*args, **kwargs))

    def gather_nd(self, *args: Any, **kwargs: Any) -> Any:
        return self._quantize(self.latent_variable.gather_nd(*args, **kwargs))

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __tf_tensor__(self, dtype: Any = None, name: Any = None) -> Any:
        return tf.convert_to_tensor(self.read_value(), dtype=dtype, name=name)

    @property
    def op(self) -> Any:
        return self.latent_variable.op if self._op is _UNSPECIFIED else self._op

    # -- writes (to the latent variable) -------------------------------------------------
    def _update(self, method: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.latent_variable, method)(value, *args, **kwargs)
        return self if kwargs.get("read_value", True) else result

    def assign(self, value: Any, *args: Any, **kwargs: Any) -> Any:
        return self._update("assign", value, *args, **kwargs)

    def assign_add(self, delta: Any, *args: Any, **kwargs: Any) -> Any:
        return self._update("assign_add", delta, *args, **kwargs)

    def assign_sub(self, delta: Any, *args: Any, **kwargs: Any) -> Any:
        return self._update("assign_sub", delta, *args, **kwargs)

    def __repr__(self) -> str:
        name = getattr(self.latent_variable, "path", None) or self.latent_variable.name
        public = next(c for c in type(self).__mro__ if not c.__name__.startswith("_"))
        text = (
            f"<{public.__name__} '{name}' shape={tuple(self.shape)} "
            f"dtype={keras.backend.standardize_dtype(self.dtype)}"
        )
        if self.quantizer is not None:
            quantizer = getattr(self.quantizer, "__name__", type(self.quantizer).__name__)
            text += f" quantizer={quantizer}"
        if self.precision is not None:
            text += f" precision={self.precision}"
        if tf.executing_eagerly():
            text += f" numpy={self.numpy()!r}"
        return text + ">"


def _operator(name: str) -> Any:
    def operator(self: QuantizedVariable, *args: Any) -> Any:
        return getattr(self.read_value(), name)(*args)

    operator.__name__ = name
    return operator


# Arithmetic, comparison and indexing act on the value read (quantized inside the scope), as
# Larq's operator overloads do; `==` / `!=` stay identity (see the module docstring).
for _name in (
    "__neg__", "__pos__", "__abs__", "__invert__", "__getitem__",
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
    "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
    "__pow__", "__rpow__", "__matmul__", "__rmatmul__",
    "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__",
    "__lt__", "__le__", "__gt__", "__ge__",
):  # fmt: skip
    setattr(QuantizedVariable, _name, _operator(_name))
del _name


class _QuantizedTFVariable(QuantizedVariable):
    """A `QuantizedVariable` over a ``tf.Variable``: `value()` is a method, as on the variable."""

    def value(self) -> Any:  # type: ignore[override]
        return self.read_value()
