"""Reports over several models: one report per file (`summary FILE...`), side-by-side totals
(`summary --compare`) and diffs (`bnnstat diff`), as text, Markdown, JSON or CSV. The numbers
come from `bnnstat.inspect.compare` and `bnnstat.inspect.report`; this module only formats them.

Counts are exact integers with thousands separators (a comparison is about small differences,
which Larq's 3-significant-figure format would hide); sizes use Larq's KiB/MiB form; ratios have
4 decimals.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bnnstat.errors import BnnstatError
from bnnstat.inspect import serialize
from bnnstat.inspect.compare import (
    ADDED,
    REMOVED,
    SAME,
    LayerChange,
    LayerFacts,
    ModelDiff,
    ModelTotals,
)
from bnnstat.inspect.report import box
from bnnstat.utils import memory_as_readable_str

COMPARE_FORMATS = ("table", "markdown", "json", "csv")
DIFF_FORMATS = ("table", "markdown", "json")


# ---------------------------------------------------------------------------------------------
# One report per file


def render_each(reports: Sequence[tuple[str, str]], fmt: str) -> str:
    """Join per-file reports `(source, text in fmt)`: a ``==> FILE <==`` line before each table
    or Markdown report, one JSON array, or one CSV whose first column is ``source`` (the union
    of the files' columns; empty where a file has no such column)."""
    if len(reports) == 1:
        return reports[0][1]
    if fmt == "json":
        return "[\n" + ",\n".join(text for _, text in reports) + "\n]"
    if fmt == "csv":
        tables = [(source, list(csv.DictReader(io.StringIO(text)))) for source, text in reports]
        fields: list[str] = []
        for _, text in reports:
            for name in next(csv.reader(io.StringIO(text)), []):
                if name not in fields:
                    fields.append(name)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["source", *fields], lineterminator="\n")
        writer.writeheader()
        for source, rows in tables:
            writer.writerows({"source": source, **row} for row in rows)
        return out.getvalue().rstrip("\n")
    return "\n\n".join(f"==> {source} <==\n{text}" for source, text in reports)


# ---------------------------------------------------------------------------------------------
# Side-by-side totals


def _metrics(
    models: Sequence[ModelTotals], include_macs: bool = True
) -> list[tuple[str, Callable[[ModelTotals], Any], str]]:
    """(label, raw value of a model, kind) per row; kind picks the text format."""
    bitwidths = sorted({b for m in models for b in m.params_by_bitwidth})
    precisions = sorted({p for m in models for p in m.macs_by_precision})
    rows: list[tuple[str, Callable[[ModelTotals], Any], str]] = [
        ("Total params", lambda m: m.params, "count"),
        *(
            (f"# {b}-bit params", lambda m, b=b: m.params_by_bitwidth.get(b, 0), "count")
            for b in bitwidths
        ),
        ("Model size", lambda m: m.memory_bits, "bits"),
        ("Number of MACs", lambda m: m.macs, "count"),
        *(
            (f"{p}-bit MACs", lambda m, p=p: m.macs_by_precision.get(p, 0), "count")
            for p in precisions
        ),
        ("Ratio of MACs that are binarized", lambda m: m.binarized_mac_ratio, "ratio"),
        ("Bit operations (BOPs)", lambda m: m.bops, "count"),
    ]
    if not include_macs:
        rows = [row for row in rows if "MACs" not in row[0] and "BOPs" not in row[0]]
    targets = sorted({m.target for m in models if m.target})
    for target in targets:
        rows.append(
            (
                f"Predicted {target.upper()} size",
                lambda m: m.deployed_bytes,
                "bytes",
            )
        )
    return rows


