"""Activations for quantized networks (Larq's ``larq.activations``).

Both are registered for Keras serialization; ``"leaky_tanh"`` also works as an activation
string. ``"hard_tanh"`` as a string is Keras' own built-in (same function).
"""

from __future__ import annotations

import tensorflow as tf

from bnnstat import _registry

__all__ = ["hard_tanh", "leaky_tanh"]


def hard_tanh(x: tf.Tensor) -> tf.Tensor:
    r"""Hard tanh: \( f(x) = \mathrm{clip}(x, -1, 1) \).

    Gradient: 1 for \( |x| < 1 \) and 0 outside (the gradient of `tf.clip_by_value`).
    """
    return tf.clip_by_value(x, -1.0, 1.0)


def leaky_tanh(x: tf.Tensor, alpha: float = 0.2) -> tf.Tensor:
    r"""Leaky hard tanh: slope 1 on \( [-1, 1] \) and slope `alpha` outside.

    \[ f(x) = \begin{cases} \alpha x - 1 + \alpha & x < -1 \\ x & |x| \le 1 \\
       \alpha x + 1 - \alpha & x > 1 \end{cases} \]
    """
    x = tf.convert_to_tensor(x)
    return (
        tf.clip_by_value(x, -1.0, 1.0)
        + (tf.maximum(x, 1.0) - 1.0) * alpha
        + (tf.minimum(x, -1.0) + 1.0) * alpha
    )


_registry.register(hard_tanh)
_registry.register(leaky_tanh)
_registry.register_alias("leaky_tanh", leaky_tanh, keras_module="activations")
