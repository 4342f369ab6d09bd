"""Flip statistics for binary weights: between two checkpoints, from a `FlipStatistics` log, and
from Bop's optimizer state.

- **Checkpoints**: for every layer with precision-1 weights, the number of weights whose sign
  differs between two saved files, \\(\\sum_i [\\mathrm{sign}(w^{a}_i) \\ne
  \\mathrm{sign}(w^{b}_i)]\\) with \\(\\mathrm{sign}(0) = +1\\), out of the layer's binary weights.
  Weight values are read with h5py only (read-only; no TensorFlow, nothing in the file executed).
- **Logs** written by `bnnstat.callbacks.FlipStatistics` (JSON lines or CSV with the fields
  ``epoch, step, layer, flipped, total, ratio``): per epoch and layer, flipped is summed over the
  epoch's records and the ratio is ``flipped / total``. A log may hold several runs (``append=True``
  after a restart): a run ends where the step counter (or the epoch) goes back or a layer repeats
  at the same step, and each run is aggregated on its own, so two runs' epoch 0 never add up.
  With one record per layer and epoch the ratio is the share of binary weights whose sign changed
  over the epoch (at most 1). With several (``every_n_steps``) it is a sum of sub-epoch shares:
  flip events per binary weight, where a weight that flips and flips back counts twice; it can
  exceed the epoch-level share of the same run and, in principle, 1.
- **Bop state**: Bop flips \\(w\\) when \\(w \\cdot m > \\tau\\) (threshold), so
  \\(|m| / \\tau\\) tells how close each weight is to flipping: at or above 1 it flips as soon as
  \\(m\\) has the sign of \\(w\\).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnnstat.errors import BnnstatError
from bnnstat.inspect import catalog
from bnnstat.inspect.records import LayerRecord, ModelRecord
from bnnstat.utils import as_given

if TYPE_CHECKING:
    import numpy as np

LOG_FIELDS = ("epoch", "step", "layer", "flipped", "total", "ratio")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class LayerFlips:
    """Flips in one layer: `flipped` of its `total` binary weights."""

    layer: str
    flipped: int
    total: int

    @property
    def ratio(self) -> float:
        return self.flipped / self.total if self.total else 0.0


def _sum(layers: Sequence[LayerFlips]) -> LayerFlips:
    return LayerFlips("total", sum(x.flipped for x in layers), sum(x.total for x in layers))


@dataclass(frozen=True)
class CheckpointFlips:
    """Sign flips of every binary layer between checkpoints `before` and `after`."""

    before: str
    after: str
    layers: tuple[LayerFlips, ...]

    @property
    def total(self) -> LayerFlips:
        return _sum(self.layers)


@dataclass(frozen=True)
class EpochFlips:
    """Flips of one epoch of a log, per layer: `records` is the most records one layer has in
    the epoch (1 for an epoch-level log), `run` the run of the log it belongs to (from 1)."""

    epoch: int
    layers: tuple[LayerFlips, ...]
    records: int = 1
    run: int = 1

    @property
    def total(self) -> LayerFlips:
        return _sum(self.layers)


@dataclass(frozen=True)
class LogFlips:
    """A `FlipStatistics` log, aggregated per run and epoch (epochs in log order)."""

    source: str
    layers: tuple[str, ...]
    epochs: tuple[EpochFlips, ...]

    @property
    def runs(self) -> int:
        """How many training runs the log holds (restarts appended to one file)."""
        return max((e.run for e in self.epochs), default=1)

    @property
    def sub_epoch(self) -> bool:
        """True when some epoch sums several records of a layer (``every_n_steps``): the ratios
        then count flip events per binary weight rather than a share of weights."""
        return any(e.records > 1 for e in self.epochs)

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """`{layer: [(epoch, ratio), ...]}` for plotting; with several runs one line per run and
        layer, named ``"layer (run k)"``."""
        result: dict[str, list[tuple[float, float]]] = {}
        if self.runs == 1:
            result = {name: [] for name in self.layers}
        for epoch in self.epochs:
            for entry in epoch.layers:
                key = entry.layer if self.runs == 1 else f"{entry.layer} (run {epoch.run})"
                result.setdefault(key, []).append((epoch.epoch, entry.ratio))
        return result


@dataclass(frozen=True)
class LayerThresholds:
    """Distribution of |m| / threshold over one binary layer's weights."""

    layer: str
    total: int
    quantiles: dict[str, float]
    at_or_above: int


