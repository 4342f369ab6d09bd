"""Bop and CaseOptimizer: the update rule vs NumPy, routing and its errors, training, state,
saving/reloading, tf.function/XLA, mixed precision and MirroredStrategy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

N_FEATURES = 16


# ------------------------------------------------------------------ helpers


def numpy_bop(w, m, g, threshold, gamma):
    """Reference: m <- m + gamma (g - m); w <- sign(-sign(w m - threshold) w), sign(0) = +1."""
    m = (m + np.float32(gamma) * (g - m)).astype(np.float32)
    inner = np.sign(w * m - np.float32(threshold))
    outer = -inner * w
    return np.where(outer >= 0, 1.0, -1.0).astype(np.float32), m


def toy_data(n=512, seed=0):
    """Linearly separable two-class data."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype("float32")
    y = (x[:, :4].sum(axis=1) > 0).astype("int32")
    return x, y


def toy_bnn(keras, lq, name="toy", dense_dtype=None):
    """Two binary QuantDense layers (NoOp(1) kernels: trained by Bop), BN, float head."""
    noop = lq.quantizers.NoOp(precision=1)
    inputs = keras.Input((N_FEATURES,))
    x = lq.layers.QuantDense(
        64, kernel_quantizer=noop, kernel_initializer="glorot_uniform", use_bias=False, name="bin1"
    )(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = lq.layers.QuantDense(
        64,
        input_quantizer="ste_sign",
        kernel_quantizer=lq.quantizers.NoOp(precision=1),
        use_bias=False,
        name="bin2",
    )(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head", dtype=dense_dtype)(x)
    return keras.Model(inputs, outputs, name=name)


def case_optimizer(keras, lq, threshold=1e-6, gamma=1e-3):
    return lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(threshold, gamma)),
        default_optimizer=keras.optimizers.Adam(0.01),
    )


def binary_kernels(model):
    return [model.get_layer(n).kernel for n in ("bin1", "bin2")]


def assert_plus_minus_one(variables):
    for v in variables:
        values = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        assert set(np.unique(values)) <= {-1.0, 1.0}, v.path


@pytest.fixture(scope="module")
def keras(tf):
    import keras

    return keras


@pytest.fixture(scope="module")
def lq(tf):
    import bnnstat

    return bnnstat


@pytest.fixture
def float32_policy(keras):
    yield
    keras.mixed_precision.set_global_policy("float32")


def tagged_variable(keras, value, precision=1, name="w"):
    from bnnstat.utils import tag_precision

    variable = keras.Variable(np.asarray(value, dtype="float32"), name=name)
    tag_precision(variable, precision)
    return variable


# ------------------------------------------------------------------ Bop rule


@pytest.mark.parametrize("mode", ["eager", "tf.function", "jit"])
def test_bop_matches_numpy_step_by_step(tf, keras, lq, mode):
    rng = np.random.default_rng(1)
    w0 = np.where(rng.normal(size=(6, 5)) >= 0, 1.0, -1.0).astype("float32")
    grads = [rng.normal(scale=1e-2, size=w0.shape).astype("float32") for _ in range(8)]
    threshold, gamma = 2e-5, 0.25
    variable = tagged_variable(keras, w0)
    bop = lq.optimizers.Bop(threshold=threshold, gamma=gamma)
    bop.build([variable])

    def step(g):
        bop.apply([g], [variable])

    if mode != "eager":
        step = tf.function(step, jit_compile=mode == "jit")
    w, m = w0, np.zeros_like(w0)
    flips = 0
    for g in grads:
        step(tf.constant(g))
        w_new, m = numpy_bop(w, m, g, threshold, gamma)
        flips += int(np.sum(w_new != w))
        w = w_new
        np.testing.assert_allclose(bop._moving_averages[0].numpy(), m, rtol=1e-5, atol=1e-12)
        np.testing.assert_array_equal(variable.numpy(), w)
    assert 0 < flips < w0.size * len(grads)  # the test exercises both flips and keeps
    assert int(bop.iterations.numpy()) == len(grads)


