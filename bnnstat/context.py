"""Context managers that configure global behaviour of bnnstat (Larq's ``larq.context``).

No TensorFlow here: these are plain Python flags read by layers and quantizers.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator

__all__ = ["get_training_metrics", "metrics_scope", "quantized_scope", "should_quantize"]

_state = threading.local()

AVAILABLE_METRICS = frozenset({"flip_ratio"})


def _training_metrics() -> set[str]:
    """This thread's set of training metrics (each thread starts with an empty set)."""
    metrics = getattr(_state, "training_metrics", None)
    if metrics is None:
        metrics = _state.training_metrics = set()
    return metrics


@contextlib.contextmanager
def quantized_scope(quantize: bool) -> Iterator[bool]:
    """Within this scope `should_quantize()` returns `quantize`.

    Quantized layers consult it to decide whether their (kernel) variables are read as
    quantized values (True) or as the latent full-precision values (False, the default), e.g.
    to save binarized weights:

    ```python
    with bnnstat.context.quantized_scope(True):
        weights = model.get_weights()  # binarized kernels
    ```
    The previous setting is restored on exit, also when the body raises.
    """
    previous = should_quantize()
    _state.should_quantize = bool(quantize)
    try:
        yield bool(quantize)
    finally:
        _state.should_quantize = previous


def should_quantize() -> bool:
    """The setting of the innermost `quantized_scope` in this thread (False outside any)."""
    return getattr(_state, "should_quantize", False)


@contextlib.contextmanager
def metrics_scope(metrics: Iterable[str] = ()) -> Iterator[set[str]]:
    """Add training metrics to the quantizers created inside this scope.

    Kernel quantizers created in the scope without their own ``metrics=`` argument get these
    metrics. Only ``"flip_ratio"`` exists; anything else raises ValueError. Yields the live set.
    """
    metrics = list(metrics)
    for metric in metrics:
        if metric not in AVAILABLE_METRICS:
            raise ValueError(
                f"Unknown training metric '{metric}'. "
                f"Available metrics: {sorted(AVAILABLE_METRICS)}."
            )
    live = _training_metrics()
    backup = set(live)
    live.update(metrics)
    try:
        yield live
    finally:
        live.clear()
        live.update(backup)


def get_training_metrics() -> set[str]:
    """A live reference to the set of training metrics of the current scope (mutable).

    Like `quantized_scope`, the set is per thread: a `metrics_scope` (or a change to this set)
    in one thread does not affect quantizers created in another.
    """
    return _training_metrics()
