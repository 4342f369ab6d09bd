"""Math operations specific to extremely quantized networks (Larq's ``larq.math``).

TensorFlow is imported inside the functions: importing TensorFlow imports Keras, whose
post-import hook (see `bnnstat/__init__.py`) imports `bnnstat.quantizers`, which needs these
functions defined; with a module-level import `import bnnstat.math` first would leave this
module empty at that moment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["heaviside", "sign"]


def sign(x: tf.Tensor) -> tf.Tensor:
    r"""A sign function that is never zero.

    \[ f(x) = -1 \text{ if } x < 0, \quad +1 \text{ if } x \geq 0 \]

    Unlike `tf.sign`, ``sign(0) == 1``. Returns a tensor of the same dtype as `x`.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    one = tf.ones((), dtype=x.dtype)
    return tf.where(x >= 0, one, -one)


def heaviside(x: tf.Tensor) -> tf.Tensor:
    r"""Heaviside step function with output values 0 and 1.

    \[ f(x) = 1 \text{ if } x > 0, \quad 0 \text{ if } x \leq 0 \]
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    return tf.where(x > 0, tf.ones((), dtype=x.dtype), tf.zeros((), dtype=x.dtype))
