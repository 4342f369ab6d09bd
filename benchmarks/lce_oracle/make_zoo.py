"""Ground truth on real architectures: every Larq Zoo 2.4 model converted with LCE 0.16.

NOT run by CI or the tests. Needs the oracle virtualenv (`benchmarks/lce_oracle/setup.sh`):

    benchmarks/lce_oracle/.venv/bin/python benchmarks/lce_oracle/make_zoo.py [ARCH ...]

Every architecture in `larq_zoo.sota` and `larq_zoo.literature` is built with `weights=None` at its
default input size (224x224x3, 1000 classes) and converted with
`larq_compute_engine.convert_keras_model(model)` (default arguments) in two variants:

- `as_built`: the freshly initialised model. Its BatchNormalization gammas are all 1, betas and
  moving means all 0, and so on; the converter stores identical constant vectors once.
- `trained_like`: every weight tensor whose elements are all equal gets distinct seeded random
  values (positive where the tensor must be: gammas, moving variances), as after training. This is
  the size `bnnstat.inspect.lce` predicts.

It writes `tests/data/lce/zoo/ARCH.h5`, a shape-only copy of the model as Larq saves it (the
mechanism of `make_probes.copy_shape_only`: the same groups, attributes and dataset shapes, the
weight datasets never written), and the entry `ARCH` in `tests/data/lce/zoo.json`: per variant
whether the conversion succeeded, the `.tflite` size or how it failed, and for `trained_like` the
op list with constant inputs (`make_probes.analyse`).

Each conversion runs in its own process (the converter can abort the interpreter on some kernels),
one after another: they are CPU- and memory-heavy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent.parent / "tests" / "data" / "lce"
RESULTS = OUT / "zoo.json"
VARIANTS = ("as_built", "trained_like")
TIMEOUT_SECONDS = 1800


def architectures() -> list[str]:
    """Names of every model function in larq_zoo.sota and larq_zoo.literature, sorted."""
    import larq_zoo

    names = []
    for module in (larq_zoo.sota, larq_zoo.literature):
        names += [name for name in module.__all__ if name[0].isupper()]
    return sorted(names)


def build(arch: str):
    import larq_zoo

    for module in (larq_zoo.sota, larq_zoo.literature):
        if hasattr(module, arch):
            return getattr(module, arch)(weights=None)
    raise KeyError(arch)


def make_trained_like(model, seed: int) -> int:
    """Give every all-equal weight tensor distinct random values; return how many changed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values, changed = [], 0
    for variable in model.weights:
        value = variable.numpy()
        if value.size and np.all(value == value.flat[0]):
            changed += 1
            fresh = rng.normal(0.0, 0.5, size=value.shape).astype(value.dtype)
            if "moving_variance" in variable.name or "gamma" in variable.name:
                fresh = np.abs(fresh) + 0.5
            value = fresh
        values.append(value)
    model.set_weights(values)
    return changed


def measure_one(arch: str, variant: str) -> dict:
    """Build `arch`, convert the `variant`, return its entry (runs in a child process)."""
    import larq_compute_engine as lce
    import tensorflow as tf
    from make_probes import analyse, copy_shape_only

    tf.keras.utils.set_random_seed(1234)
    model = build(arch)
    entry: dict = {"params": int(model.count_params()),
                   "input_shape": list(model.input_shape[1:])}
    if variant == "trained_like":
        entry["tensors_randomized"] = make_trained_like(model, seed=sum(map(ord, arch)))
        with tempfile.TemporaryDirectory() as scratch:
            full = Path(scratch) / f"{arch}.h5"
            model.save(full, save_format="h5", include_optimizer=False)
            entry["full_h5_bytes"] = full.stat().st_size
            (OUT / "zoo").mkdir(parents=True, exist_ok=True)
            copy_shape_only(full, OUT / "zoo" / f"{arch}.h5")
    started = time.perf_counter()
    try:
        flatbuffer = lce.convert_keras_model(model)
    except Exception as error:  # the converter's failure is a measured fact too
        entry.update(converted=False, error=f"{type(error).__name__}: {str(error)[:300]}")
    else:
        entry.update(converted=True, tflite_bytes=len(flatbuffer))
        if variant == "trained_like":
            entry.update(analyse(flatbuffer))
    entry["convert_seconds"] = round(time.perf_counter() - started, 1)
    return entry


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {"models": {}}


def save(results: dict) -> None:
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def run_child(arch: str, variant: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", arch, variant, out.name],
                timeout=TIMEOUT_SECONDS, capture_output=True, text=True,
            )
        except subprocess.TimeoutExpired:
            return {"converted": False, "error": f"timed out after {TIMEOUT_SECONDS} s"}
        text = Path(out.name).read_text()
        if proc.returncode == 0 and text:
            return json.loads(text)
        if proc.returncode < 0:  # killed by a signal: the converter crashed the interpreter
            error = f"the converter crashed the process (signal {-proc.returncode})"
        else:
            tail = (proc.stderr or "").strip().splitlines()[-1:]
            error = f"the process exited with {proc.returncode}: {' | '.join(tail)[:300]}"
        return {"converted": False, "error": error,
                "convert_seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        arch, variant, out = argv[1:4]
        sys.path.insert(0, str(HERE))
        Path(out).write_text(json.dumps(measure_one(arch, variant)))
        return
    results = load()
    results["versions"] = {"larq_zoo": "2.4.0", "larq_compute_engine": "0.16.0",
                           "tensorflow": "2.15.1", "larq": "0.14.0"}
    for arch in argv or architectures():
        entry = results["models"].setdefault(arch, {})
        for variant in reversed(VARIANTS):  # trained_like first: it writes the .h5 copy
            print(f"--- {arch} {variant}", flush=True)
            entry[variant] = run_child(arch, variant)
            print({k: v for k, v in entry[variant].items() if k != "ops"}, flush=True)
            entry["file"] = f"zoo/{arch}.h5"
            save(results)


if __name__ == "__main__":
    main(sys.argv[1:])
