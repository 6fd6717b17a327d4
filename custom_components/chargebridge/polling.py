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

from collections.abc import Callable
from datetime import datetime, timedelta
import math

from .api import ChargingStatus, Fleet, RateLimit, VehicleSnapshot
from .const import (
    BACKOFF_CAP,
    BACKOFF_JITTER,
    BUDGET_RESERVE,
    IDLE_FACTOR,
    MAX_IDLE_INTERVAL,
    RATE_LIMIT_ISSUE_AFTER,
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


class RefreshPacer:
    """The polling state of one account: when to refresh next, and when we may not.

    It counts failed refreshes (for the backoff) and refusals in a row (for the quota
    issue), remembers what a refresh costs in requests (for the provider's budget), when
    the last one ran (for the manual refresh) and until when the provider asked us to wait.
    """

    def __init__(
        self,
        *,
        scan_interval: timedelta,
        minimum: timedelta,
        window: timedelta,
        jitter: Callable[[], float],
    ) -> None:
        """Start at the user's interval, nothing failed yet."""
        self.scan_interval = scan_interval
        self.minimum = minimum
        self.window = window
        self.jitter = jitter
        self.requests_per_refresh = 1
        """What the last successful refresh cost, in HTTP requests (at least 1)."""
        self.failures = 0
        self.throttled = 0
        self.last_refresh: datetime | None = None
        self.not_before: datetime | None = None

    def started(self, now: datetime) -> None:
        """Note that a refresh starts now (a manual refresh waits from here)."""
        self.last_refresh = now

    def succeeded(
        self, fleet: Fleet, requests: int, rate_limit: RateLimit | None
    ) -> timedelta:
        """Record a good refresh; return the adaptive interval within the budget."""
        self.requests_per_refresh = max(1, requests)
        self.failures = self.throttled = 0
        self.not_before = None
        return self.interval_for(fleet, rate_limit)

    def interval_for(self, fleet: Fleet, rate_limit: RateLimit | None) -> timedelta:
        """Return the adaptive interval, slowed down where the provider's budget needs it."""
        interval = adaptive_interval(
            fleet, scan_interval=self.scan_interval, minimum=self.minimum
        )
        budget = self.budget(rate_limit)
        return interval if budget is None else max(interval, budget)

    def failed(self, rate_limit: RateLimit | None) -> timedelta:
        """Record a failed refresh and return the pause before the next one.

        Exponential backoff with jitter from the user's interval, never faster than the
        request budget allows (failed requests count too).
        """
        self.failures += 1
        pause = backoff_interval(
            self.failures,
            base=self.scan_interval,
            minimum=self.minimum,
            jitter=self.jitter(),
        )
        if (budget := self.budget(rate_limit)) is not None:
            pause = max(pause, budget)
        return pause

    def throttled_by(
        self, now: datetime, pause: timedelta, retry_after: float | None
    ) -> timedelta:
        """Record a 429: wait what the provider asked for, at least ``pause``."""
        self.throttled += 1
        if retry_after is not None:
            self.not_before = now + timedelta(seconds=retry_after)
        return rate_limited_interval(retry_after, current=pause, minimum=self.minimum)

    def quota_exhausted(self, rate_limit: RateLimit | None) -> bool:
        """Whether the provider keeps refusing us (429 in a row) or has no budget left."""
        return self.throttled >= RATE_LIMIT_ISSUE_AFTER or (
            rate_limit is not None and rate_limit.remaining == 0
        )

    def manual_wait(self, now: datetime) -> timedelta:
        """How long a manual refresh must still wait (zero: it may run now)."""
        return refresh_wait(
            now,
            last_refresh=self.last_refresh,
            cooldown=self.minimum,
            not_before=self.not_before,
        )

    def budget(self, rate_limit: RateLimit | None) -> timedelta | None:
        """Return the slowest pace the provider's stated budget allows; None: no budget."""
        return budget_interval(
            rate_limit,
            window=self.window,
            requests_per_refresh=self.requests_per_refresh,
        )
