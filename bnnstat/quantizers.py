"""Quantizers: a forward quantization function plus the pseudo-gradient used in backprop.

Re-implements Larq's ``larq.quantizers`` on Keras 3. Quantizers are used through the
``input_quantizer`` / ``kernel_quantizer`` arguments of the quantized layers, or like activations:

```python
x = bnnstat.layers.QuantDense(64, input_quantizer="ste_sign")(x)
x = keras.layers.Activation("ste_sign")(x)
x = keras.layers.Dense(64, activation="ste_sign")(x)
```

Every quantizer is a `keras.layers.Layer` (class `Quantizer`) with an integer `precision`
(output bit width), or a plain function tagged with `bnnstat.utils.set_precision`. The
pseudo-gradients are implemented with `tf.custom_gradient`, which measured about twice as fast
as the ``x + stop_gradient(q(x) - x)`` trick in `tf.function` on TensorFlow 2.21.

Notation below: \\(\\mathrm{dy}\\) is the incoming gradient, and "STE with clip c" means the
gradient \\(\\mathrm{dy} \\cdot 1[|x| \\le c]\\) (or \\(\\mathrm{dy}\\) when c is None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf

from bnnstat import _registry, context
from bnnstat import math as bmath
from bnnstat import metrics as _metrics
from bnnstat.utils import set_precision

__all__ = [
    "ApproxSign",
    "DoReFa",
    "DoReFaQuantizer",
    "MagnitudeAwareSign",
    "NoOp",
    "NoOpQuantizer",
    "Quantizer",
    "SteHeaviside",
    "SteSign",
    "SteTern",
    "SwishSign",
    "approx_sign",
    "deserialize",
    "dorefa",
    "dorefa_quantizer",
    "get",
    "get_kernel_quantizer",
    "magnitude_aware_sign",
    "serialize",
    "ste_heaviside",
    "ste_sign",
    "ste_tern",
    "swish_sign",
]


# --------------------------------------------------------------------------------------------
# Functional forms
# --------------------------------------------------------------------------------------------


def _to_tensor(x: Any) -> tf.Tensor:
    """Unwrap variables: `tf.custom_gradient` fails eagerly when handed a `keras.Variable`."""
    return tf.convert_to_tensor(x)


# Large tensors with a static shape run the element-wise kernels of the quantizers as one
# XLA-fused loop (a nested `tf.function(jit_compile=True)`): for 1e7 values this measured
# 1.5-2x faster than the separate TensorFlow ops, eagerly and in plain `tf.function`. Small
# tensors (most kernels) use plain ops, since each new shape costs an XLA compilation
# (~0.1 s). Inside an outer XLA cluster the nested function is simply inlined.
_FUSE_MIN_ELEMENTS = 1 << 18


def _fusable(fn: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
    """`fn`, dispatched to an XLA-compiled copy when its first argument is large."""
    fused = tf.function(fn, jit_compile=True, autograph=False, reduce_retracing=True)

    def dispatch(x: tf.Tensor, *args: Any) -> tf.Tensor:
        size = x.shape.num_elements()
        if size is not None and size >= _FUSE_MIN_ELEMENTS:
            return fused(x, *args)
        return fn(x, *args)

    dispatch.__name__ = fn.__name__
    dispatch.__doc__ = fn.__doc__
    return dispatch


_sign = _fusable(bmath.sign)
_heaviside = _fusable(bmath.heaviside)


@_fusable
def _masked_gradient(x: tf.Tensor, dy: tf.Tensor, clip_value: float) -> tf.Tensor:
    """``dy * 1[|x| <= clip_value]``."""
    return tf.where(tf.abs(x) <= clip_value, dy, tf.zeros((), dtype=dy.dtype))


def _clipped_gradient(x: tf.Tensor, dy: tf.Tensor, clip_value: float | None) -> tf.Tensor:
    """``dy * 1[|x| <= clip_value]``, or `dy` unchanged when `clip_value` is None."""
    if clip_value is None:
        return dy
    if not isinstance(clip_value, (int, float)):  # a tensor or variable: not a trace constant
        return tf.where(tf.abs(x) <= clip_value, dy, tf.zeros((), dtype=dy.dtype))
    return _masked_gradient(x, dy, float(clip_value))


@_fusable
def _approx_sign_gradient(x: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
    """``dy * (2 - 2|x|) * 1[|x| <= 1]``."""
    abs_x = tf.abs(x)
    return tf.where(abs_x <= 1.0, (2.0 - 2.0 * abs_x) * dy, tf.zeros((), dy.dtype))


@_fusable
def _swish_sign_gradient(x: tf.Tensor, dy: tf.Tensor, beta: float) -> tf.Tensor:
    """``dy * beta * (2 - beta x tanh(beta x / 2)) / (1 + cosh(beta x))``."""
    b_x = beta * x
    return dy * beta * (2.0 - b_x * tf.tanh(0.5 * b_x)) / (1.0 + tf.cosh(b_x))


@set_precision(1)
def ste_sign(x: tf.Tensor, clip_value: float | None = 1.0) -> tf.Tensor:
    r"""Sign binarization with a clipped straight-through gradient.

    Forward: \( q(x) = -1 \) if \( x < 0 \), \( +1 \) if \( x \geq 0 \) (never 0).

    Pseudo-gradient: \( \partial q / \partial x = 1 \) if \( |x| \le \) `clip_value`, else 0;
    with ``clip_value=None`` it is 1 everywhere.
    """
    x = _to_tensor(x)

    @tf.custom_gradient
    def _ste_sign(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        def grad(dy: tf.Tensor) -> tf.Tensor:
            return _clipped_gradient(x, dy, clip_value)

        return _sign(x), grad

    return _ste_sign(x)


@set_precision(1)
def approx_sign(x: tf.Tensor) -> tf.Tensor:
    r"""Sign binarization with the ApproxSign pseudo-gradient (Bi-Real Net).

    Forward: \( q(x) = -1 \) if \( x < 0 \), \( +1 \) if \( x \geq 0 \).

    Pseudo-gradient: \( \partial q / \partial x = 2 - 2|x| \) if \( |x| \le 1 \), else 0.
    """
    x = _to_tensor(x)

    @tf.custom_gradient
    def _approx_sign(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        def grad(dy: tf.Tensor) -> tf.Tensor:
            return _approx_sign_gradient(x, dy)

        return _sign(x), grad

    return _approx_sign(x)


@set_precision(1)
def swish_sign(x: tf.Tensor, beta: float = 5.0) -> tf.Tensor:
    r"""Sign binarization with the SignSwish pseudo-gradient (BNN+).

    Forward: \( q(x) = -1 \) if \( x < 0 \), \( +1 \) if \( x \geq 0 \).

    Pseudo-gradient:
    \( \partial q / \partial x = \beta \{2 - \beta x \tanh(\beta x / 2)\} / (1 + \cosh(\beta x)) \).
    """
    x = _to_tensor(x)

    @tf.custom_gradient
    def _swish_sign(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        def grad(dy: tf.Tensor) -> tf.Tensor:
            return _swish_sign_gradient(x, dy, beta if tf.is_tensor(beta) else float(beta))

        return _sign(x), grad

    return _swish_sign(x)


@set_precision(1)
def ste_heaviside(x: tf.Tensor, clip_value: float | None = 1.0) -> tf.Tensor:
    r"""Binarization to {0, 1} with a clipped straight-through gradient.

    Forward: \( q(x) = 1 \) if \( x > 0 \), \( 0 \) if \( x \le 0 \).

    Pseudo-gradient: 1 if \( |x| \le \) `clip_value`, else 0 (1 everywhere if None).
    """
    x = _to_tensor(x)

    @tf.custom_gradient
    def _ste_heaviside(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        def grad(dy: tf.Tensor) -> tf.Tensor:
            return _clipped_gradient(x, dy, clip_value)

        return _heaviside(x), grad

    return _ste_heaviside(x)


@set_precision(2)
def ste_tern(
    x: tf.Tensor,
    threshold_value: float = 0.05,
    ternary_weight_networks: bool = False,
    clip_value: float | None = 1.0,
) -> tf.Tensor:
    r"""Ternarization to {-1, 0, +1} with a clipped straight-through gradient.

    Forward: \( q(x) = +1 \) if \( x \ge \Delta \), \( -1 \) if \( x \le -\Delta \), 0 otherwise
    (for \( \Delta > 0 \)). \( \Delta \) is `threshold_value`, or with
    ``ternary_weight_networks=True`` \( \Delta = \frac{0.7}{n}\sum_i |x_i| \) over the whole tensor.

    Pseudo-gradient: 1 if \( |x| \le \) `clip_value`, else 0 (1 everywhere if None).
    """
    x = _to_tensor(x)

    @tf.custom_gradient
    def _ste_tern(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        if ternary_weight_networks:
            threshold = 0.7 * tf.reduce_mean(tf.abs(x))
        else:
            threshold = tf.cast(threshold_value, x.dtype)

        def grad(dy: tf.Tensor) -> tf.Tensor:
            return _clipped_gradient(x, dy, clip_value)

        # sign(sign(x + t) + sign(x - t)): exactly +-1 at x = +-t, 0 strictly inside.
        return tf.sign(tf.sign(x + threshold) + tf.sign(x - threshold)), grad

    return _ste_tern(x)


@set_precision(1)
def magnitude_aware_sign(x: tf.Tensor, clip_value: float | None = 1.0) -> tf.Tensor:
    r"""Magnitude-aware sign (Bi-Real Net, section 3.3).

    Forward: \( q(x) = a \cdot \mathrm{sign}(x) \) where \( a \) is the mean of \( |x| \) over all
    axes but the last (one scale per output channel of a kernel).

    Pseudo-gradient: \( a \) is held constant (no gradient flows through it), so
    \( \partial q / \partial x = a \cdot 1[|x| \le \) `clip_value` \( ] \).
    """
    x = _to_tensor(x)
    scale = tf.stop_gradient(tf.reduce_mean(tf.abs(x), axis=list(range(len(x.shape) - 1))))
    return scale * ste_sign(x, clip_value=clip_value)


def _check_dorefa_mode(mode: str) -> None:
    if mode not in ("activations", "weights"):
        raise ValueError(
            f"Invalid DoReFa quantizer mode {mode!r}. "
            "Valid values are 'activations' and 'weights'."
        )


def _quantize_k(x: tf.Tensor, k_bit: int, lower: float | None, upper: float | None) -> tf.Tensor:
    r"""\( \mathrm{round}(x n) / n \), \( n = 2^k - 1 \), with gradient dy on [lower, upper]."""
    n = float(2**k_bit - 1)

    @tf.custom_gradient
    def _quantize(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        def grad(dy: tf.Tensor) -> tf.Tensor:
            if lower is None:
                return dy
            return _range_gradient(x, dy, float(lower), float(upper))

        if lower is None:
            return _round_to_levels(x, n), grad
        return _clip_round_to_levels(x, n, float(lower), float(upper)), grad

    return _quantize(x)


@_fusable
def _round_to_levels(x: tf.Tensor, n: float) -> tf.Tensor:
    return tf.round(x * n) / n


@_fusable
def _clip_round_to_levels(x: tf.Tensor, n: float, lower: float, upper: float) -> tf.Tensor:
    return tf.round(tf.clip_by_value(x, lower, upper) * n) / n


@_fusable
def _range_gradient(x: tf.Tensor, dy: tf.Tensor, lower: float, upper: float) -> tf.Tensor:
    """``dy * 1[lower <= x <= upper]``."""
    inside = tf.logical_and(x >= lower, x <= upper)
    return tf.where(inside, dy, tf.zeros((), dy.dtype))


def _dorefa_weight_preprocess(x: tf.Tensor) -> tf.Tensor:
    r"""\( \tanh(x) / (2 \max|\tanh(x)|) + 1/2 \), the max held constant in the backward pass."""
    limited = tf.tanh(x)
    # Without stop_gradient the largest element would get the gradient of t / t (i.e. 0).
    dividend = tf.stop_gradient(tf.reduce_max(tf.abs(limited)))
    return tf.math.divide_no_nan(limited, 2.0 * dividend) + 0.5


@set_precision(2)
def dorefa(x: tf.Tensor, k_bit: int = 2, mode: str = "activations") -> tf.Tensor:
    r"""k-bit DoReFa quantization, \( n = 2^{k} - 1 \).

    ``mode="activations"``: \( q(x) = \mathrm{round}(n \cdot \mathrm{clip}(x, 0, 1)) / n \);
    pseudo-gradient 1 for \( 0 \le x \le 1 \), else 0.

    ``mode="weights"``: \( q(w) = 2\,\mathrm{quantize}_k(\tanh(w) / (2\max|\tanh(w)|) + 1/2) - 1 \)
    with values in [-1, 1]; pseudo-gradient: the rounding is the identity and the max is held
    constant, i.e. \( \partial q / \partial w = (1 - \tanh^2 w) / \max|\tanh(w)| \).

    Raises ValueError for any other `mode`. Rounding is round-half-to-even (`tf.round`).
    """
    _check_dorefa_mode(mode)
    x = _to_tensor(x)
    if mode == "activations":
        return _quantize_k(x, k_bit, 0.0, 1.0)
    return 2.0 * _quantize_k(_dorefa_weight_preprocess(x), k_bit, None, None) - 1.0


dorefa_quantizer = dorefa
"""Alias of `dorefa` under the name of Larq's string alias."""


