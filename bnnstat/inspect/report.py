"""Render a `ModelProfile` as a text table, Markdown, JSON or CSV.

- ``table``: Larq's two tables exactly as `larq.models.summary` prints them (layer table, then
  summary table: boxed, title in the top border, no inner column borders, 3-significant-figure
  counts with k/M/B, KiB/MiB sizes, ratios to 4 decimals), followed by a block of bnnstat
  extensions (MACs of every layer, BOPs, activation memory, compression factor), then the notes
  explaining every ``?`` (keyed ``[k]`` in the extension table), wrapped at 120 columns;
  ``larq_only`` stops after Larq's two tables. With a deployment view, the layer table gets an
  "LCE bytes" column and the summary table three more rows.
- ``markdown``: the same content as GitHub tables.
- ``json``: `serialize.to_json(analysis)`, the stable schema documented in the README.
- ``csv``: one row per layer (nested layers too, with their parent), the JSON layer fields.
"""

from __future__ import annotations

import csv
import io
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from bnnstat.errors import BnnstatError
from bnnstat.inspect import serialize
from bnnstat.inspect.analysis import Analysis
from bnnstat.inspect.deployment import Deployment
from bnnstat.inspect.profile import LayerProfile, ModelProfile
from bnnstat.utils import memory_as_readable_str

FORMATS = ("table", "markdown", "json", "csv")
BITS_PER_KB = 8 * 1024


# ------------------------------------------------------------------------------------------
# Number formatting (Larq's)
# ------------------------------------------------------------------------------------------
def readable_number(num: float) -> str:
    """Larq's count format: 3 significant figures with a `` k``/`` M``/`` B``/`` T`` suffix.

    ``178218 -> "178 k"``, ``1044 -> "1.04 k"``, ``832 -> "832"``; from 1e15 on, scientific
    (``"1.00E+16"``). The number is rounded to 3 significant figures first, so ``999999`` is
    ``"1 M"``.
    """
    value = float(f"{num:.3g}")
    if value < 1000:
        return str(value).rstrip("0").rstrip(".")
    if value >= 1e15:
        return f"{value:.2E}"
    magnitude = 0
    while abs(value) >= 1000 and magnitude < 4:
        magnitude += 1
        value /= 1000.0
    return f"{value:.3g}".rstrip(".") + ["", " k", " M", " B", " T"][magnitude]


def _memory_cell(bits: int) -> str:
    """Larq's "Memory (kB)" cell: ``0`` for nothing, else kB (1024 bytes) with 2 decimals."""
    return "0" if bits == 0 else f"{bits / BITS_PER_KB:.2f}"


def _count_cell(value: int | None) -> str:
    return "?" if value is None else str(value)


