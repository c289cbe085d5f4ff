"""New fault knobs (outage mode, throttle storm, throttle hold) and the violation ledger."""

from __future__ import annotations

import argparse
import math

import pytest

from consumer.errors import ConfigError
from push_tools.sim.command import build_app, configure
from push_tools.sim.faults import Faults, FaultState
from push_tools.sim.ledger import Ledger, Violation


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"outage_mode": "down"}, "outage_mode must be one of ['503', 'refuse'], got 'down'"),
        ({"throttle_s": -1.0}, "throttle_s must be >= 0, got -1.0"),
        ({"throttle_after_s": math.nan}, "throttle_after_s must be >= 0"),
        ({"violation_tolerance_ms": -5.0}, "violation_tolerance_ms must be >= 0"),
        ({"retry_after_s": -1.0}, "retry_after_s must be a finite number >= 0 or null"),
        ({"retry_after_s": math.inf}, "retry_after_s must be a finite number >= 0 or null"),
        ({"endpoints": ("push", "ratelimit")}, "fault endpoints must be among"),
    ],
)
def test_bad_new_knobs_are_rejected_with_the_knob_named(knobs, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Faults(**knobs)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outage_mode": 503}, "outage_mode must be a string"),
        ({"outage_mode": "maybe"}, "outage_mode must be one of"),
        ({"throttle_s": "10"}, "throttle_s must be a number"),
        ({"throttle_after_s": True}, "throttle_after_s must be a number"),
        ({"retry_after_s": "soon"}, "retry_after_s must be a number"),
        ({"violation_tolerance_ms": None}, "violation_tolerance_ms must be a number"),
        ({"endpoints": [1]}, "endpoints must be a list of strings or null"),
    ],
)
def test_bad_new_knobs_in_json_raise_config_error(data, message):
    with pytest.raises(ConfigError, match=message):
        Faults.from_json(data)


def test_new_knobs_round_trip_through_json():
    faults = Faults(
        outage_s=5.0,
        outage_mode="refuse",
        throttle_s=3.0,
        throttle_after_s=1.0,
        retry_after_s=0.5,
        violation_tolerance_ms=10.0,
        endpoints=("poll",),
    )
    assert Faults.from_json(faults.to_json()) == faults
    assert Faults.from_json(Faults().to_json()) == Faults()
    assert Faults.from_json({"retry_after_s": None, "endpoints": None}) == Faults()


def test_default_endpoints_put_rates_on_push_and_windows_everywhere():
    faults = Faults()
    assert faults.rate_endpoints == ("push",)
    assert all(faults.window_applies(e) for e in ("push", "poll", "token", "ratelimit"))
    listed = Faults(endpoints=("poll",))
    assert listed.rate_endpoints == ("poll",)
    assert listed.window_applies("poll")
    assert not listed.window_applies("push")


def test_windows_apply_only_to_the_listed_endpoints():
    state = FaultState(Faults(outage_s=10.0, throttle_s=10.0, endpoints=("push",)), now_s=0.0)
    assert state.in_outage(1.0, "push")
    assert state.in_storm(1.0, "push")
    assert not state.in_outage(1.0, "token")
    assert not state.in_storm(1.0, "poll")


def test_storm_window_opens_after_delay_and_closes_after_duration():
    state = FaultState(Faults(throttle_s=10.0, throttle_after_s=5.0), now_s=100.0)
    assert not state.in_storm(104.9, "push")
    assert state.in_storm(105.0, "push")
    assert state.in_storm(114.9, "token")
    assert not state.in_storm(115.0, "push")
    assert not state.in_outage(110.0)


def test_hold_makes_early_calls_violations_beyond_the_tolerance():
    state = FaultState(Faults(violation_tolerance_ms=50.0), now_s=0.0)
    assert state.early_s(0.0) == 0.0
    assert state.held_until() is None
    state.hold(10.0, 2.0)
    assert state.held_until() == 12.0
    assert state.early_s(11.0) == pytest.approx(1.0)
    assert state.early_s(11.94) == pytest.approx(0.06)
    assert state.early_s(11.96) == 0.0  # within the 50 ms tolerance: allowed
    assert state.early_s(12.5) == 0.0


def test_every_call_inside_the_hold_is_refused_whatever_the_grace_and_tolerance():
    state = FaultState(Faults(violation_tolerance_ms=50.0, in_flight_grace_ms=250.0), now_s=0.0)
    state.hold(10.0, 2.0)
    assert state.held_s(10.01) == pytest.approx(1.99)  # in flight: no violation, still refused
    assert state.early_s(10.01) == 0.0
    assert state.held_s(11.99) == pytest.approx(0.01)  # within the tolerance: refused too
    assert state.early_s(11.99) == 0.0
    assert state.held_s(12.0) == 0.0


def test_restarting_the_hold_starts_its_announced_wait_over():
    state = FaultState(Faults(), now_s=0.0)
    state.hold(10.0, 2.0)
    assert state.restart_hold(11.5) == pytest.approx(2.0)
    assert state.held_until() == pytest.approx(13.5)
    assert state.held_s(13.0) == pytest.approx(0.5)


