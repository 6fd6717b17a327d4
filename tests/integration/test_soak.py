"""Soak: 24 simulated hours of 100 vehicles per provider, with random faults at a fixed seed.

Home Assistant and the simulator share one manual clock (the ``advance`` fixture's way:
the simulator's clock, freezegun and ``async_fire_time_changed`` move together), so a
day passes in seconds of real time. Along the way faults come and go (timeouts, 5xx, HTML
error pages, malformed and truncated JSON, 429 with Retry-After, one vehicle failing,
scheduled outages on the simulated clock) and the user changes targets and smart charging.
At the end, once the faults are gone and one more refresh ran:

- every entity shows the simulator's truth (state of charge, charging status, plugged in,
  target, smart charging);
- the requests the simulator recorded stay within the provider's budget in every rolling
  hour (ev.energy: its 1000 per hour; the others: what the configured intervals allow);
- memory is flat between hour 2 and hour 24: no type of object the integration, Home
  Assistant or aiohttp makes grows by more than ``MAX_OBJECT_GROWTH``, and for ev.energy
  (where tracing every allocation fits in the time budget) the bytes tracemalloc traces
  grow by less than ``MAX_TRACED_GROWTH`` (see there for both bounds);
- no log line carries a traceback, and the only errors logged are the coordinator's
  "Error fetching" lines;
- unloading leaves no refresh scheduled and sends nothing more (Home Assistant's
  ``verify_cleanup`` then checks for lingering tasks and timers at teardown).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import gc
import logging
import math
import os
import random
import re
import time
import tracemalloc
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.chargebridge.api.evenergy import PAGE_SIZE as EVENERGY_PAGE
from custom_components.chargebridge.api.jedlix import (
    CHARGE_SETTINGS_MAX_AGE,
    MESSAGES_MAX_AGE,
)
from custom_components.chargebridge.coordinator import scan_interval
from tests.simulator import PROFILES, Fault, FaultKind, Simulator, SimVehicle

from .conftest import until_full_read

# slow: deselect with -m "not slow". no_cover: coverage's tracer would double the run
# time under scripts/test, and the soak is about endurance; other tests measure coverage.
pytestmark = [pytest.mark.slow, pytest.mark.no_cover]

SEED = 20261102
"""Fixes the fleets, the faults, their timing and the user's writes."""
VEHICLES = 100
HOURS = 24
MAX_STEP = 900.0
"""The clock jumps from event to event (the next scheduled refresh, fault change or
write), but never further than this."""
MEMORY_FROM_HOUR = 2
"""Memory is measured at the first healthy moment (no fault active, last refresh complete)
from this hour on, when every cache is warm, and again once the day is over, the faults
are gone and a refresh succeeded: like with like."""
TRACED_PROVIDERS = frozenset({"evenergy"})
"""Where tracemalloc runs (from before setup). Tracing every allocation makes a day three to
four times slower, which would break the 2-minute budget for all four; ev.energy's day is
the cheapest to trace (same load: ev.energy 11 s -> 36 s, Jedlix 15 s -> 64 s, Hiven
21 s -> 87 s), and the code it runs through (coordinator, entities, HTTP) is shared.
The object census runs for all four."""
MAX_OBJECT_GROWTH = VEHICLES + 50
"""Live objects of any one type may grow by this many between hour 2 and the end.

Bounded and legitimate: one fleet snapshot besides the current one (100 vehicles' models:
the coordinator's ``last_exception`` keeps the frames of the last failed refresh, and with
them the fleet it replaced) and a few timers and weak references. A leak of one object per
refresh adds ~260 over those 22 hours (polls every 5 minutes) and fails.
"""
PLAN_DATA_GROWTH = 3 * VEHICLES
PLAN_DATA = frozenset(
    {
        "custom_components.chargebridge.api.chargeye_plan.PlanSegment",
        "custom_components.chargebridge.api.chargeye_recurrence.Window",
    }
)
"""ChargEye's plans are data: each holds a few segments and recurrence windows, and how
many plans the depots serve depends on the hour (the end of the day plans more than hour
2: 147 more segments with 100 vehicles, a few more when the machine is busy and fault
timing shifts). Their count follows the plans served, not the refreshes; they may grow
by up to three per vehicle."""
MAX_TRACED_GROWTH = 1024 * 1024
"""Traced bytes (allocated outside the test and the simulator) may grow by this much.

Measured: +0.15 to +0.27 MB, the fleet snapshot ``last_exception`` keeps (see above) and
state objects whose size follows the values they show. Keeping 4 kB per refresh (a
fraction of one fleet snapshot) would add over 1 MB in those 22 hours and fail.
"""
IDLE_CONNECTIONS_CLOSE = 30.0
"""Seconds to wait before measuring memory: aiohttp closes idle connections after 15."""
STUCK_SECONDS = 30.0
"""Real seconds Home Assistant may stay busy without a request hanging (then: a bug)."""
BUDGET_WINDOW = timedelta(hours=1)
EVENERGY_HOURLY_LIMIT = 1000

