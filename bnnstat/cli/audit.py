"""`bnnstat audit FILE`: size budgets and BNN best-practice findings, for CI gates.

Exit code 0 when every budget holds and no error-level finding remains, 1 otherwise, 2 for bad
input (unreadable file, malformed size, unknown code).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from bnnstat.cli._common import EXIT_CHECK_FAILED, emit, output_option, reports_user_errors
from bnnstat.errors import BnnstatError


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    from bnnstat.inspect.audit import parse_size

    return None if value is None else _as_usage_error(parse_size, value, param)


def _ratio(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from bnnstat.inspect.audit import parse_ratio

    return None if value is None else _as_usage_error(parse_ratio, value, param)


def _as_usage_error(parse: Any, value: str, param: click.Parameter) -> Any:
    try:
        return parse(value)
    except BnnstatError as error:
        raise click.BadParameter(str(error), param=param) from error


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Examples:\n\n"
        "  bnnstat audit model.h5 --max-memory 2MiB --min-binarized-macs 90%\n\n"
        "  bnnstat audit model.keras --ignore BNN003 --format json -o audit.json\n\n"
        "  bnnstat audit model.h5 --target lce --max-deployed-size 500KiB"
    ),
)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--max-memory",
    callback=_size,
    metavar="SIZE",
    help="Largest weight memory allowed, e.g. 2MiB, 500KiB, 1.5MB (Larq's memory figure).",
)
@click.option(
    "--min-binarized-macs",
    callback=_ratio,
    metavar="RATIO",
    help="Smallest share of 1-bit MACs allowed, 0..1 or a percentage (0.9, 90%).",
)
@click.option(
    "--max-fp-params",
    type=click.IntRange(min=0),
    metavar="N",
    help="Most 32-bit (full-precision) parameters allowed.",
)
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="CODE",
    help="Drop findings with this code (repeatable, or comma-separated).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per budget and finding; json: {passed, budgets, findings} as in the "
    "README.",
)
@click.option(
    "--target",
    type=click.Choice(["lce"]),
    default=None,
    help="Also check deployment with Larq Compute Engine (LCE findings, deployed size).",
)
@click.option(
    "--max-deployed-size",
    callback=_size,
    metavar="SIZE",
    help="Largest predicted deployed file allowed (needs --target lce).",
)
@output_option
@reports_user_errors
def audit(
    path: Path,
    max_memory: int | None,
    min_binarized_macs: float | None,
    max_fp_params: int | None,
    ignore: tuple[str, ...],
    fmt: str,
    target: str | None,
    max_deployed_size: int | None,
    output: Path | None,
) -> None:
    """Check the model in PATH against budgets and the BNN best practices.

    Findings have stable codes (BNN001..., LCE... with --target lce); see the README.
    Exit codes: 0 all good, 1 a budget broken or an error-level finding, 2 bad input.
    """
    from bnnstat.inspect import audit as audit_rules
    from bnnstat.inspect import audit_report, reader, serialize
    from bnnstat.inspect.analysis import analyze

    if max_deployed_size is not None and target is None:
        raise BnnstatError("--max-deployed-size needs --target lce")
    audit_rules.normalise_codes(ignore)  # LCE### codes are accepted by their pattern
    analysis = analyze(reader.read(path), target)
    budgets = audit_rules.Budgets(max_memory, min_binarized_macs, max_fp_params, max_deployed_size)
    result = audit_rules.verdict(
        analysis.findings, analysis.profile, budgets, ignore, analysis.deployment
    )
    if fmt == "json":
        emit(serialize.dumps(result), output)
    else:
        emit(audit_report.render_text(result, str(path)), output)
    if not result.passed:
        sys.exit(EXIT_CHECK_FAILED)
