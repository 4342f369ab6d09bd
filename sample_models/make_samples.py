"""Build and save the small sample models used by the README, the docs and the tests.

Run from the repository root: ``python sample_models/make_samples.py [OUTPUT_DIR]``.

Every model is built with bnnstat's own layers and quantizers from a fixed seed (weights are
random; only structure and counts matter), so re-running the script gives the same files'
contents:

- ``binarynet_mlp.h5``: a BinaryNet-style MLP for 28x28x1 inputs (Flatten, three binary
  ``QuantDense`` with ``ste_sign`` kernels clipped by ``weight_clip``, BatchNorm after each,
  softmax). As in BinaryNet, even the first and last layers are binary, which `bnnstat audit`
  points out.
- ``quicknet_small.keras``: a QuickNet-style CNN for 32x32x3 inputs that follows the guide:
  full-precision stem and head, binary 3x3 convolutions with ``ste_sign`` inputs, each followed
  by BatchNorm and a high-precision shortcut, full-precision 1x1 convolutions where the
  resolution changes. `bnnstat audit` finds nothing to report.
- ``bad_practices.h5``: a model that breaks each BNN best practice checked by `bnnstat audit`
  (BNN001-BNN011) at least once, for demos and tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

SEED = 2024
HERE = Path(__file__).resolve().parent


def binarynet_mlp(keras, lq):  # noqa: ANN001 - keras/bnnstat modules passed in
    """BinaryNet-style MLP (about 118k parameters, 1-bit kernels)."""
    binary = {"kernel_quantizer": "ste_sign", "kernel_constraint": "weight_clip", "use_bias": False}
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            keras.layers.Flatten(name="flatten"),
            lq.layers.QuantDense(128, name="dense_in", **binary),
            keras.layers.BatchNormalization(scale=False, momentum=0.9, name="bn_in"),
            lq.layers.QuantDense(128, input_quantizer="ste_sign", name="dense_hidden", **binary),
            keras.layers.BatchNormalization(scale=False, momentum=0.9, name="bn_hidden"),
            lq.layers.QuantDense(10, input_quantizer="ste_sign", name="dense_out", **binary),
            keras.layers.BatchNormalization(scale=False, momentum=0.9, name="bn_out"),
            keras.layers.Activation("softmax", name="softmax"),
        ],
        name="binarynet_mlp",
    )


def _binary_conv(lq, filters: int, name: str):  # noqa: ANN001
    return lq.layers.QuantConv2D(
        filters,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
        name=name,
    )


def quicknet_small(keras, lq):  # noqa: ANN001
    """QuickNet-style CNN: every binary conv is bypassed by a high-precision shortcut."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    for stage, filters in enumerate((16, 32, 64)):
        if stage > 0:  # resolution change: pooled full-precision 1x1 conv
            x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
            x = layers.Conv2D(filters, 1, use_bias=False, name=f"stage{stage}_proj")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"stage{stage}_proj_bn")(x)
        for block in range(2):
            prefix = f"stage{stage}_block{block}"
            y = _binary_conv(lq, filters, f"{prefix}_qconv")(x)
            y = layers.BatchNormalization(momentum=0.9, name=f"{prefix}_bn")(y)
            x = layers.Add(name=f"{prefix}_add")([x, y])
    x = layers.Activation("relu", name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dense(10, name="head_dense")(x)
    outputs = layers.Activation("softmax", name="head_softmax")(x)
    return keras.Model(inputs, outputs, name="quicknet_small")


def bad_practices(keras, lq):  # noqa: ANN001
    """Breaks every rule of `bnnstat audit` once (the code is in each layer's name)."""
    layers = keras.layers
    sign = {"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign"}
    clip = {"kernel_constraint": "weight_clip"}
    inputs = keras.Input((16, 16, 3), name="image")
    # BNN001: binary first layer
    x = lq.layers.QuantConv2D(16, 3, padding="same", kernel_quantizer="ste_sign",
                              name="bnn001_binary_first", **clip)(inputs)
    x = layers.BatchNormalization(name="bn_first")(x)
    # BNN003: binary conv straight into another conv, no BatchNorm
    x = lq.layers.QuantConv2D(16, 3, padding="same", name="bnn003_no_bn", **sign, **clip)(x)
    # BNN005: binary kernel with full-precision inputs
    x = lq.layers.QuantConv2D(16, 3, padding="same", kernel_quantizer="ste_sign",
                              name="bnn005_no_input_quantizer", **clip)(x)
    x = layers.BatchNormalization(name="bn_005")(x)
    # BNN004: max-pooling after the BatchNorm of a binary conv
    x = lq.layers.QuantConv2D(16, 3, padding="same", name="binary_conv", **sign, **clip)(x)
    x = layers.BatchNormalization(name="bn_before_pool")(x)
    x = layers.MaxPooling2D(2, name="bnn004_pool_after_bn")(x)
    # BNN006: input quantizer with a full-precision kernel
    x = lq.layers.QuantConv2D(16, 3, padding="same", input_quantizer="ste_sign",
                              name="bnn006_fp_kernel")(x)
    # BNN007: a quantizer as activation, whose output goes through BatchNorm
    x = layers.Conv2D(16, 1, activation="ste_sign", name="bnn007_sign_activation")(x)
    x = layers.BatchNormalization(name="bn_after_sign")(x)
    # BNN010: ste_heaviside (0/1) inputs on a binary layer
    x = lq.layers.QuantConv2D(16, 3, padding="same", input_quantizer="ste_heaviside",
                              kernel_quantizer="ste_sign", name="bnn010_heaviside", **clip)(x)
    x = layers.BatchNormalization(name="bn_010")(x)
    # BNN011: binary kernel without a weight constraint
    x = lq.layers.QuantConv2D(16, 3, padding="same", name="bnn011_no_constraint", **sign)(x)
    x = layers.BatchNormalization(name="bn_011")(x)
    # BNN009: binary transposed convolution
    x = lq.layers.QuantConv2DTranspose(8, 3, strides=2, padding="same", name="bnn009_transposed",
                                       **sign, **clip)(x)
    x = layers.BatchNormalization(name="bn_009")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    # BNN008 + BNN002: a binary QuantDense as the last layer
    x = lq.layers.QuantDense(10, name="bnn002_bnn008_binary_last", **sign, **clip)(x)
    outputs = layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="bad_practices")


SAMPLES = {
    "binarynet_mlp.h5": binarynet_mlp,
    "quicknet_small.keras": quicknet_small,
    "bad_practices.h5": bad_practices,
}


def build(name: str):  # noqa: ANN201
    """Build sample `name` (a key of `SAMPLES`) from the fixed seed."""
    import keras

    import bnnstat as lq

    keras.utils.set_random_seed(SEED)
    return SAMPLES[name](keras, lq)


def main(output_dir: Path = HERE) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SAMPLES:
        path = output_dir / name
        build(name).save(path)
        written.append(path)
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return written


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
