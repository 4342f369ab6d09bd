"""Wall time and peak RSS of fresh-process `bnnstat summary FILE` (static reader) and `--help`.

    python benchmarks/summary_cli.py [--repeats 5] [--workdir /tmp/bnnstat_bench]

Models (built once with bnnstat's layers in a separate process, saved as .keras under
`--workdir`, never in the repository):
- `quicknet_like` (.keras, and legacy .h5 for comparison): QuickNet-sized (about 13M
  parameters, ~80 layers): stem, four sections of binary QuantConv2D residual blocks
  (64/128/256/512 filters), transitions, GAP + Dense(1000).
- `chain_N`: N-layer chains of (QuantDense, BatchNormalization, Activation) for N = 250, 500,
  1000, to check that the cost grows linearly with the layer count.

Each command runs in a fresh process `repeats` times; the median wall time and the peak RSS of
the child (from `wait4`, so this driver's own memory never counts) are printed together with
their ratio to `python -c pass` measured in the same run. Goals on the 2-core dev machine:
QuickNet-sized < 0.6 s and < 150 MiB, `--help` < 0.3 s. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHAIN_SIZES = (250, 500, 1000)

BUILD_SCRIPT = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from bnnstat import layers as ql
from bnnstat import constraints

workdir = sys.argv[1]
sizes = [int(s) for s in sys.argv[2:]]
binary = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign",
              kernel_constraint=constraints.weight_clip(), use_bias=False)


def quicknet_like():
    inp = keras.Input((224, 224, 3), name="image")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(64, 1, use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    for section, filters in enumerate((64, 128, 256, 512)):
        if section:
            x = keras.layers.Activation("relu")(x)
            x = keras.layers.MaxPooling2D(2)(x)
            x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
            x = keras.layers.Conv2D(filters, 1, use_bias=False)(x)
            x = keras.layers.BatchNormalization()(x)
        for _ in range(4):
            y = ql.QuantConv2D(filters, 3, padding="same", **binary)(x)
            y = keras.layers.BatchNormalization()(y)
            x = keras.layers.Add()([x, y])
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(1000)(x)
    x = keras.layers.Activation("softmax")(x)
    return keras.Model(inp, x, name="quicknet_like")


def chain(n):
    inp = keras.Input((64,))
    x = inp
    for i in range((n - 1) // 3):
        x = ql.QuantDense(64, input_quantizer="ste_sign" if i else None,
                          kernel_quantizer="ste_sign", use_bias=False,
                          kernel_constraint=constraints.weight_clip())(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    return keras.Model(inp, x, name=f"chain_{n}")


model = quicknet_like()
print(f"quicknet_like: {model.count_params():,} params, {len(model.layers)} layers")
model.save(os.path.join(workdir, "quicknet_like.keras"))
model.save(os.path.join(workdir, "quicknet_like.h5"))
for n in sizes:
    model = chain(n)
    print(f"chain_{n}: {model.count_params():,} params, {len(model.layers)} layers")
    model.save(os.path.join(workdir, f"chain_{n}.keras"))
"""


def build_models(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = [workdir / "quicknet_like.keras", workdir / "quicknet_like.h5"]
    wanted += [workdir / f"chain_{n}.keras" for n in CHAIN_SIZES]
    if all(p.exists() for p in wanted):
        return
    subprocess.run(
        [sys.executable, "-c", BUILD_SCRIPT, str(workdir), *map(str, CHAIN_SIZES)], check=True
    )


def run_once(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one fresh process (output discarded)."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        process = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        error = process.stderr.read().decode() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({process.returncode}): {error}")
    return elapsed, usage.ru_maxrss / 1024


def measure(argv: list[str], repeats: int) -> tuple[float, float]:
    run_once(argv)  # warm the page cache
    runs = [run_once(argv) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def bnnstat_command() -> list[str]:
    script = shutil.which("bnnstat")
    return [script] if script else [sys.executable, "-m", "bnnstat"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bnnstat_bench"))
    args = parser.parse_args()
    build_models(args.workdir)

    cli = bnnstat_command()
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "bnnstat --help": [*cli, "--help"],
    }
    cases["summary quicknet_like"] = [*cli, "summary", str(args.workdir / "quicknet_like.keras")]
    cases["summary quicknet_like.h5"] = [*cli, "summary", str(args.workdir / "quicknet_like.h5")]
    for n in CHAIN_SIZES:
        cases[f"summary chain_{n}"] = [*cli, "summary", str(args.workdir / f"chain_{n}.keras")]

    results = {name: measure(argv, args.repeats) for name, argv in cases.items()}
    base_time, base_rss = results["python -c pass (baseline)"]
    print(f"median of {args.repeats} fresh processes; ratios vs `python -c pass` in this run")
    print(f"{'command':32} {'wall s':>8} {'x base':>7} {'peak MiB':>9} {'x base':>7}")
    for name, (wall, rss) in results.items():
        print(f"{name:32} {wall:8.3f} {wall / base_time:7.1f} {rss:9.1f} {rss / base_rss:7.1f}")
    chain = [results[f"summary chain_{n}"][0] for n in CHAIN_SIZES]
    per_layer = [
        (t - chain[0]) / (n - CHAIN_SIZES[0]) * 1000
        for t, n in zip(chain[1:], CHAIN_SIZES[1:], strict=True)
    ]
    print(
        "marginal cost per layer (ms), 250->500 and 250->1000: "
        + ", ".join(f"{ms:.3f}" for ms in per_layer)
    )
    quick_wall, quick_rss = results["summary quicknet_like"]
    help_wall = results["bnnstat --help"][0]
    print(
        f"goals: quicknet_like < 0.6 s: {quick_wall < 0.6}; < 150 MiB: {quick_rss < 150}; "
        f"--help < 0.3 s: {help_wall < 0.3}"
    )


if __name__ == "__main__":
    main()
