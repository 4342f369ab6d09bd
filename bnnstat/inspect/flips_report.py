"""Render flip statistics as text tables (their JSON form is written by
`bnnstat.inspect.serialize`)."""

from __future__ import annotations

import math

from bnnstat.inspect.flips import BopState, CheckpointFlips, LogFlips


def render_checkpoints(result: CheckpointFlips) -> str:
    from tabulate import tabulate

    rows = [[x.layer, x.flipped, x.total, f"{x.ratio:.4f}"] for x in result.layers]
    total = result.total
    rows.append(["Total", total.flipped, total.total, f"{total.ratio:.4f}"])
    table = tabulate(
        rows,
        headers=["Layer", "Flipped", "Binary weights", "Ratio"],
        tablefmt="simple",
        colalign=("left", "right", "right", "right"),
        disable_numparse=True,
    )
    return f"Sign flips from {result.before} to {result.after}\n{table}"


def render_log(result: LogFlips) -> str:
    from tabulate import tabulate

    rows = []
    for epoch in result.epochs:
        ratios = {x.layer: f"{x.ratio:.4f}" for x in epoch.layers}
        rows.append(
            [epoch.epoch, *(ratios.get(n, "-") for n in result.layers), f"{epoch.total.ratio:.4f}"]
        )
    table = tabulate(
        rows, headers=["Epoch", *result.layers, "All"], tablefmt="simple", disable_numparse=True
    )
    return f"Flip ratio per epoch ({result.source})\n{table}"


def render_bop_state(result: BopState) -> str:
    from tabulate import tabulate

    rows = [
        [
            x.layer,
            x.total,
            *(f"{x.quantiles.get(k, math.nan):.3g}" for k in ("min", "p10", "p50", "p90", "max")),
            x.at_or_above,
            f"{x.at_or_above / x.total if x.total else 0:.4f}",
        ]
        for x in result.layers
    ]
    table = tabulate(
        rows,
        headers=["Layer", "Weights", "min", "p10", "median", "p90", "max", ">= 1", "Share >= 1"],
        tablefmt="simple",
        disable_numparse=True,
    )
    return (
        f"Bop state of {result.source}: |m| / threshold (threshold {result.threshold:g}); "
        f"weights at >= 1 flip once m has the sign of w\n{table}"
    )
