"""Comparing models: side-by-side totals of several models, and the per-layer diff of two.

Pure functions over typed profiles (and deployments when a target is given): no file access,
no TensorFlow, no formatting; `bnnstat.inspect.compare_report` renders the results.

- `model_totals(profile, deployment)`: one model's headline numbers, exactly the totals of its
  summary (Larq's params by bit width, memory, MACs by precision and binarized MAC ratio;
  bnnstat's BOPs; the predicted deployed size with a deployment).
- `diff(before, after)`: layers matched first by name, then by position (`match_layers`: a
  renamed layer keeps its partner of the same class between the same name-matched neighbours,
  while inserted or deleted layers do not shift the others). A matched layer is *changed* when
  its class, bit widths (weights or inputs), parameter
  count, memory, MACs or deployed bytes differ; unmatched layers are *added* or *removed*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bnnstat.inspect.deployment import Deployment
from bnnstat.inspect.profile import LayerProfile, ModelProfile


@dataclass(frozen=True)
class ModelTotals:
    """One model's totals, as in its summary. `deployed_bytes` is None without a target."""

    source: str
    name: str
    params: int
    params_by_bitwidth: Mapping[int, int]
    memory_bits: int
    macs: int
    macs_by_precision: Mapping[int, int]
    binarized_mac_ratio: float
    bops: int
    deployed_bytes: int | None = None
    target: str | None = None


def model_totals(profile: ModelProfile, deployment: Deployment | None = None) -> ModelTotals:
    """The totals of `profile` (Larq's MAC counts; BOPs = bnnstat's extension count)."""
    return ModelTotals(
        source=profile.source,
        name=profile.name,
        params=profile.params,
        params_by_bitwidth=profile.params_by_bitwidth(),
        memory_bits=profile.memory_bits,
        macs=profile.mac_count(),
        macs_by_precision=profile.macs_by_precision(),
        binarized_mac_ratio=profile.binarized_mac_ratio,
        bops=profile.ext_bops,
        deployed_bytes=None if deployment is None else deployment.total_bytes,
        target=None if deployment is None else deployment.target,
    )


# ---------------------------------------------------------------------------------------------
# Per-layer diff


@dataclass(frozen=True)
class LayerFacts:
    """What the diff compares of one top-level layer (a nested model counts as one layer).

    `weight_bits` are the bit widths of its parameters, `input_bits` its input quantizer's
    (None: none); `macs` is Larq's count (None when unknown); `deployed_bytes` None without a
    deployment or for a layer the deployment does not list.
    """

    name: str
    class_name: str
    weight_bits: tuple[int, ...]
    input_bits: int | None
    params: int
    memory_bits: int
    macs: int | None
    deployed_bytes: int | None = None

    @property
    def precision(self) -> tuple[tuple[int, ...], int | None]:
        return self.weight_bits, self.input_bits


def layer_facts(layer: LayerProfile, deployment: Deployment | None = None) -> LayerFacts:
    deployed = None if deployment is None else deployment.layer(layer.name)
    return LayerFacts(
        name=layer.name,
        class_name=layer.class_name,
        weight_bits=layer.param_bitwidths,
        input_bits=layer.input_precision or None,
        params=layer.params,
        memory_bits=layer.memory_bits,
        macs=layer.mac_count(),
        deployed_bytes=None if deployed is None else deployed.bytes,
    )


ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", "same"


@dataclass(frozen=True)
class LayerChange:
    """One row of a diff: `status` is added, removed, changed or same; `changes` names what
    differs for a matched pair (``class``, ``precision``, ``params``, ``memory``, ``macs``,
    ``deployed``; ``name`` for a pair matched by position)."""

    status: str
    before: LayerFacts | None
    after: LayerFacts | None
    changes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        side = self.after or self.before
        assert side is not None
        return side.name


