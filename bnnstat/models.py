"""Larq's `larq.models` entry points: `summary(model)` and `load_model(filepath)`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def summary(
    model: Any,
    print_fn: Callable[[str], Any] | None = None,
    include_macs: bool = True,
    target: str | None = None,
) -> Any:
    """Print Larq's two summary tables for a live Keras model and return its `ModelProfile`.

    `print_fn` receives the whole report (default: `print`). `target="lce"` adds the predicted
    Larq Compute Engine deployment view to the report (`bnnstat.inspect.analysis.analyze`
    returns it as data).
    """
    from bnnstat.inspect import keras_adapter, report
    from bnnstat.inspect.analysis import analyze

    analysis = analyze(keras_adapter.record(model), target)
    text = report.render(analysis, "table", include_macs=include_macs)
    (print_fn or print)(text)
    return analysis.profile


def load_model(
    filepath: str | Path,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """`keras.models.load_model`, plus Keras 2 `.h5` files saved by Larq or Larq Zoo.

    Same arguments and defaults as Keras. `.keras` and Keras 3 `.h5` files load through Keras
    with bnnstat's objects registered; Keras 2 files are translated to Keras 3 layers
    (`bnnstat.loading`). With ``compile=True`` an HDF5 model is compiled from its saved training
    config and keeps its optimizer state (Keras' own HDF5 loader drops it), including a Larq
    `CaseOptimizer` with the variable routing it was trained with.

    Lambda layers hold Python code and are only deserialized with ``safe_mode=False``.

    Raises:
        bnnstat.errors.ModelLoadError: (also a `ValueError`) one line naming the file and the
            problem.
    """
    from bnnstat.loading import load_model as _load

    return _load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
