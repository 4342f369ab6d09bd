"""`bnnstat diff BEFORE AFTER`: per-layer and total differences between two models, for review
and for CI (`--fail-if-larger`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bnnstat.cli._common import EXIT_CHECK_FAILED, emit, output_option, reports_user_errors
from bnnstat.cli.summary import ENGINES, analyze_file


@click.command(
    "diff",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Examples:\n\n"
        "  bnnstat diff baseline.keras candidate.keras\n\n"
        "  bnnstat diff old.h5 new.h5 --target lce --fail-if-larger\n\n"
        "  bnnstat diff a.keras b.keras --format json -o diff.json"
    ),
)
@click.argument("before", type=click.Path(path_type=Path))
@click.argument("after", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help="table: the layers that differ, then both models' totals and their change; json: every "
    "layer with its status and both sides' numbers.",
)
@click.option(
    "--target",
    type=click.Choice(["lce"]),
    default=None,
    help="Also compare the predicted deployed size (per layer and in total).",
)
@click.option("--all-layers", is_flag=True, help="List unchanged layers too.")
@click.option(
    "--fail-if-larger",
    is_flag=True,
    help="Exit 1 when weight memory (or, with --target, the predicted deployed size) grew.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="static",
    show_default=True,
    help="static: read the files directly (no TensorFlow); keras: load them with Keras.",
)
@output_option
@reports_user_errors
def diff(
    before: Path,
    after: Path,
    fmt: str,
    target: str | None,
    all_layers: bool,
    fail_if_larger: bool,
    engine: str,
    output: Path | None,
) -> None:
    """What changed from the model in BEFORE to the one in AFTER.

    Layers are matched by name, then the rest by position (as sequences of layer classes); each
    is reported as added, removed or changed (class, bit widths, params, memory, MACs, deployed
    bytes). Exit codes: 0, or 1 with --fail-if-larger when the model grew; 2 bad input.
    """
    from bnnstat.inspect import compare, compare_report

    a = analyze_file(before, engine, {}, target)
    b = analyze_file(after, engine, {}, target)
    result = compare.diff(a.profile, b.profile, a.deployment, b.deployment)
    emit(compare_report.render_diff(result, fmt, all_layers=all_layers), output)
    if fail_if_larger and result.grew:
        sys.exit(EXIT_CHECK_FAILED)
