"""Static output-shape rules per layer class, computed from a saved layer config (no TensorFlow).

`infer(class_name, config, inputs, kwargs)` returns the output shape(s) of one call of a layer,
given the shapes of its input tensors. Shapes include the batch dimension; `None` marks an
unknown size. Where no rule applies (a Lambda, an unknown class) the result has no shapes and a
`note` saying why; callers never guess silently.

Spatial rules (per spatial axis, `n` input size, `k` kernel size, `d` dilation, `s` stride):
- convolution / pooling: effective kernel `k' = (k - 1) * d + 1`; "valid": `ceil((n - k' + 1) / s)`,
  "same"/"causal": `ceil(n / s)`, "full": `ceil((n + k' - 1) / s)`.
- transposed convolution: without `output_padding`, "valid": `n * s + max(k' - s, 0)`, "same":
  `n * s`, "full": `n * s - (s + k' - 2)`; with `output_padding = p`:
  `(n - 1) * s + k' - 2 * pad + p`, pad = `k' // 2` ("same"), 0 ("valid"), `k' - 1` ("full").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bnnstat.inspect import catalog

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Inferred:
    """Outcome of one shape rule: one shape per output tensor, or none plus a reason."""

    shapes: tuple[Shape, ...] = ()
    note: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.shapes)


@dataclass(frozen=True)
class TensorArg:
    """A tensor passed as a keyword argument (e.g. `y` of `tf.math.add`), by its shape."""

    shape: Shape | None


def unknown(reason: str) -> Inferred:
    return Inferred((), reason)


def _one(shape: Shape) -> Inferred:
    return Inferred((tuple(shape),))


# --- small helpers ---------------------------------------------------------------------------


def _tuple(value: Any, rank: int) -> tuple[Any, ...]:
    """An int-or-sequence config entry as a tuple of `rank` entries (Keras' normalize_tuple)."""
    if value is None:
        return (None,) * rank
    if isinstance(value, (list, tuple)):
        return tuple(value) if len(value) == rank else tuple(value) * rank
    return (value,) * rank


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def conv_length(n: int | None, k: int, padding: str, stride: int, dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis (see module docstring)."""
    if n is None:
        return None
    eff = (k - 1) * dilation + 1
    if padding in ("same", "causal"):
        length = n
    elif padding == "full":
        length = n + eff - 1
    else:
        length = n - eff + 1
    return max(_ceil_div(length, stride), 0)


def deconv_length(
    n: int | None, k: int, padding: str, stride: int, output_padding: int | None, dilation: int = 1
) -> int | None:
    """Output length of a transposed convolution along one axis (see module docstring)."""
    if n is None:
        return None
    eff = (k - 1) * dilation + 1
    if output_padding is None:
        if padding == "valid":
            return n * stride + max(eff - stride, 0)
        if padding == "full":
            return n * stride - (stride + eff - 2)
        return n * stride
    pad = {"same": eff // 2, "valid": 0, "full": eff - 1}[padding]
    return (n - 1) * stride + eff - 2 * pad + output_padding


def _channels_first(config: Mapping[str, Any]) -> bool:
    return config.get("data_format") == "channels_first"


def _split_spatial(shape: Shape, rank: int, channels_first: bool) -> tuple[list, int | None]:
    if channels_first:
        return list(shape[2 : 2 + rank]), shape[1]
    return list(shape[1 : 1 + rank]), shape[-1]


def _join_spatial(batch: Any, spatial: list, channels: Any, channels_first: bool) -> Shape:
    if channels_first:
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def _first(inputs: Sequence[Shape | None]) -> Shape | None:
    return inputs[0] if inputs else None


# --- rules -----------------------------------------------------------------------------------


def _input_layer(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None and config.get("input_shape") is not None:
        shape = [None, *config["input_shape"]]
    if shape is None:
        return unknown("shape unknown: InputLayer without batch shape")
    return _one((None, *shape[1:]))


def _identity(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    return _one(inputs[0])


def _dense(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    return _one((*inputs[0][:-1], config["units"]))


def _conv(config: Mapping[str, Any], inputs: Sequence[Shape | None], rank: int) -> Inferred:
    first = _channels_first(config)
    spatial, channels = _split_spatial(inputs[0], rank, first)
    kernel = _tuple(config["kernel_size"], rank)
    strides = _tuple(config.get("strides", 1), rank)
    dilation = _tuple(config.get("dilation_rate", 1), rank)
    padding = str(config.get("padding", "valid")).lower()
    out = [
        conv_length(n, k, padding, s, d)
        for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)
    ]
    if "filters" in config and config.get("filters") is not None:
        out_channels = config["filters"]
    else:  # depthwise
        multiplier = config.get("depth_multiplier", 1)
        out_channels = None if channels is None else channels * multiplier
    return _one(_join_spatial(inputs[0][0], out, out_channels, first))


def _conv_transpose(
    config: Mapping[str, Any], inputs: Sequence[Shape | None], rank: int
) -> Inferred:
    first = _channels_first(config)
    spatial, _ = _split_spatial(inputs[0], rank, first)
    kernel = _tuple(config["kernel_size"], rank)
    strides = _tuple(config.get("strides", 1), rank)
    dilation = _tuple(config.get("dilation_rate", 1), rank)
    out_pad = _tuple(config.get("output_padding"), rank)
    padding = str(config.get("padding", "valid")).lower()
    out = [
        deconv_length(n, k, padding, s, p, d)
        for n, k, s, p, d in zip(spatial, kernel, strides, out_pad, dilation, strict=True)
    ]
    return _one(_join_spatial(inputs[0][0], out, config["filters"], first))


def _pool(config: Mapping[str, Any], inputs: Sequence[Shape | None], rank: int) -> Inferred:
    first = _channels_first(config)
    spatial, channels = _split_spatial(inputs[0], rank, first)
    pool = _tuple(config.get("pool_size", 2), rank)
    strides = config.get("strides")
    strides = pool if strides is None else _tuple(strides, rank)
    padding = str(config.get("padding", "valid")).lower()
    out = [conv_length(n, k, padding, s) for n, k, s in zip(spatial, pool, strides, strict=True)]
    return _one(_join_spatial(inputs[0][0], out, channels, first))


def _global_pool(config: Mapping[str, Any], inputs: Sequence[Shape | None], rank: int) -> Inferred:
    first = _channels_first(config)
    spatial, channels = _split_spatial(inputs[0], rank, first)
    if config.get("keepdims"):
        return _one(_join_spatial(inputs[0][0], [1] * len(spatial), channels, first))
    return _one((inputs[0][0], channels))


def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    """Padding/cropping config as one (before, after) pair per spatial axis."""
    if isinstance(value, int):
        return [(value, value)] * rank
    if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        return [(value[0], value[1])]
    pairs = []
    for item in value:
        pairs.append((item, item) if isinstance(item, int) else (item[0], item[1]))
    return pairs


def _add(n: int | None, delta: int) -> int | None:
    return None if n is None else n + delta


def _pad_or_crop(
    config: Mapping[str, Any], inputs: Sequence[Shape | None], rank: int, key: str, sign: int
) -> Inferred:
    first = _channels_first(config)
    spatial, channels = _split_spatial(inputs[0], rank, first)
    pairs = _pairs(config.get(key, 1), rank)
    out = [_add(n, sign * (a + b)) for n, (a, b) in zip(spatial, pairs, strict=True)]
    return _one(_join_spatial(inputs[0][0], out, channels, first))


def _upsampling(config: Mapping[str, Any], inputs: Sequence[Shape | None], rank: int) -> Inferred:
    first = _channels_first(config)
    spatial, channels = _split_spatial(inputs[0], rank, first)
    size = _tuple(config.get("size", 2), rank)
    out = [None if n is None else n * s for n, s in zip(spatial, size, strict=True)]
    return _one(_join_spatial(inputs[0][0], out, channels, first))


def _product(dims: Sequence[int | None]) -> int | None:
    if any(d is None for d in dims):
        return None
    return math.prod(dims)  # type: ignore[arg-type]


def _flatten(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    return _one((inputs[0][0], _product(inputs[0][1:])))


def _reshape_dims(target: Sequence[int], known: int | None) -> tuple[int | None, ...]:
    target = list(target)
    if -1 in target:
        rest = _product([d for d in target if d != -1])
        fill = None if known is None or not rest else known // rest
        target[target.index(-1)] = fill
    return tuple(target)


def _reshape(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    dims = _reshape_dims(config["target_shape"], _product(inputs[0][1:]))
    return _one((inputs[0][0], *dims))


def _permute(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    shape = inputs[0]
    return _one((shape[0], *(shape[d] for d in config["dims"])))


def _repeat_vector(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    return _one((inputs[0][0], config["n"], inputs[0][-1]))


def _embedding(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    return _one((*inputs[0], config["output_dim"]))


def broadcast(shapes: Sequence[Shape]) -> Shape:
    """Numpy-style broadcast of shapes whose sizes may be None (unknown)."""
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        sized = [d for d in dims if d is not None and d != 1]
        if sized:
            out.append(sized[0])
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _merge(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    return _one(broadcast(inputs))  # type: ignore[arg-type]


def _concat_shapes(shapes: Sequence[Shape], axis: int) -> Shape:
    rank = len(shapes[0])
    axis = axis % rank
    out = list(shapes[0])
    sizes = [s[axis] for s in shapes]
    out[axis] = None if any(d is None for d in sizes) else sum(sizes)
    for ax in range(rank):
        if ax != axis and out[ax] is None:
            out[ax] = next((s[ax] for s in shapes if s[ax] is not None), None)
    return tuple(out)


def _concatenate(config: Mapping[str, Any], inputs: Sequence[Shape | None]) -> Inferred:
    return _one(_concat_shapes(inputs, config.get("axis", -1)))  # type: ignore[arg-type]


# --- TFOpLambda (Keras 2 `tf.*` calls in functional models) ------------------------------------

_UNARY_OPS = {
    "identity", "nn.relu", "nn.relu6", "nn.elu", "nn.selu", "nn.silu", "nn.swish", "nn.gelu",
    "nn.sigmoid", "nn.tanh", "nn.softmax", "nn.leaky_relu", "nn.softplus", "sigmoid", "tanh",
    "clip_by_value", "cast", "sign", "stop_gradient", "__operators__.neg", "compat.v1.squeeze",
    "round", "abs", "nn.softsign", "nn.dropout", "compat.v1.nn.dropout", "__operators__.invert",
}  # fmt: skip
_BINARY_OPS = {
    "__operators__.add", "__operators__.sub", "__operators__.mul", "__operators__.truediv",
    "__operators__.pow", "add", "subtract", "multiply", "divide", "maximum", "minimum",
    "truediv", "pow", "add_n", "nn.bias_add", "where",
}  # fmt: skip
_REDUCE_OPS = {"reduce_mean", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod"}


def _op_name(function: str) -> str:
    name = function.removeprefix("tf.")
    return name.removeprefix("math.") if name.startswith("math.") else name


def _kwarg_shape(value: Any) -> Shape | None:
    return value.shape if isinstance(value, TensorArg) else None


def _operand_shapes(inputs: Sequence[Shape | None], kwargs: Mapping[str, Any]) -> list:
    shapes = list(inputs)
    for key in ("y", "b", "bias", "clip_value_min", "clip_value_max"):
        if isinstance(kwargs.get(key), TensorArg):
            shapes.append(kwargs[key].shape)
    return shapes


def _reduce(shape: Shape, axis: Any, keepdims: bool) -> Shape:
    rank = len(shape)
    if axis is None:
        axes = set(range(rank))
    else:
        axes = {a % rank for a in (axis if isinstance(axis, (list, tuple)) else [axis])}
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _split(shape: Shape, kwargs: Mapping[str, Any]) -> Inferred:
    splits = kwargs.get("num_or_size_splits")
    axis = kwargs.get("axis", 0) % len(shape)
    if isinstance(splits, int):
        size = None if shape[axis] is None else shape[axis] // splits
        sizes = [size] * splits
    elif isinstance(splits, (list, tuple)):
        sizes = list(splits)
    else:
        return unknown("shape unknown: tf.split with non-constant splits")
    return Inferred(tuple(tuple(size if i == axis else d for i, d in enumerate(shape))
                          for size in sizes))  # fmt: skip


def _tf_op(config: Mapping[str, Any], inputs: Sequence[Shape | None], kwargs: Mapping) -> Inferred:
    function = str(config.get("function", ""))
    op = _op_name(function)
    shape = _first(inputs)
    if shape is None:
        return unknown(f"shape unknown: input of tf.{function} unknown")
    elementwise_math = function.startswith("math.") and not op.startswith(("reduce_", "arg"))
    if op in _UNARY_OPS:
        return _one(shape)
    if op in _BINARY_OPS or op.startswith("__operators__.") or elementwise_math:
        operands = _operand_shapes(inputs, kwargs)
        if any(s is None for s in operands):
            return unknown(f"shape unknown: an operand of tf.{function} is unknown")
        return _one(broadcast(operands))
    if op in _REDUCE_OPS:
        return _one(_reduce(shape, kwargs.get("axis"), bool(kwargs.get("keepdims", False))))
    if op == "split":
        return _split(shape, kwargs)
    if op == "concat":
        if any(s is None for s in inputs):
            return unknown("shape unknown: an input of tf.concat is unknown")
        return _one(_concat_shapes(list(inputs), kwargs.get("axis", 0)))  # type: ignore[arg-type]
    if op == "reshape" and isinstance(kwargs.get("shape"), (list, tuple)):
        target = [-1 if d is None else d for d in kwargs["shape"]]
        return _one((shape[0], *_reshape_dims(target[1:], _product(shape[1:]))))
    return unknown(f"shape unknown: no rule for TFOpLambda tf.{function}")


# --- dispatch --------------------------------------------------------------------------------

_Rule = Callable[[Mapping[str, Any], Sequence[Shape | None]], Inferred]

_FIXED: dict[str, _Rule] = {
    "input": _input_layer,
    "identity": _identity,
    "dense": _dense,
    "flatten": _flatten,
    "reshape": _reshape,
    "permute": _permute,
    "repeat_vector": _repeat_vector,
    "embedding": _embedding,
    "merge": _merge,
    "concatenate": _concatenate,
}
_RANKED: dict[str, Callable[[Mapping[str, Any], Sequence[Shape | None], int], Inferred]] = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "pool": _pool,
    "global_pool": _global_pool,
    "zero_padding": lambda c, i, rank: _pad_or_crop(c, i, rank, "padding", 1),
    "cropping": lambda c, i, rank: _pad_or_crop(c, i, rank, "cropping", -1),
    "upsampling": _upsampling,
}


def rule_for(class_name: str) -> _Rule | None:
    """The shape rule of a layer class (any spelling, see `catalog.normalise`), or None."""
    kind = catalog.layer_kind(class_name)
    if kind is None or kind.shape is None:
        return None
    if kind.shape in _FIXED:
        return _FIXED[kind.shape]
    ranked = _RANKED.get(kind.shape)
    if ranked is None:
        return None
    rank = kind.rank or 2
    return lambda c, i: ranked(c, i, rank)


def infer_input(config: Mapping[str, Any]) -> Inferred:
    """The shape an input layer (or a Sequential's first layer) declares in its config."""
    try:
        return _input_layer(config, [])
    except (KeyError, TypeError, ValueError, IndexError) as error:
        return unknown(f"shape unknown: unexpected input config ({error!r})")


def infer(
    class_name: str,
    config: Mapping[str, Any],
    inputs: Sequence[Shape | None],
    kwargs: Mapping[str, Any] | None = None,
) -> Inferred:
    """Output shapes of one call of a layer of `class_name` with `config` on `inputs`.

    `inputs` are the shapes of the tensors in the call's first argument (several for merge
    layers); `kwargs` the call's other arguments, with tensors given as `TensorArg`.
    """
    kwargs = kwargs or {}
    kind = catalog.layer_kind(class_name)
    shape_rule = kind.shape if kind is not None else None
    if shape_rule == "tf_op":
        return _tf_op(config, inputs, kwargs)
    if shape_rule == "lambda":
        return unknown("shape unknown: Lambda layer not executed")
    rule = rule_for(class_name)
    if rule is None:
        return unknown(f"shape unknown: no shape rule for layer class {class_name}")
    if shape_rule != "input" and (not inputs or any(s is None for s in inputs)):
        return unknown("shape unknown: an input shape is unknown")
    try:
        return rule(config, inputs)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        return unknown(f"shape unknown: unexpected {class_name} config ({error!r})")