def test_bop_sign_zero_is_plus_one_and_output_is_binary(keras, lq):
    # threshold 0 and a zero gradient: w m - threshold = 0, so every weight becomes +1;
    # a non-binary start is binarized by the same rule.
    variable = tagged_variable(keras, [-1.0, 1.0, -0.3, 0.0, 2.5])
    bop = lq.optimizers.Bop(threshold=0.0, gamma=0.5)
    bop.apply([np.zeros(5, "float32")], [variable])
    np.testing.assert_array_equal(variable.numpy(), np.ones(5))
    # Now m = 0 still; a gradient agreeing with w flips it where gamma * g * w > threshold.
    variable.assign(np.array([1.0, 1.0, -1.0, -1.0, 1.0], "float32"))
    bop.apply([np.array([1.0, -1.0, -1.0, 1.0, 0.0], "float32")], [variable])
    np.testing.assert_array_equal(variable.numpy(), [-1.0, 1.0, 1.0, -1.0, 1.0])


def test_bop_hyperparameters_and_schedules_serialize(keras, lq):
    schedules = keras.optimizers.schedules
    bop = lq.optimizers.Bop(
        threshold=schedules.ExponentialDecay(1e-6, decay_steps=10, decay_rate=0.5),
        gamma=schedules.PiecewiseConstantDecay([2], [1e-3, 1e-4]),
        name="bop_sched",
    )
    config = bop.get_config()
    assert "learning_rate" not in config
    assert config["threshold"]["class_name"] == "ExponentialDecay"
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(bop))
    assert isinstance(clone, lq.optimizers.Bop) and clone.name == "bop_sched"
    for step in (0, 1, 2, 5, 20):
        bop.iterations.assign(step)
        clone.iterations.assign(step)
        for name in ("threshold", "gamma"):
            assert float(getattr(clone, name)) == pytest.approx(float(getattr(bop, name)))
    assert float(bop.gamma) == pytest.approx(1e-4)
    assert float(bop.threshold) == pytest.approx(1e-6 * 0.5**2)
    with pytest.raises(TypeError, match="schedule"):
        bop.gamma = 0.1

    plain = lq.optimizers.Bop()
    assert plain.get_config()["threshold"] == pytest.approx(1e-8)
    assert plain.get_config()["gamma"] == pytest.approx(1e-4)
    assert plain.name == "Bop"
    plain.gamma = 0.5
    assert keras.optimizers.deserialize(keras.optimizers.serialize(plain)).get_config()[
        "gamma"
    ] == pytest.approx(0.5)


def test_bop_learning_rate_reads_gamma_and_ignores_writes(keras, lq):
    bop = lq.optimizers.Bop(gamma=3e-3)
    assert float(bop.learning_rate) == pytest.approx(3e-3)
    with pytest.warns(UserWarning, match="HyperparameterScheduler"):
        bop.learning_rate = 0.1
    assert float(bop.gamma) == pytest.approx(3e-3)
    with pytest.raises(TypeError, match="learning_rate"):
        lq.optimizers.Bop(learning_rate=0.1)
    with pytest.raises(TypeError, match="float"):
        lq.optimizers.Bop(gamma="fast")


def test_is_binary_variable_reads_precision_tags(keras, lq):
    is_binary = lq.optimizers.Bop.is_binary_variable
    assert is_binary(tagged_variable(keras, [1.0], precision=1))
    assert not is_binary(tagged_variable(keras, [1.0], precision=2))
    assert not is_binary(keras.Variable(np.ones(1, "float32")))
    layer = lq.layers.QuantDense(3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
    layer.build((None, 4))
    assert is_binary(layer.kernel) and not is_binary(layer.bias)


# ------------------------------------------------------------------ CaseOptimizer errors


def test_case_optimizer_argument_types(keras, lq):
    with pytest.raises(TypeError, match=r"predicate_optimizer_pairs\[0\]\[0\]"):
        lq.optimizers.CaseOptimizer((1, lq.optimizers.Bop()))
    with pytest.raises(TypeError, match=r"predicate_optimizer_pairs\[0\]\[1\]"):
        lq.optimizers.CaseOptimizer((lambda v: True, "adam"))
    with pytest.raises(TypeError, match="default_optimizer"):
        lq.optimizers.CaseOptimizer(default_optimizer="adam")
    with pytest.raises(ValueError, match="at least one"):
        lq.optimizers.CaseOptimizer()


def test_variable_claimed_twice_names_it_and_both_optimizers(keras, lq):
    model = toy_bnn(keras, lq)
    first, second = lq.optimizers.Bop(name="bop_a"), lq.optimizers.Bop(name="bop_b")
    optimizer = lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, first),
        (lambda v: "bin2" in v.path, second),
        default_optimizer=keras.optimizers.Adam(),
    )
    with pytest.raises(ValueError, match="claimed by multiple optimizers") as error:
        optimizer.build(model.trainable_variables)
    message = str(error.value)
    assert "bin2/kernel" in message and "bop_a" in message and "bop_b" in message


