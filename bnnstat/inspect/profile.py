"""Model profiles: parameters, memory and MACs by precision, computed from layer records.

Pure Python, no TensorFlow. `profile(record)` turns a `ModelRecord` into a `ModelProfile` whose
Larq-compatible fields are exactly what `larq.models.summary` (Larq 0.14) reports:

- A weight's bit width is its precision tag, else 32. A layer's input precision is its input
  quantizer's, else None (printed ``-``).
- BatchNormalization: ``beta`` is dropped when ``moving_mean`` exists and ``gamma`` when
  ``moving_variance`` exists (Larq treats them as fused). Keras' own count is kept as
  `keras_param_count`.
- MAC layers (Dense, Conv1D/2D, DepthwiseConv2D, SeparableConv1D/2D, their Quant versions and,
  as Larq does through subclassing, Conv1D/2DTranspose): every non-bias weight gives
  ``n = weight count x output pixels`` MACs at precision ``max(input precision or 32, weight
  bits)``. Output pixels are ``shape[1] * shape[2]`` for 4-D outputs, ``shape[1]`` for 3-D and 1
  for 2-D, with unknown dimensions counted as -1 (as Larq does).
- Flatten, BatchNormalization and max/average pooling 1D/2D count 0 MACs; every other layer and
  a layer whose output shape is unknown are "not computed" (None, printed ``?``).
- Memory = sum of count x bit width; the 8-bit-FP variant counts any weight wider than 8 bits as
  8; the float-32 equivalent is 32 x count.
- A nested model is one row summing its layers' profiles (its own layers are in `layers`): the
  weights each of them counts (BatchNormalization fusion applies inside it), and the MAC records
  of those that have some (a ``?`` inside adds nothing, so the row always has a count, 0 without
  MAC layers). Its input precision is its first layer's and its output shape its last layer's.

Extensions (never changing the fields above; all under names starting with ``ext_`` or in
`note`):

- `ext_macs`: bnnstat's own MAC count for every layer where it is defined. It equals Larq's for
  Larq's MAC layers in channels_last, and adds:
  * channels_first: output positions are the spatial dimensions ``shape[2:]`` (Larq multiplies
    ``C x H`` instead);
  * Conv3D: ``kernel count x D_out x H_out x W_out``;
  * Conv1D/2D/3DTranspose: ``kernel count x input positions`` (every input position is
    multiplied by the whole kernel; Larq uses the output positions);
  * DepthwiseConv1D: ``depthwise kernel count x output length``;
  * LocallyConnected1D/2D: ``output positions x prod(kernel_size) x C_in x filters`` (each
    position has its own kernel, so this equals the kernel size for implementation 1);
  * Dense on inputs of rank > 2: ``kernel count x prod(shape[1:-1])``;
  * a shared layer counts every call; a nested model sums its layers;
  * layers that do no multiply-accumulate (activations, element-wise merges, reshapes, global
    pooling, dropout, ...) count 0 and say why in `note`.
- `note`: why a Larq cell is ``?`` (or why bnnstat's count differs from Larq's).
- BOPs (bit operations): ``sum over MAC records of n x input bits x weight bits`` (input bits
  = input precision or 32), from `ext_macs`.
- `ext_activation_memory_bits`: the layer's output elements (one sample) x 32 bits (Keras
  activations are float32 tensors, even after a quantizer).
- `compression_factor`: ``fp32 equivalent / memory`` (shown as "N x").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bnnstat.inspect import catalog
from bnnstat.inspect.records import LayerRecord, ModelRecord, Shape, WeightRecord

FUSED_BN_PAIRS = (("beta", "moving_mean"), ("gamma", "moving_variance"))


def _kind(layer: LayerRecord) -> catalog.LayerKind | None:
    return catalog.layer_kind(layer.class_name)


def no_mac_reason(layer: LayerRecord) -> str | None:
    """Why a layer does no MACs (e.g. "element-wise add"), or None if it may do some."""
    return catalog.no_mac_reason(layer.class_name, layer.config)


def larq_mac_rule(layer: LayerRecord) -> str | None:
    """Larq's MAC rule of the layer's class: "weights", "zero" or None (Larq prints "?")."""
    kind = _kind(layer)
    return kind.larq_macs if kind is not None else None


def ext_mac_rule(layer: LayerRecord) -> str | None:
    """bnnstat's MAC rule of the layer's class (see the module docstring), or None."""
    kind = _kind(layer)
    return kind.ext_macs if kind is not None else None


@dataclass(frozen=True)
class WeightProfile:
    """One weight as Larq counts it: `bitwidth` is its precision tag, else 32."""

    name: str
    shape: tuple[int, ...]
    bitwidth: int
    trainable: bool
    is_bias: bool

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def memory_bits(self) -> int:
        return self.count * self.bitwidth

    @property
    def int8_fp_weights_memory_bits(self) -> int:
        """Memory with every weight wider than 8 bits counted as 8 bits."""
        return self.count * 8 if self.bitwidth > 8 else self.memory_bits

    @property
    def fp32_equivalent_memory_bits(self) -> int:
        return self.count * 32


@dataclass(frozen=True)
class MacProfile:
    """`n` multiply-accumulates of an input of `input_bits` with weight `weight` of `weight_bits`.

    Precision (Larq) = ``max(input_bits, weight_bits)``; bit operations = ``n x input_bits x
    weight_bits``. `input_bits` is the input quantizer's precision, or 32 without one.
    """

    weight: str
    n: int
    input_bits: int
    weight_bits: int

    @property
    def precision(self) -> int:
        return max(self.input_bits, self.weight_bits)

    @property
    def bops(self) -> int:
        return self.n * self.input_bits * self.weight_bits


def _sum_macs(macs: Iterable[MacProfile], precision: int | None = None) -> int:
    return sum(m.n for m in macs if precision is None or m.precision == precision)


class _ParamTotals:
    """`params`, `trainable_params` and `non_trainable_params` from a class's `param_count`."""

    def param_count(self, bitwidth: int | None = None, trainable: bool | None = None) -> int:
        raise NotImplementedError

    @property
    def params(self) -> int:
        return self.param_count()

    @property
    def trainable_params(self) -> int:
        return self.param_count(trainable=True)

    @property
    def non_trainable_params(self) -> int:
        return self.param_count(trainable=False)


