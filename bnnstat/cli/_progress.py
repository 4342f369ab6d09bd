"""A status line on stderr for CLI work that takes more than a second (TensorFlow imports,
running quantizers, writing figures), shown only when stderr is a terminal.

Nothing is written when the work finishes within `delay` seconds, or when stderr is a file or a
pipe, so logs, CI output and the one-line error contract stay clean. The line is rewritten in
place (carriage return) and erased when the work ends.
"""

from __future__ import annotations

import os
import sys
import threading
from types import TracebackType
from typing import IO


class Progress:
    """``with Progress() as progress: progress.update("importing TensorFlow"); ...``

    A timer thread shows the current status once `delay` seconds have passed; later
    `update` calls rewrite the line. `stream` defaults to the process's stderr; `enabled`
    defaults to ``stream.isatty()``.
    """

    def __init__(
        self, stream: IO[str] | None = None, delay: float = 1.0, enabled: bool | None = None
    ) -> None:
        if stream is None:
            stream = sys.stderr
        self._stream = self._given = stream
        self._delay = delay
        self._enabled = _is_terminal(stream) if enabled is None else enabled
        self._status = ""
        self._shown = 0  # width of the line on screen; 0 while nothing is shown
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Progress:
        if self._enabled:
            self._stream = _own_copy(self._stream)
            self._timer = threading.Timer(self._delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            if self._shown:
                self._write("\r" + " " * self._shown + "\r")
            self._shown = 0
            if self._stream is not self._given:
                self._stream.close()
                self._stream = self._given
            self._enabled = False

    def update(self, status: str) -> None:
        """Set the status; it is shown (now, if the delay is over) as ``bnnstat: STATUS ...``."""
        with self._lock:
            self._status = status
            if self._shown:
                self._draw()

    def _show(self) -> None:
        with self._lock:
            if self._enabled:
                self._draw()

    def _draw(self) -> None:
        line = f"bnnstat: {self._status} ..."
        padding = " " * max(0, self._shown - len(line))
        self._write("\r" + line + padding)
        self._shown = len(line) + len(padding)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed terminal must not break the command
            self._enabled = False


def _own_copy(stream: IO[str]) -> IO[str]:
    """A stream on a duplicate of `stream`'s file descriptor, so the status line still reaches
    the terminal while `import_tensorflow_quietly` points file descriptor 2 at /dev/null."""
    try:
        return os.fdopen(os.dup(stream.fileno()), "w", encoding="utf-8", errors="replace")
    except (AttributeError, OSError, ValueError):  # no real descriptor (a test stream)
        return stream


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
