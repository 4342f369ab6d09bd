"""Quantizers: forward values and pseudo-gradients against the documented formulas.

Every quantizer is reached in all the ways a user can reach it (class instance, string alias via
`get`, functional form, Keras activation string, config round trip) and checked on a grid that
contains 0, +-clip_value and values just inside and just outside the clip.
"""

from __future__ import annotations

import numpy as np
import pytest

EPS = 1e-3


def grid(clip: float) -> np.ndarray:
    """0, +-clip, just inside/outside +-clip, and a few ordinary values."""
    points = [0.0, 1e-6, 0.05, 0.3, 1.0 - EPS, 1.0, 1.0 + EPS]
    points += [clip - EPS, clip, clip + EPS, 2 * clip]
    values = sorted(set(points) | {-p for p in points})
    return np.array(values, dtype=np.float32)


def upstream(x: np.ndarray) -> np.ndarray:
    """A non-constant upstream gradient, so `dy *` in the formulas is really checked."""
    return np.linspace(0.5, 1.5, x.size, dtype=np.float32).reshape(x.shape)


# ---- reference formulas (numpy, float64), written from the spec ----------------------------


def ref_sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def ref_ste_grad(x, clip):
    return np.ones_like(x) if clip is None else (np.abs(x) <= clip).astype(float)


def ref_approx_grad(x):
    return np.where(np.abs(x) <= 1.0, 2.0 - 2.0 * np.abs(x), 0.0)


def ref_swish_grad(x, beta):
    bx = beta * x.astype(np.float64)
    return beta * (2.0 - bx * np.tanh(bx / 2.0)) / (1.0 + np.cosh(bx))


def ref_heaviside(x):
    return np.where(x > 0, 1.0, 0.0)


def ref_tern(x, threshold):
    return np.where(x >= threshold, 1.0, np.where(x <= -threshold, -1.0, 0.0))


def ref_round(v):
    return np.round(v)  # numpy rounds half to even, as tf.round does


def ref_dorefa_act(x, k):
    n = 2**k - 1
    return ref_round(np.clip(x, 0.0, 1.0) * n) / n


def ref_dorefa_act_grad(x):
    return ((x >= 0) & (x <= 1)).astype(float)


def ref_dorefa_weights(w, k):
    n = 2**k - 1
    t = np.tanh(w.astype(np.float64))
    pre = t / (2 * np.max(np.abs(t))) + 0.5
    return 2 * ref_round(pre * n) / n - 1


def ref_dorefa_weights_grad(w):
    t = np.tanh(w.astype(np.float64))
    return (1 - t**2) / np.max(np.abs(t))


# ---- helpers --------------------------------------------------------------------------------


def forward_and_grad(tf, fn, x: np.ndarray):
    """y = fn(x) and dL/dx for L = sum(y * dy)."""
    xt = tf.constant(x)
    dy = tf.constant(upstream(x))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = fn(xt)
    return np.asarray(y), np.asarray(tape.gradient(y, xt, output_gradients=dy))


def check(tf, fn, x, want_y, want_grad, atol=1e-6, label=""):
    y, g = forward_and_grad(tf, fn, x)
    np.testing.assert_allclose(y, want_y, atol=atol, err_msg=f"forward {label}")
    np.testing.assert_allclose(
        g, want_grad * upstream(x), atol=atol, rtol=1e-5, err_msg=f"gradient {label}"
    )


def routes(tf, name, cls_kwargs, fn_kwargs=None):
    """Every way to get the same quantizer: instance, alias, functional form, config trip."""
    import keras

    from bnnstat import quantizers as q

    fn_kwargs = cls_kwargs if fn_kwargs is None else fn_kwargs
    cls, fn = q._ALIASES[name]
    instance = cls(**cls_kwargs)
    ways = {
        "class": instance,
        "functional": lambda x: fn(x, **fn_kwargs),
        "round_trip": q.get(q.serialize(instance)),
        "keras_deserialize": keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(instance)
        ),
    }
    if not cls_kwargs:
        ways["alias"] = q.get(name)
        ways["activation_string"] = keras.layers.Activation(name)
        ways["functional_default"] = fn
    return ways


