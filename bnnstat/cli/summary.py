"""`bnnstat summary PATH`: Larq's model summary for a saved model file, and more.

The default engine reads the file statically (h5py/zipfile/json only: no TensorFlow import,
nothing in the file executed). `--engine keras` loads the model with Keras instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bnnstat.cli._common import emit, import_tensorflow_quietly, output_option, reports_user_errors
from bnnstat.errors import BnnstatError

if TYPE_CHECKING:
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
    import_tensorflow_quietly()
    from bnnstat.inspect.keras_adapter import record
    from bnnstat.loading import load

    loaded = load(path)
    return dataclasses.replace(record(loaded.model, loaded.saved_class_name), source=str(path))


@click.command(
    "summary",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Examples:\n\n"
        "  bnnstat summary model.h5\n\n"
        "  bnnstat summary model.keras --format json --output profile.json\n\n"
        "  bnnstat summary zoo_model.h5 --precision my_sign=1 --target lce"
    ),
)
# No click-side existence checks: the reader's own one-line message names the problem.
@click.argument("path", type=click.Path(path_type=Path), metavar="PATH")
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
@reports_user_errors
def summary(
    path: Path,
    fmt: str,
    no_macs: bool,
    output: Path | None,
    engine: str,
    precision: tuple[str, ...],
    target: str | None,
) -> None:
    """Parameters, memory and MACs by precision of the model saved at PATH (.h5 or .keras).

    The numbers are exactly those of larq.models.summary; bnnstat's extensions (MACs of more
    layer types, bit operations, activation memory, a note for every '?') follow, marked.
    """
    from bnnstat.inspect import report
    from bnnstat.inspect.analysis import analyze

    overrides = parse_precision(precision)
    record = read_record(path, engine, overrides)
    emit(report.render(analyze(record, target), fmt, include_macs=not no_macs), output)
