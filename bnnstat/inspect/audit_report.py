"""Render an audit result as text (its JSON form is written by `bnnstat.inspect.serialize`)."""

from __future__ import annotations

from bnnstat.inspect.audit import AuditResult, BudgetCheck
from bnnstat.utils import memory_as_readable_str


def _format_budget_value(name: str, value: float, exact: bool = False) -> str:
    """A budget's limit or actual value; `exact` adds the digits a rounded form hides."""
    if name in ("max_memory", "max_deployed_size"):
        readable = memory_as_readable_str(int(round(value * 8)))
        if not exact or readable.endswith(" B"):
            return readable
        return f"{readable} = {value:,.{0 if float(value).is_integer() else 3}f} B"
    if name == "min_binarized_macs":
        return repr(float(value)) if exact else f"{value:.4f}"
    return f"{int(value):,}"


def format_budget(check: BudgetCheck) -> tuple[str, str]:
    """(actual, limit) as text, with more digits when the short forms of two different values
    would read the same (a failing 13,508-byte model against a 13,506-byte limit)."""
    actual = _format_budget_value(check.name, check.actual)
    limit = _format_budget_value(check.name, check.limit)
    if actual == limit and check.actual != check.limit:
        actual = _format_budget_value(check.name, check.actual, exact=True)
        limit = _format_budget_value(check.name, check.limit, exact=True)
    return actual, limit


def render_text(result: AuditResult, source: str) -> str:
    """A human-readable audit report: budgets, findings with hints, and the verdict."""
    lines = [f"audit of {source}"]
    if result.budgets:
        lines.append("budgets:")
        for check in result.budgets:
            relation = ">=" if check.name.startswith("min_") else "<="
            status = "PASS" if check.passed else "FAIL"
            actual, limit = format_budget(check)
            lines.append(f"  {status}  {check.name:<19} {actual} (limit {relation} {limit})")
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
    strict = "" if result.fail_on == "error" else f"; failing on {result.fail_on} and above"
    lines.append(
        f"result: {verdict} ({broken} budget(s) broken, {counts['error']} error(s), "
        f"{counts['warning']} warning(s), {counts['info']} info{strict})"
    )
    return "\n".join(lines)
