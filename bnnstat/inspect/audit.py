"""Pre-deployment audit: size budgets and BNN best-practice findings over a `ModelRecord`.

Everything here is pure Python over records and profile totals (no TensorFlow). The rules follow
the Larq guide "Building BNNs" (keep the first and last layers in high precision, a
BatchNormalization after every binarized layer, max-pooling before that BatchNorm, binarize
inputs with an ``input_quantizer`` rather than an activation, ...). Each rule has a stable code
(see `RULES`), so users can ``--ignore`` it and CI configurations keep working across releases.

Definitions used by the rules:

- a *compute layer* has a kernel-like weight (``kernel``, ``depthwise_kernel``,
  ``pointwise_kernel``); its *kernel precision* is the smallest bit width among those weights
  (the weight's precision tag, else its quantizer's precision, else 32);
- a layer is *binary* when its kernel precision is 1; its inputs are binary when its
  ``input_precision`` is 1;
- a *sign* quantizer maps to {-1, +1} (``ste_sign``, ``approx_sign``, ``swish_sign``,
  ``magnitude_aware_sign``, ``NoOp(precision=1)`` for Bop-trained kernels, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bnnstat.errors import BnnstatError
from bnnstat.inspect import catalog
from bnnstat.inspect.deployment import Deployment
from bnnstat.inspect.findings import Finding
from bnnstat.inspect.profile import ModelProfile
from bnnstat.inspect.records import LayerRecord, ModelRecord, QuantizerRecord


@dataclass(frozen=True)
class Rule:
    """A documented audit rule: its stable code, default severity and one-line title."""

    code: str
    severity: str
    title: str


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("BNN001", "warning", "first compute layer is binarized (weights or inputs)"),
        Rule("BNN002", "warning", "last compute layer is binarized (weights or inputs)"),
        Rule("BNN003", "error", "binary layer not followed by BatchNormalization"),
        Rule("BNN004", "warning", "max-pooling after the BatchNormalization of a binary layer"),
        Rule("BNN005", "warning", "binary kernel without an input quantizer (no XNOR/popcount)"),
        Rule("BNN006", "warning", "input quantizer on a full-precision kernel"),
        Rule("BNN007", "error", "quantizer used as activation feeds BN/pooling/a shortcut"),
        Rule("BNN008", "info", "binary QuantDense (no binary fully-connected kernel in runtimes)"),
        Rule("BNN009", "warning", "binary transposed convolution (not accelerated)"),
        Rule("BNN010", "warning", "non-sign quantizer where a binary (+-1) one is expected"),
        Rule("BNN011", "warning", "binary kernel without a weight constraint (starved weights)"),
    )
}

# Model-level findings (no layer to point at), kept apart from the per-layer rules above.
MODEL_RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (Rule("BNN012", "info", "no quantized layer at all (nothing is binarized)"),)
}
FAIL_LEVELS = ("error", "warning", "info")

LayerTest = Callable[[LayerRecord], bool]


def _family(layer: LayerRecord) -> str | None:
    return catalog.family(layer.class_name)


def is_batch_norm(layer: LayerRecord) -> bool:
    return _family(layer) == "batch_norm"


def is_merge(layer: LayerRecord) -> bool:
    return _family(layer) == "merge"


def is_pooling(layer: LayerRecord) -> bool:
    kind = catalog.layer_kind(layer.class_name)
    return kind is not None and kind.pool is not None


def is_max_pooling(layer: LayerRecord) -> bool:
    kind = catalog.layer_kind(layer.class_name)
    return kind is not None and kind.pool == "max"


def passes_through(layer: LayerRecord) -> bool:
    """Passes values on without mixing channels: looked through when searching what a layer's
    output really feeds."""
    kind = catalog.layer_kind(layer.class_name)
    return kind is not None and kind.passes_through


# ---------------------------------------------------------------------------------------------
# Budgets


@dataclass(frozen=True)
class Budgets:
    """Limits checked by `audit`; None means "not checked".

    - `max_memory`: bytes of weight memory (Larq's memory: sum of count x bit width / 8);
    - `min_binarized_macs`: smallest allowed ratio of 1-bit MACs to all MACs (0..1);
    - `max_fp_params`: most parameters allowed at 32 bits (untagged, full precision);
    - `max_deployed_size`: bytes of the predicted deployed file (needs a `Deployment`).
    """

    max_memory: int | None = None
    min_binarized_macs: float | None = None
    max_fp_params: int | None = None
    max_deployed_size: int | None = None

    def any(self) -> bool:
        return any(
            value is not None
            for value in (
                self.max_memory,
                self.min_binarized_macs,
                self.max_fp_params,
                self.max_deployed_size,
            )
        )


@dataclass(frozen=True)
class BudgetCheck:
    """One budget: its name, limit, the model's actual value and whether it holds."""

    name: str
    limit: float
    actual: float
    passed: bool


@dataclass(frozen=True)
class AuditResult:
    """Budgets checked and findings kept (ignored codes already removed)."""

    budgets: tuple[BudgetCheck, ...] = ()
    findings: tuple[Finding, ...] = ()
    ignored: tuple[str, ...] = field(default=())
    fail_on: str = "error"

    @property
    def passed(self) -> bool:
        """All budgets hold and no finding at or above the `fail_on` severity remains
        (severities rank info < warning < error)."""
        failing = FAIL_LEVELS[: FAIL_LEVELS.index(self.fail_on) + 1]
        return all(b.passed for b in self.budgets) and not any(
            f.severity in failing for f in self.findings
        )


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "kB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}


def parse_size(text: str) -> int:
    """Parse a size such as ``2MiB``, ``500KiB``, ``1.5MB`` or ``1200`` (bytes) into bytes.

    Binary units (KiB, MiB, GiB) are powers of 1024, decimal ones (kB/KB, MB, GB) powers of 1000.
    A number without a unit (or with ``B``) counts bytes and must be whole: ``1.5`` is refused
    rather than silently becoming 1 byte. With a larger unit, a fractional byte count is rounded
    down. Anything else raises `BnnstatError`.
    """
    match = _SIZE.match(text)
    if not match or match.group(2) not in _SIZE_UNITS:
        units = ", ".join(u for u in _SIZE_UNITS if u)
        raise BnnstatError(
            f"invalid size {text!r}: expected a number with an optional unit ({units}), "
            "e.g. 2MiB or 500KiB"
        )
    number, unit = match.groups()
    if _SIZE_UNITS[unit] == 1 and "." in number:
        raise BnnstatError(
            f"invalid size {text!r}: a size in bytes (no unit, or B) must be a whole number; "
            "use a unit for fractions, e.g. 1.5KiB"
        )
    return int(float(number) * _SIZE_UNITS[unit])


def parse_ratio(text: str) -> float:
    """Parse a ratio between 0 and 1 (``0.8``), or a percentage (``80%``)."""
    raw = text.strip()
    scale = 1.0
    if raw.endswith("%"):
        raw, scale = raw[:-1], 0.01
    try:
        value = float(raw) * scale
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise BnnstatError(f"invalid ratio {text!r}: expected a number from 0 to 1, or 0% to 100%")
    return value


@dataclass(frozen=True)
class BudgetTotals:
    """The model numbers budgets are checked against.

    `memory_bits`: Larq's weight memory; `binarized_mac_ratio`: 1-bit MACs / all MACs;
    `fp_params`: parameters counted at 32 bits.
    """

    memory_bits: int
    binarized_mac_ratio: float
    fp_params: int

    @classmethod
    def of(cls, profile: ModelProfile) -> BudgetTotals:
        return cls(profile.memory_bits, profile.binarized_mac_ratio, profile.param_count(32))

    @classmethod
    def from_json(cls, totals: Mapping[str, Any]) -> BudgetTotals:
        """From the ``totals`` object of a saved summary JSON (missing values count as 0)."""
        by_bits = totals.get("params_by_bitwidth") or {}
        return cls(
            int(totals.get("memory_bits") or 0),
            float(totals.get("binarized_mac_ratio") or 0.0),
            int(by_bits.get("32", by_bits.get(32, 0))),
        )


def check_budgets(
    budgets: Budgets, totals: BudgetTotals | None, deployed_bytes: int | None = None
) -> tuple[BudgetCheck, ...]:
    """Check `budgets` against the model's totals and, for ``max_deployed_size``, the bytes of
    its predicted deployed file."""
    checks: list[BudgetCheck] = []
    needs_totals = (budgets.max_memory, budgets.min_binarized_macs, budgets.max_fp_params)
    if totals is None and any(v is not None for v in needs_totals):
        raise ValueError("no profile totals given; cannot check the budgets")
    if budgets.max_memory is not None and totals is not None:
        actual = totals.memory_bits / 8
        checks.append(
            BudgetCheck("max_memory", budgets.max_memory, actual, actual <= budgets.max_memory)
        )
    if budgets.min_binarized_macs is not None and totals is not None:
        ratio = totals.binarized_mac_ratio
        checks.append(
            BudgetCheck(
                "min_binarized_macs",
                budgets.min_binarized_macs,
                ratio,
                ratio >= budgets.min_binarized_macs,
            )
        )
    if budgets.max_fp_params is not None and totals is not None:
        params = totals.fp_params
        checks.append(
            BudgetCheck(
                "max_fp_params", budgets.max_fp_params, params, params <= budgets.max_fp_params
            )
        )
    if budgets.max_deployed_size is not None:
        if deployed_bytes is None:
            raise BnnstatError("--max-deployed-size needs a deployment target (--target lce)")
        checks.append(
            BudgetCheck(
                "max_deployed_size",
                budgets.max_deployed_size,
                deployed_bytes,
                deployed_bytes <= budgets.max_deployed_size,
            )
        )
    return tuple(checks)


# ---------------------------------------------------------------------------------------------
# Layer facts


def kernel_arguments(layer: LayerRecord, weight: str) -> tuple[str, str]:
    """(quantizer argument, constraint argument) that govern kernel `weight` of `layer`.

    A depthwise convolution's kernel is governed by ``depthwise_quantizer`` and
    ``depthwise_constraint``, whether the weight is called ``depthwise_kernel`` (Keras 2) or
    ``kernel`` (Keras 3).
    """
    role = catalog.weight_role(layer.class_name, weight)
    if role is None or role.quantizer is None or role.constraint is None:
        raise KeyError(weight)
    return role.quantizer, role.constraint


def kernel_names(layer: LayerRecord) -> tuple[str, ...]:
    """Names of the layer's kernel-like weights (empty for layers that do no MACs)."""
    return tuple(w.name for w in layer.weights if _is_kernel(layer, w.name))


def _is_kernel(layer: LayerRecord, weight: str) -> bool:
    role = catalog.weight_role(layer.class_name, weight)
    return role is not None and role.is_kernel


def kernel_precision(layer: LayerRecord) -> int | None:
    """Smallest bit width among the layer's kernels (32 when untagged), None without kernels."""
    bits = []
    for name in kernel_names(layer):
        weight = layer.weight(name)
        precision = weight.precision if weight is not None else None
        if precision is None:
            quantizer = layer.quantizer(kernel_arguments(layer, name)[0])
            precision = quantizer.precision if quantizer is not None else None
        bits.append(32 if precision is None else precision)
    return min(bits) if bits else None


def is_compute(layer: LayerRecord) -> bool:
    return bool(kernel_names(layer)) and not layer.is_nested_model


def is_binary(layer: LayerRecord) -> bool:
    return kernel_precision(layer) == 1


def is_sign_quantizer(name: str) -> bool:
    """The quantizer maps to +-1 (or tags Bop-trained 1-bit weights), per the catalog."""
    kind = catalog.quantizer_kind(name)
    return kind is not None and kind.binary_sign


# ---------------------------------------------------------------------------------------------
# Graph helpers


def _scopes(record: ModelRecord) -> list[tuple[LayerRecord, ...]]:
    """The layer lists whose graphs are checked: the model's, then each nested model's."""
    scopes = [record.layers]
    scopes.extend(layer.layers for layer in record.walk() if layer.is_nested_model)
    return scopes


def _successors(layers: Sequence[LayerRecord], index: int) -> list[LayerRecord]:
    """Layers consuming layer `index`'s output; the next layer when the list has no edges."""
    if not any(layer.inbound for layer in layers):
        return [layers[index + 1]] if index + 1 < len(layers) else []
    name = layers[index].name
    return [layer for layer in layers if name in layer.inbound]


def _reachable(
    layers: Sequence[LayerRecord], index: int, skip: LayerTest = passes_through
) -> list[LayerRecord]:
    """First non-skipped layers on every path from layer `index` (skipping layers `skip` holds
    for)."""
    position = {layer.name: i for i, layer in enumerate(layers)}
    found: list[LayerRecord] = []
    stack = _successors(layers, index)
    seen: set[str] = set()
    while stack:
        layer = stack.pop(0)
        if layer.name in seen:
            continue
        seen.add(layer.name)
        if skip(layer):
            stack.extend(_successors(layers, position[layer.name]))
        else:
            found.append(layer)
    return found


# ---------------------------------------------------------------------------------------------
# Rules: each takes the model record and yields findings


def _finding(code: str, layer: str | None, message: str, hint: str) -> Finding:
    return Finding(code, RULES[code].severity, layer, message, hint)


def _binarized_parts(layer: LayerRecord) -> str:
    parts = []
    if is_binary(layer):
        parts.append("weights")
    if layer.input_precision == 1:
        parts.append("inputs")
    return " and ".join(parts)


def rule_first_last(record: ModelRecord) -> Iterable[Finding]:
    """BNN001/BNN002: the first and last compute layers should keep high precision."""
    compute = [layer for layer in record.walk() if is_compute(layer)]
    ends = [("BNN001", compute[0], "first")] if compute else []
    if len(compute) > 1:
        ends.append(("BNN002", compute[-1], "last"))
    for code, layer, which in ends:
        parts = _binarized_parts(layer)
        if parts:
            yield _finding(
                code,
                layer.name,
                f"{which} compute layer {layer.name!r} ({layer.class_name}) has binarized {parts}",
                f"keep the {which} layer in high precision (no kernel_quantizer and no "
                "input_quantizer): it costs accuracy and saves little",
            )


def rule_batchnorm_after_binary(record: ModelRecord) -> Iterable[Finding]:
    """BNN003: a binary layer's output should reach a BatchNormalization (pooling in between is
    fine). BNN004: a max-pooling directly after that BatchNorm (the guide recommends
    conv -> max-pool -> BN, since max-pooling binarization-bound values skews them)."""
    for layers in _scopes(record):
        position = {layer.name: i for i, layer in enumerate(layers)}
        for index, layer in enumerate(layers):
            if not (is_compute(layer) and is_binary(layer)):
                continue
            targets = _reachable(layers, index, lambda t: passes_through(t) or is_pooling(t))
            if not targets:
                continue  # the model's output: BNN002 covers a binarized last layer
            missing = [t for t in targets if not is_batch_norm(t)]
            if missing:
                yield _finding(
                    "BNN003",
                    layer.name,
                    f"binary layer {layer.name!r} feeds {missing[0].name!r} "
                    f"({missing[0].class_name}) without a BatchNormalization in between",
                    "add a BatchNormalization right after every binarized layer "
                    "(max-pooling may sit between them)",
                )
            for norm in targets:
                if not is_batch_norm(norm):
                    continue
                after = _reachable(layers, position[norm.name])
                pools = [p for p in after if is_max_pooling(p)]
                if pools:
                    yield _finding(
                        "BNN004",
                        pools[0].name,
                        f"max-pooling {pools[0].name!r} comes after {norm.name!r}, the "
                        f"BatchNormalization of binary layer {layer.name!r}",
                        "apply max-pooling before the BatchNormalization "
                        "(binary conv -> MaxPool -> BatchNorm), as in XNOR-Net",
                    )


def rule_input_kernel_pairing(record: ModelRecord) -> Iterable[Finding]:
    """BNN005: binary kernel, no input quantizer. BNN006: input quantizer, full-precision kernel.
    BNN010: a binary layer whose kernel or input quantizer does not map to +-1."""
    compute = [layer for layer in record.walk() if is_compute(layer)]
    for layer in compute:
        kernel_bits = kernel_precision(layer)
        input_quantizer = layer.quantizer("input_quantizer")
        # the first layer sees the raw input: BNN001 already covers a binary first layer
        if kernel_bits == 1 and input_quantizer is None and layer is not compute[0]:
            yield _finding(
                "BNN005",
                layer.name,
                f"{layer.name!r} has binary weights but full-precision inputs: it saves memory "
                "but gets no XNOR/popcount speed-up",
                "add input_quantizer='ste_sign' so the layer runs as XNOR/popcount",
            )
        if input_quantizer is not None and kernel_bits == 32:
            yield _finding(
                "BNN006",
                layer.name,
                f"{layer.name!r} quantizes its inputs ({input_quantizer.name}) but keeps a "
                "full-precision kernel: no binary operations result",
                "add a kernel_quantizer (e.g. 'ste_sign') or drop the input_quantizer",
            )
        yield from _non_sign(layer, kernel_bits, input_quantizer)


def _non_sign(
    layer: LayerRecord, kernel_bits: int | None, input_quantizer: QuantizerRecord | None
) -> Iterable[Finding]:
    binary_side = kernel_bits == 1 or (
        input_quantizer is not None and input_quantizer.precision == 1
    )
    if not binary_side:
        return
    quantizers = [(arg, layer.quantizer(arg)) for arg in ("input_quantizer",)]
    quantizers += [
        (kernel_arguments(layer, name)[0], layer.quantizer(kernel_arguments(layer, name)[0]))
        for name in kernel_names(layer)
    ]
    for argument, quantizer in quantizers:
        if quantizer is None or is_sign_quantizer(quantizer.name):
            continue
        yield _finding(
            "BNN010",
            layer.name,
            f"{layer.name!r} is binary but its {argument} is {quantizer.name} "
            f"({quantizer.precision or '?'}-bit), not a +-1 sign quantizer",
            "use a sign quantizer (ste_sign, approx_sign, swish_sign, magnitude_aware_sign) for "
            "both inputs and kernel so the layer maps to XNOR/popcount",
        )


def rule_activation_quantizer(record: ModelRecord) -> Iterable[Finding]:
    """BNN007: a quantizer used as ``activation`` whose output goes through BN, pooling or a
    shortcut before the next layer: that layer's inputs are not actually binary."""
    for layers in _scopes(record):
        for index, layer in enumerate(layers):
            quantizer = layer.quantizer("activation")
            if quantizer is None:
                continue
            broken = [
                t
                for t in _reachable(layers, index)
                if is_batch_norm(t) or is_merge(t) or is_pooling(t)
            ]
            if broken:
                yield _finding(
                    "BNN007",
                    layer.name,
                    f"{layer.name!r} binarizes its output with activation={quantizer.name}, but "
                    f"it passes through {broken[0].name!r} ({broken[0].class_name}), so the next "
                    "layer's inputs are not binary",
                    "remove the activation and set input_quantizer on the layer that consumes "
                    "the values",
                )


def rule_unaccelerated(record: ModelRecord) -> Iterable[Finding]:
    """BNN008: binary QuantDense. BNN009: binary transposed convolution."""
    for layer in record.walk():
        if not (is_compute(layer) and is_binary(layer)):
            continue
        if _family(layer) == "dense" and catalog.is_quantized(layer.class_name):
            yield _finding(
                "BNN008",
                layer.name,
                f"binary QuantDense {layer.name!r}: common BNN runtimes (e.g. Larq Compute "
                "Engine) have no binary fully-connected kernel",
                "use a 1x1 binary QuantConv2D instead, or keep this layer in full precision",
            )
        if _family(layer) == "transpose":
            yield _finding(
                "BNN009",
                layer.name,
                f"binary transposed convolution {layer.name!r} ({layer.class_name}) is not "
                "accelerated by common BNN runtimes",
                "use upsampling followed by a binary QuantConv2D, or keep it in full precision",
            )


def rule_weight_constraint(record: ModelRecord) -> Iterable[Finding]:
    """BNN011: binary latent weights without a constraint grow without bound; once far from 0,
    a straight-through-estimator gradient (cancelled for |w| > 1) can no longer flip them."""
    for layer in record.walk():
        if not is_compute(layer):
            continue
        for name in kernel_names(layer):
            quantizer_arg, constraint_arg = kernel_arguments(layer, name)
            quantizer = layer.quantizer(quantizer_arg)
            weight = layer.weight(name)
            bits = weight.precision if weight is not None else None
            if bits is None and quantizer is not None:
                bits = quantizer.precision
            kind = catalog.quantizer_kind(quantizer.name) if quantizer is not None else None
            if bits != 1 or (kind is not None and kind.tags_only):
                continue  # NoOp kernels are trained by Bop: no latent weights to constrain
            if layer.config.get(constraint_arg) in (None, "", {}):
                yield _finding(
                    "BNN011",
                    layer.name,
                    f"binary {name} of {layer.name!r} has no {constraint_arg}: latent weights "
                    "can drift beyond the clipping range and stop flipping",
                    f"set {constraint_arg}='weight_clip' (or train with Bop and a NoOp quantizer)",
                )


RULE_FUNCTIONS = (
    rule_first_last,
    rule_batchnorm_after_binary,
    rule_input_kernel_pairing,
    rule_activation_quantizer,
    rule_unaccelerated,
    rule_weight_constraint,
)


def is_quantized(layer: LayerRecord) -> bool:
    """True when any weight, input or quantizer of `layer` has a precision below 32 bits."""
    precisions = [w.precision for w in layer.weights]
    precisions += [layer.input_precision, *(q.precision for q in layer.quantizers.values())]
    return any(p is not None and p < 32 for p in precisions)


def rule_no_quantized_layer(record: ModelRecord) -> Iterable[Finding]:
    """BNN012: not one layer quantizes anything, so a BNN audit has nothing to check."""
    if not any(is_quantized(layer) for layer in record.walk()):
        rule = MODEL_RULES["BNN012"]
        yield Finding(
            rule.code,
            rule.severity,
            None,
            f"model {record.name!r} has no quantized layer: every weight and input is "
            "full precision, so the BNN checks found nothing to check",
            "use Quant* layers with input/kernel quantizers (e.g. ste_sign), or audit the "
            "intended file",
        )


def find_problems(record: ModelRecord) -> list[Finding]:
    """Every best-practice finding for `record`, ordered by code then model order."""
    order = {layer.name: i for i, layer in enumerate(record.walk())}
    findings: list[Finding] = []
    for rule in (*RULE_FUNCTIONS, rule_no_quantized_layer):
        for finding in rule(record):
            if finding not in findings:
                findings.append(finding)
    return sorted(findings, key=lambda f: (f.code, order.get(f.layer or "", -1)))


def audit(
    record: ModelRecord,
    profile: ModelProfile | Mapping[str, Any] | None = None,
    budgets: Budgets | None = None,
    ignore: Iterable[str] = (),
    deployment: Deployment | None = None,
    extra_findings: Iterable[Finding] = (),
    fail_on: str = "error",
) -> AuditResult:
    """Audit a model: budgets checked against its profile, best-practice findings on its record.

    `profile` is a `ModelProfile` (or the JSON of a saved summary), or None when no budget
    other than the deployed size is checked. `deployment` supplies ``total_bytes`` for
    ``max_deployed_size``; `extra_findings` (e.g. LCE rules) are merged in. Codes in `ignore`
    are dropped (unknown codes raise `BnnstatError`). The audit fails on a broken budget or on
    a finding at or above `fail_on` (``"error"``, ``"warning"``, ``"info"``).
    """
    findings = [*find_problems(record), *extra_findings]
    return verdict(findings, profile, budgets, ignore, deployment, fail_on)


def verdict(
    findings: Iterable[Finding],
    profile: ModelProfile | Mapping[str, Any] | None = None,
    budgets: Budgets | None = None,
    ignore: Iterable[str] = (),
    deployment: Deployment | None = None,
    fail_on: str = "error",
) -> AuditResult:
    """Budgets checked and `findings` kept (less the `ignore`d codes): the audit's result,
    failing on a broken budget or a kept finding at or above `fail_on`."""
    if fail_on not in FAIL_LEVELS:
        raise BnnstatError(f"unknown severity {fail_on!r} for fail_on; use one of {FAIL_LEVELS}")
    findings = list(findings)
    ignored = normalise_codes(ignore, known=extra_codes(findings))
    budgets = budgets or Budgets()
    totals = _totals(profile) if budgets.any() else None
    deployed = deployment.total_bytes if deployment is not None else None
    checks = check_budgets(budgets, totals, deployed)
    kept = tuple(f for f in findings if f.code not in ignored)
    return AuditResult(
        budgets=checks, findings=kept, ignored=tuple(sorted(ignored)), fail_on=fail_on
    )


def extra_codes(findings: Iterable[Finding]) -> set[str]:
    return {f.code for f in findings}


def normalise_codes(codes: Iterable[str], known: Iterable[str] = ()) -> set[str]:
    """Upper-case and validate `--ignore` codes: our BNN codes, LCE codes, or codes in `known`."""
    result = set()
    known_codes = set(known)
    for raw in codes:
        for code in (part.strip().upper() for part in raw.split(",")):
            if not code:
                continue
            is_lce = re.fullmatch(r"LCE\d{3}", code) is not None
            known_here = code in RULES or code in MODEL_RULES or code in known_codes
            if not known_here and not is_lce:
                raise BnnstatError(
                    f"unknown audit code {raw!r} for --ignore; known codes: "
                    + ", ".join(sorted({*RULES, *MODEL_RULES}))
                )
            result.add(code)
    return result


def _totals(profile: ModelProfile | Mapping[str, Any] | None) -> BudgetTotals | None:
    if profile is None:
        return None
    if isinstance(profile, Mapping):
        return BudgetTotals.from_json(profile.get("totals", profile))
    return BudgetTotals.of(profile)
