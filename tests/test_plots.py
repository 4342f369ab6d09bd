"""Quantizer and model plots: data equals autodiff, files are real images, CLI and errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bnnstat import plots
from bnnstat.cli import main
from bnnstat.errors import BnnstatError
from tests.conftest import REPO


def _per_point_autodiff(tf, name, x):
    """d q(x_i) / d x_i computed point by point (one scalar input at a time)."""
    from bnnstat import quantizers

    quantizer = quantizers.get(name)
    grads = []
    for value in x:
        point = tf.constant([[value]], dtype=tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(point)
            out = quantizer(point)
        grads.append(float(tape.gradient(out, point)[0, 0]))
    return np.array(grads)


@pytest.mark.parametrize(
    "name", ["ste_sign", "approx_sign", "swish_sign", "ste_tern", "dorefa_quantizer"]
)
def test_plotted_gradient_equals_autodiff(tf, name):
    figure = plots.plot_quantizer([name], x_range=(-1.5, 1.5), num=31)
    forward_line, gradient_line = figure.axes[0].lines[:2]
    x = gradient_line.get_xdata()
    assert np.allclose(x, np.linspace(-1.5, 1.5, 31))
    expected = _per_point_autodiff(tf, name, x)
    np.testing.assert_allclose(gradient_line.get_ydata(), expected, rtol=1e-5, atol=1e-6)
    assert figure.axes[0].get_title() == name


def test_curves_match_documented_formulas(tf):
    x = np.linspace(-2, 2, 81)
    approx = plots.quantizer_curve("approx_sign", (-2, 2), 81)
    expected = np.where(np.abs(x) <= 1, 2 - 2 * np.abs(x), 0)
    np.testing.assert_allclose(approx.gradient, expected, atol=1e-5)
    np.testing.assert_array_equal(approx.forward, np.where(x >= 0, 1, -1))
    swish = plots.quantizer_curve("swish_sign", (-2, 2), 81)
    bx = 5 * x
    expected = 5 * (2 - bx * np.tanh(bx / 2)) / (1 + np.cosh(bx))
    np.testing.assert_allclose(swish.gradient, expected, rtol=1e-4, atol=1e-5)
    ste = plots.quantizer_curve("ste_sign", (-2, 2), 81)
    np.testing.assert_array_equal(ste.gradient, (np.abs(x.astype(np.float32)) <= 1).astype(float))


def test_overlay_has_one_line_per_quantizer(tf):
    figure = plots.plot_quantizer(["ste_sign", "approx_sign", "SteTern"], overlay=True, num=11)
    forward_ax, gradient_ax = figure.axes
    assert [
        line.get_label() for line in gradient_ax.lines if not line.get_label().startswith("_")
    ] == [
        "ste_sign",
        "approx_sign",
        "SteTern",
    ]
    assert gradient_ax.get_xlabel() == "x" and forward_ax.get_title().startswith("forward")


def test_single_identifiers_of_every_kind(tf):
    from bnnstat import quantizers

    config = {"class_name": "DoReFa", "config": {"k_bit": 3}}
    for identifier, title in [
        ("ste_sign", "ste_sign"),
        (quantizers.SteTern(threshold_value=0.3), "SteTern"),
        (quantizers.approx_sign, "approx_sign"),
        (config, "DoReFa"),
    ]:
        figure = plots.plot_quantizer(identifier, num=41)
        assert [ax.get_title() for ax in figure.axes] == [title]
    dorefa = plots.quantizer_curve(config, (0, 1), 8)
    assert len(set(np.round(dorefa.forward, 6))) == 8  # 3 bits: 8 levels on [0, 1]
    tern = plots.quantizer_curve(quantizers.SteTern(threshold_value=0.3), (-1, 1), 201)
    np.testing.assert_array_equal(tern.forward[np.abs(tern.x) < 0.29], 0)


def test_all_builtins_and_hidden_spare_panels(tf):
    figure = plots.plot_quantizer(plots.BUILTIN_QUANTIZERS, num=21)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(plots.BUILTIN_QUANTIZERS)


def test_bad_quantizer_and_range(tf):
    with pytest.raises(BnnstatError, match="unknown quantizer 'nope'"):
        plots.plot_quantizer(["nope"])
    with pytest.raises(BnnstatError, match="invalid range"):
        plots.plot_quantizer(["ste_sign"], x_range=(1, -1))


def _check_image(path, min_size=(300, 200)):
    assert path.stat().st_size > 5_000
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        return image.size


@pytest.mark.parametrize(
    "suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")]
)
def test_cli_writes_each_format(tf, tmp_path, suffix, magic):
    out = tmp_path / f"q{suffix}"
    result = CliRunner().invoke(
        main, ["plot", "quantizer", "ste_sign", "approx_sign", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)
    if suffix == ".png":
        assert _check_image(out) == (720, 300)


def test_cli_all_overlay_range(tf, tmp_path):
    out = tmp_path / "all.png"
    result = CliRunner().invoke(
        main, ["plot", "quantizer", "--all", "--overlay", "--range", "-3", "3", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "7 quantizer(s)" in result.output
    _check_image(out)


@pytest.mark.parametrize(
    "args, message",
    [
        (["plot", "quantizer", "ste_sign", "-o", "x.gif"], "unsupported image format '.gif'"),
        (["plot", "quantizer", "-o", "x.png"], "name at least one quantizer"),
        (["plot", "quantizer", "bogus", "-o", "x.png"], "unknown quantizer 'bogus'"),
        (["plot", "quantizer", "ste_sign", "--range", "2", "1", "-o", "x.png"], "invalid range"),
    ],
)
def test_cli_bad_input_exits_2(tf, tmp_path, args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_name_list_matches_the_quantizer_registry(tf):
    """`bnnstat plot quantizer` checks names against a static list (no TensorFlow import):
    it must be exactly the names `quantizers.get` resolves, minus those needing arguments."""
    from bnnstat import quantizers
    from bnnstat.cli.plot import PLOTTABLE_QUANTIZERS, UNPLOTTABLE_QUANTIZERS

    registry = set(quantizers._ALIASES) | set(quantizers._CLASSES) | set(quantizers._FUNCTIONS)
    assert registry - set(UNPLOTTABLE_QUANTIZERS) == PLOTTABLE_QUANTIZERS
    assert set(UNPLOTTABLE_QUANTIZERS) <= registry
    assert set(plots.BUILTIN_QUANTIZERS) <= PLOTTABLE_QUANTIZERS
    for name in sorted(PLOTTABLE_QUANTIZERS):
        curve = plots.quantizer_curve(name, num=11)
        assert curve.forward.shape == (11,) and np.isfinite(curve.gradient).all(), name
    for name in UNPLOTTABLE_QUANTIZERS:
        with pytest.raises(Exception):  # noqa: B017 - any failure: plotting by name cannot work
            plots.quantizer_curve(name, num=11)


@pytest.mark.parametrize("name", ["SteSign", "dorefa", "bnnstat>SwishSign"])
def test_cli_accepts_class_function_and_registered_names(tf, tmp_path, name):
    out = tmp_path / "q.png"
    result = CliRunner().invoke(main, ["plot", "quantizer", name, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


def test_cli_subprocess(tmp_path):
    out = tmp_path / "sub.png"
    # as a user runs it: without the TF_CPP_MIN_LOG_LEVEL that conftest sets for the tests
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat", "plot", "quantizer", "ste_tern", "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no TensorFlow start-up lines
    _check_image(out)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "bnnstat",
            "plot",
            "quantizer",
            "ste_sign",
            "-o",
            str(out.with_suffix(".txt")),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "unsupported image format" in bad.stderr


PROFILE_JSON = {
    "model": "toy",
    "layers": [
        {"name": "conv", "params_by_bitwidth": {"32": 864}, "macs_by_precision": {"32": 10000}},
        {"name": "flatten", "params_by_bitwidth": {}, "macs_by_precision": {}},
        {
            "name": "qconv",
            "params_by_bitwidth": {"1": 8192, "32": 64},
            "macs_by_precision": {"1": 50000, "32": 0},
        },
        {"name": "head", "params_by_bitwidth": {"32": 100}, "macs_by_precision": None},
    ],
}


def test_model_cost_split_by_precision():
    rows = plots.model_cost_by_precision(PROFILE_JSON)
    assert rows[2] == ("qconv", {1: 8192, 32: 64 * 32}, {1: 50000})
    assert rows[1] == ("flatten", {}, {})


def test_plot_model_bars(tmp_path):
    figure = plots.plot_model(PROFILE_JSON)
    memory_ax, macs_ax = figure.axes
    # one bar per (bit width, shown layer): 1-bit then 32-bit, for conv, qconv, head
    widths = [round(p.get_width() * 8 * 1024) for p in memory_ax.patches]
    assert widths == [0, 8192, 0, 864 * 32, 64 * 32, 100 * 32]
    assert [t.get_text() for t in memory_ax.get_legend().get_texts()] == ["1-bit", "32-bit"]
    assert [t.get_text() for t in memory_ax.get_yticklabels()] == ["conv", "qconv", "head"]
    assert [round(p.get_width()) for p in macs_ax.patches] == [0, 50000, 0, 10000, 0, 0]
    assert "1 layers without weights" in figure._suptitle.get_text()
    out = plots.save_figure(figure, tmp_path / "model.png")
    _check_image(out)


def test_plot_model_nothing_to_plot():
    with pytest.raises(BnnstatError, match="no weights and no MACs"):
        plots.plot_model({"model": "empty", "layers": [{"name": "x"}]})


def test_cli_plot_model_from_sample(tmp_path):
    from bnnstat.inspect import profile, reader, serialize

    sample = REPO / "sample_models" / "quicknet_small.keras"
    out = tmp_path / "model.png"
    result = CliRunner().invoke(main, ["plot", "model", str(sample), "-o", str(out)])
    assert result.exit_code == 0, result.output
    _check_image(out)
    profile_json = serialize.to_json(profile.profile(reader.read(sample)))
    figure = plots.plot_model(profile_json)
    memory_ax, _ = figure.axes
    # bars sum to the model's memory (bits -> KiB)
    total_kib = sum(p.get_width() for p in memory_ax.patches)
    assert total_kib == pytest.approx(profile_json["totals"]["memory_bits"] / 8192)


def test_cli_plot_model_bad_input(tmp_path):
    result = CliRunner().invoke(
        main, ["plot", "model", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "x.png")]
    )
    assert result.exit_code == 2 and "missing.h5" in result.output


# ------------------------------------------------------------------ progress, epoch ticks,
# Bop-state shares


class _Terminal:
    """A stderr stand-in that says it is a terminal and records what is written."""

    def __init__(self, tty=True):
        self.text, self.tty = "", tty

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_shows_slow_work_on_a_terminal_and_erases_it():
    import time

    from bnnstat.cli._progress import Progress

    terminal = _Terminal()
    with Progress(terminal, delay=0.05) as progress:
        progress.update("importing TensorFlow")
        time.sleep(0.3)
        progress.update("quantizer 1/2: ste_sign")
    written = terminal.text
    assert "\rbnnstat: importing TensorFlow ..." in written
    assert "\rbnnstat: quantizer 1/2: ste_sign ..." in written
    # erased over the width of the longest line shown
    assert written.endswith("\r" + " " * len("bnnstat: quantizer 1/2: ste_sign ...") + "\r")


def test_progress_is_silent_for_fast_work_and_for_non_terminals():
    import time

    from bnnstat.cli._progress import Progress

    fast = _Terminal()
    with Progress(fast, delay=5) as progress:
        progress.update("reading")
    piped = _Terminal(tty=False)
    with Progress(piped, delay=0) as progress:
        progress.update("reading")
        time.sleep(0.1)
    assert fast.text == "" and piped.text == ""


def test_plot_quantizer_reports_each_step(tf):
    steps = []
    plots.plot_quantizer(["ste_sign", "ste_tern"], progress=steps.append, num=11)
    assert steps == ["quantizer 1/2: ste_sign", "quantizer 2/2: ste_tern", "drawing the figure"]


def test_cli_progress_on_a_terminal_and_none_in_a_pipe(tmp_path):
    """`plot quantizer` as a real process with stderr on a pseudo-terminal: the TensorFlow import
    alone takes over a second, so the status line appears and is erased at the end."""
    from tests.terminal import run_with_terminal_stderr, user_env

    out = tmp_path / "q.png"
    command = [sys.executable, "-m", "bnnstat", "plot", "quantizer", "ste_sign", "-o", str(out)]
    code, _stdout, seen = run_with_terminal_stderr(command)
    assert code == 0
    assert "bnnstat: importing TensorFlow ..." in seen and seen.endswith(" \r")
    assert "Could not find cuda" not in seen  # TensorFlow's own lines stay hidden
    _check_image(out)
    piped = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO, env=user_env(), timeout=120
    )
    assert piped.returncode == 0 and piped.stderr == ""


def test_flip_plot_has_integer_epoch_ticks():
    figure = plots.plot_flip_ratios({"q": [(0, 0.2), (1, 0.1), (2, 0.05)]}, "flips")
    ax = figure.axes[0]
    ticks = ax.get_xticks()
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_bop_histogram_is_a_share_per_layer():
    rng = np.random.default_rng(0)
    ratios = {"big": rng.lognormal(size=100_000), "small": rng.lognormal(size=64) * 10}
    edges, shares = plots.threshold_histogram(ratios, bins=20)
    assert len(edges) == 21 and set(shares) == {"big", "small"}
    for share in shares.values():
        assert share.sum() == pytest.approx(1.0) and share.max() <= 1
    # the small layer is as tall as the big one, not 1/1500 of it
    assert shares["small"].max() > 0.1 and shares["big"].max() > 0.1
    figure = plots.plot_threshold_ratios(ratios)
    ax = figure.axes[0]
    assert ax.get_ylabel() == "share of the layer's weights"
    assert ax.get_ylim()[1] <= 1.1
    with pytest.raises(BnnstatError, match="no Bop state"):
        plots.threshold_histogram({"empty": np.array([])})


def test_plot_model_reads_the_typed_profile_like_its_json():
    from bnnstat.inspect import profile, reader, serialize

    for name in ("quicknet_small.keras", "binarynet_mlp.h5", "bad_practices.h5"):
        typed = profile.profile(reader.read(REPO / "sample_models" / name))
        rows = plots.model_cost_by_precision(typed)
        assert rows == plots.model_cost_by_precision(serialize.to_json(typed))
        assert any(memory for _, memory, _ in rows)
