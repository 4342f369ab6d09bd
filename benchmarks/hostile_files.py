"""Cost of hostile files: every crafted file under 10 MB is summarised or refused in at most 10 s
and 1 GB peak memory, and a 20,000-layer model listed last-first is summarised in under 5 s.

Each file from `tests/hostile.py` is written to a temporary directory, then
``python -m bnnstat summary FILE`` runs in a fresh child process; the table shows the exit code,
wall time and the child's peak resident memory (VmHWM). The reference row is the same command
on the clean tiny model, so the ratios compare within one run on one machine.

    python benchmarks/hostile_files.py              # every attack
    python benchmarks/hostile_files.py --layers 20000
    python benchmarks/hostile_files.py --baseline OTHER_CHECKOUT   # old vs new, reversed graphs

Not run by the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import hostile  # noqa: E402

TIME_LIMIT = 10.0
MEMORY_LIMIT_MIB = 1024
SKIP = {"h5_external_link_fifo"}  # a FIFO has no size; the test suite covers it

# Runs the CLI in the child and reports its own peak memory (VmHWM resets at exec, unlike
# ru_maxrss, which a child inherits from its parent).
_CHILD = """
import re, resource, sys
from bnnstat.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
status = open("/proc/self/status").read()
usage = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT", code, int(re.search(r"VmHWM:\\s*(\\d+)", status).group(1)) // 1024,
      round(usage.ru_utime + usage.ru_stime, 2))
"""


def run(path: Path, checkout: Path = REPO, timeout: float = 120.0) -> tuple[str, float, int, float]:
    """(exit code, wall seconds, peak MiB, CPU seconds) of `bnnstat summary path` in a child
    process. CPU time is what the code costs; wall time also counts waiting for a busy CPU."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, "summary", str(path)],
            capture_output=True, text=True, timeout=timeout, cwd=checkout, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "timeout", timeout, -1, -1.0
    elapsed = time.perf_counter() - started
    match = re.search(r"RESULT (\S+) (\d+) (\S+)", done.stdout)
    if match is None:
        return f"crash({done.returncode})", elapsed, -1, -1.0
    return match.group(1), elapsed, int(match.group(2)), float(match.group(3))


def attacks(layers: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        reference = hostile.keras3_model(base / "clean.keras")
        ref_code, ref_time, ref_peak, ref_cpu = run(reference)
        rows.append(("clean tiny model (reference)", reference.stat().st_size, ref_code,
                     ref_time, ref_peak, ref_cpu))  # fmt: skip
        for name, make in hostile.ATTACKS.items():
            if name in SKIP:
                continue
            folder = base / name
            folder.mkdir()
            path = make(folder) if name != "reversed_layers" else make(folder, layers)
            code, seconds, peak, cpu = run(path)
            rows.append((name, path.stat().st_size, code, seconds, peak, cpu))
    print(f"{'file':34} {'bytes':>10} {'exit':>7} {'wall s':>7} {'x ref':>6} {'cpu s':>6} "
          f"{'peak MiB':>9}")  # fmt: skip
    worst_time, worst_peak = 0.0, 0
    for name, size, code, seconds, peak, cpu in rows:
        print(f"{name:34} {size:>10} {code:>7} {seconds:>7.2f} {seconds / ref_time:>6.1f} "
              f"{cpu:>6.2f} {peak:>9}")  # fmt: skip
        if size < 10 << 20:
            worst_time, worst_peak = max(worst_time, seconds), max(worst_peak, peak)
    print(f"\nworst file under 10 MB: {worst_time:.2f} s (limit {TIME_LIMIT:.0f} s), "
          f"{worst_peak} MiB peak (limit {MEMORY_LIMIT_MIB} MiB)")  # fmt: skip


def reverse_listed(layers: int, baseline: Path | None) -> None:
    """Time of a reverse-listed chain of `layers` layers, here and (optionally) in `baseline`."""
    with tempfile.TemporaryDirectory() as directory:
        for count in sorted({max(layers // 10, 100), layers // 2, layers}):
            path = hostile.reversed_layers(Path(directory), count)
            code, seconds, peak, cpu = run(path)
            line = (f"{count:>6} layers, listed last-first: exit {code}, {seconds:.2f} s wall, "
                    f"{cpu:.2f} s CPU, {peak} MiB")  # fmt: skip
            if baseline is not None:
                old_code, old_seconds, _, _ = run(path, baseline, timeout=120)
                line += f"; baseline: exit {old_code}, {old_seconds:.2f} s"
                line += f" ({old_seconds / seconds:.1f}x)" if old_code != "timeout" else " (>)"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=20_000)
    parser.add_argument("--baseline", type=Path, default=None)
    parser.add_argument("--only-layers", action="store_true", help="skip the attack table")
    args = parser.parse_args()
    if not args.only_layers:
        attacks(args.layers)
        print()
    reverse_listed(args.layers, args.baseline)


if __name__ == "__main__":
    main()
