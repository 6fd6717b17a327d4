"""How often to poll: pure functions, so the policy is easy to test and to extend.

The user's ``scan_interval`` option is the fastest we poll (it is bounded by the
provider's rate limit in the options flow). While any car charges or is plugged in we poll
at that pace; an idle fleet changes slowly, so we poll slower. Where the provider states a
request budget, the pace is slowed further so the budget lasts (with a reserve for the
user's own changes). Failures back off exponentially with jitter; a provider that throttles
us decides the next pause itself through Retry-After. A manual refresh waits as long as a
scheduled one would have to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import math

from .api import ChargingStatus, Fleet, RateLimit, VehicleSnapshot
from .const import (
    BACKOFF_CAP,
    BACKOFF_JITTER,
    BUDGET_RESERVE,
    IDLE_FACTOR,
    MAX_IDLE_INTERVAL,
)

ACTIVE_STATUSES = frozenset(
    {ChargingStatus.CHARGING, ChargingStatus.PLUGGED_IN, ChargingStatus.COMPLETE}
)


def is_active(snapshot: VehicleSnapshot) -> bool:
    """Tell whether a car is charging or plugged in (its state may change soon)."""
    state = snapshot.state
    return bool(
        state.charging or state.plugged_in or state.charging_status in ACTIVE_STATUSES
    )


def adaptive_interval(
    fleet: Fleet, *, scan_interval: timedelta, minimum: timedelta
) -> timedelta:
    """Return the next poll interval after a successful refresh.

    ``scan_interval`` while any car is active, slower while the whole fleet is idle; never
    below ``minimum`` (the provider's rate limit) nor below ``scan_interval``.
    """
    interval = max(scan_interval, minimum)
    if any(is_active(snapshot) for snapshot in fleet.vehicles.values()):
        return interval
    return max(interval, min(interval * IDLE_FACTOR, MAX_IDLE_INTERVAL))


def budget_interval(
    rate_limit: RateLimit | None,
    *,
    window: timedelta,
    requests_per_refresh: int,
    reserve: float = BUDGET_RESERVE,
) -> timedelta | None:
    """Return the slowest pace that makes the remaining request budget last the window.

    ``reserve`` (a fraction of the limit) is kept for the user's writes, and the rest is
    spread over ``window`` as if none of it came back before the window ends (the
    provider counts a rolling window whose past we do not know: this is the safe reading).
    Less left than one refresh costs: wait the whole window. None when the provider does
    not state a budget.
    """
    if rate_limit is None or rate_limit.remaining is None:
        return None
    kept = math.ceil(reserve * rate_limit.limit) if rate_limit.limit else 0
    usable = rate_limit.remaining - kept
    cost = max(1, requests_per_refresh)
    if usable < cost:
        return window
    return window * cost / usable


def backoff_interval(
    failures: int,
    *,
    base: timedelta,
    minimum: timedelta,
    cap: timedelta = BACKOFF_CAP,
    jitter: float = 0.0,
) -> timedelta:
    """Return the pause after ``failures`` refreshes failed in a row.

    ``base`` after the first failure, doubling with each further one up to ``cap`` (or
    ``base``, when the user polls even slower). ``jitter`` (0 ≤ jitter < 1, random in
    production) shortens the pause by up to BACKOFF_JITTER of it, so installations that
    lost the provider at the same moment do not all come back at the same moment; the
    pause never drops below ``minimum``.
    """
    ceiling = max(cap, base)
    doublings = max(0, failures - 1)
    pause = ceiling if doublings >= 32 else min(ceiling, base * 2**doublings)
    pause *= 1 - BACKOFF_JITTER * min(max(jitter, 0.0), 1.0)
    return max(pause, minimum)


def rate_limited_interval(
    retry_after: float | None, *, current: timedelta, minimum: timedelta
) -> timedelta:
    """Return the pause after a 429: what the provider asked for, never below ``current``."""
    interval = max(current, minimum)
    if retry_after is None:
        return interval
    return max(interval, timedelta(seconds=retry_after))


def refresh_wait(
    now: datetime,
    *,
    last_refresh: datetime | None,
    cooldown: timedelta,
    not_before: datetime | None = None,
) -> timedelta:
    """Return how long a manual refresh must still wait (zero: it may run now).

    At most one refresh per ``cooldown`` (the provider's minimum interval, counted from
    the last refresh of any kind), and none before ``not_before`` (a provider's
    Retry-After).
    """
    ready = [
        moment
        for moment in (
            None if last_refresh is None else last_refresh + cooldown,
            not_before,
        )
        if moment is not None
    ]
    return max([timedelta(0), *(moment - now for moment in ready)])
