"""`bnnstat audit FILE`: size budgets and BNN best-practice findings, for CI gates.

Exit code 0 when every budget holds and no error-level finding remains, 1 otherwise, 2 for bad
input (unreadable file, malformed size, unknown code).
"""

from __future__ import annotations

import re
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


# One audit code or a comma-separated list of them (BNN003, lce001,BNN005).
_CODE_LIST = re.compile(r"^[A-Za-z]{3}\d{3}(,\s*[A-Za-z]{3}\d{3})*,?$")


class _AuditCommand(click.Command):
    """`--ignore` takes one or more codes: ``--ignore BNN003 BNN005`` reads as
    ``--ignore BNN003 --ignore BNN005``.

    Click options take a fixed number of values, so the words after ``--ignore`` that look like
    audit codes (three letters and three digits, or a comma-separated list of them) are given
    their own ``--ignore`` before parsing. The first word that is not a code ends the list, so
    ``audit --ignore BNN003 model.h5`` still reads ``model.h5`` as FILE; after ``--`` nothing
    is rewritten.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_ignore(args))


def expand_ignore(args: list[str]) -> list[str]:
    """`args` with ``--ignore`` repeated before every further code that follows one."""
    result: list[str] = []
    in_ignore = False  # the previous word was an --ignore value
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            return result + args[index:]
        if word == "--ignore" and index + 1 < len(args):
            result += [word, args[index + 1]]
            in_ignore, index = True, index + 2
            continue
        if in_ignore and _CODE_LIST.match(word):
            result += ["--ignore", word]
        else:
            result.append(word)
            in_ignore = word.startswith("--ignore=")
        index += 1
    return result


def complete_code(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion of --ignore: the audit codes with their titles."""
    from click.shell_completion import CompletionItem

    from bnnstat.inspect.audit import MODEL_RULES, RULES

    rules = {**RULES, **MODEL_RULES}
    return [
        CompletionItem(code, help=rule.title)
        for code, rule in sorted(rules.items())
        if code.startswith(incomplete.upper())
    ]


@click.command(
    cls=_AuditCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Examples:\n\n"
        "  bnnstat audit model.h5 --max-memory 2MiB --min-binarized-macs 90%\n\n"
        "  bnnstat audit model.keras --ignore BNN003 BNN005 --format json -o audit.json\n\n"
        "  bnnstat audit model.h5 --fail-on warning\n\n"
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
    metavar="CODE...",
    shell_complete=complete_code,
    help="Drop findings with these codes: --ignore BNN003 BNN005, --ignore BNN003,BNN005 or "
    "--ignore BNN003 --ignore BNN005.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default="error",
    show_default=True,
    help="Lowest finding severity that fails the audit (exit 1); warning or info for strict CI.",
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
    fail_on: str,
    fmt: str,
    target: str | None,
    max_deployed_size: int | None,
    output: Path | None,
) -> None:
    """Check the model in PATH against budgets and the BNN best practices.

    Findings have stable codes (BNN001..., LCE... with --target lce); see the README.
    Exit codes: 0 all good, 1 a budget broken or a finding at or above --fail-on (default
    error), 2 bad input.
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
        analysis.findings, analysis.profile, budgets, ignore, analysis.deployment, fail_on
    )
    if fmt == "json":
        emit(serialize.dumps(result), output)
    else:
        emit(audit_report.render_text(result, str(path)), output)
    if not result.passed:
        sys.exit(EXIT_CHECK_FAILED)
