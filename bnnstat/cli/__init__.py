"""The `bnnstat` command line: a click group whose sub-commands are imported on first use.

Each sub-command lives in its own module (`bnnstat.cli.summary`, ...) and is a thin layer over a
library function. Nothing here imports TensorFlow, so `bnnstat --help` is instant.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from typing import IO, Any

import click

from bnnstat._version import __version__
from bnnstat.errors import BnnstatError

# command name -> (module, attribute, one-line help shown by `bnnstat --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "summary": (
        "bnnstat.cli.summary",
        "summary",
        "Parameters, memory and MACs by precision (Larq-exact).",
    ),
    "diff": (
        "bnnstat.cli.diff",
        "diff",
        "Per-layer and total differences between two models.",
    ),
    "plot": (
        "bnnstat.cli.plot",
        "plot",
        "Plot quantizers and pseudo-gradients, or a model's costs.",
    ),
    "flips": (
        "bnnstat.cli.flips",
        "flips",
        "Bop flip statistics: checkpoints, logs, optimizer state.",
    ),
    "audit": (
        "bnnstat.cli.audit",
        "audit",
        "Size budgets and BNN best-practice checks for CI.",
    ),
}


class OneLineError(click.ClickException):
    """A usage error (bad option value, missing argument, unknown command) shown as the single
    line ``bnnstat: error: ...`` with exit code 2, like every other bad-input error."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        message = " ".join(self.format_message().split())  # never more than one line
        click.echo(f"bnnstat: error: {message}", file=file, err=file is None)


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise  # `bnnstat` / `bnnstat plot` alone: click prints the help text
    except click.UsageError as error:
        raise OneLineError(error.format_message()) from error
    except BnnstatError as error:  # raised while parsing, e.g. in an option callback
        raise OneLineError(str(error)) from error


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when that command runs.

    It also turns click's four-line usage errors (of this group and of every sub-command) into
    one ``bnnstat: error: ...`` line with exit code 2; ``--help`` is unchanged.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _one_line_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_errors():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="bnnstat")
def main() -> None:
    """bnnstat: inspect, audit and plot Binarized Neural Networks built with Keras or Larq.

    Reading a model file never imports TensorFlow and never runs code stored in the file.
    Exit codes: 0 success, 1 a budget or audit check failed, 2 bad input.
    """
    # Commands that import TensorFlow (plot quantizer, summary --engine keras) would otherwise
    # print its C++/absl start-up lines to stderr ahead of our one-line errors.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
