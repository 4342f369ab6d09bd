"""A seeded mutation fuzz over the sample models: every command answers 0, 1 or 2, one error
line for 2, never a traceback, in bounded time.

Mutations: truncation, byte flips, JSON mutations of the model config (numbers turned into
strings, zeros, negatives or huge values; keys dropped; lists emptied; deep nesting) and an
external link inserted into the HDF5 weights. The loop runs in a child process (a crash in a
native library would fail the test instead of killing the test session) with a fixed seed, so
a failure reproduces; it prints one JSON line per case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

SEED = 20261130
CASES = 240  # about 15 s on the 2-core machine

_LOOP = r"""
import io, json, random, sys, tempfile, time, zipfile
from pathlib import Path

import h5py
from click.testing import CliRunner

from bnnstat.cli import main

SAMPLES = [Path("sample_models") / n for n in
           ("binarynet_mlp.h5", "quicknet_small.keras", "bad_practices.h5")]
rng = random.Random(int(sys.argv[1]))
cases = int(sys.argv[2])


def truncate(data, path):
    return data[: rng.randrange(len(data))]


def flip_bytes(data, path):
    data = bytearray(data)
    for _ in range(rng.choice((1, 4, 32))):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def mutate_value(value):
    choice = rng.randrange(8)
    if choice == 0:
        return "x"
    if choice == 1:
        return 0
    if choice == 2:
        return -rng.randrange(1, 10)
    if choice == 3:
        return 10 ** rng.randrange(10, 40)
    if choice == 4:
        return None
    if choice == 5:
        return []
    if choice == 6:
        return {"class_name": "__lambda__", "config": {}}
    nested = value
    for _ in range(rng.randrange(50, 300)):
        nested = [nested]
    return nested


def mutate_json(config):
    # pick a random node of the config tree and replace it or one of its keys
    nodes = [config]
    found = []
    while nodes:
        node = nodes.pop()
        if isinstance(node, dict):
            found.append(node)
            nodes.extend(node.values())
        elif isinstance(node, list):
            nodes.extend(node)
    for _ in range(rng.choice((1, 3))):
        target = rng.choice(found)
        if not target:
            continue
        key = rng.choice(sorted(target))
        if rng.random() < 0.2:
            del target[key]
        else:
            target[key] = mutate_value(target[key])
    return config


def json_mutation(data, path):
    if path.suffix == ".keras":
        source = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for info in source.infolist():
                member = source.read(info)
                if info.filename == "config.json":
                    member = json.dumps(mutate_json(json.loads(member))).encode()
                archive.writestr(info, member)
        return out.getvalue()
    scratch = Path(tempfile.mkdtemp()) / "m.h5"
    scratch.write_bytes(data)
    with h5py.File(scratch, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        handle.attrs["model_config"] = json.dumps(mutate_json(config))
    return scratch.read_bytes()


def insert_link(data, path):
    scratch = Path(tempfile.mkdtemp()) / "m.h5"
    if path.suffix == ".keras":
        source = zipfile.ZipFile(io.BytesIO(data))
        scratch.write_bytes(source.read("model.weights.h5"))
    else:
        scratch.write_bytes(data)
    with h5py.File(scratch, "r+") as handle:
        groups = []
        handle.visititems(
            lambda name, item: groups.append(name) if isinstance(item, h5py.Group) else None
        )
        where = handle[rng.choice(groups)] if groups else handle
        kind = rng.randrange(3)
        if kind == 0:
            where["injected"] = h5py.ExternalLink("other.h5", "/x")
        elif kind == 1:
            where["injected"] = h5py.SoftLink("/nowhere")
        else:
            where["injected"] = handle
    if path.suffix != ".keras":
        return scratch.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            weights = info.filename == "model.weights.h5"
            archive.writestr(info, scratch.read_bytes() if weights else source.read(info))
    return out.getvalue()


MUTATIONS = [truncate, flip_bytes, json_mutation, insert_link]
COMMANDS = [["summary"], ["summary", "--format", "json"], ["audit"]]
workdir = Path(tempfile.mkdtemp())
for number in range(cases):
    sample = rng.choice(SAMPLES)
    mutation = MUTATIONS[number % len(MUTATIONS)]
    target = workdir / f"case{number}{sample.suffix}"
    target.write_bytes(mutation(sample.read_bytes(), sample))
    command = COMMANDS[number % len(COMMANDS)]
    started = time.perf_counter()
    result = CliRunner().invoke(main, [*command, str(target)])
    elapsed = time.perf_counter() - started
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    print(json.dumps({
        "case": number, "sample": sample.name, "mutation": mutation.__name__,
        "command": command, "exit": result.exit_code, "stderr": result.stderr,
        "traceback": crashed, "error": repr(result.exception) if crashed else None,
        "seconds": round(elapsed, 2),
    }), flush=True)
"""


def test_mutated_sample_models_never_traceback():
    result = subprocess.run(
        [sys.executable, "-c", _LOOP, str(SEED), str(CASES)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cases = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(cases) == CASES
    problems = []
    for case in cases:
        lines = case["stderr"].splitlines()
        one_line = len(lines) == 1 and lines[0].startswith("bnnstat: error:")
        bad_exit = case["traceback"] or case["exit"] not in (0, 1, 2)
        if bad_exit or (case["exit"] == 2 and not one_line) or case["seconds"] > 10:
            problems.append(case)
    assert not problems, json.dumps(problems, indent=1)[:4000]
    # the mutations do reach the reader's checks: most cases are refused, some still read
    exits = [case["exit"] for case in cases]
    assert exits.count(2) >= CASES // 4
    assert exits.count(0) + exits.count(1) >= 3