_LOGGER = logging.getLogger(__name__)


@pytest.fixture
def sim() -> Simulator:
    """Return a day's world: 100 vehicles per provider."""
    return Simulator(vehicles=VEHICLES, seed=SEED)


@pytest.fixture(autouse=True)
def stop_tracing() -> Generator[None]:
    """Never leave tracemalloc running for the tests after this one."""
    yield
    tracemalloc.stop()


@dataclass(frozen=True, kw_only=True)
class Budget:
    """What a provider's configured intervals allow in one hour, for N vehicles."""

    poll: str
    """Path (regex) of the GET every refresh starts with: counts the refreshes."""
    allowance: Callable[[int, int], int]
    """(polls per hour, writes in the hour) -> requests allowed in that hour."""
    explain: str


def polls_per_hour(interval: timedelta) -> int:
    """Return how many refreshes a rolling hour holds at ``interval`` (both ends counted)."""
    return math.floor(BUDGET_WINDOW / interval) + 1


def budget_for(provider: str, vehicles: int, depots: int) -> Budget:
    """Return what the configured intervals allow, from each client's design.

    Writes may each take up to 3 requests (read before write, write, token); a token is
    renewed at most once per refresh.
    """
    per_write = 3
    poll = PROFILES[provider].fleet_path
    if provider == "hiven":
        # devices, then status per vehicle and the schedule of those plugged in
        return Budget(
            poll=poll,
            allowance=lambda polls, writes: (
                polls * (1 + 2 * vehicles) + writes * per_write
            ),
            explain="polls × (1 + 2N) + 3 × writes",
        )
    if provider == "chargeye":
        # token when due, vehicle list, one read per depot the vehicles name
        return Budget(
            poll=poll,
            allowance=lambda polls, writes: polls * (2 + depots) + writes * per_write,
            explain="polls × (2 + L depots) + 3 × writes",
        )
    if provider == "jedlix":
        # token when due and the vehicle list every poll; charge settings per vehicle
        # every CHARGE_SETTINGS_MAX_AGE; messages every MESSAGES_MAX_AGE (one page here)
        settings_reads = polls_per_hour(CHARGE_SETTINGS_MAX_AGE)
        message_reads = polls_per_hour(MESSAGES_MAX_AGE)
        return Budget(
            poll=poll,
            allowance=lambda polls, writes: (
                polls * 2
                + settings_reads * vehicles
                + message_reads
                + writes * per_write
            ),
            explain=(
                f"polls × 2 + {settings_reads}N settings + {message_reads} messages"
                " + 3 × writes"
            ),
        )
    # the vehicle list, its pages and the token when due; a poll may read the plan of
    # every plugged-in car (N) after one pass over the sessions (a page or two)
    pages = max(1, math.ceil(vehicles / EVENERGY_PAGE))
    plans = vehicles + 2
    return Budget(
        poll=poll,
        allowance=lambda polls, writes: min(
            EVENERGY_HOURLY_LIMIT, polls * (pages + 1 + plans) + writes * per_write
        ),
        explain=(
            f"min(1000, polls × ({pages} pages + token + {plans} plan reads)"
            " + 3 × writes)"
        ),
    )


