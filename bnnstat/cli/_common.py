"""Helpers shared by the CLI sub-commands: turning user errors into exit code 2, writing output."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bnnstat.errors import BnnstatError

F = TypeVar("F", bound=Callable[..., Any])

# `--output/-o FILE` of the report-printing commands (summary, audit, flips).
output_option = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file instead of stdout.",
)

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


def reports_user_errors(command: F) -> F:
    """Run a command body; a `BnnstatError` becomes one stderr line and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BnnstatError as error:
            click.echo(f"bnnstat: error: {error}", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper  # type: ignore[return-value]


GLOB_CHARACTERS = frozenset("*?[")


def expand_paths(paths: tuple[Path, ...]) -> list[Path]:
    """The files named by `paths`: each as given, except that a path which does not exist and
    holds a glob character (``*``, ``?``, ``[``) is expanded, sorted (for shells that pass a
    pattern through unexpanded, e.g. when quoted or on Windows). A pattern that matches nothing
    is a `BnnstatError`."""
    import glob

    files: list[Path] = []
    for path in paths:
        text = str(path)
        if path.exists() or not GLOB_CHARACTERS & set(text):
            files.append(path)
            continue
        matches = sorted(glob.glob(text))
        if not matches:
            raise BnnstatError(f"{text}: no file matches this pattern")
        files.extend(Path(match) for match in matches)
    return files


def emit(text: str, output: Path | None) -> None:
    """Print `text`, or write it to `output` when given."""
    if output is None:
        click.echo(text)
    else:
        try:
            output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as error:
            raise BnnstatError(f"{output}: cannot write output: {error.strerror}") from error


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null.

    TensorFlow 2.19+ writes absl/CUDA start-up lines ("Could not find cuda drivers...") straight
    to fd 2 while importing, even with TF_CPP_MIN_LOG_LEVEL=3; a CLI error must stay one line.
    An import failure still raises once stderr is restored.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to protect
        import tensorflow  # noqa: F401

        return
    try:
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
