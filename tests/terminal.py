"""Run a command as a user at a terminal would: stderr on a pseudo-terminal, stdout piped."""

from __future__ import annotations

import os
import pty
import subprocess

from tests.conftest import REPO


def user_env() -> dict[str, str]:
    """The environment without the TF_CPP_MIN_LOG_LEVEL that conftest sets for the tests, as a
    user's shell has it."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def run_with_terminal_stderr(command: list[str], timeout: float = 120) -> tuple[int, bytes, str]:
    """`(exit code, stdout bytes, everything written to the terminal)`, run in `user_env()`."""
    env = user_env()
    master, slave = pty.openpty()
    child = subprocess.Popen(command, stderr=slave, stdout=subprocess.PIPE, cwd=REPO, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = child.wait(timeout=timeout)
    stdout = child.stdout.read()
    child.stdout.close()
    return code, stdout, b"".join(chunks).decode()