@dataclass(frozen=True)
class LayerProfile(_ParamTotals):
    """The profile of one entry of `model.layers` (see the module docstring for the rules).

    `macs` holds Larq's MAC records, or None where Larq prints ``?``. `ext_macs` is bnnstat's
    extension count (None where not even bnnstat can tell; `note` then says why).
    """

    name: str
    class_name: str
    input_precision: int | None
    output_shape: Shape | None
    output_pixels: int | None
    weights: tuple[WeightProfile, ...]
    fused_weights: tuple[str, ...]
    keras_param_count: int
    macs: tuple[MacProfile, ...] | None
    note: str | None = None
    ext_macs: tuple[MacProfile, ...] | None = None
    ext_activation_memory_bits: int | None = None
    call_count: int = 1
    layers: tuple[LayerProfile, ...] = ()

    @property
    def is_nested_model(self) -> bool:
        return bool(self.layers)

    @property
    def output_shape_str(self) -> str:
        """The shape as Larq prints it: ``(-1, 32, 32, 3)``, or ``multiple`` when unknown."""
        if not self.output_shape:
            return "multiple"
        return str(tuple(dim if dim else -1 for dim in self.output_shape))

    def param_count(self, bitwidth: int | None = None, trainable: bool | None = None) -> int:
        return sum(
            w.count
            for w in self.weights
            if (bitwidth is None or w.bitwidth == bitwidth)
            and (trainable is None or w.trainable == trainable)
        )

    @property
    def param_bitwidths(self) -> tuple[int, ...]:
        return tuple(sorted({w.bitwidth for w in self.weights}))

    @property
    def mac_precisions(self) -> tuple[int, ...]:
        return tuple(sorted({m.precision for m in self.macs or ()}))

    @property
    def memory_bits(self) -> int:
        return sum(w.memory_bits for w in self.weights)

    @property
    def int8_fp_weights_memory_bits(self) -> int:
        return sum(w.int8_fp_weights_memory_bits for w in self.weights)

    @property
    def fp32_equivalent_memory_bits(self) -> int:
        return sum(w.fp32_equivalent_memory_bits for w in self.weights)

    def mac_count(self, precision: int | None = None) -> int | None:
        """Larq's MAC count (of one precision), or None where Larq prints ``?``."""
        return None if self.macs is None else _sum_macs(self.macs, precision)

    def ext_mac_count(self, precision: int | None = None) -> int | None:
        return None if self.ext_macs is None else _sum_macs(self.ext_macs, precision)

    @property
    def ext_bops(self) -> int | None:
        return None if self.ext_macs is None else sum(m.bops for m in self.ext_macs)


