"""Nested models (a model used as a layer of another) summarised exactly as Larq 0.14 does.

The `nested_*.h5` files and Larq's text for each (`nested_*.txt`) were made with the real Larq by
tests/data/larq_reference/make_nested_reference.py. Larq profiles a nested model as a
`ModelProfile` of its layers: BatchNormalization fusion applies inside it, its MACs are its
layers' (a ``?`` inside adds 0), its input precision is its first layer's and its output shape
its last layer's.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from bnnstat.cli import main
from bnnstat.inspect.profile import profile
from bnnstat.inspect.reader import read
from tests.conftest import REPO

NESTED = ["nested_sequential", "nested_functional", "nested_input_quantizer"]
ENGINES = ["static", "keras"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", NESTED)
def test_larq_only_table_is_larqs_text(larq_fixtures, name, engine):
    expected = (larq_fixtures / f"{name}.txt").read_text(encoding="utf-8")
    result = CliRunner().invoke(
        main, ["summary", str(larq_fixtures / f"{name}.h5"), "--larq-only", "--engine", engine]
    )
    assert result.exit_code == 0, result.output
    assert result.output == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_larq_only_table_is_larqs_text_in_a_real_process(larq_fixtures, engine):
    name = "nested_sequential"
    done = subprocess.run(
        [sys.executable, "-m", "bnnstat", "summary", str(larq_fixtures / f"{name}.h5"),
         "--larq-only", "--engine", engine],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (larq_fixtures / f"{name}.txt").read_text(encoding="utf-8")


def test_nested_row_fuses_batch_normalization_and_sums_macs(larq_fixtures):
    result = profile(read(larq_fixtures / "nested_sequential.h5"))
    row = result.layer("inner_seq")
    # block_bn_1 (scale=False) keeps 16 + 16 moving statistics, block_bn_2 the same 32
    assert row.param_count(32) == 64 and row.keras_param_count == 3456 + 16 * 3 + 16 * 4
    assert row.fused_weights == ("block_bn_1/beta", "block_bn_2/beta", "block_bn_2/gamma")
    # 14x14 x (3x3x8x16) + 12x12 x (3x3x16x16), all binary
    assert row.mac_count(1) == 14 * 14 * 1152 + 12 * 12 * 2304 and row.mac_count(32) == 0
    assert row.input_precision == 1 and row.output_shape_str == "(-1, 12, 12, 16)"