@dataclass
class RequestTally:
    """Requests per simulated second (compact: the simulator's log is emptied each step)."""

    total: Counter[int] = field(default_factory=Counter)
    polls: Counter[int] = field(default_factory=Counter)
    writes: Counter[int] = field(default_factory=Counter)

    def max_in_window(self, counter: Counter[int], window: float) -> tuple[int, int]:
        """Largest count in any window [t, t + window), and its start t."""
        times = sorted(counter)
        best, best_start, total, left = 0, 0, 0, 0
        for when in times:
            total += counter[when]
            while times[left] <= when - window:
                total -= counter[times[left]]
                left += 1
            if total > best:
                best, best_start = total, times[left]
        return best, best_start

    def in_window(self, counter: Counter[int], start: int, window: float) -> int:
        """Count in [start, start + window)."""
        return sum(n for when, n in counter.items() if start <= when < start + window)


# --- faults ---------------------------------------------------------------------------

FAULT_KINDS = (
    "timeout",
    "status",
    "html",
    "malformed",
    "truncated",
    "rate_limit",
    "vehicle",
)


def vehicle_fault(provider: str, vehicle_id: str) -> Fault:
    """Return a fault that breaks one vehicle only, on every refresh."""
    if provider == "hiven":
        # its own requests (Hiven status) fail
        return Fault(
            kind=FaultKind.STATUS, provider=provider, vehicle_id=vehicle_id, status=500
        )
    # one list for all (ChargEye: its depots' reads serve every vehicle there): that
    # vehicle's item turns unreadable
    fields = {
        "chargeye": ("fullChargeEnergykWh",),
        "jedlix": ("batteryLevel",),
    }.get(provider, ("state_of_charge_percentage",))
    return Fault(
        kind=FaultKind.UNKNOWN_ENUM,
        provider=provider,
        vehicle_id=vehicle_id,
        fields=fields,
    )


def make_fault(
    kind: str, rng: random.Random, provider: str, vehicle_ids: list[str]
) -> Fault:
    """Return a fault of one of FAULT_KINDS, its details drawn from ``rng``."""
    if kind == "timeout":
        # a hung request costs the client its whole timeout: a few, then it answers
        return Fault(
            kind=FaultKind.TIMEOUT,
            provider=provider,
            method="GET",
            times=rng.randint(1, 3),
        )
    if kind == "status":
        return Fault(
            kind=FaultKind.STATUS,
            provider=provider,
            status=rng.choice((500, 502, 503, 504)),
        )
    if kind == "html":
        return Fault(kind=FaultKind.HTML, provider=provider)
    if kind == "malformed":
        return Fault(kind=FaultKind.MALFORMED, provider=provider)
    if kind == "truncated":
        return Fault(kind=FaultKind.TRUNCATED, provider=provider)
    if kind == "rate_limit":
        return Fault(
            kind=FaultKind.RATE_LIMIT,
            provider=provider,
            retry_after=str(rng.choice((60, 120, 300, 900, 1800))),
            times=rng.randint(1, 2),
        )
    return vehicle_fault(provider, rng.choice(vehicle_ids))


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happens at a simulated second of the day."""

    at: float
    action: str
    """``add`` or ``remove`` a fault, or ``write``."""
    fault: Fault | None = None


@dataclass(kw_only=True)
class DayPlan:
    """The day's events, and every fault by kind (to check each one did strike)."""

    events: list[Event]
    faults: list[tuple[str, Fault]]


