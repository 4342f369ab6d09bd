"""Timing shared by `train_step.py` (bnnstat) and `train_step_larq.py` (Larq): no TF import here.

Both scripts compile one model per (variant, jit) key, then call `interleaved_step_times` and
`print_step_table`, so their figures are measured and printed the same way.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

Key = tuple[str, str]  # (variant, jit "on"/"off")


def interleaved_step_times(
    models: Mapping[Key, Any], x: Any, y: Any, steps: int
) -> dict[Key, list[float]]:
    """Seconds of each `train_on_batch` call, one call of every model per round.

    Interleaving makes a noisy neighbour slow every variant alike, so ratios stay meaningful.
    """
    times: dict[Key, list[float]] = {key: [] for key in models}
    for _ in range(steps):
        for key, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[key].append(time.perf_counter() - start)
    return times


def print_step_table(
    times: Mapping[Key, Sequence[float]], batch: int, steps: int, variants: Sequence[str]
) -> None:
    """Median ms/step per key, its ratio to the "float" floor with the same jit, XLA speed-ups."""
    medians = {key: statistics.median(values) for key, values in times.items()}
    print(f"\nmedian time per training step, batch {batch}, {steps} steps each")
    print(f"{'variant':10s} {'jit':4s} {'ms/step':>9s} {'vs float (same jit)':>20s}")
    for (variant, jit), median in medians.items():
        floor = medians.get(("float", jit))
        ratio = f"{median / floor:.3f}x" if floor else ""
        print(f"{variant:10s} {jit:4s} {median * 1e3:9.1f} {ratio:>20s}")
    for variant in variants:
        if (variant, "off") in medians and (variant, "on") in medians:
            speed_up = medians[(variant, "off")] / medians[(variant, "on")]
            print(f"XLA speed-up {variant}: {speed_up:.2f}x")
