"""A simulated day per account: requests per car, and how late each cloud update shows.

``run_day()`` sets up one config entry against an in-process simulator whose clouds
refresh each car's telemetry at the provider's default period, then travels through a
household day (unplugged by day, plugged in the evening, smart charging at night) in time
steps: Home Assistant's clock (freezegun) and the simulator's move together, and each step
ends exactly at the next timer on Home Assistant's loop (at most ``STEP`` seconds on), so
every refresh runs at the moment it was scheduled for and idle time costs nothing. It
counts the requests the simulator received and, for every cloud capture taken while the
car charged, how long until the coordinator's data showed that car's ``updated_at`` at
or past it.

``python -m tests.bench --day`` runs it twice per provider and fleet size, with the
adaptive cadence (``coordinator.ADAPTIVE_CADENCE``) on and off, on the same simulated
world, and prints both side by side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
import math
import re
import statistics
from typing import Any, Protocol, Self
from unittest.mock import patch

import freezegun.api
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
)

from custom_components.chargebridge import coordinator as coordinator_module
from custom_components.chargebridge.const import DOMAIN
from tests.simulator import DEFAULT_TIMEZONE, Simulator
from tests.simulator.core import SimClock, SimVehicle, default_telemetry

DAY_START = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)
"""Tuesday noon in Amsterdam: the cars that left in the morning are away; they come home
and plug in in the evening, smart charging fills the cheap night hours, and the day ends
after Wednesday's departures."""
DAY_HOURS = 24.0
STEP = 60.0
"""Longest time step (seconds). A step ends earlier, exactly at the loop's next timer, so
timers fire on time whatever this is; it only bounds how long the world goes unlooked at."""
MIN_STEP = 0.001
"""Shortest step: a timer already due fires without time moving much."""
SHOWN_TOLERANCE = timedelta(seconds=1)
"""A provider may stamp a capture to the millisecond or second below it (Hiven: ms)."""
TAIL = timedelta(hours=1)
"""Captures this close to the end are not measured: they may not be due for a read yet."""
ID_IN_PATH = re.compile(r"/(?!v\d+(?:/|$))[^/]*\d[^/]*(?=/|$)")
"""A path segment with a digit in it (a version like v2 aside) is an id."""
SETTLE = timedelta(hours=1)
"""The simulated world runs this long before the day starts (see day_simulator)."""
P95 = 0.95
REQUEST_TARGET = {1: 1 / 2}
"""Adaptive requests over fixed ones, per fleet size; other sizes: DEFAULT_REQUEST_TARGET."""
DEFAULT_REQUEST_TARGET = 1 / 3
MEAN_LAG_TARGET_S = 60.0
P95_LAG_TARGET_S = 180.0


class Freezer(Protocol):
    """What the day needs of freezegun's factory (pytest's ``freezer`` or freeze_time)."""

    def tick(self, delta: float | timedelta) -> Any:
        """Move the frozen time forward."""


def day_simulator(
    vehicles: int, seed: int = 1, start: datetime = DAY_START
) -> Simulator:
    """Return the world of a day: every cloud refreshes at its provider's default period.

    Created SETTLE before ``start`` and run up to it, so that what the clouds report at
    the start comes from the physics (a generated car reports no power until it ran).
    """
    sim = Simulator(
        vehicles=vehicles,
        seed=seed,
        clock=SimClock(start - SETTLE),
        telemetry=default_telemetry(),
    )
    sim.advance(SETTLE)
    return sim


@dataclass
class DayRun:
    """What one account measured over the day, in one mode."""

    provider: str
    vehicles: int
    adaptive: bool
    hours: float
    requests: int = 0
    """Requests the simulator received after setup, until the end."""
    lags_s: list[float] = field(default_factory=list)
    """Per charging capture: seconds until Home Assistant showed it."""
    missed: int = 0
    """Charging captures Home Assistant never showed (should be none)."""
    telemetry: bool = True
    """Whether the provider's cloud reports telemetry (ChargEye reports plans)."""
    refreshes: int = 0
    wall_s: float = 0.0
    paths: dict[str, int] = field(default_factory=dict)
    """Requests per method and path (ids left out): where the requests went."""

    @property
    def requests_per_vehicle_day(self) -> float:
        """Requests per vehicle, scaled to 24 hours."""
        return self.requests / self.vehicles * 24 / self.hours

    @property
    def mean_lag_s(self) -> float | None:
        """Mean lag of the charging captures; None without any."""
        return statistics.fmean(self.lags_s) if self.lags_s else None

    @property
    def p95_lag_s(self) -> float | None:
        """95th percentile (nearest rank) of the lags; None without any."""
        if not self.lags_s:
            return None
        ordered = sorted(self.lags_s)
        return ordered[max(0, math.ceil(P95 * len(ordered)) - 1)]

    def to_json(self) -> dict[str, Any]:
        """Plain data, for the driver process."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read what to_json wrote."""
        return cls(**data)