def test_optimizer_claiming_nothing_is_an_error(keras, lq):
    model = toy_bnn(keras, lq)
    optimizer = lq.optimizers.CaseOptimizer(
        (lambda v: False, lq.optimizers.Bop(name="idle_bop")),
        default_optimizer=keras.optimizers.Adam(),
    )
    with pytest.raises(ValueError, match="`idle_bop` .*did not claim any variables"):
        optimizer.build(model.trainable_variables)


def test_unclaimed_variables_without_default_warn_and_stay_untouched(keras, lq):
    model = toy_bnn(keras, lq)
    x, y = toy_data(64)
    optimizer = lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(1e-6, 1e-2))
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    head_before = model.get_layer("head").kernel.numpy().copy()
    bin_before = model.get_layer("bin1").kernel.numpy().copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    texts = [str(w.message) for w in caught]
    assert "No `default_optimizer` provided to train variable `head/kernel`." in texts
    np.testing.assert_array_equal(model.get_layer("head").kernel.numpy(), head_before)
    assert not np.array_equal(model.get_layer("bin1").kernel.numpy(), bin_before)


# ------------------------------------------------------------------ training


@pytest.mark.parametrize("jit_compile", [False, True])
def test_toy_bnn_learns_and_kernels_stay_binary(tf, keras, lq, jit_compile):
    keras.utils.set_random_seed(0)
    x, y = toy_data()
    model = toy_bnn(keras, lq)
    optimizer = case_optimizer(keras, lq)
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    checked = []

    class CheckBinary(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert_plus_minus_one(binary_kernels(model))
            checked.append(batch)

    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[CheckBinary()])
    assert len(checked) == 4 * 16
    assert history.history["accuracy"][-1] > 0.85
    _, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.85
    bop, adam = optimizer.optimizers
    routed = {v.path: o.name for v, o in optimizer.routes()}
    assert routed["bin1/kernel"] == routed["bin2/kernel"] == bop.name
    assert routed["head/kernel"] == routed["bn1/gamma"] == adam.name
    assert int(bop.iterations.numpy()) == int(adam.iterations.numpy()) == 64
    assert int(optimizer.iterations.numpy()) == 64


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_learning_rate_callbacks_never_touch_bop_gamma(keras, lq, float32_policy, policy):
    # Keras' LR callbacks set `learning_rate` on every optimizer in `model.optimizer.optimizers`
    # (float32) or on the LossScaleOptimizer's inner optimizer (mixed precision): both must
    # change Adam's learning rate and leave Bop's gamma alone, with one warning.
    keras.mixed_precision.set_global_policy(policy)
    model = toy_bnn(keras, lq, dense_dtype="float32")
    x, y = toy_data(64)
    optimizer = case_optimizer(keras, lq, gamma=2e-3)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.5**epoch * 0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[scheduler])
    bop, adam = optimizer.optimizers
    assert float(adam.learning_rate) == pytest.approx(0.0025)
    assert float(optimizer.learning_rate) == pytest.approx(0.0025)
    assert float(bop.gamma) == pytest.approx(2e-3)
    assert float(bop.learning_rate) == pytest.approx(2e-3)
    ignored = [w for w in caught if "has no learning rate; ignoring" in str(w.message)]
    assert len(ignored) == 1


# ------------------------------------------------------------------ state and reloading


def _all_state(model):
    weights = [np.array(v.numpy()) for v in model.weights]
    optimizer = [np.array(v.numpy()) for v in model.optimizer.variables]
    return weights, optimizer


