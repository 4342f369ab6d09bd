"""Audit findings: one problem with a model, with a stable code, a severity and a hint."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Finding:
    """One audit finding.

    `code` is stable across releases (e.g. ``"BNN001"``, ``"LCE003"``) so users can `--ignore` it;
    `severity` is one of `SEVERITIES`; `layer` is the layer name, or None for the whole model;
    `message` says what is wrong in one line; `hint` says what to do about it.
    """

    code: str
    severity: str
    layer: str | None
    message: str
    hint: str
