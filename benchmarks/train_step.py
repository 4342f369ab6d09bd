"""Training-step time of a BinaryNet-style CNN: CaseOptimizer(Bop, Adam) and Adam vs float Keras.

Model (CIFAR-sized, batch 128 of random 32x32x3 data, 10 classes): a full-precision first
Conv2D(64), then QuantConv2D 64-128-128-256-256 (3x3, "same") with `ste_sign` inputs, max-pools
after the 2nd, 4th and 6th convolution, BatchNormalization after every layer, QuantDense(256) and
QuantDense(10) with `ste_sign` inputs, softmax. Variants, all measured in the same run:

- ``bnn_bop``:   binary kernels tagged with ``NoOp(precision=1)``, trained by
                 ``CaseOptimizer((Bop.is_binary_variable, Bop()), default_optimizer=Adam)``;
- ``bnn_adam``:  ``ste_sign`` kernels with ``weight_clip`` (latent weights), plain Adam;
- ``float``:     the same architecture from plain Keras layers (Conv2D/Dense, no quantizers),
                 plain Adam: the floor.

Each variant is compiled with and without ``jit_compile`` (XLA). After warm-up, steps of all
variants are interleaved round by round (so machine noise hits all alike) and the median time
per ``train_on_batch`` step is reported with its ratio to the float floor with the same
``jit_compile`` setting.

Usage: ``python benchmarks/train_step.py [--steps 15] [--warmup 3] [--batch 128]``
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _step_timing import interleaved_step_times, print_step_table  # noqa: E402

import bnnstat as lq  # noqa: E402

FILTERS = (64, 128, 128, 256, 256)
POOL_AFTER = {0, 2, 4}  # indices into FILTERS (the 2nd, 4th and 6th convolution overall)


def build(variant: str) -> keras.Model:
    """The benchmark CNN; `variant` is "bnn_bop", "bnn_adam" or "float"."""
    binary = variant != "float"

    def kernel_args() -> dict:
        if variant == "bnn_bop":
            return {"kernel_quantizer": lq.quantizers.NoOp(precision=1)}
        return {"kernel_quantizer": "ste_sign", "kernel_constraint": "weight_clip"}

    def conv(filters: int) -> keras.layers.Layer:
        if binary:
            return lq.layers.QuantConv2D(
                filters,
                3,
                padding="same",
                use_bias=False,
                input_quantizer="ste_sign",
                **kernel_args(),
            )
        return keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)

    def dense(units: int) -> keras.layers.Layer:
        if binary:
            return lq.layers.QuantDense(
                units, use_bias=False, input_quantizer="ste_sign", **kernel_args()
            )
        return keras.layers.Dense(units, use_bias=False)

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(64, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(momentum=0.999, scale=False)(x)
    for i, filters in enumerate(FILTERS):
        x = conv(filters)(x)
        if i in POOL_AFTER:
            x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.BatchNormalization(momentum=0.999, scale=False)(x)
    x = keras.layers.Flatten()(x)
    x = dense(256)(x)
    x = keras.layers.BatchNormalization(momentum=0.999, scale=False)(x)
    x = dense(10)(x)
    x = keras.layers.BatchNormalization(momentum=0.999, scale=False)(x)
    outputs = keras.layers.Activation("softmax")(x)
    return keras.Model(inputs, outputs, name=variant)


def optimizer_for(variant: str) -> keras.optimizers.Optimizer:
    if variant == "bnn_bop":
        return lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
            default_optimizer=keras.optimizers.Adam(0.01),
        )
    return keras.optimizers.Adam(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="measured steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps per variant")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--variants", nargs="+", default=["float", "bnn_bop", "bnn_adam"])
    parser.add_argument("--jit", nargs="+", default=["off", "on"], choices=["off", "on"])
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(args.batch,)).astype("int32")

    keras.utils.set_random_seed(0)
    models = {}
    for jit in args.jit:
        for variant in args.variants:
            model = build(variant)
            model.compile(
                optimizer=optimizer_for(variant),
                loss="sparse_categorical_crossentropy",
                jit_compile=jit == "on",
            )
            start = time.perf_counter()
            for _ in range(args.warmup):
                model.train_on_batch(x, y)
            warm = time.perf_counter() - start
            models[(variant, jit)] = model
            print(f"warm-up {variant:9s} jit={jit:3s}: {warm:6.2f} s for {args.warmup} steps")

    times = interleaved_step_times(models, x, y, args.steps)
    print_step_table(times, args.batch, args.steps, args.variants)


if __name__ == "__main__":
    main()
