"""Acceptance rules as versioned data: load a rules file, judge joints against it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..tomlio import read_toml

RULES_FILE = Path(__file__).with_name("rules.toml")
METRICS = ("void_fraction", "largest_void_fraction", "edge_void_fraction", "void_count",
           "void_max_diameter_um", "crack_fraction", "crack_length_um")


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    max: float
    components: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]
    path: str

    def for_component(self, component: str | None) -> list[Rule]:
        """The rules that apply to ``component``: specific ones replace "*" ones for the same metric."""
        specific = {r.metric: r for r in self.rules if component in r.components}
        generic = {r.metric: r for r in self.rules if "*" in r.components}
        return list({**generic, **specific}.values())

    def judge(self, component: str | None, metrics: dict) -> tuple[str, str, str]:
        """(verdict, failed rules, rules not checked).

        Verdict "fail" if any checked rule fails, "pass" if all checked rules pass,
        "unchecked" if no rule could be checked. A joint without a cross-section has
        no crack metrics: its crack rules are listed as not checked, not failed.
        """
        failed, unchecked, checked = [], [], 0
        for rule in self.for_component(component):
            value = metrics.get(rule.metric)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                unchecked.append(rule.name)
                continue
            checked += 1
            if value > rule.max:
                failed.append(f"{rule.name} ({rule.metric} {value:.3g} > {rule.max:g})")
        verdict = "fail" if failed else "pass" if checked else "unchecked"
        return verdict, "; ".join(failed), "; ".join(unchecked)


def load_rules(path: Path | None = None) -> RuleSet:
    path = Path(path or RULES_FILE)
    data = read_toml(path, "rules file")
    rules = []
    for k, table in enumerate(data.get("rule", []), start=1):
        where = f"{path} rule {k}"
        missing = {"name", "metric", "max", "source"} - set(table)
        if missing:
            raise UsageError(f"{where}: missing key(s) {', '.join(sorted(missing))}")
        if table["metric"] not in METRICS:
            raise UsageError(f"{where}: unknown metric {table['metric']!r}; use one of {', '.join(METRICS)}")
        if isinstance(table["max"], bool) or not isinstance(table["max"], (int, float)):
            raise UsageError(f"{where}: max must be a number (got {table['max']!r})")
        rules.append(Rule(str(table["name"]), table["metric"], float(table["max"]),
                          tuple(table.get("components", ["*"])), str(table["source"])))
    if not rules:
        raise UsageError(f"{path}: no [[rule]] tables")
    return RuleSet(str(data.get("version", "unversioned")), tuple(rules), str(path))