@dataclass(frozen=True)
class ModelProfile(_ParamTotals):
    """A whole model's profile: `layers` in `model.layers` order, totals as properties."""

    name: str
    class_name: str
    layers: tuple[LayerProfile, ...]
    source: str = "<in-memory>"
    notes: tuple[str, ...] = ()

    def param_count(self, bitwidth: int | None = None, trainable: bool | None = None) -> int:
        return sum(layer.param_count(bitwidth, trainable) for layer in self.layers)

    @property
    def keras_param_count(self) -> int:
        return sum(layer.keras_param_count for layer in self.layers)

    @property
    def param_bitwidths(self) -> tuple[int, ...]:
        """Bit widths that get a ``# N-bit`` column, sorted."""
        return tuple(sorted({b for layer in self.layers for b in layer.param_bitwidths}))

    @property
    def mac_precisions(self) -> tuple[int, ...]:
        """Precisions that get an ``N-bit MACs`` column, sorted."""
        return tuple(sorted({p for layer in self.layers for p in layer.mac_precisions}))

    def params_by_bitwidth(self) -> dict[int, int]:
        return {b: self.param_count(b) for b in self.param_bitwidths}

    @property
    def memory_bits(self) -> int:
        return sum(layer.memory_bits for layer in self.layers)

    @property
    def int8_fp_weights_memory_bits(self) -> int:
        return sum(layer.int8_fp_weights_memory_bits for layer in self.layers)

    @property
    def fp32_equivalent_memory_bits(self) -> int:
        return sum(layer.fp32_equivalent_memory_bits for layer in self.layers)

    @property
    def compression_ratio(self) -> float:
        """Larq's ratio: memory / float-32 equivalent memory (0.0 for a model with no weights)."""
        return self.memory_bits / max(1e-8, self.fp32_equivalent_memory_bits)

    @property
    def compression_factor(self) -> float | None:
        """Extension: float-32 equivalent / memory ("N x smaller"); None without weights."""
        if self.memory_bits == 0:
            return None
        return self.fp32_equivalent_memory_bits / self.memory_bits

    def mac_count(self, precision: int | None = None) -> int:
        """Larq's total: the sum over the layers that have a count (a ``?`` adds 0)."""
        return sum(layer.mac_count(precision) or 0 for layer in self.layers)

    def macs_by_precision(self) -> dict[int, int]:
        return {p: self.mac_count(p) for p in self.mac_precisions}

    @property
    def binarized_mac_ratio(self) -> float:
        return self.mac_count(1) / max(1, self.mac_count())

    @property
    def ternarized_mac_ratio(self) -> float:
        return self.mac_count(2) / max(1, self.mac_count())

    # -- extensions ---------------------------------------------------------------------------
    @property
    def ext_mac_precisions(self) -> tuple[int, ...]:
        return tuple(sorted({m.precision for layer in self.layers for m in layer.ext_macs or ()}))

    def ext_mac_count(self, precision: int | None = None) -> int:
        return sum(layer.ext_mac_count(precision) or 0 for layer in self.layers)

    @property
    def ext_bops(self) -> int:
        return sum(layer.ext_bops or 0 for layer in self.layers)

    @property
    def ext_activation_memory_bits(self) -> int:
        """Sum of every layer's output (one sample, float32): all activations kept at once."""
        return sum(layer.ext_activation_memory_bits or 0 for layer in self.layers)

    @property
    def ext_peak_layer_activation_bits(self) -> int:
        """The largest single layer output (one sample, float32)."""
        return max((layer.ext_activation_memory_bits or 0 for layer in self.layers), default=0)

    def layer(self, name: str) -> LayerProfile:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


