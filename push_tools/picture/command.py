"""`push-consumer picture`: draw the Grafana dashboard from a real Prometheus into a PNG.

Two ways to get a Prometheus with data:

- `--prometheus URL` attaches to a running one (a `push-consumer demo`, the compose stack)
  and draws the last `--range-s` seconds;
- without it, runs the demo for `--duration` seconds (broker, simulators, pipeline,
  Prometheus scraping every `--scrape-interval-s`), switches the simulators' faults on
  a third of the way in (`--no-faults`: a healthy run), draws the whole run, and stops it all.

Every panel of `--dashboard` is queried with Prometheus' range API after its variables are
filled in (`--var job=push-pipeline`; unset ones are "All"), and drawn at its place.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from consumer.errors import PushDispatchError
from push_tools.demo.children import reap_leftovers
from push_tools.demo.command import StopRequest
from push_tools.demo.stack import DemoOptions, DemoStack
from push_tools.picture.dashboard import Panel, Variables, load_panels
from push_tools.picture.prometheus import PrometheusApi, PrometheusApiError, Series
from push_tools.picture.render import PanelData, Picture, legend_name, render

DEFAULT_DASHBOARD = Path("grafana/dashboards/push-dispatch.json")
# The injected faults, a third of the way in: Azure down for 30 s (then 10 % errors),
# Responsys throttled for 20 s (then healthy). Each window ends by itself.
FAULTS: Mapping[str, Mapping[str, Any]] = {
    "azure": {"outage_s": 30, "error_rate": 0.1},
    "responsys": {"throttle_s": 20, "retry_after_s": 5},
}


class PictureError(PushDispatchError):
    """The picture cannot be made: no Prometheus, or none that answers."""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _variable(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("docs/dashboard.png"),
        help="the PNG to write (default docs/dashboard.png)",
    )
    parser.add_argument(
        "--dashboard",
        type=Path,
        default=DEFAULT_DASHBOARD,
        help=f"the Grafana dashboard JSON (default {DEFAULT_DASHBOARD})",
    )
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        default=None,
        help="draw from this running Prometheus instead of running a demo",
    )
    parser.add_argument(
        "--range-s",
        type=_positive,
        default=600.0,
        metavar="SECONDS",
        help="with --prometheus: how far back to draw (default 600)",
    )
    parser.add_argument(
        "--var",
        type=_variable,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a dashboard variable's value (default All)",
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=240.0,
        metavar="SECONDS",
        help="without --prometheus: seconds of demo traffic (default 240)",
    )
    parser.add_argument(
        "--rate", type=_positive, default=50.0, help="demo intents per second (default 50)"
    )
    parser.add_argument(
        "--scrape-interval-s",
        type=_positive,
        default=5.0,
        help="the demo Prometheus' scrape interval (default 5)",
    )
    parser.add_argument(
        "--no-faults", action="store_true", help="a healthy demo run: no faults injected"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".cache/picture"),
        help="the demo's data and logs (default .cache/picture)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo traffic")


def run(args: argparse.Namespace) -> int:
    variables = dict(args.var)
    if args.prometheus is not None:
        end = time.time()
        start = end - args.range_s
        picture = draw(args.prometheus, args.dashboard, args.out, start=start, end=end,
                       variables=variables)  # fmt: skip
    else:
        picture = _draw_a_demo_run(args, variables)
    empty = [p.title for p in picture.plots if not p.has_data]
    print(f"wrote {picture.path}: {len(picture.plots)} panels, {len(empty)} without data"
          + (f" ({'; '.join(empty)})" if empty else ""))  # fmt: skip
    return 0


def draw(
    prometheus_url: str,
    dashboard: Path,
    out: Path,
    *,
    start: float,
    end: float,
    variables: Mapping[str, str] | None = None,
) -> Picture:
    """Query every panel of `dashboard` over `start`..`end` and draw them into `out`."""
    panels, raw = load_panels(dashboard)
    api = PrometheusApi(prometheus_url)
    try:
        scrape_s = api.scrape_interval_s()
        step_s = max(scrape_s, (end - start) / 300)  # about 300 points across, like Grafana
        filled = Variables.of(raw, variables or {}, step_s, scrape_s, end - start)
        data = [_query(api, panel, filled, (start, end, step_s)) for panel in panels]
    except PrometheusApiError as exc:
        raise PictureError(str(exc)) from exc
    finally:
        api.close()
    shown = ", ".join(f"{k}={'All' if v == '.*' else v}" for k, v in sorted(filled.values.items()))
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(end))
    title = f"{raw.get('title', dashboard.stem)}   {(end - start) / 60:.0f} min to {stamp} UTC"
    return render(data, out, f"{title}   {shown}".rstrip(), start, end)


def _query(
    api: PrometheusApi, panel: Panel, variables: Variables, window: tuple[float, float, float]
) -> PanelData:
    """The panel with its queries' series over `window` (start, end, step)."""
    series: list[tuple[str, Series]] = []
    errors: list[str] = []
    for query in panel.queries:
        try:
            found = api.query_range(variables.fill(query.expr), *window)
        except PrometheusApiError as exc:
            errors.append(f"{query.ref_id}: {exc}")
            continue
        series.extend((legend_name(query.legend, s.labels, query.ref_id), s) for s in found)
    return PanelData(panel, tuple(series), tuple(errors))


def _draw_a_demo_run(args: argparse.Namespace, variables: Mapping[str, str]) -> Picture:
    options = DemoOptions(
        data_dir=args.data_dir.resolve(),
        rate=args.rate,
        seed=args.seed,
        scrape_interval=f"{args.scrape_interval_s:g}s",
    )
    options.data_dir.mkdir(parents=True, exist_ok=True)
    stop = StopRequest(options.data_dir / "picture.log")
    stop.install()
    stack = DemoStack(options)
    try:
        print(
            f"running the demo for {args.duration:g}s (logs in {options.data_dir}) ...", flush=True
        )
        if not stack.start(stop.event):
            raise PictureError("stopped before the demo was up")
        prometheus = stack.endpoints.prometheus
        if not prometheus.startswith("http"):
            raise PictureError(f"the picture needs the demo's Prometheus, which was {prometheus}")
        start = time.time()
        faults = {} if args.no_faults else FAULTS
        _run_traffic(stop, args.duration, lambda: _inject(stack.endpoints.simulators, faults))
        time.sleep(2 * args.scrape_interval_s)  # the last scrapes of the run
        end = time.time()
        return draw(prometheus, args.dashboard, args.out, start=start, end=end, variables=variables)
    finally:
        stack.close()
        leftovers = reap_leftovers(stack.groups)
        if leftovers:
            print(f"processes left behind and killed: {', '.join(leftovers)}", file=sys.stderr)


def _run_traffic(stop: StopRequest, duration_s: float, inject: Callable[[], None]) -> None:
    """Wait out the run, calling `inject` a third of the way in."""
    began = time.monotonic()
    if stop.event.wait(duration_s / 3):
        raise PictureError("stopped during the run")
    inject()
    if stop.event.wait(max(0.0, duration_s - (time.monotonic() - began))):
        raise PictureError("stopped during the run")


def _inject(simulators: Mapping[str, str], faults: Mapping[str, Mapping[str, Any]]) -> None:
    for provider, knobs in faults.items():
        url = f"{simulators[provider]}/_admin/faults"
        answer = httpx.put(url, json=dict(knobs), timeout=10)
        if answer.status_code != 200:
            raise PictureError(f"{url} refused the faults {knobs}: {answer.text}")
        print(f"faults on the {provider} simulator: {dict(knobs)}", flush=True)
