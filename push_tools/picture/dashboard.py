"""A Grafana dashboard as the picture needs it: panels, their queries, and the variables.

Panels are read from the JSON, not listed here, so a panel or variable added to the
dashboard appears in the picture without a change. `Variables.fill` turns a panel's
expression into what Grafana would send to Prometheus:

- `$__rate_interval`, `$__interval`, `$__range` (and `${...}` forms) from the step, the
  scrape interval and the time range, as Grafana computes them;
- each dashboard variable (`$job`, `$instance`, `$account`, ...) from `--var NAME=VALUE`,
  else the dashboard's current value; "All" (or no value) matches everything: a label
  matcher on it becomes `label=~".*"` (an `=` matcher too), elsewhere it is `.*`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.errors import PushDispatchError

ALL = ".*"
_ALL_VALUES = ("$__all", "All", "")
_BUILT_IN = ("__rate_interval", "__interval", "__range")


class DashboardError(PushDispatchError):
    """The dashboard file is missing, not JSON, or not shaped like a Grafana dashboard."""


@dataclass(frozen=True, slots=True)
class Query:
    """One target of a panel: its PromQL (with variables) and how its series are named."""

    ref_id: str
    expr: str
    legend: str


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel or row, with its place on Grafana's 24-column grid."""

    title: str
    kind: str  # Grafana's panel type: timeseries, stat, state-timeline, row, ...
    x: int
    y: int
    w: int
    h: int
    unit: str = "short"
    queries: tuple[Query, ...] = ()
    value_names: Mapping[str, str] = field(default_factory=dict)  # value mappings (0 -> closed)

    @property
    def is_row(self) -> bool:
        return self.kind == "row"


def load_panels(path: Path) -> tuple[list[Panel], dict[str, Any]]:
    """Every panel of the dashboard at `path` (those inside collapsed rows too), and the JSON."""
    try:
        dashboard = json.loads(path.read_text())
    except OSError as exc:
        raise DashboardError(f"cannot read the dashboard {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DashboardError(f"the dashboard {path} is not JSON: {exc}") from exc
    if not isinstance(dashboard, dict) or not isinstance(dashboard.get("panels"), list):
        raise DashboardError(f"the dashboard {path} has no panels list")
    panels = []
    for raw in dashboard["panels"]:
        panels.append(_panel(raw, path))
        panels.extend(_panel(nested, path) for nested in raw.get("panels") or [])
    return panels, dashboard


def _panel(raw: Any, path: Path) -> Panel:
    if not isinstance(raw, dict) or not isinstance(raw.get("gridPos"), dict):
        raise DashboardError(f"{path}: a panel without a gridPos: {str(raw)[:200]}")
    grid = raw["gridPos"]
    defaults = (raw.get("fieldConfig") or {}).get("defaults") or {}
    queries = tuple(
        Query(str(t.get("refId", "?")), t["expr"], str(t.get("legendFormat") or ""))
        for t in raw.get("targets") or []
        if isinstance(t, dict) and t.get("expr") and not t.get("hide")
    )
    names: dict[str, str] = {}
    for mapping in defaults.get("mappings") or []:
        for value, shown in ((mapping or {}).get("options") or {}).items():
            if isinstance(shown, dict) and "text" in shown:
                names[str(value)] = str(shown["text"])
    return Panel(
        title=str(raw.get("title") or ""),
        kind=str(raw.get("type") or "timeseries"),
        x=int(grid.get("x", 0)),
        y=int(grid.get("y", 0)),
        w=int(grid.get("w", 24)),
        h=int(grid.get("h", 8)),
        unit=str(defaults.get("unit") or "short"),
        queries=queries,
        value_names=names,
    )


def duration(seconds: float) -> str:
    """A PromQL duration in whole seconds (`75s`)."""
    return f"{max(1, math.ceil(seconds))}s"


@dataclass(frozen=True, slots=True)
class Variables:
    """What each `$name` of the dashboard's queries stands for."""

    values: Mapping[str, str]  # dashboard variables; ALL for "All"
    step_s: float
    scrape_interval_s: float
    range_s: float

    @classmethod
    def of(
        cls,
        dashboard: Mapping[str, Any],
        overrides: Mapping[str, str],
        step_s: float,
        scrape_interval_s: float,
        range_s: float,
    ) -> Variables:
        """The dashboard's variables at their current (or overridden) values."""
        values: dict[str, str] = {}
        for variable in (dashboard.get("templating") or {}).get("list") or []:
            name = str((variable or {}).get("name") or "")
            if not name or variable.get("type") == "datasource":
                continue
            current = (variable.get("current") or {}).get("value")
            if isinstance(current, list):
                current = current[0] if len(current) == 1 else "$__all"
            chosen = str(current) if current is not None else ""
            all_value = str(variable.get("allValue") or ALL)
            values[name] = all_value if chosen in _ALL_VALUES else chosen
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            raise DashboardError(
                f"the dashboard has no variable {', '.join(unknown)}; "
                f"it has: {', '.join(sorted(values)) or 'none'}"
            )
        values.update({k: ALL if v in _ALL_VALUES else v for k, v in overrides.items()})
        return cls(values, step_s, scrape_interval_s, range_s)

    @property
    def built_in(self) -> dict[str, str]:
        # Grafana: $__rate_interval = max($__interval + scrape interval, 4 x scrape interval).
        rate = max(self.step_s + self.scrape_interval_s, 4 * self.scrape_interval_s)
        return {
            "__rate_interval": duration(rate),
            "__interval": duration(self.step_s),
            "__range": duration(self.range_s),
        }

    def fill(self, expr: str) -> str:
        """`expr` as Prometheus should receive it; unknown `$names` are left for it to reject."""
        for name, value in self.values.items():
            reference = rf"(?:\$\{{{name}(?::\w+)?\}}|\${name}\b|\[\[{name}\]\])"
            if value == ALL:  # a matcher on "All" matches everything, `=` or `=~`
                expr = re.sub(rf'(\w+)\s*=~?\s*"{reference}"', r'\1=~".*"', expr)
            expr = re.sub(reference, value.replace("\\", r"\\"), expr)  # taken literally
        for name, value in self.built_in.items():
            expr = re.sub(rf"(?:\$\{{{name}\}}|\${name}\b)", value, expr)
        return expr
