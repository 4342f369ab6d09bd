"""`bnnstat flips`: sign flips of binary weights between checkpoints, from a FlipStatistics log,
or how close weights are to flipping according to Bop's optimizer state."""

from __future__ import annotations

from pathlib import Path

import click

from bnnstat.cli._common import emit, output_option, reports_user_errors
from bnnstat.errors import BnnstatError


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Examples:\n\n"
        "  bnnstat flips epoch_01.h5 epoch_10.h5\n\n"
        "  bnnstat flips flips.jsonl --plot flip_ratio.png\n\n"
        "  bnnstat flips trained.keras --format json -o bop_state.json"
    ),
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: one row per binary layer (or per epoch for a log); json: the same numbers as "
    "one JSON object.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a plot (.png/.svg/.pdf): flip ratio per epoch (log) or |m|/threshold.",
)
@output_option
@reports_user_errors
def flips(paths: tuple[Path, ...], fmt: str, plot_path: Path | None, output: Path | None) -> None:
    """Flip statistics of binary (precision-1) weights.

    \b
    bnnstat flips BEFORE AFTER   sign flips per binary layer between two checkpoints
    bnnstat flips LOG            a FlipStatistics log (JSON lines or CSV), per epoch
    bnnstat flips MODEL.keras    Bop state: |m| / threshold per binary layer
    """
    from bnnstat.inspect import flips as fl
    from bnnstat.inspect import flips_report, serialize

    if plot_path is not None:
        _check_image_suffix(plot_path)
    if len(paths) == 2:
        if plot_path is not None:
            raise BnnstatError("--plot applies to a log or a .keras file, not to two checkpoints")
        result = fl.compare_checkpoints(*paths)
        text = flips_report.render_checkpoints(result)
    elif len(paths) == 1 and _is_model_file(paths[0]):
        result = fl.bop_state(paths[0])
        text = flips_report.render_bop_state(result)
        if plot_path is not None:
            _save_threshold_plot(fl, paths[0], plot_path)
    elif len(paths) == 1:
        result = fl.log_flips(paths[0])
        text = flips_report.render_log(result)
        if plot_path is not None:
            from bnnstat import plots

            figure = plots.plot_flip_ratios(
                result.series(), f"Flip ratio per epoch: {paths[0].name}"
            )
            plots.save_figure(figure, plot_path)
    else:
        raise BnnstatError("give two checkpoints, one FlipStatistics log, or one .keras file")
    emit(serialize.dumps(result) if fmt == "json" else text, output)


def _is_model_file(path: Path) -> bool:
    from bnnstat.inspect.flips import _sniff

    return _sniff(path) in ("h5", "keras")


def _check_image_suffix(path: Path) -> None:
    from bnnstat.plots import IMAGE_FORMATS

    if path.suffix.lower() not in IMAGE_FORMATS:
        raise BnnstatError(
            f"{path}: unsupported image format {path.suffix or '(none)'!r}; use .png, .svg or .pdf"
        )


def _save_threshold_plot(fl: object, model_path: Path, plot_path: Path) -> None:
    from bnnstat import plots

    ratios = fl.bop_ratios(model_path)  # type: ignore[attr-defined]
    plots.save_figure(plots.plot_threshold_ratios(ratios), plot_path)