# --------------------------------------------------------------------------------------------
# Quantizer layers
# --------------------------------------------------------------------------------------------


class Quantizer(keras.layers.Layer):
    """Common base class for defining quantizers.

    Attributes:
        precision: integer bit width of the output, used by `bnnstat.models.summary`, the
            optimizers (`Bop` picks 1-bit variables) and the inspector. None if unknown.
    """

    precision: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Inputs are converted by `__call__` below (Keras' own conversion would cast float64).
        self._convert_input_args = False

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Apply the quantizer. Inputs are converted as Keras does (floats cast to the compute
        dtype), except that a float64 tensor stays float64, as Larq's quantizer functions keep
        it, unless the dtype policy is a mixed-precision one (e.g. ``"mixed_float16"``)."""
        dtype = self.input_dtype
        if _is_float64_tensor(inputs) and not _is_mixed(self.dtype_policy):
            dtype = "float64"
        converted = self.dtype_policy.convert_input(inputs, self.autocast, dtype)
        mask = getattr(inputs, "_keras_mask", None)  # a Keras mask rides on the tensor: keep it
        if mask is not None and converted is not inputs:
            converted._keras_mask = mask
        return super().__call__(converted, *args, **kwargs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_output_spec(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)


def _is_float64_tensor(x: Any) -> bool:
    """A tensor, Keras variable or symbolic Keras tensor of dtype float64 (not a NumPy array)."""
    if not (tf.is_tensor(x) or isinstance(x, keras.KerasTensor)):
        return False
    return keras.backend.standardize_dtype(x.dtype) == "float64"


def _is_mixed(policy: Any) -> bool:
    return policy.compute_dtype != policy.variable_dtype


class _BaseQuantizer(Quantizer):
    """Quantizer with optional training metrics (``metrics=["flip_ratio"]``).

    `metrics=None` leaves the quantizer without metrics; `get_kernel_quantizer` fills them in
    from `bnnstat.context.metrics_scope`, as Larq does for kernel quantizers.
    """

    def __init__(self, *args: Any, metrics: Sequence[str] | None = None, **kwargs: Any) -> None:
        if metrics is not None:
            unknown = [m for m in metrics if m not in context.AVAILABLE_METRICS]
            if unknown:
                raise ValueError(
                    f"Unknown training metric(s) {unknown} for quantizer; "
                    f"available: {sorted(context.AVAILABLE_METRICS)}"
                )
        self._custom_metrics = list(metrics) if metrics is not None else None
        super().__init__(*args, **kwargs)
        self.flip_ratio: _metrics.FlipRatio | None = None

    def build(self, input_shape: Any) -> None:
        if self._custom_metrics and "flip_ratio" in self._custom_metrics:
            self.flip_ratio = _metrics.FlipRatio(name=f"flip_ratio/{self.name}")
            shape = tuple(input_shape)
            if all(dim is not None for dim in shape):
                self.flip_ratio.build(shape)
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        return self._track(self._quantize(_to_tensor(inputs)))

    def _quantize(self, inputs: tf.Tensor) -> tf.Tensor:
        """The quantization function proper; subclasses override this."""
        return inputs

    def _track(self, outputs: tf.Tensor) -> tf.Tensor:
        if self.flip_ratio is not None:
            self.flip_ratio.update_state(outputs)
        return outputs

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self._custom_metrics:
            config["metrics"] = list(self._custom_metrics)
        return config


class _ClippedQuantizer(_BaseQuantizer):
    """A quantizer whose straight-through pseudo-gradient is clipped at `clip_value`."""

    def __init__(self, clip_value: float | None = 1.0, **kwargs: Any) -> None:
        self.clip_value = clip_value
        super().__init__(**kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "clip_value": self.clip_value}


class NoOp(_BaseQuantizer):
    r"""Serializable no-op quantizer: \( q(x) = x \), gradient dy.

    It does not change its input; it only tags a variable with `precision` (e.g. ``NoOp(1)`` marks
    a binary kernel for `Bop`) and can carry training metrics.

    Args:
        precision: the bit width to tag the variable with.
        metrics: list of training metrics (only ``"flip_ratio"``), or None.
    """

    def __init__(self, precision: int, **kwargs: Any) -> None:
        self.precision = precision
        super().__init__(**kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "precision": self.precision}


class SteSign(_ClippedQuantizer):
    r"""Binary quantizer with the clipped straight-through estimator.

    Forward: \( q(x) = -1 \) if \( x < 0 \), \( +1 \) if \( x \geq 0 \).
    Pseudo-gradient: 1 if \( |x| \le \) `clip_value`, else 0 (None: never clipped).

    Args:
        clip_value: gradient clipping threshold, or None.
        metrics: list of training metrics (only ``"flip_ratio"``), or None.
    """

    precision = 1

    def _quantize(self, inputs: tf.Tensor) -> tf.Tensor:
        return ste_sign(inputs, clip_value=self.clip_value)


class ApproxSign(_BaseQuantizer):
    r"""Binary quantizer with the ApproxSign pseudo-gradient (Bi-Real Net).

    Forward: \( q(x) = -1 \) if \( x < 0 \), \( +1 \) if \( x \geq 0 \).
    Pseudo-gradient: \( 2 - 2|x| \) if \( |x| \le 1 \), else 0.

    Args:
        metrics: list of training metrics (only ``"flip_ratio"``), or None.
    """

    precision = 1

    def _quantize(self, inputs: tf.Tensor) -> tf.Tensor:
        return approx_sign(inputs)


class SteHeaviside(_ClippedQuantizer):
    r"""Binarization to {0, 1} with the clipped straight-through estimator.

    Forward: \( q(x) = 1 \) if \( x > 0 \), \( 0 \) if \( x \le 0 \).
    Pseudo-gradient: 1 if \( |x| \le \) `clip_value`, else 0 (None: never clipped).

    Args:
        clip_value: gradient clipping threshold, or None.
        metrics: list of training metrics (only ``"flip_ratio"``), or None.
    """

    precision = 1

    def _quantize(self, inputs: tf.Tensor) -> tf.Tensor:
        return ste_heaviside(inputs, clip_value=self.clip_value)


class SwishSign(_BaseQuantizer):
    r"""Binary quantizer with the SignSwish pseudo-gradient (BNN+).

    Forward: \( q(x) = -1 \) if \( x < 0 \), \( +1 \) if \( x \geq 0 \).
    Pseudo-gradient:
    \( \beta \{2 - \beta x \tanh(\beta x / 2)\} / (1 + \cosh(\beta x)) \).

    Args:
        beta: larger values approximate the derivative of the sign more closely.
        metrics: list of training metrics (only ``"flip_ratio"``), or None.
    """

    precision = 1

    def __init__(self, beta: float = 5.0, **kwargs: Any) -> None:
        self.beta = beta
        super().__init__(**kwargs)

    def _quantize(self, inputs: tf.Tensor) -> tf.Tensor:
        return swish_sign(inputs, beta=self.beta)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta": self.beta}


class MagnitudeAwareSign(_ClippedQuantizer):
    r"""Scaled sign quantizer for Bi-Real Net (section 3.3).

    Forward: \( q(x) = a \cdot \mathrm{sign}(x) \), \( a \) = mean of \( |x| \) over all axes
    but the last (one scale per output channel).
    Pseudo-gradient: \( a \cdot 1[|x| \le \) `clip_value` \( ] \); \( a \) is held constant.

    Args:
        clip_value: gradient clipping threshold, or None.
        metrics: list of training metrics (only ``"flip_ratio"``), or None.
    """

    precision = 1

    def _quantize(self, inputs: tf.Tensor) -> tf.Tensor:
        return magnitude_aware_sign(inputs, clip_value=self.clip_value)


class SteTern(_BaseQuantizer):
    r"""Ternary quantizer to {-1, 0, +1} with the clipped straight-through estimator.

    Forward: \( +1 \) if \( x \ge \Delta \), \( -1 \) if \( x \le -\Delta \), else 0, where
    \( \Delta \) = `threshold_value`, or with ``ternary_weight_networks=True``
    \( \Delta = \frac{0.7}{n} \sum_i |x_i| \).
    Pseudo-gradient: 1 if \( |x| \le \) `clip_value`, else 0 (None: never clipped).

    Args:
        threshold_value: the fixed threshold \( \Delta \).
        ternary_weight_networks: compute \( \Delta \) as in Ternary Weight Networks instead.
        clip_value: gradient clipping threshold, or None.
        metrics: list of training metrics (only ``"flip_ratio"``), or None.
    """

    precision = 2

    def __init__(
        self,
        threshold_value: float = 0.05,
        ternary_weight_networks: bool = False,
        clip_value: float | None = 1.0,
        **kwargs: Any,
    ) -> None:
        self.threshold_value = threshold_value
        self.ternary_weight_networks = ternary_weight_networks
        self.clip_value = clip_value
        super().__init__(**kwargs)

    def _quantize(self, inputs: tf.Tensor) -> tf.Tensor:
        return ste_tern(
            inputs,
            threshold_value=self.threshold_value,
            ternary_weight_networks=self.ternary_weight_networks,
            clip_value=self.clip_value,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "threshold_value": self.threshold_value,
            "ternary_weight_networks": self.ternary_weight_networks,
            "clip_value": self.clip_value,
        }


class DoReFa(_BaseQuantizer):
    r"""k-bit quantizer of the DoReFa paper, \( n = 2^{k\_bit} - 1 \).

    ``mode="activations"``: \( q(x) = \mathrm{round}(n \cdot \mathrm{clip}(x, 0, 1)) / n \),
    pseudo-gradient 1 for \( 0 \le x \le 1 \), else 0.

    ``mode="weights"``: \( q(w) = 2\,\mathrm{quantize}_k\big(\tanh(w) / (2 \max|\tanh(w)|) +
    \tfrac12\big) - 1 \), values in [-1, 1]; the rounding passes the gradient straight through
    and the max is held constant. Meant for weights in [-1, 1] (``weight_clip`` default).

    Args:
        k_bit: number of bits (the `precision`).
        mode: ``"activations"`` or ``"weights"``; anything else raises ValueError.
        metrics: list of training metrics (only ``"flip_ratio"``), or None.
    """

    def __init__(self, k_bit: int = 2, mode: str = "activations", **kwargs: Any) -> None:
        _check_dorefa_mode(mode)
        self.precision = k_bit
        self.mode = mode
        super().__init__(**kwargs)

    def _quantize(self, inputs: tf.Tensor) -> tf.Tensor:
        return dorefa(inputs, k_bit=self.precision, mode=self.mode)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k_bit": self.precision, "mode": self.mode}


# Larq's former names, kept for backwards compatibility. As in Larq they are the very same
# classes (Larq neither logs nor warns on them), so saved configs name `NoOp` / `DoReFa`.
NoOpQuantizer = NoOp
DoReFaQuantizer = DoReFa

QuantizerType = Quantizer | Callable[[tf.Tensor], tf.Tensor]

# --------------------------------------------------------------------------------------------
# Registration, get / serialize / deserialize
# --------------------------------------------------------------------------------------------

_CLASSES: dict[str, type[Quantizer]] = {
    cls.__name__: cls
    for cls in (
        Quantizer, NoOp, SteSign, ApproxSign, SteHeaviside, SwishSign, MagnitudeAwareSign,
        SteTern, DoReFa,
    )
}
_CLASSES["NoOpQuantizer"] = NoOp
_CLASSES["DoReFaQuantizer"] = DoReFa

# Larq's string aliases: `get(alias)` gives an instance of the class with default arguments;
# as a Keras activation string the alias is the functional form.
_ALIASES: dict[str, tuple[type[Quantizer], Callable[..., tf.Tensor]]] = {
    "ste_sign": (SteSign, ste_sign),
    "approx_sign": (ApproxSign, approx_sign),
    "swish_sign": (SwishSign, swish_sign),
    "ste_heaviside": (SteHeaviside, ste_heaviside),
    "magnitude_aware_sign": (MagnitudeAwareSign, magnitude_aware_sign),
    "ste_tern": (SteTern, ste_tern),
    "dorefa_quantizer": (DoReFa, dorefa_quantizer),
}

_FUNCTIONS: dict[str, Callable[..., tf.Tensor]] = {
    fn.__name__: fn
    for fn in (
        ste_sign, approx_sign, swish_sign, ste_heaviside, magnitude_aware_sign, ste_tern, dorefa,
    )
}

for _cls in _CLASSES.values():
    if _cls.__name__ in ("NoOpQuantizer", "DoReFaQuantizer"):
        continue
    _registry.register(_cls)
for _fn in _FUNCTIONS.values():
    _registry.register(_fn)
for _alias, (_cls, _fn) in _ALIASES.items():
    _registry.register_alias(_alias, _fn, keras_module="activations")
# Plain class names, as Keras 2 / Larq wrote them into configs (e.g. a Dense activation).
for _name, _cls in _CLASSES.items():
    _registry.register_alias(_name, _cls)


def serialize(quantizer: Any, use_legacy_format: bool = False) -> Any:
    """Config of a quantizer (class instance or function).

    Keras 3 format by default; with ``use_legacy_format=True`` the Keras 2 (Larq) format:
    ``{"class_name": "SteSign", "config": {...}}`` (dtype as the policy name) for a quantizer
    object and the function's name for a function.
    """
    if not use_legacy_format:
        return keras.saving.serialize_keras_object(quantizer)
    if quantizer is None:
        return None
    if hasattr(quantizer, "get_config"):
        config = dict(quantizer.get_config())
        if isinstance(config.get("dtype"), dict):  # Keras 2 wrote the policy's name
            config["dtype"] = quantizer.dtype_policy.name
        return {"class_name": type(quantizer).__name__, "config": config}
    return getattr(quantizer, "__name__", None) or repr(quantizer)


def deserialize(
    name: str | dict[str, Any],
    custom_objects: dict[str, Any] | None = None,
    use_legacy_format: bool = False,
) -> Any:
    """Build a quantizer from a string or a (Keras 2 or Keras 3) config dict.

    Strings: a Larq alias (``"ste_sign"`` -> ``SteSign()``), a class name (``"SteSign"``), a
    function name, or a registered name ``"package>Name"``. Dicts: ``{"class_name", "config"}``
    as written by Keras 2 / Larq (its ``module`` and ``registered_name`` are ignored for our
    classes) or by Keras 3 (including ``class_name="function"``). Both formats are recognised
    whatever `use_legacy_format` says (the argument exists for Larq compatibility).
    """
    del use_legacy_format
    if isinstance(name, str):
        return _from_string(name, custom_objects)
    if isinstance(name, dict):
        return _from_dict(name, custom_objects)
    raise ValueError(f"Could not interpret quantizer config: {name!r}")


def _from_string(name: str, custom_objects: dict[str, Any] | None) -> Any:
    obj = _lookup(name, custom_objects)
    if obj is None:
        raise ValueError(f"Unknown quantizer: {name!r}")
    return obj() if isinstance(obj, type) else obj


def _lookup(name: str, custom_objects: dict[str, Any] | None) -> Any:
    """Class or function for a name, or None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _ALIASES:
        return _ALIASES[name][0]
    if name in _CLASSES:
        return _CLASSES[name]
    if name in _FUNCTIONS:
        return _FUNCTIONS[name]
    if ">" in name:  # a Keras 3 registered name: exactly the registered class or function
        registered = keras.saving.get_registered_object(name, custom_objects=custom_objects)
        package, _, short = name.partition(">")
        if registered is None and package == _registry.PACKAGE:
            registered = _lookup(short, None)
        return registered
    return keras.saving.get_registered_object(name, custom_objects=custom_objects)


def _from_dict(config: dict[str, Any], custom_objects: dict[str, Any] | None) -> Any:
    class_name = config.get("class_name")
    if not isinstance(class_name, str):
        raise ValueError(f"Could not interpret quantizer config (no class_name): {config!r}")
    inner = config.get("config", {})
    if class_name == "function":
        if not isinstance(inner, str):
            raise ValueError(f"Could not interpret quantizer function config: {config!r}")
        return _from_string(inner, custom_objects)
    registered = config.get("registered_name")
    cls = _lookup(class_name, custom_objects)
    if cls is None and isinstance(registered, str):
        cls = _lookup(registered, custom_objects)
    if cls is None:
        return keras.saving.deserialize_keras_object(config, custom_objects=custom_objects)
    if not isinstance(cls, type):
        return cls
    inner = dict(inner or {})
    return cls.from_config(inner)


def get(identifier: Any) -> Any:
    """Resolve a quantizer identifier.

    None -> None; a string alias, name or ``"package>Name"`` -> a new quantizer instance (or the
    registered function); a config dict -> `deserialize(dict)`; any callable (quantizer
    instance, function, `set_precision`-tagged function) -> returned unchanged. Anything else
    raises ValueError.
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret quantization function identifier: {identifier!r}")


def get_kernel_quantizer(identifier: Any) -> Any:
    """`get(identifier)`, and a quantizer without explicit metrics gets the current
    `bnnstat.context.metrics_scope` metrics (Larq adds training metrics to kernels only)."""
    quantizer = get(identifier)
    if isinstance(quantizer, _BaseQuantizer) and not quantizer._custom_metrics:
        quantizer._custom_metrics = list(context.get_training_metrics())
    return quantizer
