"""bnnstat: Binarized Neural Networks on Keras 3, with a Larq-compatible API and an inspector.

`import bnnstat as lq` reads like Larq code. Submodules are imported on first access so that
`import bnnstat` (and the CLI) never pays for importing TensorFlow until it is needed.

`import bnnstat` also installs a post-import hook on ``keras`` (``wrapt.when_imported``): as soon
as Keras is imported (or at once, if it already is), every bnnstat layer, quantizer, constraint,
optimizer, metric and activation is registered with Keras, so plain `keras.models.load_model`
reads models that use them, in either import order.
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
    "layers_base",
    "math",
    "metrics",
    "models",
    "optimizers",
    "quantized_variable",
    "quantizers",
    "utils",
    "plots",
    "inspect",
    "zoo",
)

__all__ = ["__version__", "precision_of", *_SUBMODULES]


def _register_with_keras(_keras: Any) -> None:
    """Post-import hook on ``keras``: register all of bnnstat's Keras objects.

    TensorFlow imports Keras near the end of its own import and swallows ImportError and
    AttributeError from it, so a failure here is turned into a warning naming the cause
    instead of being lost (or of breaking ``import keras``).
    """
    try:
        from bnnstat import _registry

        _registry.register_all()
    except Exception as error:  # never break the user's `import keras`
        import warnings

        warnings.warn(
            f"bnnstat could not register its objects with Keras ({type(error).__name__}: "
            f"{error}); keras.models.load_model will not find bnnstat layers.",
            RuntimeWarning,
            stacklevel=2,
        )


def _install_keras_hook() -> None:
    import wrapt

    wrapt.when_imported("keras")(_register_with_keras)


_install_keras_hook()


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"bnnstat.{name}")
    if name == "precision_of":
        from bnnstat.utils import precision_of

        return precision_of
    raise AttributeError(f"module 'bnnstat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