CLIPS = [1.0, 0.5, 2.0, None]


@pytest.mark.parametrize("clip", CLIPS)
def test_ste_sign(tf, clip):
    x = grid(clip or 1.0)
    kwargs = {} if clip == 1.0 else {"clip_value": clip}
    for way, fn in routes(tf, "ste_sign", kwargs).items():
        check(tf, fn, x, ref_sign(x), ref_ste_grad(x, clip), label=way)


def test_tensor_hyperparameters(tf):
    """clip_value / beta may be tensors (e.g. scheduled), as in Larq."""
    from bnnstat import quantizers as q

    x = grid(0.5)
    check(tf, lambda v: q.ste_sign(v, clip_value=tf.constant(0.5)), x, ref_sign(x),
          ref_ste_grad(x, 0.5))
    check(tf, lambda v: q.swish_sign(v, beta=tf.constant(2.0)), x, ref_sign(x),
          ref_swish_grad(x, 2.0), atol=1e-5)


def test_ste_sign_zero_is_plus_one(tf):
    from bnnstat import quantizers as q

    zeros = np.zeros((3, 2), np.float32)
    for fn in (q.SteSign(), q.ApproxSign(), q.SwishSign(), q.ste_sign, q.approx_sign):
        np.testing.assert_array_equal(np.asarray(fn(zeros)), np.ones((3, 2)))
    np.testing.assert_array_equal(np.asarray(q.SteHeaviside()(zeros)), np.zeros((3, 2)))


def test_approx_sign(tf):
    x = grid(1.0)
    for way, fn in routes(tf, "approx_sign", {}).items():
        check(tf, fn, x, ref_sign(x), ref_approx_grad(x), label=way)


@pytest.mark.parametrize("beta", [5.0, 1.0, 10.0])
def test_swish_sign(tf, beta):
    x = grid(1.0)
    kwargs = {} if beta == 5.0 else {"beta": beta}
    for way, fn in routes(tf, "swish_sign", kwargs).items():
        check(tf, fn, x, ref_sign(x), ref_swish_grad(x, beta), atol=1e-5, label=way)


def test_swish_sign_gradient_peak(tf):
    """The SignSwish pseudo-gradient peaks at beta for x = 0 and is symmetric."""
    from bnnstat import quantizers as q

    _, g = forward_and_grad(tf, q.SwishSign(beta=3.0), np.array([0.0, -0.7, 0.7], np.float32))
    g = g / upstream(np.zeros(3))
    assert g[0] == pytest.approx(3.0)
    assert g[1] == pytest.approx(g[2])


@pytest.mark.parametrize("clip", CLIPS)
def test_ste_heaviside(tf, clip):
    x = grid(clip or 1.0)
    kwargs = {} if clip == 1.0 else {"clip_value": clip}
    for way, fn in routes(tf, "ste_heaviside", kwargs).items():
        check(tf, fn, x, ref_heaviside(x), ref_ste_grad(x, clip), label=way)


@pytest.mark.parametrize("threshold", [0.05, 0.3])
@pytest.mark.parametrize("clip", [1.0, 0.5, None])
def test_ste_tern_fixed_threshold(tf, threshold, clip):
    x = np.concatenate([grid(clip or 1.0), np.float32([threshold, -threshold])])
    x = np.concatenate([x, np.float32([threshold - EPS, -threshold + EPS, threshold + EPS])])
    kwargs = {}
    if threshold != 0.05:
        kwargs["threshold_value"] = threshold
    if clip != 1.0:
        kwargs["clip_value"] = clip
    want = ref_tern(x, np.float32(threshold))
    for way, fn in routes(tf, "ste_tern", kwargs).items():
        check(tf, fn, x, want, ref_ste_grad(x, clip), label=way)


