"""Terminal-safe text: names from a model file never control the terminal that prints them.

A layer, model or file name is data from a stranger. Printed raw, an escape sequence in it can
set the window title or clear the screen, and a newline can forge a line of output
("result: PASSED"). Everything bnnstat prints as text goes through `terminal_safe` (names,
error lines) or `terminal_safe_lines` (whole reports, whose own newlines are kept).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

# C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and bidi overrides.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: Any) -> str:
    """`text` as one line with every control character escaped (``\\x1b``, ``\\x0a``...)."""
    return _CONTROL.sub(_escape, str(text))


def terminal_safe_lines(text: str) -> str:
    """Like `terminal_safe`, but keeps the newlines of multi-line text (a rendered report)."""
    return _CONTROL_BUT_NEWLINE.sub(_escape, text)


def safe_strings(value: Any) -> Any:
    """A copy of a result made of frozen dataclasses, tuples, lists and dicts in which every
    string is `terminal_safe` (flip statistics whose layer names come from a file or a log)."""
    if isinstance(value, str):
        return terminal_safe(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: safe_strings(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, (tuple, list)):
        return type(value)(safe_strings(item) for item in value)
    if isinstance(value, dict):
        return {safe_strings(k): safe_strings(v) for k, v in value.items()}
    return value


def safe_names(record: Any) -> Any:
    """A copy of a `ModelRecord` whose model, layer and inbound names, source and notes are
    `terminal_safe` (for text reports; JSON output escapes control characters itself)."""

    def layer(item: Any) -> Any:
        return dataclasses.replace(
            item,
            name=terminal_safe(item.name),
            inbound=tuple(terminal_safe(n) for n in item.inbound),
            note=None if item.note is None else terminal_safe(item.note),
            layers=tuple(layer(child) for child in item.layers),
        )

    return dataclasses.replace(
        record,
        name=terminal_safe(record.name),
        source=terminal_safe(record.source),
        layers=tuple(layer(item) for item in record.layers),
        output_names=tuple(terminal_safe(n) for n in record.output_names),
        notes=tuple(terminal_safe(n) for n in record.notes),
    )
