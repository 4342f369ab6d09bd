"""Ground truth for `bnnstat.inspect.lce`: build probe models with the real Larq, convert them
with Larq Compute Engine, and record what the `.tflite` really weighs.

NOT run by CI or the tests. Set up the environment once with `benchmarks/lce_oracle/setup.sh`, then:

    benchmarks/lce_oracle/.venv/bin/python benchmarks/lce_oracle/make_probes.py [NAME ...]

For every probe it writes `tests/data/lce/NAME.h5` (the model as Larq saves it, Keras 2 HDF5) and
an entry in `tests/data/lce/measured.json`: the `.tflite` size from
`larq_compute_engine.convert_keras_model(model)` with default arguments, and every op with its
constant inputs (shape, dtype, bytes). Files bigger than `SHAPE_ONLY_ABOVE` are committed as a
"shape-only" copy: the same groups, attributes and datasets, but the weight datasets are chunked
and never written, so they cost no space; a static reader only needs their shapes.

All weights are random (seeded): an untrained model has identical constant vectors (BN gamma = 1,
beta = 0, ...) that the converter stores once, while a trained model does not.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import h5py
import larq as lq
import larq_compute_engine as lce
import numpy as np
import tensorflow as tf
import tflite

HERE = Path(__file__).resolve().parent
OUT = HERE.parent.parent / "tests" / "data" / "lce"
SHAPE_ONLY_ABOVE = 100_000  # bytes of .h5
K = tf.keras.layers

PROBES: dict[str, tuple[str, object]] = {}


def probe(description: str):
    def register(builder):
        PROBES[builder.__name__] = (description, builder)
        return builder

    return register


def bconv(filters, kernel=3, **kwargs):
    """A packable binary conv: ste_sign input and kernel."""
    options = dict(
        padding="same",
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
    )
    options.update(kwargs)
    return lq.layers.QuantConv2D(filters, kernel, **options)


def seq(input_shape, *layers, name=None):
    inputs = tf.keras.Input(input_shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return tf.keras.Model(inputs, x, name=name)


# ---------------------------------------------------------------- rule 1: packed binary conv
@probe("QuantConv2D 64->64 3x3, C_in multiple of 32: packed")
def bconv_c64():
    return seq((8, 8, 64), bconv(64))


@probe("QuantConv2D 48->64 3x3, C_in not a multiple of 32: packed with padding words")
def bconv_c48():
    return seq((8, 8, 48), bconv(64))


@probe("QuantConv2D 64->40, C_out not a multiple of 32: not padded")
def bconv_cout40():
    return seq((8, 8, 64), bconv(40))


@probe("QuantConv2D pad_values=0")
def bconv_pad0():
    return seq((8, 8, 64), bconv(64, pad_values=0.0))


@probe("QuantConv2D padding=valid")
def bconv_valid():
    return seq((8, 8, 64), bconv(64, padding="valid"))


@probe("QuantConv2D strided")
def bconv_strided():
    return seq((8, 8, 64), bconv(64, strides=2))


@probe("QuantConv2D dilated")
def bconv_dilated():
    return seq((8, 8, 64), bconv(64, dilation_rate=2))


@probe("QuantConv2D 1x1")
def bconv_1x1():
    return seq((8, 8, 128), bconv(128, 1))


@probe("QuantConv2D grouped (groups=2)")
def bconv_grouped():
    return seq((8, 8, 128), bconv(128, groups=2))


@probe("QuantConv2D with bias")
def bconv_bias():
    return seq((8, 8, 64), bconv(64, use_bias=True))


@probe("QuantConv2D approx_sign input, magnitude_aware_sign kernel")
def bconv_approx_magnitude():
    return seq(
        (8, 8, 64),
        bconv(64, input_quantizer="approx_sign", kernel_quantizer="magnitude_aware_sign"),
    )


@probe("QuantConv2D swish_sign input and kernel")
def bconv_swish():
    return seq(
        (8, 8, 64),
        bconv(64, input_quantizer="swish_sign", kernel_quantizer="swish_sign"),
    )


@probe("QuantConv2D with the Larq Zoo xnor_weight_scale kernel quantizer")
def bconv_xnor_scale():
    from larq_zoo.literature.xnornet import xnor_weight_scale

    return seq((8, 8, 64), bconv(64, kernel_quantizer=xnor_weight_scale))


# ---------------------------------------------------------------- rule 2: BN after binary conv
@probe("QuantConv2D -> BN (last layer): multiplier and bias")
def bconv_bn():
    return seq((8, 8, 64), bconv(64), K.BatchNormalization())


@probe("QuantConv2D -> BN -> QuantConv2D: the first BN becomes a threshold")
def bconv_bn_bconv():
    return seq((8, 8, 64), bconv(64), K.BatchNormalization(), bconv(64), K.BatchNormalization())


@probe("clean packed model: binary convs, BN, pooling, all C multiples of 32")
def clean_packed():
    return seq(
        (16, 16, 64),
        bconv(64),
        K.BatchNormalization(),
        bconv(64),
        K.BatchNormalization(),
        K.MaxPool2D(),
        bconv(128),
        K.BatchNormalization(),
        K.GlobalAveragePooling2D(),
    )


# ---------------------------------------------------------------- rule 3: stored as float32
def qdense(units, **kwargs):
    options = dict(
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
    )
    options.update(kwargs)
    return lq.layers.QuantDense(units, **options)


@probe("binary QuantDense (binary input): float32")
def qdense_binary():
    return seq((256,), qdense(64))


@probe("QuantDense binary kernel, float input: float32")
def qdense_float_input():
    return seq((256,), qdense(64, input_quantizer=None))


@probe("binary QuantDense -> BN")
def qdense_bn():
    return seq((256,), qdense(64), K.BatchNormalization())


@probe("binary QuantDepthwiseConv2D: float32")
def depthwise_binary():
    return seq(
        (8, 8, 64),
        lq.layers.QuantDepthwiseConv2D(
            3,
            padding="same",
            input_quantizer="ste_sign",
            depthwise_quantizer="ste_sign",
            use_bias=False,
        ),
    )


@probe("binary QuantSeparableConv2D: float depthwise + float pointwise")
def separable_binary():
    return seq(
        (8, 8, 64),
        lq.layers.QuantSeparableConv2D(
            64,
            3,
            padding="same",
            input_quantizer="ste_sign",
            depthwise_quantizer="ste_sign",
            pointwise_quantizer="ste_sign",
            use_bias=False,
        ),
    )


@probe("binary QuantConv1D: float32 2-D conv between reshapes")
def conv1d_binary():
    return seq(
        (32, 64),
        lq.layers.QuantConv1D(
            64,
            3,
            padding="same",
            input_quantizer="ste_sign",
            kernel_quantizer="ste_sign",
            use_bias=False,
        ),
    )


@probe("binary QuantConv2DTranspose: float32")
def transposed_binary():
    return seq(
        (8, 8, 64),
        lq.layers.QuantConv2DTranspose(
            64, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
            use_bias=False,
        ),
    )


@probe("binary QuantConv3D: float32")
def conv3d_binary():
    return seq(
        (4, 4, 4, 32),
        lq.layers.QuantConv3D(
            32, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
            use_bias=False,
        ),
    )


@probe("binary QuantConv2D channels_first: float32 between transposes")
def channels_first_binary():
    return seq((64, 8, 8), bconv(64, data_format="channels_first"))


@probe("binary kernel, no input quantizer: float32")
def bconv_no_input_quantizer():
    return seq((8, 8, 64), bconv(64, input_quantizer=None))


@probe("ste_heaviside kernel: float32")
def kernel_heaviside():
    return seq((8, 8, 64), bconv(64, kernel_quantizer="ste_heaviside"))


@probe("ste_tern kernel: float32")
def kernel_tern():
    return seq((8, 8, 64), bconv(64, kernel_quantizer="ste_tern"))


@probe("DoReFa(k_bit=2) kernel: float32")
def kernel_dorefa():
    return seq((8, 8, 64), bconv(64, kernel_quantizer=lq.quantizers.DoReFa(k_bit=2)))


@probe("NoOp(precision=1) kernel (Bop style): float32")
def kernel_noop1():
    return seq((8, 8, 64), bconv(64, kernel_quantizer=lq.quantizers.NoOp(precision=1)))


@probe("binary QuantLocallyConnected2D: unrolled per output position")
def locally_connected_binary():
    return seq(
        (5, 5, 16),
        lq.layers.QuantLocallyConnected2D(
            16, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False
        ),
    )


@probe("binary QuantConv3DTranspose: float32")
def transposed3d_binary():
    return seq(
        (4, 4, 4, 32),
        lq.layers.QuantConv3DTranspose(
            32, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
            use_bias=False,
        ),
    )


@probe("Conv1DTranspose (Keras; Larq has no quantized one), with bias: float32")
def transposed1d_float():
    return seq((32, 64), K.Conv1DTranspose(64, 3, strides=2, padding="same"))


@probe("binary transposed, 3-D and locally connected layers in one model")
def mixed_layers():
    sign = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)
    inputs = tf.keras.Input((8, 8, 16))
    x = lq.layers.QuantConv2DTranspose(16, 3, strides=2, padding="same", **sign)(inputs)
    x = K.BatchNormalization()(x)
    x = K.Reshape((4, 4, 16, 16))(x)
    x = lq.layers.QuantConv3D(16, 3, padding="same", **sign)(x)
    x = K.BatchNormalization()(x)
    x = K.Reshape((16, 16, 16))(x)
    x = K.MaxPool2D()(x)
    x = lq.layers.QuantLocallyConnected2D(8, 3, **sign)(x)
    x = K.Flatten()(x)
    x = lq.layers.QuantDense(10, **sign)(x)
    return tf.keras.Model(inputs, x, name="mixed_layers")


@probe("first layer on a 1-channel image: binary kernel, float input (BNN001 vs LCE002)")
def first_layer_1ch():
    inputs = tf.keras.Input((28, 28, 1))
    x = bconv(32, input_quantizer=None)(inputs)
    x = K.BatchNormalization()(x)
    x = bconv(64)(x)
    x = K.BatchNormalization()(x)
    x = K.GlobalAveragePooling2D()(x)
    x = K.Dense(10)(x)
    return tf.keras.Model(inputs, x, name="first_layer_1ch")


# ---------------------------------------------------------------- rule 4/5: float layers and BN
@probe("float Conv2D -> BN: folded")
def float_conv_bn():
    return seq((8, 8, 32), K.Conv2D(64, 3, padding="same"), K.BatchNormalization())


@probe("float Dense -> BN: folded")
def float_dense_bn():
    return seq((256,), K.Dense(64), K.BatchNormalization())


@probe("pre-activation BN before a float conv: MUL + ADD")
def preact_bn():
    return seq((8, 8, 64), K.BatchNormalization(), K.Conv2D(64, 3, padding="same"))


@probe("float Conv2D, Dense: 4 bytes per weight")
def float_layers():
    return seq(
        (8, 8, 16),
        K.Conv2D(32, 3, padding="same", activation="relu"),
        K.GlobalAveragePooling2D(),
        K.Dense(64),
    )


# ---------------------------------------------------------------- rule 8: shared layers
@probe("a binary conv called twice stores its weights once")
def shared_bconv():
    inputs = tf.keras.Input((8, 8, 64))
    conv = bconv(64)
    x = conv(inputs)
    x = K.BatchNormalization()(x)
    x = conv(x)
    return tf.keras.Model(inputs, x)


# ---------------------------------------------------------------- rule 7: huge kernels
@probe("binary QuantConv2D with 2^24 kernel elements: still folded and packed")
def huge_bconv_2p24():
    return seq((4, 4, 1024), bconv(1024, 4))


@probe("binary QuantConv2D with 2^25 kernel elements: latent float32 kept")
def huge_bconv_2p25():
    return seq((4, 4, 2048), bconv(1024, 4))


@probe("binary QuantDense 4096x4096 (2^24): folded, float32")
def huge_qdense_2p24():
    return seq((4096,), qdense(4096))


@probe("binary QuantDense 9216x4096: the converter fails")
def huge_qdense_fail():
    return seq((9216,), qdense(4096))


# ---------------------------------------------------------------- Zoo-style architectures
@probe("Larq Zoo QuickNet (random weights), 64x64 input, 10 classes")
def zoo_quicknet():
    import larq_zoo as lqz

    return lqz.sota.QuickNet(input_shape=(64, 64, 3), weights=None, num_classes=10)


@probe("Larq Zoo Bi-Real Net (random weights), 64x64 input, 10 classes")
def zoo_birealnet():
    import larq_zoo as lqz

    return lqz.literature.BiRealNet(input_shape=(64, 64, 3), weights=None, num_classes=10)


@probe("Larq Zoo BinaryDenseNet28 (random weights), 64x64 input, 10 classes")
def zoo_densenet28():
    import larq_zoo as lqz

    return lqz.literature.BinaryDenseNet28(input_shape=(64, 64, 3), weights=None, num_classes=10)


@probe("XNOR-Net-like (Zoo XNORNet layout, 1/4 width, xnor_weight_scale), 64x64 input")
def xnor_like():
    from larq_zoo.literature.xnornet import xnor_weight_scale

    def quant(filters, kernel, **kwargs):
        return lq.layers.QuantConv2D(
            filters, kernel, input_quantizer="ste_sign", kernel_quantizer=xnor_weight_scale,
            kernel_constraint="weight_clip", use_bias=False, **kwargs,
        )

    inputs = tf.keras.Input((64, 64, 3))
    x = K.Conv2D(24, 11, strides=4, padding="same", use_bias=False)(inputs)
    x = K.BatchNormalization(momentum=0.9, scale=False)(x)
    x = K.Activation("relu")(x)
    x = K.MaxPool2D(3, strides=2, padding="same")(x)
    x = K.BatchNormalization(momentum=0.9, scale=False)(x)
    x = quant(64, 5, padding="same")(x)
    x = K.MaxPool2D(3, strides=2, padding="same")(x)
    x = K.BatchNormalization(momentum=0.9, scale=False)(x)
    x = quant(96, 3, padding="same")(x)
    x = K.BatchNormalization(momentum=0.9, scale=False)(x)
    x = quant(96, 3, padding="same")(x)
    x = K.BatchNormalization(momentum=0.9, scale=False)(x)
    x = quant(64, 3, padding="same")(x)
    x = K.MaxPool2D(3, strides=2, padding="same")(x)
    x = K.BatchNormalization(momentum=0.9, scale=False)(x)
    x = K.Flatten()(x)
    x = lq.layers.QuantDense(
        512, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", use_bias=False,
    )(x)
    x = K.BatchNormalization(momentum=0.9, scale=False)(x)
    x = K.Dense(10, use_bias=False)(x)
    x = K.Activation("softmax")(x)
    return tf.keras.Model(inputs, x, name="xnor_like")


# ---------------------------------------------------------------- measuring
def randomize(model: tf.keras.Model, seed: int) -> None:
    """Give every variable random values, as a trained model has (see the module docstring)."""
    rng = np.random.default_rng(seed)
    values = []
    for variable in model.weights:
        value = rng.normal(0.0, 0.5, size=variable.shape).astype(np.float32)
        if "moving_variance" in variable.name or "gamma" in variable.name:
            value = np.abs(value) + 0.5
        values.append(value)
    model.set_weights(values)


def opcode_names() -> dict[int, str]:
    return {
        value: name
        for name, value in vars(tflite.BuiltinOperator).items()
        if not name.startswith("_") and isinstance(value, int)
    }


TENSOR_TYPES = {
    value: name
    for name, value in vars(tflite.TensorType).items()
    if not name.startswith("_") and isinstance(value, int)
}


def analyse(flatbuffer: bytes) -> dict:
    """Ops, constant inputs and counts of a converted model."""
    builtin = opcode_names()
    model = tflite.Model.GetRootAsModel(flatbuffer, 0)
    graph = model.Subgraphs(0)
    ops = []
    for index in range(graph.OperatorsLength()):
        operator = graph.Operators(index)
        code = model.OperatorCodes(operator.OpcodeIndex())
        custom = code.CustomCode()
        name = custom.decode() if custom else builtin.get(max(code.BuiltinCode(),
                                                              code.DeprecatedBuiltinCode()))
        constants = []
        for tensor_index in operator.InputsAsNumpy():
            if tensor_index < 0:
                continue
            tensor = graph.Tensors(tensor_index)
            size = model.Buffers(tensor.Buffer()).DataLength()
            if size:
                constants.append(
                    {
                        "shape": tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else [],
                        "dtype": TENSOR_TYPES.get(tensor.Type(), str(tensor.Type())),
                        "bytes": size,
                        "buffer": tensor.Buffer(),
                    }
                )
        ops.append({"op": name, "constants": constants})
    buffer_bytes = sum(model.Buffers(i).DataLength() for i in range(model.BuffersLength()))
    name_bytes = sum(len(graph.Tensors(i).Name() or b"") for i in range(graph.TensorsLength()))
    return {
        "n_ops": graph.OperatorsLength(),
        "n_tensors": graph.TensorsLength(),
        "n_buffers": model.BuffersLength(),
        "constant_bytes": buffer_bytes,
        "tensor_name_bytes": name_bytes,
        "ops": ops,
    }


def copy_shape_only(source: Path, target: Path) -> None:
    """Same groups, attributes and dataset shapes/dtypes as `source`; datasets left unwritten."""

    def copy_attrs(src, dst):
        for key, value in src.attrs.items():
            dst.attrs[key] = value

    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        copy_attrs(src, dst)

        def visit(name, item):
            if isinstance(item, h5py.Group):
                group = dst.require_group(name)
                copy_attrs(item, group)
            else:
                parent = dst.require_group(os.path.dirname(name) or "/")
                chunks = True if item.shape and 0 not in item.shape else None
                dataset = parent.create_dataset(
                    os.path.basename(name), shape=item.shape, dtype=item.dtype, chunks=chunks
                )
                copy_attrs(item, dataset)

        src.visititems(visit)
        dst.attrs["bnnstat_shape_only"] = True


def measure(name: str, description: str, builder) -> dict:
    tf.keras.backend.clear_session()
    model = builder()
    randomize(model, seed=abs(hash(name)) % 2**31)
    target = OUT / f"{name}.h5"
    with tempfile.TemporaryDirectory() as scratch:
        full = Path(scratch) / f"{name}.h5"
        model.save(full, save_format="h5", include_optimizer=False)
        h5_bytes = full.stat().st_size
        if h5_bytes > SHAPE_ONLY_ABOVE:
            copy_shape_only(full, target)
            shape_only = True
        else:
            target.write_bytes(full.read_bytes())
            shape_only = False
    entry = {
        "description": description,
        "file": target.name,
        "shape_only": shape_only,
        "full_h5_bytes": h5_bytes,
        "params": int(model.count_params()),
    }
    started = time.perf_counter()
    # Recorded before converting: if the converter aborts the whole process (it does on the
    # largest kernels, with no Python exception), this entry is what remains.
    entry.update(converted=False, error="the converter aborted the process (no Python exception)")
    _save_partial(name, entry)
    try:
        flatbuffer = lce.convert_keras_model(model)
    except Exception as error:  # the converter's failure is a measured fact too
        entry.update(converted=False, error=f"{type(error).__name__}: {str(error)[:300]}")
    else:
        entry.pop("error")
        entry.update(converted=True, tflite_bytes=len(flatbuffer), **analyse(flatbuffer))
    entry["convert_seconds"] = round(time.perf_counter() - started, 1)
    return entry


RESULTS = OUT / "measured.json"


def _save_partial(name: str, entry: dict) -> None:
    results = json.loads(RESULTS.read_text())
    results["probes"][name] = entry
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    results_path = RESULTS
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.setdefault("versions", {})
    results["versions"] = {
        "tensorflow": tf.__version__,
        "larq": lq.__version__ if hasattr(lq, "__version__") else "0.14.0",
        "larq_compute_engine": getattr(lce, "__version__", "0.16.0"),
    }
    probes = results.setdefault("probes", {})
    for name in names or list(PROBES):
        description, builder = PROBES[name]
        print(f"--- {name}: {description}", flush=True)
        entry = measure(name, description, builder)
        print({k: v for k, v in entry.items() if k != "ops"}, flush=True)
        probes[name] = entry
        results_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
