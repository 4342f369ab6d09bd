"""`bnnstat summary PATH`: Larq's model summary for a saved model file, and more.

The default engine reads the file statically (h5py/zipfile/json only: no TensorFlow import,
nothing in the file executed). `--engine keras` loads the model with Keras instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bnnstat.cli._common import (
    emit,
    expand_paths,
    import_tensorflow_quietly,
    output_option,
    reports_user_errors,
)
from bnnstat.errors import BnnstatError

if TYPE_CHECKING:
    from bnnstat.inspect.analysis import Analysis
    from bnnstat.inspect.records import ModelRecord

ENGINES = ("static", "keras")


def parse_precision(values: tuple[str, ...]) -> dict[str, int]:
    """Parse ``NAME=BITS`` pairs (``--precision xnor_weight_scale=1``) into a mapping."""
    overrides: dict[str, int] = {}
    for value in values:
        name, sep, bits = value.partition("=")
        if not sep or not name.strip() or not bits.strip().isdigit() or int(bits) < 1:
            raise BnnstatError(
                f"--precision {value!r}: expected NAME=BITS with a positive integer, e.g. my_sign=1"
            )
        overrides[name.strip()] = int(bits)
    return overrides


def read_record(path: Path, engine: str, precision: dict[str, int]) -> ModelRecord:
    """A `ModelRecord` of the file at `path`, read by the chosen engine."""
    if engine == "static":
        from bnnstat.inspect.reader import read

        return read(path, precision)
    if precision:
        raise BnnstatError("--precision only applies to --engine static")
    from bnnstat.cli._progress import Progress

    with Progress() as progress:  # the TensorFlow import alone takes seconds
        progress.update("importing TensorFlow")
        import_tensorflow_quietly()
        from bnnstat.inspect.keras_adapter import record
        from bnnstat.loading import load

        progress.update(f"loading {path.name} with Keras")
        loaded = load(path)
    return dataclasses.replace(record(loaded.model, loaded.saved_class_name), source=str(path))


class _SummaryCommand(click.Command):
    """Shows ``PATH...`` in the usage line; errors keep naming the argument ``'PATH'``."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [p + "..." if p == "PATH" else p for p in super().collect_usage_pieces(ctx)]


@click.command(
    "summary",
    cls=_SummaryCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Examples:\n\n"
        "  bnnstat summary model.h5\n\n"
        "  bnnstat summary model.keras --format json --output profile.json\n\n"
        "  bnnstat summary zoo_model.h5 --precision my_sign=1 --target lce\n\n"
        "  bnnstat summary checkpoints/*.keras --compare --target lce"
    ),
)
# No click-side existence checks: the reader's own one-line message names the problem.
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PATH")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json", "csv"]),
    default="table",
    show_default=True,
    help="table: Larq's two tables plus bnnstat's extensions; json: the stable schema in "
    "the README; csv: one row per layer.",
)
@click.option(
    "--no-macs",
    is_flag=True,
    help="Leave out the MAC (and BOP) counts, as Larq's include_macs=False does.",
)
@output_option
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="static",
    show_default=True,
    help="static: read the file directly (fast, safe, no TensorFlow); keras: load it with "
    "Keras and bnnstat's layers.",
)
@click.option(
    "--precision",
    "precision",
    multiple=True,
    metavar="NAME=BITS",
    help="Bit width of a quantizer function the file only names (repeatable), e.g. "
    "--precision my_sign=1. Without it such a function counts as 32-bit, with a note.",
)
@click.option(
    "--target",
    type=click.Choice(["lce"]),
    default=None,
    help="Add the predicted deployed view: per-layer bytes after Larq Compute Engine "
    "conversion, predicted .tflite size, share of binary MACs run as packed ops.",
)
@click.option(
    "--larq-only",
    is_flag=True,
    help="Exactly Larq's two tables (larq.models.summary), without bnnstat's extensions and "
    "notes (table and markdown formats).",
)
@click.option(
    "--compare",
    is_flag=True,
    help="One side-by-side table of the files' totals (params by bit width, memory, MACs by "
    "precision, binarized MAC ratio, BOPs; predicted size with --target) instead of a report "
    "per file.",
)
@reports_user_errors
def summary(
    paths: tuple[Path, ...],
    larq_only: bool,
    compare: bool,
    fmt: str,
    no_macs: bool,
    output: Path | None,
    engine: str,
    precision: tuple[str, ...],
    target: str | None,
) -> None:
    """Parameters, memory and MACs by precision of each model saved at PATH (.h5 or .keras).

    The numbers are exactly those of larq.models.summary; bnnstat's extensions (MACs of more
    layer types, bit operations, activation memory, a note for every '?') follow, marked.
    Several files (or a quoted glob) give one report each, or one table with --compare.
    """
    from bnnstat.inspect import compare as comparing
    from bnnstat.inspect import compare_report, report

    overrides = parse_precision(precision)
    if larq_only and (compare or target is not None):
        option = "--compare" if compare else "--target"
        raise BnnstatError(f"--larq-only prints exactly Larq's two tables; drop {option}")
    if larq_only and fmt not in ("table", "markdown"):
        raise BnnstatError(f"--larq-only applies to --format table or markdown, not {fmt}")
    files = expand_paths(paths)
    analyses = [analyze_file(path, engine, overrides, target) for path in files]
    if compare:
        totals = [comparing.model_totals(a.profile, a.deployment) for a in analyses]
        text = compare_report.render_comparison(totals, fmt, include_macs=not no_macs)
    else:
        text = compare_report.render_each(
            [
                (str(path), report.render(analysis, fmt, not no_macs, larq_only))
                for path, analysis in zip(files, analyses, strict=True)
            ],
            fmt,
        )
    emit(text, output)


def analyze_file(
    path: Path, engine: str, precision: dict[str, int], target: str | None
) -> Analysis:
    """The `Analysis` of the model file at `path`, read by the chosen engine."""
    from bnnstat.inspect.analysis import analyze

    return analyze(read_record(path, engine, precision), target)
