"""`bnnstat --help` / `--version` must start without importing TensorFlow or Keras.

Checked in a real subprocess with `python -X importtime`, whose stderr lists every imported
module as `import time: ... | <indent>module`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = re.compile(r"\|\s+(tensorflow|keras|tf_keras)(\.|\s*$)", re.MULTILINE)


def _run(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _importtime(args: list[str]) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-X", "importtime", "-m", "bnnstat", *args])


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_module_entry_point_does_not_import_tensorflow(args):
    result = _importtime(args)
    assert result.returncode == 0, result.stderr
    assert "import time:" in result.stderr  # the check below is not vacuous
    assert "bnnstat" in result.stderr
    heavy = HEAVY.findall(result.stderr)
    assert not heavy, f"`python -m bnnstat {' '.join(args)}` imported {sorted(set(heavy))}"


def test_version_output():
    from bnnstat import __version__

    result = _importtime(["--version"])
    assert __version__ in result.stdout


def test_heavy_pattern_detects_tensorflow():
    """Guard the regex itself: importing bnnstat.quantizers really pulls TensorFlow in."""
    result = _run([sys.executable, "-X", "importtime", "-c", "import bnnstat.quantizers"])
    assert result.returncode == 0, result.stderr
    assert HEAVY.search(result.stderr)


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_console_script_does_not_import_tensorflow(args):
    script = shutil.which("bnnstat")
    assert script is not None, "console script `bnnstat` not on PATH: run pip install -e ."
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run([script, *args], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "import time:" in result.stderr
    assert not HEAVY.findall(result.stderr)
