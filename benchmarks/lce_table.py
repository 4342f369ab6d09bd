"""Print the README's predicted-vs-measured LCE tables from `tests/data/lce/`.

    PYTHONPATH=. python3 benchmarks/lce_table.py [--write]

Reads the measured sizes (`measured.json`: rule probes; `zoo.json`: every Larq Zoo architecture;
`sweeps.json`: the sweeps, with their fit/held-out split), predicts each model with
`bnnstat.inspect.lce` from its (shape-only) `.h5`, and prints one markdown table per data set and
the error summary per split; `--write` puts them into README.md between the `lce-tables`
markers. `tests/test_lce.py` checks that the README carries these exact rows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bnnstat.inspect import lce
from bnnstat.inspect.profile import profile
from bnnstat.inspect.reader import read

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "lce"


def row(name: str, entry: dict, path: Path) -> tuple[str, float | None]:
    """One table row and the relative error (None when the conversion failed)."""
    record = read(path)
    deployment = lce.predict(record, profile(record))
    if not entry["converted"]:
        predicted = "convertible: false" if not deployment.convertible else (
            f"{deployment.total_bytes} (convertible: true)")
        return f"| `{name}` | conversion fails | {predicted} | - |", None
    error = (deployment.total_bytes - entry["tflite_bytes"]) / entry["tflite_bytes"]
    flag = "" if deployment.convertible else " (convertible: false)"
    return (f"| `{name}` | {entry['tflite_bytes']} | {deployment.total_bytes}{flag} | "
            f"{100 * error:+.2f} % |"), error


def rows(which: str) -> list[tuple[str, str, float | None, str]]:
    """(name, row, error, split) of every model in `which` (probes, zoo or sweeps)."""
    if which == "zoo":
        models = json.loads((DATA / "zoo.json").read_text())["models"]
        items = [(name, m["trained_like"], m["file"], "zoo") for name, m in sorted(models.items())]
    else:
        file = "measured.json" if which == "probes" else "sweeps.json"
        probes = json.loads((DATA / file).read_text())["probes"]
        items = [(name, p, p["file"], p.get("split", "fit")) for name, p in sorted(probes.items())]
    result = []
    for name, entry, file, split in items:
        text, error = row(name, entry, DATA / file)
        result.append((name, text, error, split))
    return result


HEADER = "| model | measured bytes | predicted bytes | error |\n| --- | ---: | ---: | ---: |"
TITLES = {
    "zoo": "Every Larq Zoo 2.4 architecture (224x224, 1000 classes), trained-like",
    "probes": "Rule probes (`measured.json`; the `zoo_*` ones at 64x64, 10 classes)",
    "sweeps": "Sweeps (`sweeps.json`)",
}
README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- lce-tables:", "<!-- /lce-tables -->"


def summary(name: str, table: list) -> list[str]:
    lines = []
    for split in sorted({s for *_, s in table}):
        errors = [abs(e) for _, _, e, s in table if s == split and e is not None]
        failed = sum(1 for _, _, e, s in table if s == split and e is None)
        if errors:
            label = name if split in (name, "fit") else f"{name} ({split} split)"
            lines.append(f"- {label}: {len(errors)} converted, max |error| "
                         f"{100 * max(errors):.2f} %, mean {100 * sum(errors) / len(errors):.2f} %"
                         f"; {failed} converter failures, all predicted")
    return lines


def render() -> str:
    """The README block: a summary of the errors, then one table per data set."""
    tables = {which: rows(which) for which in ("zoo", "probes", "sweeps")}
    lines = ["Predicted vs measured `.tflite` bytes (`tests/test_lce.py` checks every row: "
             "convertibility both ways, sizes within 2 %):", ""]
    for which, table in tables.items():
        lines += summary(which, table)
    for which, table in tables.items():
        lines += ["", f"{TITLES[which]}:", "", HEADER, *(text for _, text, _, _ in table)]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    block = render()
    if argv[:1] != ["--write"]:
        print(block)
        return
    text = README.read_text()
    start = text.index(BEGIN)
    start = text.index("\n", start) + 1
    end = text.index(END)
    README.write_text(text[:start] + block + "\n" + text[end:])


if __name__ == "__main__":
    main(sys.argv[1:])
