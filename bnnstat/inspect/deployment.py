"""The predicted deployment view of a model (e.g. after Larq Compute Engine conversion).

Computed by `bnnstat.inspect.lce.predict(record)`; carried by `ModelProfile.deployment` and
rendered by `bnnstat.inspect.report`. The JSON layout is documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayerDeployment:
    """How one layer ends up in the converted model.

    `stored_as`: how its weights are stored, e.g. ``"bitpacked"``, ``"float32"``, ``"folded"``
    (merged into the previous op), ``"threshold"``, ``"none"``. `accelerated`: runs as a packed
    binary op. `bytes`: the predicted bytes this layer adds to the file (weights and op overhead).
    """

    name: str
    bytes: int
    stored_as: str
    accelerated: bool
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bytes": self.bytes,
            "stored_as": self.stored_as,
            "accelerated": self.accelerated,
            "note": self.note,
        }


@dataclass(frozen=True)
class Deployment:
    """The whole model as deployed on `target`."""

    target: str
    convertible: bool
    problems: tuple[str, ...]
    total_bytes: int
    accelerated_binary_mac_ratio: float
    layers: tuple[LayerDeployment, ...]

    def layer(self, name: str) -> LayerDeployment | None:
        return next((layer for layer in self.layers if layer.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "convertible": self.convertible,
            "problems": list(self.problems),
            "total_bytes": self.total_bytes,
            "accelerated_binary_mac_ratio": self.accelerated_binary_mac_ratio,
            "layers": [layer.to_json() for layer in self.layers],
        }
