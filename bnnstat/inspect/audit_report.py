"""Render an audit result as text (its JSON form is written by `bnnstat.inspect.serialize`)."""

from __future__ import annotations

from bnnstat.inspect.audit import AuditResult
from bnnstat.utils import memory_as_readable_str


def _format_budget_value(name: str, value: float) -> str:
    if name in ("max_memory", "max_deployed_size"):
        return memory_as_readable_str(int(round(value * 8)))
    if name == "min_binarized_macs":
        return f"{value:.4f}"
    return f"{int(value):,}"


def render_text(result: AuditResult, source: str) -> str:
    """A human-readable audit report: budgets, findings with hints, and the verdict."""
    lines = [f"audit of {source}"]
    if result.budgets:
        lines.append("budgets:")
        for check in result.budgets:
            relation = ">=" if check.name.startswith("min_") else "<="
            status = "PASS" if check.passed else "FAIL"
            lines.append(
                f"  {status}  {check.name:<19} {_format_budget_value(check.name, check.actual)} "
                f"(limit {relation} {_format_budget_value(check.name, check.limit)})"
            )
    if result.findings:
        lines.append("findings:")
        for finding in result.findings:
            where = f"[{finding.layer}] " if finding.layer else ""
            lines.append(f"  {finding.code} {finding.severity:<7} {where}{finding.message}")
            lines.append(f"         hint: {finding.hint}")
    else:
        lines.append("findings: none")
    broken = sum(not b.passed for b in result.budgets)
    counts = {
        s: sum(f.severity == s for f in result.findings) for s in ("error", "warning", "info")
    }
    verdict = "PASSED" if result.passed else "FAILED"
    lines.append(
        f"result: {verdict} ({broken} budget(s) broken, {counts['error']} error(s), "
        f"{counts['warning']} warning(s), {counts['info']} info)"
    )
    return "\n".join(lines)