@dataclass(frozen=True)
class BopState:
    """How close binary weights are to flipping, from Bop's moving averages `m`."""

    source: str
    threshold: float
    layers: tuple[LayerThresholds, ...]


# ---------------------------------------------------------------------------------------------
# Pure computations


def sign_flips(before: np.ndarray, after: np.ndarray) -> int:
    """Number of positions where sign(before) != sign(after), with sign(0) = +1."""
    import numpy as np

    return int(np.count_nonzero((np.asarray(before) >= 0) != (np.asarray(after) >= 0)))


def count_flips(
    before: Mapping[str, Sequence[np.ndarray]],
    after: Mapping[str, Sequence[np.ndarray]],
    before_name: str = "before",
    after_name: str = "after",
) -> CheckpointFlips:
    """Flips per layer between two `{layer: [binary weight arrays]}` mappings (same layers,
    same shapes, else `BnnstatError`)."""
    if list(before) != list(after):
        raise BnnstatError(
            f"{before_name} and {after_name} are not the same architecture: binary layers "
            f"{list(before)} vs {list(after)}"
        )
    layers = []
    for name, arrays in before.items():
        others = after[name]
        shapes_a = [tuple(a.shape) for a in arrays]
        shapes_b = [tuple(b.shape) for b in others]
        if shapes_a != shapes_b:
            raise BnnstatError(
                f"{before_name} and {after_name} are not the same architecture: layer {name!r} "
                f"has binary weights of shapes {shapes_a} vs {shapes_b}"
            )
        flipped = sum(sign_flips(a, b) for a, b in zip(arrays, others, strict=True))
        total = sum(int(a.size) for a in arrays)
        layers.append(LayerFlips(name, flipped, total))
    return CheckpointFlips(before_name, after_name, tuple(layers))


def threshold_ratios(m: np.ndarray, threshold: float) -> np.ndarray:
    """|m| / threshold, element-wise."""
    import numpy as np

    if not 0 < threshold < math.inf:
        raise BnnstatError(f"Bop threshold must be positive to compare against, got {threshold}")
    return np.abs(np.asarray(m, dtype=np.float64)) / threshold


def summarize_ratios(layer: str, ratios: np.ndarray) -> LayerThresholds:
    import numpy as np

    values = np.asarray(ratios, dtype=np.float64).ravel()
    levels = {"min": 0.0, "p10": 0.1, "p50": 0.5, "p90": 0.9, "max": 1.0}
    quantiles = {k: float(np.quantile(values, q)) for k, q in levels.items()} if values.size else {}
    return LayerThresholds(layer, int(values.size), quantiles, int(np.count_nonzero(values >= 1)))


# ---------------------------------------------------------------------------------------------
# Reading weight values through the shared reader (h5py, read-only)


def _sniff(path: Path) -> str:
    """`"h5"`, `"keras"` or `"other"` (a log, say); `bnnstat.cli.flips` imports this name.

    A thin wrapper of `reader.model_file_kind` (missing file or directory: `BnnstatError`).
    """
    from bnnstat.inspect.reader import model_file_kind

    return model_file_kind(path) or "other"


def _open_weights(path: Path) -> Any:
    """The HDF5 weights of a `.h5` or `.keras` file, opened read-only by the shared reader."""
    from bnnstat.inspect.reader.container import open_weights

    return open_weights(path)