def test_ste_tern_twn_threshold(tf):
    """TWN: Delta = 0.7 * mean(|x|) over the whole tensor."""
    from bnnstat import quantizers as q

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 6)).astype(np.float32)
    delta = 0.7 * np.mean(np.abs(x))
    # Values straddling Delta so a wrong threshold would change the output.
    x[0, 0, :3] = [delta * 0.99, delta * 1.01, -delta * 1.01]
    delta = 0.7 * np.mean(np.abs(x))
    want = ref_tern(x, delta)
    assert 0 < np.sum(want == 0) < x.size  # the threshold matters on this input
    for fn in (
        q.SteTern(ternary_weight_networks=True),
        lambda v: q.ste_tern(v, ternary_weight_networks=True),
        q.get(q.serialize(q.SteTern(ternary_weight_networks=True))),
    ):
        check(tf, fn, x, want, ref_ste_grad(x, 1.0))
    # The fixed threshold is ignored when TWN is on.
    check(tf, q.SteTern(threshold_value=10.0, ternary_weight_networks=True), x, want,
          ref_ste_grad(x, 1.0))


@pytest.mark.parametrize("k_bit", [1, 2, 3, 4])
def test_dorefa_activations(tf, k_bit):
    from bnnstat import quantizers as q

    n = 2**k_bit - 1
    # grid points, the rounding boundaries (2i-1)/2n +- eps, and the clip edges 0 and 1
    boundaries = [(2 * i - 1) / (2 * n) for i in range(1, n + 1)]
    x = np.float32(
        list(grid(1.0))
        + [b + d for b in boundaries for d in (-EPS, EPS)]
        + [0.0, 1.0, -EPS, 1 + EPS]
    )
    want_grad = ref_dorefa_act_grad(x)
    kwargs = {"k_bit": k_bit}
    ways = routes(tf, "dorefa_quantizer", kwargs)
    ways["mode_given"] = q.DoReFa(k_bit=k_bit, mode="activations")
    ways["deprecated_alias"] = q.DoReFaQuantizer(k_bit=k_bit)
    for way, fn in ways.items():
        check(tf, fn, x, ref_dorefa_act(x, k_bit), want_grad, label=way)
        assert getattr(fn, "precision", k_bit) == k_bit


@pytest.mark.parametrize("k_bit", [1, 2, 3, 4])
def test_dorefa_weights(tf, k_bit):
    from bnnstat import quantizers as q

    rng = np.random.default_rng(k_bit)
    w = rng.uniform(-1, 1, size=(3, 3, 2, 4)).astype(np.float32)
    w[0, 0, 0, 0] = 0.0
    want = ref_dorefa_weights(w, k_bit)
    n = 2**k_bit - 1
    levels = 2 * np.arange(n + 1) / n - 1
    for fn in (
        q.DoReFa(k_bit=k_bit, mode="weights"),
        lambda v: q.dorefa(v, k_bit=k_bit, mode="weights"),
        q.get(q.serialize(q.DoReFa(k_bit=k_bit, mode="weights"))),
    ):
        y, g = forward_and_grad(tf, fn, w)
        np.testing.assert_allclose(y, want, atol=1e-6)
        np.testing.assert_allclose(g, ref_dorefa_weights_grad(w) * upstream(w), rtol=1e-5)
        assert np.all(np.min(np.abs(y[..., None] - levels), axis=-1) < 1e-6)
        # The weight of largest magnitude maps onto the extreme level.
        idx = np.unravel_index(np.argmax(np.abs(w)), w.shape)
        assert abs(y[idx]) == pytest.approx(1.0)


def test_dorefa_weights_all_zero(tf):
    from bnnstat import quantizers as q

    y = np.asarray(q.DoReFa(k_bit=2, mode="weights")(np.zeros((2, 2), np.float32)))
    assert np.all(np.isfinite(y))


def test_dorefa_bad_mode(tf):
    from bnnstat import quantizers as q

    with pytest.raises(ValueError, match="mode"):
        q.DoReFa(mode="kernel")
    with pytest.raises(ValueError, match="mode"):
        q.dorefa(np.zeros(2, np.float32), mode="bad")


