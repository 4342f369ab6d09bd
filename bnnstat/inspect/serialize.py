"""JSON, written in one place: the output format of every report (never an internal interface).

`to_json(result)` gives the JSON-ready dict of any inspector result: an `Analysis` or a bare
`ModelProfile` (the summary schema documented in the README), a `Deployment`, a `Finding`, an
`AuditResult`, a flip statistic (`CheckpointFlips`, `CheckpointSeries`, `LogFlips`,
`BopState`), or a comparison (`ModelTotals`, `ModelDiff`; `comparison_json` for several
models); `dumps` the indented text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bnnstat.inspect.analysis import Analysis
from bnnstat.inspect.audit import AuditResult, BudgetCheck
from bnnstat.inspect.compare import LayerFacts, ModelDiff, ModelTotals
from bnnstat.inspect.deployment import Deployment, LayerDeployment
from bnnstat.inspect.findings import Finding
from bnnstat.inspect.flips import (
    BopState,
    CheckpointFlips,
    CheckpointSeries,
    LayerFlips,
    LayerThresholds,
    LogFlips,
)
from bnnstat.inspect.profile import LayerProfile, ModelProfile

JSON_SCHEMA_VERSION = 1


def _keyed(values: dict[int, int | None]) -> dict[str, int | None]:
    return {str(key): value for key, value in values.items()}


def layer_json(
    layer: LayerProfile, bitwidths: Sequence[int], precisions: Sequence[int]
) -> dict[str, Any]:
    """One layer; bit widths/precisions as string keys, keyed by the model's columns."""
    macs = None
    if layer.macs is not None:
        macs = _keyed({p: layer.mac_count(p) for p in precisions})
    sub_bitwidths = sorted({b for sub in layer.layers for b in sub.param_bitwidths})
    sub_precisions = sorted({p for sub in layer.layers for p in sub.mac_precisions})
    ext_macs = layer.ext_macs
    return {
        "name": layer.name,
        "class_name": layer.class_name,
        "input_precision": layer.input_precision,
        "output_shape": None if layer.output_shape is None else list(layer.output_shape),
        "output_shape_str": layer.output_shape_str,
        "params": layer.params,
        "params_by_bitwidth": _keyed({b: layer.param_count(b) for b in bitwidths}),
        "trainable_params": layer.trainable_params,
        "non_trainable_params": layer.non_trainable_params,
        "keras_params": layer.keras_param_count,
        "fused_weights": list(layer.fused_weights),
        "memory_bits": layer.memory_bits,
        "int8_fp_weights_memory_bits": layer.int8_fp_weights_memory_bits,
        "fp32_equivalent_memory_bits": layer.fp32_equivalent_memory_bits,
        "macs": layer.mac_count(),
        "macs_by_precision": macs,
        "note": layer.note,
        "weights": [
            {
                "name": w.name,
                "shape": list(w.shape),
                "count": w.count,
                "bitwidth": w.bitwidth,
                "trainable": w.trainable,
                "is_bias": w.is_bias,
            }
            for w in layer.weights
        ],
        "extensions": {
            "macs": layer.ext_mac_count(),
            "macs_by_precision": None
            if ext_macs is None
            else _keyed(
                {p: layer.ext_mac_count(p) for p in sorted({m.precision for m in ext_macs})}
            ),
            "bops": layer.ext_bops,
            "activation_memory_bits": layer.ext_activation_memory_bits,
            "call_count": layer.call_count,
        },
        "layers": [layer_json(sub, sub_bitwidths, sub_precisions) for sub in layer.layers],
    }


def profile_json(result: Analysis | ModelProfile) -> dict[str, Any]:
    """The summary report as a dict (see the README for the schema)."""
    analysis = result if isinstance(result, Analysis) else Analysis(result)
    profile = analysis.profile
    bitwidths = profile.param_bitwidths
    precisions = profile.mac_precisions
    data: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "model": profile.name,
        "class_name": profile.class_name,
        "source": profile.source,
        "layers": [layer_json(layer, bitwidths, precisions) for layer in profile.layers],
        "totals": {
            "params": profile.params,
            "trainable_params": profile.trainable_params,
            "non_trainable_params": profile.non_trainable_params,
            "keras_params": profile.keras_param_count,
            "params_by_bitwidth": _keyed(profile.params_by_bitwidth()),
            "memory_bits": profile.memory_bits,
            "int8_fp_weights_memory_bits": profile.int8_fp_weights_memory_bits,
            "fp32_equivalent_memory_bits": profile.fp32_equivalent_memory_bits,
            "compression_ratio": profile.compression_ratio,
            "macs": profile.mac_count(),
            "macs_by_precision": _keyed(profile.macs_by_precision()),
            "binarized_mac_ratio": profile.binarized_mac_ratio,
            "ternarized_mac_ratio": profile.ternarized_mac_ratio,
            "extensions": {
                "compression_factor": profile.compression_factor,
                "macs": profile.ext_mac_count(),
                "macs_by_precision": _keyed(
                    {p: profile.ext_mac_count(p) for p in profile.ext_mac_precisions}
                ),
                "bops": profile.ext_bops,
                "activation_memory_bits": profile.ext_activation_memory_bits,
                "peak_layer_activation_bits": profile.ext_peak_layer_activation_bits,
            },
        },
        "notes": list(profile.notes),
    }
    if analysis.deployment is not None:
        data["deployment"] = deployment_json(analysis.deployment)
    return data


def deployment_json(deployment: Deployment) -> dict[str, Any]:
    return {
        "target": deployment.target,
        "convertible": deployment.convertible,
        "problems": list(deployment.problems),
        "total_bytes": deployment.total_bytes,
        "accelerated_binary_mac_ratio": deployment.accelerated_binary_mac_ratio,
        "layers": [layer_deployment_json(layer) for layer in deployment.layers],
    }