# ------------------------------------------------------------------------------------------
# Larq's rules
# ------------------------------------------------------------------------------------------
def counted_weights(layer: LayerRecord) -> tuple[tuple[WeightRecord, ...], tuple[str, ...]]:
    """The weights Larq counts and the names of the BatchNormalization ones it drops as fused."""
    weights = layer.weights
    kind = _kind(layer)
    if kind is None or not kind.larq_bn_fusion:
        return weights, ()
    names = {w.name for w in weights}
    dropped = tuple(
        fused for fused, partner in FUSED_BN_PAIRS if fused in names and partner in names
    )
    return tuple(w for w in weights if w.name not in dropped), dropped


def weight_profile(layer_name: str, weight: WeightRecord) -> WeightProfile:
    """Larq's view of a weight. A weight is a bias when its full name (``layer/weight``)
    contains "bias" (Larq matches on the variable name, layer name included)."""
    return WeightProfile(
        name=weight.name,
        shape=tuple(weight.shape),
        bitwidth=weight.precision if weight.precision is not None else 32,
        trainable=weight.trainable,
        is_bias="bias" in f"{layer_name}/{weight.name}",
    )


def larq_output_pixels(shape: Shape | None) -> int | None:
    """Larq's pixels of one output feature map: ``shape[1]*shape[2]`` (4-D), ``shape[1]`` (3-D),
    1 (2-D), with unknown dimensions counted as -1; None when the shape is unknown or of
    another rank (Larq cannot count those)."""
    if not shape:
        return None
    dims = [dim if dim else -1 for dim in shape]
    if len(dims) == 4:
        return dims[1] * dims[2]
    if len(dims) == 3:
        return dims[1]
    if len(dims) == 2:
        return 1
    return None


def larq_macs(
    layer: LayerRecord, weights: Sequence[WeightProfile], pixels: int | None
) -> tuple[MacProfile, ...] | None:
    """Larq's MAC records: one per non-bias weight of a MAC layer; () for the zero-MAC layers;
    None ("?") for every other layer and whenever the output pixels are unknown."""
    rule = larq_mac_rule(layer)
    if rule is None or not pixels:
        return None
    if rule == "zero":
        return ()
    input_bits = layer.input_precision or 32
    return tuple(
        MacProfile(w.name, w.count * pixels, input_bits, w.bitwidth)
        for w in weights
        if not w.is_bias
    )


# ------------------------------------------------------------------------------------------
# Extensions
# ------------------------------------------------------------------------------------------
def _channels_first(layer: LayerRecord) -> bool:
    return layer.config.get("data_format") == "channels_first"


def _spatial(shape: Shape, channels_first: bool) -> tuple[int | None, ...]:
    return tuple(shape[2:]) if channels_first else tuple(shape[1:-1])


def _product(dims: Iterable[int | None]) -> int | None:
    total = 1
    for dim in dims:
        if dim is None:
            return None
        total *= dim
    return total


def _call_shapes(shapes: Sequence[Shape], single: Shape | None) -> tuple[Shape, ...]:
    if shapes:
        return tuple(shapes)
    return (single,) if single is not None else ()


def _positions_per_call(layer: LayerRecord) -> tuple[list[int], str | None]:
    """Output (or, for transposed convolutions, input) positions of every call."""
    rule = ext_mac_rule(layer)
    transposed = rule == "transposed"
    shapes = (
        tuple(layer.input_shapes)
        if transposed
        else _call_shapes(layer.output_shapes, layer.output_shape)
    )
    if not shapes:
        what = "input" if transposed else "output"
        return [], layer.note or f"{what} shape unknown: MACs need the {what} size"
    positions = []
    for shape in shapes:
        if rule == "dense":
            count = _product(shape[1:-1])
        else:
            count = _product(_spatial(shape, _channels_first(layer)))
        if count is None:
            return [], layer.note or f"shape {_shape_text(shape)} has unknown spatial dimensions"
        positions.append(count)
    return positions, None