@pytest.mark.parametrize("clip", [1.0, 0.5, None])
def test_magnitude_aware_sign_per_channel_scale(tf, clip):
    """scale = mean |x| over all axes but the last, held constant in the backward pass."""

    rng = np.random.default_rng(1)
    x = rng.normal(scale=0.8, size=(3, 3, 2, 4)).astype(np.float32)
    x[0, 0, 0, :] = [0.0, clip or 1.0, -(clip or 1.0), (clip or 1.0) + EPS]
    scale = np.mean(np.abs(x), axis=(0, 1, 2))  # one per output channel
    assert len(set(np.round(scale, 4))) == 4
    want_y = scale * ref_sign(x)
    want_grad = scale * ref_ste_grad(x, clip)
    kwargs = {} if clip == 1.0 else {"clip_value": clip}
    for way, fn in routes(tf, "magnitude_aware_sign", kwargs).items():
        if way == "activation_string":
            continue  # an Activation layer is shape-agnostic; covered by the functional form
        check(tf, fn, x, want_y, want_grad, atol=1e-6, label=way)


def test_noop(tf):
    from bnnstat import quantizers as q

    x = grid(1.0)
    for fn in (q.NoOp(precision=1), q.NoOpQuantizer(precision=1), q.get(q.serialize(q.NoOp(3)))):
        check(tf, fn, x, x, np.ones_like(x))
    assert q.NoOp(precision=3).precision == 3
    assert q.get(q.serialize(q.NoOp(precision=3))).precision == 3


def test_precisions(tf):
    from bnnstat import quantizers as q
    from bnnstat.utils import precision_of, set_precision

    expected = {
        "ste_sign": 1, "approx_sign": 1, "swish_sign": 1, "ste_heaviside": 1,
        "magnitude_aware_sign": 1, "ste_tern": 2, "dorefa_quantizer": 2,
    }
    for alias, bits in expected.items():
        assert q.get(alias).precision == bits, alias
        assert q._ALIASES[alias][1].precision == bits, alias
    assert q.DoReFa(k_bit=5).precision == 5
    assert q.get({"class_name": "DoReFa", "config": {"k_bit": 3}}).precision == 3
    assert q.Quantizer.precision is None

    @set_precision(3)
    def my_quantizer(x):
        return x

    assert q.get(my_quantizer) is my_quantizer
    assert precision_of(q.get(my_quantizer)) == 3


def test_deprecated_aliases_are_larq_aliases(tf):
    """In Larq, NoOpQuantizer / DoReFaQuantizer are the same classes (no warning)."""
    from bnnstat import quantizers as q

    assert q.NoOpQuantizer is q.NoOp
    assert q.DoReFaQuantizer is q.DoReFa
    assert isinstance(q.get("DoReFaQuantizer"), q.DoReFa)
    old = q.get({"class_name": "NoOpQuantizer", "config": {"precision": 1}})
    assert isinstance(old, q.NoOp) and old.precision == 1


# ---- get / serialize / deserialize ------------------------------------------------------------


def test_get_identifiers(tf):
    from bnnstat import quantizers as q

    assert q.get(None) is None
    assert isinstance(q.get("ste_sign"), q.SteSign)
    assert isinstance(q.get("SteSign"), q.SteSign)
    assert isinstance(q.get("bnnstat>SteSign"), q.SteSign)
    assert q.get("bnnstat>ste_sign") is q.ste_sign
    assert isinstance(q.get("dorefa_quantizer"), q.DoReFa)
    instance = q.SteTern(threshold_value=0.1)
    assert q.get(instance) is instance
    assert q.get(q.ste_sign) is q.ste_sign
    with pytest.raises(ValueError):
        q.get("no_such_quantizer")
    with pytest.raises(ValueError):
        q.get(42)


def test_get_keras3_config_dict(tf):
    from bnnstat import quantizers as q

    config = q.serialize(q.SteSign(clip_value=0.25))
    assert config["registered_name"] == "bnnstat>SteSign"
    restored = q.get(config)
    assert isinstance(restored, q.SteSign) and restored.clip_value == 0.25
    fn_config = q.serialize(q.approx_sign)
    assert fn_config["class_name"] == "function"
    assert q.get(fn_config) is q.approx_sign


