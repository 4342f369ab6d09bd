"""The inspector's Python entry points: `summary(model)` and `load_model(path)`."""

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


def load_model(path: str | Path, *, safe_mode: bool = True, compile: bool = False) -> Any:
    """Load a Keras 3 `.keras`/`.h5` file, or a Keras 2 `.h5` saved by Larq, with bnnstat layers.

    Lambda layers are only deserialized with `safe_mode=False`.
    """
    from bnnstat.loading import load_model as _load

    return _load(path, safe_mode=safe_mode, compile=compile)
