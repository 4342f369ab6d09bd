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
    held_back_warnings,
    import_tensorflow_quietly,
    output_option,
    refuse_overwriting,
    reports_user_errors,
)
from bnnstat.errors import BnnstatError
from bnnstat.terminal import safe_names

if TYPE_CHECKING:
    from bnnstat.inspect.records import ModelRecord

ENGINES = ("static", "keras")


def parse_precision(values: tuple[str, ...]) -> dict[str, int]:
    """Parse ``NAME=BITS`` pairs (``--precision xnor_weight_scale=1``) into a mapping."""
    overrides: dict[str, int] = {}
    for value in values:
        name, sep, bits = value.partition("=")
        digits = bits.strip()
        if not sep or not name.strip() or not digits.isdigit() or not 1 <= int(digits[:3]) <= 64:
            raise BnnstatError(
                f"--precision {value!r}: expected NAME=BITS with BITS from 1 to 64, e.g. my_sign=1"
            )
        overrides[name.strip()] = int(bits)
    return overrides


def read_record(
    path: Path, engine: str, precision: dict[str, int], safe_mode: bool = True
) -> ModelRecord:
    """A `ModelRecord` of the file at `path`, read by the chosen engine.

    With the Keras engine, warnings Keras or bnnstat's layers emit while loading are held
    back, and shown only if the load succeeds: a failure is one error line and nothing else.
    """
    if not safe_mode and engine != "keras":
        raise BnnstatError("--no-safe-mode only applies to --engine keras")
    if engine == "static":
        from bnnstat.inspect.reader import read

        return read(path, precision)
    if precision:
        raise BnnstatError("--precision only applies to --engine static")
    import_tensorflow_quietly()
    from bnnstat.inspect.keras_adapter import record
    from bnnstat.loading import load

    with held_back_warnings():
        loaded = load(path, safe_mode=safe_mode)
    try:
        model_record = record(loaded.model, loaded.saved_class_name)
    except BnnstatError as error:  # e.g. an impossible bit width the file gave a quantizer
        raise BnnstatError(f"{path}: {error}") from None
    return dataclasses.replace(model_record, source=str(path))


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
    "--no-safe-mode",
    "no_safe_mode",
    is_flag=True,
    help="With --engine keras: also deserialize Lambda layers, which RUNS PYTHON CODE STORED "
    "IN THE FILE. Only for files you trust as much as a script you would run.",
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
    no_safe_mode: bool,
) -> None:
    """Parameters, memory and MACs by precision of the model saved at PATH (.h5 or .keras).

    The numbers are exactly those of larq.models.summary; bnnstat's extensions (MACs of more
    layer types, bit operations, activation memory, a note for every '?') follow, marked.
    """
    from bnnstat.inspect import report
    from bnnstat.inspect.analysis import analyze

    refuse_overwriting(output, [path])
    overrides = parse_precision(precision)
    record = read_record(path, engine, overrides, safe_mode=not no_safe_mode)
    if fmt != "json":
        record = safe_names(record)
    emit(report.render(analyze(record, target), fmt, include_macs=not no_macs), output)