def plan_day(
    rng: random.Random, provider: str, vehicle_ids: list[str], start: datetime
) -> DayPlan:
    """Plan faults one after another with quiet gaps, writes, two scheduled outages.

    Kinds are dealt from a shuffled deck, so each comes three or four times a day.
    """
    events: list[Event] = []
    faults: list[tuple[str, Fault]] = []
    deck: list[str] = []
    day = HOURS * 3600.0
    at = rng.uniform(10, 30) * 60
    while at < day - 3600:
        if not deck:
            deck = rng.sample(FAULT_KINDS, len(FAULT_KINDS))
        kind = deck.pop()
        fault = make_fault(kind, rng, provider, vehicle_ids)
        faults.append((kind, fault))
        duration = rng.uniform(6, 40) * 60
        events.append(Event(at=at, action="add", fault=fault))
        events.append(Event(at=at + duration, action="remove", fault=fault))
        if rng.random() < 0.4:
            # the user acts while the provider fails: applied, or reported
            events.append(Event(at=at + 60, action="write"))
        at += duration + rng.uniform(15, 60) * 60
    events.extend(
        Event(at=rng.uniform(1, HOURS - 1) * 3600, action="write") for _ in range(10)
    )
    for _ in range(2):
        begin = rng.uniform(1, HOURS - 2) * 3600
        outage = Fault(
            kind=FaultKind.STATUS,
            provider=provider,
            status=503,
            start=start + timedelta(seconds=begin),
            end=start + timedelta(seconds=begin + rng.uniform(10, 45) * 60),
        )
        faults.append(("outage", outage))
        events.append(Event(at=0, action="add", fault=outage))
    events.sort(key=lambda event: event.at)
    return DayPlan(events=events, faults=faults)


# --- the soak -------------------------------------------------------------------------