def _decode(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _legacy_values(path: Path, group: Any) -> dict[str, list[tuple[str | None, np.ndarray]]]:
    """Keras 2 / legacy-h5 layout, listed by the shared reader: `{sub-layer name: [(weight name,
    values), ...]}`, a nested model's weights keyed by the layer inside it that owns them."""
    from bnnstat.inspect.reader import container
    from bnnstat.inspect.reader.weights import short_name

    table: dict[str, list[tuple[str | None, np.ndarray]]] = {}
    for layer_name, saved in container.legacy_h5_weights(path, group).items():
        for full, _shape in saved:
            parts = full.split("/")
            owner = parts[-2] if len(parts) >= 2 else layer_name
            values = container.legacy_h5_value(path, group, layer_name, full)
            table.setdefault(owner, []).append((short_name(full), values))
    return table


def _numbered_vars(path: Path, vars_group: Any) -> list[np.ndarray]:
    from bnnstat.inspect.reader.container import read_array

    keys = sorted((k for k in vars_group if k.isdigit()), key=int)
    return [read_array(path, vars_group[k]) for k in keys if hasattr(vars_group[k], "shape")]


def _keras3_values(
    path: Path, group: Any, table: dict[str, list[tuple[str | None, np.ndarray]]]
) -> None:
    """`.keras` layout: every `<object>/vars` group named after its layer, vars numbered 0..n
    (each group visited once: see `walk_groups`)."""
    from bnnstat.inspect.reader.container import walk_groups

    for current in walk_groups(path, group, skip=("vars", "optimizer")):
        vars_group = current.get("vars")
        if vars_group is not None and hasattr(vars_group, "keys") and "name" in vars_group.attrs:
            name = _decode(vars_group.attrs["name"])
            if name not in table:
                table[name] = [(None, array) for array in _numbered_vars(path, vars_group)]


def read_weight_values(path: str | Path) -> dict[str, list[tuple[str | None, np.ndarray]]]:
    """All weight values by layer name: `(weight name, array)` pairs, the name None for `.keras`
    files (which number the variables in creation order instead)."""
    path = Path(path)
    with _open_weights(path) as handle:
        if "layer_names" in handle.attrs or "model_weights" in handle:
            return _legacy_values(path, handle.get("model_weights", handle))
        table: dict[str, list[tuple[str | None, np.ndarray]]] = {}
        _keras3_values(path, handle, table)
        return table


def _binary_weights(
    path: Path, record: ModelRecord, values: Mapping[str, list[tuple[str | None, np.ndarray]]]
) -> dict[str, list[np.ndarray]]:
    """`{layer: [values of its precision-1 weights]}` in model order."""
    result: dict[str, list[np.ndarray]] = {}
    for layer in record.walk():
        wanted = [(i, w) for i, w in enumerate(layer.weights) if w.precision == 1]
        if not wanted:
            continue
        stored = values.get(layer.name)
        if stored is None:
            raise BnnstatError(f"{path}: no stored weights for binary layer {layer.name!r}")
        result[layer.name] = [_pick(path, layer, stored, i, w.name, w.shape) for i, w in wanted]
    return result


def _pick(
    path: Path,
    layer: LayerRecord,
    stored: list[tuple[str | None, np.ndarray]],
    index: int,
    name: str,
    shape: tuple[int, ...],
) -> np.ndarray:
    role = catalog.weight_role(layer.class_name, name)
    names = (name,) if role is None else (role.name, role.keras2_name)
    by_name = [array for short, array in stored if short in names]
    if by_name:
        array = by_name[0]
    elif index < len(stored) and (stored[index][0] is None or stored[index][1].shape == shape):
        array = stored[index][1]  # `.keras` numbering, or a name that differs between versions
    else:
        raise BnnstatError(f"{path}: layer {layer.name!r} has no stored weight {name!r}")
    if tuple(array.shape) != tuple(shape):
        raise BnnstatError(
            f"{path}: weight {name!r} of layer {layer.name!r} has shape {tuple(array.shape)}, "
            f"expected {tuple(shape)}"
        )
    return array


def checkpoint_record(path: str | Path, model: str | Path | None = None) -> ModelRecord:
    """The architecture (and precisions) that apply to checkpoint `path`: read from `model`
    when given, else from `path` itself, which then must hold a model config."""
    from bnnstat.inspect import reader

    if model is not None:
        return reader.read(Path(model))
    try:
        return reader.read(Path(path))
    except BnnstatError as error:
        if "no model config" not in str(error):
            raise
        raise BnnstatError(
            f"{path}: a weights-only checkpoint (no model config); give the model it belongs to "
            "with --model FILE"
        ) from None


def binary_weight_values(
    path: str | Path, model: str | Path | None = None
) -> tuple[ModelRecord, dict[str, list[np.ndarray]]]:
    """The model record of `path` (or of `model`, for a weights-only checkpoint) and the values
    of `path`'s binary (precision-1) weights, matched to the record's layers by name."""
    path = Path(path)
    record = checkpoint_record(path, model)
    return record, _binary_weights(path, record, read_weight_values(path))


def compare_checkpoints(
    before: str | Path, after: str | Path, model: str | Path | None = None
) -> CheckpointFlips:
    """Sign flips per binary layer between two saved checkpoints of the same model.

    "Same model" means the same layer classes with the same weight shapes, in the same order;
    layer names may differ (Keras numbers auto-named layers per process) and the report uses the
    names in `before`. With `model`, both may be weights-only files (``save_weights``,
    ``ModelCheckpoint(save_weights_only=True)``): `model` supplies the architecture and the
    precisions, and the weights are matched to its layers by name.
    """
    record_a, weights_a = binary_weight_values(before, model)
    record_b, weights_b = binary_weight_values(after, model)
    return _pair_flips(Path(before), Path(after), (record_a, weights_a), (record_b, weights_b))


def _pair_flips(
    before: Path,
    after: Path,
    side_a: tuple[ModelRecord, dict[str, list[np.ndarray]]],
    side_b: tuple[ModelRecord, dict[str, list[np.ndarray]]],
) -> CheckpointFlips:
    (record_a, weights_a), (record_b, weights_b) = side_a, side_b
    _same_architecture(before, after, record_a, record_b)
    if not weights_a:
        raise BnnstatError(f"{before}: no binary (precision-1) weights to compare")
    renamed = dict(zip(weights_a, weights_b.values(), strict=True))
    return count_flips(weights_a, renamed, str(before), str(after))


@dataclass(frozen=True)
class CheckpointSeries:
    """Sign flips between each consecutive pair of a series of checkpoints (in the given order).

    `positions` places each pair on the x axis of a plot: the number in the later file's name
    (``epoch_07.keras`` -> 7) when every file name holds one and they increase, else 1, 2, ...
    """

    checkpoints: tuple[str, ...]
    pairs: tuple[CheckpointFlips, ...]
    positions: tuple[int, ...]
    numbered: bool

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(x.layer for x in self.pairs[0].layers) if self.pairs else ()

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """`{layer: [(position, ratio), ...]}` for plotting."""
        result: dict[str, list[tuple[float, float]]] = {name: [] for name in self.layers}
        for position, pair in zip(self.positions, self.pairs, strict=True):
            for entry in pair.layers:
                result[entry.layer].append((position, entry.ratio))
        return result


def _number_in_name(path: Path) -> int | None:
    digits = re.findall(r"\d+", path.name.split(".")[0])
    return int(digits[-1]) if digits else None


def checkpoint_series(
    paths: Sequence[str | Path], model: str | Path | None = None
) -> CheckpointSeries:
    """Flips per binary layer between checkpoints 1 and 2, 2 and 3, ... (each file read once).
    All must hold the same architecture; with `model`, they may be weights-only files."""
    files = [Path(p) for p in paths]
    if len(files) < 2:
        raise BnnstatError("a checkpoint series needs at least two files")
    shared = None if model is None else checkpoint_record(files[0], model)
    sides = []
    for path in files:
        record = shared if shared is not None else checkpoint_record(path)
        sides.append((record, _binary_weights(path, record, read_weight_values(path))))
    pairs = tuple(
        _pair_flips(files[k], files[k + 1], sides[k], sides[k + 1]) for k in range(len(files) - 1)
    )
    numbers = [_number_in_name(path) for path in files]
    numbered = all(n is not None for n in numbers) and all(
        a < b
        for a, b in zip(numbers, numbers[1:], strict=False)  # type: ignore[operator]
    )
    positions = tuple(numbers[1:]) if numbered else tuple(range(1, len(files)))
    return CheckpointSeries(tuple(map(str, files)), pairs, positions, numbered)  # type: ignore[arg-type]


def _same_architecture(a: Path, b: Path, record_a: ModelRecord, record_b: ModelRecord) -> None:
    def describe(record: ModelRecord) -> list[tuple[str, str, list[tuple[int, ...]]]]:
        return [(x.name, x.class_name, [w.shape for w in x.weights]) for x in record.walk()]

    layers_a, layers_b = describe(record_a), describe(record_b)
    for left, right in zip(layers_a, layers_b, strict=False):
        if left[1:] != right[1:]:
            raise BnnstatError(
                f"{a} and {b} are not the same architecture: layer {left[0]!r} ({left[1]}, "
                f"weights {left[2]}) vs {right[0]!r} ({right[1]}, weights {right[2]})"
            )
    if len(layers_a) != len(layers_b):
        raise BnnstatError(
            f"{a} and {b} are not the same architecture: {len(layers_a)} vs {len(layers_b)} layers"
        )


# ---------------------------------------------------------------------------------------------
# FlipStatistics logs


@dataclass(frozen=True)
class LogEntry:
    """One record of a `FlipStatistics` log (`step` None for end-of-epoch records)."""

    epoch: int
    step: int | None
    layer: str
    flipped: int
    total: int
    ratio: float


def _parse_entry(path: Path, where: str, raw: Mapping[str, Any]) -> LogEntry:
    missing = [f for f in ("epoch", "layer", "flipped", "total") if raw.get(f) in (None, "")]
    if missing:
        raise BnnstatError(f"{path}: {where}: missing field(s) {', '.join(missing)}")
    try:
        step = raw.get("step")
        entry = LogEntry(
            epoch=int(raw["epoch"]),
            step=None if step in (None, "") else int(step),
            layer=str(raw["layer"]),
            flipped=int(raw["flipped"]),
            total=int(raw["total"]),
            ratio=float(raw["ratio"]) if raw.get("ratio") not in (None, "") else math.nan,
        )
    except (TypeError, ValueError) as error:
        raise BnnstatError(f"{path}: {where}: bad value ({error})") from None
    if entry.total < 0 or not 0 <= entry.flipped <= max(entry.total, 0):
        raise BnnstatError(f"{path}: {where}: flipped must be between 0 and total")
    return entry


def read_log(path: str | Path) -> list[LogEntry]:
    """Parse a FlipStatistics log: JSON lines (one object per line) or CSV with a header."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BnnstatError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BnnstatError(f"{path}: cannot read as a text log ({error})") from None
    if text.lstrip().startswith("{"):
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as error:
                raise BnnstatError(f"{path}: line {number}: invalid JSON ({error.msg})") from None
            if not isinstance(raw, dict):
                raise BnnstatError(f"{path}: line {number}: expected a JSON object")
            entries.append(_parse_entry(path, f"line {number}", raw))
    else:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        if not {"epoch", "layer", "flipped", "total"} <= set(header):
            raise BnnstatError(
                f"{path}: not a FlipStatistics log (JSON lines or CSV with columns "
                f"{', '.join(LOG_FIELDS)})"
            )
        entries = [_parse_entry(path, f"row {n}", row) for n, row in enumerate(reader, start=2)]
    if not entries:
        raise BnnstatError(f"{path}: the log has no records")
    return entries


def split_runs(entries: Sequence[LogEntry]) -> list[list[LogEntry]]:
    """Cut a log into training runs.

    `FlipStatistics` numbers steps from 0 in every new callback, and one record batch shares its
    epoch and step. So a new run starts at a record whose step or epoch is lower than the
    previous record's, or whose layer already has a record at the same epoch and step (a
    restart that reached the same step again).
    """
    runs: list[list[LogEntry]] = []
    previous: LogEntry | None = None
    seen_here: set[str] = set()  # layers recorded at the current (epoch, step)
    for entry in entries:
        restart = previous is None
        if previous is not None:
            went_back = entry.epoch < previous.epoch or (
                entry.step is not None and previous.step is not None and entry.step < previous.step
            )
            same_point = (entry.epoch, entry.step) == (previous.epoch, previous.step)
            restart = went_back or (same_point and entry.layer in seen_here)
            if not same_point:
                seen_here = set()
        if restart:
            runs.append([])
            seen_here = set()
        runs[-1].append(entry)
        seen_here.add(entry.layer)
        previous = entry
    return runs


def aggregate_log(entries: Sequence[LogEntry], source: str = "<log>") -> LogFlips:
    """Per run (see `split_runs`), epoch and layer: flipped summed over the epoch's records,
    total = the layer's binary weight count (largest seen in the epoch)."""
    layers: list[str] = []
    epochs: list[EpochFlips] = []
    for run, run_entries in enumerate(split_runs(entries), start=1):
        per_epoch: dict[int, dict[str, list[int]]] = {}
        for entry in run_entries:
            if entry.layer not in layers:
                layers.append(entry.layer)
            counts = per_epoch.setdefault(entry.epoch, {}).setdefault(entry.layer, [0, 0, 0])
            counts[0] += entry.flipped
            counts[1] = max(counts[1], entry.total)
            counts[2] += 1
        for epoch, by_layer in sorted(per_epoch.items()):
            flips = tuple(
                LayerFlips(name, *by_layer[name][:2]) for name in layers if name in by_layer
            )
            records = max(counts[2] for counts in by_layer.values())
            epochs.append(EpochFlips(epoch, flips, records=records, run=run))
    return LogFlips(source, tuple(layers), tuple(epochs))


