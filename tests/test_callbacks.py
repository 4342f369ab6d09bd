"""HyperparameterScheduler and FlipStatistics."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

N_FEATURES = 8
N_SAMPLES = 64
BATCH = 16  # 4 steps per epoch


@pytest.fixture(scope="module")
def keras(tf):
    import keras

    return keras


@pytest.fixture(scope="module")
def lq(tf):
    import bnnstat

    return bnnstat


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_SAMPLES, N_FEATURES)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def bnn(keras, lq):
    inputs = keras.Input((N_FEATURES,))
    x = lq.layers.QuantDense(
        16, kernel_quantizer=lq.quantizers.NoOp(precision=1), use_bias=False, name="bin"
    )(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def case(keras, lq, gamma=1e-3):
    bop = lq.optimizers.Bop(threshold=1e-7, gamma=gamma)
    return bop, lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, bop),
        default_optimizer=keras.optimizers.Adam(0.01),
    )


# ------------------------------------------------------------------ HyperparameterScheduler


def test_scheduler_changes_gamma_inside_case_optimizer_each_epoch(keras, lq, capsys):
    from bnnstat.callbacks import HyperparameterScheduler

    model = bnn(keras, lq)
    bop, optimizer = case(keras, lq)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    optimizer.build(model.trainable_variables)
    # Epoch 1 has gamma = 0: Bop's moving averages must stay frozen during it, which shows the
    # compiled training step reads the scheduled value.
    schedule = {0: 1e-2, 1: 0.0, 2: 2.5e-3}
    seen, frozen = [], []

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(float(bop.gamma))
            self.m = bop._moving_averages[0].numpy().copy()

        def on_epoch_end(self, epoch, logs=None):
            frozen.append(np.array_equal(bop._moving_averages[0].numpy(), self.m))

    scheduler = HyperparameterScheduler(lambda epoch: schedule[epoch], "gamma", verbose=1)
    history = model.fit(
        *data(), batch_size=BATCH, epochs=3, verbose=0, callbacks=[scheduler, Probe()]
    )
    assert scheduler.target is bop  # found inside the CaseOptimizer
    assert seen == pytest.approx([1e-2, 0.0, 2.5e-3])
    assert history.history["gamma"] == pytest.approx([1e-2, 0.0, 2.5e-3])
    assert frozen == [False, True, False]
    out = capsys.readouterr().out
    assert "Epoch 1: gamma is now 0.0." in out and "Epoch 2: gamma is now 0.0025" in out


def test_scheduler_per_step_with_current_value_and_log_name(keras, lq, capsys):
    from bnnstat.callbacks import HyperparameterScheduler

    model = bnn(keras, lq)
    bop, optimizer = case(keras, lq, gamma=1.0)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    steps = []

    def halve(step, current):
        steps.append(step)
        return current / 2

    scheduler = HyperparameterScheduler(
        halve, "gamma", update_freq="step", verbose=1, log_name="bop_gamma"
    )
    history = model.fit(*data(), batch_size=BATCH, epochs=2, verbose=0, callbacks=[scheduler])
    assert steps == list(range(8))  # Bop's own iterations at each batch start
    assert float(bop.gamma) == pytest.approx(0.5**8)
    assert history.history["bop_gamma"] == pytest.approx([0.5**4, 0.5**8])
    assert "Batch 7: bop_gamma is now 0.00390625." in capsys.readouterr().out


def test_scheduler_finds_bop_behind_loss_scale_optimizer(keras, lq):
    from bnnstat.callbacks import HyperparameterScheduler

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = bnn(keras, lq)
        bop, optimizer = case(keras, lq)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    scheduler = HyperparameterScheduler(lambda epoch: 0.5, "gamma")
    scheduler.set_model(model)
    assert scheduler.target is bop
    scheduler.on_epoch_begin(0)
    assert float(bop.gamma) == 0.5


def test_scheduler_on_the_default_learning_rate_and_errors(keras, lq):
    from bnnstat.callbacks import HyperparameterScheduler

    model = bnn(keras, lq)
    bop, optimizer = case(keras, lq)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    adam = optimizer.optimizers[1]
    scheduler = HyperparameterScheduler(lambda e: 0.1 / (e + 1), "beta_1", optimizer=adam)
    model.fit(*data(), batch_size=BATCH, epochs=2, verbose=0, callbacks=[scheduler])
    assert float(adam.beta_1) == pytest.approx(0.05)

    with pytest.raises(ValueError, match="update_freq can only be 'step' or 'epoch'"):
        HyperparameterScheduler(lambda e: 1.0, "gamma", update_freq="batch")
    with pytest.raises(ValueError, match='Optimizer must have a "nonsense" attribute.'):
        HyperparameterScheduler(lambda e: 1.0, "nonsense").set_model(model)
    two_bops = lq.optimizers.CaseOptimizer(
        (lambda v: v.path.startswith("bin"), lq.optimizers.Bop(name="b1")),
        default_optimizer=lq.optimizers.Bop(name="b2"),
    )
    model.compile(optimizer=two_bops, loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="Several optimizers .*`b1`, `b2`"):
        HyperparameterScheduler(lambda e: 1.0, "gamma").set_model(model)


# ------------------------------------------------------------------ FlipStatistics


class FlipEveryStep:
    """Keras callback factory: after global step s, negate kernel element s (mod size)."""

    def __init__(self, keras, model):
        kernel = model.get_layer("bin").kernel
        outer = self

        class _Flip(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                values = kernel.numpy().ravel()
                values[outer.step % values.size] *= -1
                kernel.assign(values.reshape(kernel.shape))
                outer.step += 1

        self.step = 0
        self.callback = _Flip()


def frozen_model(keras, lq):
    """Training changes nothing (SGD with learning rate 0): the only flips are ours."""
    model = bnn(keras, lq)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    model.build((None, N_FEATURES))
    kernel = model.get_layer("bin").kernel
    kernel.assign(
        np.where(np.arange(kernel.numpy().size) % 2 == 0, 1.0, -1.0).reshape(kernel.shape)
    )
    return model


def read_records(path):
    if path.suffix == ".csv":
        with path.open() as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == ["epoch", "step", "layer", "flipped", "total", "ratio"]
        return [
            {
                **r,
                "epoch": int(r["epoch"]),
                "step": int(r["step"]),
                "flipped": int(r["flipped"]),
                "total": int(r["total"]),
                "ratio": float(r["ratio"]),
            }
            for r in rows
        ]
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_flip_statistics_per_epoch_known_flips(keras, lq, tmp_path, suffix):
    from bnnstat.callbacks import FlipStatistics
    from bnnstat.inspect import flips

    model = frozen_model(keras, lq)
    path = tmp_path / f"flips{suffix}"
    flipper = FlipEveryStep(keras, model)
    model.fit(
        *data(),
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        callbacks=[flipper.callback, FlipStatistics(path)],
    )
    records = read_records(path)
    # Only `bin` has binary weights (8 x 16 = 128); 4 distinct elements are negated per epoch.
    assert records == [
        {
            "epoch": e,
            "step": 4 * (e + 1),
            "layer": "bin",
            "flipped": 4,
            "total": 128,
            "ratio": 4 / 128,
        }
        for e in range(3)
    ]
    # The log is what `bnnstat flips LOG` reads.
    result = flips.log_flips(path)
    assert [(e.epoch, e.layers[0].flipped, e.layers[0].total) for e in result.epochs] == [
        (0, 4, 128),
        (1, 4, 128),
        (2, 4, 128),
    ]


def test_flip_statistics_every_n_steps_counts_net_sign_changes(keras, lq, tmp_path):
    from bnnstat.callbacks import FlipStatistics

    model = frozen_model(keras, lq)
    kernel = model.get_layer("bin").kernel
    size = kernel.numpy().size

    class FlipBackAndForth(keras.callbacks.Callback):
        """Negate element 0 at every step: its sign is back after an even number of steps."""

        def on_train_batch_end(self, batch, logs=None):
            values = kernel.numpy().ravel()
            values[0] *= -1
            values[1 + batch] *= -1  # plus one new element per step of the epoch
            kernel.assign(values.reshape(kernel.shape))

    path = tmp_path / "steps.jsonl"
    stats = FlipStatistics(path, every_n_steps=3)
    model.fit(*data(), batch_size=BATCH, epochs=2, verbose=0, callbacks=[FlipBackAndForth(), stats])
    records = [(r["epoch"], r["step"], r["flipped"]) for r in read_records(path)]
    # Record at step 3: element 0 (negated 3 times) + elements 1-3 = 4. Epoch-0 end (step 4):
    # element 0 back + element 4 = 2. Step 6: elements 1, 2 back (element 0 negated twice) = 2.
    # Epoch-1 end (step 8, not a multiple of 3): elements 3, 4 back = 2.
    assert records == [(0, 3, 4), (0, 4, 2), (1, 6, 2), (1, 8, 2)]
    assert all(r["total"] == size for r in read_records(path))
    with pytest.raises(ValueError, match="every_n_steps"):
        FlipStatistics(path, every_n_steps=0)
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        FlipStatistics(tmp_path / "flips.txt")


def test_flip_statistics_with_bop_matches_weight_snapshots(keras, lq, tmp_path):
    from bnnstat.callbacks import FlipStatistics

    keras.utils.set_random_seed(4)
    model = bnn(keras, lq)
    _, optimizer = case(keras, lq, gamma=0.1)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.build((None, N_FEATURES))
    kernel = model.get_layer("bin").kernel
    snapshots = [kernel.numpy() >= 0]

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(kernel.numpy() >= 0)

    path = tmp_path / "bop.csv"
    model.fit(
        *data(), batch_size=BATCH, epochs=3, verbose=0, callbacks=[Snapshot(), FlipStatistics(path)]
    )
    expected = [int(np.sum(a != b)) for a, b in zip(snapshots[:-1], snapshots[1:], strict=True)]
    assert [r["flipped"] for r in read_records(path)] == expected
    assert sum(expected[1:]) > 0  # Bop did flip weights after binarizing them
