"""The predicted deployment view of a model (e.g. after Larq Compute Engine conversion).

Computed by `bnnstat.inspect.lce.predict(record, profile)`; carried by `Analysis.deployment`,
rendered by `bnnstat.inspect.report` and written as JSON by `bnnstat.inspect.serialize` (the
layout is documented in the README).
"""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class Deployment:
    """The whole model as deployed on `target`."""

    target: str
    convertible: bool
    problems: tuple[str, ...]
    total_bytes: int
    accelerated_binary_mac_ratio: float | None  # None: the model has no 1-bit MACs
    layers: tuple[LayerDeployment, ...]

    def layer(self, name: str) -> LayerDeployment | None:
        return next((layer for layer in self.layers if layer.name == name), None)
