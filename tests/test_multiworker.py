"""Training beyond one process: `CaseOptimizer(Bop, Adam)` under `MultiWorkerMirroredStrategy`.

Two worker processes on 127.0.0.1 (TF_CONFIG, free ports, gRPC ring collectives) train the BNN of
`tests/multiworker_train.py`; a third process trains the same model with `MirroredStrategy` over
two logical CPUs. All three run at once, as subprocesses, under one time limit. Both workers must
end with identical weights and optimizer state, equal to the single-process run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tests" / "multiworker_train.py"
# Seconds for all three processes together. They take about 20 s on an idle 2-core machine and
# 45 s at load 7, mostly importing TensorFlow; training itself is about 6 s.
TIME_LIMIT = 120
STEPS = 8  # 2 epochs of 64 samples, global batch 16 (see multiworker_train.py)
# What a worker prints when another program took its port between `free_ports` and its start.
PORT_TAKEN = ("Address already in use", "Could not start gRPC server")


class PortTaken(Exception):
    pass


def free_ports(n: int) -> list[int]:
    """`n` distinct ports that were free a moment ago (held together, so they differ)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}  # gRPC honours proxies
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def run_all(tmp: Path) -> tuple[dict[str, dict[str, np.ndarray]], float]:
    """Start both workers and the reference, wait for all (bounded); their saved arrays.

    If one process fails, the others are stopped at once (a worker left alone would wait for its
    peer until the time limit) and the failing one's output is reported.
    """
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    jobs = {}
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        jobs[f"worker{index}"] = ("multiworker", child_env(TF_CONFIG=tf_config))
    jobs["mirrored"] = ("mirrored", child_env())

    start = time.monotonic()
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, (mode, env) in jobs.items():
            with open(tmp / f"{name}.log", "wb") as log:  # a file: a full pipe cannot block
                procs[name] = subprocess.Popen(
                    [sys.executable, str(SCRIPT), mode, str(tmp / f"{name}.npz")],
                    env=env,
                    cwd=tmp,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        failed = None
        while failed is None and any(p.poll() is None for p in procs.values()):
            if time.monotonic() - start > TIME_LIMIT:
                pytest.fail(f"the 3 training processes did not finish within {TIME_LIMIT} s")
            failed = next((n for n, p in procs.items() if p.poll() not in (None, 0)), None)
            time.sleep(0.2)
        failed = failed or next((n for n, p in procs.items() if p.returncode != 0), None)
    finally:
        for proc in procs.values():  # only the processes this test started
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    elapsed = time.monotonic() - start
    if failed is not None:
        output = (tmp / f"{failed}.log").read_text(errors="replace")
        if any(s in output for s in PORT_TAKEN):
            raise PortTaken(output[-4000:])
        pytest.fail(f"{failed} exited with {procs[failed].returncode}:\n{output[-4000:]}")
    results = {}
    for name in procs:
        with np.load(tmp / f"{name}.npz") as data:
            results[name] = {key: data[key] for key in data.files}
    return results, elapsed


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    for attempt in range(2):  # a second try only if a port was taken meanwhile
        try:
            results, elapsed = run_all(tmp_path_factory.mktemp("multiworker"))
            break
        except PortTaken:
            if attempt:
                raise
    print(f"multi-worker run: {elapsed:.1f} s for 2 workers + 1 reference process")
    return results


def state_keys(result: dict[str, np.ndarray]) -> list[str]:
    return sorted(k for k in result if k.startswith(("model/", "optimizer/")))


def test_each_run_has_two_replicas_and_trained(runs):
    for name, result in runs.items():
        assert int(result["num_replicas_in_sync"]) == 2, name
        assert int(result["iterations/0/Bop"]) == STEPS, name
        assert int(result["iterations/1/Adam"]) == STEPS, name
        assert np.isfinite(result["loss"]).all(), name
        # A worker holds one replica; the mirrored process holds both.
        expected = 1 if name.startswith("worker") else 2
        assert result["model/00/bin1/kernel"].shape[0] == expected, name
        for key in ("model/00/bin1/kernel", "model/05/bin2/kernel"):
            kernel = result[key]
            assert set(np.unique(kernel)) == {-1.0, 1.0}, (name, key)  # Bop keeps them binary
            initial = result["initial/" + key.split("/")[1]]
            assert not np.array_equal(kernel[0], np.sign(initial) + (initial == 0))  # flips
        assert np.any(result["optimizer/04/Bop/bin1_kernel_m"] != 0), name


def test_mirrored_replicas_agree(runs):
    mirrored = runs["mirrored"]
    for key in state_keys(mirrored):
        values = mirrored[key]
        np.testing.assert_array_equal(values[0], values[1], err_msg=key)


def test_both_workers_end_identical(runs):
    worker0, worker1 = runs["worker0"], runs["worker1"]
    assert state_keys(worker0) == state_keys(worker1)
    for key in state_keys(worker0):
        np.testing.assert_array_equal(worker0[key], worker1[key], err_msg=key)


def test_workers_equal_single_process_mirrored(runs):
    worker0, mirrored = runs["worker0"], runs["mirrored"]
    assert state_keys(worker0) == state_keys(mirrored)
    for key in sorted(k for k in worker0 if k.startswith("initial/")):
        np.testing.assert_array_equal(worker0[key], mirrored[key], err_msg=key)
    for key in state_keys(worker0):
        np.testing.assert_array_equal(worker0[key][0], mirrored[key][0], err_msg=key)
    np.testing.assert_allclose(worker0["loss"], mirrored["loss"], rtol=1e-6)
