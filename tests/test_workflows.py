"""Save / load / resume workflows, each run as a user runs it: scripts in fresh processes.

`tests/workflows/` holds the scripts. A model trained with CaseOptimizer(Bop, Adam) and saved as
`.keras` or `.h5` is loaded in a new process with plain Keras after `import bnnstat` (both import
orders) and with `bnnstat.models.load_model`: same predictions, same optimizer state, and
resumed training equal to an uninterrupted run (see `load_and_resume.py` for the one exception,
Keras' own HDF5 loader). A third-party module written for Larq registers its own objects and
uses them by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

WORKFLOWS = REPO / "tests" / "workflows"


def run_script(script: str, *args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(WORKFLOWS)]),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
    }
    result = subprocess.run(
        [sys.executable, str(WORKFLOWS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{script} {' '.join(args)} failed:\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module", params=[".keras", ".h5"])
def trained(request, tmp_path_factory):
    """A model trained and saved in its own process (bnnstat imported before keras)."""
    out = tmp_path_factory.mktemp(f"trained{request.param.replace('.', '_')}")
    assert "trained 6" in run_script("train_bnn.py", "bnnstat-first", request.param, str(out))
    return request.param, out


@pytest.mark.parametrize("order", ["keras-first", "bnnstat-first"])
def test_load_and_resume_in_a_new_process(trained, order):
    suffix, out = trained
    report = json.loads(run_script("load_and_resume.py", order, suffix, str(out)).splitlines()[-1])
    assert report["bnnstat"] == {"iterations": 6, "kept_state": True}
    if suffix == ".keras":
        assert report["keras"] == {"iterations": 6, "kept_state": True}
    else:  # Keras' HDF5 loader restarts from a fresh optimizer; training still runs
        assert report["keras"] == {"iterations": 2, "kept_state": False}


def test_third_party_module_registers_and_uses_names(tmp_path):
    assert "trained" in run_script("thirdparty_workflow.py", "train", str(tmp_path))
    output = run_script("thirdparty_workflow.py", "load", str(tmp_path))
    for how in (".keras", ".h5", "bnnstat .keras", "bnnstat .h5"):
        assert f"reloaded {how}\n" in output
