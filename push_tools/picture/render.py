"""Draw the dashboard's panels, each at its place on Grafana's grid, into one PNG.

matplotlib's object API with the Agg canvas (no pyplot, no display, no global state).
Time series, state timelines and stats each get one plot; a row is a section heading. A
panel without data says "no data", one whose query failed shows Prometheus' message: an
empty panel in the picture is as visible as it would be in Grafana.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from push_tools.picture.dashboard import Panel
from push_tools.picture.prometheus import Series

_GRID_COLUMNS = 24
_INCH_PER_COLUMN = 0.9
_INCH_PER_ROW = 0.32  # a Grafana grid row is 30 px, a column 1/24 of the screen
_MAX_LEGEND = 8
_TITLE_IN, _PANEL_TITLE_IN, _TICKS_IN = 0.8, 0.3, 0.35  # room for titles and tick labels


@dataclass(frozen=True, slots=True)
class PanelData:
    """A panel with what its queries returned: named series, and any query errors."""

    panel: Panel
    series: tuple[tuple[str, Series], ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DrawnPanel:
    """What one plot of the picture shows (the renderer's account, for callers and tests)."""

    title: str
    kind: str
    series: int
    points: int
    errors: tuple[str, ...]

    @property
    def has_data(self) -> bool:
        return self.points > 0


@dataclass(frozen=True, slots=True)
class Picture:
    """The PNG written and one entry per plot in it (rows are headings, not plots)."""

    path: Path
    plots: tuple[DrawnPanel, ...]


def legend_name(legend: str, labels: dict[str, str], ref_id: str) -> str:
    """Grafana's legendFormat (`{{provider}} {{status}}`) filled from a series' labels."""
    if legend and legend != "__auto":
        name = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), legend)
        return name.strip() or ref_id
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or ref_id


def unit_formatter(unit: str) -> Callable[[float, int], str]:
    """Tick labels in the panel's Grafana unit (the common ones; others as plain numbers)."""

    def seconds(value: float, _: int) -> str:
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:g} s"

    def percent(value: float, _: int) -> str:
        return f"{value * 100:.0f}%"

    def size(value: float, _: int) -> str:
        for factor, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if abs(value) >= factor:
                return f"{value / factor:.1f} {name}"
        return f"{value:.0f} B"

    def per_second(value: float, _: int) -> str:
        return f"{_number(value)}/s"

    def plain(value: float, _: int) -> str:
        return _number(value)

    formatters = {"s": seconds, "percentunit": percent, "bytes": size, "reqps": per_second}
    return formatters.get(unit, plain)


def _number(value: float) -> str:
    """At most three significant digits below 100, whole numbers above (as Grafana's auto)."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def render(panels: Sequence[PanelData], out: Path, title: str, start: float, end: float) -> Picture:
    """Draw `panels` (over `start`..`end`, unix seconds) into the PNG at `out`."""
    height_rows = max((p.panel.y + p.panel.h for p in panels), default=8)
    width_in = _GRID_COLUMNS * _INCH_PER_COLUMN
    height_in = height_rows * _INCH_PER_ROW + _TITLE_IN
    figure = Figure(figsize=(width_in, height_in), dpi=90, layout=None)
    FigureCanvasAgg(figure)
    figure.suptitle(title, x=0.01, y=1 - 0.15 / height_in, ha="left", fontsize=14, weight="bold")
    plots = []
    for data in panels:
        panel = data.panel
        left, width = panel.x / _GRID_COLUMNS, panel.w / _GRID_COLUMNS
        top_in = height_in - _TITLE_IN - panel.y * _INCH_PER_ROW  # from the figure's bottom
        if panel.is_row:
            middle = (top_in - panel.h * _INCH_PER_ROW / 2) / height_in
            figure.text(left + 0.005, middle, panel.title, fontsize=12, weight="bold", va="center")
            continue
        bottom_in = top_in - panel.h * _INCH_PER_ROW + _TICKS_IN
        rect = (left + 0.03, bottom_in / height_in, width - 0.04,
                (top_in - _PANEL_TITLE_IN - bottom_in) / height_in)  # fmt: skip
        plots.append(_draw(figure.add_axes(rect), data, start, end))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    return Picture(out, tuple(plots))


def _draw(axes: Axes, data: PanelData, start: float, end: float) -> DrawnPanel:
    panel = data.panel
    axes.set_title(panel.title, fontsize=9, loc="left")
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    points = sum(len(series.points) for _, series in data.series)
    if panel.kind == "stat":
        _stat(axes, data)
    else:
        for name, series in data.series:
            times = [_date(t) for t, _ in series.points]
            values = [v for _, v in series.points]
            step = "steps-post" if panel.kind == "state-timeline" else "default"
            axes.plot(times, values, label=name, linewidth=1.2, drawstyle=step)
        axes.set_xlim(_date(start), _date(end))
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]  # untyped in matplotlib
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))  # type: ignore[no-untyped-call]
        axes.yaxis.set_major_formatter(FuncFormatter(unit_formatter(panel.unit)))
        if panel.value_names:  # value mappings (0 closed, 1 half-open, 2 open) as the ticks
            ticks = sorted(float(v) for v in panel.value_names)
            axes.set_yticks(ticks, [panel.value_names[f"{t:g}"] for t in ticks])
            axes.set_ylim(ticks[0] - 0.2, ticks[-1] + 0.2)
        if data.series and points:
            handles, labels = axes.get_legend_handles_labels()
            axes.legend(handles[:_MAX_LEGEND], labels[:_MAX_LEGEND], fontsize=6, loc="upper left")
    if data.errors:
        message = "query error:\n" + "\n".join(error[:90] for error in data.errors)
        axes.text(0.5, 0.5, message, transform=axes.transAxes, ha="center", va="center",
                  color="red", fontsize=7)  # fmt: skip
    elif not points:
        axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", va="center",
                  color="gray", fontsize=10)  # fmt: skip
    return DrawnPanel(panel.title, panel.kind, len(data.series), points, data.errors)


def _date(unix_s: float) -> float:
    """matplotlib's date number (days since its epoch) of a unix time, in UTC."""
    return float(date2num(datetime.fromtimestamp(unix_s, UTC)))  # type: ignore[no-untyped-call]


def _stat(axes: Axes, data: PanelData) -> None:
    """A stat panel: the last value of each series, large, over a faint sparkline."""
    axes.set_xticks([])
    axes.set_yticks([])
    formatter = unit_formatter(data.panel.unit)
    lasts = [(name, s.points[-1][1]) for name, s in data.series if s.points]
    for _, series in data.series:
        axes.fill_between(range(len(series.points)), [v for _, v in series.points], alpha=0.15)
    if lasts:
        text = "  ".join(formatter(value, 0) for _, value in lasts[:3])
        axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center",
                  fontsize=28, weight="bold")  # fmt: skip
