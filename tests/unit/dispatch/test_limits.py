import pytest

from consumer.dispatch.limits import DispatchLimits
from consumer.errors import ConfigError


def test_defaults_are_valid():
    limits = DispatchLimits()
    assert limits.retry_ambiguous is True
    assert limits.max_attempts >= 1


@pytest.mark.parametrize(
    "field",
    [
        "concurrency",
        "rate_per_s",
        "timeout_s",
        "connect_timeout_s",
        "max_attempts",
        "breaker_failure_threshold",
    ],
)
def test_zero_for_a_positive_limit_is_a_config_error_naming_it(field):
    with pytest.raises(ConfigError, match=field):
        DispatchLimits(**{field: 0})


def test_negative_backoff_is_a_config_error():
    with pytest.raises(ConfigError, match="backoff_base_s"):
        DispatchLimits(backoff_base_s=-1.0)


def test_backoff_cap_below_base_is_a_config_error():
    with pytest.raises(ConfigError, match="backoff_max_s"):
        DispatchLimits(backoff_base_s=2.0, backoff_max_s=1.0)


def test_the_breaker_probes_within_seconds_by_default():
    limits = DispatchLimits()
    assert (limits.breaker_reset_s, limits.breaker_reset_cap_s) == (2.0, 4.0)


def test_breaker_maximum_below_its_start_period_is_a_config_error():
    with pytest.raises(ConfigError, match="breaker_max_reset_s"):
        DispatchLimits(breaker_reset_s=3.0, breaker_max_reset_s=2.0)


def test_a_long_breaker_reset_alone_stays_valid_and_is_its_own_maximum():
    # settings written before breaker_max_reset_s existed set only breaker_reset_s
    limits = DispatchLimits(breaker_reset_s=30.0)
    assert limits.breaker_reset_cap_s == 30.0


def test_negative_breaker_maximum_is_a_config_error():
    with pytest.raises(ConfigError, match="breaker_max_reset_s"):
        DispatchLimits(breaker_reset_s=0.0, breaker_max_reset_s=-1.0)