@dataclass(frozen=True)
class ModelDiff:
    """Layer-by-layer and total differences from `before` to `after`."""

    before: ModelTotals
    after: ModelTotals
    layers: tuple[LayerChange, ...] = field(default=())

    @property
    def grew(self) -> bool:
        """True when weight memory or the predicted deployed size got larger."""
        deployed_grew = (
            self.before.deployed_bytes is not None
            and self.after.deployed_bytes is not None
            and self.after.deployed_bytes > self.before.deployed_bytes
        )
        return self.after.memory_bits > self.before.memory_bits or deployed_grew

    def count(self, status: str) -> int:
        return sum(change.status == status for change in self.layers)


def _changes(a: LayerFacts, b: LayerFacts) -> tuple[str, ...]:
    checks = (
        ("name", a.name != b.name),
        ("class", a.class_name != b.class_name),
        ("precision", a.precision != b.precision),
        ("params", a.params != b.params),
        ("memory", a.memory_bits != b.memory_bits),
        ("macs", a.macs != b.macs),
        ("deployed", a.deployed_bytes != b.deployed_bytes),
    )
    return tuple(name for name, differs in checks if differs)


def match_layers(before: Sequence[LayerFacts], after: Sequence[LayerFacts]) -> dict[int, int]:
    """`{index in after: index in before}` of matched layers.

    Equal names match first. Between two consecutive name-matched layers (and before the first
    and after the last), the remaining layers of both models are then paired by position: from
    the start of that stretch while their classes agree, then from its end while they agree.
    What is left over is added or removed, so one inserted layer never shifts the others.
    """
    names_before = {layer.name: i for i, layer in enumerate(before)}
    pairs = {j: names_before[x.name] for j, x in enumerate(after) if x.name in names_before}
    anchors = [(-1, -1), *sorted(pairs.items()), (len(after), len(before))]
    matched_before = set(pairs.values())
    for (j1, i1), (j2, i2) in zip(anchors, anchors[1:], strict=False):
        if i2 <= i1:  # name matches that cross: no positions to compare in between
            continue
        gap_a = [i for i in range(i1 + 1, i2) if i not in matched_before]
        gap_b = [j for j in range(j1 + 1, j2) if j not in pairs]
        while gap_a and gap_b and before[gap_a[0]].class_name == after[gap_b[0]].class_name:
            pairs[gap_b.pop(0)] = gap_a.pop(0)
        while gap_a and gap_b and before[gap_a[-1]].class_name == after[gap_b[-1]].class_name:
            pairs[gap_b.pop()] = gap_a.pop()
    return pairs


def diff(
    before: ModelProfile,
    after: ModelProfile,
    before_deployment: Deployment | None = None,
    after_deployment: Deployment | None = None,
) -> ModelDiff:
    """Per-layer and total differences between two models (see the module docstring).

    Rows follow `after`'s layer order; a removed layer appears after the rows of the layers
    that preceded it in `before`.
    """
    facts_a = [layer_facts(x, before_deployment) for x in before.layers]
    facts_b = [layer_facts(x, after_deployment) for x in after.layers]
    pairs = match_layers(facts_a, facts_b)
    rows: list[LayerChange] = []
    shown_before: set[int] = set()
    matched_before = set(pairs.values())

    def removed_up_to(limit: int) -> None:
        for i in range(limit):
            if i not in matched_before and i not in shown_before:
                rows.append(LayerChange(REMOVED, facts_a[i], None))
                shown_before.add(i)

    for j, layer in enumerate(facts_b):
        if j not in pairs:
            rows.append(LayerChange(ADDED, None, layer))
            continue
        i = pairs[j]
        removed_up_to(i)
        changes = _changes(facts_a[i], layer)
        rows.append(LayerChange(CHANGED if changes else SAME, facts_a[i], layer, changes))
    removed_up_to(len(facts_a))
    return ModelDiff(
        model_totals(before, before_deployment), model_totals(after, after_deployment), tuple(rows)
    )
