"""Larq reference for ``benchmarks/train_step.py``: the same BinaryNet-style CNN step in Larq.

Measures exactly what ``benchmarks/train_step.py`` measures, but against the real Larq 0.14 on
TensorFlow 2.15 / ``tf.keras`` (Keras 2) instead of bnnstat on Keras 3, so the two outputs can be
compared side by side (run both in the same session, one after the other, on an idle machine).

Model (CIFAR-sized, batch 128 of random 32x32x3 data, 10 classes): a full-precision first
Conv2D(64), then ``larq.layers.QuantConv2D`` 64-128-128-256-256 (3x3, "same") with ``ste_sign``
inputs, max-pools after the 2nd, 4th and 6th convolution, BatchNormalization after every layer,
``larq.layers.QuantDense(256)`` and ``QuantDense(10)`` with ``ste_sign`` inputs, softmax.
Variants, all measured in the same run:

- ``bnn_bop``:   binary kernels tagged with ``larq.quantizers.NoOp(precision=1)``, trained by
                 ``larq.optimizers.CaseOptimizer((Bop.is_binary_variable, Bop()),
                 default_optimizer=tf.keras.optimizers.legacy.Adam(0.01))`` -- Larq 0.14's
                 CaseOptimizer and Bop are built on (and require) the *legacy* optimizer API;
- ``bnn_adam``:  ``ste_sign`` kernels with ``weight_clip`` (latent weights), plain Adam(0.01);
- ``float``:     the same architecture from plain ``tf.keras`` layers (Conv2D/Dense, no
                 quantizers), plain Adam(0.01): the floor.

"Plain Adam" is ``tf.keras.optimizers.Adam`` (the current Keras 2 optimizer) by default; with
``--legacy-adam`` the ``float`` and ``bnn_adam`` variants use ``tf.keras.optimizers.legacy.Adam``
instead, the same implementation the Bop variant's default optimizer has to use.

Each variant is compiled with and without ``jit_compile`` (XLA). If compiling/running a variant
with ``jit_compile=True`` fails under Larq, that combination is skipped and the failure is
printed (the table then only has the ``jit=off`` row for it). After warm-up, steps of all
variants are interleaved round by round (so machine noise hits all alike) and the median time
per ``train_on_batch`` step is reported with its ratio to the float floor with the same
``jit_compile`` setting. Output format matches ``benchmarks/train_step.py``.

Run it with the Larq oracle interpreter (made by ``benchmarks/lce_oracle/setup.sh``; it has
tensorflow-cpu 2.15.1 and larq 0.14.0, no Keras 3 and no bnnstat), from the repository root:

    benchmarks/lce_oracle/.venv/bin/python benchmarks/train_step_larq.py \
        [--steps 15] [--warmup 3] [--batch 128] [--legacy-adam]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import larq as lq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _step_timing import interleaved_step_times, print_step_table  # noqa: E402

FILTERS = (64, 128, 128, 256, 256)
POOL_AFTER = {0, 2, 4}  # indices into FILTERS (the 2nd, 4th and 6th convolution overall)


def build(variant: str) -> tf.keras.Model:
    """The benchmark CNN; `variant` is "bnn_bop", "bnn_adam" or "float"."""
    binary = variant != "float"

    def kernel_args() -> dict:
        if variant == "bnn_bop":
            return {"kernel_quantizer": lq.quantizers.NoOp(precision=1)}
        return {"kernel_quantizer": "ste_sign", "kernel_constraint": "weight_clip"}

    def conv(filters: int) -> tf.keras.layers.Layer:
        if binary:
            return lq.layers.QuantConv2D(
                filters,
                3,
                padding="same",
                use_bias=False,
                input_quantizer="ste_sign",
                **kernel_args(),
            )
        return tf.keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)

    def dense(units: int) -> tf.keras.layers.Layer:
        if binary:
            return lq.layers.QuantDense(
                units, use_bias=False, input_quantizer="ste_sign", **kernel_args()
            )
        return tf.keras.layers.Dense(units, use_bias=False)

    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(64, 3, padding="same", use_bias=False)(inputs)
    x = tf.keras.layers.BatchNormalization(momentum=0.999, scale=False)(x)
    for i, filters in enumerate(FILTERS):
        x = conv(filters)(x)
        if i in POOL_AFTER:
            x = tf.keras.layers.MaxPooling2D(2)(x)
        x = tf.keras.layers.BatchNormalization(momentum=0.999, scale=False)(x)
    x = tf.keras.layers.Flatten()(x)
    x = dense(256)(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.999, scale=False)(x)
    x = dense(10)(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.999, scale=False)(x)
    outputs = tf.keras.layers.Activation("softmax")(x)
    return tf.keras.Model(inputs, outputs, name=variant)


def optimizer_for(variant: str, legacy_adam: bool) -> tf.keras.optimizers.Optimizer:
    if variant == "bnn_bop":
        # Larq 0.14 (TF >= 2.11) subclasses tf.keras.optimizers.legacy.Optimizer and rejects
        # any other optimizer type as the default optimizer.
        return lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
            default_optimizer=tf.keras.optimizers.legacy.Adam(0.01),
        )
    if legacy_adam:
        return tf.keras.optimizers.legacy.Adam(0.01)
    return tf.keras.optimizers.Adam(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="measured steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps per variant")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--variants", nargs="+", default=["float", "bnn_bop", "bnn_adam"])
    parser.add_argument("--jit", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument(
        "--legacy-adam",
        action="store_true",
        help="use tf.keras.optimizers.legacy.Adam for float and bnn_adam too",
    )
    args = parser.parse_args()

    print(
        f"larq {lq.__version__}, tensorflow {tf.__version__}, "
        f"Adam for float/bnn_adam: {'legacy' if args.legacy_adam else 'tf.keras.optimizers.Adam'}, "
        "bnn_bop default optimizer: legacy Adam"
    )

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(args.batch,)).astype("int32")

    tf.keras.utils.set_random_seed(0)
    models = {}
    failures = []
    for jit in args.jit:
        for variant in args.variants:
            model = build(variant)
            model.compile(
                optimizer=optimizer_for(variant, args.legacy_adam),
                loss="sparse_categorical_crossentropy",
                jit_compile=jit == "on",
            )
            start = time.perf_counter()
            try:
                for _ in range(args.warmup):
                    model.train_on_batch(x, y)
            except Exception as error:  # noqa: BLE001 - report and measure the rest
                message = str(error).strip().splitlines()
                summary = f"{type(error).__name__}: {message[0] if message else ''}"[:200]
                failures.append((variant, jit, summary))
                print(f"warm-up {variant:9s} jit={jit:3s}: FAILED ({summary}); not measured")
                continue
            warm = time.perf_counter() - start
            models[(variant, jit)] = model
            print(f"warm-up {variant:9s} jit={jit:3s}: {warm:6.2f} s for {args.warmup} steps")

    times = interleaved_step_times(models, x, y, args.steps)
    print_step_table(times, args.batch, args.steps, args.variants)
    for variant, jit, summary in failures:
        print(f"not measured: {variant} jit={jit} failed under Larq: {summary}")


if __name__ == "__main__":
    main()
