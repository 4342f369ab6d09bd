"""`bnnstat plot quantizer NAME... -o FILE` and `bnnstat plot model FILE -o OUT.png`."""

from __future__ import annotations

import math
from pathlib import Path

import click

from bnnstat.cli._common import import_tensorflow_quietly, reports_user_errors
from bnnstat.cli._progress import Progress
from bnnstat.errors import BnnstatError

# Every name `bnnstat.quantizers.get` resolves to a quantizer that can be built without
# arguments: Larq's aliases, class names and function names. Kept here as a static list so a
# bad name fails at once instead of after the TensorFlow import (tests check it against the
# registry in bnnstat.quantizers).
PLOTTABLE_QUANTIZERS: frozenset[str] = frozenset(
    {
        "ste_sign", "approx_sign", "swish_sign", "ste_heaviside", "magnitude_aware_sign",
        "ste_tern", "dorefa_quantizer", "dorefa",
        "SteSign", "ApproxSign", "SwishSign", "SteHeaviside", "MagnitudeAwareSign", "SteTern",
        "DoReFa", "DoReFaQuantizer",
    }
)
# Registered names that need constructor arguments, so they cannot be plotted by name alone.
UNPLOTTABLE_QUANTIZERS: dict[str, str] = {
    "NoOp": "needs a precision argument",
    "NoOpQuantizer": "needs a precision argument",
    "Quantizer": "is the abstract base class",
}

_OUTPUT = click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Image to write; the format follows the extension (.png, .svg or .pdf).",
)


def complete_quantizer(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion of NAME: Larq's aliases first, then class names (no TensorFlow)."""
    from click.shell_completion import CompletionItem

    from bnnstat.plots import BUILTIN_QUANTIZERS

    aliases = list(BUILTIN_QUANTIZERS)
    others = sorted(PLOTTABLE_QUANTIZERS - set(aliases))
    taken = set(ctx.params.get("names") or ())
    return [
        CompletionItem(name)
        for name in (*aliases, *others)
        if name.startswith(incomplete) and name not in taken
    ]


@click.group()
def plot() -> None:
    """Plot quantizers (forward and pseudo-gradient) or a model's cost by precision."""


@plot.command(
    "quantizer",
    epilog=(
        "Examples:\n\n"
        "  bnnstat plot quantizer ste_sign approx_sign -o signs.png\n\n"
        "  bnnstat plot quantizer --all --overlay -o all.svg\n\n"
        "  bnnstat plot quantizer ste_tern --range -3 3 -o ternary.pdf"
    ),
)
@click.argument("names", nargs=-1, shell_complete=complete_quantizer)
@_OUTPUT
@click.option("--all", "all_builtins", is_flag=True, help="Plot every built-in quantizer.")
@click.option(
    "--range",
    "x_range",
    nargs=2,
    type=float,
    default=(-2.0, 2.0),
    show_default=True,
    metavar="LO HI",
    help="Input range on the x axis.",
)
@click.option("--overlay", is_flag=True, help="All quantizers on two shared panels.")
@reports_user_errors
def quantizer(
    names: tuple[str, ...],
    output: Path,
    all_builtins: bool,
    x_range: tuple[float, float],
    overlay: bool,
) -> None:
    """Plot each quantizer NAME's forward function and its pseudo-gradient (from autodiff).

    NAME is a Larq alias (ste_sign, approx_sign, ...) or a class name (SteSign, ...).
    """
    from bnnstat import plots

    _check_output(output)
    chosen = list(names) + [n for n in plots.BUILTIN_QUANTIZERS if all_builtins and n not in names]
    if not chosen:
        raise BnnstatError("name at least one quantizer, or pass --all")
    for name in chosen:
        check_quantizer_name(name)
    _check_range(x_range)
    with Progress() as progress:
        progress.update("importing TensorFlow")
        import_tensorflow_quietly()
        figure = plots.plot_quantizer(
            chosen, x_range=x_range, overlay=overlay, progress=progress.update
        )
        progress.update(f"writing {output}")
        plots.save_figure(figure, output)
    click.echo(f"wrote {output} ({len(chosen)} quantizer(s))")


@plot.command(
    "model",
    epilog=(
        "Examples:\n\n"
        "  bnnstat plot model model.h5 -o costs.png\n\n"
        "  bnnstat plot model quicknet.keras -o costs.svg"
    ),
)
@click.argument("path", type=click.Path(path_type=Path))
@_OUTPUT
@reports_user_errors
def model(path: Path, output: Path) -> None:
    """Per-layer bars of weight memory and MACs of the model in PATH, split by precision."""
    from bnnstat import plots
    from bnnstat.inspect import reader
    from bnnstat.inspect.analysis import analyze

    _check_output(output)
    with Progress() as progress:
        progress.update(f"reading {path.name}")
        analysis = analyze(reader.read(path))
        progress.update("drawing the figure")
        figure = plots.plot_model(analysis.profile, title=path.name)
        progress.update(f"writing {output}")
        plots.save_figure(figure, output)
    click.echo(f"wrote {output}")


def check_quantizer_name(name: str) -> None:
    """Raise `BnnstatError` unless `name` (optionally ``bnnstat>Name``) is a plottable quantizer."""
    package, sep, short = name.partition(">")
    bare = short if sep and package == "bnnstat" else name
    if bare in UNPLOTTABLE_QUANTIZERS:
        raise BnnstatError(
            f"quantizer {name!r} {UNPLOTTABLE_QUANTIZERS[bare]} and cannot be plotted by name"
        )
    if bare not in PLOTTABLE_QUANTIZERS:
        from bnnstat.plots import BUILTIN_QUANTIZERS

        raise BnnstatError(
            f"unknown quantizer {name!r}; built-ins: {', '.join(BUILTIN_QUANTIZERS)} "
            "(or their class names, e.g. SteSign)"
        )


def _check_range(x_range: tuple[float, float]) -> None:
    low, high = x_range
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise BnnstatError(f"--range {low} {high}: invalid range, need finite LO < HI")


def _check_output(output: Path) -> None:
    # fail before any expensive work (TensorFlow import, reading the model)
    from bnnstat.plots import IMAGE_FORMATS

    if output.suffix.lower() not in IMAGE_FORMATS:
        raise BnnstatError(
            f"{output}: unsupported image format {output.suffix or '(none)'!r}; "
            "use .png, .svg or .pdf"
        )
    if not output.parent.is_dir():
        raise BnnstatError(f"{output}: cannot write image: directory {output.parent} not found")
