"""The Larq guide's custom-quantizer and quantized_scope examples, each run as a user runs it:
a script in a fresh Python process (see tests/larq_guide/README.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

GUIDE = REPO / "tests" / "larq_guide"


def _run(script: str, cwd) -> subprocess.CompletedProcess:
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, str(GUIDE / script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


WRITES = {
    "custom_quantizer.py": [],
    "quantized_scope.py": ["full_precision_model.h5", "binary_model.h5"],
}


@pytest.mark.parametrize("script", sorted(WRITES))
def test_larq_guide_example_runs_unchanged(script, tmp_path):
    source = (GUIDE / script).read_text()
    assert "import bnnstat as larq" in source and "import larq" not in source
    result = _run(script, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "OK"
    for name in WRITES[script]:
        assert (tmp_path / name).stat().st_size > 0
