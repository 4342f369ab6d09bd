"""Static shape rules (`bnnstat.inspect.shapes`) against Keras' own `compute_output_shape`."""

from __future__ import annotations

import pytest

from bnnstat.inspect import shapes

# (layer factory as source text, input shape(s)). Factories are strings so that building them
# needs TensorFlow only inside the tests (the `tf` fixture runs first).
KERAS_CASES = [
    ("L.Dense(7)", (None, 5)),
    ("L.Dense(7)", (None, 3, 5)),
    ("L.Conv1D(4, 3)", (None, 17, 2)),
    ("L.Conv1D(4, 3, strides=2, padding='same')", (None, 17, 2)),
    ("L.Conv1D(4, 3, padding='causal', dilation_rate=2)", (None, 17, 2)),
    ("L.Conv2D(6, (3, 5), strides=(2, 3))", (None, 19, 23, 3)),
    ("L.Conv2D(6, 3, padding='same', strides=2, data_format='channels_first')", (None, 3, 15, 9)),
    ("L.Conv2D(6, 3, dilation_rate=2, groups=3)", (None, 15, 15, 3)),
    ("L.Conv3D(2, 3, strides=(1, 2, 2))", (None, 9, 10, 11, 1)),
    ("L.Conv1DTranspose(4, 3, strides=2)", (None, 7, 2)),
    ("L.Conv2DTranspose(5, 3, strides=2, padding='same')", (None, 7, 8, 3)),
    ("L.Conv2DTranspose(5, 4, strides=3, output_padding=1)", (None, 7, 8, 3)),
    ("L.Conv2DTranspose(5, 3, data_format='channels_first')", (None, 3, 7, 8)),
    ("L.Conv3DTranspose(2, 2, strides=2)", (None, 4, 5, 6, 3)),
    ("L.DepthwiseConv1D(3, depth_multiplier=2)", (None, 12, 3)),
    ("L.DepthwiseConv2D(3, strides=2, depth_multiplier=3)", (None, 12, 13, 3)),
    ("L.SeparableConv1D(5, 3, padding='same')", (None, 12, 3)),
    ("L.SeparableConv2D(5, 3, strides=2)", (None, 12, 13, 3)),
    ("Q.QuantDense(7, kernel_quantizer='ste_sign')", (None, 5)),
    ("Q.QuantConv1D(4, 3, pad_values=1.0, padding='same')", (None, 11, 2)),
    ("Q.QuantConv2D(4, 3, strides=2, input_quantizer='ste_sign')", (None, 11, 12, 2)),
    ("Q.QuantConv3D(2, 3)", (None, 6, 7, 8, 1)),
    ("Q.QuantDepthwiseConv2D(3, padding='same')", (None, 8, 8, 4)),
    ("Q.QuantSeparableConv1D(5, 3)", (None, 12, 3)),
    ("Q.QuantSeparableConv2D(5, 3, padding='same')", (None, 9, 9, 3)),
    ("Q.QuantConv2DTranspose(4, 3, strides=2)", (None, 5, 6, 2)),
    ("Q.QuantConv3DTranspose(2, 3)", (None, 4, 4, 4, 2)),
    ("Q.QuantLocallyConnected1D(4, 3, strides=2)", (None, 11, 2)),
    ("Q.QuantLocallyConnected2D(4, (3, 2))", (None, 7, 8, 2)),
    ("L.BatchNormalization()", (None, 8, 8, 3)),
    ("L.Activation('relu')", (None, 4, 5)),
    ("L.Activation('ste_sign')", (None, 4, 5)),
    ("L.MaxPooling1D(3)", (None, 10, 2)),
    ("L.MaxPooling2D(2, strides=1, padding='same')", (None, 7, 9, 2)),
    ("L.MaxPooling2D(3, data_format='channels_first')", (None, 2, 10, 11)),
    ("L.MaxPooling3D(2)", (None, 6, 7, 8, 1)),
    ("L.AveragePooling1D(2, strides=3)", (None, 11, 4)),
    ("L.AveragePooling2D((2, 3))", (None, 9, 9, 2)),
    ("L.AveragePooling3D(2, padding='same')", (None, 5, 5, 5, 1)),
    ("L.GlobalAveragePooling1D()", (None, 9, 4)),
    ("L.GlobalAveragePooling2D()", (None, 9, 8, 4)),
    ("L.GlobalAveragePooling2D(keepdims=True)", (None, 9, 8, 4)),
    ("L.GlobalMaxPooling2D(data_format='channels_first')", (None, 4, 9, 8)),
    ("L.GlobalMaxPooling3D()", (None, 3, 4, 5, 6)),
    ("L.ZeroPadding1D((1, 3))", (None, 5, 2)),
    ("L.ZeroPadding2D(((1, 2), (3, 4)))", (None, 5, 6, 2)),
    ("L.ZeroPadding2D(2, data_format='channels_first')", (None, 2, 5, 6)),
    ("L.ZeroPadding3D(1)", (None, 3, 4, 5, 1)),
    ("L.Cropping1D((1, 2))", (None, 9, 2)),
    ("L.Cropping2D(((1, 2), (0, 3)))", (None, 9, 8, 2)),
    ("L.Cropping3D(1)", (None, 5, 6, 7, 1)),
    ("L.UpSampling1D(3)", (None, 4, 2)),
    ("L.UpSampling2D((2, 3))", (None, 4, 5, 2)),
    ("L.UpSampling3D(2)", (None, 2, 3, 4, 1)),
    ("L.Flatten()", (None, 3, 4, 5)),
    ("L.Flatten(data_format='channels_first')", (None, 3, 4, 5)),
    ("L.Reshape((6, -1))", (None, 4, 3, 2)),
    ("L.Reshape((2, 2, 6))", (None, 24)),
    ("L.Permute((2, 1, 3))", (None, 4, 5, 6)),
    ("L.Dropout(0.5)", (None, 4, 5)),
    ("L.SpatialDropout2D(0.5)", (None, 4, 5, 2)),
    ("L.RepeatVector(3)", (None, 5)),
    ("L.Rescaling(1 / 255)", (None, 8, 8, 3)),
    ("L.Normalization(mean=0.5, variance=2.0)", (None, 8, 3)),
    ("L.LayerNormalization()", (None, 8, 3)),
    ("L.ReLU()", (None, 8, 3)),
    ("L.Embedding(100, 8)", (None, 12)),
]