def log_flips(path: str | Path) -> LogFlips:
    return aggregate_log(read_log(path), str(path))


# ---------------------------------------------------------------------------------------------
# Bop optimizer state


def bop_ratios(path: str | Path) -> dict[str, np.ndarray]:
    """`{binary layer: |m| / threshold}` from the Bop state saved in a `.keras` file."""
    return _bop_state_arrays(Path(path))[1]


def bop_state(path: str | Path) -> BopState:
    """Distribution of |m| / threshold per binary layer, from a `.keras` file's Bop state."""
    threshold, ratios = _bop_state_arrays(Path(path))
    layers = tuple(summarize_ratios(name, values) for name, values in ratios.items())
    return BopState(str(path), threshold, layers)


def _bop_state_arrays(path: Path) -> tuple[float, dict[str, np.ndarray]]:
    """Threshold and `{binary layer: |m| / threshold}` from a `.keras` file.

    The Bop configuration (name, threshold) comes from ``config.json``'s ``compile_config``
    (also inside a CaseOptimizer or LossScaleOptimizer); its variables are the `vars` group
    under ``optimizer/`` that carries that name. Keras numbers an optimizer's variables in
    creation order: scalars (iterations, ...) first, then one moving average per variable it
    trains, in the order of the model's trainable variables.
    """
    import numpy as np

    from bnnstat.inspect import reader

    # Read the model first: a truncated, corrupt or non-model file gets the reader's message.
    record = reader.read(path)
    if reader.sniff(path) != "keras":
        raise BnnstatError(f"{path}: an HDF5 model file; Bop state is read from .keras files only")
    name, threshold = _bop_config(path)
    with _open_weights(path) as handle:
        if "optimizer" not in handle:
            raise BnnstatError(f"{path}: saved without optimizer state")
        slots = _named_vars(path, handle["optimizer"], name)
    if slots is None:
        raise BnnstatError(f"{path}: no saved variables for the Bop optimizer {name!r}")
    trainable = [
        (layer.name, w)
        for layer in record.walk()
        for w in layer.weights
        if w.trainable and not layer.is_nested_model
    ]
    binary = [(n, w) for n, w in trainable if w.precision == 1]
    if len(slots) == len(trainable):
        pairs = [(n, w, m) for (n, w), m in zip(trainable, slots, strict=True) if w.precision == 1]
    elif len(slots) == len(binary):
        pairs = [(n, w, m) for (n, w), m in zip(binary, slots, strict=True)]
    else:
        raise BnnstatError(
            f"{path}: cannot match {len(slots)} Bop moving averages to the model's "
            f"{len(binary)} binary weights"
        )
    ratios: dict[str, np.ndarray] = {}
    for layer_name, weight, m in pairs:
        if tuple(m.shape) != tuple(weight.shape):
            raise BnnstatError(
                f"{path}: Bop state for {layer_name!r}/{weight.name} has shape "
                f"{tuple(m.shape)}, expected {tuple(weight.shape)}"
            )
        if not np.isfinite(np.asarray(m, dtype=np.float64)).all():
            raise BnnstatError(
                f"{path}: Bop state for {layer_name!r}/{weight.name} holds NaN or infinite values"
            )
        values = threshold_ratios(m, threshold)
        previous = ratios.get(layer_name)
        ratios[layer_name] = (
            values.ravel() if previous is None else np.concatenate([previous, values.ravel()])
        )
    if not ratios:
        raise BnnstatError(f"{path}: the model has no binary weights trained by Bop")
    return threshold, ratios


