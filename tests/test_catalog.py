"""The layer/quantizer catalog, held against the training stack and the stages that use it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

from bnnstat.inspect import catalog, lce, shapes

# Keras 2 (Larq-era) classes that Keras 3 no longer ships, and non-Keras kinds.
KERAS2_ONLY = {
    "LocallyConnected1D", "LocallyConnected2D", "SyncBatchNormalization", "ThresholdedReLU",
    "TFOpLambda", "SlicingOpLambda", "QuantizerActivation",
}  # fmt: skip

# Constructor arguments to build each bnnstat layer on one input shape.
BUILD = {
    "QuantDense": ({"units": 3}, (2, 5)),
    "QuantConv1D": ({"filters": 2, "kernel_size": 3}, (2, 9, 3)),
    "QuantConv2D": ({"filters": 2, "kernel_size": 3}, (2, 6, 6, 3)),
    "QuantConv3D": ({"filters": 2, "kernel_size": 2}, (2, 4, 4, 4, 2)),
    "QuantDepthwiseConv2D": ({"kernel_size": 3}, (2, 6, 6, 3)),
    "QuantSeparableConv1D": ({"filters": 2, "kernel_size": 3}, (2, 9, 3)),
    "QuantSeparableConv2D": ({"filters": 2, "kernel_size": 3}, (2, 6, 6, 3)),
    "QuantConv2DTranspose": ({"filters": 2, "kernel_size": 3}, (2, 4, 4, 2)),
    "QuantConv3DTranspose": ({"filters": 2, "kernel_size": 2}, (2, 3, 3, 3, 2)),
    "QuantConv1DTranspose": ({"filters": 2, "kernel_size": 3}, (2, 5, 2)),
    "QuantLocallyConnected1D": ({"filters": 2, "kernel_size": 3}, (2, 9, 3)),
    "QuantLocallyConnected2D": ({"filters": 2, "kernel_size": 2}, (2, 5, 5, 2)),
}


def test_normalise_strips_package_quant_prefix_and_aliases():
    assert catalog.normalise("larq>QuantConv2D") == ("Conv2D", True)
    assert catalog.normalise("Convolution2D") == ("Conv2D", False)
    assert catalog.normalise("MaxPool2D") == ("MaxPooling2D", False)
    assert catalog.normalise("GlobalAvgPool1D") == ("GlobalAveragePooling1D", False)
    assert catalog.normalise("Quantizer") == ("Quantizer", False)  # not "izer", quantized
    assert catalog.normalise("pkg>MyLayer") == ("MyLayer", False)
    assert catalog.layer_kind("MyLayer") is None


@pytest.mark.parametrize("name", sorted(BUILD))
def test_every_bnnstat_layer_has_an_entry_matching_its_weights(name):
    import keras

    from bnnstat import layers

    assert sorted(BUILD) == sorted(layers.__all__)
    kwargs, shape = BUILD[name]
    layer = getattr(layers, name)(
        input_quantizer="ste_sign", **kwargs, **_weight_quantizers(getattr(layers, name))
    )
    layer.build(shape)
    kind = catalog.layer_kind(name)
    assert kind is not None and catalog.is_quantized(name)
    config = layer.get_config()
    # Keras 3 creation order: the reader names a `.keras` file's numbered variables this way.
    assert catalog.weight_names(name, config) == [v.name for v in layer.weights]
    for variable in layer.weights:
        role = catalog.weight_role(name, variable.name)
        assert role is not None
        if role.is_kernel:  # the catalog's quantizer/constraint arguments are the layer's own
            assert role.quantizer in config and role.constraint in config
            assert config[role.quantizer] is not None
    specs = getattr(layers, name)._weight_quantizers
    kernels = [r for v in layer.weights if (r := catalog.weight_role(name, v.name)).is_kernel]
    assert sorted((r.quantizer, r.constraint) for r in kernels) == sorted(
        (spec.argument, spec.constraint) for spec in specs
    )
    assert kind.shape is not None and shapes.rule_for(name) is not None
    out = shapes.infer(name, config, [(None, *shape[1:])])
    assert out.shapes == (tuple(layer.compute_output_shape((None, *shape[1:]))),)
    assert kind.ext_macs is not None
    assert isinstance(layer, keras.layers.Layer)


def _weight_quantizers(cls) -> dict[str, str]:
    return {spec.argument: "ste_sign" for spec in cls._weight_quantizers}


def _registered_quantizers():
    from bnnstat import quantizers

    return quantizers


def test_every_registered_quantizer_has_an_entry_with_its_declared_precision():
    from bnnstat.utils import precision_of

    quantizers = _registered_quantizers()
    for name, cls in quantizers._CLASSES.items():
        kind = catalog.quantizer_kind(name)
        assert kind is not None, name
        if cls is quantizers.NoOp:
            for bits in (1, 4):
                config = cls(precision=bits).get_config()
                assert catalog.quantizer_precision(name, config) == bits
        elif cls is quantizers.DoReFa:
            assert catalog.quantizer_precision(name, {}) == cls().precision
            config = cls(k_bit=5).get_config()
            assert catalog.quantizer_precision(name, config) == 5
        else:
            assert catalog.quantizer_precision(name, {}) == cls.precision, name
    for name, fn in quantizers._FUNCTIONS.items():
        assert catalog.quantizer_precision(name, {}) == precision_of(fn), name
    for alias, (cls, fn) in quantizers._ALIASES.items():
        assert catalog.quantizer_kind(alias) == catalog.quantizer_kind(cls.__name__), alias
        assert catalog.quantizer_precision(alias, {}) == precision_of(fn), alias


def test_keras_names_in_the_catalog_exist_in_keras():
    import keras

    for kind in catalog.LAYER_KINDS.values():
        if kind.family == "quantizer" or kind.name in KERAS2_ONLY:
            continue
        for name in (kind.name, *kind.aliases):
            assert hasattr(keras.layers, name), name


def test_every_named_rule_exists_in_the_stage_that_applies_it():
    plans = set(lce._UNPACKED_RULES) | {"batch_norm", "activation", "free", "reshape", "mean",
                                         "pad", "max_pool"}  # fmt: skip
    for kind in catalog.LAYER_KINDS.values():
        if kind.shape not in (None, "tf_op", "lambda"):
            assert shapes.rule_for(kind.name) is not None, kind.name
        assert kind.lce_plan is None or kind.lce_plan in plans, kind.name
        assert (kind.lce_plan in catalog.LCE_WEIGHTED_PLANS) == (
            kind.lce_plan in lce._UNPACKED_RULES
        )


def test_sign_like_quantizers():
    assert catalog.quantizer_kind("ste_sign").sign_input
    assert catalog.quantizer_kind("larq>SteSign").sign_kernel
    assert not catalog.quantizer_kind("approx_sign").sign_kernel
    assert catalog.quantizer_kind("xnor_weight_scale").sign_kernel
    assert not catalog.quantizer_kind("ste_heaviside").binary_sign  # {0, 1}, not +-1
    assert catalog.quantizer_kind("NoOp").tags_only
    assert catalog.quantizer_kind("relu") is None


def test_every_quantized_layer_kind_has_an_lce_plan():
    # The gap issue 14 closed: QuantConv3DTranspose (and QuantConv1DTranspose, a Keras kind)
    # used to fall through to "one weightless op".
    import bnnstat.layers

    assert len(bnnstat.layers.__all__) >= 11  # every Larq 0.14 Quant* layer
    for name in bnnstat.layers.__all__:
        assert catalog.lce_plan(name) in catalog.LCE_WEIGHTED_PLANS, name
    for name in ("QuantConv1DTranspose", "QuantConv2DTranspose", "QuantConv3DTranspose"):
        assert catalog.lce_plan(name) == "transposed"
    assert catalog.lce_packable("QuantConv2D") and not catalog.lce_packable("Conv2D")


def test_catalog_imports_no_tensorflow():
    script = "import sys, bnnstat.inspect.catalog; print(sorted(m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout  # fmt: skip
    assert "'tensorflow'" not in out and "'keras'" not in out
