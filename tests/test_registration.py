"""`import bnnstat` is enough for plain Keras: every bnnstat object resolves through
`keras.saving.deserialize_keras_object` and Keras' string lookups, whichever of keras, bnnstat
or a bnnstat submodule is imported first (fresh processes), and `import bnnstat` alone imports
neither Keras nor TensorFlow. Also Larq's registration decorators in `bnnstat.utils`."""

from __future__ import annotations

import json

import pytest

from tests.test_layers_saving import models_by_rank
from tests.test_workflows import run_script


def bnnstat_objects():
    """(object, expected resolved name) for every kind of bnnstat Keras object."""
    import keras

    import bnnstat as lq

    objects = [(layer, type(layer).__name__) for model in models_by_rank() for layer in model.layers
               if type(layer).__module__.startswith("bnnstat")]
    quantizers = lq.quantizers
    for quantizer in (
        quantizers.SteSign(), quantizers.ApproxSign(), quantizers.SteHeaviside(),
        quantizers.SwishSign(), quantizers.MagnitudeAwareSign(), quantizers.SteTern(),
        quantizers.DoReFa(k_bit=3), quantizers.NoOp(precision=1),
    ):
        objects.append((quantizer, type(quantizer).__name__))
    for function in (quantizers.ste_sign, quantizers.approx_sign, quantizers.ste_tern,
                     lq.activations.hard_tanh, lq.activations.leaky_tanh,
                     lq.zoo.xnor_weight_scale, lq.zoo.magnitude_aware_sign_unclipped,
                     lq.zoo.blurpool_initializer, lq.zoo.clip_by_value_activation):
        objects.append((function, function.__name__))
    objects.append((lq.constraints.WeightClip(0.5), "WeightClip"))
    objects.append((lq.metrics.FlipRatio(), "FlipRatio"))
    objects.append((lq.optimizers.Bop(threshold=1e-5), "Bop"))
    objects.append((lq.optimizers.Bop.is_binary_variable, "_is_binary_variable"))
    objects.append(
        (
            lq.optimizers.CaseOptimizer(
                (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
                default_optimizer=keras.optimizers.Adam(),
            ),
            "CaseOptimizer",
        )
    )
    return objects


@pytest.fixture(scope="module")
def configs(tf, tmp_path_factory):
    import keras

    objects = bnnstat_objects()
    path = tmp_path_factory.mktemp("configs") / "configs.json"
    path.write_text(json.dumps([keras.saving.serialize_keras_object(o) for o, _ in objects]))
    return path, [name for _, name in objects]


@pytest.mark.parametrize(
    "first",
    # bnnstat.math / .metrics / .quantizers first: the hook fires while they are half-imported.
    ["bnnstat", "keras", "tensorflow", "bnnstat.math", "bnnstat.metrics", "bnnstat.quantizers"],
)
def test_plain_keras_resolves_every_bnnstat_object(configs, first):
    path, names = configs
    report = json.loads(run_script("deserialize_all.py", first, str(path)).splitlines()[-1])
    assert [report["resolved"][str(i)] for i in range(len(names))] == names
    aliases = report["aliases"]
    assert aliases["weight_clip"] == "WeightClip"
    assert aliases["ste_sign"] == "ste_sign" and aliases["dorefa_quantizer"] == "dorefa"
    assert aliases["clip_by_value_activation"] == "clip_by_value_activation"
    assert len(names) > 30  # every layer class, quantizer, optimizer, metric, activation


def test_register_keras_custom_object_and_alias_follow_larq(tf):
    import keras

    import bnnstat as lq

    @lq.utils.register_keras_custom_object
    def double_clip_activation(x):
        return keras.ops.clip(2 * x, -1, 1)

    assert keras.saving.get_custom_objects()["double_clip_activation"] is double_clip_activation
    layer = keras.layers.Activation("double_clip_activation")
    assert layer.activation is double_clip_activation
    assert float(layer(keras.ops.convert_to_tensor([0.3]))[0]) == pytest.approx(0.6)

    @lq.utils.register_alias("my_degeneration")
    class Degeneration(keras.metrics.Mean):
        pass

    custom = keras.saving.get_custom_objects()
    assert custom["my_degeneration"] is Degeneration and custom["Degeneration"] is Degeneration

    # Never shadows Keras' own activation of the same name.
    relu = keras.activations.get("relu")

    @lq.utils.register_alias("relu")
    def not_relu(x):
        return x

    assert keras.activations.get("relu") is relu
    assert keras.saving.get_custom_objects()["relu"] is not_relu  # Larq: custom objects only
    del keras.saving.get_custom_objects()["relu"]