MERGE_CASES = [
    ("L.Add()", [(None, 4, 4, 8), (None, 4, 4, 8)]),
    ("L.Add()", [(None, 4, 4, 8), (None, 1, 1, 8)]),
    ("L.Subtract()", [(None, 6), (None, 6)]),
    ("L.Multiply()", [(None, 3, 5), (None, 3, 5), (None, 3, 5)]),
    ("L.Average()", [(None, 5), (None, 5)]),
    ("L.Maximum()", [(None, 2, 5), (None, 2, 5)]),
    ("L.Minimum()", [(None, 2, 5), (None, 2, 5)]),
    ("L.Concatenate()", [(None, 4, 4, 3), (None, 4, 4, 5)]),
    ("L.Concatenate(axis=1)", [(None, 2, 7), (None, 3, 7)]),
]


def _build(source: str):
    import keras

    import bnnstat.layers as quant_layers

    return eval(source, {"L": keras.layers, "Q": quant_layers})


def _ours(layer, inputs):
    from keras.saving import serialize_keras_object

    serialized = serialize_keras_object(layer)
    class_name = serialized["class_name"]
    inferred = shapes.infer(class_name, serialized["config"], inputs)
    assert inferred.known, inferred.note
    assert len(inferred.shapes) == 1
    return inferred.shapes[0]


@pytest.mark.parametrize(("source", "input_shape"), KERAS_CASES)
def test_single_input_layers_match_keras(tf, source, input_shape):
    layer = _build(source)
    expected = tuple(layer.compute_output_shape(input_shape))
    assert _ours(layer, [input_shape]) == expected


@pytest.mark.parametrize(("source", "input_shapes"), MERGE_CASES)
def test_merge_layers_match_keras(tf, source, input_shapes):
    layer = _build(source)
    expected = tuple(layer.compute_output_shape(input_shapes))
    assert _ours(layer, input_shapes) == expected


def test_input_layer_both_key_spellings():
    keras2 = shapes.infer("InputLayer", {"batch_input_shape": [None, 32, 32, 3]}, [])
    keras3 = shapes.infer("InputLayer", {"batch_shape": [None, 32, 32, 3]}, [])
    assert keras2.shapes == keras3.shapes == ((None, 32, 32, 3),)


def test_unknown_dimensions_propagate_as_none():
    conv = {"filters": 4, "kernel_size": [3, 3], "strides": [2, 2], "padding": "valid"}
    assert shapes.infer("Conv2D", conv, [(None, None, 9, 3)]).shapes == ((None, None, 4, 4),)
    assert shapes.infer("Flatten", {}, [(None, None, 3)]).shapes == ((None, None),)


