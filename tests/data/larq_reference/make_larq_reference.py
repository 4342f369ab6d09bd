"""Remake the Larq reference fixtures of this folder with the real Larq (run by hand only).

Needs the Keras 2 oracle environment (larq 0.14, TensorFlow 2.15); see README.md here:

    benchmarks/lce_oracle/.venv/bin/python tests/data/larq_reference/make_larq_reference.py --check
    benchmarks/lce_oracle/.venv/bin/python tests/data/larq_reference/make_larq_reference.py

For each fixture it builds the model with Larq, saves it as `NAME.h5`, reloads it with
`tf.keras.models.load_model(path, compile=False)` and writes `NAME.txt` (the text
`larq.models.summary` prints for the reloaded model) and `NAME.json` (the numbers behind that
text, read from Larq's own `ModelProfile`/`LayerProfile`/`WeightProfile` objects), then
`index.json`.

`--check` builds everything in a temporary folder (or `--out`) and compares it with the committed
files: every `.txt` byte for byte, every `.json` field for field except the ones that depend on
the random weight bytes (`.h5` size and sha256). Without `--check`, writing into this folder only
happens when that comparison finds no difference (or with `--force`).

Not run by the tests or CI: it needs TensorFlow 2.15 with Keras 2, which the project does not use.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import larq as lq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from larq import models as lq_models  # noqa: E402
from larq.quantized_variable import QuantizedVariable  # noqa: E402

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 1
SEED = 0
SUMMARY_SOURCE = "larq.models.summary() of tf.keras.models.load_model(file, compile=False)"
# Fields that depend on the random weight bytes of the `.h5`, not on the model.
VOLATILE_KEYS = {"sha256", "bytes", "file_bytes"}

layers = tf.keras.layers


# ----------------------------------------------------------------------------- the four models


def binarynet_mlp() -> tf.keras.Model:
    """BinaryNet-style MLP: full-precision input to the first binary layer, binary after."""

    def block(units: int, index: int, input_quantizer: str | None) -> list:
        return [
            lq.layers.QuantDense(
                units,
                input_quantizer=input_quantizer,
                kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip",
                use_bias=False,
                name=f"quant_dense_{index}",
            ),
            layers.BatchNormalization(momentum=0.999, scale=False, name=f"bn_{index}"),
        ]

    return tf.keras.Sequential(
        [
            layers.Flatten(input_shape=(28, 28, 1), name="flatten"),
            *block(256, 1, None),
            *block(256, 2, "ste_sign"),
            *block(10, 3, "ste_sign"),
            layers.Activation("softmax", name="softmax"),
        ],
        name="binarynet_mlp",
    )


def binary_cnn_cifar() -> tf.keras.Model:
    """Functional CNN: full-precision first conv and last dense, every binary conv kind between."""
    binary = {"input_quantizer": "ste_sign", "use_bias": False}
    image = tf.keras.Input(shape=(32, 32, 3), name="image")
    x = layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv_fp")(image)
    x = layers.BatchNormalization(name="bn_0")(x)
    x = lq.layers.QuantConv2D(
        64,
        3,
        padding="same",
        pad_values=1.0,
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        name="qconv_1",
        **binary,
    )(x)
    x = layers.BatchNormalization(momentum=0.9, name="bn_1")(x)
    x = layers.MaxPool2D(2, name="maxpool_1")(x)
    x = lq.layers.QuantDepthwiseConv2D(
        3,
        padding="same",
        pad_values=1.0,
        depthwise_quantizer="ste_sign",
        depthwise_constraint="weight_clip",
        name="qdwconv_2",
        **binary,
    )(x)
    x = layers.BatchNormalization(scale=False, name="bn_2")(x)
    x = lq.layers.QuantSeparableConv2D(
        128,
        3,
        padding="same",
        depthwise_quantizer="ste_sign",
        pointwise_quantizer="ste_sign",
        depthwise_constraint="weight_clip",
        pointwise_constraint="weight_clip",
        name="qsepconv_3",
        **binary,
    )(x)
    x = layers.BatchNormalization(scale=False, name="bn_3")(x)
    x = layers.AveragePooling2D(2, name="avgpool_3")(x)
    x = lq.layers.QuantConv2D(
        128,
        3,
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        name="qconv_4",
        **binary,
    )(x)
    x = layers.BatchNormalization(scale=False, name="bn_4")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(10, name="dense_fp")(x)
    outputs = layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(image, outputs, name="binary_cnn_cifar")


def bop_noop_cnn() -> tf.keras.Model:
    """CNN whose binary kernels are `NoOp(precision=1)`: Bop trains them, no latent quantizer.

    The three binary layers share one `NoOp` instance, as the committed file records (one
    quantizer name and one build shape in all three configs).
    """
    noop = lq.quantizers.NoOp(precision=1)

    def binary(layer, *args, **kwargs):
        return layer(
            *args, input_quantizer="ste_sign", kernel_quantizer=noop, use_bias=False, **kwargs
        )

    return tf.keras.Sequential(
        [
            layers.Conv2D(16, 3, use_bias=False, input_shape=(28, 28, 1), name="conv_fp"),
            layers.BatchNormalization(name="bn_0"),
            binary(lq.layers.QuantConv2D, 32, 3, name="qconv_bop_1"),
            layers.BatchNormalization(name="bn_1"),
            layers.MaxPool2D(2, name="maxpool_1"),
            binary(lq.layers.QuantConv2D, 64, 3, name="qconv_bop_2"),
            layers.BatchNormalization(name="bn_2"),
            layers.MaxPool2D(2, name="maxpool_2"),
            layers.Flatten(name="flatten"),
            binary(lq.layers.QuantDense, 10, name="qdense_bop_3"),
            layers.BatchNormalization(name="bn_3"),
            layers.Activation("softmax", name="softmax"),
        ],
        name="bop_noop_cnn",
    )


def train_bop_noop_cnn(model: tf.keras.Model) -> None:
    """Compile with `CaseOptimizer(Bop, Adam)` and train 3 steps on random data."""
    model.compile(
        optimizer=lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
            default_optimizer=tf.keras.optimizers.legacy.Adam(0.01),
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((3 * 8, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=(3 * 8,))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)


def ternary_kbit_conv1d() -> tf.keras.Model:
    """1-D model mixing 1-, 2-, 4- and 32-bit weights and inputs.

    Layers are made one at a time because Keras numbers quantizer names in creation order and
    the committed configs record those names: Larq resolves a string kernel quantizer before a
    string input quantizer, and the quantizer objects here are made input first.
    """
    model = tf.keras.Sequential(name="ternary_kbit_conv1d")
    model.add(
        lq.layers.QuantConv1D(
            16,
            5,
            padding="same",
            kernel_quantizer="ste_tern",
            use_bias=False,
            input_shape=(64, 4),
            name="qconv1d_tern",
        )
    )
    model.add(layers.BatchNormalization(name="bn_1"))
    model.add(
        lq.layers.QuantConv1D(
            32,
            3,
            padding="same",
            pad_values=1.0,
            input_quantizer=lq.quantizers.DoReFa(k_bit=2, mode="activations"),
            kernel_quantizer=lq.quantizers.DoReFa(k_bit=2, mode="weights"),
            name="qconv1d_dorefa2",
        )
    )
    model.add(layers.MaxPool1D(2, name="maxpool1d"))
    model.add(
        lq.layers.QuantConv1D(
            32,
            3,
            input_quantizer=lq.quantizers.SteTern(),
            kernel_quantizer=lq.quantizers.SteTern(ternary_weight_networks=True),
            use_bias=False,
            name="qconv1d_tern_tern",
        )
    )
    model.add(layers.AveragePooling1D(2, name="avgpool1d"))
    model.add(layers.Flatten(name="flatten"))
    model.add(
        lq.layers.QuantDense(
            16,
            input_quantizer=lq.quantizers.DoReFa(k_bit=4, mode="activations"),
            kernel_quantizer=lq.quantizers.DoReFa(k_bit=4, mode="weights"),
            name="qdense_dorefa4",
        )
    )
    model.add(
        lq.layers.QuantDense(
            3,
            input_quantizer="ste_sign",
            kernel_quantizer="ste_sign",
            kernel_constraint="weight_clip",
            name="qdense_binary",
        )
    )
    return model


# name -> (builder, training step or None, "trained_with" text)
FIXTURES = {
    "binarynet_mlp": (binarynet_mlp, None, None),
    "binary_cnn_cifar": (binary_cnn_cifar, None, None),
    "bop_noop_cnn": (bop_noop_cnn, train_bop_noop_cnn, "CaseOptimizer(Bop, Adam) 3 steps"),
    "ternary_kbit_conv1d": (ternary_kbit_conv1d, None, None),
}


# ----------------------------------------------------------------------------- Larq's numbers


def versions() -> dict:
    def dist(name: str) -> str:
        return importlib.metadata.version(name)

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": dist("keras"),
        "larq": dist("larq"),
        "numpy": np.__version__,
        "h5py": dist("h5py"),
        "larq_zoo": dist("larq-zoo"),
    }


def summary_text(model: tf.keras.Model) -> str:
    """Exactly what `larq.models.summary(model)` prints."""
    lines: list[str] = []
    lq.models.summary(model, print_fn=lines.append)
    return "".join(line + "\n" for line in lines)


def sanitize(row) -> list[str]:
    """A table row as Larq prints it (floats with 2 decimals, everything a string)."""
    return list(lq_models.sanitize_table([row])[0])


def shape_list(shape) -> list | None:
    return None if shape is None else [None if d is None else int(d) for d in shape]


def weight_record(profile: lq_models.WeightProfile) -> dict:
    weight = profile._weight
    return {
        "name": weight.name,
        "shape": shape_list(weight.shape.as_list()),
        "count": profile.count,
        "bitwidth": profile.bitwidth,
        "trainable": profile.trainable,
        "is_bias": profile.is_bias(),
        "is_quantized_variable": isinstance(weight, QuantizedVariable),
        "memory_bits": profile.memory,
        "int8_fp_weights_memory_bits": profile.int8_fp_weights_memory,
        "fp_equivalent_memory_bits": profile.fp_equivalent_memory,
    }


def counts(profile, bitwidths, precisions) -> dict:
    """Params, memory and MACs of a layer or model profile, keyed by the model's columns."""
    return {
        "params_total": profile.weight_count(),
        "params_trainable": profile.weight_count(trainable=True),
        "params_non_trainable": profile.weight_count(trainable=False),
        "params_by_bitwidth": {str(b): profile.weight_count(b) for b in bitwidths},
        "memory_bits": profile.memory,
        "memory_kB": profile.memory / 8192,
        "int8_fp_weights_memory_bits": profile.int8_fp_weights_memory,
        "fp_equivalent_memory_bits": profile.fp_equivalent_memory,
        "macs_total": profile.op_count("mac"),
        "macs_by_precision": {str(p): profile.op_count("mac", p) for p in precisions},
    }


