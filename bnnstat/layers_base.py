"""Larq's ``larq.layers_base``: the base classes of the quantized layers.

They are defined in `bnnstat.layers` (one place) and re-exported here, so Larq code that imports
them from ``larq.layers_base`` works with ``import bnnstat as lq`` unchanged.
"""

from __future__ import annotations

from bnnstat.layers import (
    BaseLayer,
    QuantizerBase,
    QuantizerBaseConv,
    QuantizerDepthwiseBase,
    QuantizerSeparableBase,
)

__all__ = [
    "BaseLayer",
    "QuantizerBase",
    "QuantizerBaseConv",
    "QuantizerDepthwiseBase",
    "QuantizerSeparableBase",
]
