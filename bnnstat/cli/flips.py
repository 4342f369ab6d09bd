"""`bnnstat flips`: sign flips of binary weights between checkpoints, from a FlipStatistics log,
or how close weights are to flipping according to Bop's optimizer state."""

from __future__ import annotations

from pathlib import Path

import click

from bnnstat.cli._common import emit, expand_paths, output_option, reports_user_errors
from bnnstat.cli._progress import Progress
from bnnstat.errors import BnnstatError


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Examples:\n\n"
        "  bnnstat flips epoch_01.h5 epoch_10.h5\n\n"
        "  bnnstat flips ckpt/*.keras --plot flips_per_epoch.png\n\n"
        "  bnnstat flips ckpt/*.weights.h5 --model model.keras\n\n"
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
    help="Also write a plot (.png/.svg/.pdf): flip ratio per epoch (log), per consecutive pair "
    "(a series of checkpoints) or |m|/threshold (Bop state).",
)
@click.option(
    "--model",
    "model",
    type=click.Path(path_type=Path),
    default=None,
    help="Model file (.h5/.keras) that gives the architecture and precisions of weights-only "
    "checkpoints (save_weights, ModelCheckpoint(save_weights_only=True)).",
)
@output_option
@reports_user_errors
def flips(
    paths: tuple[Path, ...],
    fmt: str,
    plot_path: Path | None,
    model: Path | None,
    output: Path | None,
) -> None:
    """Flip statistics of binary (precision-1) weights.

    \b
    bnnstat flips BEFORE AFTER   sign flips per binary layer between two checkpoints
    bnnstat flips CKPT...        the same for each consecutive pair of 3+ checkpoints
    bnnstat flips LOG            a FlipStatistics log (JSON lines or CSV), per epoch
    bnnstat flips MODEL.keras    Bop state: |m| / threshold per binary layer
    Checkpoints may be weights-only files with --model FILE.
    """
    from bnnstat.inspect import flips as fl
    from bnnstat.inspect import flips_report, serialize

    if plot_path is not None:
        _check_image_suffix(plot_path)
    paths = tuple(expand_paths(paths))
    if model is not None and len(paths) < 2:
        raise BnnstatError("--model applies to checkpoints: give two or more checkpoint files")
    if len(paths) == 2:
        if plot_path is not None:
            raise BnnstatError(
                "--plot applies to a log, a .keras file or a series of 3+ checkpoints, not to "
                "two checkpoints"
            )
        result = fl.compare_checkpoints(*paths, model=model)
        text = flips_report.render_checkpoints(result)
    elif len(paths) > 2:
        _check_series(paths)
        result = fl.checkpoint_series(paths, model=model)
        text = flips_report.render_series(result)
        if plot_path is not None:
            from bnnstat import plots

            with Progress() as progress:
                progress.update(f"plotting {plot_path}")
                xlabel = "checkpoint (number in the file name)" if result.numbered else "pair"
                figure = plots.plot_flip_ratios(
                    result.series(), "Sign flips between consecutive checkpoints", xlabel=xlabel
                )
                plots.save_figure(figure, plot_path)
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

            with Progress() as progress:
                progress.update(f"plotting {plot_path}")
                figure = plots.plot_flip_ratios(
                    result.series(),
                    f"Flip ratio per epoch: {paths[0].name}",
                    ylabel="flip events per binary weight"
                    if result.sub_epoch
                    else "share of binary weights flipped",
                )
                plots.save_figure(figure, plot_path)
    emit(serialize.dumps(result) if fmt == "json" else text, output)


_USAGE = (
    "give two checkpoints (or a series of distinct ones), one FlipStatistics log, "
    "or one .keras file"
)


def _check_series(paths: tuple[Path, ...]) -> None:
    """Every file of a series is a distinct model or weights file (a glob that also caught a log,
    or a file given twice, is a usage mistake)."""
    from bnnstat.inspect.reader import model_file_kind

    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            raise BnnstatError(f"{_USAGE}: {path} is given twice")
        seen.add(path.resolve())
        try:
            kind = model_file_kind(path)
        except BnnstatError as error:
            raise BnnstatError(f"{_USAGE}: {error}") from None
        if kind is None:
            raise BnnstatError(f"{_USAGE}: {path} is not an .h5 or .keras checkpoint")


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
    with Progress() as progress:
        progress.update(f"plotting {plot_path}")
        plots.save_figure(plots.plot_threshold_ratios(ratios), plot_path)