def test_lambda_and_unknown_classes_give_a_reason_not_a_guess():
    lam = shapes.infer("Lambda", {"function": "anything"}, [(None, 4)])
    assert not lam.known and "Lambda" in lam.note
    other = shapes.infer("MyCustomLayer", {}, [(None, 4)])
    assert not other.known and "MyCustomLayer" in other.note
    missing = shapes.infer("Dense", {"units": 3}, [None])
    assert not missing.known and "input shape is unknown" in missing.note


def test_bad_config_is_a_reason_not_a_crash():
    result = shapes.infer("Dense", {}, [(None, 4)])
    assert not result.known and "Dense" in result.note


# --- Keras 2 TFOpLambda ops, checked against TensorFlow running the same op --------------------

TFOP_CASES = [
    ("__operators__.add", [(2, 4, 4, 8)], {"y": (2, 4, 4, 8)}, "lambda x, y: x + y"),
    ("__operators__.add", [(2, 4, 4, 8)], {"y": (2, 1, 1, 8)}, "lambda x, y: x + y"),
    ("math.multiply", [(2, 3, 5)], {"y": (5,)}, "lambda x, y: tf.math.multiply(x, y)"),
    ("math.add", [(2, 3, 5)], {"y": 1.0}, "lambda x, y: tf.math.add(x, y)"),
    ("math.abs", [(2, 3, 5)], {}, "lambda x: tf.math.abs(x)"),
    ("math.sign", [(2, 3, 5)], {}, "lambda x: tf.math.sign(x)"),
    ("nn.relu", [(2, 6, 6, 4)], {}, "lambda x: tf.nn.relu(x)"),
    ("math.reduce_mean", [(2, 6, 6, 4)], {"axis": [1, 2], "keepdims": True},
     "lambda x, axis, keepdims: tf.math.reduce_mean(x, axis=axis, keepdims=keepdims)"),
    ("concat", [(2, 6, 6, 4), (2, 6, 6, 2)], {"axis": -1}, "lambda *xs, axis: tf.concat(xs, axis)"),
    ("reshape", [(2, 6, 4)], {"shape": [-1, 24]}, "lambda x, shape: tf.reshape(x, shape)"),
]  # fmt: skip


def _tf_value(tf, value):
    if isinstance(value, tuple):
        return tf.zeros(value)
    return value


@pytest.mark.parametrize(("function", "inputs", "kwargs", "op"), TFOP_CASES)
def test_tfoplambda_ops_match_tensorflow(tf, function, inputs, kwargs, op):
    fn = eval(op, {"tf": tf})
    tensors = [tf.zeros(s) for s in inputs]
    values = {k: _tf_value(tf, v) for k, v in kwargs.items()}
    expected = tuple(fn(*tensors, **values).shape)
    ours_kwargs = {
        k: shapes.TensorArg((None, *v[1:]) if len(v) == len(inputs[0]) else v)
        if isinstance(v, tuple) else v
        for k, v in kwargs.items()
    }  # fmt: skip
    ours = shapes.infer(
        "TFOpLambda", {"function": function}, [(None, *s[1:]) for s in inputs], ours_kwargs
    )
    assert ours.known, ours.note
    assert ours.shapes == ((None, *expected[1:]),)


def test_tf_split_gives_one_shape_per_output(tf):
    pieces = tf.split(tf.zeros((2, 4, 4, 12)), 3, axis=-1)
    ours = shapes.infer(
        "TFOpLambda",
        {"function": "split"},
        [(None, 4, 4, 12)],
        {"num_or_size_splits": 3, "axis": -1},
    )
    assert ours.shapes == tuple((None, *p.shape[1:]) for p in pieces)
    sizes = shapes.infer(
        "TFOpLambda", {"function": "split"}, [(None, 10)], {"num_or_size_splits": [3, 7], "axis": 1}
    )
    assert sizes.shapes == ((None, 3), (None, 7))


def test_unknown_tf_op_names_the_function():
    result = shapes.infer("TFOpLambda", {"function": "linalg.svd"}, [(None, 3, 3)])
    assert not result.known and "linalg.svd" in result.note


def test_length_formulas_by_hand():
    # valid: ceil((n - k' + 1) / s) with k' = (k - 1) d + 1
    assert shapes.conv_length(10, 3, "valid", 1, 2) == 6
    assert shapes.conv_length(10, 3, "same", 3) == 4
    assert shapes.conv_length(None, 3, "same", 3) is None
    # transposed: n s + max(k - s, 0) for valid; n s for same
    assert shapes.deconv_length(5, 3, "valid", 2, None) == 11
    assert shapes.deconv_length(5, 3, "same", 2, None) == 10
    assert shapes.deconv_length(5, 4, "valid", 3, 1) == 17
