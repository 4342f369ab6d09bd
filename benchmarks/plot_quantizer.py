"""Wall time of fresh-process `bnnstat plot quantizer --all` against its TensorFlow import floor.

    python benchmarks/plot_quantizer.py [--repeats 5] [--workdir /tmp/bnnstat_bench]

`plot quantizer` must run every quantizer under `tf.GradientTape`, so it can never be faster than
importing TensorFlow in a fresh process. This script measures, in the same run and interleaved
(so machine load hits all of them alike), the median wall time of:

- `python -c pass` (interpreter start-up),
- `python -c "import tensorflow"` (the floor),
- `python -m bnnstat plot quantizer --all -o <workdir>/all.png` (seven quantizers, one PNG),
- the same with `--overlay`,

and prints each with its ratio to the floor. What is above the floor is bnnstat's own work
(running seven quantizers on 801 points, matplotlib import and drawing, PNG encoding). Not part
of the test suite; images go to `--workdir`, never into the repository.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _time(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(command, check=True, env=env, **quiet)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bnnstat_bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    python = sys.executable
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "import tensorflow (floor)": [python, "-c", "import tensorflow"],
        "plot quantizer --all": [
            python, "-m", "bnnstat", "plot", "quantizer", "--all",
            "-o", str(args.workdir / "all.png"),
        ],
        "plot quantizer --all --overlay": [
            python, "-m", "bnnstat", "plot", "quantizer", "--all", "--overlay",
            "-o", str(args.workdir / "overlay.png"),
        ],
    }  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in commands}
    _time(commands["import tensorflow (floor)"], env)  # warm the file cache once
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(_time(command, env))
    floor = statistics.median(times["import tensorflow (floor)"])
    version = sys.version.split()[0]
    print(f"median of {args.repeats} fresh processes each, interleaved; python {version}")
    print(f"{'command':<34} {'median s':>9} {'min s':>7} {'x floor':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<34} {median:9.2f} {min(values):7.2f} {median / floor:8.2f}")


if __name__ == "__main__":
    main()
