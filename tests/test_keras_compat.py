"""Keras internals live in one module, `bnnstat/_keras_compat.py`, checked against one Keras.

The version pin fails loudly when another Keras is installed: re-read every function of
`_keras_compat` against the new Keras source, then move `CHECKED_KERAS_VERSION`.
"""

from __future__ import annotations

import re

from tests.conftest import REPO

PACKAGE = REPO / "bnnstat"
# Private Keras attributes bnnstat needs; only _keras_compat may touch them.
PRIVATE = re.compile(
    r"\._(flatten_layers|track_variable|untrack_variable|get_variable_index"
    r"|check_variables_are_known|trainable_variables|compute_causal_padding|learning_rate"
    r"|iterations|variables|keras_history)\b"
)


def test_installed_keras_is_the_checked_version():
    import keras

    from bnnstat import _keras_compat

    assert keras.__version__ == _keras_compat.CHECKED_KERAS_VERSION, (
        f"Keras {keras.__version__} is installed but bnnstat/_keras_compat.py was checked "
        f"against {_keras_compat.CHECKED_KERAS_VERSION}: re-check every function there against "
        "the new Keras source, then update CHECKED_KERAS_VERSION."
    )


def test_keras_internals_only_in_keras_compat():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_keras_compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if re.search(r"\b(from|import)\s+keras\.src\b", code) or PRIVATE.search(code):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "Keras internals outside bnnstat/_keras_compat.py:\n" + "\n".join(
        offenders
    )


def test_keras_compat_functions_still_reach_keras(tf):
    """Each internal the module relies on exists in the installed Keras."""
    import keras

    from bnnstat import _keras_compat as compat

    assert "relu" in compat.string_table("activations")
    assert "NonNeg" in compat.string_table("constraints")
    optimizer = keras.optimizers.SGD()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    optimizer.build(model.trainable_variables)
    assert compat.built_variables(optimizer) == model.trainable_variables
    assert compat.variable_index(optimizer, model.trainable_variables[1]) == 1
    compat.check_variables_are_known(optimizer, model.trainable_variables)
    assert len(compat.own_variables(optimizer)) == len(optimizer.variables)
    assert model.layers[0] in list(compat.sublayers(model))
    conv = keras.layers.Conv1D(1, 3, padding="causal", dilation_rate=2)
    assert [list(p) for p in compat.causal_padding(conv)] == [[0, 0], [4, 0], [0, 0]]
    arguments = compat.compile_arguments(
        {"optimizer_config": {"class_name": "Adam", "config": {}}, "loss": None,
         "loss_weights": None}
    )
    assert isinstance(arguments["optimizer"], keras.optimizers.Adam)
