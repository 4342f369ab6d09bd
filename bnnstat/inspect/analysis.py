"""The inspector's pipeline: a `ModelRecord` in, an `Analysis` out, each stage run once.

    record --profile.profile--> ModelProfile
    record + profile --lce.predict--> Deployment            (with a target only)
    record (+ deployment) --audit.find_problems, lce.findings--> findings

Each stage takes the results of the earlier ones and never calls a later one. Front ends
(`bnnstat summary`/`audit`, `bnnstat.models.summary`) differ only in how they get the record
(`reader.read` for files, `keras_adapter.record` for live models) and in how they render.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bnnstat.errors import BnnstatError
from bnnstat.inspect import audit, lce
from bnnstat.inspect.deployment import Deployment
from bnnstat.inspect.findings import Finding
from bnnstat.inspect.profile import ModelProfile, profile
from bnnstat.inspect.records import ModelRecord

TARGETS = ("lce",)


@dataclass(frozen=True)
class Analysis:
    """Everything the inspector derives from one model.

    `profile`: Larq's numbers and bnnstat's extensions. `deployment`: the predicted deployed
    model for a target (None without one). `findings`: the BNN best-practice findings, then the
    target's (e.g. LCE001...), in that order. `record`: the model record analysed.
    """

    profile: ModelProfile
    deployment: Deployment | None = None
    findings: tuple[Finding, ...] = ()
    record: ModelRecord | None = field(default=None, repr=False, compare=False)


def check_target(target: str | None) -> None:
    """Raise `BnnstatError` for a target the inspector cannot predict."""
    if target is not None and target not in TARGETS:
        raise BnnstatError(f"unknown target {target!r}: the supported target is 'lce'")


def analyze(record: ModelRecord, target: str | None = None) -> Analysis:
    """Profile `record`; with ``target="lce"`` also predict its LCE deployment and findings."""
    check_target(target)
    model_profile = profile(record)
    deployment = lce.predict(record, model_profile) if target == "lce" else None
    findings = list(audit.find_problems(record))
    if deployment is not None:
        findings += lce.findings(record, deployment)
    return Analysis(model_profile, deployment, tuple(findings), record)
