"""`bnnstat plot quantizer NAME... -o FILE` and `bnnstat plot model FILE -o OUT.png`."""

from __future__ import annotations

from pathlib import Path

import click

from bnnstat.cli._common import reports_user_errors
from bnnstat.errors import BnnstatError

_OUTPUT = click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Image to write; the format follows the extension (.png, .svg or .pdf).",
)


@click.group()
def plot() -> None:
    """Plot quantizers (forward and pseudo-gradient) or a model's cost by precision."""


@plot.command("quantizer")
@click.argument("names", nargs=-1)
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

    _check_extension(output)
    chosen = list(names) + [n for n in plots.BUILTIN_QUANTIZERS if all_builtins and n not in names]
    if not chosen:
        raise BnnstatError("name at least one quantizer, or pass --all")
    figure = plots.plot_quantizer(chosen, x_range=x_range, overlay=overlay)
    plots.save_figure(figure, output)
    click.echo(f"wrote {output} ({len(chosen)} quantizer(s))")


@plot.command("model")
@click.argument("path", type=click.Path(path_type=Path))
@_OUTPUT
@reports_user_errors
def model(path: Path, output: Path) -> None:
    """Per-layer bars of weight memory and MACs of the model in PATH, split by precision."""
    from bnnstat import plots
    from bnnstat.inspect import file_reader, profile, report

    _check_extension(output)
    profile_json = report.to_json(profile.profile(file_reader.read(path)))
    plots.save_figure(plots.plot_model(profile_json, title=path.name), output)
    click.echo(f"wrote {output}")


def _check_extension(output: Path) -> None:
    # fail before any expensive work (TensorFlow import, reading the model)
    from bnnstat.plots import IMAGE_FORMATS

    if output.suffix.lower() not in IMAGE_FORMATS:
        raise BnnstatError(
            f"{output}: unsupported image format {output.suffix or '(none)'!r}; "
            "use .png, .svg or .pdf"
        )
