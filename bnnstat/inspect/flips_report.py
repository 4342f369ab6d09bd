"""Render flip statistics as text tables (their JSON form is written by
`bnnstat.inspect.serialize`)."""

from __future__ import annotations

import math
from pathlib import Path

from bnnstat.inspect.flips import BopState, CheckpointFlips, CheckpointSeries, LogFlips


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


def render_series(result: CheckpointSeries) -> str:
    """One row per consecutive pair: the share of each layer's binary weights whose sign
    changed from one checkpoint to the next, and of all of them."""
    from tabulate import tabulate

    rows = []
    for position, pair in zip(result.positions, result.pairs, strict=True):
        ratios = [f"{x.ratio:.4f}" for x in pair.layers]
        names = f"{Path(pair.before).name} -> {Path(pair.after).name}"
        rows.append([position, names, *ratios, f"{pair.total.ratio:.4f}"])
    table = tabulate(
        rows,
        headers=["#" if not result.numbered else "At", "Checkpoints", *result.layers, "All"],
        tablefmt="simple",
        disable_numparse=True,
    )
    return (
        f"Sign flip ratio between consecutive checkpoints ({len(result.checkpoints)} files)\n"
        f"{table}"
    )


def render_log(result: LogFlips) -> str:
    """Per epoch (and run) the flip ratio of each layer and of all, then what the values are:
    a share of weights for an epoch-level log, flip events per weight for sub-epoch sums."""
    from tabulate import tabulate

    several = result.runs > 1
    rows = []
    for epoch in result.epochs:
        ratios = {x.layer: f"{x.ratio:.4f}" for x in epoch.layers}
        row = [epoch.epoch, *(ratios.get(n, "-") for n in result.layers)]
        row.append(f"{epoch.total.ratio:.4f}")
        rows.append([epoch.run, *row] if several else row)
    headers = ["Epoch", *result.layers, "All"]
    table = tabulate(
        rows,
        headers=["Run", *headers] if several else headers,
        tablefmt="simple",
        disable_numparse=True,
    )
    if result.sub_epoch:
        most = max(e.records for e in result.epochs)
        meaning = (
            "flip events per binary weight. The records are sub-epoch sums: an epoch adds up to "
            f"{most} records per layer (every_n_steps), so a weight that flips and flips back "
            "counts each time; an epoch-level log of the same run can show less."
        )
    else:
        meaning = "share of binary weights whose sign changed over the epoch (one record each)."
    notes = [f"Values: {meaning}"]
    if several:
        notes.append(
            f"The log holds {result.runs} runs (the step counter goes back where training "
            "restarted, e.g. FlipStatistics(append=True)); each run is counted on its own."
        )
    return f"Flip ratio per epoch ({result.source})\n{table}\n" + "\n".join(notes)


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
