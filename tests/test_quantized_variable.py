"""`bnnstat.quantized_variable.QuantizedVariable` behaves as Larq's documents: quantized reads
inside `quantized_scope(True)`, latent reads outside, writes to the latent variable."""

from __future__ import annotations

import numpy as np
import pytest

LATENT = [-1.5, -0.25, 0.0, 0.75]
SIGNS = [-1.0, -1.0, 1.0, 1.0]  # ste_sign(0) is +1


@pytest.fixture(params=["keras", "tf"])
def variable(request, tf):
    import keras

    if request.param == "keras":
        return keras.Variable(np.array(LATENT, "float32"), name="w")
    return tf.Variable(np.array(LATENT, "float32"), name="w")


def _value(qv):
    """`value` is a property over a Keras variable and a method over a tf.Variable."""
    return qv.value() if callable(qv.value) else qv.value


def test_reads_are_quantized_only_inside_the_scope(tf, variable):
    from bnnstat import context, quantizers
    from bnnstat.quantized_variable import QuantizedVariable

    qv = QuantizedVariable.from_variable(variable, quantizers.SteSign())
    assert qv.latent_variable is variable
    reads = (
        lambda: qv.read_value().numpy(),
        lambda: np.asarray(_value(qv)),
        qv.numpy,
        lambda: np.asarray(qv),
        lambda: tf.convert_to_tensor(qv).numpy(),
        lambda: tf.identity(qv).numpy(),
        lambda: (qv + 0.0).numpy(),
        lambda: (0.0 + qv).numpy(),
        lambda: (qv * 1.0).numpy(),
        lambda: tf.function(lambda: tf.convert_to_tensor(qv))().numpy(),
    )
    for read in reads:
        np.testing.assert_array_equal(read(), LATENT)
        with context.quantized_scope(True):
            np.testing.assert_array_equal(read(), SIGNS)
            with context.quantized_scope(False):
                np.testing.assert_array_equal(read(), LATENT)
    with context.quantized_scope(True):
        np.testing.assert_array_equal((qv + qv).numpy(), 2 * np.array(SIGNS))
        np.testing.assert_array_equal(qv[1:3].numpy(), SIGNS[1:3])
        np.testing.assert_array_equal((-qv).numpy(), -np.array(SIGNS))
        assert bool(tf.reduce_all(qv > -2.0))


def test_without_quantizer_reads_are_latent(tf, variable):
    from bnnstat import context
    from bnnstat.quantized_variable import QuantizedVariable

    qv = QuantizedVariable(variable)
    assert qv.quantizer is None and qv.precision is None
    with context.quantized_scope(True):
        np.testing.assert_array_equal(qv.numpy(), LATENT)


def test_precision_from_argument_or_quantizer(tf, variable):
    from bnnstat import quantizers
    from bnnstat.quantized_variable import QuantizedVariable

    # Larq's `ste_sign` function has no precision (None); bnnstat's functions carry theirs.
    assert QuantizedVariable(variable, quantizers.ste_sign).precision == 1
    assert QuantizedVariable(variable, quantizers.SteTern()).precision == 2
    assert QuantizedVariable(variable, quantizers.DoReFa(k_bit=3)).precision == 3
    assert QuantizedVariable(variable, quantizers.SteSign(), precision=4).precision == 4
    assert QuantizedVariable(variable, lambda x: x).precision is None


def test_attributes_and_writes_go_to_the_latent_variable(tf, variable):
    from bnnstat import context, quantizers
    from bnnstat.quantized_variable import QuantizedVariable

    qv = QuantizedVariable.from_variable(variable, quantizers.SteSign())
    assert qv.name == variable.name and qv.trainable is True
    assert tuple(qv.shape) == (4,)
    with context.quantized_scope(True):
        assert qv.assign([0.5, -0.5, 0.5, -0.5]) is qv
        np.testing.assert_array_equal(qv.numpy(), [1.0, -1.0, 1.0, -1.0])
        np.testing.assert_array_equal(np.asarray(variable.numpy()), [0.5, -0.5, 0.5, -0.5])
        qv.assign_add([-1.0, 1.0, -1.0, 1.0])
        qv.assign_sub([0.0, 0.0, 0.0, 0.25])
    np.testing.assert_array_equal(qv.numpy(), [-0.5, 0.5, -0.5, 0.25])
    text = repr(qv)
    assert text.startswith("<QuantizedVariable 'w") and "quantizer=SteSign precision=1" in text
    assert "shape=(4,) dtype=float32" in text


def test_gradients_flow_to_the_latent_variable(tf):
    """Through the quantizer's pseudo-gradient: ste_sign passes it where |w| <= 1."""
    import keras

    from bnnstat import context, quantizers
    from bnnstat.quantized_variable import QuantizedVariable

    variable = keras.Variable(np.array([0.5, 2.0], "float32"))
    qv = QuantizedVariable(variable, quantizers.SteSign())
    with context.quantized_scope(True), tf.GradientTape() as tape:
        loss = tf.reduce_sum(qv * tf.constant([3.0, 5.0]))
    assert float(loss) == 8.0
    np.testing.assert_array_equal(tape.gradient(loss, variable).numpy(), [3.0, 0.0])


def test_arguments_are_checked_as_larq_does(tf, variable):
    from bnnstat.quantized_variable import QuantizedVariable

    with pytest.raises(ValueError, match="`variable` must be"):
        QuantizedVariable(np.zeros(3))
    with pytest.raises(ValueError, match="`quantizer` must be `callable` or `None`"):
        QuantizedVariable(variable, "ste_sign")
    with pytest.raises(ValueError, match="`precision` must be of type `int` or `None`"):
        QuantizedVariable(variable, precision=1.0)
    assert QuantizedVariable(variable, op="the op").op == "the op"


def test_layer_weights_are_quantized_variables_inside_the_scope(tf):
    from bnnstat import context, layers, quantized_variable

    layer = layers.QuantDense(3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
    layer.build((None, 4))
    with context.quantized_scope(True):
        kernel = layer.kernel
        assert isinstance(kernel, quantized_variable.QuantizedVariable)
        assert kernel.latent_variable is layer.weights[0].latent_variable
        assert kernel.precision == 1 and kernel.quantizer is layer.kernel_quantizer
        assert set(np.unique(kernel.numpy())) <= {-1.0, 1.0}
        assert not isinstance(layer.bias, quantized_variable.QuantizedVariable)
    # Read after the scope has closed, the view gives the latent values, as Larq's does.
    np.testing.assert_array_equal(kernel.numpy(), kernel.latent_variable.numpy())
    assert not isinstance(layer.kernel, quantized_variable.QuantizedVariable)