class CaptureLog:
    """The cloud captures taken while the car charged, per vehicle (Fleet.on_report)."""

    def __init__(self, sim: Simulator, provider: str) -> None:
        """Listen to every capture of the provider's fleet, after who listened before."""
        self.charging: dict[str, list[datetime]] = {}
        fleet = sim.fleet(provider)
        before = fleet.on_report

        def on_report(vehicle: SimVehicle) -> None:
            if before is not None:
                before(vehicle)
            if vehicle.charging:
                self.charging.setdefault(vehicle.id, []).append(vehicle.last_sampled)

        fleet.on_report = on_report


class ShownLog:
    """When the coordinator's data first showed each ``updated_at`` of each car."""

    def __init__(self) -> None:
        """Nothing shown yet."""
        self.shown: dict[str, list[tuple[datetime, datetime]]] = {}
        """Vehicle id -> (updated_at, when shown), in the order shown."""
        self.refreshes = 0

    def listener(self, coordinator: Any) -> Callable[[], None]:
        """Return the coordinator listener that notes what its data shows now."""

        @callback
        def on_update() -> None:
            self.refreshes += 1
            now = dt_util.utcnow()
            for vehicle_id, snapshot in coordinator.data.vehicles.items():
                updated = snapshot.state.updated_at
                shown = self.shown.setdefault(vehicle_id, [])
                if updated is not None and (not shown or updated > shown[-1][0]):
                    shown.append((updated, now))

        return on_update

    def lag(self, vehicle_id: str, capture: datetime) -> float | None:
        """Seconds from a capture until the data showed it or a later one; None: never."""
        for updated, at in self.shown.get(vehicle_id, ()):
            if updated >= capture - SHOWN_TOLERANCE:
                return max(0.0, (at - capture).total_seconds())
        return None


def _next_timer_in(hass: HomeAssistant) -> float:
    """Seconds until the earliest timer on Home Assistant's loop (inf: none)."""
    loop = hass.loop
    moments = [
        handle.when()
        for handle in getattr(loop, "_scheduled", ())
        if not handle.cancelled()
    ]
    return min(moments, default=math.inf) - loop.time()


