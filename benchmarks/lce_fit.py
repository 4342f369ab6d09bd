"""Fit `bnnstat.inspect.lce`'s flatbuffer overhead constants on the measured LCE sizes.

    PYTHONPATH=. python3 benchmarks/lce_fit.py

The size model is `total = constants + TENSOR_BYTES * tensors + sum(OP_BYTES[kind] * ops of
kind) + BASE_BYTES` (see `bnnstat/inspect/lce.py`). With the constants and counts each rule
predicts, the overheads are the least-squares solution of that linear system over the converted
rule probes, Zoo models and the `fit` split of the sweeps (never the held-out split), weighted
by 1/measured so that small probes count as much as big models. Prints the fitted values and
the resulting worst relative errors; the values are then written into `lce.py` by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bnnstat.inspect import lce
from bnnstat.inspect.reader import read

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "lce"
KINDS = ("bconv", "lce", "builtin")


def features(path: Path) -> tuple[int, list[int]]:
    """(constant bytes, [tensors, ops of each kind, 1]) as the rules predict them."""
    record = read(path)
    planned = lce.store_shared_once(lce._plan_scope(record.layers))
    constants, tensors = 0, max(len(record.input_shapes), 1)
    ops = dict.fromkeys(KINDS, 0)
    for _, plan in planned:
        if plan.stored_as == "nested":
            continue
        values = [c for op in plan.ops for c in op.constants] + list(plan.extra_constants)
        constants += sum(values)
        tensors += len(plan.ops) + len(values)
        for op in plan.ops:
            ops[op.kind] += 1
    return constants, [tensors, *(ops[k] for k in KINDS), 1]


def samples() -> list[tuple[str, Path, int]]:
    found = []
    probes = json.loads((DATA / "measured.json").read_text())["probes"]
    found += [(n, DATA / e["file"], e["tflite_bytes"]) for n, e in probes.items() if e["converted"]]
    zoo = json.loads((DATA / "zoo.json").read_text())["models"]
    found += [(n, DATA / e["file"], e["trained_like"]["tflite_bytes"])
              for n, e in zoo.items() if e["trained_like"]["converted"]]
    sweeps_path = DATA / "sweeps.json"
    if sweeps_path.exists():
        sweeps = json.loads(sweeps_path.read_text())["probes"]
        found += [(n, DATA / e["file"], e["tflite_bytes"]) for n, e in sweeps.items()
                  if e["converted"] and e["split"] == "fit"]
    return found


def main() -> None:
    rows, targets, weights, names = [], [], [], []
    for name, path, measured in samples():
        constants, counts = features(path)
        rows.append(counts)
        targets.append(measured - constants)
        weights.append(1.0 / measured)
        names.append((name, measured, constants, counts))
    a = np.array(rows, float) * np.array(weights)[:, None]
    b = np.array(targets, float) * np.array(weights)
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    fitted = [round(float(v)) for v in solution]
    print("TENSOR_BYTES", fitted[0], "OP_BYTES", dict(zip(KINDS, fitted[1:4], strict=True)),
          "BASE_BYTES", fitted[4])
    errors = []
    for name, measured, constants, counts in names:
        predicted = constants + sum(c * f for c, f in zip(counts, fitted, strict=True))
        errors.append(((predicted - measured) / measured, name))
    errors.sort()
    for error, name in errors[:5] + errors[-5:]:
        print(f"{name:45} {100 * error:+.2f} %")


if __name__ == "__main__":
    main()
