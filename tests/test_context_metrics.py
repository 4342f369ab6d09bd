"""bnnstat.context scopes and the FlipRatio metric (also through quantizers and model.fit)."""

from __future__ import annotations

import numpy as np
import pytest


def test_quantized_scope_nesting_and_restore():
    from bnnstat import context

    assert context.should_quantize() is False
    with context.quantized_scope(True) as value:
        assert value is True and context.should_quantize() is True
        with context.quantized_scope(False):
            assert context.should_quantize() is False
        assert context.should_quantize() is True
    assert context.should_quantize() is False
    with pytest.raises(RuntimeError), context.quantized_scope(True):
        raise RuntimeError("boom")
    assert context.should_quantize() is False


def test_quantized_scope_is_thread_local():
    import threading

    from bnnstat import context

    seen = []
    with context.quantized_scope(True):
        thread = threading.Thread(target=lambda: seen.append(context.should_quantize()))
        thread.start()
        thread.join()
    assert seen == [False]


def test_metrics_scope():
    from bnnstat import context

    assert context.get_training_metrics() == set()
    with context.metrics_scope(["flip_ratio"]) as metrics:
        assert metrics == {"flip_ratio"}
        assert context.get_training_metrics() is metrics
    assert context.get_training_metrics() == set()
    with pytest.raises(ValueError, match="Unknown training metric"), context.metrics_scope(
        ["accuracy"]
    ):
        pass
    live = context.get_training_metrics()
    live.add("flip_ratio")
    assert "flip_ratio" in context.get_training_metrics()
    live.clear()


def test_flip_ratio_documented_example(tf):
    from bnnstat.metrics import FlipRatio

    metric = FlipRatio()
    metric.update_state((1, 1))
    assert float(metric.result()) == 0.0  # first call only stores the values
    metric.update_state((2, 2))
    assert float(metric.result()) == pytest.approx(1.0)
    metric.update_state((1, 2))
    assert float(metric.result()) == pytest.approx(0.75)


def test_flip_ratio_sign_flips_and_reset(tf):
    from bnnstat.metrics import FlipRatio

    metric = FlipRatio(name="flips")
    a = np.array([1, -1, 1, -1, 1, -1, 1, -1], np.float32)
    b = a.copy()
    b[:2] *= -1  # 2 of 8 flipped
    metric.update_state(a)
    metric.update_state(b)
    assert float(metric.result()) == pytest.approx(0.25)
    metric.update_state(b)  # nothing flipped
    assert float(metric.result()) == pytest.approx(0.125)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    metric.update_state(a)  # counted from scratch: first update after reset is excluded
    metric.update_state(a)
    assert float(metric.result()) == 0.0
    assert metric.get_config()["values_dtype"] == "int8"


def test_quantizer_flip_ratio_metric(tf):
    from bnnstat import quantizers

    quantizer = quantizers.SteSign(metrics=["flip_ratio"])
    x = np.array([[0.5, -0.5], [0.2, -0.2]], np.float32)
    quantizer(x)
    quantizer(-x)
    assert quantizer.flip_ratio.name == f"flip_ratio/{quantizer.name}"
    assert float(quantizer.flip_ratio.result()) == pytest.approx(1.0)
    assert quantizer.flip_ratio in quantizer.metrics
    assert quantizer.weights == []  # metric state is not a layer weight


def test_get_kernel_quantizer_uses_metrics_scope(tf):
    from bnnstat import context, quantizers

    with context.metrics_scope(["flip_ratio"]):
        scoped = quantizers.get_kernel_quantizer("ste_sign")
    assert scoped._custom_metrics == ["flip_ratio"]
    assert quantizers.get_kernel_quantizer("ste_sign")._custom_metrics == []
    own = quantizers.get_kernel_quantizer(quantizers.SteSign(metrics=[]))
    assert own._custom_metrics == []


def test_flip_ratio_in_model_fit(tf):
    import keras

    from bnnstat import quantizers

    class KernelQuantized(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.kernel_quantizer = quantizers.SteSign(metrics=["flip_ratio"])

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 4), initializer="glorot_uniform")

        def call(self, inputs):
            return inputs @ self.kernel_quantizer(self.kernel)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), KernelQuantized()])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mean_squared_error",
                  jit_compile=True)
    rng = np.random.default_rng(0)
    history = model.fit(rng.normal(size=(64, 8)), rng.normal(size=(64, 4)), epochs=2,
                        batch_size=16, verbose=0)
    name = f"flip_ratio/{model.layers[0].kernel_quantizer.name}"
    assert name in history.history
    ratios = history.history[name]
    assert all(0.0 < r <= 1.0 for r in ratios)  # large learning rate: some signs flip