def layer_deployment_json(layer: LayerDeployment) -> dict[str, Any]:
    return {
        "name": layer.name,
        "bytes": layer.bytes,
        "stored_as": layer.stored_as,
        "accelerated": layer.accelerated,
        "note": layer.note,
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "severity": finding.severity,
        "layer": finding.layer,
        "message": finding.message,
        "hint": finding.hint,
    }


def budget_json(check: BudgetCheck) -> dict[str, Any]:
    return {
        "name": check.name,
        "limit": check.limit,
        "actual": check.actual,
        "passed": check.passed,
    }


def audit_json(result: AuditResult) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "budgets": [budget_json(b) for b in result.budgets],
        "findings": [finding_json(f) for f in result.findings],
    }


def layer_flips_json(flips: LayerFlips) -> dict[str, Any]:
    return {"layer": flips.layer, "flipped": flips.flipped, "total": flips.total,
            "ratio": flips.ratio}  # fmt: skip


def checkpoint_flips_json(result: CheckpointFlips) -> dict[str, Any]:
    total = result.total
    return {
        "kind": "checkpoints",
        "before": result.before,
        "after": result.after,
        "layers": [layer_flips_json(x) for x in result.layers],
        "flipped": total.flipped,
        "total": total.total,
        "ratio": total.ratio,
    }


def checkpoint_series_json(result: CheckpointSeries) -> dict[str, Any]:
    return {
        "kind": "checkpoint_series",
        "checkpoints": list(result.checkpoints),
        "layers": list(result.layers),
        "pairs": [
            {"position": position, **checkpoint_flips_json(pair)}
            for position, pair in zip(result.positions, result.pairs, strict=True)
        ],
    }


def log_flips_json(result: LogFlips) -> dict[str, Any]:
    return {
        "kind": "log",
        "source": result.source,
        "layers": list(result.layers),
        "runs": result.runs,
        "sub_epoch": result.sub_epoch,
        "epochs": [
            {
                "run": e.run,
                "epoch": e.epoch,
                "records": e.records,
                "layers": [layer_flips_json(x) for x in e.layers],
                "flipped": e.total.flipped,
                "total": e.total.total,
                "ratio": e.total.ratio,
            }
            for e in result.epochs
        ],
    }


def thresholds_json(layer: LayerThresholds) -> dict[str, Any]:
    return {
        "layer": layer.layer,
        "total": layer.total,
        "quantiles": dict(layer.quantiles),
        "at_or_above_threshold": layer.at_or_above,
        "share_at_or_above_threshold": layer.at_or_above / layer.total if layer.total else 0.0,
    }


def bop_state_json(result: BopState) -> dict[str, Any]:
    return {
        "kind": "bop_state",
        "source": result.source,
        "threshold": result.threshold,
        "layers": [thresholds_json(x) for x in result.layers],
    }


def model_totals_json(totals: ModelTotals) -> dict[str, Any]:
    return {
        "source": totals.source,
        "model": totals.name,
        "params": totals.params,
        "params_by_bitwidth": _keyed(dict(totals.params_by_bitwidth)),
        "memory_bits": totals.memory_bits,
        "macs": totals.macs,
        "macs_by_precision": _keyed(dict(totals.macs_by_precision)),
        "binarized_mac_ratio": totals.binarized_mac_ratio,
        "bops": totals.bops,
        "target": totals.target,
        "deployed_bytes": totals.deployed_bytes,
    }


def comparison_json(models: Sequence[ModelTotals]) -> dict[str, Any]:
    """`summary --compare`: every model's totals, in the given order."""
    return {"kind": "comparison", "models": [model_totals_json(m) for m in models]}


def _layer_facts_json(side: LayerFacts | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {
        "name": side.name,
        "class_name": side.class_name,
        "weight_bits": list(side.weight_bits),
        "input_bits": side.input_bits,
        "params": side.params,
        "memory_bits": side.memory_bits,
        "macs": side.macs,
        "deployed_bytes": side.deployed_bytes,
    }


def model_diff_json(result: ModelDiff) -> dict[str, Any]:
    return {
        "kind": "diff",
        "before": model_totals_json(result.before),
        "after": model_totals_json(result.after),
        "grew": result.grew,
        "counts": {s: result.count(s) for s in ("added", "removed", "changed", "same")},
        "layers": [
            {
                "status": change.status,
                "changes": list(change.changes),
                "before": _layer_facts_json(change.before),
                "after": _layer_facts_json(change.after),
            }
            for change in result.layers
        ],
    }


_WRITERS: tuple[tuple[type, Any], ...] = (
    (Analysis, profile_json),
    (ModelProfile, profile_json),
    (Deployment, deployment_json),
    (LayerDeployment, layer_deployment_json),
    (Finding, finding_json),
    (BudgetCheck, budget_json),
    (AuditResult, audit_json),
    (LayerFlips, layer_flips_json),
    (CheckpointFlips, checkpoint_flips_json),
    (LogFlips, log_flips_json),
    (CheckpointSeries, checkpoint_series_json),
    (ModelTotals, model_totals_json),
    (ModelDiff, model_diff_json),
    (LayerThresholds, thresholds_json),
    (BopState, bop_state_json),
)


def to_json(result: Any) -> dict[str, Any]:
    """The JSON-ready dict of an inspector result (see the module docstring)."""
    for kind, writer in _WRITERS:
        if isinstance(result, kind):
            return writer(result)
    raise TypeError(f"no JSON form for {type(result).__name__}")


def dumps(result: Any) -> str:
    """`to_json(result)` as indented JSON text."""
    return json.dumps(to_json(result), indent=2)
