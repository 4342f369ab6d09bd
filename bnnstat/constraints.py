"""Weight constraints for quantized networks (Larq's ``larq.constraints``)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from bnnstat import _registry

__all__ = ["WeightClip", "weight_clip"]


class WeightClip(keras.constraints.Constraint):
    r"""Clip weights after each update: \( w \leftarrow \mathrm{clip}(w, -c, c) \).

    Keeps latent weights of binary layers inside the region where the straight-through
    estimator passes gradient. Alias ``"weight_clip"``.

    Args:
        clip_value: the bound \( c \) (default 1).
    """

    def __init__(self, clip_value: float = 1) -> None:
        self.clip_value = clip_value

    def __call__(self, x: Any) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        return tf.clip_by_value(x, -self.clip_value, self.clip_value)

    def get_config(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value}


weight_clip = WeightClip
"""Larq's lower-case alias of `WeightClip`."""

_registry.register(WeightClip)
_registry.register_alias("weight_clip", WeightClip, keras_module="constraints")
_registry.register_alias("WeightClip", WeightClip)  # Keras 2 / Larq configs name it plainly
