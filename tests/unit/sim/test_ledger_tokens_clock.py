"""Ledger counters, token store and simulated clock."""

from __future__ import annotations

import pytest

from consumer.errors import ConfigError
from push_tools.sim.clock import SimClock
from push_tools.sim.ledger import Ledger, LedgerCounts
from push_tools.sim.tokens import TokenState, TokenStore


def test_ledger_counts_calls_deliveries_and_duplicates_per_campaign():
    ledger = Ledger()
    ledger.record(1.0, "app", "announcements/1", ["a", "b"], "default")
    ledger.record(2.0, "app", "announcements/1", ["b", "c"], "default")
    ledger.record(3.0, "app", "announcements/2", ["a"], "default")  # other campaign: no dup
    assert ledger.counts() == LedgerCounts(
        calls=3, deliveries=5, duplicate_deliveries=1, unique_targets=4
    )


def test_ledger_keeps_only_the_newest_records_but_counts_all():
    ledger = Ledger(max_records=2)
    for i in range(5):
        ledger.record(float(i), "app", "c", [str(i)], "d")
    assert [r.targets for r in ledger.records(10)] == [("3",), ("4",)]
    assert ledger.counts().calls == 5


def test_ledger_reset_clears_counts_and_records():
    ledger = Ledger()
    ledger.record(1.0, "app", "c", ["a", "a"], "d")
    ledger.reset()
    assert ledger.counts() == LedgerCounts(0, 0, 0, 0)
    assert ledger.records(10) == []


def test_ledger_rejects_negative_record_cap():
    with pytest.raises(ConfigError, match="max_records"):
        Ledger(max_records=-1)


def test_token_is_valid_until_its_ttl_then_expired():
    store = TokenStore(ttl_s=60, mint=iter(["t1"]).__next__)
    token = store.issue(now_s=1000.0, subject="u")
    assert store.check(token.value, 1059.9)[0] is TokenState.VALID
    assert store.check(token.value, 1060.0)[0] is TokenState.EXPIRED
    assert store.check("other", 1000.0)[0] is TokenState.UNKNOWN


def test_expire_all_expires_issued_tokens_but_not_the_static_one():
    store = TokenStore(ttl_s=60, mint=iter(["t1", "t2"]).__next__, static="static")
    store.issue(0.0)
    store.issue(0.0)
    assert store.expire_all(10.0) == 2
    assert store.check("t1", 10.0)[0] is TokenState.EXPIRED
    assert store.check("static", 10.0)[0] is TokenState.VALID


def test_token_store_rejects_non_positive_ttl():
    with pytest.raises(ConfigError, match="TTL"):
        TokenStore(ttl_s=0, mint=str)


def test_clock_advance_moves_now_forward():
    clock = SimClock(start_epoch_s=1_000_000.0)
    assert clock.advance(86_400) >= 1_086_400.0


def test_fast_clock_runs_ahead_of_real_time():
    clock = SimClock(speed=1e6, start_epoch_s=0.0)
    first = clock.now()
    second = clock.now()
    assert second > first


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_clock_rejects_non_positive_speed(speed):
    with pytest.raises(ConfigError, match="clock speed"):
        SimClock(speed=speed)


def test_clock_refuses_to_move_backwards():
    with pytest.raises(ConfigError, match="forward"):
        SimClock().advance(-1)
