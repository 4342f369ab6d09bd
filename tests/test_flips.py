"""Flip statistics: checkpoints with a known number of flipped signs, FlipStatistics logs, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from bnnstat.cli import main
from bnnstat.errors import BnnstatError
from bnnstat.inspect import flips as fl
from bnnstat.inspect import flips_report, serialize
from tests.conftest import REPO


def test_sign_flips_treats_zero_as_positive():
    before = np.array([-1.0, 0.0, 0.5, -0.2, 0.0])
    after = np.array([1.0, 0.3, -0.5, -0.9, -0.0])
    # -1->1 flips, 0->0.3 no, 0.5->-0.5 flips, -0.2->-0.9 no, 0->-0.0 no (both count as +1)
    assert fl.sign_flips(before, after) == 2


def test_count_flips_per_layer_and_total():
    before = {"a": [np.ones((2, 3))], "b": [np.ones(4), -np.ones(2)]}
    after = {"a": [-np.ones((2, 3))], "b": [np.array([1, -1, 1, 1.0]), np.ones(2)]}
    result = fl.count_flips(before, after, "x", "y")
    assert [(x.layer, x.flipped, x.total) for x in result.layers] == [("a", 6, 6), ("b", 3, 6)]
    assert (result.total.flipped, result.total.total, result.total.ratio) == (9, 12, 0.75)
    data = serialize.to_json(result)
    assert data["kind"] == "checkpoints" and data["ratio"] == 0.75
    assert set(data["layers"][0]) == {"layer", "flipped", "total", "ratio"}


def test_count_flips_rejects_other_shapes():
    with pytest.raises(BnnstatError, match="not the same architecture"):
        fl.count_flips({"a": [np.ones(3)]}, {"a": [np.ones(4)]})
    with pytest.raises(BnnstatError, match="not the same architecture"):
        fl.count_flips({"a": [np.ones(3)]}, {"b": [np.ones(3)]})


# ------------------------------------------------------------------ real checkpoints


def _model(keras, lq, units=16):
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, name="stem"),
            lq.layers.QuantConv2D(
                8,
                3,
                input_quantizer="ste_sign",
                kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip",
                use_bias=False,
                name="qconv",
            ),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Flatten(),
            lq.layers.QuantDense(
                units,
                input_quantizer="ste_sign",
                kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip",
                name="qdense",
            ),
            keras.layers.Dense(2, name="head"),
        ]
    )


@pytest.fixture(scope="module")
def checkpoints(tf, tmp_path_factory):
    """before/after checkpoints (.h5 and .keras) with 5 flips in qconv and 7 in qdense."""
    import keras

    import bnnstat as lq

    folder = tmp_path_factory.mktemp("ckpt")
    model = _model(keras, lq)
    qconv, qdense = model.get_layer("qconv"), model.get_layer("qdense")
    conv_kernel = np.abs(qconv.kernel.numpy()) + 0.01
    conv_kernel.flat[0] = 0.0  # sign(0) = +1: stays unflipped below
    dense_kernel = np.abs(qdense.kernel.numpy()) + 0.01
    qconv.kernel.assign(conv_kernel)
    qdense.kernel.assign(dense_kernel)
    model.save(folder / "before.h5")
    model.save(folder / "before.keras")
    conv_kernel.flat[[1, 5, 9, 100, 200]] *= -1
    conv_kernel.flat[0] = 0.5  # 0 -> positive: not a flip
    dense_kernel.flat[[0, 3, 7, 11, 50, 60, 127]] *= -1
    qconv.kernel.assign(conv_kernel)
    qdense.kernel.assign(dense_kernel)
    model.get_layer("stem").kernel.assign(-model.get_layer("stem").kernel)  # not binary
    model.save(folder / "after.h5")
    model.save(folder / "after.keras")
    _model(keras, lq, units=8).save(folder / "other.h5")
    return folder


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_checkpoints_known_flips(checkpoints, suffix):
    result = fl.compare_checkpoints(checkpoints / f"before{suffix}", checkpoints / f"after{suffix}")
    assert [(x.layer, x.flipped, x.total) for x in result.layers] == [
        ("qconv", 5, 3 * 3 * 4 * 8),
        ("qdense", 7, 2 * 2 * 8 * 16),
    ]
    assert result.total.flipped == 12


def test_checkpoints_mixed_formats(checkpoints):
    result = fl.compare_checkpoints(checkpoints / "before.h5", checkpoints / "after.keras")
    assert result.total.flipped == 12


def test_checkpoints_other_architecture(checkpoints):
    with pytest.raises(BnnstatError, match=r"not the same architecture: layer 'qdense'"):
        fl.compare_checkpoints(checkpoints / "before.h5", checkpoints / "other.h5")


def test_cli_checkpoints_table_and_json(checkpoints):
    args = ["flips", str(checkpoints / "before.h5"), str(checkpoints / "after.h5")]
    table = CliRunner().invoke(main, args)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert any(line.split()[:3] == ["qconv", "5", "288"] for line in lines)
    assert any(line.split()[:3] == ["Total", "12", str(288 + 512)] for line in lines)
    data = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).output)
    assert data["flipped"] == 12 and data["total"] == 288 + 512
    assert data["layers"][1] == {"layer": "qdense", "flipped": 7, "total": 512, "ratio": 7 / 512}


def test_cli_checkpoints_subprocess(checkpoints):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bnnstat",
            "flips",
            str(checkpoints / "before.keras"),
            str(checkpoints / "other.h5"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2
    assert "not the same architecture" in done.stderr and done.stderr.count("\n") == 1


def test_reading_weights_never_writes(checkpoints):
    before = (checkpoints / "before.h5").read_bytes()
    fl.compare_checkpoints(checkpoints / "before.h5", checkpoints / "after.h5")
    assert (checkpoints / "before.h5").read_bytes() == before


# ------------------------------------------------------------------ logs

LOG_ROWS = [
    # epoch, step, layer, flipped, total
    (0, 10, "qconv", 10, 100),
    (0, 10, "qdense", 50, 1000),
    (0, 20, "qconv", 5, 100),
    (0, 20, "qdense", 20, 1000),
    (1, 30, "qconv", 2, 100),
    (1, 30, "qdense", 10, 1000),
]


def _write_log(path, fmt):
    if fmt == "jsonl":
        lines = [
            json.dumps(
                {"epoch": e, "step": s, "layer": n, "flipped": f, "total": t, "ratio": f / t}
            )
            for e, s, n, f, t in LOG_ROWS
        ]
        path.write_text("\n".join(lines) + "\n")
    else:
        rows = [",".join(map(str, (e, s, n, f, t, f / t))) for e, s, n, f, t in LOG_ROWS]
        path.write_text("epoch,step,layer,flipped,total,ratio\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_log_aggregated_per_epoch(tmp_path, fmt):
    result = fl.log_flips(_write_log(tmp_path / f"flips.{fmt}", fmt))
    assert result.layers == ("qconv", "qdense")
    assert [(e.epoch, [(x.flipped, x.total) for x in e.layers]) for e in result.epochs] == [
        (0, [(15, 100), (70, 1000)]),
        (1, [(2, 100), (10, 1000)]),
    ]
    assert result.series() == {"qconv": [(0, 0.15), (1, 0.02)], "qdense": [(0, 0.07), (1, 0.01)]}
    assert result.epochs[0].total.ratio == pytest.approx(85 / 1100)


def test_cli_log_table_json_and_plot(tmp_path):
    log = _write_log(tmp_path / "flips.jsonl", "jsonl")
    out = tmp_path / "ratios.png"
    result = CliRunner().invoke(main, ["flips", str(log), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert ["0", "0.1500", "0.0700", f"{85 / 1100:.4f}"] in [
        line.split() for line in result.output.splitlines()
    ]
    assert out.read_bytes().startswith(b"\x89PNG") and out.stat().st_size > 5000
    data = json.loads(CliRunner().invoke(main, ["flips", str(log), "--format", "json"]).output)
    assert data["kind"] == "log" and data["layers"] == ["qconv", "qdense"]
    assert data["epochs"][1]["layers"][0] == {
        "layer": "qconv",
        "flipped": 2,
        "total": 100,
        "ratio": 0.02,
    }


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "not a FlipStatistics log"),
        ("a,b\n1,2\n", "not a FlipStatistics log"),
        ('{"epoch": 0, "layer": "x", "flipped": 1}\n', "missing field(s) total"),
        ('{"epoch": 0, "layer": "x", "flipped": 5, "total": 2}\n', "between 0 and total"),
        ("{not json\n", "invalid JSON"),
        ("epoch,step,layer,flipped,total,ratio\n", "no records"),
        ("epoch,step,layer,flipped,total,ratio\nx,1,l,1,2,0.5\n", "bad value"),
    ],
)
def test_bad_logs(tmp_path, content, message):
    path = tmp_path / "bad.log"
    path.write_text(content)
    result = CliRunner().invoke(main, ["flips", str(path)])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_argument_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["flips", str(tmp_path / "nope.h5")])
    assert missing.exit_code == 2 and "nope.h5: file not found" in missing.output
    three = runner.invoke(main, ["flips", "a", "b", "c"])
    assert three.exit_code == 2 and "give two checkpoints" in three.output
    log = _write_log(tmp_path / "f.csv", "csv")
    bad_plot = runner.invoke(main, ["flips", str(log), "--plot", str(tmp_path / "x.jpg")])
    assert bad_plot.exit_code == 2 and "unsupported image format" in bad_plot.output


def test_bop_state_errors():
    runner = CliRunner()
    no_bop = runner.invoke(main, ["flips", str(REPO / "sample_models" / "quicknet_small.keras")])
    assert no_bop.exit_code == 2 and "no Bop optimizer in the saved compile config" in no_bop.output
    h5 = runner.invoke(main, ["flips", str(REPO / "sample_models" / "bad_practices.h5")])
    assert h5.exit_code == 2 and "Bop state is read from .keras files only" in h5.output


def _broken_h5_files(tmp_path):
    """A truncated copy of a real model .h5 and an HDF5 file that is not a Keras model."""
    import h5py

    data = (REPO / "sample_models" / "bad_practices.h5").read_bytes()
    half = tmp_path / "half.h5"
    half.write_bytes(data[: len(data) // 2])
    nonmodel = tmp_path / "nonmodel.h5"
    with h5py.File(nonmodel, "w") as handle:
        handle.create_dataset("x", data=np.arange(4))
    return {half: "cannot read HDF5 data (truncated or corrupt file?)", nonmodel: "no model config"}


def test_bop_state_of_a_broken_h5_says_what_is_wrong_with_it(tmp_path):
    """Not "read from .keras files only", which would send the user off to convert the file."""
    for path, problem in _broken_h5_files(tmp_path).items():
        with pytest.raises(BnnstatError) as info:
            fl.bop_state(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and problem in message, message
        assert ".keras files only" not in message
        result = CliRunner().invoke(main, ["flips", str(path)])
        assert result.exit_code == 2 and problem in result.output
        assert ".keras files only" not in result.output


def test_sniff_name_kept_for_the_cli_tells_logs_from_model_files(tmp_path):
    log = _write_log(tmp_path / "f.csv", "csv")
    (tmp_path / "empty.log").write_text("")
    assert fl._sniff(log) == "other" and fl._sniff(tmp_path / "empty.log") == "other"
    assert fl._sniff(REPO / "sample_models" / "bad_practices.h5") == "h5"
    assert fl._sniff(REPO / "sample_models" / "quicknet_small.keras") == "keras"
    with pytest.raises(BnnstatError, match="nope.csv: file not found"):
        fl._sniff(tmp_path / "nope.csv")


@pytest.fixture(scope="module")
def bop_model(tf, tmp_path_factory):
    """A model trained 2 steps with CaseOptimizer(Bop, Adam), saved with its optimizer state."""
    import keras

    import bnnstat as lq

    keras.utils.set_random_seed(3)
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": lq.quantizers.NoOp(precision=1)}
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, name="stem"),
            lq.layers.QuantConv2D(8, 3, use_bias=False, name="qconv", **binary),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Flatten(),
            lq.layers.QuantDense(4, name="qdense", **binary),
            keras.layers.Dense(2, name="head"),
        ]
    )
    bop = lq.optimizers.Bop(threshold=1e-3, gamma=0.1)
    model.compile(
        optimizer=lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, bop),
            default_optimizer=keras.optimizers.Adam(0.01),
        ),
        loss="mse",
    )
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 6, 6, 2)), rng.random((16, 2)), batch_size=8, verbose=0)
    path = tmp_path_factory.mktemp("bop") / "bop.keras"
    model.save(path)
    slots = [np.asarray(v) for v in bop.variables if len(v.shape) > 0]
    return path, slots


def test_bop_state_matches_the_optimizer(bop_model):
    path, (m_conv, m_dense) = bop_model
    state = fl.bop_state(path)
    assert state.threshold == pytest.approx(1e-3)
    assert [x.layer for x in state.layers] == ["qconv", "qdense"]
    for layer, m in zip(state.layers, (m_conv, m_dense), strict=True):
        ratios = np.abs(m.astype(np.float64)).ravel() / state.threshold
        assert layer.total == m.size
        assert layer.at_or_above == int(np.count_nonzero(ratios >= 1))
        assert layer.quantiles["p50"] == pytest.approx(np.quantile(ratios, 0.5))
        assert layer.quantiles["max"] == pytest.approx(ratios.max())
    assert any(x.at_or_above for x in state.layers)


def test_cli_bop_state_json_and_plot(bop_model, tmp_path):
    path, _ = bop_model
    out = tmp_path / "bop.svg"
    result = CliRunner().invoke(main, ["flips", str(path), "--format", "json", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "bop_state" and [x["layer"] for x in data["layers"]] == [
        "qconv",
        "qdense",
    ]
    assert set(data["layers"][0]) == {
        "layer",
        "total",
        "quantiles",
        "at_or_above_threshold",
        "share_at_or_above_threshold",
    }
    assert out.read_bytes().startswith(b"<?xml")
    table = CliRunner().invoke(main, ["flips", str(path)])
    assert table.exit_code == 0 and "|m| / threshold" in table.output


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_real_flip_statistics_log(tf, tmp_path, suffix):
    """A FlipStatistics log from a real Bop run: per-epoch flips equal the sign changes of the
    kernels between epoch ends, counted independently here."""
    import keras

    import bnnstat as lq

    keras.utils.set_random_seed(5)
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": lq.quantizers.NoOp(precision=1)}
    model = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(16, name="stem"),
            lq.layers.QuantDense(16, use_bias=False, name="qa", **binary),
            keras.layers.BatchNormalization(name="bn"),
            lq.layers.QuantDense(8, use_bias=False, name="qb", **binary),
            keras.layers.Dense(2, name="head"),
        ]
    )
    model.compile(
        optimizer=lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(threshold=1e-6, gamma=0.5)),
            default_optimizer=keras.optimizers.Adam(0.01),
        ),
        loss="mse",
    )
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            snapshots.append(self.kernels())

        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.kernels())

        def kernels(self):
            return {n: np.array(model.get_layer(n).kernel) for n in ("qa", "qb")}

    log = tmp_path / f"flips{suffix}"
    rng = np.random.default_rng(1)
    model.fit(
        rng.random((32, 12)),
        rng.random((32, 2)),
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[Snapshot(), lq.callbacks.FlipStatistics(log)],
    )
    result = fl.log_flips(log)
    assert result.layers == ("qa", "qb")
    expected = [
        [(n, fl.sign_flips(before[n], after[n]), before[n].size) for n in ("qa", "qb")]
        for before, after in zip(snapshots, snapshots[1:], strict=False)
    ]
    got = [[(x.layer, x.flipped, x.total) for x in e.layers] for e in result.epochs]
    assert [e.epoch for e in result.epochs] == [0, 1, 2]
    assert got == expected
    assert sum(x[1] for epoch in expected for x in epoch) > 0  # the run did flip weights
    text = CliRunner().invoke(main, ["flips", str(log)])
    assert text.exit_code == 0 and "Flip ratio per epoch" in text.output


def test_larq_keras2_file_with_known_flips(larq_fixtures, tmp_path):
    """A Larq-saved Keras 2 file (depthwise and separable kernels included) against a copy with
    chosen signs flipped through h5py."""
    import shutil

    import h5py

    before = larq_fixtures / "binary_cnn_cifar.h5"
    after = tmp_path / "flipped.h5"
    shutil.copyfile(before, after)
    flips_wanted = {
        "qdwconv_2/depthwise_kernel:0": 7,
        "qsepconv_3/pointwise_kernel:0": 11,
        "qsepconv_3/depthwise_kernel:0": 2,
    }
    with h5py.File(after, "r+") as handle:
        for name, count in flips_wanted.items():
            dataset = handle["model_weights"][name.split("/")[0]][name]
            values = dataset[()]
            flat = values.reshape(-1)
            chosen = np.flatnonzero(flat != 0)[:count]
            flat[chosen] *= -1
            dataset[...] = values
    result = fl.compare_checkpoints(before, after)
    assert [(x.layer, x.flipped) for x in result.layers] == [
        ("qconv_1", 0),
        ("qdwconv_2", 7),
        ("qsepconv_3", 13),
        ("qconv_4", 0),
    ]
    assert result.total.total == 175232  # Larq's count of 1-bit parameters for this model


# ------------------------------------------------------------------ restarts, sub-epoch sums


def _jsonl(path, rows):
    path.write_text(
        "".join(
            json.dumps({"epoch": e, "step": s, "layer": n, "flipped": f, "total": t}) + "\n"
            for e, s, n, f, t in rows
        )
    )
    return path


# Two epoch-level runs appended to one file: the second run starts again at epoch 0, step 4.
RESTARTED = [
    (0, 4, "qa", 60, 100), (0, 4, "qb", 10, 50), (1, 8, "qa", 40, 100), (1, 8, "qb", 5, 50),
    (0, 4, "qa", 53, 100), (0, 4, "qb", 20, 50), (1, 8, "qa", 7, 100), (1, 8, "qb", 1, 50),
]  # fmt: skip


def test_log_with_a_restart_is_split_into_runs(tmp_path):
    result = fl.log_flips(_jsonl(tmp_path / "two_runs.jsonl", RESTARTED))
    assert result.runs == 2 and not result.sub_epoch
    assert [(e.run, e.epoch, [(x.flipped, x.total) for x in e.layers]) for e in result.epochs] == [
        (1, 0, [(60, 100), (10, 50)]),
        (1, 1, [(40, 100), (5, 50)]),
        (2, 0, [(53, 100), (20, 50)]),
        (2, 1, [(7, 100), (1, 50)]),
    ]
    assert max(x.ratio for e in result.epochs for x in e.layers) <= 1  # 113/100 before the split
    assert set(result.series()) == {"qa (run 1)", "qb (run 1)", "qa (run 2)", "qb (run 2)"}
    text = CliRunner().invoke(main, ["flips", str(tmp_path / "two_runs.jsonl")])
    assert text.exit_code == 0
    assert ["2", "0", "0.5300", "0.4000", f"{73 / 150:.4f}"] in [
        line.split() for line in text.output.splitlines()
    ]
    assert "holds 2 runs" in text.output and "share of binary weights" in text.output
    data = json.loads(
        CliRunner()
        .invoke(main, ["flips", str(tmp_path / "two_runs.jsonl"), "--format", "json"])
        .output
    )
    assert data["runs"] == 2 and data["sub_epoch"] is False
    assert [(e["run"], e["epoch"], e["records"]) for e in data["epochs"]] == [
        (1, 0, 1), (1, 1, 1), (2, 0, 1), (2, 1, 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "rows, runs",
    [
        # a restart that reaches the same step again: the layer repeats at one (epoch, step)
        ([(0, 4, "qa", 1, 10), (0, 4, "qa", 2, 10)], 2),
        # the epoch goes back while the step goes on (a second fit() with the same callback)
        ([(2, 30, "qa", 1, 10), (0, 40, "qa", 2, 10)], 2),
        # sub-epoch records of one run: steps and epochs only grow
        ([(0, 10, "qa", 1, 10), (0, 20, "qa", 2, 10), (1, 30, "qa", 3, 10)], 1),
        # end-of-epoch records without a step (older logs)
        ([(0, None, "qa", 1, 10), (1, None, "qa", 2, 10), (0, None, "qa", 3, 10)], 2),
    ],
)
def test_split_runs(rows, runs):
    entries = [fl.LogEntry(e, s, n, f, t, f / t) for e, s, n, f, t in rows]
    assert len(fl.split_runs(entries)) == runs
    assert sum(len(run) for run in fl.split_runs(entries)) == len(entries)


def test_sub_epoch_logs_say_what_their_values_are(tmp_path):
    result = fl.log_flips(_write_log(tmp_path / "steps.jsonl", "jsonl"))
    assert result.runs == 1 and result.sub_epoch
    assert [e.records for e in result.epochs] == [2, 1]
    text = flips_report.render_log(result)
    assert "sub-epoch sums" in text and "flip events per binary weight" in text
    assert "Run" not in text.splitlines()[1]


def _bop_mlp(keras, lq, seed):
    """Dense stem, one binary QuantDense "qa" (NoOp(1) kernel, ste_sign input) trained by Bop
    with a tiny threshold (so it flips), float head: a small model for real flip runs."""
    keras.utils.set_random_seed(seed)
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": lq.quantizers.NoOp(precision=1)}
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, name="stem"),
            lq.layers.QuantDense(8, use_bias=False, name="qa", **binary),
            keras.layers.Dense(1, name="head"),
        ]
    )
    model.compile(optimizer=lq.optimizers.Bop(threshold=1e-9, gamma=0.9), loss="mse")
    return model


def test_real_log_with_a_restart_never_reports_a_share_above_one(tf, tmp_path):
    """Two real runs appended to one log (a restart with FlipStatistics(append=True)): the
    second run's records are counted on their own, matching the sign changes of its own
    epochs."""
    import keras

    import bnnstat as lq

    model = _bop_mlp(keras, lq, seed=3)
    rng = np.random.default_rng(2)
    x, y = rng.random((16, 6)), rng.random((16, 1))
    log = tmp_path / "restarted.csv"
    kernels = [np.array(model.get_layer("qa").kernel)]
    for _ in range(2):  # each fit() is a fresh process's callback: steps restart at 0
        callback = lq.callbacks.FlipStatistics(log, append=True)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[callback])
        kernels.append(np.array(model.get_layer("qa").kernel))
    result = fl.log_flips(log)
    assert result.runs == 2 and [e.epoch for e in result.epochs] == [0, 1, 0, 1]
    assert all(0 <= x.ratio <= 1 for e in result.epochs for x in e.layers)
    per_run = [sum(e.layers[0].flipped for e in result.epochs if e.run == r) for r in (1, 2)]
    # per run, the epochs' flips are at least the net sign changes over that run
    for run, (before, after) in enumerate(zip(kernels, kernels[1:], strict=False)):
        assert per_run[run] >= fl.sign_flips(before, after)


# ------------------------------------------------------------------ weights-only checkpoints,
# series of checkpoints


def _flip_some(path, counts):
    """Flip the sign of the first `count` non-zero values of each named HDF5 dataset."""
    import h5py

    with h5py.File(path, "r+") as handle:
        for name, count in counts.items():
            dataset = handle[name]
            values = dataset[()]
            flat = values.reshape(-1)
            flat[np.flatnonzero(flat != 0)[:count]] *= -1
            dataset[...] = values


def _weights_only_keras2(full, out):
    """What Keras 2 `save_weights("x.h5")` writes: the `model_weights` group of a full file,
    at the root, without any model config."""
    import h5py

    with h5py.File(full, "r") as source, h5py.File(out, "w") as target:
        weights = source["model_weights"]
        for key, value in weights.attrs.items():
            target.attrs[key] = value
        for name in weights:
            weights.copy(name, target)
    return out


def test_keras2_weights_only_checkpoints_need_and_use_model(larq_fixtures, tmp_path):
    full = larq_fixtures / "binary_cnn_cifar.h5"
    before = _weights_only_keras2(full, tmp_path / "epoch_1.h5")
    after = _weights_only_keras2(full, tmp_path / "epoch_2.h5")
    _flip_some(after, {"qdwconv_2/qdwconv_2/depthwise_kernel:0": 5})
    refused = CliRunner().invoke(main, ["flips", str(before), str(after)])
    assert refused.exit_code == 2
    assert "weights-only checkpoint" in refused.output and "--model FILE" in refused.output
    result = fl.compare_checkpoints(before, after, model=full)
    assert [(x.layer, x.flipped) for x in result.layers] == [
        ("qconv_1", 0), ("qdwconv_2", 5), ("qsepconv_3", 0), ("qconv_4", 0),
    ]  # fmt: skip
    cli = CliRunner().invoke(
        main, ["flips", str(before), str(after), "--model", str(full), "--format", "json"]
    )
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["flipped"] == 5
    alone = CliRunner().invoke(main, ["flips", str(before), "--model", str(full)])
    assert alone.exit_code == 2 and "--model applies to checkpoints" in alone.output


def test_series_of_checkpoints(larq_fixtures, tmp_path):
    import shutil

    full = larq_fixtures / "binary_cnn_cifar.h5"
    files = []
    for epoch, flips_now in ((3, 0), (6, 4), (9, 9)):
        path = tmp_path / f"ckpt_epoch{epoch:02d}.h5"
        shutil.copyfile(files[-1] if files else full, path)
        _flip_some(path, {"model_weights/qconv_4/qconv_4/kernel:0": flips_now})
        files.append(path)
    result = fl.checkpoint_series(files)
    assert result.numbered and result.positions == (6, 9)
    # the second flip touches the first 9 non-zero values, 4 of which were already flipped
    assert [[(x.layer, x.flipped) for x in pair.layers if x.flipped] for pair in result.pairs] == [
        [("qconv_4", 4)],
        [("qconv_4", 9)],
    ]
    total = result.pairs[0].total.total
    assert result.series()["qconv_4"] == [
        (6, 4 / result.pairs[0].layers[-1].total),
        (9, 9 / result.pairs[0].layers[-1].total),
    ]
    out = tmp_path / "series.png"
    cli = CliRunner().invoke(
        main, ["flips", *map(str, files), "--plot", str(out)], catch_exceptions=False
    )
    assert cli.exit_code == 0, cli.output
    assert "ckpt_epoch03.h5 -> ckpt_epoch06.h5" in cli.output
    assert out.read_bytes().startswith(b"\x89PNG")
    data = json.loads(
        CliRunner().invoke(main, ["flips", *map(str, files), "--format", "json"]).output
    )
    assert data["kind"] == "checkpoint_series" and [p["position"] for p in data["pairs"]] == [6, 9]
    assert [p["flipped"] for p in data["pairs"]] == [4, 9] and data["pairs"][0]["total"] == total
    # a quoted pattern is expanded (sorted) like the shell would
    globbed = CliRunner().invoke(
        main, ["flips", str(tmp_path / "ckpt_epoch*.h5"), "--format", "json"]
    )
    assert json.loads(globbed.output)["checkpoints"] == [str(f) for f in files]


def test_series_without_numbers_uses_positions(larq_fixtures, tmp_path):
    import shutil

    names = ["first.h5", "second.h5", "third.h5"]
    for name in names:
        shutil.copyfile(larq_fixtures / "binary_cnn_cifar.h5", tmp_path / name)
    result = fl.checkpoint_series([tmp_path / n for n in names])
    assert not result.numbered and result.positions == (1, 2)
    assert all(pair.total.flipped == 0 for pair in result.pairs)


def test_series_usage_errors(tmp_path):
    log = _write_log(tmp_path / "f.csv", "csv")
    mlp = REPO / "sample_models" / "binarynet_mlp.h5"
    quicknet = REPO / "sample_models" / "quicknet_small.keras"
    runner = CliRunner()
    with_log = runner.invoke(main, ["flips", str(mlp), str(quicknet), str(log)])
    assert with_log.exit_code == 2 and "f.csv is not an .h5 or .keras checkpoint" in with_log.output
    mixed = runner.invoke(
        main, ["flips", str(mlp), str(quicknet), str(REPO / "sample_models" / "bad_practices.h5")]
    )
    assert mixed.exit_code == 2 and "not the same architecture" in mixed.output
    two_plot = runner.invoke(main, ["flips", str(mlp), str(mlp), "--plot", str(tmp_path / "x.png")])
    assert two_plot.exit_code == 2 and "not to two checkpoints" in two_plot.output


def test_real_weights_only_checkpoints_series(tf, tmp_path):
    """ModelCheckpoint(save_weights_only=True) files from a real Bop run, with --model: each
    pair's flips equal the sign changes of the kernels between those epochs."""
    import keras

    import bnnstat as lq

    model = _bop_mlp(keras, lq, seed=7)
    model.save(tmp_path / "model.keras")
    kernels = []

    class Keep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            kernels.append(np.array(model.get_layer("qa").kernel))

    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "ckpt_{epoch:02d}.weights.h5"), save_weights_only=True
    )
    rng = np.random.default_rng(4)
    model.fit(rng.random((16, 6)), rng.random((16, 1)), batch_size=4, epochs=3, verbose=0,
              callbacks=[Keep(), checkpoint])  # fmt: skip
    files = sorted(tmp_path.glob("ckpt_*.weights.h5"))
    assert len(files) == 3
    result = fl.checkpoint_series(files, model=tmp_path / "model.keras")
    assert result.positions == (2, 3)
    expected = [fl.sign_flips(a, b) for a, b in zip(kernels, kernels[1:], strict=False)]
    assert [pair.layers[0].flipped for pair in result.pairs] == expected
    assert sum(expected) > 0  # the run did flip weights
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat", "flips", *map(str, files), "--model",
         str(tmp_path / "model.keras"), "--format", "json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [p["flipped"] for p in json.loads(done.stdout)["pairs"]] == expected


def test_bop_state_with_nan_moving_averages_is_one_line(bop_model, tmp_path):
    import io
    import zipfile

    import h5py

    path, _ = bop_model
    scratch = tmp_path / "weights.h5"
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    scratch.write_bytes(members["model.weights.h5"])
    with h5py.File(scratch, "r+") as handle:
        poisoned = []

        def poison(name, item):
            if isinstance(item, h5py.Dataset) and name.startswith("optimizer") and item.ndim:
                data = item[()]
                data.flat[0] = np.nan
                item[...] = data
                poisoned.append(name)

        handle.visititems(poison)
    assert poisoned
    members["model.weights.h5"] = scratch.read_bytes()
    target = tmp_path / "nan_bop.keras"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    target.write_bytes(buffer.getvalue())
    result = CliRunner().invoke(main, ["flips", str(target), "--format", "json"])
    assert result.exit_code == 2, result.output
    assert "holds NaN or infinite values" in result.stderr
    assert len(result.stderr.splitlines()) == 1