def layer_record(profile, table_config: dict) -> dict:
    bitwidths = table_config["param_bidtwidths"]
    precisions = table_config["mac_precisions"]
    if isinstance(profile, lq_models.ModelProfile):
        return {
            "name": profile.name,
            "is_nested_model": True,
            "input_precision": profile.input_precision,
            "output_shape": shape_list(profile.output_shape),
            "output_shape_str": profile.output_shape_str,
            **counts(profile, bitwidths, precisions),
            "table_row": sanitize(profile.generate_table_row(table_config)),
            "layers": [layer_record(lp, table_config) for lp in profile.layer_profiles],
        }
    layer = profile._layer
    config = layer.get_config()
    record = {
        "name": profile.name,
        "is_nested_model": False,
        "class_name": type(layer).__name__,
        "larq_mac_containing_layer": isinstance(layer, lq_models.mac_containing_layers),
        "larq_op_count_supported_layer": isinstance(
            layer, lq_models.op_count_supported_layer_types
        ),
        "quantizer_config": {
            key: value
            for key, value in config.items()
            if key.endswith("_quantizer") or key == "pad_values"
        },
        "all_weight_names": [w.name for w in layer.weights],
        "weights": [weight_record(p) for p in profile.weight_profiles],
        "op_profiles": [
            {"n": op.n, "precision": op.precision, "op_type": op.op_type}
            for op in profile.op_profiles
        ],
        "input_precision": profile.input_precision,
        "output_shape": shape_list(profile.output_shape),
        "output_shape_str": profile.output_shape_str,
        "output_pixels": profile.output_pixels,
        "unique_param_bitwidths": list(profile.unique_param_bidtwidths),
        "unique_op_precisions": list(profile.unique_op_precisions),
        **counts(profile, bitwidths, precisions),
        "table_row": sanitize(profile.generate_table_row(table_config)),
    }
    return record


