r"""Quantized Keras 3 layers (Larq's ``larq.layers``).

Each layer quantizes its incoming activations with `input_quantizer` and its weights with a
weight quantizer (`kernel_quantizer`; `depthwise_quantizer` / `pointwise_quantizer` for depthwise
and separable convolutions) and otherwise computes what the Keras layer it extends computes:

\[ y = \sigma\big(f(q_{\mathrm{kernel}}(w),\, q_{\mathrm{input}}(x)) + b\big) \]

With every quantizer `None` a layer is numerically the stock Keras layer.

Latent weights: the layer stores and trains full-precision variables `w`; the quantizer runs in
the forward pass, so the latent weights receive the quantizer's pseudo-gradient
(e.g. `ste_sign`: \( \partial L / \partial w = \partial L / \partial q \cdot 1_{|w| \le 1} \)).
Inside `bnnstat.context.quantized_scope(True)` the quantized weights are what `layer.weights`,
`get_weights()` and `.keras` / `.weights.h5` saving see, so the binary values can be exported.

Precision tags: in `build()` every quantized weight variable gets the attribute ``precision``
(read it with `bnnstat.precision_of(variable)`) from its quantizer, e.g. 1 for `ste_sign`,
2 for `ste_tern`, k for `DoReFa(k_bit=k)` and p for `NoOp(precision=p)` (which does not change
the weight). The tag is set again whenever the layer is built, so it survives `.keras` / `.h5`
reload, `clone_model` and `tf.distribute` strategies.

Conv layers (not the transposed ones) take `pad_values`: the constant used to pad the quantized
input for ``padding="same"``, e.g. 1.0 so binary inputs are padded with +1 rather than 0.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from typing import Any, ClassVar

import keras
from keras import ops

from bnnstat import _keras_compat, _registry, context, quantizers
from bnnstat import constraints as _constraints  # noqa: F401  (registers "weight_clip")
from bnnstat.quantized_variable import QuantizedVariable, _read
from bnnstat.utils import precision_of, tag_precision

# The concrete layers. The bases `QuantizerBase`, `QuantizerBaseConv`, `QuantizerDepthwiseBase`
# and `QuantizerSeparableBase` are public too, as in Larq, where they are imported names;
# `BaseLayer` is Larq's `layers_base.BaseLayer`.
__all__ = [
    "QuantConv1D",
    "QuantConv1DTranspose",
    "QuantConv2D",
    "QuantConv2DTranspose",
    "QuantConv3D",
    "QuantConv3DTranspose",
    "QuantDense",
    "QuantDepthwiseConv2D",
    "QuantLocallyConnected1D",
    "QuantLocallyConnected2D",
    "QuantSeparableConv1D",
    "QuantSeparableConv2D",
]

log = logging.getLogger(__name__)

_STARVED = "may result in starved weights (where the gradient is always zero)."


def _is_binary(quantizer: Any) -> bool:
    """A 1-bit quantizer that changes its input (`NoOp(precision=1)` only tags)."""
    return precision_of(quantizer) == 1 and not isinstance(quantizer, quantizers.NoOp)


class _WeightQuantizer:
    """How one weight of a layer is quantized: argument, variable and constraint names."""

    def __init__(self, argument: str, variable: str, constraint: str, warning: str) -> None:
        self.argument = argument  # attribute holding the quantizer, e.g. "kernel_quantizer"
        self.variable = variable  # attribute holding the latent variable, e.g. "_kernel"
        self.constraint = constraint  # attribute holding its constraint
        self.warning = warning  # Larq's warning when a binary quantizer has no constraint


def _kernel_spec(variable: str) -> tuple[_WeightQuantizer, ...]:
    return (
        _WeightQuantizer(
            "kernel_quantizer",
            variable,
            "kernel_constraint",
            f"Using a binary weight quantizer without setting `kernel_constraint` {_STARVED}",
        ),
    )


_overrides = threading.local()


@contextlib.contextmanager
def _overriding(layer: Any, values: dict[str, Any]) -> Any:
    """Within this block (in this thread) `layer.<name>` reads as `values[name]`."""
    active = getattr(_overrides, "values", None)
    if active is None:
        active = _overrides.values = {}
    keys = [(id(layer), name) for name in values]
    previous = {key: active[key] for key in keys if key in active}
    active.update(zip(keys, values.values(), strict=True))
    try:
        yield
    finally:
        for key in keys:
            active.pop(key, None)
        active.update(previous)


class _LayerAttribute:
    """A weight (or `padding`) attribute of a quantized layer, e.g. ``layer.kernel``.

    Reads give, in order: the value set by `_overriding` for this layer in this thread (the
    quantized kernel while a Keras layer's own `call` runs, see `QuantizerBase`); inside
    `quantized_scope(True)` a `QuantizedVariable` view when the weight has a quantizer (as Larq's
    ``layer.kernel`` is a ``QuantizedVariable``); otherwise the attribute as it is without this
    descriptor (`raw`): a property further up the class hierarchy (Keras' ``Dense.kernel``) or
    the instance's own value.
    """

    def __init__(self, name: str, fallback: Any, quantizer_argument: str | None) -> None:
        self.name = name
        self.fallback = fallback
        self.quantizer_argument = quantizer_argument

    def raw(self, layer: Any) -> Any:
        if self.fallback is not None:
            return self.fallback.__get__(layer, type(layer))
        try:
            return layer.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __get__(self, layer: Any, owner: Any = None) -> Any:
        if layer is None:
            return self
        active = getattr(_overrides, "values", None)
        if active and (id(layer), self.name) in active:
            return active[(id(layer), self.name)]
        value = self.raw(layer)
        if self.quantizer_argument is not None and value is not None and context.should_quantize():
            quantizer = getattr(layer, self.quantizer_argument, None)
            if quantizer is not None:
                return _view(layer, value, quantizer)
        return value

    def __set__(self, layer: Any, value: Any) -> None:
        if self.fallback is not None and hasattr(self.fallback, "__set__"):
            self.fallback.__set__(layer, value)
        else:
            layer.__dict__[self.name] = value


def _install_attribute(cls: type, name: str, quantizer_argument: str | None) -> None:
    """Put a `_LayerAttribute` for `name` on `cls` (once per class hierarchy)."""
    inherited = next((c.__dict__[name] for c in cls.__mro__[1:] if name in c.__dict__), None)
    if isinstance(inherited, _LayerAttribute):
        return
    fallback = inherited if hasattr(inherited, "__get__") else None
    setattr(cls, name, _LayerAttribute(name, fallback, quantizer_argument))


def _view(layer: Any, variable: Any, quantizer: Any) -> QuantizedVariable:
    """The layer's `QuantizedVariable` of `variable`: the same object on every read, so that code
    comparing weights by identity (``w in layer.trainable_weights``) works inside the scope."""
    views = layer.__dict__.setdefault("_bnnstat_quantized_views", {})  # bypasses tracking
    view = views.get(id(variable))
    if view is None or view.latent_variable is not variable or view.quantizer is not quantizer:
        view = views[id(variable)] = QuantizedVariable(variable, quantizer)
    return view


def _raw(layer: Any, name: str) -> Any:
    """Attribute `name` of `layer` without overrides or quantized views: the latent variable."""
    descriptor = getattr(type(layer), name, None)
    if isinstance(descriptor, _LayerAttribute):
        return descriptor.raw(layer)
    return getattr(layer, name)


class QuantizerBase:
    """Mixin adding input and weight quantization to a Keras layer (Larq's ``QuantizerBase``).

    bnnstat's layers set `_weight_quantizers` and implement `_forward(inputs, **weights)` with
    the layer operation on already-quantized weights; `call` quantizes the input, reads the
    quantized weights, and adds bias and activation.

    As in Larq, it also turns any Keras layer that reads its weight as ``self.kernel`` into a
    quantized one, e.g. ``class QuantConv1DTranspose(QuantizerBase, keras.layers.
    Conv1DTranspose)``: such a subclass (one without its own `_forward`) takes
    `input_quantizer` and `kernel_quantizer` arguments and runs the Keras layer's own `call` on
    the quantized input while ``self.kernel`` reads as the quantized kernel (per thread, only
    during that call). `QuantizerDepthwiseBase`, `QuantizerSeparableBase` and
    `QuantizerBaseConv` do the same for depthwise/pointwise kernels and `pad_values`.
    """

    _weight_quantizers: ClassVar[tuple[_WeightQuantizer, ...]] = _kernel_spec("kernel")
    _generic: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._generic = cls._forward is QuantizerBase._forward
        if not issubclass(cls, keras.layers.Layer):
            return
        for spec in cls._weight_quantizers:
            _install_attribute(cls, spec.variable.lstrip("_"), spec.argument)
        if cls._generic and issubclass(cls, QuantizerBaseConv):
            _install_attribute(cls, "padding", None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not self._generic:
            super().__init__(*args, **kwargs)  # type: ignore[call-arg]
            return
        input_quantizer = kwargs.pop("input_quantizer", None)
        weight_quantizers = {
            spec.argument: kwargs.pop(spec.argument, None) for spec in self._weight_quantizers
        }
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._set_quantizers(input_quantizer, **weight_quantizers)

    def _set_quantizers(self, input_quantizer: Any, **weight_quantizers: Any) -> None:
        self.input_quantizer = quantizers.get(input_quantizer)
        for spec in self._weight_quantizers:
            quantizer = quantizers.get_kernel_quantizer(weight_quantizers[spec.argument])
            setattr(self, spec.argument, quantizer)
            if _is_binary(quantizer) and not getattr(self, spec.constraint, None):
                log.warning(spec.warning)

    # -- weights -------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        super().build(input_shape)  # type: ignore[misc]
        for spec in self._weight_quantizers:
            quantizer = getattr(self, spec.argument)
            tag_precision(_raw(self, spec.variable), precision_of(quantizer))

    def _quantized_pairs(self) -> list[tuple[Any, Any]]:
        """(latent variable, quantizer) for every weight that has a quantizer."""
        pairs = []
        for spec in self._weight_quantizers:
            quantizer = getattr(self, spec.argument)
            try:
                variable = _raw(self, spec.variable)
            except AttributeError:  # not built yet
                continue
            if quantizer is not None and variable is not None:
                pairs.append((variable, quantizer))
        return pairs

    def _read_weight(self, spec: _WeightQuantizer) -> Any:
        """The weight as used in the forward pass: quantizer(latent value) or the variable.

        As in Larq, a weight quantizer receives the variable's *value* (a tensor read under the
        layer's autocast scope), never the variable itself: a `tf.custom_gradient` function
        would otherwise have to handle variables captured in its body.
        """
        variable = _raw(self, spec.variable)
        quantizer = getattr(self, spec.argument)
        return variable if quantizer is None else quantizer(_read(variable))

    @property
    def weights(self) -> list[Any]:
        """The layer's weights; inside `quantized_scope(True)` quantized weights are read through
        their quantizer (`QuantizedVariable` views), so `get_weights()`, `.h5` / `.keras` saving
        and `save_weights` see the quantized values."""
        variables = super().weights  # type: ignore[misc]
        if not context.should_quantize():
            return variables
        quantized = {id(v): q for v, q in self._quantized_pairs()}
        return [
            _view(self, v, quantized[id(v)]) if id(v) in quantized else v for v in variables
        ]

    def save_own_variables(self, store: Any) -> None:
        if not context.should_quantize():
            super().save_own_variables(store)  # type: ignore[misc]
            return
        staged: dict[str, Any] = {}
        super().save_own_variables(staged)  # type: ignore[misc]
        quantized = {id(v): q for v, q in self._quantized_pairs()}
        for key, value in staged.items():
            if id(value) in quantized:
                value = QuantizedVariable(value, quantized[id(value)])
            if isinstance(value, QuantizedVariable):  # e.g. Keras' Conv reads `self.kernel`
                value = value.numpy()
            store[key] = value

    # -- forward -------------------------------------------------------------------------
    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if self.input_quantizer is not None:
            inputs = self.input_quantizer(inputs)
        if self._generic:
            return self._generic_call(inputs, *args, **kwargs)
        weights = {
            spec.variable.lstrip("_"): self._read_weight(spec) for spec in self._weight_quantizers
        }
        outputs = self._forward(inputs, **weights)
        if self.bias is not None:
            outputs = ops.add(outputs, self._bias_for(outputs))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _forward(self, inputs: Any, **weights: Any) -> Any:
        raise NotImplementedError

    def _generic_call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The Keras layer's own `call`, with quantized weights (and `pad_values` padding)."""
        overrides = {
            spec.variable: self._read_weight(spec)
            for spec in self._weight_quantizers
            if getattr(self, spec.argument) is not None
        }
        if isinstance(self, QuantizerBaseConv):
            inputs, padding = self._pad(inputs)
            if padding != self.padding:
                overrides["padding"] = padding
        with _overriding(self, overrides):
            return super().call(inputs, *args, **kwargs)  # type: ignore[misc]

    def _bias_for(self, outputs: Any) -> Any:
        """The bias reshaped to broadcast over `outputs` (channel axis last or first)."""
        if getattr(self, "data_format", "channels_last") == "channels_last":
            return self.bias
        rank = len(outputs.shape) - 2
        return ops.reshape(self.bias, (1, -1) + (1,) * rank)

    # -- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()  # type: ignore[misc]
        config["input_quantizer"] = quantizers.serialize(self.input_quantizer)
        for spec in self._weight_quantizers:
            config[spec.argument] = quantizers.serialize(getattr(self, spec.argument))
        return config

    # Keras' own int8/LoRA machinery bypasses our forward pass; refuse it explicitly.
    def enable_lora(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not support LoRA")

    def quantize(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} does not support Keras post-training quantization"
        )


def _same_padding(size: Any, stride: int, dilation: int, kernel: int) -> tuple[Any, Any]:
    """(before, after) padding that makes a 'valid' convolution behave as 'same'.

    out = ceil(size / stride); padded = max((out - 1) * stride + (kernel - 1) * dilation + 1,
    size); the total padding padded - size is split with the extra element after.
    """
    effective = (kernel - 1) * dilation + 1
    out = (size + stride - 1) // stride
    padded = (out - 1) * stride + effective
    padded = max(padded, size) if isinstance(size, int) else ops.maximum(padded, size)
    total = padded - size
    return total // 2, total - total // 2


class _PadValues:
    """Mixin for conv layers: constant `pad_values` instead of zeros for padding='same'."""

    def _set_pad_values(self, pad_values: float) -> None:
        self.pad_values = pad_values
        zero = not keras.ops.is_tensor(pad_values) and pad_values == 0.0
        if self.padding == "causal" and not zero:
            raise ValueError("Causal padding with `pad_values != 0` is not supported.")
        self._native_padding = self.padding != "same" or zero

    def _pad(self, inputs: Any) -> tuple[Any, str]:
        """Inputs padded with `pad_values` where needed, and the padding mode left to apply."""
        if self._native_padding:
            return inputs, self.padding
        rank = len(self.kernel_size)
        shape = ops.shape(inputs)
        first = 1 if self.data_format == "channels_last" else 2
        widths = [[0, 0] for _ in range(rank + 2)]
        for i in range(rank):
            widths[first + i] = list(
                _same_padding(
                    shape[first + i], self.strides[i], self.dilation_rate[i], self.kernel_size[i]
                )
            )
        padded = ops.pad(inputs, widths, constant_values=self.pad_values)
        return padded, "valid"

    def _pad_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config["pad_values"] = float(keras.ops.convert_to_numpy(self.pad_values))
        return config


_SEPARABLE_QUANTIZERS = (
    _WeightQuantizer(
        "depthwise_quantizer",
        "depthwise_kernel",
        "depthwise_constraint",
        "Using a binary `depthwise_quantizer` without setting `depthwise_constraint` " + _STARVED,
    ),
    _WeightQuantizer(
        "pointwise_quantizer",
        "pointwise_kernel",
        "pointwise_constraint",
        "Using a binary `pointwise_quantizer` without setting `pointwise_constraint` " + _STARVED,
    ),
)


class QuantizerBaseConv(_PadValues):
    """Larq's ``QuantizerBaseConv``: adds `pad_values` to a convolution used with
    `QuantizerBase` (``class X(QuantizerBase, QuantizerBaseConv, keras.layers.Conv1D)``):
    with ``padding="same"`` the quantized input is padded with `pad_values` instead of 0."""

    def __init__(self, *args: Any, pad_values: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._set_pad_values(pad_values)

    def get_config(self) -> dict[str, Any]:
        return self._pad_config(super().get_config())  # type: ignore[misc]


_DEPTHWISE_QUANTIZER = _WeightQuantizer(
    "depthwise_quantizer",
    "kernel",
    "depthwise_constraint",
    f"Using a binary weight quantizer without setting `depthwise_constraint` {_STARVED}",
)


class QuantizerDepthwiseBase(QuantizerBase):
    """Larq's ``QuantizerDepthwiseBase``: `QuantizerBase` for a depthwise convolution, whose
    kernel (``self.kernel``) is quantized by `depthwise_quantizer`."""

    _weight_quantizers = (_DEPTHWISE_QUANTIZER,)


class QuantizerSeparableBase(QuantizerBase):
    """Larq's ``QuantizerSeparableBase``: `QuantizerBase` for a separable convolution, whose
    ``depthwise_kernel`` / ``pointwise_kernel`` are quantized by `depthwise_quantizer` /
    `pointwise_quantizer`."""

    _weight_quantizers = _SEPARABLE_QUANTIZERS


class BaseLayer(QuantizerBase):
    """Larq's ``BaseLayer``: only `input_quantizer`, no weight quantizer, e.g.
    ``class QuantMaxPooling2D(BaseLayer, keras.layers.MaxPooling2D)`` runs max pooling on the
    quantized input. (In Larq the other bases derive from it; here it is a `QuantizerBase`
    without weight quantizers, so ``isinstance(QuantDense(...), BaseLayer)`` is False.)"""

    _weight_quantizers = ()


# ------------------------------------------------------------------------------------------
# Dense and convolutions
# ------------------------------------------------------------------------------------------


@_registry.register
class QuantDense(QuantizerBase, keras.layers.Dense):
    r"""Densely-connected quantized layer:
    \( y = \sigma(q_{\mathrm{input}}(x) \cdot q_{\mathrm{kernel}}(W) + b) \).

    Arguments are those of `keras.layers.Dense` plus `input_quantizer` and `kernel_quantizer`
    (a quantizer object, alias string such as ``"ste_sign"``, config dict or function).
    """

    _weight_quantizers = _kernel_spec("_kernel")

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        _refuse_keras_quantization(lora_rank, quantization_config)
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_quantizers(input_quantizer, kernel_quantizer=kernel_quantizer)

    def _forward(self, inputs: Any, kernel: Any) -> Any:
        return ops.matmul(inputs, kernel)


def _refuse_keras_quantization(lora_rank: Any, quantization_config: Any) -> None:
    if lora_rank is not None or quantization_config is not None:
        raise ValueError(
            "Quantized layers do not support `lora_rank` or `quantization_config`; "
            "use `kernel_quantizer` instead."
        )


class _QuantConv(_PadValues, QuantizerBase):
    """Shared forward pass of QuantConv1D/2D/3D (grouped, dilated, causal as Keras)."""

    _weight_quantizers = _kernel_spec("_kernel")

    def _forward(self, inputs: Any, kernel: Any) -> Any:
        inputs, padding = self._pad(inputs)
        if padding == "causal":
            inputs, padding = ops.pad(inputs, _keras_compat.causal_padding(self)), "valid"
        return ops.conv(
            inputs,
            kernel,
            strides=list(self.strides),
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )

    def get_config(self) -> dict[str, Any]:
        return self._pad_config(super().get_config())


@_registry.register
class QuantConv1D(_QuantConv, keras.layers.Conv1D):
    """1D quantized convolution: `keras.layers.Conv1D` on quantized input and kernel.

    Extra arguments: `input_quantizer`, `kernel_quantizer`, `pad_values`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        pad_values: float = 0.0,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_pad_values(pad_values)
        self._set_quantizers(input_quantizer, kernel_quantizer=kernel_quantizer)


@_registry.register
class QuantConv2D(_QuantConv, keras.layers.Conv2D):
    """2D quantized convolution: `keras.layers.Conv2D` on quantized input and kernel.

    Extra arguments: `input_quantizer`, `kernel_quantizer`, `pad_values`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        pad_values: float = 0.0,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_pad_values(pad_values)
        self._set_quantizers(input_quantizer, kernel_quantizer=kernel_quantizer)


@_registry.register
class QuantConv3D(_QuantConv, keras.layers.Conv3D):
    """3D quantized convolution: `keras.layers.Conv3D` on quantized input and kernel.

    Extra arguments: `input_quantizer`, `kernel_quantizer`, `pad_values`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1, 1),
        padding: str = "valid",
        pad_values: float = 0.0,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1, 1),
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_pad_values(pad_values)
        self._set_quantizers(input_quantizer, kernel_quantizer=kernel_quantizer)


@_registry.register
class QuantDepthwiseConv2D(_PadValues, QuantizerBase, keras.layers.DepthwiseConv2D):
    """Quantized depthwise 2D convolution (`keras.layers.DepthwiseConv2D`).

    Extra arguments: `input_quantizer`, `depthwise_quantizer`, `pad_values`.
    """

    _weight_quantizers = (_DEPTHWISE_QUANTIZER,)

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        pad_values: float = 0.0,
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        depthwise_quantizer: Any = None,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size,
            strides=strides,
            padding=padding,
            depth_multiplier=depth_multiplier,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_pad_values(pad_values)
        self._set_quantizers(input_quantizer, depthwise_quantizer=depthwise_quantizer)

    def _forward(self, inputs: Any, kernel: Any) -> Any:
        inputs, padding = self._pad(inputs)
        return ops.depthwise_conv(
            inputs,
            kernel,
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )

    def get_config(self) -> dict[str, Any]:
        return self._pad_config(super().get_config())


class _QuantSeparableConv(_PadValues, QuantizerBase):
    """Shared forward pass of the separable convolutions: depthwise then pointwise."""

    _weight_quantizers = _SEPARABLE_QUANTIZERS

    def _forward(self, inputs: Any, depthwise_kernel: Any, pointwise_kernel: Any) -> Any:
        inputs, padding = self._pad(inputs)
        return ops.separable_conv(
            inputs,
            depthwise_kernel,
            pointwise_kernel,
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )

    def get_config(self) -> dict[str, Any]:
        return self._pad_config(super().get_config())


@_registry.register
class QuantSeparableConv1D(_QuantSeparableConv, keras.layers.SeparableConv1D):
    """Quantized depthwise-separable 1D convolution (`keras.layers.SeparableConv1D`).

    Extra arguments: `input_quantizer`, `depthwise_quantizer`, `pointwise_quantizer`,
    `pad_values`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        pad_values: float = 0.0,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        depthwise_quantizer: Any = None,
        pointwise_quantizer: Any = None,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            depth_multiplier=depth_multiplier,
            activation=activation,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            pointwise_initializer=pointwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            pointwise_regularizer=pointwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_pad_values(pad_values)
        self._set_quantizers(
            input_quantizer,
            depthwise_quantizer=depthwise_quantizer,
            pointwise_quantizer=pointwise_quantizer,
        )


@_registry.register
class QuantSeparableConv2D(_QuantSeparableConv, keras.layers.SeparableConv2D):
    """Quantized depthwise-separable 2D convolution (`keras.layers.SeparableConv2D`).

    Extra arguments: `input_quantizer`, `depthwise_quantizer`, `pointwise_quantizer`,
    `pad_values`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        pad_values: float = 0.0,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        depthwise_quantizer: Any = None,
        pointwise_quantizer: Any = None,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            depth_multiplier=depth_multiplier,
            activation=activation,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            pointwise_initializer=pointwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            pointwise_regularizer=pointwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_pad_values(pad_values)
        self._set_quantizers(
            input_quantizer,
            depthwise_quantizer=depthwise_quantizer,
            pointwise_quantizer=pointwise_quantizer,
        )


class _QuantConvTranspose(QuantizerBase):
    """Shared forward pass of the transposed convolutions (no `pad_values`)."""

    _weight_quantizers = _kernel_spec("kernel")

    def _forward(self, inputs: Any, kernel: Any) -> Any:
        return ops.conv_transpose(
            inputs,
            kernel,
            strides=list(self.strides),
            padding=self.padding,
            output_padding=self.output_padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )


@_registry.register
class QuantConv1DTranspose(_QuantConvTranspose, keras.layers.Conv1DTranspose):
    """Quantized transposed 1D convolution (`keras.layers.Conv1DTranspose`).

    Not in Larq 0.14 (which stops at 2-D and 3-D): the Keras family completed, with the same
    extra arguments `input_quantizer`, `kernel_quantizer`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_quantizers(input_quantizer, kernel_quantizer=kernel_quantizer)


@_registry.register
class QuantConv2DTranspose(_QuantConvTranspose, keras.layers.Conv2DTranspose):
    """Quantized transposed 2D convolution (`keras.layers.Conv2DTranspose`).

    Extra arguments: `input_quantizer`, `kernel_quantizer`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_quantizers(input_quantizer, kernel_quantizer=kernel_quantizer)


@_registry.register
class QuantConv3DTranspose(_QuantConvTranspose, keras.layers.Conv3DTranspose):
    """Quantized transposed 3D convolution (`keras.layers.Conv3DTranspose`).

    Extra arguments: `input_quantizer`, `kernel_quantizer`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1, 1),
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1, 1),
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            output_padding=output_padding,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._set_quantizers(input_quantizer, kernel_quantizer=kernel_quantizer)


# ------------------------------------------------------------------------------------------
# Locally connected (Keras 3 has none; weights laid out as Keras 2's implementation=1)
# ------------------------------------------------------------------------------------------


class _QuantLocallyConnected(QuantizerBase, keras.layers.Layer):
    r"""Unshared-weight convolution: every output position p has its own kernel \(W_p\),
    \( y_p = \sigma(\mathrm{vec}(q_{\mathrm{input}}(x)_{\mathrm{window}(p)})\,
    q_{\mathrm{kernel}}(W_p) + b_p) \).

    Weights follow Keras 2's ``implementation=1`` layout so Larq files load: kernel
    ``(positions, prod(kernel_size) * channels_in, filters)`` where a window is flattened in
    the input's own axis order, bias ``(*output_spatial_shape, filters)``. Only
    ``padding="valid"`` (as in Keras 2 with implementation 1).
    """

    rank: ClassVar[int] = 1
    _weight_quantizers = _kernel_spec("kernel")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        implementation: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if implementation != 1:
            raise ValueError(
                f"{type(self).__name__} supports only implementation=1, got {implementation}"
            )
        if str(padding).lower() != "valid":
            raise ValueError(f"{type(self).__name__} supports only padding='valid'")
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        self.padding = "valid"
        self.data_format = data_format or keras.config.image_data_format()
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.implementation = implementation
        self.input_spec = keras.layers.InputSpec(ndim=self.rank + 2)
        self._set_quantizers(input_quantizer, kernel_quantizer=kernel_quantizer)

    def _split_shape(self, input_shape: Any) -> tuple[tuple[int, ...], int]:
        if self.data_format == "channels_last":
            return tuple(input_shape[1:-1]), input_shape[-1]
        return tuple(input_shape[2:]), input_shape[1]

    def _output_spatial(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        if any(size is None for size in spatial):
            raise ValueError(f"{type(self).__name__} needs fully defined input spatial sizes")
        return tuple(
            (size - k) // s + 1
            for size, k, s in zip(spatial, self.kernel_size, self.strides, strict=True)
        )

    def build(self, input_shape: Any) -> None:
        spatial, channels = self._split_shape(input_shape)
        out = self._output_spatial(spatial)
        positions = 1
        for size in out:
            positions *= size
        window = channels
        for k in self.kernel_size:
            window *= k
        self.kernel = self.add_weight(
            name="kernel",
            shape=(positions, window, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(*out, self.filters),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        QuantizerBase.build(self, input_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        spatial, _ = self._split_shape(input_shape)
        out = self._output_spatial(spatial)
        if self.data_format == "channels_last":
            return (input_shape[0], *out, self.filters)
        return (input_shape[0], self.filters, *out)

    def _forward(self, inputs: Any, kernel: Any) -> Any:
        spatial, _ = self._split_shape(inputs.shape)
        out = self._output_spatial(spatial)
        offset = 1 if self.data_format == "channels_last" else 2
        patches = []
        for position in itertools.product(*(range(size) for size in out)):
            index = [slice(None)] * len(inputs.shape)
            for axis, (p, k, s) in enumerate(
                zip(position, self.kernel_size, self.strides, strict=True)
            ):
                index[offset + axis] = slice(p * s, p * s + k)
            patches.append(ops.reshape(inputs[tuple(index)], (-1, kernel.shape[1])))
        stacked = ops.stack(patches, axis=0)  # (positions, batch, window)
        outputs = ops.einsum("pbw,pwf->pbf", stacked, kernel)
        outputs = ops.reshape(outputs, (*out, -1, self.filters))
        rank = len(out)
        if self.data_format == "channels_last":
            order = (rank, *range(rank), rank + 1)
        else:
            order = (rank, rank + 1, *range(rank))
        return ops.transpose(outputs, order)

    def _bias_for(self, outputs: Any) -> Any:
        if self.data_format == "channels_last":
            return self.bias
        # Keras 2 reshaped (not transposed) the bias to (filters, *spatial) for channels_first.
        return ops.reshape(self.bias, (1, self.filters, *self.bias.shape[:-1]))

    def get_config(self) -> dict[str, Any]:
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "implementation": self.implementation,
        }
        return {**super().get_config(), **config}


def _tuple(value: Any, rank: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    result = tuple(int(v) for v in value)
    if len(result) != rank:
        raise ValueError(f"`{name}` must have {rank} values, got {value!r}")
    return result


@_registry.register
class QuantLocallyConnected1D(_QuantLocallyConnected):
    """Quantized locally-connected layer for 1D inputs (Keras 2's `LocallyConnected1D`)."""

    rank = 1


@_registry.register
class QuantLocallyConnected2D(_QuantLocallyConnected):
    """Quantized locally-connected layer for 2D inputs (Keras 2's `LocallyConnected2D`)."""

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        implementation: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            activation=activation,
            use_bias=use_bias,
            input_quantizer=input_quantizer,
            kernel_quantizer=kernel_quantizer,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            implementation=implementation,
            **kwargs,
        )
