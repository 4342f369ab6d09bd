r"""The plain functions Larq Zoo (2.4) registers by name, so Keras loads Larq Zoo models.

Larq Zoo decorates these with ``lq.utils.register_keras_custom_object`` and its saved models name
them (``kernel_quantizer="xnor_weight_scale"``, ``depthwise_initializer="blurpool_initializer"``,
``Activation("clip_by_value_activation")``). They are registered here under the same names and
compute the same math; importing Larq Zoo itself would replace them with its own definitions.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bnnstat import math as bmath
from bnnstat import quantizers
from bnnstat.utils import register_keras_custom_object, set_precision

__all__ = [
    "blurpool_initializer",
    "clip_by_value_activation",
    "magnitude_aware_sign_unclipped",
    "xnor_weight_scale",
]

_BINOMIAL = {2: [1, 1], 3: [1, 2, 1], 5: [1, 4, 6, 4, 1]}


@register_keras_custom_object
def blurpool_initializer(shape: Any, dtype: Any = None) -> Any:
    r"""Anti-aliasing ("blur pool") depthwise kernel of QuickNet's transition blocks.

    For a kernel of size \(k \in \{2, 3, 5\}\) with binomial row \(b\) (``[1, 1]``,
    ``[1, 2, 1]``, ``[1, 4, 6, 4, 1]``), every channel gets \( K = b b^\top / \sum b b^\top \);
    `shape` is ``(k, k, channels, multiplier)`` as for a depthwise kernel.

    Reference: Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019.
    """
    size, channels = int(shape[0]), int(shape[2])
    if size not in _BINOMIAL:
        raise ValueError("filter size should be in 2, 3, 5")
    row = np.array(_BINOMIAL[size], dtype="float64")
    kernel = np.outer(row, row)
    kernel = np.repeat((kernel / kernel.sum())[:, :, None], channels, axis=-1)
    return keras.ops.convert_to_tensor(
        np.reshape(kernel, tuple(int(d) for d in shape)), dtype=dtype or "float32"
    )


@register_keras_custom_object
def xnor_weight_scale(x: tf.Tensor) -> tf.Tensor:
    r"""XNOR-Net's scaled binary kernel: \( \alpha \cdot \mathrm{ste\_sign}(\hat w) \) with
    \( \hat w = \mathrm{clip}(w, -1, 1) \) and \( \alpha \) the mean of \( |\hat w| \) over all
    axes but the last (one scale per output filter of a 2-D convolution).

    Reference: Rastegari et al., "XNOR-Net", ECCV 2016.
    """
    x = tf.clip_by_value(x, -1.0, 1.0)
    alpha = tf.reduce_mean(tf.abs(x), axis=[0, 1, 2], keepdims=True)
    return alpha * quantizers.ste_sign(x)


@register_keras_custom_object
@set_precision(1)
def magnitude_aware_sign_unclipped(x: tf.Tensor) -> tf.Tensor:
    r"""DoReFa-Net's weight binarization: \( \mathrm{sign}(x) \cdot \mathrm{mean}(|x|) \), with
    one scale per layer (held constant for the gradient) and the identity as pseudo-gradient.

    Reference: Zhou et al., "DoReFa-Net", 2016.
    """
    x = tf.convert_to_tensor(x)
    scale = tf.stop_gradient(tf.reduce_mean(tf.abs(x)))

    @tf.custom_gradient
    def _forward(value: tf.Tensor) -> Any:
        return bmath.sign(value) * scale, lambda dy: dy

    return _forward(x)


@register_keras_custom_object
def clip_by_value_activation(x: tf.Tensor) -> tf.Tensor:
    r"""DoReFa-Net's activation: \( \mathrm{clip}(x, 0, 1) \)."""
    return tf.clip_by_value(x, 0.0, 1.0)