def test_get_keras2_larq_config_dicts(tf):
    """Configs exactly as Larq 0.14 / Keras 2 wrote them into .h5 files."""
    from bnnstat import quantizers as q

    dorefa = q.get({
        "module": "larq.quantizers", "class_name": "DoReFa",
        "config": {"name": "do_re_fa_1", "trainable": True, "dtype": "float32", "k_bit": 2,
                   "mode": "weights"},
        "registered_name": "DoReFa", "build_config": {"input_shape": [3, 16, 32]},
    })
    assert isinstance(dorefa, q.DoReFa)
    assert (dorefa.precision, dorefa.mode, dorefa.name) == (2, "weights", "do_re_fa_1")
    tern = q.get({"class_name": "SteTern", "config": {
        "name": "ste_tern_2", "trainable": True, "dtype": "float32", "threshold_value": 0.05,
        "ternary_weight_networks": True, "clip_value": 1.0}})
    assert tern.ternary_weight_networks is True and tern.precision == 2
    noop = q.get({"class_name": "NoOp", "config": {"precision": 1, "name": "no_op"}})
    assert noop.precision == 1


def test_keras2_activation_config_resolves_plain_class_name(tf):
    """A Larq-saved Dense(activation=SteSign()) has a plain class name in its config."""
    import keras

    from bnnstat import quantizers as q

    activation = keras.activations.deserialize(
        {"class_name": "SteSign", "config": {"clip_value": 0.5, "name": "ste_sign"}}
    )
    assert isinstance(activation, q.SteSign) and activation.clip_value == 0.5


def test_config_round_trips_every_class(tf):
    from bnnstat import quantizers as q

    instances = [
        q.NoOp(precision=2), q.SteSign(clip_value=None), q.ApproxSign(), q.SteHeaviside(0.5),
        q.SwishSign(beta=2.5), q.MagnitudeAwareSign(clip_value=0.7),
        q.SteTern(threshold_value=0.2, ternary_weight_networks=True, clip_value=None),
        q.DoReFa(k_bit=3, mode="weights"), q.SteSign(metrics=["flip_ratio"]),
    ]
    for instance in instances:
        restored = q.deserialize(q.serialize(instance))
        assert type(restored) is type(instance)
        assert restored.get_config() == instance.get_config()
        assert restored.precision == instance.precision


def test_unknown_metric_rejected(tf):
    from bnnstat import quantizers as q

    with pytest.raises(ValueError, match="metric"):
        q.SteSign(metrics=["accuracy"])


# ---- use as activations, saving ---------------------------------------------------------------


def _small_model(keras, q):
    inputs = keras.Input((6,))
    x = keras.layers.Dense(5, activation="ste_sign")(inputs)
    x = keras.layers.Activation("ste_sign")(x)
    x = keras.layers.Dense(4, activation=q.SteTern(threshold_value=0.1))(x)
    x = keras.layers.Activation(q.DoReFa(k_bit=3))(x)
    outputs = keras.layers.Dense(2, activation="swish_sign")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_activation_string_model_round_trip(tf, tmp_path, suffix):
    import keras

    from bnnstat import quantizers as q

    model = _small_model(keras, q)
    data = np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)
    before = model.predict(data, verbose=0)
    assert set(np.unique(before)) <= {-1.0, 1.0}
    path = tmp_path / f"model{suffix}"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), before)
    assert loaded.layers[1].activation is q.ste_sign
    assert loaded.layers[2].activation is q.ste_sign
    tern = loaded.layers[3].activation
    assert isinstance(tern, q.SteTern) and tern.threshold_value == 0.1
    assert loaded.layers[4].activation.precision == 3


def test_activation_layer_gradients_match_functional(tf):
    import keras

    x = grid(1.0)
    check(tf, keras.layers.Activation("approx_sign"), x, ref_sign(x), ref_approx_grad(x))
    check(tf, keras.layers.Dense(3, activation="ste_sign").activation, x, ref_sign(x),
          ref_ste_grad(x, 1.0))


# ---- execution modes ---------------------------------------------------------------------------


def _all_quantizers(q):
    return [
        q.NoOp(precision=1), q.SteSign(), q.SteSign(clip_value=0.5), q.ApproxSign(),
        q.SteHeaviside(), q.SwishSign(), q.MagnitudeAwareSign(), q.SteTern(),
        q.SteTern(ternary_weight_networks=True), q.DoReFa(k_bit=2),
        q.DoReFa(k_bit=3, mode="weights"),
    ]


