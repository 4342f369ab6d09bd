"""Every fact the inspector knows about a layer kind or a quantizer, as data (no TensorFlow).

A layer class name is normalised once (`normalise`): the ``package>`` prefix is dropped, Keras
aliases resolve to their class (``Convolution2D`` -> ``Conv2D``, ``MaxPool2D`` ->
``MaxPooling2D``), and Larq's ``Quant`` prefix is split off (``QuantConv2D`` is kind ``Conv2D``,
quantized). Each kind has one `LayerKind` entry holding what every stage needs: the reader
(weight names and roles), `shapes` (its shape rule), `profile` (Larq's and bnnstat's MAC rules),
`audit` (family, pass-through, pooling), `lce` (its LCE plan), `flips` and the Keras adapter.
Quantizers have one `QuantizerKind` entry each (precision, sign-like or not).

Adding a layer type: add its `LayerKind` here; if it needs a new shape, MAC or LCE rule, add
that rule to the one module that applies it (`shapes`, `profile`, `lce`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

LarqMacs = Literal["weights", "zero"]
ExtMacs = Literal["positions", "dense", "transposed", "locally_connected"]

# The layer arguments that hold a quantizer (Larq's names), in the order records list them.
QUANTIZER_ARGUMENTS = (
    "input_quantizer",
    "kernel_quantizer",
    "depthwise_quantizer",
    "pointwise_quantizer",
)


@dataclass(frozen=True)
class WeightRole:
    """One weight of a layer kind.

    `name` is the Keras 3 variable name (what records use); `keras2_name` the name Keras 2 files
    give it when different. `quantizer` / `constraint`: the layer arguments that quantize and
    constrain it (a kernel-like weight has a quantizer argument; its MACs are counted).
    `when`: the boolean config key that must be true (default true) for the weight to exist.
    """

    name: str
    keras2_name: str | None = None
    quantizer: str | None = None
    constraint: str | None = None
    trainable: bool = True
    when: str | None = None

    @property
    def is_kernel(self) -> bool:
        return self.quantizer is not None

    def exists(self, config: Mapping[str, Any]) -> bool:
        return self.when is None or bool(config.get(self.when, True))


@dataclass(frozen=True)
class LayerKind:
    """Everything the inspector knows about one layer kind.

    - `family`: what the layer does (``"conv"``, ``"depthwise"``, ``"separable"``,
      ``"transpose"``, ``"dense"``, ``"batch_norm"``, ``"pool"``, ``"merge"``, ...); `rank` its
      number of spatial dimensions.
    - `weights`: its weights in Keras 3 creation order, or None when not known here.
    - `larq_macs`: Larq 0.14's rule: ``"weights"`` (one MAC record per non-bias weight),
      ``"zero"`` (0 MACs), None (Larq prints ``?``).
    - `ext_macs`: bnnstat's MAC rule (see `bnnstat.inspect.profile`), or None; `no_mac_reason`:
      why the layer does no multiply-accumulate work (None: it may do some, or it is unknown).
    - `passes_through`: passes values on without mixing channels (the audit looks through it).
    - `pool`: ``"max"`` or ``"average"`` for pooling layers.
    - `shape`: the name of its rule in `bnnstat.inspect.shapes`, or None.
    - `lce_plan`: the name of its rule in `bnnstat.inspect.lce`, or None (one generic op).
    - `larq_bn_fusion`: Larq drops ``beta``/``gamma`` as fused into the moving statistics.
    """

    name: str
    family: str
    rank: int | None = None
    weights: tuple[WeightRole, ...] | None = None
    larq_macs: LarqMacs | None = None
    ext_macs: ExtMacs | None = None
    no_mac_reason: str | None = None
    passes_through: bool = False
    pool: Literal["max", "average"] | None = None
    shape: str | None = None
    lce_plan: str | None = None
    larq_bn_fusion: bool = False
    aliases: tuple[str, ...] = ()

    def weight_role(self, name: str) -> WeightRole | None:
        """The role of weight `name` (Keras 2 or 3 spelling), or None."""
        for role in self.weights or ():
            if name in (role.name, role.keras2_name):
                return role
        return None


@dataclass(frozen=True)
class QuantizerKind:
    """One quantizer (class or function; both spellings share the entry).

    `precision` is its bit width, or the default of `precision_argument` (the config key that
    sets it, e.g. DoReFa's ``k_bit``). `sign_input` / `sign_kernel`: LCE packs a convolution
    whose input / kernel it quantizes (a sign, scaled or not). `binary_sign`: it maps to +-1 (or,
    `tags_only`, only tags a weight as 1-bit for Bop), as the audit's binary rules expect.
    """

    name: str
    precision: int | None = None
    precision_argument: str | None = None
    sign_input: bool = False
    sign_kernel: bool = False
    binary_sign: bool = False
    tags_only: bool = False
    spellings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Weights

_KERNEL = WeightRole("kernel", quantizer="kernel_quantizer", constraint="kernel_constraint")
_BIAS = WeightRole("bias", when="use_bias")
_DEPTHWISE = WeightRole(
    "kernel", "depthwise_kernel", "depthwise_quantizer", "depthwise_constraint"
)  # Keras 3 names a DepthwiseConv kernel `kernel`, Keras 2 `depthwise_kernel`
_SEP_DEPTHWISE = WeightRole(
    "depthwise_kernel", quantizer="depthwise_quantizer", constraint="depthwise_constraint"
)
_SEP_POINTWISE = WeightRole(
    "pointwise_kernel", quantizer="pointwise_quantizer", constraint="pointwise_constraint"
)
_GAMMA = WeightRole("gamma", when="scale")
_BETA = WeightRole("beta", when="center")
_BATCH_NORM = (
    _GAMMA,
    _BETA,
    WeightRole("moving_mean", trainable=False),
    WeightRole("moving_variance", trainable=False),
)
# Roles by weight name, for a class the catalog does not know.
_GENERIC_ROLES = (_KERNEL, _SEP_DEPTHWISE, _SEP_POINTWISE)
_NONE: tuple[WeightRole, ...] = ()


# ---------------------------------------------------------------------------------------------
# Layer kinds


def _conv(
    name: str, family: str, rank: int, weights: tuple[WeightRole, ...], **facts: Any
) -> LayerKind:
    shape = "conv_transpose" if family == "transpose" else "conv"
    return LayerKind(name, family, rank, weights, shape=shape, **facts)


def _no_macs(names: str, family: str, reason: str, **facts: Any) -> list[LayerKind]:
    return [
        LayerKind(n, family, weights=_NONE, no_mac_reason=reason, **facts) for n in names.split()
    ]


_DATA = "data movement only"
_DROPOUT = "dropout (identity at inference)"
_POOLING = "pooling (no weights)"
_ACTIVATION = "element-wise activation"
_SCALING = "element-wise scaling"

_KINDS: list[LayerKind] = [
    LayerKind("InputLayer", "input", weights=_NONE, no_mac_reason="input layer", shape="input",
              lce_plan="free"),
    LayerKind("Dense", "dense", weights=(_KERNEL, _BIAS), larq_macs="weights", ext_macs="dense",
              shape="dense", lce_plan="dense"),
    LayerKind("EinsumDense", "einsum", weights=(_KERNEL, _BIAS)),
    _conv("Conv1D", "conv", 1, (_KERNEL, _BIAS), larq_macs="weights", ext_macs="positions",
          lce_plan="conv1d", aliases=("Convolution1D",)),
    _conv("Conv2D", "conv", 2, (_KERNEL, _BIAS), larq_macs="weights", ext_macs="positions",
          lce_plan="conv2d", aliases=("Convolution2D",)),
    _conv("Conv3D", "conv", 3, (_KERNEL, _BIAS), ext_macs="positions", lce_plan="conv3d",
          aliases=("Convolution3D",)),
    _conv("DepthwiseConv1D", "depthwise", 1, (_DEPTHWISE, _BIAS), ext_macs="positions"),
    _conv("DepthwiseConv2D", "depthwise", 2, (_DEPTHWISE, _BIAS), larq_macs="weights",
          ext_macs="positions", lce_plan="depthwise"),
    _conv("SeparableConv1D", "separable", 1, (_SEP_DEPTHWISE, _SEP_POINTWISE, _BIAS),
          larq_macs="weights", ext_macs="positions", lce_plan="separable",
          aliases=("SeparableConvolution1D",)),
    _conv("SeparableConv2D", "separable", 2, (_SEP_DEPTHWISE, _SEP_POINTWISE, _BIAS),
          larq_macs="weights", ext_macs="positions", lce_plan="separable",
          aliases=("SeparableConvolution2D",)),
    # Larq counts Conv1D/2DTranspose through `isinstance` (they subclass Conv1D/2D in Keras 2).
    _conv("Conv1DTranspose", "transpose", 1, (_KERNEL, _BIAS), larq_macs="weights",
          ext_macs="transposed", lce_plan="transposed", aliases=("Convolution1DTranspose",)),
    _conv("Conv2DTranspose", "transpose", 2, (_KERNEL, _BIAS), larq_macs="weights",
          ext_macs="transposed", lce_plan="transposed", aliases=("Convolution2DTranspose",)),
    _conv("Conv3DTranspose", "transpose", 3, (_KERNEL, _BIAS), ext_macs="transposed",
          lce_plan="transposed", aliases=("Convolution3DTranspose",)),
    _conv("LocallyConnected1D", "locally_connected", 1, (_KERNEL, _BIAS),
          ext_macs="locally_connected", lce_plan="locally_connected"),
    _conv("LocallyConnected2D", "locally_connected", 2, (_KERNEL, _BIAS),
          ext_macs="locally_connected", lce_plan="locally_connected"),
    LayerKind("BatchNormalization", "batch_norm", weights=_BATCH_NORM, larq_macs="zero",
              shape="identity", lce_plan="batch_norm", larq_bn_fusion=True),
    LayerKind("SyncBatchNormalization", "batch_norm", weights=_BATCH_NORM, shape="identity"),
    LayerKind("LayerNormalization", "normalization", weights=(_GAMMA, _BETA),
              no_mac_reason=_SCALING, shape="identity"),
    LayerKind("GroupNormalization", "normalization", shape="identity"),
    LayerKind("UnitNormalization", "normalization", shape="identity"),
    LayerKind("Normalization", "normalization",
              weights=tuple(WeightRole(n, trainable=False) for n in ("mean", "variance", "count")),
              no_mac_reason=_SCALING, shape="identity"),
    LayerKind("Rescaling", "normalization", weights=_NONE, no_mac_reason=_SCALING,
              shape="identity"),
    LayerKind("Embedding", "embedding", weights=(WeightRole("embeddings"),), shape="embedding"),
    LayerKind("Activation", "activation", weights=_NONE, no_mac_reason=_ACTIVATION,
              shape="identity", lce_plan="activation"),
    *_no_macs("ReLU LeakyReLU ELU Softmax ThresholdedReLU", "activation", _ACTIVATION,
              shape="identity"),
    LayerKind("PReLU", "activation", weights=(WeightRole("alpha"),), shape="identity"),
    LayerKind("QuantizerActivation", "activation", no_mac_reason=_ACTIVATION),
    *(
        LayerKind(name, "merge", weights=_NONE, no_mac_reason=f"element-wise {name.lower()}",
                  shape="merge")
        for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
    ),
    LayerKind("Concatenate", "merge", weights=_NONE, no_mac_reason="concatenation",
              shape="concatenate"),
    *(
        LayerKind(f"{op}Pooling{rank}D", "pool", rank, _NONE,
                  larq_macs="zero" if rank < 3 else None,
                  no_mac_reason=_POOLING if rank == 3 else None,
                  pool=op.lower() if op == "Max" else "average", shape="pool",
                  lce_plan="max_pool" if (op, rank) == ("Max", 2) else None,
                  aliases=(f"{'Avg' if op == 'Average' else op}Pool{rank}D",))
        for op in ("Max", "Average") for rank in (1, 2, 3)
    ),
    *(
        LayerKind(f"Global{op}Pooling{rank}D", "global_pool", rank, _NONE,
                  no_mac_reason=_POOLING, pool="max" if op == "Max" else "average",
                  shape="global_pool", lce_plan="mean" if op == "Average" else None,
                  aliases=(f"Global{'Avg' if op == 'Average' else op}Pool{rank}D",))
        for op in ("Max", "Average") for rank in (1, 2, 3)
    ),
    LayerKind("Dropout", "dropout", weights=_NONE, no_mac_reason=_DROPOUT, passes_through=True,
              shape="identity", lce_plan="free"),
    *(
        LayerKind(f"SpatialDropout{rank}D", "dropout", rank, _NONE, no_mac_reason=_DROPOUT,
                  passes_through=True, shape="identity",
                  lce_plan="free" if rank == 2 else None)
        for rank in (1, 2, 3)
    ),
    LayerKind("GaussianNoise", "dropout", weights=_NONE, no_mac_reason=_DROPOUT,
              shape="identity", lce_plan="free"),
    *_no_macs("GaussianDropout AlphaDropout", "dropout", _DROPOUT, shape="identity"),
    LayerKind("ActivityRegularization", "dropout", weights=_NONE, no_mac_reason=_DROPOUT,
              shape="identity", lce_plan="free"),
    LayerKind("Flatten", "reshape", weights=_NONE, larq_macs="zero", no_mac_reason=_DATA,
              passes_through=True, shape="flatten", lce_plan="reshape"),
    LayerKind("Reshape", "reshape", weights=_NONE, no_mac_reason=_DATA, passes_through=True,
              shape="reshape", lce_plan="reshape"),
    LayerKind("Permute", "reshape", weights=_NONE, no_mac_reason=_DATA, passes_through=True,
              shape="permute"),
    LayerKind("RepeatVector", "reshape", weights=_NONE, no_mac_reason=_DATA,
              shape="repeat_vector"),
    LayerKind("Identity", "reshape", weights=_NONE, no_mac_reason=_DATA, passes_through=True,
              shape="identity"),
    LayerKind("Masking", "reshape", weights=_NONE, no_mac_reason=_DATA, shape="identity"),
    *(
        LayerKind(f"ZeroPadding{rank}D", "padding", rank, _NONE, no_mac_reason=_DATA,
                  passes_through=True, shape="zero_padding",
                  lce_plan="pad" if rank < 3 else None)
        for rank in (1, 2, 3)
    ),
    *(
        LayerKind(f"Cropping{rank}D", "cropping", rank, _NONE, no_mac_reason=_DATA,
                  passes_through=True, shape="cropping")
        for rank in (1, 2, 3)
    ),
    *(
        LayerKind(f"UpSampling{rank}D", "upsampling", rank, _NONE, no_mac_reason=_DATA,
                  shape="upsampling")
        for rank in (1, 2, 3)
    ),
    # Layers whose computation is code (never executed): shapes and MACs are unknown.
    LayerKind("Lambda", "lambda", weights=_NONE, shape="lambda"),
    LayerKind("TFOpLambda", "tf_op", shape="tf_op"),
    LayerKind("SlicingOpLambda", "tf_op", shape="tf_op"),
    # bnnstat/Larq quantizers used as layers of their own: identity shape.
    *(
        LayerKind(name, "quantizer", shape="identity", aliases=aliases)
        for name, aliases in (
            ("Quantizer", ()), ("SteSign", ()), ("ApproxSign", ()), ("SwishSign", ()),
            ("SteHeaviside", ()), ("MagnitudeAwareSign", ()), ("SteTern", ()),
            ("DoReFa", ("DoReFaQuantizer",)), ("NoOp", ("NoOpQuantizer",)),
        )
    ),
]  # fmt: skip

LAYER_KINDS: dict[str, LayerKind] = {kind.name: kind for kind in _KINDS}
_BY_NAME: dict[str, LayerKind] = {
    name: kind for kind in _KINDS for name in (kind.name, *kind.aliases)
}
UNEXECUTED_FAMILIES = frozenset({"lambda", "tf_op"})
# The LCE plans of layers with weights (the others are weightless ops).
LCE_WEIGHTED_PLANS = frozenset(
    {"conv2d", "dense", "depthwise", "separable", "conv1d", "transposed", "conv3d",
     "locally_connected"}
)  # fmt: skip

# Keras 2 `TFOpLambda` functions (config["function"]) that do no multiply-accumulate work.
_NO_MAC_TF_OPS: dict[str, tuple[str, ...]] = {
    "element-wise add": ("__operators__.add", "math.add", "math.add_n"),
    "element-wise subtract": ("math.subtract",),
    "element-wise multiply": ("math.multiply",),
    "element-wise maximum": ("math.maximum",),
    "element-wise minimum": ("math.minimum",),
    "element-wise activation": (
        "nn.relu", "nn.relu6", "math.sigmoid", "math.tanh", "nn.softmax", "math.sign", "math.abs",
    ),
    "concatenation": ("concat",),
    "data movement only": ("split", "reshape", "transpose", "identity", "compat.v1.transpose"),
}  # fmt: skip
NO_MAC_TF_OP_REASON = {op: reason for reason, ops in _NO_MAC_TF_OPS.items() for op in ops}


def strip_package(name: str) -> str:
    """`"larq>QuantDense"` -> `"QuantDense"`."""
    return name.rsplit(">", 1)[-1]


@functools.lru_cache(maxsize=1024)  # every stage asks for every layer, many times
def normalise(class_name: str) -> tuple[str, bool]:
    """(kind name, quantized) of a layer class name.

    ``"larq>QuantConv2D"`` -> ``("Conv2D", True)``; ``"Convolution2D"`` -> ``("Conv2D",
    False)``; an unknown name comes back without its package prefix (``("MyLayer", False)``).
    """
    name = strip_package(class_name)
    kind = _BY_NAME.get(name)
    if kind is not None:
        return kind.name, False
    if name.startswith("Quant"):
        kind = _BY_NAME.get(name[5:])
        if kind is not None:
            return kind.name, True
    return name, False


def layer_kind(class_name: str) -> LayerKind | None:
    """The catalog entry of a layer class (any spelling), or None for an unknown class."""
    return LAYER_KINDS.get(normalise(class_name)[0])


def is_quantized(class_name: str) -> bool:
    """A Larq/bnnstat ``Quant*`` layer class."""
    return normalise(class_name)[1]


def family(class_name: str) -> str | None:
    kind = layer_kind(class_name)
    return kind.family if kind is not None else None


def lce_plan(class_name: str) -> str | None:
    """The name of the `bnnstat.inspect.lce` rule for this class (None: one generic op)."""
    kind = LAYER_KINDS.get(normalise(class_name)[0])
    return kind.lce_plan if kind is not None else None


def lce_packable(class_name: str) -> bool:
    """LCE packs only quantized 2-D convolutions (QuantConv2D), given sign-like quantizers."""
    return lce_plan(class_name) == "conv2d" and is_quantized(class_name)


def weight_role(class_name: str, weight: str) -> WeightRole | None:
    """The role of weight `weight` of a layer of `class_name` (Keras 2 or 3 spelling).

    Classes the catalog does not know, and weights their entry does not list, fall back to the
    name: ``kernel``, ``depthwise_kernel`` and ``pointwise_kernel`` are kernels.
    """
    kind = layer_kind(class_name)
    role = kind.weight_role(weight) if kind is not None else None
    if role is None:
        role = next((r for r in _GENERIC_ROLES if r.name == weight), None)
    return role


def weight_names(class_name: str, config: Mapping[str, Any]) -> list[str] | None:
    """Names of a layer's variables in Keras 3 creation order, or None when not known."""
    kind = layer_kind(class_name)
    if kind is None or kind.weights is None:
        return None
    return [role.name for role in kind.weights if role.exists(config)]


def no_mac_reason(class_name: str, config: Mapping[str, Any]) -> str | None:
    """Why a layer does no MACs (e.g. "element-wise add"), or None if it may do some."""
    if normalise(class_name)[0] == "TFOpLambda":
        return NO_MAC_TF_OP_REASON.get(str(config.get("function", "")))
    kind = layer_kind(class_name)
    return kind.no_mac_reason if kind is not None else None


# ---------------------------------------------------------------------------------------------
# Quantizers

_QUANTIZERS = (
    QuantizerKind("SteSign", 1, sign_input=True, sign_kernel=True, binary_sign=True,
                  spellings=("ste_sign",)),
    QuantizerKind("ApproxSign", 1, sign_input=True, binary_sign=True, spellings=("approx_sign",)),
    QuantizerKind("SwishSign", 1, sign_input=True, sign_kernel=True, binary_sign=True,
                  spellings=("swish_sign",)),
    QuantizerKind("SteHeaviside", 1, spellings=("ste_heaviside",)),
    QuantizerKind("MagnitudeAwareSign", 1, sign_kernel=True, binary_sign=True,
                  spellings=("magnitude_aware_sign",)),
    QuantizerKind("SteTern", 2, spellings=("ste_tern",)),
    QuantizerKind("DoReFa", 2, "k_bit", spellings=("DoReFaQuantizer", "dorefa_quantizer",
                                                    "dorefa")),
    QuantizerKind("NoOp", None, "precision", binary_sign=True, tags_only=True,
                  spellings=("NoOpQuantizer", "no_op")),
    QuantizerKind("Quantizer", None),  # the base class: its subclasses set `precision`
    # Larq Zoo functions, known to be binary (scaled signs):
    QuantizerKind("xnor_weight_scale", 1, sign_kernel=True),
    QuantizerKind("magnitude_aware_sign_unclipped", 1, sign_kernel=True),
)  # fmt: skip


def _squash(name: str) -> str:
    return strip_package(name).replace("_", "").replace("-", "").lower()


QUANTIZER_KINDS: dict[str, QuantizerKind] = {q.name: q for q in _QUANTIZERS}
_QUANTIZER_BY_NAME: dict[str, QuantizerKind] = {
    _squash(name): q for q in _QUANTIZERS for name in (q.name, *q.spellings)
}


def quantizer_kind(name: str) -> QuantizerKind | None:
    """The entry of a quantizer class or function name (any spelling: ``SteSign``,
    ``ste_sign``, ``larq>SteSign``), or None for an unknown one."""
    return _QUANTIZER_BY_NAME.get(_squash(name))


def quantizer_precision(name: str, config: Mapping[str, Any]) -> int | None:
    """The bit width a known quantizer declares with `config`, or None."""
    kind = quantizer_kind(name)
    if kind is None:
        return None
    if kind.precision_argument is not None:
        value = config.get(kind.precision_argument, kind.precision)
        return None if value is None else int(value)
    return kind.precision
