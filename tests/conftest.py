"""Shared test set-up.

TensorFlow is configured lazily: the first test that asks for `tf` (fixture) splits the CPU into
two logical devices, so `tf.distribute.MirroredStrategy` can be tested on this 2-core machine.
Tests that never touch TensorFlow do not import it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SAMPLE_MODELS = REPO / "sample_models"
TEST_DATA = REPO / "tests" / "data"
LARQ_FIXTURES = TEST_DATA / "larq_reference"

_tf_configured = False


def configure_tensorflow():
    """Import TensorFlow once, with two logical CPU devices for distribution tests."""
    global _tf_configured
    import tensorflow as tf

    if not _tf_configured:
        cpus = tf.config.list_physical_devices("CPU")
        # RuntimeError: the runtime was already initialised by an earlier test; keep its devices.
        with contextlib.suppress(RuntimeError):
            tf.config.set_logical_device_configuration(
                cpus[0],
                [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
            )
        _tf_configured = True
    return tf


@pytest.fixture(scope="session")
def tf():
    return configure_tensorflow()


@pytest.fixture(scope="session")
def mirrored_strategy(tf):
    """One `MirroredStrategy` over the two logical CPUs, shared by the whole session.

    Every strategy numbers its collective ops from the same starting keys, so a second strategy
    in the same process can collide with the first ("Shape mismatch in the collective instance").
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="session")
def larq_fixtures() -> Path:
    if not LARQ_FIXTURES.is_dir():
        pytest.fail(f"Larq reference fixtures not found at {LARQ_FIXTURES}")
    return LARQ_FIXTURES


def pytest_collection_modifyitems(config, items):
    # Configure TF before any test module's own TF code runs, if any collected test needs it.
    if any("tf" in getattr(item, "fixturenames", ()) for item in items):
        configure_tensorflow()
