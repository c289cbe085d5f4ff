import pytest

from consumer.errors import ConfigError
from consumer.settings import StatusSettings
from consumer.status.schedule import PollPolicy, next_poll_in


def test_default_backoff_doubles_from_the_first_poll_and_caps_at_the_max():
    policy = PollPolicy.from_settings(StatusSettings())
    waits = [policy.delay_after(polls) for polls in range(1, 8)]
    assert waits == [4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_backoff_stays_capped_after_very_many_polls():
    policy = PollPolicy(2.0, 60.0, 5)
    assert policy.delay_after(10_000) == 60.0


def test_next_poll_is_never_later_than_the_deadline():
    policy = PollPolicy(2.0, 60.0, 5)
    assert next_poll_in(policy, polls=5, until_deadline_s=3.5) == 3.5


def test_next_poll_is_immediate_once_the_deadline_has_passed():
    policy = PollPolicy(2.0, 60.0, 5)
    assert next_poll_in(policy, polls=1, until_deadline_s=-10.0) == 0.0


def test_first_poll_longer_than_the_max_interval_is_refused():
    with pytest.raises(ConfigError, match="first_poll_s"):
        PollPolicy(first_poll_s=90.0, max_poll_interval_s=60.0, max_broken_answers=5)
