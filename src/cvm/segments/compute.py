"""Segment columns derived from the attribute base, in SQL for the whole base or in-process for one customer.

Derived columns:

- ``stage``: the first life-cycle stage (in configured order) whose condition
  holds, else ``fallback_stage`` (``active``);
- ``value_risk``: the value × risk matrix cell, ``"<value grade>/<risk grade>"``;
- ``seg_<name>``: ``vip`` and every named segment.

A derived column may read another one (``seg_vip and stage = 'at_risk'``): the
definitions are inlined into each other on the expression tree, in dependency
order, so a cycle is refused. SQL and Python then evaluate the same tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from graphlib import CycleError, TopologicalSorter
from typing import Any

from sqlglot import exp

from cvm.config.plan_checks import attribute_catalog
from cvm.config.plans import SegmentsConfig
from cvm.errors import BadValueError
from cvm.rules import compile_rule
from cvm.rules.pyeval import Fn, compile_python
from cvm.rules.sql import to_sql_tree


def _inline(tree: exp.Expression, resolved: Mapping[str, exp.Expression]) -> exp.Expression:
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name in resolved:
            return exp.Paren(this=resolved[node.name].copy())
        return node

    return tree.copy().transform(swap)


def _flag(tree: exp.Expression) -> exp.Expression:
    """A segment flag is never NULL: a condition that is unknown means "not in the segment"."""
    return exp.Coalesce(this=exp.Paren(this=tree), expressions=[exp.false()])


@dataclass(frozen=True)
class SegmentModel:
    """The derived columns of a segments configuration, as inlined expression trees."""

    config: SegmentsConfig

    def _raw(self) -> dict[str, exp.Expression]:
        cat = attribute_catalog(self.config)
        cfg = self.config
        ifs = [
            exp.If(this=compile_rule(text, cat, "bool").expression.tree, true=exp.Literal.string(name))
            for name, text in cfg.lifecycle.items()
        ]
        raw: dict[str, exp.Expression] = {
            "stage": exp.Case(ifs=ifs, default=exp.Literal.string(cfg.fallback_stage)),
            "value_risk": exp.DPipe(
                this=exp.DPipe(this=exp.column(cfg.value_column), expression=exp.Literal.string("/")),
                expression=exp.column(cfg.risk_column),
            ),
            "seg_vip": _flag(compile_rule(cfg.vip, cat, "bool").expression.tree),
        }
        for name, seg in cfg.definitions.items():
            raw[f"seg_{name}"] = _flag(compile_rule(seg.when, cat, "bool").expression.tree)
        return raw

    @cached_property
    def trees(self) -> dict[str, exp.Expression]:
        """Each derived column's tree with the derived columns it reads inlined, in dependency order."""
        raw = self._raw()
        deps = {name: {c.name for c in tree.find_all(exp.Column)} & set(raw) for name, tree in raw.items()}
        try:
            order = list(TopologicalSorter(deps).static_order())
        except CycleError as exc:
            raise BadValueError(f"segments refer to each other in a cycle: {' -> '.join(exc.args[1])}") from None
        resolved: dict[str, exp.Expression] = {}
        for name in order:
            resolved[name] = _inline(raw[name], resolved)
        return {name: resolved[name] for name in raw}

    @cached_property
    def functions(self) -> dict[str, Fn]:
        return {name: compile_python(tree) for name, tree in self.trees.items()}

    @property
    def columns(self) -> list[str]:
        return list(self.trees)

    def select(self, source: str = "attrs") -> str:
        """SQL: every base column plus the derived ones, from the table ``source``."""
        query = exp.select(exp.Star()).from_(exp.to_identifier(source, quoted=True))
        for name, tree in self.trees.items():
            query = query.select(exp.alias_(to_sql_tree(tree), name, quoted=True))
        return query.sql(dialect="duckdb")

    def evaluate(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """The derived columns of one customer, in-process (same results as :meth:`select`)."""
        return {name: fn(attributes) for name, fn in self.functions.items()}

    def memberships(self, row: Mapping[str, Any]) -> list[str]:
        """Segment names of one customer as stored in ``segment_membership``."""
        names = [f"stage:{row['stage']}"]
        if row.get("value_risk") is not None:
            names.append(f"value_risk:{row['value_risk']}")
        names += [c[len("seg_") :] for c in self.columns if c.startswith("seg_") and row.get(c) is True]
        return names