def test_save_restore_then_one_step_equals_uninterrupted_run(tf, keras, lq, tmp_path):
    keras.utils.set_random_seed(2)
    x, y = toy_data(128)
    model = toy_bnn(keras, lq)
    model.compile(
        optimizer=case_optimizer(keras, lq, gamma=1e-2), loss="sparse_categorical_crossentropy"
    )
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    path = tmp_path / "toy.keras"
    model.save(path)

    reloaded = keras.models.load_model(path)
    optimizer = reloaded.optimizer
    assert isinstance(optimizer, lq.optimizers.CaseOptimizer)
    routes = [(v.path, None if o is None else type(o).__name__) for v, o in optimizer.routes()]
    expected = [(v.path, type(o).__name__) for v, o in model.optimizer.routes()]
    assert routes == expected
    saved_weights, saved_state = _all_state(model)
    new_weights, new_state = _all_state(reloaded)
    assert len(saved_state) == len(new_state) > 10
    for a, b in zip(saved_state + saved_weights, new_state + new_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    bop = optimizer.optimizers[0]
    assert int(bop.iterations.numpy()) == 8 and np.any(bop._moving_averages[0].numpy() != 0)

    model.train_on_batch(x[:32], y[:32])
    reloaded.train_on_batch(x[:32], y[:32])
    after_weights, after_state = _all_state(model)
    resumed_weights, resumed_state = _all_state(reloaded)
    for a, b in zip(after_state + after_weights, resumed_state + resumed_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_routing_survives_reload_when_variable_paths_change(keras, lq, tmp_path):
    # A nested model: the binary kernel's path is `net/...` when built, but not after reloading;
    # routing by path would silently send it to Adam.
    inner = toy_bnn(keras, lq, name="net")
    inputs = keras.Input((N_FEATURES,))
    model = keras.Model(inputs, inner(inputs))
    x, y = toy_data(64)
    model.compile(optimizer=case_optimizer(keras, lq), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.save(tmp_path / "nested.keras")
    reloaded = keras.models.load_model(tmp_path / "nested.keras")
    names = lambda opt: [  # noqa: E731
        None if o is None else type(o).__name__ for _, o in opt.routes()
    ]
    assert names(reloaded.optimizer) == names(model.optimizer)
    bop_trained = [v for v, o in reloaded.optimizer.routes() if isinstance(o, lq.optimizers.Bop)]
    assert len(bop_trained) == 2 and all(
        lq.optimizers.Bop.is_binary_variable(v) for v in bop_trained
    )
    reloaded.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert_plus_minus_one(bop_trained)


def test_case_optimizer_config_round_trip(keras, lq):
    optimizer = case_optimizer(keras, lq, threshold=1e-5, gamma=1e-2)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(clone, lq.optimizers.CaseOptimizer) and clone.name == "optimizer_case"
    ((predicate, bop),) = clone.pred_opt_pairs
    assert predicate is lq.optimizers.Bop.is_binary_variable
    assert bop.get_config()["threshold"] == pytest.approx(1e-5)
    assert isinstance(clone.default, keras.optimizers.Adam)
    assert float(clone.learning_rate) == pytest.approx(0.01)


# ------------------------------------------------------------------ distribution, mixed precision


def test_mirrored_strategy_with_mixed_precision(
    tf, keras, lq, float32_policy, tmp_path, mirrored_strategy
):
    assert mirrored_strategy.num_replicas_in_sync == 2
    keras.utils.set_random_seed(3)
    keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = mirrored_strategy
    x, y = toy_data()
    with strategy.scope():
        model = toy_bnn(keras, lq, dense_dtype="float32")
        model.compile(
            optimizer=case_optimizer(keras, lq),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    case = model.optimizer.inner_optimizer
    history = model.fit(x, y, batch_size=64, epochs=4, verbose=0)
    assert history.history["accuracy"][-1] > 0.8
    bop = case.optimizers[0]
    assert int(bop.iterations.numpy()) == 4 * 8
    for kernel in binary_kernels(model):
        replicas = [np.asarray(v.numpy()) for v in kernel.value.values]
        assert len(replicas) == 2
        np.testing.assert_array_equal(replicas[0], replicas[1])
        assert_plus_minus_one(replicas)
    for m in bop._moving_averages:
        replicas = [np.asarray(v.numpy()) for v in m.value.values]
        np.testing.assert_array_equal(replicas[0], replicas[1])
        assert np.any(replicas[0] != 0)

    path = tmp_path / "mp.keras"
    model.save(path)
    with strategy.scope():
        reloaded = keras.models.load_model(path)
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
