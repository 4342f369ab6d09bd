"""Workflow script: `python deserialize_all.py FIRST CONFIGS.json` (fresh process).

Imports FIRST ("bnnstat", "keras" or a bnnstat submodule such as "bnnstat.math") and then the
other of keras / bnnstat, and resolves every bnnstat object through plain Keras only:
`keras.saving.deserialize_keras_object` on configs serialized by another process, and the
string aliases through `keras.activations.get` / `keras.constraints.get`. Prints one JSON line
{config index: resolved class or function name}.
"""

import importlib
import json
import sys
from pathlib import Path

FIRST, CONFIGS = sys.argv[1:3]
importlib.import_module(FIRST)
if FIRST == "bnnstat":
    heavy = sorted(m for m in ("keras", "tensorflow") if m in sys.modules)
    assert not heavy, f"import bnnstat imported {heavy}"
import bnnstat
import keras

resolved = {}
for index, entry in enumerate(json.loads(Path(CONFIGS).read_text())):
    obj = keras.saving.deserialize_keras_object(entry)
    resolved[str(index)] = getattr(obj, "__name__", None) or type(obj).__name__
aliases = {}
for alias in ("ste_sign", "approx_sign", "swish_sign", "ste_heaviside", "magnitude_aware_sign",
              "ste_tern", "dorefa_quantizer", "leaky_tanh", "clip_by_value_activation"):
    aliases[alias] = keras.activations.get(alias).__name__
aliases["weight_clip"] = type(keras.constraints.get("weight_clip")).__name__
print(json.dumps({"resolved": resolved, "aliases": aliases, "bnnstat": bnnstat.__name__}))