def test_tf_function_and_xla_match_eager(tf):
    from bnnstat import quantizers as q

    x = np.random.default_rng(2).normal(size=(4, 6)).astype(np.float32)
    x[0, :4] = [0.0, 1.0, -1.0, 0.5]
    for quantizer in _all_quantizers(q):
        y_eager, g_eager = forward_and_grad(tf, quantizer, x)

        def step(v, quantizer=quantizer):
            with tf.GradientTape() as tape:
                tape.watch(v)
                y = quantizer(v)
            return y, tape.gradient(y, v, output_gradients=tf.constant(upstream(x)))

        for jit in (False, True):
            y, g = tf.function(step, jit_compile=jit)(tf.constant(x))
            np.testing.assert_allclose(np.asarray(y), y_eager, atol=1e-6, err_msg=str(quantizer))
            np.testing.assert_allclose(np.asarray(g), g_eager, atol=1e-6, err_msg=str(quantizer))


def test_keras_variable_input_eager(tf):
    """custom_gradient fails on a raw keras.Variable; quantizers must unwrap it."""
    import keras

    from bnnstat import quantizers as q

    value = np.float32([[0.3, -0.2], [0.0, 1.5]])
    variable = keras.Variable(value)
    for quantizer in _all_quantizers(q) + [q.ste_sign, q.approx_sign, q.ste_tern]:
        with tf.GradientTape() as tape:
            y = quantizer(variable)
        grad = tape.gradient(y, variable.value)
        assert grad is not None or isinstance(quantizer, q.NoOp), quantizer
        np.testing.assert_allclose(np.asarray(y), np.asarray(quantizer(value)))
    with tf.GradientTape() as tape:
        y = q.SteSign()(variable)
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, variable.value)), [[1, 1], [1, 0]])


def test_model_fit_smoke(tf):
    import keras

    from bnnstat import quantizers as q

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16),
        keras.layers.Activation("ste_sign"),
        keras.layers.Dense(16, activation=q.ApproxSign()),
        keras.layers.Activation(q.DoReFa(k_bit=2)),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mean_squared_error", jit_compile=True)
    rng = np.random.default_rng(0)
    data, target = rng.normal(size=(64, 8)), rng.normal(size=(64, 1))
    first = model.layers[0].kernel.numpy().copy()
    history = model.fit(data, target, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(first, model.layers[0].kernel.numpy())  # gradients got through


def test_large_tensors_take_the_fused_path_with_the_same_results(tf):
    """Tensors of >= _FUSE_MIN_ELEMENTS values run XLA-fused kernels; same formulas apply."""
    from bnnstat import quantizers as q

    size = q._FUSE_MIN_ELEMENTS
    rng = np.random.default_rng(3)
    x = rng.normal(scale=1.2, size=size).astype(np.float32)
    x[:8] = [0.0, 1.0, -1.0, 1 + EPS, -1 - EPS, 0.5, 1 - EPS, -0.5]
    cases = [
        (q.SteSign(), ref_sign(x), ref_ste_grad(x, 1.0)),
        (q.SteSign(clip_value=0.5), ref_sign(x), ref_ste_grad(x, 0.5)),
        (q.ApproxSign(), ref_sign(x), ref_approx_grad(x)),
        (q.SwishSign(), ref_sign(x), ref_swish_grad(x, 5.0)),
        (q.SteHeaviside(), ref_heaviside(x), ref_ste_grad(x, 1.0)),
        (q.DoReFa(k_bit=3), ref_dorefa_act(x, 3), ref_dorefa_act_grad(x)),
    ]
    for quantizer, want_y, want_grad in cases:
        check(tf, quantizer, x, want_y, want_grad, atol=1e-5, label=str(quantizer))
    w = x.reshape(512, -1)
    y, g = forward_and_grad(tf, q.DoReFa(k_bit=2, mode="weights"), w)
    np.testing.assert_allclose(y, ref_dorefa_weights(w, 2), atol=1e-6)
    # float32 tanh: tiny gradients of large |w| carry ~1e-4 relative error
    np.testing.assert_allclose(g, ref_dorefa_weights_grad(w) * upstream(w), rtol=1e-5, atol=1e-6)