# ------------------------------------------------------------------------------------------
# Boxed text tables (the layout of Larq's tables)
# ------------------------------------------------------------------------------------------
def _width(text: str) -> int:
    """Visible width: East Asian wide and full-width characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("F", "W") else 1 for ch in text)


def _pad(text: str, width: int, align: str) -> str:
    fill = " " * (width - _width(text))
    return fill + text if align == "right" else text + fill


def box(
    rows: Sequence[Sequence[str]],
    title: str | None = None,
    align: Sequence[str] | None = None,
    heading_border: bool = False,
    footing_border: bool = False,
    fit_title: bool = False,
) -> str:
    """A table in a ``+---+`` box: cells padded by one space, no inner column borders.

    Cells may span several lines (``\\n``), top-aligned. The title sits in the top border when
    it fits inside it (`fit_title`: the last column widens until it does).
    `heading_border`/`footing_border` draw a rule after the first/before the last row.
    """
    columns = max((len(row) for row in rows), default=0)
    rows = [list(row) + [""] * (columns - len(row)) for row in rows]
    widths = [0] * columns
    for row in rows:
        for i, cell in enumerate(row):
            for line in cell.splitlines():
                widths[i] = max(widths[i], _width(line))
    align = list(align or []) + ["left"] * (columns - len(align or []))
    inner = sum(w + 2 for w in widths)
    if fit_title and title is not None and columns and _width(title) > inner:
        widths[-1] += _width(title) - inner  # widen the last column so the title stays visible
        inner = _width(title)
    rule = "+" + "-" * inner + "+"
    top = rule
    if title is not None and columns and _width(title) <= inner:
        top = "+" + title + "-" * (inner - _width(title)) + "+"
    lines = [top]
    for index, row in enumerate(rows):
        height = max((len(cell.splitlines()) for cell in row), default=0) or 1
        cells = [cell.splitlines() + [""] * (height - len(cell.splitlines())) for cell in row]
        for k in range(height):
            parts = (" " + _pad(cells[i][k], widths[i], align[i]) + " " for i in range(columns))
            lines.append("|" + "".join(parts) + "|")
        last = index == len(rows) - 1
        if not last and (
            (heading_border and index == 0) or (footing_border and index == len(rows) - 2)
        ):
            lines.append(rule)
    lines.append(rule)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Larq's two tables, as rows of strings
# ------------------------------------------------------------------------------------------
def _lce_bytes(deployment: Deployment, layer: LayerProfile) -> str:
    deployed = deployment.layer(layer.name)
    return "-" if deployed is None else str(deployed.bytes)


def as_analysis(result: Analysis | ModelProfile) -> Analysis:
    """An `Analysis` as is; a bare `ModelProfile` as an analysis without deployment."""
    return result if isinstance(result, Analysis) else Analysis(result)


def layer_table_rows(
    result: Analysis | ModelProfile, include_macs: bool = True
) -> list[list[str]]:
    """Header, one row per layer, and the Total row of Larq's layer table (with an "LCE
    bytes" column when there is a deployment)."""
    analysis = as_analysis(result)
    profile, deployment = analysis.profile, analysis.deployment
    bitwidths = profile.param_bitwidths
    precisions = profile.mac_precisions if include_macs else ()
    header = [
        "Layer",
        "Input prec.\n(bit)",
        "Outputs",
        *(f"# {bits}-bit\nx 1" for bits in bitwidths),
        "Memory\n(kB)",
        *(f"{p}-bit MACs" for p in precisions),
    ]
    if deployment is not None:
        header.append("LCE bytes")
    rows = [header]
    for layer in profile.layers:
        row = [
            layer.name,
            "-" if not layer.input_precision else str(layer.input_precision),
            layer.output_shape_str,
            *(str(layer.param_count(bits)) for bits in bitwidths),
            _memory_cell(layer.memory_bits),
            *(_count_cell(layer.mac_count(p)) for p in precisions),
        ]
        if deployment is not None:
            row.append(_lce_bytes(deployment, layer))
        rows.append(row)
    total = [
        "Total",
        "",
        "",
        *(str(profile.param_count(bits)) for bits in bitwidths),
        _memory_cell(profile.memory_bits),
        *(str(profile.mac_count(p)) for p in precisions),
    ]
    if deployment is not None:
        total.append(str(deployment.total_bytes))
    rows.append(total)
    return rows


def summary_rows(result: Analysis | ModelProfile, include_macs: bool = True) -> list[list[str]]:
    """Label/value rows of Larq's summary table (plus the deployment rows when present)."""
    analysis = as_analysis(result)
    profile = analysis.profile
    rows = [
        ["Total params", readable_number(profile.params)],
        ["Trainable params", readable_number(profile.trainable_params)],
        ["Non-trainable params", readable_number(profile.non_trainable_params)],
        ["Model size", memory_as_readable_str(profile.memory_bits)],
        [
            "Model size (8-bit FP weights)",
            memory_as_readable_str(profile.int8_fp_weights_memory_bits),
        ],
        ["Float-32 Equivalent", memory_as_readable_str(profile.fp32_equivalent_memory_bits)],
        ["Compression Ratio of Memory", f"{profile.compression_ratio:.2f}"],
    ]
    if include_macs:
        rows.append(["Number of MACs", readable_number(profile.mac_count())])
        if profile.binarized_mac_ratio > 0:
            rows.append(["Ratio of MACs that are binarized", f"{profile.binarized_mac_ratio:.4f}"])
        if profile.ternarized_mac_ratio > 0:
            rows.append(
                ["Ratio of MACs that are ternarized", f"{profile.ternarized_mac_ratio:.4f}"]
            )
    rows.extend(_deployment_rows(analysis))
    return rows


def _deployment_rows(analysis: Analysis) -> list[list[str]]:
    deployment = analysis.deployment
    if deployment is None:
        return []
    estimate = analysis.profile.memory_bits / 8
    ratio = deployment.total_bytes / estimate if estimate else 0.0
    rows = [
        [
            f"Predicted {deployment.target.upper()} size",
            memory_as_readable_str(8 * deployment.total_bytes),
        ],
        [f"{deployment.target.upper()} size / Model size", f"{ratio:.2f}"],
        [
            "Binary MACs run as packed ops",
            f"{deployment.accelerated_binary_mac_ratio:.4f}",
        ],
    ]
    if not deployment.convertible:
        rows.append(["Convertible", "no: " + "; ".join(deployment.problems)])
    return rows


