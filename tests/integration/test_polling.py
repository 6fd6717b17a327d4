"""The polling policy: pure functions, tested without Home Assistant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.chargebridge.api import (
    Capabilities,
    ChargingStatus,
    Fleet,
    RateLimit,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
)
from custom_components.chargebridge.const import (
    BACKOFF_CAP,
    BACKOFF_JITTER,
    BUDGET_RESERVE,
)
from custom_components.chargebridge.polling import (
    adaptive_interval,
    backoff_interval,
    budget_interval,
    is_active,
    rate_limited_interval,
    refresh_wait,
)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
NOW = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def fleet_of(*states: VehicleState) -> Fleet:
    """Return a fleet with one vehicle per state."""
    return Fleet(
        vehicles={
            str(index): VehicleSnapshot(
                vehicle=Vehicle(
                    id=str(index),
                    name=str(index),
                    capabilities=Capabilities(features=frozenset()),
                ),
                state=state,
            )
            for index, state in enumerate(states)
        }
    )


@pytest.mark.parametrize(
    ("state", "active"),
    [
        (VehicleState(charging=True), True),
        (VehicleState(plugged_in=True), True),
        (VehicleState(charging_status=ChargingStatus.PLUGGED_IN), True),
        (VehicleState(charging_status=ChargingStatus.COMPLETE), True),
        (VehicleState(charging_status=ChargingStatus.DISCONNECTED), False),
        (VehicleState(plugged_in=False, charging=False), False),
        (VehicleState(), False),
    ],
)
def test_is_active(state: VehicleState, active: bool) -> None:
    """A car charging or plugged in may change soon."""
    assert is_active(fleet_of(state).vehicles["0"]) is active


def test_active_fleet_polls_at_the_option() -> None:
    """One active car is enough for the user's interval."""
    fleet = fleet_of(VehicleState(), VehicleState(charging=True))
    assert (
        adaptive_interval(fleet, scan_interval=2 * MINUTE, minimum=MINUTE) == 2 * MINUTE
    )


def test_idle_fleet_polls_slower_up_to_a_cap() -> None:
    """Idle: three times slower, at most 30 minutes, never faster than the option."""
    idle = fleet_of(VehicleState(plugged_in=False))
    assert (
        adaptive_interval(idle, scan_interval=5 * MINUTE, minimum=MINUTE) == 15 * MINUTE
    )
    assert (
        adaptive_interval(idle, scan_interval=20 * MINUTE, minimum=MINUTE)
        == 30 * MINUTE
    )
    assert (
        adaptive_interval(idle, scan_interval=50 * MINUTE, minimum=MINUTE)
        == 50 * MINUTE
    )
    assert (
        adaptive_interval(fleet_of(), scan_interval=MINUTE, minimum=MINUTE)
        == 3 * MINUTE
    )


def test_never_below_the_provider_minimum() -> None:
    """An option below the provider's limit (e.g. an old entry) is raised to it."""
    active = fleet_of(VehicleState(charging=True))
    assert adaptive_interval(active, scan_interval=MINUTE / 2, minimum=MINUTE) == MINUTE


def test_rate_limited_interval() -> None:
    """Retry-After wins when longer; without one the usual pace stays."""
    assert rate_limited_interval(900, current=5 * MINUTE, minimum=MINUTE) == 15 * MINUTE
    assert rate_limited_interval(10, current=5 * MINUTE, minimum=MINUTE) == 5 * MINUTE
    assert rate_limited_interval(None, current=5 * MINUTE, minimum=MINUTE) == 5 * MINUTE
    assert rate_limited_interval(None, current=MINUTE / 2, minimum=MINUTE) == MINUTE


def test_policy_numbers() -> None:
    """The documented numbers: 20 % of a budget kept for writes, 30 min cap, 20 % jitter."""
    assert BUDGET_RESERVE == 0.2
    assert BACKOFF_CAP == 30 * MINUTE
    assert BACKOFF_JITTER == 0.2


