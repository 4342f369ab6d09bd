"""Matplotlib figures: quantizers (forward and pseudo-gradient), a model's cost by precision, and
Bop flip statistics.

Every function returns a `matplotlib.figure.Figure` built without `pyplot` (no global state, no
GUI backend needed); `save_figure` writes it as PNG, SVG or PDF. Matplotlib and TensorFlow are
imported inside the functions, so importing this module is cheap.

Quantizer curves are *measured*, not re-typed: the quantizer runs on a grid of inputs and its
pseudo-gradient is what `tf.GradientTape` returns for ``sum(q(x))``, i.e. \\(\\partial q_i /
\\partial x_i\\) with an incoming gradient of 1. The grid is fed as one column of shape (n, 1), so
per-channel quantizers such as ``magnitude_aware_sign`` use the mean \\(|x|\\) over the plotted
range as their scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnnstat.errors import BnnstatError

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

    from bnnstat.inspect.profile import ModelProfile

# Larq's built-in quantizers by their string alias (NoOp needs a precision and is the identity).
BUILTIN_QUANTIZERS: tuple[str, ...] = (
    "ste_sign",
    "approx_sign",
    "swish_sign",
    "magnitude_aware_sign",
    "ste_heaviside",
    "ste_tern",
    "dorefa_quantizer",
)
IMAGE_FORMATS = (".png", ".svg", ".pdf")
BIT_COLORS = {1: "#1f77b4", 2: "#ff7f0e", 4: "#2ca02c", 8: "#9467bd", 16: "#8c564b", 32: "#d62728"}


@dataclass(frozen=True)
class QuantizerCurve:
    """A quantizer sampled on a grid: inputs `x`, outputs `forward`, pseudo-gradient `gradient`."""

    name: str
    x: np.ndarray
    forward: np.ndarray
    gradient: np.ndarray


def _resolve_quantizer(identifier: Any) -> tuple[str, Any]:
    from bnnstat import quantizers

    try:
        quantizer = quantizers.get(identifier)
    except ValueError as error:
        known = ", ".join(BUILTIN_QUANTIZERS)
        raise BnnstatError(f"unknown quantizer {identifier!r}; built-ins: {known}") from error
    if quantizer is None:
        raise BnnstatError("no quantizer given (None)")
    if isinstance(identifier, str):
        name = identifier
    elif isinstance(identifier, Mapping):
        name = str(identifier.get("class_name", _display_name(quantizer)))
    else:
        name = _display_name(quantizer)
    return name, quantizer


def _display_name(quantizer: Any) -> str:
    return getattr(quantizer, "__name__", None) or type(quantizer).__name__


def quantizer_curve(
    identifier: Any, x_range: tuple[float, float] = (-2.0, 2.0), num: int = 801
) -> QuantizerCurve:
    """Run a quantizer (alias, class name, config dict or callable) on `num` points of
    `x_range` and record its output and its autodiff pseudo-gradient."""
    import numpy as np
    import tensorflow as tf

    low, high = _check_range(x_range)
    name, quantizer = _resolve_quantizer(identifier)
    x = tf.constant(np.linspace(low, high, num, dtype=np.float32).reshape(-1, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.convert_to_tensor(quantizer(x))
    gradient = tape.gradient(y, x)
    if gradient is None:  # a quantizer that cuts the gradient everywhere
        gradient = tf.zeros_like(x)
    return QuantizerCurve(
        name=name,
        x=x.numpy().ravel(),
        forward=np.asarray(y, dtype=np.float64).ravel(),
        gradient=np.asarray(gradient, dtype=np.float64).ravel(),
    )


def _check_range(x_range: Sequence[float]) -> tuple[float, float]:
    low, high = (float(v) for v in x_range)
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise BnnstatError(f"invalid range {low} {high}: need finite LO < HI")
    return low, high


def plot_quantizer(
    quantizers: Any,
    x_range: tuple[float, float] = (-2.0, 2.0),
    overlay: bool = False,
    num: int = 801,
    progress: Callable[[str], None] | None = None,
) -> Figure:
    """Plot quantizers' forward functions and pseudo-gradients.

    `quantizers` is one identifier or a list of them (``"ste_sign"``, ``SteSign()``, a
    function...). Default: one panel per quantizer, forward (solid) and pseudo-gradient (dashed)
    together. ``overlay=True``: two panels, all forward functions in one and all
    pseudo-gradients in the other. `progress`, when given, is called with a short status before
    each step (``"quantizer 2/7: approx_sign"``).
    """
    single = isinstance(quantizers, (str, Mapping)) or callable(quantizers)
    identifiers = [quantizers] if single else list(quantizers)
    if not identifiers:
        raise BnnstatError("no quantizer to plot")
    curves = []
    for number, identifier in enumerate(identifiers, start=1):
        if progress is not None:
            label = identifier if isinstance(identifier, str) else _display_name(identifier)
            progress(f"quantizer {number}/{len(identifiers)}: {label}")
        curves.append(quantizer_curve(identifier, x_range, num))
    if progress is not None:
        progress("drawing the figure")
    return _overlay_figure(curves) if overlay else _panel_figure(curves)


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _panel_figure(curves: list[QuantizerCurve]) -> Figure:
    columns = min(4, len(curves))
    rows = math.ceil(len(curves) / columns)
    figure = _new_figure(3.6 * columns, 3.0 * rows)
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax, curve in zip(axes.flat, curves, strict=False):
        ax.plot(curve.x, curve.forward, color="#1f77b4", label="forward $q(x)$")
        ax.plot(
            curve.x,
            curve.gradient,
            "--",
            color="#d62728",
            label=r"pseudo-gradient $\partial q/\partial x$",
        )
        _style_axes(ax, curve.name, "x", "value")
    for ax in list(axes.flat)[len(curves) :]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="upper left", fontsize="small")
    if len(curves) > 1:
        figure.suptitle("Quantizers: forward pass and pseudo-gradient")
    return figure


def _overlay_figure(curves: list[QuantizerCurve]) -> Figure:
    figure = _new_figure(11, 4)
    forward_ax, gradient_ax = figure.subplots(1, 2)
    for curve in curves:
        forward_ax.plot(curve.x, curve.forward, label=curve.name)
        gradient_ax.plot(curve.x, curve.gradient, label=curve.name)
    _style_axes(forward_ax, "forward $q(x)$", "x", "q(x)")
    _style_axes(gradient_ax, r"pseudo-gradient $\partial q/\partial x$", "x", "dq/dx")
    gradient_ax.legend(fontsize="small")
    return figure


def _style_axes(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.axvline(0, color="grey", linewidth=0.5)
    ax.grid(alpha=0.3)


# ---------------------------------------------------------------------------------------------
# Model cost by precision


CostRows = list[tuple[str, dict[int, int], dict[int, int]]]


def model_cost_by_precision(profile: ModelProfile | Mapping[str, Any]) -> CostRows:
    """Per top-level layer: (name, memory bits by bit width, MACs by precision), from a
    `ModelProfile` (or, read at the edge, a saved summary JSON). Memory for bit width b is
    b x the b-bit parameter count; zero entries are left out."""
    if isinstance(profile, Mapping):
        return _cost_rows_from_json(profile)
    rows = []
    for layer in profile.layers:
        memory = {b: b * layer.param_count(b) for b in layer.param_bitwidths}
        macs = {p: layer.mac_count(p) or 0 for p in layer.mac_precisions}
        rows.append(
            (
                layer.name,
                {b: v for b, v in memory.items() if v},
                {p: v for p, v in macs.items() if v},
            )
        )
    return rows


def _cost_rows_from_json(profile_json: Mapping[str, Any]) -> CostRows:
    rows = []
    for layer in profile_json["layers"]:
        memory = {
            int(bits): int(bits) * int(count)
            for bits, count in (layer.get("params_by_bitwidth") or {}).items()
            if int(count)
        }
        macs = {
            int(bits): int(count)
            for bits, count in (layer.get("macs_by_precision") or {}).items()
            if int(count)
        }
        rows.append((layer["name"], memory, macs))
    return rows


def plot_model(profile: ModelProfile | Mapping[str, Any], title: str | None = None) -> Figure:
    """Horizontal stacked bars per layer: weight memory (KiB) and MACs, split by precision.

    `profile` is a `ModelProfile` (or a saved summary JSON). Layers with neither weights nor
    MACs are left out; a note in the title says how many.
    """
    all_rows = model_cost_by_precision(profile)
    rows = [row for row in all_rows if row[1] or row[2]]
    if isinstance(profile, Mapping):
        source, name = profile.get("source") or "<in-memory>", profile.get("model", "model")
    else:
        source, name = profile.source, profile.name
    if not rows:
        raise BnnstatError(f"{source}: model {name!r} has no weights and no MACs to plot")
    names = [row[0] for row in rows]
    bits = sorted({b for _, memory, macs in rows for b in (*memory, *macs)})
    figure = _new_figure(12, 1.2 + 0.32 * len(rows))
    memory_ax, macs_ax = figure.subplots(1, 2, sharey=True)
    positions = list(range(len(rows)))
    for panel, ax, scale in ((1, memory_ax, 8 * 1024), (2, macs_ax, 1)):
        left = [0.0] * len(rows)
        for b in bits:
            widths = [row[panel].get(b, 0) / scale for row in rows]
            if any(widths):
                ax.barh(positions, widths, left=left, color=BIT_COLORS.get(b), label=f"{b}-bit")
                left = [a + w for a, w in zip(left, widths, strict=True)]
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    memory_ax.set_yticks(positions, names, fontsize="small")
    memory_ax.invert_yaxis()
    memory_ax.set_xlabel("weight memory (KiB)")
    memory_ax.set_title("Memory by weight bit width")
    macs_ax.set_xlabel("MACs")
    macs_ax.set_title("MACs by precision")
    skipped = len(all_rows) - len(rows)
    suffix = f" ({skipped} layers without weights or MACs not shown)" if skipped else ""
    figure.suptitle((title or str(name)) + suffix)
    return figure


# ---------------------------------------------------------------------------------------------
# Flip statistics


def plot_flip_ratios(
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str,
    xlabel: str = "epoch",
    ylabel: str = "share of binary weights flipped",
) -> Figure:
    """Line plot of flip ratio against epoch, one line per layer: `series[layer]` is a list of
    (epoch, ratio) points. Epochs are whole numbers, so the x axis only has integer ticks."""
    from matplotlib.ticker import MaxNLocator

    if not series:
        raise BnnstatError("no flip statistics to plot")
    figure = _new_figure(8, 4.5)
    ax = figure.subplots()
    for layer, points in series.items():
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        ax.plot(xs, ys, marker="o" if len(points) < 30 else None, label=layer)
    _style_axes(ax, title, xlabel, ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    return figure


def threshold_histogram(
    ratios: Mapping[str, np.ndarray], bins: int = 40
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bin edges over log10(|m|/threshold) shared by all layers, and per layer the share of its
    weights in each bin (each layer's shares add up to 1, so a small layer is as visible as a
    large one). Ratios below 1e-12 (m = 0) fall in the first bin."""
    import numpy as np

    logs = {
        name: np.log10(np.maximum(np.asarray(r, dtype=np.float64).ravel(), 1e-12))
        for name, r in ratios.items()
    }
    filled = [v for v in logs.values() if v.size]
    if not filled:
        raise BnnstatError("no Bop state to plot")
    low = min(float(v.min()) for v in filled)
    high = max(float(v.max()) for v in filled)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    shares = {
        name: np.histogram(values, bins=edges)[0] / values.size
        for name, values in logs.items()
        if values.size
    }
    return edges, shares


def plot_threshold_ratios(
    ratios: Mapping[str, np.ndarray], title: str = "Bop: |m| / threshold per layer"
) -> Figure:
    """Histogram (log scale) of |m|/threshold per binary layer, as the share of each layer's
    weights per bin: values >= 1 flip (given the sign of w*m) at the next step."""
    if not ratios:
        raise BnnstatError("no Bop state to plot")
    edges, shares = threshold_histogram(ratios)
    figure = _new_figure(8, 4.5)
    ax = figure.subplots()
    for name, share in shares.items():
        ax.stairs(share, edges, label=name)
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    _style_axes(ax, title, "log10(|m| / threshold)", "share of the layer's weights")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    return figure


# ---------------------------------------------------------------------------------------------
# Saving


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write `figure` to `path`; the format follows the extension (.png, .svg or .pdf)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise BnnstatError(
            f"{target}: unsupported image format {suffix or '(none)'!r}; use .png, .svg or .pdf"
        )
    try:
        figure.savefig(target, format=suffix[1:])
    except OSError as error:
        raise BnnstatError(f"{target}: cannot write image: {error.strerror or error}") from error
    return target
