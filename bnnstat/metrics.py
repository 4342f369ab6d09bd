"""Training metrics for quantized networks (Larq's ``larq.metrics``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from bnnstat import _registry

__all__ = ["FlipRatio"]


class FlipRatio(keras.metrics.Metric):
    r"""Mean share of values that changed since the previous update.

    Each update compares `values` (cast to `values_dtype`, ``int8`` by default, so for the
    output of a sign quantizer a change means a sign flip) with the values of the previous
    update:

    \[ r_t = 1 - \frac{\#\{i : v_{t,i} = v_{t-1,i}\}}{n} \]

    The first update has no predecessor and is excluded: `result()` is
    \( \frac{1}{T-1}\sum_{t=2}^{T} r_t \) (0 before the second update). `reset_state()` clears
    the running mean but keeps the stored previous values.

    ```python
    m = FlipRatio()
    m.update_state([1, 1])  # first call: only stored
    m.update_state([2, 2])  # all changed -> 1.0
    m.update_state([1, 2])  # half changed -> mean(1.0, 0.5) = 0.75
    ```

    Quantizers accept ``metrics=["flip_ratio"]`` and then update one of these on every call.

    Args:
        values_dtype: dtype the tracked values are cast to before comparison (stored as a
            `tf.DType` in the attribute `values_dtype`, as in Larq).
        name: metric name (quantizers use ``flip_ratio/<quantizer name>``).
        dtype: dtype of the running mean.
    """

    def __init__(
        self, values_dtype: str = "int8", name: str = "flip_ratio", dtype: Any = None
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.values_dtype = tf.as_dtype(values_dtype)
        self._previous_values = None
        self.built = False  # True once the previous-values variable exists (as in Larq)
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="count"
        )

    def build(self, values_shape: Sequence[int | None]) -> None:
        """Create the variable holding the previous values; the shape must be fully known."""
        shape = tuple(values_shape)
        if any(dim is None for dim in shape):
            raise ValueError(
                f"FlipRatio '{self.name}' needs a fully defined values shape, got {shape}; "
                "track weights (kernel quantizers) or give the input a fixed batch size."
            )
        with tf.init_scope():
            self._previous_values = self.add_variable(
                shape=shape,
                initializer="zeros",
                dtype=self.values_dtype.name,
                name="previous_values",
            )
        self._size = float(max(1, int(_prod(shape))))
        self.built = True

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = tf.cast(tf.convert_to_tensor(values), self.values_dtype)
        if self._previous_values is None:
            self.build(values.shape)
        unchanged = tf.math.count_nonzero(tf.equal(self._previous_values.value, values))
        ratio = 1.0 - tf.cast(unchanged, self.dtype) / self._size
        # sign(count) is 0 on the first update, so the first ratio is never accumulated.
        self.total.assign_add(ratio * tf.sign(self.count.value))
        self.count.assign_add(tf.ones((), self.dtype))
        self._previous_values.assign(values)

    def result(self) -> tf.Tensor:
        return tf.math.divide_no_nan(self.total.value, self.count.value - 1.0)

    def reset_state(self) -> None:
        self.total.assign(tf.zeros((), self.dtype))
        self.count.assign(tf.zeros((), self.dtype))

    def reset_states(self) -> None:
        """Larq's (and Keras 2's) older name of `reset_state`."""
        self.reset_state()

    @property
    def stateful(self) -> bool:
        """Always True: the result depends on every update since the last reset (Keras 2's
        ``Metric.stateful``, which Larq code reads)."""
        return True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "values_dtype": self.values_dtype.name}


def _prod(shape: Sequence[int]) -> int:
    result = 1
    for dim in shape:
        result *= int(dim)
    return result


_registry.register(FlipRatio)
_registry.register_alias("flip_ratio", FlipRatio)
