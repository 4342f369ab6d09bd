"""Forward+backward throughput of the quantizers, against a stop_gradient baseline.

    python benchmarks/quantizers.py [--size 10000000] [--repeats 15] [--larq]

With `--larq` the same measurement runs on Larq's own quantizers instead of bnnstat's, for the
Larq reference: run it with the interpreter of `benchmarks/lce_oracle/.venv` (TensorFlow 2.15,
Larq 0.14; made by `benchmarks/lce_oracle/setup.sh`), in the same session as our run, and compare
the two ratios to the baseline.

For each quantizer: y = q(x), then the gradient of sum(y * dy) with respect to x, on `size`
float32 values, eagerly, inside `tf.function`, and inside `tf.function(jit_compile=True)` (what
Keras 3 `model.fit` uses by default on TensorFlow). Prints million elements per second (median
of `repeats` interleaved timed calls after warm-up) and the ratio to the plain STE baseline
``x + stop_gradient(sign(x) - x)`` measured in the same run and mode (ratio > 1: faster than the
baseline). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402


def baseline(x: tf.Tensor) -> tf.Tensor:
    """Unclipped STE sign via the stop_gradient trick (tf.sign, so 0 maps to 0)."""
    return x + tf.stop_gradient(tf.sign(x) - x)


BASELINE = "baseline x+stop_gradient(sign(x)-x)"


def candidates(use_larq: bool) -> dict[str, Callable[[tf.Tensor], tf.Tensor]]:
    if use_larq:
        from larq import quantizers
    else:
        from bnnstat import quantizers
    return {
        BASELINE: baseline,
        "SteSign": quantizers.SteSign(),
        "ste_sign (functional)": quantizers.ste_sign,
        "ApproxSign": quantizers.ApproxSign(),
        "SwishSign": quantizers.SwishSign(),
        "DoReFa(k_bit=2)": quantizers.DoReFa(k_bit=2),
        "DoReFa(k_bit=2, weights)": quantizers.DoReFa(k_bit=2, mode="weights"),
    }


def forward_backward(fn: Callable[[tf.Tensor], tf.Tensor]) -> Callable:
    # Both outputs are returned: returning only the gradient would let the graph optimizer
    # drop the forward pass of the baseline (its gradient does not depend on it).
    def step(x: tf.Tensor, dy: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return y, tape.gradient(y, x, output_gradients=dy)

    return step


MODES = ("eager", "tf.function", "tf.function(jit_compile=True)")


def build_step(fn: Callable[[tf.Tensor], tf.Tensor], mode: str) -> Callable:
    step = forward_backward(fn)
    if mode == "eager":
        return step
    return tf.function(step, autograph=False, jit_compile=mode.endswith("(jit_compile=True)"))


def measure(steps: dict[str, Callable], x: tf.Tensor, dy: tf.Tensor, repeats: int) -> dict:
    """Median seconds per call of each step.

    Calls are interleaved (one call of every step per round) so that a noisy neighbour on the
    machine slows all candidates alike and the same-run ratios stay meaningful. TensorFlow runs
    CPU ops synchronously, so a call returns when its outputs are computed.
    """
    for step in steps.values():  # warm-up: tracing, compilation, allocator
        step(x, dy)
        step(x, dy)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step(x, dy)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--larq", action="store_true", help="measure Larq's quantizers instead")
    args = parser.parse_args()

    x = tf.random.stateless_normal((args.size,), seed=(1, 2))
    dy = tf.random.stateless_uniform((args.size,), seed=(3, 4))
    library = "larq" if args.larq else "bnnstat"
    print(f"{library} quantizers, TensorFlow {tf.__version__}, {args.size:.0e} float32 values, "
          f"forward+backward, median of {args.repeats} interleaved calls")
    for mode in MODES:
        steps = {name: build_step(fn, mode) for name, fn in candidates(args.larq).items()}
        seconds = measure(steps, x, dy, args.repeats)
        base_rate = args.size / seconds[BASELINE] / 1e6
        print(f"\n[{mode}]")
        print(f"{'quantizer':40s} {'Melem/s':>10s} {'vs baseline':>12s}")
        for name, value in seconds.items():
            rate = args.size / value / 1e6
            print(f"{name:40s} {rate:10.0f} {rate / base_rate:11.2f}x")


if __name__ == "__main__":
    main()