# ------------------------------------------------------------------------------------------
# Extensions (beyond Larq)
# ------------------------------------------------------------------------------------------
def note_keys(profile: ModelProfile) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Numbered layer notes: `{layer name: "[k]"}` and the distinct notes `[("[k]", text)]` in
    first-use order, so a note shared by many layers is written once below the table."""
    keys: dict[str, str] = {}
    texts: dict[str, str] = {}
    for layer in profile.layers:
        if layer.note:
            keys[layer.name] = texts.setdefault(layer.note, f"[{len(texts) + 1}]")
    return keys, [(key, text) for text, key in texts.items()]


def extension_table_rows(
    profile: ModelProfile, include_macs: bool = True, notes: Mapping[str, str] | None = None
) -> list[list[str]]:
    """Per-layer extension numbers: all MACs, BOPs, activation memory, note (the note's text,
    or its key from `notes` when given)."""
    header = ["Layer"]
    if include_macs:
        header += ["MACs", "BOPs"]
    header += ["Activations\n(kB)", "Note"]
    rows = [header]
    for layer in profile.layers:
        row = [layer.name]
        if include_macs:
            row += [_count_cell(layer.ext_mac_count()), _count_cell(layer.ext_bops)]
        activation = layer.ext_activation_memory_bits
        note = layer.note or "" if notes is None else notes.get(layer.name, "")
        row += ["?" if activation is None else _memory_cell(activation), note]
        rows.append(row)
    total = ["Total"]
    if include_macs:
        total += [str(profile.ext_mac_count()), str(profile.ext_bops)]
    total += [_memory_cell(profile.ext_activation_memory_bits), ""]
    rows.append(total)
    return rows


def extension_summary_rows(profile: ModelProfile, include_macs: bool = True) -> list[list[str]]:
    factor = profile.compression_factor
    rows = [
        [
            "Compression factor",
            "-" if factor is None else f"{factor:.1f} x (ratio {profile.compression_ratio:.2f})",
        ]
    ]
    if include_macs:
        rows += [
            ["Number of MACs, all layers", readable_number(profile.ext_mac_count())],
            ["Bit operations (BOPs)", readable_number(profile.ext_bops)],
        ]
    rows += [
        ["Activations, all layers", memory_as_readable_str(profile.ext_activation_memory_bits)],
        ["Largest layer output", memory_as_readable_str(profile.ext_peak_layer_activation_bits)],
    ]
    return rows


def _notes(profile: ModelProfile) -> list[str]:
    return list(profile.notes)


NOTE_WIDTH = 120  # notes are wrapped to fit a 120-column terminal


def _wrapped(prefix: str, text: str) -> str:
    return textwrap.fill(
        text,
        width=NOTE_WIDTH,
        initial_indent=prefix,
        subsequent_indent=" " * len(prefix),
        break_long_words=False,
        break_on_hyphens=False,
    )


def render_table(
    result: Analysis | ModelProfile, include_macs: bool = True, larq_only: bool = False
) -> str:
    """Larq's layer and summary tables, then the bnnstat extension block (not with
    `larq_only`). Layer notes are numbered in the extension table and written below it, and
    every note is wrapped at `NOTE_WIDTH` columns."""
    analysis = as_analysis(result)
    profile = analysis.profile
    columns = len(layer_table_rows(analysis, include_macs)[0])
    parts = [
        box(
            layer_table_rows(analysis, include_macs),
            title=f"{profile.name} stats",
            align=["left"] + ["right"] * (columns - 1),
            heading_border=True,
            footing_border=True,
        ),
        box(summary_rows(analysis, include_macs), title=f"{profile.name} summary"),
    ]
    if larq_only:
        return "\n".join(parts)
    keys, layer_notes = note_keys(profile)
    ext_rows = extension_table_rows(profile, include_macs, keys)
    parts.append(
        box(
            ext_rows,
            title=f"{profile.name} extensions (bnnstat, beyond Larq)",
            align=["left"] + ["right"] * (len(ext_rows[0]) - 2) + ["left"],
            heading_border=True,
            footing_border=True,
            fit_title=True,
        )
    )
    parts.append(box(extension_summary_rows(profile, include_macs)))
    parts.extend(_wrapped(f"{key} ", text) for key, text in layer_notes)
    parts.extend(_wrapped("Note: ", note) for note in _notes(profile))
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------
def _markdown_table(rows: Sequence[Sequence[str]], align: Sequence[str]) -> str:
    from tabulate import tabulate

    header = [cell.replace("\n", " ") for cell in rows[0]]
    body = [[cell.replace("|", "\\|") for cell in row] for row in rows[1:]]
    return tabulate(
        body, headers=header, tablefmt="github", colalign=list(align), disable_numparse=True
    )


def render_markdown(
    result: Analysis | ModelProfile, include_macs: bool = True, larq_only: bool = False
) -> str:
    analysis = as_analysis(result)
    profile = analysis.profile
    rows = layer_table_rows(analysis, include_macs)
    rows[-1][0] = "**Total**"
    if larq_only:
        return "\n".join(
            [
                f"## {profile.name}",
                "",
                _markdown_table(rows, ["left"] + ["right"] * (len(rows[0]) - 1)),
                "",
                _markdown_table(
                    [["Summary", ""], *summary_rows(analysis, include_macs)], ["left", "right"]
                ),
            ]
        )
    ext_rows = extension_table_rows(profile, include_macs)
    ext_rows[-1][0] = "**Total**"
    parts = [
        f"## {profile.name}",
        "",
        _markdown_table(rows, ["left"] + ["right"] * (len(rows[0]) - 1)),
        "",
        _markdown_table(
            [["Summary", ""], *summary_rows(analysis, include_macs)], ["left", "right"]
        ),
        "",
        "### Extensions (bnnstat, beyond Larq)",
        "",
        _markdown_table(ext_rows, ["left"] + ["right"] * (len(ext_rows[0]) - 2) + ["left"]),
        "",
        _markdown_table(
            [["Extension", ""], *extension_summary_rows(profile, include_macs)], ["left", "right"]
        ),
    ]
    notes = _notes(profile)
    if notes:
        parts += ["", *(f"- {note}" for note in notes)]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------
# JSON and CSV
# ------------------------------------------------------------------------------------------
CSV_FIXED = (
    "name",
    "parent",
    "class_name",
    "input_precision",
    "output_shape",
    "params",
    "trainable_params",
    "non_trainable_params",
    "memory_bits",
    "int8_fp_weights_memory_bits",
    "fp32_equivalent_memory_bits",
    "macs",
)
CSV_EXTENSIONS = ("ext_macs", "ext_bops", "ext_activation_memory_bits", "note")


def _csv_rows(
    layer: LayerProfile, parent: str, bitwidths: Sequence[int], precisions: Sequence[int]
) -> list[dict[str, Any]]:
    row: dict[str, Any] = {
        "name": layer.name,
        "parent": parent,
        "class_name": layer.class_name,
        "input_precision": layer.input_precision,
        "output_shape": layer.output_shape_str,
        "params": layer.params,
        "trainable_params": layer.trainable_params,
        "non_trainable_params": layer.non_trainable_params,
        "memory_bits": layer.memory_bits,
        "int8_fp_weights_memory_bits": layer.int8_fp_weights_memory_bits,
        "fp32_equivalent_memory_bits": layer.fp32_equivalent_memory_bits,
        "macs": layer.mac_count(),
    }
    for bits in bitwidths:
        row[f"params_{bits}bit"] = layer.param_count(bits)
    for precision in precisions:
        row[f"macs_{precision}bit"] = layer.mac_count(precision)
    row["ext_macs"] = layer.ext_mac_count()
    row["ext_bops"] = layer.ext_bops
    row["ext_activation_memory_bits"] = layer.ext_activation_memory_bits
    row["note"] = layer.note
    rows = [row]
    for sub in layer.layers:
        rows += _csv_rows(sub, layer.name, bitwidths, precisions)
    return rows


def render_csv(result: Analysis | ModelProfile, include_macs: bool = True) -> str:
    """One row per layer; nested layers follow their model with `parent` set. Empty = null."""
    profile = as_analysis(result).profile
    bitwidths = sorted({b for layer in profile.layers for b in _all_bitwidths(layer)})
    precisions = profile.mac_precisions if include_macs else ()
    fields = [*CSV_FIXED]
    fields += [f"params_{b}bit" for b in bitwidths]
    fields += [f"macs_{p}bit" for p in precisions]
    fields += list(CSV_EXTENSIONS)
    if not include_macs:
        fields = [f for f in fields if f not in ("macs", "ext_macs", "ext_bops")]
    rows = [r for layer in profile.layers for r in _csv_rows(layer, "", bitwidths, precisions)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().rstrip("\n")


def _all_bitwidths(layer: LayerProfile) -> set[int]:
    bits = set(layer.param_bitwidths)
    for sub in layer.layers:
        bits |= _all_bitwidths(sub)
    return bits


def render(
    result: Analysis | ModelProfile,
    fmt: str = "table",
    include_macs: bool = True,
    larq_only: bool = False,
) -> str:
    """Render an analysis (or a bare profile) as ``table``, ``markdown``, ``json`` or ``csv``;
    `larq_only` keeps just Larq's two tables (``table`` and ``markdown`` only)."""
    if larq_only and fmt not in ("table", "markdown"):
        raise BnnstatError(f"--larq-only applies to the table and markdown formats, not {fmt}")
    profile = result
    if fmt == "table":
        return render_table(profile, include_macs, larq_only)
    if fmt == "markdown":
        return render_markdown(profile, include_macs, larq_only)
    if fmt == "json":
        return serialize.dumps(as_analysis(profile))
    if fmt == "csv":
        return render_csv(profile, include_macs)
    raise BnnstatError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
