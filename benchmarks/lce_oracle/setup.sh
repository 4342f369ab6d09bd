#!/usr/bin/env bash
# One-command set-up of the LCE oracle environment (NOT used by CI or the tests).
# Creates benchmarks/lce_oracle/.venv (gitignored) with the Keras-2 stack that
# Larq Compute Engine 0.16.0 needs, then you can run:
#   benchmarks/lce_oracle/.venv/bin/python benchmarks/lce_oracle/make_probes.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "needs Python 3.11"'
if [ ! -x "$here/.venv/bin/python" ]; then
    "$python" -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --upgrade pip
"$here/.venv/bin/python" -m pip install \
    "tensorflow-cpu==2.15.1" "larq==0.14.0" "larq-zoo==2.4.0" \
    "larq-compute-engine==0.16.0" "numpy<2" "protobuf==3.20.3" "h5py" "tflite"
# TF_USE_LEGACY_KERAS is deliberately left unset: TF 2.15 ships Keras 2 as tf.keras.
"$here/.venv/bin/python" -c 'import larq, larq_compute_engine, tensorflow as tf; print("ok", tf.__version__, larq.__version__ if hasattr(larq, "__version__") else "")'