class Soak:
    """Drives one provider's day: the clocks, the faults, the writes, the bookkeeping."""

    def __init__(
        self,
        hass: HomeAssistant,
        sim: Simulator,
        freezer: FrozenDateTimeFactory,
        entry: MockConfigEntry,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Start the day's bookkeeping at the simulator's current time."""
        self.hass = hass
        self.sim = sim
        self.freezer = freezer
        self.entry = entry
        self.provider: str = entry.data["provider"]
        self.start = sim.clock.now()
        self.tally = RequestTally()
        self.budget = budget_for(
            self.provider, VEHICLES, depots=len(self.sim.chargeye.locations)
        )
        self._poll = re.compile(self.budget.poll)
        self.writes_applied = 0
        self.writes_refused = 0
        self.timeouts_expired = 0
        self.request_timeout = entry.runtime_data.client.request_timeout
        self.caplog = caplog
        self.errors_logged = 0
        self.unexpected_logs: list[str] = []
        self.traced = False
        """Whether tracemalloc runs (from before setup) for this provider."""
        self.memory_before: MemoryProbe | None = None

    @property
    def entity_ids(self) -> dict[tuple[str, str], str]:
        """(vehicle id, key) -> entity id, for every entity of the entry."""
        result: dict[tuple[str, str], str] = {}
        registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            vehicle_id, key = entity.unique_id.removeprefix(f"{self.provider}_").split(
                "_", 1
            )
            result[vehicle_id, key] = entity.entity_id
        return result

    @property
    def elapsed(self) -> float:
        """Simulated seconds since the start."""
        return (self.sim.clock.now() - self.start).total_seconds()

    def collect(self) -> None:
        """Move the simulator's request log into the tally."""
        for request in self.sim.requests:
            if request.provider != self.provider:
                continue
            second = int((request.time - self.start).total_seconds())
            self.tally.total[second] += 1
            if request.method == "GET" and self._poll.search(request.path):
                self.tally.polls[second] += 1
            elif request.method != "GET" and "/token" not in request.path:
                self.tally.writes[second] += 1
        self.sim.requests.clear()

    async def tick(self, seconds: float) -> None:
        """Move the simulator and Home Assistant forward together, firing due timers."""
        self.sim.clock.advance(seconds)
        self.freezer.tick(timedelta(seconds=seconds))
        async_fire_time_changed(self.hass)

    async def settle(self) -> None:
        """Wait until Home Assistant is idle.

        A request held by a TIMEOUT fault only gives up when the client's timeout passes on
        the (frozen) clock: when one hangs, move both clocks past that timeout.
        """
        waiter = asyncio.ensure_future(
            self.hass.async_block_till_done(wait_background_tasks=True)
        )
        timeout = self.request_timeout
        since = time.clock_gettime(time.CLOCK_MONOTONIC)
        while not waiter.done():
            for _ in range(50):
                await asyncio.sleep(0)
                if waiter.done():
                    break
            else:
                if self.sim.faults.hanging:
                    self.timeouts_expired += 1
                    await self.tick(timeout + 1)
                    since = time.clock_gettime(time.CLOCK_MONOTONIC)
                elif time.clock_gettime(time.CLOCK_MONOTONIC) - since > STUCK_SECONDS:
                    waiter.cancel()
                    pytest.fail(
                        "Home Assistant never became idle: "
                        f"{self.hass._tasks | self.hass._background_tasks}"
                    )
        await waiter
        # The client gave up on those requests: release the simulator's side too.
        await self.sim.faults.cancel_hanging()

    def drain_logs(self) -> None:
        """Check the captured log records, then let them go.

        Only the coordinator's own "Error fetching" line may be an error, and nothing may
        carry a traceback (an unhandled exception). pytest keeps every record for the
        report, and a record keeps its arguments (the exception, its traceback, the frames
        and everything they hold): dropping them keeps the memory measurement about the
        integration.
        """
        for record in self.caplog.records:
            if record.exc_info or (
                record.levelno >= logging.ERROR
                and not str(record.msg).startswith("Error fetching")
            ):
                self.unexpected_logs.append(f"{record.name}: {record.getMessage()}")
            elif record.levelno >= logging.ERROR:
                self.errors_logged += 1
        self.caplog.clear()
        plugin = self.caplog._item.config.pluginmanager.get_plugin("logging-plugin")
        plugin.report_handler.clear()

    @property
    def healthy(self) -> bool:
        """Whether no fault is active and the last refresh read every vehicle."""
        coordinator = self.entry.runtime_data.coordinator
        now = self.sim.clock.now()
        return (
            not any(fault.active(now) for fault in self.sim.faults)
            and coordinator.last_update_success
            and not coordinator.data.problems
        )

    async def probe_memory(self) -> MemoryProbe:
        """Let idle connections close, drop the captured logs, then measure what is alive.

        Per-vehicle requests run up to 8 at a time, so after a burst the client pools up
        to 8 keep-alive connections (closed after 15 idle seconds): not growth.
        """
        await self.step(IDLE_CONNECTIONS_CLOSE)
        self.drain_logs()
        return MemoryProbe.take()

    def until_refresh(self) -> float | None:
        """Seconds until the coordinator's scheduled refresh (None: none scheduled)."""
        unsub = self.entry.runtime_data.coordinator._unsub_refresh
        handle = getattr(unsub, "__self__", None)
        if not isinstance(handle, asyncio.TimerHandle):
            return None
        return max(0.0, handle.when() - self.hass.loop.time())

    async def step(self, seconds: float) -> None:
        """One step of the day."""
        await self.tick(seconds)
        await self.settle()
        self.collect()

    async def write(self, rng: random.Random) -> None:
        """Change a target or smart charging of a random vehicle, as a user would."""
        if any(fault.kind is FaultKind.TIMEOUT for fault in self.sim.faults):
            return  # a write would wait on a hung request; the user tries later
        coordinator = self.entry.runtime_data.coordinator
        entity_ids = self.entity_ids
        candidates = [
            (vehicle_id, key)
            for vehicle_id in coordinator.data.vehicles
            for key in ("target_soc", "smart_charging")
            if (entity_id := entity_ids.get((vehicle_id, key)))
            and (state := self.hass.states.get(entity_id))
            and state.state != STATE_UNAVAILABLE
        ]
        if not candidates:
            return
        vehicle_id, key = rng.choice(candidates)
        entity_id = entity_ids[vehicle_id, key]
        state = self.hass.states.get(entity_id)
        assert state is not None
        before = state.state
        if key == "target_soc":
            low = int(state.attributes["min"])
            high = int(state.attributes["max"])
            value: Any = rng.randrange(max(low, 50), high + 1, 5)
            call = ("number", "set_value", {ATTR_ENTITY_ID: entity_id, "value": value})
        else:
            value = before != "on"
            call = (
                "switch",
                "turn_on" if value else "turn_off",
                {ATTR_ENTITY_ID: entity_id},
            )
        try:
            await self.hass.services.async_call(*call, blocking=True)
        except HomeAssistantError:
            # reported to the user, and the entity keeps what the provider has
            self.writes_refused += 1
            assert self.hass.states.get(entity_id).state == before
        else:
            self.writes_applied += 1
            truth = self.sim.fleet(self.provider).vehicles[vehicle_id]
            self.sim.sync(self.provider)
            actual = truth.target_soc if key == "target_soc" else truth.smart_charging
            assert actual == value, f"{key} of {vehicle_id} not applied"
        self.collect()


def object_counts() -> Counter[str]:
    """Live objects per type, for the types of everything but the test and its simulator.

    Every class instance is tracked by the garbage collector, so a leak of the integration's
    snapshots, entities or states, of Home Assistant's events, states or timers, or of
    aiohttp's connections and responses shows here by type. Plain containers (dict, list,
    tuple) are left out: they say nothing about who keeps them, and the simulator makes many.
    """
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        cls = type(obj)
        module = getattr(cls, "__module__", None)
        if not isinstance(module, str) or module == "builtins":
            continue
        if module.startswith(("tests.", "_pytest", "pytest")):
            continue
        counts[f"{module}.{cls.__qualname__}"] += 1
    return counts


def traced_bytes() -> int:
    """Bytes traced by tracemalloc, except those allocated by the test and the simulator.

    The simulator keeps a history (ev.energy status logs, sessions) that legitimately
    fills up over the day, the test keeps its own tallies, and tracemalloc its snapshots.
    """
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(False, f"*{os.sep}tests{os.sep}*"),
            tracemalloc.Filter(False, tracemalloc.__file__),
        ]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