@pytest.mark.parametrize(
    ("rate_limit", "per_refresh", "expected"),
    [
        # No budget stated: no constraint.
        (None, 1, None),
        (RateLimit(limit=1000, remaining=None), 1, None),
        # ev.energy's 1000/hour, 200 kept: 800 refreshes of one request fit in the hour.
        (RateLimit(limit=1000, remaining=1000), 1, HOUR / 800),
        # Ten requests a refresh (1000 cars) with half the budget used: 300 left → 30.
        (RateLimit(limit=1000, remaining=500), 10, HOUR / 30),
        # A refresh that cost nothing still counts as one request.
        (RateLimit(limit=1000, remaining=300), 0, HOUR / 100),
        # Without a stated limit nothing is kept back.
        (RateLimit(limit=None, remaining=60), 1, MINUTE),
        # Only the reserve left, or less than a refresh costs: wait the whole window.
        (RateLimit(limit=1000, remaining=200), 1, HOUR),
        (RateLimit(limit=1000, remaining=205), 10, HOUR),
        (RateLimit(limit=1000, remaining=0), 1, HOUR),
    ],
)
def test_budget_interval(
    rate_limit: RateLimit | None, per_refresh: int, expected: timedelta | None
) -> None:
    """The remaining budget, less the reserve, is spread over the window."""
    assert (
        budget_interval(rate_limit, window=HOUR, requests_per_refresh=per_refresh)
        == expected
    )


@pytest.mark.parametrize("limit", [10, 100, 1000])
@pytest.mark.parametrize("per_refresh", [1, 3, 10])
def test_polling_at_the_budget_pace_never_exceeds_the_limit(
    limit: int, per_refresh: int
) -> None:
    """Simulate a rolling window: polling as advised never spends the reserve.

    Each refresh spends ``per_refresh`` requests; the provider forgets requests older
    than the window; the next poll waits what budget_interval says.
    """
    now = timedelta(0)
    spent: list[timedelta] = []
    reserve = BUDGET_RESERVE * limit
    while now < 6 * HOUR:
        spent = [moment for moment in spent if moment > now - HOUR]
        remaining = limit - len(spent)
        assert remaining >= reserve - per_refresh
        interval = budget_interval(
            RateLimit(limit=limit, remaining=remaining),
            window=HOUR,
            requests_per_refresh=per_refresh,
        )
        assert interval is not None
        if remaining - reserve >= per_refresh:
            spent.extend([now] * per_refresh)
        now += max(interval, timedelta(seconds=1))


def test_backoff_doubles_up_to_the_cap() -> None:
    """The interval after one failure, doubling per failure, capped at 30 minutes."""
    pauses = [
        backoff_interval(failures, base=5 * MINUTE, minimum=MINUTE)
        for failures in range(1, 7)
    ]
    assert pauses == [
        5 * MINUTE,
        10 * MINUTE,
        20 * MINUTE,
        30 * MINUTE,
        30 * MINUTE,
        30 * MINUTE,
    ]
    assert backoff_interval(10_000, base=MINUTE, minimum=MINUTE) == BACKOFF_CAP


def test_backoff_never_faster_than_the_users_pace() -> None:
    """A user polling hourly is not polled faster because something failed."""
    assert backoff_interval(1, base=HOUR, minimum=MINUTE) == HOUR
    assert backoff_interval(5, base=HOUR, minimum=MINUTE) == HOUR


@pytest.mark.parametrize(
    ("jitter", "expected"),
    [
        (0.0, 20 * MINUTE),
        (0.5, 18 * MINUTE),
        (0.999999, 16 * MINUTE),
        (-1.0, 20 * MINUTE),
        (7.0, 16 * MINUTE),
    ],
)
def test_backoff_jitter_shortens_by_up_to_a_fifth(
    jitter: float, expected: timedelta
) -> None:
    """Jitter (0 ≤ j < 1) takes up to 20 % off; out-of-range values are clamped."""
    pause = backoff_interval(3, base=5 * MINUTE, minimum=MINUTE, jitter=jitter)
    assert abs(pause - expected) < timedelta(seconds=1)


def test_backoff_jitter_never_below_the_minimum() -> None:
    """With the user at the provider's minimum, jitter cannot go below it."""
    assert backoff_interval(1, base=MINUTE, minimum=MINUTE, jitter=0.9) == MINUTE


@pytest.mark.parametrize(
    ("last", "not_before", "expected"),
    [
        (None, None, timedelta(0)),
        (NOW - 2 * MINUTE, None, timedelta(0)),
        (NOW - MINUTE, None, timedelta(0)),
        (NOW - timedelta(seconds=15), None, timedelta(seconds=45)),
        (NOW - 2 * MINUTE, NOW + 10 * MINUTE, 10 * MINUTE),
        (
            NOW - timedelta(seconds=15),
            NOW + timedelta(seconds=5),
            timedelta(seconds=45),
        ),
        (None, NOW - MINUTE, timedelta(0)),
    ],
)
def test_refresh_wait(
    last: datetime | None, not_before: datetime | None, expected: timedelta
) -> None:
    """One manual refresh per cooldown, and none before a Retry-After."""
    assert (
        refresh_wait(NOW, last_refresh=last, cooldown=MINUTE, not_before=not_before)
        == expected
    )