def _shape_text(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _locally_connected_macs(
    layer: LayerRecord, kernel: WeightProfile, positions: int, input_shape: Shape | None
) -> int:
    """``positions x prod(kernel_size) x C_in x filters``; the kernel size when it is unrolled
    (implementation 1 stores one kernel slice per output position)."""
    kernel_size = layer.config.get("kernel_size")
    filters = layer.config.get("filters")
    if input_shape is not None and kernel_size and filters:
        channels = input_shape[1] if _channels_first(layer) else input_shape[-1]
        window = _product(kernel_size if isinstance(kernel_size, list | tuple) else [kernel_size])
        if channels is not None and window is not None:
            return positions * window * channels * int(filters)
    return kernel.count


def extension_macs(
    layer: LayerRecord, weights: Sequence[WeightProfile], nested: Sequence[LayerProfile]
) -> tuple[tuple[MacProfile, ...] | None, str | None]:
    """bnnstat's MAC records for a layer and, when it cannot count them, the reason."""
    name = layer.class_name
    if layer.is_nested_model:
        macs = tuple(m for sub in nested for m in sub.ext_macs or ())
        unknown = [sub.name for sub in nested if sub.ext_macs is None]
        if unknown:
            return macs, f"MACs of {', '.join(unknown)} unknown; the sum leaves them out"
        return macs, None
    rule = ext_mac_rule(layer)
    if rule is None:
        if no_mac_reason(layer) is not None or larq_mac_rule(layer) == "zero":
            return (), None
        if catalog.family(name) in catalog.UNEXECUTED_FAMILIES:
            return None, layer.note or f"{name} layer not executed: MACs unknown"
        return None, layer.note or f"{name}: MACs unknown to bnnstat"
    positions, reason = _positions_per_call(layer)
    if reason is not None:
        return None, reason
    input_bits = layer.input_precision or 32
    input_shapes = list(layer.input_shapes) or [None] * len(positions)
    macs = []
    for call, count in enumerate(positions):
        for weight in weights:
            if weight.is_bias:
                continue
            if rule == "locally_connected":
                input_shape = input_shapes[call] if call < len(input_shapes) else None
                n = _locally_connected_macs(layer, weight, count, input_shape)
            else:
                n = weight.count * count
            macs.append(MacProfile(weight.name, n, input_bits, weight.bitwidth))
    return tuple(macs), None


def activation_memory_bits(shape: Shape | None, call_count: int = 1) -> int | None:
    """Output elements of one sample x 32 bits (None when the shape is not fully known)."""
    if not shape:
        return None
    elements = _product(shape[1:])
    return None if elements is None else elements * 32 * max(1, call_count)


def explain(
    layer: LayerRecord,
    larq: tuple[MacProfile, ...] | None,
    ext: tuple[MacProfile, ...] | None,
    ext_reason: str | None,
    pixels: int | None,
) -> str | None:
    """The `note` of a layer: why Larq prints ``?``, or how bnnstat's count differs."""
    name = layer.class_name
    parts: list[str] = []
    ext_total = None if ext is None else _sum_macs(ext)
    if larq is None:
        if no_mac_reason(layer) is not None:
            parts.append(f"{no_mac_reason(layer)}: no MACs")
        elif larq_mac_rule(layer) is not None and layer.output_shape and pixels is None:
            rank = len(layer.output_shape)
            counted = "" if ext_total is None else f"; bnnstat counts {ext_total} MACs"
            parts.append(f"Larq cannot count {rank}-D outputs{counted}")
        elif ext_total is not None:
            parts.append(f"{name} is not counted by Larq; bnnstat counts {ext_total} MACs")
    elif ext is not None and ext_total != _sum_macs(larq):
        parts.append(f"bnnstat counts {ext_total} MACs here ({_difference(layer)})")
    if layer.output_shape and any(d is None for d in layer.output_shape[1:]) and larq:
        parts.append("Larq counts unknown dimensions as -1")
    if ext_reason:
        parts.append(ext_reason)
    elif layer.note and layer.note not in parts:
        parts.append(layer.note)
    if layer.shape_assumed and "assum" not in " ".join(parts):
        parts.append("output shape assumed, not inferred")
    return "; ".join(parts) if parts else None


def _difference(layer: LayerRecord) -> str:
    if ext_mac_rule(layer) == "transposed":
        return "transposed: kernel x input positions, Larq uses output positions"
    if _channels_first(layer):
        return "channels_first: Larq multiplies C x H instead of the spatial size"
    if layer.call_count > 1:
        return f"shared layer called {layer.call_count} times, Larq counts one call"
    return "Larq's pixel count differs for this output rank"


def profile_layer(layer: LayerRecord) -> LayerProfile:
    """Profile one layer record (recursively for a nested model)."""
    if layer.is_nested_model:
        return _profile_nested(layer)
    kept, fused = counted_weights(layer)
    weights = tuple(weight_profile(layer.name, w) for w in kept)
    pixels = larq_output_pixels(layer.output_shape)
    macs = larq_macs(layer, weights, pixels)
    ext, reason = extension_macs(layer, weights, ())
    note = explain(layer, macs, ext, reason, pixels)
    return LayerProfile(
        name=layer.name,
        class_name=layer.class_name,
        input_precision=layer.input_precision,
        output_shape=layer.output_shape,
        output_pixels=pixels,
        weights=weights,
        fused_weights=fused,
        keras_param_count=sum(w.count for w in layer.weights),
        macs=macs,
        note=note,
        ext_macs=ext,
        ext_activation_memory_bits=activation_memory_bits(layer.output_shape, layer.call_count),
        call_count=layer.call_count,
    )


def _profile_nested(layer: LayerRecord) -> LayerProfile:
    """A nested model's row: the sum of its layers' profiles (the module docstring's rule; the
    record's own weights, all of its layers' together, are not counted again)."""
    nested = tuple(profile_layer(sub) for sub in layer.layers)
    ext, reason = extension_macs(layer, (), nested)
    output_shape = nested[-1].output_shape
    return LayerProfile(
        name=layer.name,
        class_name=layer.class_name,
        input_precision=nested[0].input_precision,
        output_shape=output_shape,
        output_pixels=larq_output_pixels(output_shape),
        weights=tuple(w for sub in nested for w in sub.weights),
        fused_weights=tuple(f"{sub.name}/{name}" for sub in nested for name in sub.fused_weights),
        keras_param_count=sum(sub.keras_param_count for sub in nested),
        macs=tuple(m for sub in nested for m in sub.macs or ()),
        note=reason,
        ext_macs=ext,
        ext_activation_memory_bits=sum(sub.ext_activation_memory_bits or 0 for sub in nested),
        call_count=layer.call_count,
        layers=nested,
    )


def _fused_note(layers: Sequence[LayerProfile]) -> str | None:
    larq = sum(layer.params for layer in layers)
    keras = sum(layer.keras_param_count for layer in layers)
    if keras == larq:
        return None
    return (
        f"Keras counts {keras} parameters; Larq leaves out {keras - larq} BatchNormalization "
        f"beta/gamma values it treats as fused into moving_mean/moving_variance"
    )


def profile(record: ModelRecord) -> ModelProfile:
    """Profile a model record (Larq's numbers and bnnstat's extensions; nothing deployment
    specific: see `bnnstat.inspect.analysis`)."""
    layers = tuple(profile_layer(layer) for layer in record.layers)
    notes = tuple(record.notes)
    fused = _fused_note(layers)
    if fused:
        notes += (fused,)
    return ModelProfile(
        name=record.name,
        class_name=record.class_name,
        layers=layers,
        source=record.source,
        notes=notes,
    )


def by_bitwidth(values: Mapping[int, int]) -> dict[str, int]:
    """Bit-width keyed mapping with string keys, as in the JSON report."""
    return {str(bits): count for bits, count in sorted(values.items())}