def _text(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "bits":
        return memory_as_readable_str(int(value))
    if kind == "bytes":
        return memory_as_readable_str(8 * int(value))
    if kind == "ratio":
        return f"{value:.4f}"
    return f"{int(value):,}"


def _heading(model: ModelTotals) -> str:
    return f"{model.name}\n{Path(model.source).name}"


def comparison_rows(models: Sequence[ModelTotals], include_macs: bool = True) -> list[list[str]]:
    """Header (one column per model: name and file name) and one row per metric."""
    rows = [["", *(_heading(m) for m in models)]]
    for label, value, kind in _metrics(models, include_macs):
        rows.append([label, *(_text(value(m), kind) for m in models)])
    return rows


def render_comparison(
    models: Sequence[ModelTotals], fmt: str = "table", include_macs: bool = True
) -> str:
    """One side-by-side table of totals, a column per model, in `fmt` (JSON: every total)."""
    if fmt == "json":
        return json.dumps(serialize.comparison_json(models), indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["metric", *(m.source for m in models)])
        for label, value, kind in _metrics(models, include_macs):
            unit = {"bits": " (bits)", "bytes": " (bytes)"}.get(kind, "")
            writer.writerow([label + unit, *("" if value(m) is None else value(m) for m in models)])
        return out.getvalue().rstrip("\n")
    rows = comparison_rows(models, include_macs)
    align = ["left"] + ["right"] * len(models)
    if fmt == "markdown":
        return _markdown([[cell.replace("\n", " ") for cell in row] for row in rows], align)
    if fmt == "table":
        return box(rows, title="comparison", align=align, heading_border=True)
    raise BnnstatError(f"unknown format {fmt!r}; use one of {', '.join(COMPARE_FORMATS)}")


def _markdown(rows: Sequence[Sequence[str]], align: Sequence[str]) -> str:
    from tabulate import tabulate

    body = [[cell.replace("|", "\\|") for cell in row] for row in rows[1:]]
    return tabulate(
        body, headers=list(rows[0]), tablefmt="github", colalign=list(align), disable_numparse=True
    )


# ---------------------------------------------------------------------------------------------
# Diff


def _bits(facts: LayerFacts | None) -> str:
    """``w1 in1`` (1-bit weights, 1-bit inputs), ``w1/32`` (1- and 32-bit weights), ``-``."""
    if facts is None:
        return ""
    parts = []
    if facts.weight_bits:
        parts.append("w" + "/".join(str(b) for b in facts.weight_bits))
    if facts.input_bits:
        parts.append(f"in{facts.input_bits}")
    return " ".join(parts) or "-"


def _delta(
    values: tuple[int | None, int | None],
    present: tuple[bool, bool],
    show: Callable[[int], str] = "{:,}".format,
) -> str:
    """A changed value as ``after (+change)``, an added layer's as ``+value``, a removed one's as
    ``-value``; ``?`` for an unknown count of a layer that exists."""
    before, after = values
    has_before, has_after = present
    if not has_before:
        return "?" if after is None else f"+{show(after)}"
    if not has_after:
        return "?" if before is None else f"-{show(before)}"
    if before is None or after is None:
        return "?" if after is None else show(after)
    change = after - before
    if change == 0:
        return show(after)
    sign = "+" if change > 0 else "-"
    return f"{show(after)} ({sign}{show(abs(change))})"


def _kib(bits: int) -> str:
    return f"{bits / 8192:,.2f}"


def _what(change: LayerChange) -> str:
    if change.status in (ADDED, REMOVED, SAME):
        return change.status
    return ", ".join(change.changes)


def diff_layer_rows(result: ModelDiff, all_layers: bool = False) -> list[list[str]]:
    """Header and one row per layer that differs (every layer with `all_layers`)."""
    with_deployed = (
        result.before.deployed_bytes is not None or result.after.deployed_bytes is not None
    )
    header = ["Layer", "Change", "Bits", "Params", "Memory (kB)", "MACs"]
    if with_deployed:
        header.append("Deployed bytes")
    rows = [header]
    for change in result.layers:
        if change.status == SAME and not all_layers:
            continue
        a, b = change.before, change.after
        name = change.name
        if a is not None and b is not None and a.name != b.name:
            name = f"{a.name} -> {b.name}"
        bits = (
            _bits(b or a)
            if (a is None or b is None or a.precision == b.precision)
            else (f"{_bits(a)} -> {_bits(b)}")
        )
        present = (a is not None, b is not None)

        def pair(key: str, a: LayerFacts | None = a, b: LayerFacts | None = b) -> Any:
            return tuple(None if side is None else getattr(side, key) for side in (a, b))

        row = [
            name,
            _what(change),
            bits,
            _delta(pair("params"), present),
            _delta(pair("memory_bits"), present, _kib),
            _delta(pair("macs"), present),
        ]
        if with_deployed:
            row.append(_delta(pair("deployed_bytes"), present))
        rows.append(row)
    return rows


def diff_total_rows(result: ModelDiff) -> list[list[str]]:
    """Metric, before, after, change for the totals of both models."""
    rows = [["", _heading(result.before), _heading(result.after), "Change"]]
    for label, value, kind in _metrics([result.before, result.after]):
        a, b = value(result.before), value(result.after)
        if a is None or b is None:
            change = ""
        elif a == b:
            change = "0"
        elif kind == "ratio":
            change = f"{b - a:+.4f}"
        elif kind in ("bits", "bytes"):
            scale = 8 if kind == "bytes" else 1
            change = ("+" if b >= a else "-") + memory_as_readable_str(scale * abs(int(b) - int(a)))
        else:
            change = f"{int(b) - int(a):+,}"
        rows.append([label, _text(a, kind), _text(b, kind), change])
    return rows


def _diff_heading(result: ModelDiff) -> str:
    counts = ", ".join(
        f"{result.count(s)} {s}" for s in ("changed", "added", "removed") if result.count(s)
    )
    same = result.count(SAME)
    return (
        f"diff {result.before.source} -> {result.after.source}: "
        f"{counts or 'no layer differs'}{f', {same} unchanged' if same and counts else ''}"
    )


def render_diff(result: ModelDiff, fmt: str = "table", all_layers: bool = False) -> str:
    """The per-layer rows that differ, then the totals of both models and their change."""
    if fmt == "json":
        return serialize.dumps(result)
    layer_rows = diff_layer_rows(result, all_layers)
    total_rows = diff_total_rows(result)
    if fmt == "markdown":
        flat = [[cell.replace("\n", " ") for cell in row] for row in total_rows]
        parts = [f"## {_diff_heading(result)}", ""]
        if len(layer_rows) > 1:
            align = ["left"] * 3 + ["right"] * (len(layer_rows[0]) - 3)
            parts += [_markdown(layer_rows, align), ""]
        parts.append(_markdown(flat, ["left", "right", "right", "right"]))
        return "\n".join(parts)
    if fmt != "table":
        raise BnnstatError(f"unknown format {fmt!r}; use one of {', '.join(DIFF_FORMATS)}")
    parts = [_diff_heading(result)]
    if len(layer_rows) > 1:
        parts.append(
            box(
                layer_rows,
                title="layers",
                align=["left", "left", "left"] + ["right"] * (len(layer_rows[0]) - 3),
                heading_border=True,
            )
        )
    parts.append(
        box(
            total_rows,
            title="totals",
            align=["left", "right", "right", "right"],
            heading_border=True,
        )
    )
    return "\n".join(parts)