@dataclass(frozen=True, kw_only=True)
class MemoryProbe:
    """What is alive at one moment, after a full collection."""

    objects: Counter[str]
    traced: int | None
    """Bytes (tracemalloc), when it runs."""

    @classmethod
    def take(cls) -> MemoryProbe:
        """Measure now."""
        gc.collect()
        return cls(
            objects=object_counts(),
            traced=traced_bytes() if tracemalloc.is_tracing() else None,
        )

    def growth_since(self, before: MemoryProbe) -> tuple[int, Counter[str]]:
        """Traced bytes grown (0 untraced) and objects grown per type (growing types only)."""
        objects = Counter(self.objects)
        objects.subtract(before.objects)
        grown = Counter({name: n for name, n in objects.items() if n > 0})
        if self.traced is None or before.traced is None:
            return 0, grown
        return self.traced - before.traced, grown


def expected_states(provider: str, vehicle: SimVehicle) -> dict[str, Any]:
    """Return what each compared entity must show for a vehicle (None: unknown)."""
    expected: dict[str, Any] = {
        "state_of_charge": vehicle.soc,
        "charging_status": vehicle.status,
        "plugged_in": "on" if vehicle.plugged_in else "off",
        "target_soc": float(vehicle.target_soc),
        "smart_charging": "on" if vehicle.smart_charging else "off",
    }
    if provider == "chargeye" and not vehicle.plugged_in:
        # ChargEye knows a vehicle's charge only from its plan at the depot
        expected["state_of_charge"] = None
    return expected


