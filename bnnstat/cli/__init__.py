"""The `bnnstat` command line: a click group whose sub-commands are imported on first use.

Each sub-command lives in its own module (`bnnstat.cli.summary`, ...) and is a thin layer over a
library function. Nothing here imports TensorFlow, so `bnnstat --help` is instant.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from bnnstat._version import __version__

# command name -> (module, attribute, one-line help shown by `bnnstat --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "summary": (
        "bnnstat.cli.summary",
        "summary",
        "Parameters, memory and MACs by precision (Larq-exact).",
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


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _is_available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _is_available(cmd_name):
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _is_available(name: str) -> bool:
    return importlib.util.find_spec(COMMANDS[name][0]) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="bnnstat")
def main() -> None:
    """bnnstat: inspect, audit and plot Binarized Neural Networks built with Keras or Larq.

    Reading a model file never imports TensorFlow and never runs code stored in the file.
    Exit codes: 0 success, 1 a budget or audit check failed, 2 bad input.
    """
