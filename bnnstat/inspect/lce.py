"""Predict what a model weighs after Larq Compute Engine (LCE 0.16.0) conversion, and why.

Pure Python over a `ModelRecord`: no TensorFlow. Every rule is one small function below whose
docstring names the observation it encodes and the probes it rests on; the observations were
measured by converting models with the real LCE (`benchmarks/lce_oracle/`: rule probes in
`tests/data/lce/measured.json`, every Larq Zoo architecture in `zoo.json`, sweeps of the
converter's limits in `sweeps.json`; probe names below refer to their entries).

Size model. The converter emits a flatbuffer of ops; each op has one output tensor and some
constant input tensors (weights, bias vectors, shapes); equal constants are stored once (fact 9).
We predict, per layer, the list of ops it becomes and the bytes of each constant. The file size
is then

    total = BASE_BYTES + sum(constant bytes)
            + TENSOR_BYTES * (model inputs + sum over ops of (1 + its constants))
            + sum over ops of OP_BYTES[kind]

where the overhead constants (names, shapes, op options and signature: about 100 bytes per
tensor and 70-210 bytes per op) are a least-squares fit over every measured model but the
held-out sweep probes (`benchmarks/lce_fit.py`).

Public contract: `predict(record, profile) -> Deployment`,
`findings(record, deployment) -> list[Finding]`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bnnstat.inspect import catalog
from bnnstat.inspect.deployment import Deployment, LayerDeployment
from bnnstat.inspect.findings import Finding
from bnnstat.inspect.profile import LayerProfile, ModelProfile
from bnnstat.inspect.records import LayerRecord, ModelRecord, WeightRecord

# --- calibrated flatbuffer overhead (bytes); see module docstring ------------------------------
TENSOR_BYTES = 97
OP_BYTES = {"bconv": 213, "lce": 142, "builtin": 72}
BASE_BYTES = 426  # header, subgraph, signature, metadata buffer

# --- measured size limits of constant folding (fact 7) -----------------------------------------
# TensorFlow folds a constant op only if its operands hold at most 2^30 bits: 2^25 float32.
FOLD_LIMIT = 2**25

@dataclass(frozen=True)
class Op:
    """One op of the converted graph: `kind` is "bconv", "lce" (other LCE op) or "builtin"."""

    name: str
    kind: str
    constants: tuple[int, ...] = ()
    # constants equal in value wherever they occur, (key, bytes): stored once per model (fact 9)
    shared: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Plan:
    """What one layer becomes: its ops, how its weights are stored, and whether it is packed."""

    ops: tuple[Op, ...] = ()
    stored_as: str = "none"
    accelerated: bool = False
    note: str | None = None
    extra_constants: tuple[int, ...] = ()  # constants not owned by an op of this layer
    problems: tuple[str, ...] = ()
    # Converter-made constants with the same value in every layer (key, bytes): stored once per
    # model, by the first layer that needs one (fact 9).
    shared: tuple[tuple[str, int], ...] = ()

    @property
    def bytes(self) -> int:
        constants = [c for op in self.ops for c in op.constants] + list(self.extra_constants)
        tensors = len(self.ops) + len(constants)
        return (
            sum(constants)
            + TENSOR_BYTES * tensors
            + sum(OP_BYTES[op.kind] for op in self.ops)
        )


@dataclass
class Scope:
    """The layers of one (possibly nested) model, with lookups over its graph."""

    layers: Sequence[LayerRecord]
    by_name: dict[str, LayerRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {layer.name: layer for layer in self.layers}

    def consumers(self, layer: LayerRecord) -> list[LayerRecord]:
        return [other for other in self.layers if layer.name in other.inbound]

    def producer(self, layer: LayerRecord) -> LayerRecord | None:
        if len(layer.inbound) != 1:
            return None
        return self.by_name.get(layer.inbound[0])


# --- helpers ------------------------------------------------------------------------------------
def _name(quantizer_name: str) -> str:
    """A quantizer name as messages spell it: ``SteTern`` -> ``ste_tern``, ``DoReFa`` ->
    ``dorefa`` (the catalog's shortest lower-case spelling, when it has one)."""
    kind = catalog.quantizer_kind(quantizer_name)
    lower = sorted((s for s in kind.spellings if s.islower()), key=len) if kind else []
    if lower:
        return lower[0]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", quantizer_name).lower()


def _plan(layer: LayerRecord | None) -> str | None:
    """The catalog's name of the rule below that describes what LCE makes of this layer."""
    return catalog.lce_plan(layer.class_name) if layer is not None else None


def _weighted(layer: LayerRecord | None) -> bool:
    return _plan(layer) in catalog.LCE_WEIGHTED_PLANS


def _kind(layer: LayerRecord) -> catalog.LayerKind | None:
    return catalog.layer_kind(layer.class_name)


def _three_d(layer: LayerRecord) -> bool:
    kind = _kind(layer)
    return _weighted(layer) and kind is not None and kind.rank == 3


def _quantizer(layer: LayerRecord, argument: str) -> catalog.QuantizerKind | None:
    quantizer = layer.quantizer(argument)
    return catalog.quantizer_kind(quantizer.name) if quantizer is not None else None


def _kernel(layer: LayerRecord) -> WeightRecord | None:
    for name in ("kernel", "depthwise_kernel"):
        weight = layer.weight(name)
        if weight is not None:
            return weight
    return None


def _channels_last(layer: LayerRecord) -> bool:
    return layer.config.get("data_format", "channels_last") in (None, "channels_last")


def _out_channels(layer: LayerRecord) -> int:
    for name in ("moving_mean", "beta", "gamma", "bias"):
        weight = layer.weight(name)
        if weight is not None:
            return weight.shape[0]
    kernel = _kernel(layer)
    if kernel is not None:
        return kernel.shape[-1]
    shape = layer.output_shape or ()
    return int(shape[-1] or 0) if shape else 0


def _f32(count: int) -> int:
    return 4 * count


def _is_binary(layer: LayerRecord) -> bool:
    kernel = _kernel(layer)
    return kernel is not None and kernel.precision == 1


# --- rules --------------------------------------------------------------------------------------
def packs(layer: LayerRecord) -> str | None:
    """Fact 1: LCE emits a packed `LceBconv2d` only for a channels_last `QuantConv2D` whose input
    quantizer (ste_sign, approx_sign, swish_sign) and kernel quantizer (ste_sign, swish_sign,
    magnitude_aware_sign, or a per-channel scaled sign such as `xnor_weight_scale`) are sign-like;
    strides, dilation, 1x1, any C_in and `pad_values` 0/1 all pack (sweep grid "packed":
    `conv3_64_64_{dil,stride,pad}-*`, `conv3_{1..200}_64`, `conv3_64_{1..100}`); grouped convs
    need 32k input channels per group. Fact 7: a kernel the converter does not fold cannot pack.

    Returns None when the layer packs, else the reason it does not (for a binary layer)."""
    if not catalog.lce_packable(layer.class_name):
        return f"LCE only packs QuantConv2D, not {layer.class_name}"
    if not _channels_last(layer):
        return "channels_first convolutions are converted as float convs between transposes"
    input_q = layer.quantizer("input_quantizer")
    kernel_q = layer.quantizer("kernel_quantizer")
    if input_q is None:
        return "it has no input quantizer, so its input is not binary"
    input_kind = _quantizer(layer, "input_quantizer")
    if input_kind is None or not input_kind.sign_input:
        return f"its input quantizer {_name(input_q.name)} is not sign-like"
    kernel_kind = _quantizer(layer, "kernel_quantizer")
    if kernel_kind is None or not kernel_kind.sign_kernel:
        kernel_name = _name(kernel_q.name) if kernel_q is not None else None
        return f"its kernel quantizer {kernel_name} is not sign-like"
    if layer.config.get("pad_values", 0.0) not in (0, 0.0, 1, 1.0):
        return "pad_values other than 0 or 1 are not supported by the packed conv"
    kernel = _kernel(layer)
    reason = grouped_conv_not_packed(layer)
    if reason is not None:
        return reason
    if not kernel_folded(layer):
        assert kernel is not None
        return (f"its kernel of {kernel.count} elements is not folded by the converter "
                "(ste_sign: exactly 2^25 elements; scaled signs: 2^25 or more)")
    return None


def unfolded_kernel_ops(quantizer: str, kernel_count: int) -> tuple[Op, ...]:
    """Fact 7: the ops a kernel quantizer leaves in the graph when its kernel is not folded, by
    the catalog's quantizer name (the float32 kernel itself is counted with the layer's op).

    - ste_sign: SIGN (`conv1_8192_4096`, `dense_8192_4096`);
    - xnor_weight_scale: RELU_N1_TO_1 (the clip), ABS, MEAN over 3 axes, LceQuantize +
      LceDequantize (the sign), MUL by the scale (`conv1_9216_4096_kq-xnor_iq-none`);
    - magnitude_aware_sign: abs(w) and sign(w) are folded into two kernel-sized float32
      constants, then MEAN and MUL (`conv1_9216_4096_kq-magnitude_iq-sign`): the file holds the
      kernel twice;
    - DoReFa (mode="weights"): 13 elementwise ops with scalar operands
      (`conv1_9216_4096_kq-dorefa_iq-none`);
    - any other quantizer: one op (not measured)."""
    if quantizer == "xnor_weight_scale":
        return (
            Op("RELU_N1_TO_1", "builtin"), Op("ABS", "builtin"), Op("MEAN", "builtin", (12,)),
            Op("LceQuantize", "lce"), Op("LceDequantize", "lce"), Op("MUL", "builtin"),
        )
    if quantizer == "MagnitudeAwareSign":
        return (Op("MEAN", "builtin", (12, _f32(kernel_count))), Op("MUL", "builtin"))
    if quantizer == "DoReFa":  # mode="weights": tanh, scale by the max, round, shift
        scalar = ("builtin", (4,))
        return (
            Op("TANH", "builtin"), Op("ABS", "builtin"), Op("REDUCE_MAX", "builtin", (16,)),
            *(Op(name, *scalar) for name in ("MUL", "EQUAL")), Op("DIV", "builtin"),
            *(Op(name, *scalar) for name in ("SELECT_V2", "ADD", "MUL")), Op("ROUND", "builtin"),
            *(Op(name, *scalar) for name in ("MUL", "MUL", "SUB")),
        )
    return (Op("SIGN", "builtin"),)
# Quantizers that are a bare sign of the kernel (ste_sign is sign(sign(x) + 0.1))
PLAIN_SIGN_KERNELS = frozenset({"SteSign", "SwishSign"})


def kernel_folded(layer: LayerRecord) -> bool:
    """Fact 7: the converter folds a quantized kernel into a constant (which a QuantConv2D then
    packs) unless TensorFlow's constant folding stops half-way through the quantizer: it folds an
    op only while its operands hold at most 2^30 bits (2^25 float32 elements).

    - A plain sign (ste_sign: sign(sign(x) + 0.1)) is unfolded at exactly 2^25 elements, where
      the first sign folds but the add does not; larger kernels are folded later, whole.
      Probes (sweep grids "size", "bisect"): `conv1_8192_4096`, `dense_8192_4096`,
      `huge_bconv_2p25`, `conv1_32768_1024` (2^25: unfolded); `conv3_896_4096`,
      `conv1_8191_4096` (below), `conv1_8193_4096`, `conv3_912_4096`, `conv1_9216_4096`,
      `conv3_1024_4096`, `zoo/BinaryAlexNet` (above: folded and packed).
    - A scaled sign (xnor_weight_scale, magnitude_aware_sign) is unfolded from 2^25 elements
      up: `conv1_8192_4096_kq-xnor`, `conv1_9216_4096_kq-xnor_*`, `conv3_1024_4096_kq-xnor_*`,
      `zoo/XNORNet`; folded below: `conv1_8191_4096_kq-xnor`, `conv1_2048_2048_kq-xnor_*`.
    - Kernels without a quantizer, or tagged only (NoOp), have nothing to fold."""
    kernel = _kernel(layer)
    kind = _quantizer(layer, "kernel_quantizer")
    if kernel is None or kernel.precision is None or kind is None or kind.tags_only:
        return True
    if kind.name in PLAIN_SIGN_KERNELS:
        return kernel.count != FOLD_LIMIT
    return kernel.count < FOLD_LIMIT


def converter_failure(layer: LayerRecord) -> str | None:
    """Fact 10: the converter fails (a ValueError "cannot create std::vector larger than
    max_size()", or a crash of the process) on a QuantDense whose kernel has more than 2^25
    elements and a sign-like kernel quantizer (plain or scaled); convs of that size convert, and
    so does a dense kernel whose quantizer is not a sign (it stays unfolded). Probes:
    `dense_9216_4096_kq-sign_iq-{sign,none}`, `dense_9216_4096_kq-magnitude_iq-{sign,none}`,
    `huge_qdense_fail`, `zoo/DoReFaNet` (magnitude_aware_sign_unclipped, 9216x4096: crash),
    `dense_8193_4096`, `dense_8704_4096` fail; `dense_8192_4096` (2^25),
    `dense_9216_4096_kq-dorefa_iq-*`, `dense_9216_4096_kq-noop1_iq-*` convert."""
    kernel = _kernel(layer)
    kind = _quantizer(layer, "kernel_quantizer")
    if (
        _plan(layer) == "dense"
        and kernel is not None
        and kind is not None
        and kind.sign_kernel
        and kernel.count > FOLD_LIMIT
    ):
        return (f"layer {layer.name}: QuantDense kernel of {kernel.count} elements (> 2^25) "
                "with a sign kernel quantizer; the LCE converter fails on it")
    return None


def grouped_conv_not_packed(layer: LayerRecord) -> str | None:
    """Fact 1: a grouped conv packs only when its input channels per group are a multiple of 32
    (each group starts on a packed word); otherwise it is a float CONV_2D. Probes (sweep grid
    "packed"): `conv3_64_64_groups-2`, `conv3_96_96_groups-3`, `conv3_128_128_groups-4`,
    `conv3_256_256_groups-8`, `conv3_128_128_groups-2` pack; `conv3_48_48_groups-3`,
    `conv3_64_64_groups-4` (16 per group) do not. Ungrouped convs pack with any C_in."""
    groups = int(layer.config.get("groups") or 1)
    kernel = _kernel(layer)
    if groups > 1 and kernel is not None and kernel.shape[-2] % 32:
        return (f"it has {groups} groups of {kernel.shape[-2]} input channels, not a multiple "
                "of 32")
    return None


def packed_kernel_bytes(kernel_shape: Sequence[int]) -> int:
    """Fact 1: packed filters are int32 words along C_in: C_out * kh * kw * ceil(C_in/32) * 4
    bytes (C_in per group for grouped convs; C_out is not padded)."""
    kh, kw, c_in, c_out = kernel_shape
    return c_out * kh * kw * math.ceil(c_in / 32) * 4


def padding_waste_bytes(kernel_shape: Sequence[int]) -> int:
    """Fact 1: bytes of packed words spent on padding when C_in is not a multiple of 32."""
    kh, kw, c_in, c_out = kernel_shape
    exact = c_out * kh * kw * c_in / 8
    return packed_kernel_bytes(kernel_shape) - math.ceil(exact)


def is_packed(layer: LayerRecord | None) -> bool:
    return layer is not None and catalog.lce_packable(layer.class_name) and packs(layer) is None


def bconv_feeding_bn(bn: LayerRecord, scope: Scope) -> LayerRecord | None:
    """Fact 2: a BatchNormalization fuses into the packed conv that feeds it (directly, or
    through a ReLU that is fused as well) when it is that conv's only consumer."""
    producer = scope.producer(bn)
    if _plan(producer) == "activation":
        if len(scope.consumers(producer)) != 1:
            return None
        producer = scope.producer(producer)
    if is_packed(producer) and len(scope.consumers(producer)) == 1:
        return producer
    return None


def float_layer_feeding_bn(bn: LayerRecord, scope: Scope) -> LayerRecord | None:
    """Fact 4: a BatchNormalization right after a conv or dense layer stored as float32 (float
    layers, and binary ones LCE does not pack) is folded into its weights and bias, when it is
    that layer's only consumer; not after a 3-D conv (`mixed_layers`: CONV_3D then MUL + ADD;
    a 3-D transposed conv is assumed to be the same), nor after a kernel the converter does not
    fold (`zoo/XNORNet`: its 6x6x256x4096 conv is followed by MUL + ADD)."""
    producer = scope.producer(bn)
    if (
        producer is not None
        and _weighted(producer)
        and not _three_d(producer)
        and kernel_folded(producer)
        and not is_packed(producer)
        and len(scope.consumers(producer)) == 1
    ):
        return producer
    return None


def writes_bits(layer: LayerRecord, scope: Scope) -> bool:
    """Fact 2: a packed conv (with its fused BN) writes packed bits, and stores a threshold
    instead of multiplier/bias, when every consumer binarizes its input: a packed conv, or a
    MaxPool2D (run on bits) whose consumers are all packed convs."""
    tail = layer
    followers = scope.consumers(layer)
    if len(followers) == 1 and _plan(followers[0]) == "activation":
        followers = scope.consumers(followers[0])
    if (
        len(followers) == 1
        and _plan(followers[0]) == "batch_norm"
        and bconv_feeding_bn(followers[0], scope) is layer
    ):
        tail = followers[0]
    return _binarizing_consumers(tail, scope)


def _binarizing_consumers(layer: LayerRecord, scope: Scope) -> bool:
    consumers = scope.consumers(layer)
    if not consumers:
        return False
    for consumer in consumers:
        if _plan(consumer) == "max_pool":
            if not _binarizing_consumers(consumer, scope):
                return False
        elif not is_packed(consumer):
            return False
    return True


def input_is_bits(layer: LayerRecord, scope: Scope) -> bool:
    """Fact 2: a packed conv needs an `LceQuantize` op unless its input is already packed bits
    (written by a packed conv, its fused BN, or a max pool over those)."""
    producer = scope.producer(layer)
    while producer is not None and _plan(producer) == "max_pool":
        producer = scope.producer(producer)
    if producer is None:
        return False
    if _plan(producer) == "batch_norm":
        producer = bconv_feeding_bn(producer, scope)
    elif _plan(producer) == "activation":
        producer = scope.producer(producer)
    return is_packed(producer) and producer is not layer and writes_bits(producer, scope)


def plan_packed_conv(layer: LayerRecord, scope: Scope) -> Plan:
    """Facts 1, 2, 8: one `LceBconv2d` per call (plus `LceQuantize` when its input is float);
    the packed kernel is stored once; the output transform (2 float32 per channel, or one int32
    threshold) belongs to the fused BN when there is one, else to the conv itself."""
    kernel = _kernel(layer)
    assert kernel is not None
    c_out = kernel.shape[-1]
    follow_bn = any(
        _plan(c) == "batch_norm" and bconv_feeding_bn(c, scope) is layer
        for c in _through_activation(layer, scope)
    )
    calls = max(layer.call_count, 1)
    unfused_calls = calls - (1 if follow_bn else 0)
    ops = [Op("LceBconv2d", "bconv", (packed_kernel_bytes(kernel.shape),))]
    ops += [Op("LceBconv2d", "bconv") for _ in range(calls - 1)]
    if not input_is_bits(layer, scope):
        ops.insert(0, Op("LceQuantize", "lce"))
    shared = default_output_transform(layer, c_out) if unfused_calls else ()
    extra = (_f32(c_out),) if unfused_calls and layer.weight("bias") is not None else ()
    return Plan(tuple(ops), "bitpacked", True, None, extra, shared=shared)


def default_output_transform(layer: LayerRecord, c_out: int) -> tuple[tuple[str, int], ...]:
    """Fact 9: a packed conv without a fused BN gets a float32 multiplier of ones and a bias of
    zeros (its own bias when it has one); being equal in every such conv, each is stored once
    per model and C_out. Probes: `zoo/BinaryDenseNet28` (23 unfused convs of C_out 64, one
    pair of buffers), `shared_bconv`, `bconv_bias`."""
    shared = [(f"ones[{c_out}]", _f32(c_out))]
    if layer.weight("bias") is None:
        shared.append((f"zeros[{c_out}]", _f32(c_out)))
    return tuple(shared)


def _through_activation(layer: LayerRecord, scope: Scope) -> list[LayerRecord]:
    consumers = scope.consumers(layer)
    if len(consumers) == 1 and _plan(consumers[0]) == "activation":
        return scope.consumers(consumers[0])
    return consumers


def input_ops(layer: LayerRecord) -> list[Op]:
    """Fact 3: a layer stored as float32 whose input is quantized by a sign-like quantizer gets
    an `LceQuantize` + `LceDequantize` pair in front of it (other input quantizers are assumed
    to cost the same two elementwise ops)."""
    if layer.quantizer("input_quantizer") is None:
        return []
    return [Op("LceQuantize", "lce"), Op("LceDequantize", "lce")]


def pad_ops(layer: LayerRecord) -> list[Op]:
    """Fact 3: a float-stored conv with `padding="same"`, non-zero `pad_values` and a kernel
    larger than 1x1 gets an explicit PADV2 (paddings int32[rank,2] and a scalar value)."""
    kernel = _kernel(layer)
    if (
        layer.config.get("padding") != "same"
        or not layer.config.get("pad_values")
        or kernel is None
        or all(k == 1 for k in kernel.shape[:-2])
    ):
        return []
    rank = len(kernel.shape)  # spatial dims + batch + channels
    return [Op("PADV2", "builtin", (4 * 2 * rank, 4))]


def has_folded_bn(layer: LayerRecord, scope: Scope) -> bool:
    return any(
        _plan(c) == "batch_norm" and float_layer_feeding_bn(c, scope) is layer
        for c in scope.consumers(layer)
    )


def _bias(layer: LayerRecord, scope: Scope, units: int) -> tuple[int, ...]:
    if layer.weight("bias") is not None or has_folded_bn(layer, scope):
        return (_f32(units),)
    return ()


def zeros(units: int) -> tuple[str, int]:
    """Fact 9: a float32 vector of zeros (the bias the converter adds to a conv that has none),
    one buffer per length shared by every op of the model."""
    return (f"float32 zeros[{units}]", _f32(units))


def int_vector(*values: int) -> tuple[str, int]:
    """Fact 9: a shape, permutation, axes or strides operand (int32), shared when equal."""
    return (f"int32 {list(values)}", 4 * len(values))


def conv_with_bias(name: str, layer: LayerRecord, scope: Scope, kernel_count: int, units: int,
                   kind: str = "builtin") -> Op:
    """Facts 3, 9: CONV_2D and DEPTHWISE_CONV_2D always have a bias operand: the layer's bias
    (or the folded BN's), else a shared vector of zeros. Probes: `separable_binary` (its
    depthwise and pointwise convs share one zeros[64]), `bconv_no_input_quantizer`."""
    own = _bias(layer, scope, units)
    return Op(name, kind, (_f32(kernel_count),) + own, () if own else (zeros(units),))


def plan_float_conv2d(layer: LayerRecord, scope: Scope) -> Plan:
    """Facts 3, 5: a Conv2D stored as float32: CONV_2D with the kernel at 4 bytes per weight and
    always a bias vector; channels_first adds a TRANSPOSE before and after."""
    kernel = _kernel(layer)
    assert kernel is not None
    ops = input_ops(layer) + pad_ops(layer)
    conv = conv_with_bias("CONV_2D", layer, scope, kernel.count, kernel.shape[-1])
    if _channels_last(layer):
        ops.append(conv)
    else:
        ops += [Op("TRANSPOSE", "builtin", shared=(int_vector(0, 2, 3, 1),)), conv,
                Op("TRANSPOSE", "builtin", shared=(int_vector(0, 3, 1, 2),))]
    return Plan(tuple(ops), "float32")


def plan_dense(layer: LayerRecord, scope: Scope) -> Plan:
    """Facts 3, 5: every Dense/QuantDense is a FULLY_CONNECTED with a float32 kernel (binary or
    not); a bias only when the layer has one or a BN is folded into it."""
    kernel = _kernel(layer)
    assert kernel is not None
    constants = (_f32(kernel.count),) + _bias(layer, scope, kernel.shape[-1])
    fc = Op("FULLY_CONNECTED", "builtin", constants)
    return Plan(tuple(input_ops(layer) + [fc]), "float32")


def plan_depthwise(layer: LayerRecord, scope: Scope) -> Plan:
    """Facts 3, 9: depthwise convs are DEPTHWISE_CONV_2D with a float32 kernel and a bias."""
    kernel = _kernel(layer)
    assert kernel is not None
    channels = kernel.shape[-2] * kernel.shape[-1]
    op = conv_with_bias("DEPTHWISE_CONV_2D", layer, scope, kernel.count, channels)
    return Plan(tuple(input_ops(layer) + pad_ops(layer) + [op]), "float32")


def plan_separable(layer: LayerRecord, scope: Scope) -> Plan:
    """Facts 3, 9: a separable conv is a float depthwise conv (bias: shared zeros) followed by a
    float 1x1 conv (bias: the layer's, else shared zeros)."""
    depthwise = layer.weight("depthwise_kernel")
    pointwise = layer.weight("pointwise_kernel")
    assert depthwise is not None and pointwise is not None
    mid = depthwise.shape[-2] * depthwise.shape[-1]
    ops = input_ops(layer) + [
        Op("DEPTHWISE_CONV_2D", "builtin", (_f32(depthwise.count),), (zeros(mid),)),
        conv_with_bias("CONV_2D", layer, scope, pointwise.count, pointwise.shape[-1]),
    ]
    return Plan(tuple(ops), "float32")


def plan_conv1d(layer: LayerRecord, scope: Scope) -> Plan:
    """Fact 3: Conv1D is a float CONV_2D between two RESHAPEs."""
    kernel = _kernel(layer)
    assert kernel is not None
    ops = input_ops(layer) + pad_ops(layer) + [
        Op("RESHAPE", "builtin", (16,)),
        conv_with_bias("CONV_2D", layer, scope, kernel.count, kernel.shape[-1]),
        Op("RESHAPE", "builtin", (12,)),
    ]
    return Plan(tuple(ops), "float32")


def plan_transposed(layer: LayerRecord, scope: Scope) -> Plan:
    """Fact 3: a transposed conv is a TRANSPOSE_CONV (CONV_3D_TRANSPOSE in 3-D) with its output
    shape and a float32 kernel (bias only when the layer has one or a BN is folded into it)."""
    kernel = _kernel(layer)
    assert kernel is not None
    rank = len(kernel.shape)
    if rank == 3:  # 1-D: a 2-D TRANSPOSE_CONV between two RESHAPEs (`transposed1d_float`)
        constants = (16, _f32(kernel.count)) + _bias(layer, scope, kernel.shape[-2])
        ops = [Op("RESHAPE", "builtin", (16,)), Op("TRANSPOSE_CONV", "builtin", constants),
               Op("RESHAPE", "builtin", (12,))]
        return Plan(tuple(input_ops(layer) + ops), "float32")
    name = "CONV_3D_TRANSPOSE" if rank == 5 else "TRANSPOSE_CONV"  # `transposed3d_binary`
    constants = (4 * rank, _f32(kernel.count)) + _bias(layer, scope, kernel.shape[-2])
    return Plan(tuple(input_ops(layer) + [Op(name, "builtin", constants)]), "float32")


def plan_conv3d(layer: LayerRecord, scope: Scope) -> Plan:
    """Fact 3: a 3-D conv is a CONV_3D with a float32 kernel (bias only when it has one)."""
    kernel = _kernel(layer)
    assert kernel is not None
    constants = (_f32(kernel.count),) + _bias(layer, scope, kernel.shape[-1])
    return Plan(tuple(input_ops(layer) + [Op("CONV_3D", "builtin", constants)]), "float32")


def plan_locally_connected(layer: LayerRecord, scope: Scope) -> Plan:
    """Facts 3, 9: a locally connected layer is unrolled: per output position one STRIDED_SLICE
    (begin and end int32[4], strides shared) + RESHAPE (its shape shared by all positions), then
    CONCATENATION and SPLIT, one FULLY_CONNECTED per position holding its slice of the float32
    kernel, then PACK and RESHAPE. Probe: `locally_connected_binary`."""
    kernel = _kernel(layer)
    assert kernel is not None
    positions = kernel.shape[0]
    per_position = _f32(kernel.count) // max(positions, 1)
    ops = input_ops(layer)
    unroll = [
        Op("STRIDED_SLICE", "builtin", (16, 16), (int_vector(1, 1, 1, 1),)),
        Op("RESHAPE", "builtin", shared=(int_vector(-1, 1, kernel.shape[1]),)),
    ]
    ops += unroll * positions
    ops += [Op("CONCATENATION", "builtin"), Op("SPLIT", "builtin", (4,))]
    ops += [Op("FULLY_CONNECTED", "builtin", (per_position,))] * positions
    ops += [Op("PACK", "builtin"), Op("RESHAPE", "builtin", (16,))]
    note = f"unrolled into {positions} fully connected ops"
    return Plan(tuple(ops), "float32", note=note)


def plan_unfolded_kernel(layer: LayerRecord, plan: Plan) -> Plan:
    """Fact 7: a kernel the converter does not fold keeps its float32 latent weights (as in the
    float plan); its quantizer runs at inference (`unfolded_kernel_ops`) followed by a TRANSPOSE
    into the op's layout."""
    kind = _quantizer(layer, "kernel_quantizer")
    kernel = _kernel(layer)
    assert kernel is not None
    quantizer_ops = unfolded_kernel_ops(kind.name if kind else "", kernel.count)
    perm = int_vector(*range(len(kernel.shape)))  # a permutation of the kernel's axes
    ops = plan.ops + quantizer_ops + (Op("TRANSPOSE", "builtin", shared=(perm,)),)
    note = "kernel not folded: latent float32 kernel stored, quantized at inference"
    return Plan(ops, "float32", False, note, plan.extra_constants, plan.problems)


def plan_batch_norm(layer: LayerRecord, scope: Scope) -> Plan:
    """Facts 2, 4: after a packed conv, a BN becomes its output transform (2 float32 per
    channel, or 1 int32 threshold per channel when the conv writes bits); after a float conv or
    dense it is folded away; anywhere else it is a MUL and an ADD with 2 float32 vectors."""
    channels = _out_channels(layer)
    bconv = bconv_feeding_bn(layer, scope)
    if bconv is not None:
        if writes_bits(bconv, scope):
            return Plan((), "threshold", note=f"fused into {bconv.name}",
                        extra_constants=(_f32(channels),))
        return Plan((), "multiplier_bias", note=f"fused into {bconv.name}",
                    extra_constants=(_f32(channels), _f32(channels)))
    host = float_layer_feeding_bn(layer, scope)
    if host is not None:
        return Plan((), "folded", note=f"folded into {host.name}")
    ops = (Op("MUL", "builtin", (_f32(channels),)), Op("ADD", "builtin", (_f32(channels),)))
    return Plan(ops, "float32", note="not foldable: MUL + ADD")


def plan_activation(layer: LayerRecord, scope: Scope) -> Plan:
    """Fact 5 (no weights): a ReLU right after a conv, dense or fused BN is fused into that op;
    any other activation is one op."""
    activation = layer.config.get("activation")
    producer = scope.producer(layer)
    if activation in ("relu", "relu6", "linear", None) and producer is not None and (
        _weighted(producer) or _plan(producer) == "batch_norm"
        or relu_fuses_into_pool(producer, scope)
    ):
        return Plan((), "none", note="fused into the previous op")
    if activation == "linear":
        return Plan((), "none")
    return Plan((Op(str(activation).upper(), "builtin"),), "none")


def relu_fuses_into_pool(pool: LayerRecord, scope: Scope) -> bool:
    """Fact 5: a ReLU after a float 2-D max or average pool that feeds nothing else is fused
    into the pool op. Probe: `zoo/BinaryDenseNet28` (3 ReLUs after transition pools, no RELU)."""
    kind = _kind(pool)
    return (
        kind is not None
        and kind.family == "pool"
        and kind.rank == 2
        and len(scope.consumers(pool)) == 1
        and not pools_bits(pool, scope)
    )


def pools_bits(pool: LayerRecord, scope: Scope) -> bool:
    """Fact 2: a MaxPool2D whose consumers all binarize their input with a sign-like quantizer
    (packed convs, or float-stored layers with a sign input quantizer) runs on packed bits as
    `LceBMaxPool2d`, the `LceQuantize` moved before it. Probes: `clean_packed`, `mixed_layers`
    (max pool before a QuantLocallyConnected2D)."""
    if _plan(pool) != "max_pool":
        return False
    consumers = scope.consumers(pool)
    return bool(consumers) and all(is_packed(c) or _sign_input(c) for c in consumers)


def _sign_input(layer: LayerRecord) -> bool:
    kind = _quantizer(layer, "input_quantizer")
    return kind is not None and kind.sign_input


def flatten_absorbed(layer: LayerRecord, scope: Scope) -> bool:
    """Fact 6: a Flatten whose consumers are all Dense layers without an input quantizer costs
    no op: FULLY_CONNECTED flattens its input itself. Probes: `zoo/BinaryDenseNet28` (no
    RESHAPE), `xnor_like` (Flatten before a QuantDense with an input quantizer: RESHAPE kept)."""
    if _plan(layer) != "reshape":
        return False
    if merges_with_previous_reshape(layer, scope):
        return True
    consumers = scope.consumers(layer)
    return catalog.normalise(layer.class_name)[0] == "Flatten" and bool(consumers) and all(
        _plan(c) == "dense" and c.quantizer("input_quantizer") is None for c in consumers
    )


def merges_with_previous_reshape(layer: LayerRecord, scope: Scope) -> bool:
    """Fact 6: a Flatten or Reshape right after an op that ends in a RESHAPE (another Flatten or
    Reshape, a locally connected layer) is merged into that RESHAPE. Probe: `mixed_layers`
    (Flatten after a QuantLocallyConnected2D: one RESHAPE fewer)."""
    producer = scope.producer(layer)
    return (
        _plan(producer) in ("reshape", "locally_connected")
        and producer is not None
        and len(scope.consumers(producer)) == 1
    )


def plan_weightless(layer: LayerRecord, scope: Scope) -> Plan:
    """Fact 6: a layer without weights is one op (shape and axis operands are small constants);
    input, dropout-like layers vanish; a max pool over packed bits is an `LceBMaxPool2d`."""
    plan = _plan(layer)
    if plan == "free":
        return Plan((), "none")
    if flatten_absorbed(layer, scope):
        return Plan((), "none", note="absorbed by the fully connected op")
    if plan == "reshape":
        return Plan((Op("RESHAPE", "builtin", (8,)),), "none")
    if plan == "mean":
        return Plan((Op("MEAN", "builtin", shared=(int_vector(1, 2),)),), "none")
    if plan == "pad":
        return Plan((Op("PAD", "builtin", (32,)),), "none")
    if pools_bits(layer, scope):
        return Plan((Op("LceBMaxPool2d", "lce"),), "none", note="runs on packed bits")
    if reshape_to_broadcast(layer, scope):
        return Plan((), "none", note="folded into the element-wise op")
    # Fact 6: weights of a layer without a rule of its own (PReLU's alpha) are float32 constants.
    constants = tuple(_f32(weight.count) for weight in layer.weights)
    return Plan((Op(layer.class_name, "builtin", constants),), "float32" if constants else "none")


def reshape_to_broadcast(layer: LayerRecord, scope: Scope) -> bool:
    """Fact 6: a Reshape that only adds unit dimensions, feeding element-wise merges only
    (Multiply, Add, ...), costs no op: they broadcast. Probe: `zoo/RealToBinaryNet` (16
    squeeze-excitation Reshapes (C,) -> (1, 1, C) before a Multiply, no RESHAPE)."""
    producer = scope.producer(layer)
    consumers = scope.consumers(layer)
    if _plan(layer) != "reshape" or producer is None or not consumers:
        return False
    before = [d for d in (producer.output_shape or ())[1:] if d != 1]
    after = [d for d in (layer.output_shape or ())[1:] if d != 1]
    return bool(after) and before == after and all(
        catalog.family(c.class_name) == "merge" for c in consumers
    )


# Weighted layers that do not pack, by their catalog plan: the rule that says how LCE stores them.
_UNPACKED_RULES = {
    "conv2d": plan_float_conv2d,
    "dense": plan_dense,
    "depthwise": plan_depthwise,
    "separable": plan_separable,
    "conv1d": plan_conv1d,
    "transposed": plan_transposed,
    "conv3d": plan_conv3d,
    "locally_connected": plan_locally_connected,
}


def unpacked_rule(class_name: str) -> Callable[[LayerRecord, Scope], Plan] | None:
    """The rule saying how LCE stores a weighted layer of this kind when it does not pack it;
    None for a kind without one (then the layer is planned as weightless: one op)."""
    plan = catalog.lce_plan(class_name)
    return _UNPACKED_RULES.get(plan) if plan is not None else None


def plan_layer(layer: LayerRecord, scope: Scope) -> Plan:
    """Dispatch one layer to the rule that describes what LCE makes of it."""
    return with_own_activation(layer, _plan_without_activation(layer, scope))


def with_own_activation(layer: LayerRecord, plan: Plan) -> Plan:
    """Fact 5: a conv or dense layer's own `activation` other than linear/ReLU/ReLU6 (those are
    fused) is one more op. Probe: `zoo/RealToBinaryNet` (16 Dense(sigmoid): 16 LOGISTIC)."""
    activation = layer.config.get("activation")
    if not _weighted(layer) or not isinstance(activation, str) or activation in FUSED_ACTIVATIONS:
        return plan
    return replace(plan, ops=plan.ops + (Op(activation.upper(), "builtin"),))


FUSED_ACTIVATIONS = ("linear", "relu", "relu6")


def _plan_without_activation(layer: LayerRecord, scope: Scope) -> Plan:
    name = _plan(layer)
    if name == "batch_norm":
        return plan_batch_norm(layer, scope)
    if name == "activation":
        return plan_activation(layer, scope)
    if name not in _UNPACKED_RULES or _kernel(layer) is None and name != "separable":
        return plan_weightless(layer, scope)
    if is_packed(layer):
        return plan_packed_conv(layer, scope)
    rule = _UNPACKED_RULES[name]
    plan = rule(layer, scope)
    failure = converter_failure(layer)
    if failure is not None:
        plan = replace(plan, problems=plan.problems + (failure,))
    if not kernel_folded(layer):
        return plan_unfolded_kernel(layer, plan)
    if _is_binary(layer):
        note = f"binary but stored as float32: {packs(layer)}"
        return replace(plan, accelerated=False, note=note)
    return plan


# --- the model --------------------------------------------------------------------------------
def fixed_bytes(record: ModelRecord) -> int:
    """Fact 6: the bytes no layer owns: the file header (BASE_BYTES) and one tensor per model
    input (TENSOR_BYTES each, at least one input)."""
    return BASE_BYTES + TENSOR_BYTES * max(len(record.input_shapes), 1)


def one_bit_macs(record: ModelRecord, profile: ModelProfile) -> dict[int, int]:
    """Larq's 1-bit MACs of every layer (nested ones included), keyed by `id(LayerRecord)`, as
    the inspector profile counts them (a separable conv's depthwise and pointwise MACs both count;
    a layer Larq prints as "?" counts 0; a nested model counts 0 itself, as its layers carry
    its MACs)."""
    counts: dict[int, int] = {}
    _pair_macs(record.layers, profile.layers, counts)
    return counts


def _pair_macs(
    layers: Sequence[LayerRecord], profiles: Sequence[LayerProfile], counts: dict[int, int]
) -> None:
    if [layer.name for layer in layers] != [p.name for p in profiles]:
        raise ValueError("the profile was not computed from this record")
    for layer, layer_profile in zip(layers, profiles, strict=True):
        counts[id(layer)] = 0 if layer.is_nested_model else layer_profile.mac_count(1) or 0
        _pair_macs(layer.layers, layer_profile.layers, counts)


def _plan_scope(layers: Sequence[LayerRecord]) -> list[tuple[LayerRecord, Plan]]:
    scope = Scope(layers)
    plans = []
    for layer in layers:
        if layer.is_nested_model:
            inner = _plan_scope(layer.layers)
            ops = tuple(op for _, plan in inner for op in plan.ops)
            extra = tuple(c for _, plan in inner for c in plan.extra_constants)
            problems = tuple(p for _, plan in inner for p in plan.problems)
            plans.append((layer, Plan(ops, "nested", False, None, extra, problems)))
            plans.extend(inner)
        else:
            plans.append((layer, plan_layer(layer, scope)))
    return plans


def store_shared_once(planned: list[tuple[LayerRecord, Plan]]) -> list[tuple[LayerRecord, Plan]]:
    """Fact 9: the converter stores equal constants once; a shared constant is charged to the
    first layer (in model order) that needs it and costs the others nothing."""
    seen: set[str] = set()
    resolved = []
    for layer, plan in planned:
        wanted = plan.shared + tuple(item for op in plan.ops for item in op.shared)
        if wanted and plan.stored_as != "nested":
            fresh = []
            for key, size in wanted:
                if key not in seen:
                    seen.add(key)
                    fresh.append(size)
            plan = replace(plan, extra_constants=plan.extra_constants + tuple(fresh), shared=())
        resolved.append((layer, plan))
    return resolved


def predict(record: ModelRecord, profile: ModelProfile) -> Deployment:
    """The model as LCE 0.16.0 would convert it: per-layer bytes, storage and acceleration.

    ``total_bytes = fixed_bytes(record) + sum(layers[].bytes)`` (a nested model's bytes are
    those of its layers). ``accelerated_binary_mac_ratio`` = (1-bit MACs of packed layers) /
    (all of Larq's 1-bit MACs), both taken from `profile`, the inspector profile of `record`."""
    macs = one_bit_macs(record, profile)
    planned = store_shared_once(_plan_scope(record.layers))
    plan_of = {id(layer): plan for layer, plan in planned}
    problems: list[str] = []
    binary_macs = accelerated_macs = 0
    for layer, plan in planned:
        problems.extend(plan.problems)
        binary_macs += macs[id(layer)]
        accelerated_macs += macs[id(layer)] if plan.accelerated else 0
    layers = tuple(
        LayerDeployment(
            layer.name, _layer_bytes(layer, plan_of), plan_of[id(layer)].stored_as,
            plan_of[id(layer)].accelerated, plan_of[id(layer)].note,
        )
        for layer in record.layers
    )
    total = fixed_bytes(record) + sum(layer.bytes for layer in layers)
    ratio = accelerated_macs / binary_macs if binary_macs else None
    return Deployment("lce", not problems, tuple(problems), total, ratio, layers)


def _layer_bytes(layer: LayerRecord, plan_of: dict[int, Plan]) -> int:
    """A layer's own bytes; a nested model's are the sum over its (non-nested) layers."""
    if not layer.is_nested_model:
        return plan_of[id(layer)].bytes
    return sum(_layer_bytes(child, plan_of) for child in layer.layers)


# --- findings -----------------------------------------------------------------------------------
def _find(record: ModelRecord, name: str) -> LayerRecord | None:
    return next((layer for layer in record.walk() if layer.name == name), None)


def finding_not_convertible(record: ModelRecord, deployment: Deployment) -> list[Finding]:
    """LCE001 (error): the converter will fail on this model (fact 10)."""
    hint = ("keep each QuantDense kernel at 2^25 elements or fewer (split it), or use a 1x1 "
            "QuantConv2D, which converts at that size and packs")
    return [Finding("LCE001", "error", None, problem, hint) for problem in deployment.problems]


def finding_binary_conv_not_packed(
    layer: LayerRecord, plan: LayerDeployment, first_compute: bool = False
) -> list[Finding]:
    """LCE002 (warning): a binary QuantConv2D that LCE stores as float32 (fact 3), with what
    to change so that it packs (fact 1). Not raised when packing would save nothing (one input
    channel per group: a packed word per weight, as many bytes as float32). On the model's first
    compute layer the hint says how this relates to BNN001 (keep that layer in high precision)."""
    if not catalog.lce_packable(layer.class_name) or not _is_binary(layer) or plan.accelerated:
        return []
    kernel = _kernel(layer)
    assert kernel is not None
    packed = packed_kernel_bytes(kernel.shape)
    if packed >= _f32(kernel.count):
        return []
    reason = packs(layer) or "not packed"
    hint = "give it input_quantizer='ste_sign' and a sign-like kernel_quantizer ('ste_sign'), "
    hint += "channels_last data and pad_values 0 or 1"
    if not kernel_folded(layer):
        hint = UNFOLDED_HINT
    elif first_compute:
        hint = ("it is the first compute layer, which BNN001 asks to keep in high precision: "
                "drop its kernel_quantizer (LCE stores it as float32 either way); binarize its "
                "input too only if the packed bytes matter more than accuracy")
    message = (
        f"binary QuantConv2D {layer.name} is stored as float32 ({_f32(kernel.count)} bytes "
        f"instead of {packed} packed): {reason}"
    )
    return [Finding("LCE002", "warning", layer.name, message, hint)]


def finding_binary_layer_never_packed(layer: LayerRecord, plan: LayerDeployment) -> list[Finding]:
    """LCE003 (warning): a binary layer of a kind LCE never packs (Dense, depthwise, separable,
    Conv1D, transposed, 3-D, locally connected) is stored at 32 bits per weight (fact 3)."""
    if catalog.lce_packable(layer.class_name) or not _weighted(layer):
        return []
    if not any(w.precision == 1 for w in layer.weights):
        return []
    bits = sum(w.count for w in layer.weights if w.precision == 1)
    message = (f"binary {layer.class_name} {layer.name} is stored as float32 by LCE "
               f"({_f32(bits)} bytes for {bits} binary weights)")
    hint = "LCE only packs QuantConv2D: use a (1x1) QuantConv2D, or budget 32 bits per weight"
    return [Finding("LCE003", "warning", layer.name, message, hint)]


def finding_padding_waste(layer: LayerRecord, plan: LayerDeployment) -> list[Finding]:
    """LCE004 (warning): packed along C_in in 32-bit words, a conv whose C_in (per group) is not
    a multiple of 32 stores padding bits (fact 1)."""
    kernel = _kernel(layer)
    if not plan.accelerated or kernel is None or kernel.shape[2] % 32 == 0:
        return []
    waste = padding_waste_bytes(kernel.shape)
    message = (f"{layer.name}: C_in={kernel.shape[2]} is not a multiple of 32; "
               f"{waste} of {packed_kernel_bytes(kernel.shape)} packed bytes are padding")
    hint = f"use {math.ceil(kernel.shape[2] / 32) * 32} input channels (free) or a multiple of 32"
    return [Finding("LCE004", "warning", layer.name, message, hint)]


UNFOLDED_HINT = (
    "keep the kernel below 2^25 elements (split the layer); with ste_sign, any size but exactly "
    "2^25 folds and packs"
)


def finding_kernel_not_folded(layer: LayerRecord, plan: LayerDeployment) -> list[Finding]:
    """LCE005 (warning): a quantized kernel the converter does not fold (fact 7): its float32
    latent weights are stored and quantized at inference."""
    kernel = _kernel(layer)
    if kernel is None or kernel_folded(layer) or converter_failure(layer) is not None:
        return []
    message = (f"{layer.name}: kernel of {kernel.count} elements is not folded by the converter; "
               f"{_f32(kernel.count)} bytes of float32 latent weights are stored")
    return [Finding("LCE005", "warning", layer.name, message, UNFOLDED_HINT)]


def finding_unfoldable_bn(layer: LayerRecord, plan: LayerDeployment) -> list[Finding]:
    """LCE006 (info): a BatchNormalization that follows no conv or dense cannot be folded and
    costs a MUL and an ADD with 2 float32 vectors (fact 4)."""
    if _plan(layer) != "batch_norm" or plan.stored_as != "float32":
        return []
    message = f"{layer.name} cannot be folded into a preceding layer: MUL + ADD, {plan.bytes} bytes"
    hint = "expected for pre-activation BN; place BN right after a conv to have it folded"
    return [Finding("LCE006", "info", layer.name, message, hint)]


def finding_kbit_stored_as_float(layer: LayerRecord, plan: LayerDeployment) -> list[Finding]:
    """LCE007 (warning): a kernel quantized to 2-8 bits (SteTern, DoReFa, NoOp(precision=k)) is
    folded into a float32 constant: LCE stores it at 32 bits per weight (fact 3)."""
    kernel = _kernel(layer)
    if kernel is None or kernel.precision is None or not 1 < kernel.precision < 32:
        return []
    message = (
        f"{layer.name}: {kernel.precision}-bit kernel is stored as float32 by LCE "
        f"({_f32(kernel.count)} bytes, not {math.ceil(kernel.count * kernel.precision / 8)})"
    )
    hint = "LCE only stores 1-bit QuantConv2D kernels compactly; budget 32 bits per weight"
    return [Finding("LCE007", "warning", layer.name, message, hint)]


LAYER_RULES = (
    finding_binary_layer_never_packed,
    finding_padding_waste,
    finding_kernel_not_folded,
    finding_unfoldable_bn,
    finding_kbit_stored_as_float,
)


def findings(record: ModelRecord, deployment: Deployment) -> list[Finding]:
    """Every LCE finding for the model: model-level ones first, then per layer in order."""
    result = finding_not_convertible(record, deployment)
    first = next((layer.name for layer in record.walk()
                  if not layer.is_nested_model and _kernel(layer) is not None), None)
    for plan in deployment.layers:
        layer = _find(record, plan.name)
        if layer is None:
            continue
        result.extend(finding_binary_conv_not_packed(layer, plan, layer.name == first))
        for rule in LAYER_RULES:
            result.extend(rule(layer, plan))
    return result
