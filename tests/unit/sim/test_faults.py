"""Fault knobs: validation, JSON round trip, drawing, outage windows."""

from __future__ import annotations

import pytest

from consumer.errors import ConfigError
from push_tools.sim.faults import FaultKind, Faults, FaultState


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"error_rate": 1.5}, "error_rate must be within [0, 1]"),
        ({"drop_rate": -0.1}, "drop_rate must be within [0, 1]"),
        ({"error_rate": 0.6, "drop_rate": 0.6}, "must add up to <= 1"),
        ({"latency_ms": -1.0}, "latency_ms must be >= 0"),
        ({"error_status": 404}, "error_status must be a 5xx code"),
        ({"endpoints": ("push", "nope")}, "fault endpoints must be among"),
    ],
)
def test_bad_fault_values_are_rejected_with_the_knob_named(knobs, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Faults(**knobs)


def test_faults_from_json_round_trips():
    faults = Faults(latency_ms=5.0, drop_rate=0.25, endpoints=("push", "poll"))
    assert Faults.from_json(faults.to_json()) == faults


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({"explode": 1}, "unknown fault knob"),
        ({"error_rate": "high"}, "error_rate must be a number"),
        ({"error_status": 500.5}, "error_status must be an integer"),
        ({"endpoints": "push"}, "endpoints must be a list of strings"),
    ],
)
def test_faults_from_bad_json_raise_config_error(data, message):
    with pytest.raises(ConfigError, match=message):
        Faults.from_json(data)


def test_default_faults_are_idle_and_apply_nowhere():
    state = FaultState(Faults(), now_s=0.0)
    assert Faults().idle
    assert not state.applies_to("push")


@pytest.mark.parametrize(
    ("knob", "kind"),
    [
        ("error_rate", FaultKind.ERROR),
        ("throttle_rate", FaultKind.THROTTLE),
        ("hang_rate", FaultKind.HANG),
        ("drop_rate", FaultKind.DROP),
        ("malformed_rate", FaultKind.MALFORMED),
    ],
)
def test_a_rate_of_one_always_draws_that_fault(knob, kind):
    state = FaultState(Faults(**{knob: 1.0}), now_s=0.0, seed=1)
    assert {state.draw() for _ in range(50)} == {kind}


def test_rates_split_draws_roughly_in_proportion():
    state = FaultState(Faults(error_rate=0.5), now_s=0.0, seed=7)
    errors = sum(state.draw() is FaultKind.ERROR for _ in range(4000))
    assert 1800 < errors < 2200


def test_outage_window_opens_after_delay_and_closes_after_duration():
    state = FaultState(Faults(outage_s=10.0, outage_after_s=5.0), now_s=100.0)
    assert not state.in_outage(104.9)
    assert state.in_outage(105.0)
    assert state.in_outage(114.9)
    assert not state.in_outage(115.0)


def test_faults_apply_only_to_their_endpoints():
    state = FaultState(Faults(latency_ms=1.0, endpoints=("poll",)), now_s=0.0)
    assert state.applies_to("poll")
    assert not state.applies_to("push")


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"secondary_rate": 1.5}, "secondary_rate must be within [0, 1]"),
        ({"capacity_limit": -1}, "capacity_limit must be >= 0"),
    ],
)
def test_bad_responsys_fault_values_are_rejected(knobs, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Faults(**knobs)


def test_capacity_limit_must_be_an_integer_in_json():
    with pytest.raises(ConfigError, match="capacity_limit must be an integer"):
        Faults.from_json({"capacity_limit": 2.5})
    assert Faults.from_json({"capacity_limit": 3, "secondary_rate": 0.5}) == Faults(
        capacity_limit=3, secondary_rate=0.5
    )


def test_capacity_limit_refuses_past_the_limit_until_the_10_minute_window_resets():
    state = FaultState(Faults(capacity_limit=2), now_s=100.0)
    assert [state.over_capacity(100.0 + t) for t in (0, 1, 2, 599)] == [
        False,
        False,
        True,
        True,
    ]
    assert [state.over_capacity(700.0 + t) for t in (0, 1, 2)] == [False, False, True]


def test_new_faults_restart_the_capacity_window():
    state = FaultState(Faults(capacity_limit=1), now_s=0.0)
    assert not state.over_capacity(1.0)
    assert state.over_capacity(2.0)
    state.set(Faults(capacity_limit=1), now_s=3.0)
    assert not state.over_capacity(4.0)


def test_no_capacity_limit_never_refuses():
    state = FaultState(Faults(), now_s=0.0)
    assert not any(state.over_capacity(float(t)) for t in range(1000))


def test_secondary_rate_of_one_always_fires_and_zero_never():
    assert FaultState(Faults(secondary_rate=1.0), now_s=0.0, seed=1).in_secondary()
    assert not FaultState(Faults(), now_s=0.0, seed=1).in_secondary()
