"""Shell completion through click's machinery: quantizer names for `plot quantizer`, audit codes
for `--ignore`, sub-commands; in-process (click's ShellComplete) and as a real shell would ask
(`_BNNSTAT_COMPLETE=bash_complete` with COMP_WORDS/COMP_CWORD), never importing TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.shell_completion import ShellComplete

from bnnstat.cli import main
from bnnstat.cli.plot import PLOTTABLE_QUANTIZERS
from bnnstat.inspect.audit import MODEL_RULES, RULES
from tests.conftest import REPO


def _complete(args: list[str], incomplete: str) -> list[str]:
    completer = ShellComplete(main, {}, "bnnstat", "_BNNSTAT_COMPLETE")
    return [item.value for item in completer.get_completions(args, incomplete)]


def test_quantizer_names_complete():
    assert _complete(["plot", "quantizer"], "ste_") == ["ste_sign", "ste_heaviside", "ste_tern"]
    every = _complete(["plot", "quantizer"], "")
    assert set(every) == PLOTTABLE_QUANTIZERS and every[0] == "ste_sign"
    assert _complete(["plot", "quantizer"], "Ste") == ["SteHeaviside", "SteSign", "SteTern"]
    # a name already given is not offered again
    assert _complete(["plot", "quantizer", "ste_sign"], "ste_") == ["ste_heaviside", "ste_tern"]
    assert _complete(["plot", "quantizer"], "nope") == []


def test_commands_options_and_codes_complete():
    assert _complete([], "") == ["summary", "diff", "plot", "flips", "audit"]
    assert _complete(["plot"], "") == ["model", "quantizer"]
    assert set(_complete(["audit", "m.h5", "--ignore"], "bnn01")) == {"BNN010", "BNN011", "BNN012"}
    assert _complete(["audit", "m.h5", "--ignore"], "") == sorted({*RULES, *MODEL_RULES})
    assert _complete(["audit", "m.h5", "--fail-on"], "") == ["error", "warning", "info"]


COMPLETE_SCRIPT = """
import os, sys
from bnnstat.cli import main
try:
    main(prog_name="bnnstat", complete_var="_BNNSTAT_COMPLETE")
except SystemExit:
    pass
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TensorFlow imported"
"""


@pytest.mark.parametrize(
    "words, cword, expected",
    [
        ("bnnstat plot quantizer ste_", 3, ["plain,ste_sign", "plain,ste_heaviside", "plain,ste_tern"]),  # noqa: E501
        ("bnnstat plot quantizer approx_sign Swi", 4, ["plain,SwishSign"]),
        ("bnnstat au", 1, ["plain,audit"]),
    ],
)
def test_bash_completion_in_a_real_process(words, cword, expected):
    env = dict(
        os.environ, _BNNSTAT_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(cword)
    )
    done = subprocess.run(
        [sys.executable, "-c", COMPLETE_SCRIPT],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected


def test_python_dash_m_answers_the_same_variable():
    env = dict(
        os.environ,
        _BNNSTAT_COMPLETE="bash_complete",
        COMP_WORDS="bnnstat plot quantizer dore",
        COMP_CWORD="3",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat"], capture_output=True, text=True, cwd=REPO, env=env,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.split() == ["plain,dorefa_quantizer", "plain,dorefa"]


def test_bash_source_script_is_generated():
    env = dict(os.environ, _BNNSTAT_COMPLETE="bash_source")
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat"], capture_output=True, text=True, cwd=REPO, env=env,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    assert "_BNNSTAT_COMPLETE=bash_complete" in done.stdout and "complete " in done.stdout