def model_record(model: tf.keras.Model) -> dict:
    profile = lq_models.ModelProfile(model)
    bitwidths = list(profile.unique_param_bidtwidths)
    precisions = list(profile.unique_op_precisions)
    # The same table configuration `ModelProfile.generate_table()` builds for itself.
    table_config = {
        "param_bidtwidths": bitwidths,
        "mac_precisions": precisions,
        "param_units": 1,
        "memory_units": 8 * 1024,
        "mac_units": 1,
    }
    macs_total = profile.op_count("mac")
    totals = counts(profile, bitwidths, precisions)
    totals = {
        **{k: v for k, v in totals.items() if not k.startswith("macs_")},
        "model_size_str": lq.utils.memory_as_readable_str(profile.memory),
        "model_size_int8_fp_weights_str": lq.utils.memory_as_readable_str(
            profile.int8_fp_weights_memory
        ),
        "fp32_equivalent_str": lq.utils.memory_as_readable_str(profile.fp_equivalent_memory),
        "compression_ratio": profile.memory / max(1e-8, profile.fp_equivalent_memory),
        "macs_total": macs_total,
        "macs_by_precision": totals["macs_by_precision"],
        "binarization_ratio": profile.op_count("mac", 1) / max(1, macs_total),
        "ternarization_ratio": profile.op_count("mac", 2) / max(1, macs_total),
    }

    def n_params(weights) -> int:
        return int(sum(tf.keras.backend.count_params(w) for w in weights))

    return {
        "name": model.name,
        "model_class": type(model).__name__,
        "unique_param_bitwidths": bitwidths,
        "unique_op_precisions": precisions,
        "table": [list(r) for r in lq_models.sanitize_table(profile.generate_table())],
        "summary_rows": [list(r) for r in lq_models.sanitize_table(profile.generate_summary())],
        "totals": totals,
        "keras": {
            "count_params": model.count_params(),
            "n_layers": len(model.layers),
            "trainable_params": n_params(model.trainable_weights),
            "non_trainable_params": n_params(model.non_trainable_weights),
            "input_shape": shape_list(model.input_shape),
            "output_shape": shape_list(model.output_shape),
        },
        "layers": [layer_record(lp, table_config) for lp in profile.layer_profiles],
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_fixture(name: str, out: Path, env: dict) -> dict:
    """Build, save, reload and describe one fixture; returns its `index.json` entry."""
    builder, train, trained_with = FIXTURES[name]
    tf.keras.backend.clear_session()  # restarts Keras' layer/quantizer name counters
    tf.keras.utils.set_random_seed(SEED)
    model = builder()
    if train is not None:
        train(model)
    include_optimizer = train is not None
    h5 = out / f"{name}.h5"
    model.save(h5, save_format="h5", include_optimizer=include_optimizer)
    in_memory_text = summary_text(model)

    reloaded = tf.keras.models.load_model(h5, compile=False)
    text = summary_text(reloaded)
    record = model_record(reloaded)
    (out / f"{name}.txt").write_text(text)
    document = {
        "schema_version": SCHEMA_VERSION,
        "reference_of": name,
        "file": {
            "name": h5.name,
            "bytes": h5.stat().st_size,
            "sha256": sha256(h5),
            "saved_with": (
                f"model.save(path, save_format='h5', include_optimizer={include_optimizer})"
            ),
        },
        "summary_source": SUMMARY_SOURCE,
        "reload_error": None,
        "summary_matches_in_memory_model": text == in_memory_text,
        "load_notes": [],
        "versions": env,
        "origin": "fixture",
        "trained_with": trained_with,
        "model": record,
    }
    write_json(out / f"{name}.json", document)
    totals = record["totals"]
    return {
        "file_bytes": document["file"]["bytes"],
        "sha256": document["file"]["sha256"],
        "count_params": record["keras"]["count_params"],
        "params_by_bitwidth": totals["params_by_bitwidth"],
        "macs_total": totals["macs_total"],
        "macs_by_precision": totals["macs_by_precision"],
        "include_optimizer": include_optimizer,
    }


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


def make_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    env = versions()
    index = {"versions": env, "fixtures": {}}
    for name in FIXTURES:
        print(f"making {name}", file=sys.stderr)
        index["fixtures"][name] = make_fixture(name, out, env)
    write_json(out / "index.json", index)


# ----------------------------------------------------------------------------- comparison


def json_differences(old, new, path: str = "") -> list[str]:
    """Paths where two JSON values differ, ignoring the weight-byte fields (VOLATILE_KEYS)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in list(old) + [k for k in new if k not in old]:
            if key in VOLATILE_KEYS:
                continue
            where = f"{path}.{key}" if path else key
            if key not in old or key not in new:
                found.append(f"{where}: only in {'new' if key in new else 'committed'}")
            else:
                found += json_differences(old[key], new[key], where)
        if list(old) != list(new):
            found.append(f"{path or '<top>'}: key order differs")
        return found
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{path}: {len(old)} items committed, {len(new)} made"]
        found = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found += json_differences(a, b, f"{path}[{i}]")
        return found
    if type(old) is not type(new) or old != new:
        return [f"{path}: committed {old!r}, made {new!r}"]
    return []


def compare(committed: Path, made: Path) -> list[str]:
    """Every difference between the committed fixtures and a fresh build, as readable lines."""
    found = []
    for name in FIXTURES:
        old_txt, new_txt = committed / f"{name}.txt", made / f"{name}.txt"
        if old_txt.read_bytes() != new_txt.read_bytes():
            found.append(f"{name}.txt: text differs")
        old = json.loads((committed / f"{name}.json").read_text())
        new = json.loads((made / f"{name}.json").read_text())
        found += [f"{name}.json {d}" for d in json_differences(old, new)]
    old = json.loads((committed / "index.json").read_text())
    new = json.loads((made / "index.json").read_text())
    found += [f"index.json {d}" for d in json_differences(old, new)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="output folder (default: this script's folder)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="build into a temporary folder (or --out) and compare with the committed fixtures",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into this folder even when the fresh build differs from the committed one",
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    into_committed = out == HERE

    with tempfile.TemporaryDirectory(prefix="larq_reference_") as tmp:
        build = Path(tmp) if into_committed else out
        make_all(build)
        if not (args.check or into_committed):
            print(f"wrote the fixtures to {out}")
            return 0
        differences = compare(HERE, build)
        for line in differences:
            print(line)
        same_files = [
            name
            for name in FIXTURES
            if (HERE / f"{name}.h5").read_bytes() == (build / f"{name}.h5").read_bytes()
        ]
        print(
            f"{len(differences)} difference(s) in counted fields; "
            f".h5 byte-identical: {', '.join(same_files) or 'none'}"
        )
        if args.check:
            return 1 if differences else 0
        if differences and not args.force:
            print("not overwriting the committed fixtures (use --force to replace them)")
            return 1
        for path in sorted(build.iterdir()):
            shutil.copyfile(path, out / path.name)
        print(f"wrote the fixtures to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
