"""Remake the nested-model Larq fixtures of this folder with the real Larq (run by hand only).

Needs the Keras 2 oracle environment (larq 0.14, TensorFlow 2.15); see README.md here. From
the repository root, with PY=benchmarks/lce_oracle/.venv/bin/python:

    $PY tests/data/larq_reference/make_nested_reference.py --check
    $PY tests/data/larq_reference/make_nested_reference.py

Each fixture is a model that uses another model as a layer. For each, it builds the model with
Larq (seed 0), saves `NAME.h5`, reloads it with `tf.keras.models.load_model(path,
compile=False)` and writes `NAME.txt`, the exact text `larq.models.summary` prints for the
reloaded model (it must equal the text for the model before saving). `--check` builds into a
temporary folder and compares every `.txt` byte for byte with the committed one (exit 1 on a
difference); the `.h5` files are not compared (only their structure matters).

Not run by the tests or CI: it needs TensorFlow 2.15 with Keras 2, which the project does not use.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 0
layers = tf.keras.layers
BINARY = {
    "input_quantizer": "ste_sign",
    "kernel_quantizer": "ste_sign",
    "kernel_constraint": "weight_clip",
    "use_bias": False,
}


def nested_sequential() -> tf.keras.Model:
    """`Sequential` CNN with a `Sequential` block of two binary convs, each followed by BN."""
    block = tf.keras.Sequential(
        [
            lq.layers.QuantConv2D(16, 3, padding="same", name="block_conv_1", **BINARY),
            layers.BatchNormalization(momentum=0.9, scale=False, name="block_bn_1"),
            lq.layers.QuantConv2D(16, 3, name="block_conv_2", **BINARY),
            layers.BatchNormalization(name="block_bn_2"),
        ],
        name="inner_seq",
    )
    return tf.keras.Sequential(
        [
            layers.Conv2D(8, 3, input_shape=(16, 16, 3), use_bias=False, name="conv"),
            layers.BatchNormalization(name="bn"),
            block,
            layers.GlobalAveragePooling2D(name="pool"),
            lq.layers.QuantDense(10, name="quant_dense", **BINARY),
            layers.BatchNormalization(name="dense_bn"),
            layers.Activation("softmax", name="softmax"),
        ],
        name="outer_seq",
    )


def nested_functional() -> tf.keras.Model:
    """Functional model whose first block is a functional model (its first layer is its
    `InputLayer`): a conv with a binary kernel and float input, BN, max pooling."""
    inputs = tf.keras.Input((8, 8, 4), name="block_input")
    x = lq.layers.QuantConv2D(
        8, 3, padding="same", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
        use_bias=False, name="block_conv",
    )(inputs)
    x = layers.BatchNormalization(name="block_bn")(x)
    x = layers.MaxPool2D(name="block_pool")(x)
    block = tf.keras.Model(inputs, x, name="inner_func")
    image = tf.keras.Input((8, 8, 4), name="img")
    y = layers.Flatten(name="flatten")(block(image))
    y = lq.layers.QuantDense(
        5, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", name="quant_dense",
    )(y)
    y = layers.BatchNormalization(scale=False, name="dense_bn")(y)
    return tf.keras.Model(image, y, name="outer_func")


def nested_input_quantizer() -> tf.keras.Model:
    """Functional model around a `Sequential` MLP whose first layer has an input quantizer (so
    the nested row's input precision is 1) and whose last binary layer has a bias."""
    block = tf.keras.Sequential(
        [
            lq.layers.QuantDense(32, input_shape=(20,), name="block_dense_1", **BINARY),
            layers.BatchNormalization(name="block_bn"),
            lq.layers.QuantDense(
                16, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip", name="block_dense_2",
            ),
        ],
        name="inner_iq",
    )
    inputs = tf.keras.Input((20,), name="features")
    y = layers.BatchNormalization(name="bn")(block(inputs))
    y = layers.Dense(3, name="head")(y)
    return tf.keras.Model(inputs, y, name="outer_iq")


FIXTURES = {
    "nested_sequential": nested_sequential,
    "nested_functional": nested_functional,
    "nested_input_quantizer": nested_input_quantizer,
}


def summary_text(model: tf.keras.Model) -> str:
    """Exactly what `larq.models.summary(model)` prints."""
    lines: list[str] = []
    lq.models.summary(model, print_fn=lines.append)
    return "".join(line + "\n" for line in lines)


def make(name: str, out: Path) -> None:
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(SEED)
    model = FIXTURES[name]()
    path = out / f"{name}.h5"
    model.save(path)
    reloaded = tf.keras.models.load_model(path, compile=False)
    text = summary_text(reloaded)
    if text != summary_text(model):
        raise SystemExit(f"{name}: summary of the reloaded file differs from the model's")
    (out / f"{name}.txt").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare a fresh build, write nothing")
    args = parser.parse_args(argv)
    if not args.check:
        for name in FIXTURES:
            make(name, HERE)
        return 0
    differences = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in FIXTURES:
            make(name, Path(tmp))
            if (Path(tmp) / f"{name}.txt").read_bytes() != (HERE / f"{name}.txt").read_bytes():
                differences.append(f"{name}.txt")
    print("differences: " + (", ".join(differences) or "none"))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