def compare(soak: Soak) -> list[str]:
    """Every difference between the entities and the simulator's truth."""
    hass, sim, provider = soak.hass, soak.sim, soak.provider
    sim.sync(provider)
    entity_ids = soak.entity_ids
    differences: list[str] = []
    compared = 0
    for vehicle in sim.fleet(provider):
        for key, want in expected_states(provider, vehicle).items():
            entity_id = entity_ids.get((vehicle.id, key))
            state = hass.states.get(entity_id) if entity_id else None
            if state is None:
                continue  # the provider does not offer it
            compared += 1
            got = state.state
            if want is None:
                ok = got == "unknown"
            elif isinstance(want, float):
                # providers report the charge to a tenth (Hiven) or whole percent
                try:
                    ok = abs(float(got) - want) <= 0.51
                except ValueError:
                    ok = False
            else:
                ok = got == want
            if not ok:
                differences.append(
                    f"{vehicle.id} {key}: entity {got!r}, truth {want!r}"
                )
    assert compared >= 3 * VEHICLES, f"only {compared} entities compared"
    return differences


async def run_day(soak: Soak, rng: random.Random, events: list[Event]) -> None:
    """Step through the day, applying the events as their time comes."""
    sim = soak.sim
    day = HOURS * 3600.0
    pending = list(events)
    hour = 0
    while soak.elapsed < day:
        if soak.elapsed >= (hour + 1) * 3600:
            hour = int(soak.elapsed // 3600)
            soak.drain_logs()
        if soak.memory_before is None and hour >= MEMORY_FROM_HOUR and soak.healthy:
            # compare like with like: a moment without faults here and at the end
            soak.memory_before = await soak.probe_memory()
        due = soak.until_refresh()
        step = min(
            MAX_STEP if due is None else math.ceil(due),
            pending[0].at - soak.elapsed if pending else MAX_STEP,
            day - soak.elapsed,
        )
        await soak.step(max(1.0, step))
        while pending and pending[0].at <= soak.elapsed:
            event = pending.pop(0)
            if event.action == "add":
                assert event.fault is not None
                sim.faults.add(event.fault)
            elif event.action == "remove":
                assert event.fault is not None
                sim.faults.remove(event.fault)
            else:
                await soak.write(rng)


async def test_soak(
    *,
    hass: HomeAssistant,
    sim: Simulator,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    provider: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A day of faults and writes: entities end at the truth, within budget, no leaks."""
    real_start = time.clock_gettime(time.CLOCK_MONOTONIC)  # freezegun leaves it alone
    # Debug mode records a traceback for every handle and task (a third of the run time)
    # and reports "slow" callbacks on the frozen clock's jumps: noise in a soak.
    hass.loop.set_debug(False)
    caplog.set_level(logging.INFO)
    if provider in TRACED_PROVIDERS:
        # From before setup: everything alive later was traced when it was allocated, so
        # an object replaced after hour 2 counts out as well as in.
        tracemalloc.start()
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = mock_config_entry.runtime_data.coordinator
    client = mock_config_entry.runtime_data.client
    assert len(coordinator.data.vehicles) == VEHICLES

    soak = Soak(hass, sim, freezer, mock_config_entry, caplog)
    soak.collect()
    rng = random.Random(f"{SEED}:{provider}")
    plan = plan_day(rng, provider, list(coordinator.data.vehicles), soak.start)
    soak.traced = tracemalloc.is_tracing()
    await run_day(soak, rng, plan.events)

    # The faults end; one more refresh brings everything back to the truth.
    sim.faults.clear()
    polls_before = sum(soak.tally.polls.values())
    for _ in range(20):
        due = soak.until_refresh()
        await soak.step(MAX_STEP if due is None else max(1.0, math.ceil(due)))
        if (
            sum(soak.tally.polls.values()) > polls_before
            and coordinator.last_update_success
        ):
            break
    # Each car is read at its own pace: wait for the refresh that reads them all.
    await soak.step(until_full_read(mock_config_entry).total_seconds() + 1)
    assert soak.healthy, coordinator.data.problems
    unavailable = [
        entity_id
        for entity_id in soak.entity_ids.values()
        if (state := hass.states.get(entity_id)) and state.state == STATE_UNAVAILABLE
    ]
    assert not unavailable, unavailable
    differences = compare(soak)  # at the time of that refresh: before the clock moves
    assert not differences, "\n".join(differences[:20])

    after = await soak.probe_memory()
    tracemalloc.stop()
    assert soak.memory_before is not None
    traced_growth, objects_grown = after.growth_since(soak.memory_before)

    # Budget: requests within what fixed polling at the configured interval allows
    # (ev.energy: and never throttled by its own 1000/hour). Reads timed to a car's
    # cloud may come closer than that interval, never closer than the provider's minimum.
    polls = polls_per_hour(scan_interval(mock_config_entry, client))
    fastest = polls_per_hour(client.min_scan_interval)
    most_polls, _ = soak.tally.max_in_window(soak.tally.polls, 3600)
    most_requests, busiest = soak.tally.max_in_window(soak.tally.total, 3600)
    allowed = soak.budget.allowance(
        polls, soak.tally.in_window(soak.tally.writes, busiest, 3600)
    )
    assert most_polls <= fastest, (
        f"{most_polls} refreshes in an hour, {fastest} allowed"
    )
    assert most_requests <= allowed, f"{most_requests} requests in an hour > {allowed}"
    if provider == "evenergy":
        assert sim.evenergy.rate_limited == 0

    # Unload: no refresh scheduled, no listener left, nothing sent any more.
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert coordinator._unsub_refresh is None
    assert not coordinator._listeners
    sim.requests.clear()
    for _ in range(6):
        await soak.step(600)
    assert not sim.requests.for_provider(provider)
    hass.loop.set_debug(True)

    real_seconds = time.clock_gettime(time.CLOCK_MONOTONIC) - real_start
    _LOGGER.info(
        "soak %s: %.1f s real; %d requests, busiest hour %d of %d allowed (%s), %d"
        " refreshes in the busiest hour of %d; faults: %d of %d struck; writes: %d"
        " applied, %d refused; %d timeouts; %d errors logged; hour %d -> %d:"
        " tracemalloc %s, objects grown %s",
        provider,
        real_seconds,
        sum(soak.tally.total.values()),
        most_requests,
        allowed,
        soak.budget.explain,
        most_polls,
        polls,
        sum(1 for _, fault in plan.faults if fault.hits),
        len(plan.faults),
        soak.writes_applied,
        soak.writes_refused,
        soak.timeouts_expired,
        soak.errors_logged,
        MEMORY_FROM_HOUR,
        HOURS,
        f"{traced_growth / 1024:+.0f} kB" if soak.traced else "off",
        dict(objects_grown.most_common(5)),
    )
    assert not soak.unexpected_logs, "\n".join(soak.unexpected_logs[:20])
    assert traced_growth < MAX_TRACED_GROWTH, f"traced memory grew {traced_growth} B"
    too_many = {
        name: n
        for name, n in objects_grown.items()
        if n > (PLAN_DATA_GROWTH if name in PLAN_DATA else MAX_OBJECT_GROWTH)
    }
    assert not too_many, f"objects grew: {too_many}"
    assert soak.writes_applied > 0
    assert soak.writes_refused > 0
    struck = {kind for kind, fault in plan.faults if fault.hits}
    assert struck == {kind for kind, _ in plan.faults}, f"only {sorted(struck)} struck"
