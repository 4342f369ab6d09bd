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
from bnnstat.inspect import serialize
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