def _bop_config(path: Path) -> tuple[str, float]:
    from bnnstat.inspect.reader.container import read_member_json

    config = read_member_json(path, "config.json")
    if not isinstance(config, Mapping):
        raise BnnstatError(f"{path}: config.json is not a model config object")
    optimizer = (config.get("compile_config") or {}).get("optimizer")
    found = _find_bop(optimizer)
    if found is None:
        raise BnnstatError(f"{path}: no Bop optimizer in the saved compile config")
    threshold = found.get("threshold", 1e-8)
    if not isinstance(threshold, (int, float)):
        raise BnnstatError(
            f"{path}: Bop threshold is a schedule ({threshold!r}); only a fixed threshold "
            "can be reported"
        )
    # files saved before get_config wrote values as given hold the float32 reading
    return str(found.get("name", "Bop")), as_given(threshold)


def _find_bop(value: Any) -> Mapping[str, Any] | None:
    """The config of the first optimizer whose class is Bop, searched depth first."""
    if isinstance(value, Mapping):
        class_name = str(value.get("class_name", "")).rsplit(">", 1)[-1]
        if class_name == "Bop" and isinstance(value.get("config"), Mapping):
            return value["config"]
        for item in value.values():
            found = _find_bop(item)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find_bop(item)
            if found is not None:
                return found
    return None


def _named_vars(path: Path, group: Any, name: str) -> list[np.ndarray] | None:
    """Non-scalar variables of the first `vars` group named `name` (depth first), or None."""
    from bnnstat.inspect.reader.container import walk_groups

    for current in walk_groups(path, group, skip=("vars",)):
        vars_group = current.get("vars")
        named = vars_group is not None and hasattr(vars_group, "keys")
        if named and _decode(vars_group.attrs.get("name")) == name:
            return [a for a in _numbered_vars(path, vars_group) if a.ndim > 0]
    return None
