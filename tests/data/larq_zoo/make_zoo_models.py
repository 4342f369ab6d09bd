"""Remake the Larq Zoo model files of this folder with the real Larq Zoo (Keras 2).

Needs the oracle environment of `benchmarks/lce_oracle/` (larq 0.14, larq-zoo 2.4, TF 2.15):

    benchmarks/lce_oracle/.venv/bin/python tests/data/larq_zoo/make_zoo_models.py

Every larq-zoo 2.4 architecture is built with `weights=None`, a 64x64x3 input (224x224x3 where
the architecture needs it) and 10 classes, and saved by Keras 2 as HDF5 (`model.save(path,
save_format="h5")`). Only the structure matters to the tests, so each file is stored
"shape-only": the same HDF5 groups, attributes and dataset shapes, but the weight datasets are
never written (they read back as zeros). The shape-only files are packed into `zoo_models.zip`
(the configs are large JSON and compress well); `zoo_models.json` records, per model, what Keras 2
says about it (`count_params`, number of layers, input and output shapes) and whether it holds
Lambda layers. Also written: `nested_shared.h5`, a small model with a nested Sequential and a
layer shared between inputs of different shapes (full random weights), and
`nested_shared_io.npz`, two inputs and Keras 2's output for them.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import h5py
import larq as lq
import larq_zoo as lqz
import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
ARCHITECTURES = {
    "QuickNetSmall": lqz.sota.QuickNetSmall,
    "QuickNet": lqz.sota.QuickNet,
    "QuickNetLarge": lqz.sota.QuickNetLarge,
    "BiRealNet": lqz.literature.BiRealNet,
    "XNORNet": lqz.literature.XNORNet,
    "BinaryDenseNet28": lqz.literature.BinaryDenseNet28,
    "BinaryDenseNet37": lqz.literature.BinaryDenseNet37,
    "BinaryDenseNet37Dilated": lqz.literature.BinaryDenseNet37Dilated,
    "BinaryDenseNet45": lqz.literature.BinaryDenseNet45,
    "BinaryResNetE18": lqz.literature.BinaryResNetE18,
    "MeliusNet22": lqz.literature.MeliusNet22,
    "BinaryAlexNet": lqz.literature.BinaryAlexNet,
    "DoReFaNet": lqz.literature.DoReFaNet,
    "RealToBinaryNet": lqz.literature.RealToBinaryNet,
}
NEEDS_224 = {"BinaryAlexNet", "XNORNet", "DoReFaNet"}


def copy_shape_only(source: Path, target: Path) -> None:
    """Same groups, attributes and dataset shapes/dtypes as `source`; datasets left unwritten."""

    def copy_attrs(src, dst):
        for key, value in src.attrs.items():
            dst.attrs[key] = value

    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        copy_attrs(src, dst)

        def visit(name, item):
            if isinstance(item, h5py.Group):
                copy_attrs(item, dst.require_group(name))
            else:
                parent = dst.require_group(os.path.dirname(name) or "/")
                chunks = True if item.shape and 0 not in item.shape else None
                dataset = parent.create_dataset(
                    os.path.basename(name), shape=item.shape, dtype=item.dtype, chunks=chunks
                )
                copy_attrs(item, dataset)

        src.visititems(visit)
        dst.attrs["bnnstat_shape_only"] = True


def nested_shared() -> tf.keras.Model:
    """Functional model: a nested Sequential block, and one QuantConv2D + pooling shared by a
    32x32 and a 16x16 input (so the shared layer has two output shapes)."""
    block = tf.keras.Sequential(
        [
            tf.keras.layers.Conv2D(8, 3, padding="same", use_bias=False),
            tf.keras.layers.BatchNormalization(),
        ],
        name="block",
    )
    shared = lq.layers.QuantConv2D(
        8, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", use_bias=False, name="shared_bconv",
    )
    pool = tf.keras.layers.GlobalAveragePooling2D(name="shared_pool")
    big = tf.keras.Input((32, 32, 3), name="big")
    small = tf.keras.Input((16, 16, 3), name="small")
    features = [pool(shared(block(big))), pool(shared(block(small)))]
    merged = tf.keras.layers.Concatenate(name="merge")(features)
    out = tf.keras.layers.Dense(4, name="head")(merged)
    return tf.keras.Model([big, small], out, name="nested_shared")


def describe(model: tf.keras.Model) -> dict:
    return {
        "count_params": int(model.count_params()),
        "n_layers": len(model.layers),
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "lambda_layers": sorted(
            layer.name for layer in model.layers if isinstance(layer, tf.keras.layers.Lambda)
        ),
    }


def main() -> None:
    summary = {}
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(
        HERE / "zoo_models.zip", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as archive:
        for name, build in ARCHITECTURES.items():
            tf.keras.backend.clear_session()
            size = 224 if name in NEEDS_224 else 64
            model = build(input_shape=(size, size, 3), weights=None, num_classes=10)
            full = Path(scratch) / f"{name}.h5"
            model.save(full, save_format="h5", include_optimizer=False)
            small = Path(scratch) / f"{name}.small.h5"
            copy_shape_only(full, small)
            archive.write(small, f"{name}.h5")
            summary[name] = describe(model)
            print(name, model.count_params(), full.stat().st_size, small.stat().st_size)
    (HERE / "zoo_models.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    tf.keras.backend.clear_session()
    model = nested_shared()
    rng = np.random.default_rng(0)
    model.set_weights(
        [
            rng.uniform(0.5, 1.5, size=w.shape).astype("float32")
            if "variance" in w.name
            else rng.normal(size=w.shape).astype("float32")
            for w in model.weights
        ]
    )
    model.save(HERE / "nested_shared.h5", save_format="h5", include_optimizer=False)
    inputs = [rng.normal(size=(1, 32, 32, 3)), rng.normal(size=(1, 16, 16, 3))]
    np.savez(
        HERE / "nested_shared_io.npz",
        big=inputs[0].astype("float32"),
        small=inputs[1].astype("float32"),
        output=model.predict([x.astype("float32") for x in inputs], verbose=0),
    )


if __name__ == "__main__":
    main()
