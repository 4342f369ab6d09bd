"""bnnstat: Binarized Neural Networks on Keras 3, with a Larq-compatible API and an inspector.

`import bnnstat as lq` reads like Larq code. Submodules are imported on first access so that
`import bnnstat` (and the CLI) never pays for importing TensorFlow until it is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

from bnnstat._version import __version__

_SUBMODULES = (
    "activations",
    "callbacks",
    "constraints",
    "context",
    "layers",
    "math",
    "metrics",
    "models",
    "optimizers",
    "quantizers",
    "utils",
    "plots",
    "inspect",
)

__all__ = ["__version__", "precision_of", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"bnnstat.{name}")
    if name == "precision_of":
        from bnnstat.utils import precision_of

        return precision_of
    raise AttributeError(f"module 'bnnstat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