async def travel(
    hass: HomeAssistant,
    freezer: Freezer,
    sim: Simulator,
    *,
    provider: str,
    until: datetime,
    step: float,
) -> None:
    """Move both clocks to ``until``, stopping at every timer so it fires on time."""
    while (left := (until - sim.clock.now()).total_seconds()) > 0:
        seconds = min(step, left, max(_next_timer_in(hass), MIN_STEP))
        freezer.tick(seconds)
        sim.clock.advance(seconds)
        # Every capture passes the fleet's on_report, whatever the client reads and when.
        sim.sync(provider)
        # Exact: the step ends at the timer's moment (no half-second lookahead).
        async_fire_time_changed_exact(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def run_day(
    hass: HomeAssistant,
    freezer: Freezer,
    sim: Simulator,
    config: dict[str, Any],
    *,
    vehicles: int,
    adaptive: bool,
    hours: float = DAY_HOURS,
    step: float = STEP,
) -> DayRun:
    """Set up ``config`` at the simulator's time, live ``hours`` with it, then unload it.

    Home Assistant's frozen time must stand at the simulator's (the caller freezes it).
    """
    provider = config["provider"]
    result = DayRun(
        provider=provider,
        vehicles=vehicles,
        adaptive=adaptive,
        hours=hours,
        telemetry=provider in default_telemetry(),
    )
    await hass.config.async_set_time_zone(DEFAULT_TIMEZONE)
    captures = CaptureLog(sim, provider)
    shown = ShownLog()
    entry = MockConfigEntry(
        domain=DOMAIN, title=provider, data=config, unique_id=f"day_{provider}"
    )
    entry.add_to_hass(hass)
    started = _wall_clock()
    with patch.object(coordinator_module, "ADAPTIVE_CADENCE", adaptive):
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise RuntimeError(f"{provider}: setting up the config entry failed")
        await hass.async_block_till_done()
        coordinator = entry.runtime_data.coordinator
        remove = coordinator.async_add_listener(shown.listener(coordinator))
        shown.listener(coordinator)()
        begin = sim.clock.now()
        end = begin + timedelta(hours=hours)
        sim.requests.clear()
        # Each step takes "STEP seconds" on the frozen loop clock: not slow, only simulated.
        loop = hass.loop
        slow, loop.slow_callback_duration = loop.slow_callback_duration, math.inf
        try:
            await travel(hass, freezer, sim, provider=provider, until=end, step=step)
        finally:
            loop.slow_callback_duration = slow
        result.requests = sim.requests.count(provider=provider)
        result.paths = dict(
            Counter(
                f"{request.method} {re.sub(ID_IN_PATH, '/{id}', request.path)}"
                for request in sim.requests.filter(provider=provider)
            ).most_common()
        )
        remove()
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    result.wall_s = _wall_clock() - started
    result.refreshes = shown.refreshes - 1
    sim.sync(provider)
    last = end - TAIL
    for vehicle_id, moments in captures.charging.items():
        for moment in moments:
            if not begin <= moment < last:
                continue
            lag = shown.lag(vehicle_id, moment)
            if lag is None:
                result.missed += 1
            else:
                result.lags_s.append(lag)
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    return result


def request_target(vehicles: int) -> float:
    """Return the most adaptive requests may be, as a share of fixed polling's."""
    return REQUEST_TARGET.get(vehicles, DEFAULT_REQUEST_TARGET)


def verdict(adaptive: DayRun, fixed: DayRun) -> str:
    """Say whether the adaptive run meets the targets, and where it misses them.

    Requests: at most a third of fixed polling's (half for a single car); a provider
    without telemetry (ChargEye) at most as many. Lag of charging cars: mean at most a
    minute, 95th percentile at most three.
    """
    misses: list[str] = []
    ratio = _ratio(adaptive, fixed)
    limit = request_target(adaptive.vehicles) if adaptive.telemetry else 1.0
    if ratio > limit:
        misses.append(f"requests {ratio:.2f} > {_share(limit)}")
    mean, p95 = adaptive.mean_lag_s, adaptive.p95_lag_s
    if mean is not None and mean > MEAN_LAG_TARGET_S:
        misses.append(f"mean lag {mean:.0f} s > {MEAN_LAG_TARGET_S:.0f}")
    if p95 is not None and p95 > P95_LAG_TARGET_S:
        misses.append(f"p95 lag {p95:.0f} s > {P95_LAG_TARGET_S:.0f}")
    if adaptive.missed:
        misses.append(f"{adaptive.missed} captures never shown")
    met = "met" if not misses else "missed: " + ", ".join(misses)
    if adaptive.telemetry and not adaptive.lags_s:
        met += " (no car charged: lag not measured)"
    return met


def day_row(adaptive: DayRun, fixed: DayRun) -> dict[str, str]:
    """Return the table row (column title -> text) of one provider and size; see DAY_COLUMNS."""
    captures = str(len(adaptive.lags_s) + adaptive.missed)
    if len(fixed.lags_s) + fixed.missed != len(adaptive.lags_s) + adaptive.missed:
        captures = f"{captures} / {len(fixed.lags_s) + fixed.missed}"
    return {
        "provider": adaptive.provider,
        "vehicles": str(adaptive.vehicles),
        "req/car/day fixed": _count(fixed.requests_per_vehicle_day),
        "req/car/day adaptive": _count(adaptive.requests_per_vehicle_day),
        "ratio": f"{_ratio(adaptive, fixed):.2f}",
        "lag mean s fixed": _seconds(fixed.mean_lag_s, fixed),
        "lag mean s adaptive": _seconds(adaptive.mean_lag_s, adaptive),
        "lag p95 s fixed": _seconds(fixed.p95_lag_s, fixed),
        "lag p95 s adaptive": _seconds(adaptive.p95_lag_s, adaptive),
        "captures": captures if adaptive.telemetry else "n/a",
        "wall s": f"{fixed.wall_s:.0f} + {adaptive.wall_s:.0f}",
        "verdict": verdict(adaptive, fixed),
    }


DAY_COLUMNS: dict[str, str] = {
    "provider": "the simulated provider",
    "vehicles": "fleet size N",
    "req/car/day fixed": (
        "requests the simulator received per vehicle in the day, after setup, with"
        " fixed polling (ADAPTIVE_CADENCE off, default options)"
    ),
    "req/car/day adaptive": "the same with each car read at its own pace (on)",
    "ratio": "adaptive requests / fixed requests",
    "lag mean s fixed": (
        "mean seconds from a cloud capture taken while the car charged until the"
        " coordinator's data showed that car's updated_at at or past it (n/a: no telemetry)"
    ),
    "lag mean s adaptive": "the same, adaptive",
    "lag p95 s fixed": "95th percentile (nearest rank) of those lags, fixed",
    "lag p95 s adaptive": "the same, adaptive",
    "captures": (
        "charging captures measured (the day's but its last hour); 'a / b' where the"
        " two runs differ"
    ),
    "wall s": "wall time of the fixed and the adaptive day, setup included",
    "verdict": (
        "adaptive against the targets: requests <= 1/3 of fixed (1/2 for one car;"
        " ChargEye <= fixed), mean lag <= 60 s, p95 <= 180 s"
    ),
}


def _wall_clock() -> float:
    """Real seconds (perf_counter), also while freezegun freezes time.

    Read from freezegun's module at call time: freezing time replaces every other
    module's reference to the real function.
    """
    return freezegun.api.real_perf_counter()


def _count(value: float) -> str:
    """Whole numbers, with a decimal below 100 (ChargEye's are single digits)."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(adaptive: DayRun, fixed: DayRun) -> float:
    return adaptive.requests / fixed.requests if fixed.requests else math.inf


def _share(limit: float) -> str:
    return "fixed" if limit == 1 else f"1/{round(1 / limit)}"


def _seconds(value: float | None, run: DayRun) -> str:
    if not run.telemetry:
        return "n/a"
    return "-" if value is None else f"{value:.0f}"