def test_zero_tolerance_counts_any_early_call():
    state = FaultState(Faults(violation_tolerance_ms=0.0), now_s=0.0)
    state.hold(0.0, 1.0)
    assert state.early_s(0.999) == pytest.approx(0.001)
    assert state.early_s(1.0) == 0.0


def test_a_shorter_hold_never_shortens_the_window():
    state = FaultState(Faults(), now_s=0.0)
    state.hold(0.0, 60.0)
    state.hold(1.0, 1.0)
    assert state.held_until() == 60.0


def test_new_faults_end_the_hold_and_the_cut_short_end_still_counts():
    state = FaultState(Faults(), now_s=0.0)
    state.hold(0.0, 60.0)
    assert state.last_fault_end(5.0) is None  # still held
    state.set(Faults(), now_s=5.0)
    assert state.early_s(5.0) == 0.0
    assert state.last_fault_end(5.0) == 5.0


def test_last_fault_end_is_the_latest_ended_window():
    state = FaultState(Faults(outage_s=2.0, throttle_s=3.0, throttle_after_s=4.0), now_s=0.0)
    assert state.last_fault_end(1.0) is None
    assert state.last_fault_end(2.5) == 2.0  # the outage ended
    assert state.last_fault_end(5.0) == 2.0  # the storm is still on
    assert state.last_fault_end(7.0) == 7.0
    state.hold(7.5, 1.0)
    assert state.last_fault_end(8.0) == 7.0
    assert state.last_fault_end(8.46) == 7.0  # still held: calls are refused to the end
    assert state.last_fault_end(8.5) == 8.5


def test_a_window_not_yet_open_when_replaced_is_not_a_fault_end():
    state = FaultState(Faults(outage_s=2.0, outage_after_s=10.0), now_s=0.0)
    state.set(Faults(), now_s=1.0)
    assert state.last_fault_end(1.0) is None


def test_ledger_counts_violations_and_keeps_the_newest():
    ledger = Ledger(max_violations=2)
    assert ledger.violations == 0
    assert ledger.recent_violations() == []
    ledger.violation(1.0, "push", 900.0)
    ledger.violation(2.0, "poll", 500.0)
    ledger.violation(3.0, "token", 12.3456)
    assert ledger.violations == 3
    assert ledger.recent_violations() == [
        Violation(2.0, "poll", 500.0),
        Violation(3.0, "token", 12.3456),
    ]
    assert ledger.recent_violations()[1].to_json() == {
        "at": 3.0,
        "endpoint": "token",
        "early_ms": 12.346,
    }
    ledger.reset()
    assert ledger.violations == 0
    assert ledger.recent_violations() == []


def test_first_accepted_after_fault_is_measured_once_per_fault_end():
    ledger = Ledger()
    assert ledger.first_accepted_after_fault_ms(None) is None
    ledger.accepted(5.0, None)  # no fault yet
    assert ledger.first_accepted_after_fault_ms(None) is None
    ledger.accepted(10.25, 10.0)
    ledger.accepted(11.0, 10.0)  # not the first any more
    assert ledger.first_accepted_after_fault_ms(10.0) == pytest.approx(250.0)
    assert ledger.first_accepted_after_fault_ms(20.0) is None  # a newer fault, no push yet
    ledger.accepted(21.5, 20.0)
    assert ledger.first_accepted_after_fault_ms(20.0) == pytest.approx(1500.0)
    ledger.reset()
    assert ledger.first_accepted_after_fault_ms(20.0) is None


def test_bad_ledger_violation_size_is_rejected():
    with pytest.raises(ConfigError, match="max_violations must be >= 0"):
        Ledger(max_violations=-1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser


def test_cli_window_knobs_reach_the_app():
    argv = [
        "azure",
        "--outage-mode",
        "refuse",
        "--throttle-s",
        "4",
        "--throttle-after-s",
        "1",
        "--retry-after-s",
        "2.5",
        "--violation-tolerance-ms",
        "10",
    ]
    faults = build_app(_parser().parse_args(argv)).state.sim.faults.current
    assert (faults.outage_mode, faults.throttle_s, faults.throttle_after_s) == ("refuse", 4, 1)
    assert (faults.retry_after_s, faults.violation_tolerance_ms, faults.endpoints) == (
        2.5,
        10,
        None,
    )


def test_cli_rejects_an_unknown_outage_mode(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["azure", "--outage-mode", "down"])
    assert "--outage-mode: invalid choice" in capsys.readouterr().err


def test_cli_responsys_fault_knobs_reach_the_app_and_gateway_knobs_parse():
    argv = ["responsys", "--secondary-rate", "0.5", "--capacity-limit", "7"]
    argv += ["--drop-body-over-bytes", "0", "--campaign-name", "A", "--campaign-name", "B"]
    app = build_app(_parser().parse_args(argv))
    faults = app.state.sim.faults.current
    assert (faults.secondary_rate, faults.capacity_limit) == (0.5, 7)
