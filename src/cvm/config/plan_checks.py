"""Checks across the segments and plans sections: the attribute catalogue, unknown columns, cycles.

Run by the settings tree after both sections validated, so that an expression
naming an unknown column (or a segment flag that is not defined) is refused at
load with its key path, line, column and the list of known names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from cvm.config import plan_defaults as defaults
from cvm.config.plans import PlansConfig, SegmentsConfig
from cvm.rules import ExpressionError, Kind, compile_rule


# -- the attribute catalogue ---------------------------------------------------------------------
def attribute_catalog(segments: SegmentsConfig, extra: Mapping[str, Kind] | None = None) -> dict[str, Kind]:
    """Every column an expression may name: profile, derived attributes, scores, segments."""
    cat: dict[str, Kind] = dict(defaults.BASE_ATTRIBUTES)
    for score in segments.scores:
        cat[score] = "number"
        cat[f"{score}_grade"] = "string"
    cat.update(segments.columns)
    cat.update({"stage": "string", "value_risk": "string"})
    cat.update({f"seg_{name}": "bool" for name in segments.segment_names})
    cat.update(extra or {})
    return cat


def expressions(segments: SegmentsConfig, plans: PlansConfig) -> Iterator[tuple[str, str, Kind]]:
    """``(key path, text, kind)`` of every customer-level expression in the two sections."""
    for name, text in segments.lifecycle.items():
        yield f"segments.lifecycle.{name}", text, "bool"
    yield "segments.vip", segments.vip, "bool"
    for name, seg in segments.definitions.items():
        yield f"segments.definitions.{name}.when", seg.when, "bool"
    for name, rule in plans.policy.suppress.items():
        yield f"plans.policy.suppress.{name}.when", rule.when, "bool"
    for name, plan in plans.definitions.items():
        path = f"plans.definitions.{name}"
        for key in ("entry", "exit"):
            if getattr(plan, key):
                yield f"{path}.{key}", getattr(plan, key), "bool"
        condition = plan.trigger.condition()
        if condition:
            yield f"{path}.trigger", condition, "bool"
        for i, step in enumerate(plan.steps):
            if step.eligibility:
                yield f"{path}.steps.{i}.eligibility", step.eligibility, "bool"
            for key in ("propensity", "value", "margin"):
                yield f"{path}.steps.{i}.{key}", getattr(step, key), "number"
    for event, text in plans.uplift.values.model_dump().items():
        if text is not None:
            yield f"plans.uplift.values.{event}", text, "number"


def _cycles(segments: SegmentsConfig, catalog: Mapping[str, Kind]) -> list[str]:
    """Derived columns (stage, segment flags) that read each other in a circle."""
    from graphlib import CycleError, TopologicalSorter

    texts = {"stage": list(segments.lifecycle.values()), "seg_vip": [segments.vip]}
    texts.update({f"seg_{n}": [d.when] for n, d in segments.definitions.items()})
    deps: dict[str, set[str]] = {}
    for name, items in texts.items():
        cols: set[str] = set()
        for text in items:
            try:
                cols |= compile_rule(text, catalog).columns
            except ExpressionError:
                continue
        deps[name] = cols & set(texts)
    try:
        tuple(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        return [f"segments: definitions read each other in a cycle: {' -> '.join(exc.args[1])}"]
    return []


def check_columns(segments: SegmentsConfig, plans: PlansConfig, extra: Mapping[str, Kind] | None = None) -> None:
    """Refuse an expression naming an unknown column or mixing kinds; the message names the key path."""
    catalog = attribute_catalog(segments, extra)
    problems = []
    for path, text, kind in expressions(segments, plans):
        try:
            compile_rule(text, catalog, kind)
        except ExpressionError as exc:
            problems.append(f"{path}: {exc}")
    for field_name in ("value_column", "risk_column"):
        column = getattr(segments, field_name)
        if catalog.get(column) != "string":
            problems.append(f"segments.{field_name}: {column!r} is not a known grade column")
    problems += _cycles(segments, catalog)
    if segments.fallback_stage in segments.lifecycle:
        problems.append(f"segments.fallback_stage: {segments.fallback_stage!r} also has a condition in lifecycle")
    if problems:
        raise ValueError("\n".join(problems))
