"""Measure one provider account in Home Assistant: setup, refreshes, requests, CPU, writes.

``measure()`` sets up a config entry against a running simulator in a given Home Assistant
(the test harness's), then refreshes the coordinator several times while nothing changes in
the simulated world: the simulator's clock stands still and the client's clock is pinned to
it (ChargEye derives state from the plan at "now"). Per refresh it records wall time, the
CPU time of this process, the HTTP requests the simulator received, and how many state
writes the integration's entities made. One last refresh after the simulator's clock moved
on shows that real changes are still written.

``python -m tests.bench`` runs this once per provider and fleet size, each in a fresh
process, with the simulator in another process so its CPU is not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
import cProfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
import math
import re
import resource
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any, Protocol, Self
from unittest.mock import patch

import aiohttp
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.chargebridge as integration
from custom_components.chargebridge.api import Fleet
from custom_components.chargebridge.api.base import PER_VEHICLE_CONCURRENCY
from custom_components.chargebridge.api.evenergy import PAGE_SIZE as EVENERGY_PAGE_SIZE
from custom_components.chargebridge.api.hiven import SCHEDULED_STATUSES
from custom_components.chargebridge.const import DOMAIN
from tests.simulator.profiles import PROVIDER_NAMES

if TYPE_CHECKING:  # not imported at run time: the simulator is another process
    from tests.simulator import Simulator

try:  # Newer Home Assistant releases report unchanged writes as their own event.
    from homeassistant.const import EVENT_STATE_REPORTED
except ImportError:  # pragma: no cover - every supported release has it
    EVENT_STATE_REPORTED = "state_reported"

PROVIDERS = PROVIDER_NAMES
"""Every simulated provider (tests/simulator/profiles.py); each needs its two formulas below."""
DEFAULT_RTT_MS = 50.0
PLAN_READ = r"/charging_sub_sessions/[^/]+/schedules$"
"""An ev.energy plan read (a sub-session's schedules) in the request log."""
CHANGE_SECONDS = 600
"""How far the simulator's clock moves for the closing "something changed" refresh."""


ROUND_TRIPS: dict[str, str] = {
    "hiven": (
        "1 device list, then per vehicle its status and, for the S cars plugged in with "
        f"smart charging on, its schedule after that; at most {PER_VEHICLE_CONCURRENCY} "
        "per-vehicle requests in flight (api/base.py PER_VEHICLE_CONCURRENCY): "
        f"1 + max(ceil((N + S) / {PER_VEHICLE_CONCURRENCY}), 1 + [S > 0])"
    ),
    "chargeye": (
        "1 vehicle list, then one schedules read per depot the L vehicles name, at most "
        f"{PER_VEHICLE_CONCURRENCY} in flight: 1 + ceil(L / {PER_VEHICLE_CONCURRENCY})"
    ),
    "jedlix": (
        "1: the vehicle list embeds every car's charge state; charge settings (30 min) "
        "and messages (15 min) are cached, so a steady-state refresh reads only the list"
    ),
    "evenergy": (
        f"ceil(N / {EVENERGY_PAGE_SIZE}): the vehicle list with status inlined, "
        f"{EVENERGY_PAGE_SIZE} per page, pages followed one after another (cursor links); "
        "with R plans due, then the pass over the sessions and the R schedule reads: "
        f"+ ceil(R / {EVENERGY_PAGE_SIZE}) + ceil(R / {PER_VEHICLE_CONCURRENCY})"
    ),
}
"""The minimum number of dependent round trips of a steady-state refresh (token cached)."""

MINIMUM_REQUESTS: dict[str, str] = {
    "hiven": "1 + N + S",
    "chargeye": "1 + L (L: depots the vehicles name)",
    "jedlix": "1",
    "evenergy": (
        f"ceil(N / {EVENERGY_PAGE_SIZE}) + [R > 0] ceil(R / {EVENERGY_PAGE_SIZE}) + R "
        "(R: plugged-in cars whose plan is due: changed, written to, or 15 minutes old)"
    ),
}


MAX_SETTLE_REFRESHES = 60
"""Refreshes ev.energy may take after setup to read the plans setup left for later."""


def minimum_requests(
    provider: str, vehicles: int, scheduled: int = 0, depots: int = 0, plans: int = 0
) -> int:
    """Fewest requests a steady-state refresh of the provider's API can make.

    ev.energy's ``plans`` due are read after their open sub-sessions are found: the
    sessions list holds at least one of them per page.
    """
    if provider == "hiven":
        return 1 + vehicles + scheduled
    if provider == "chargeye":
        return 1 + depots
    if provider == "jedlix":
        return 1
    listing = max(1, math.ceil(vehicles / EVENERGY_PAGE_SIZE))
    return listing + (math.ceil(plans / EVENERGY_PAGE_SIZE) + plans if plans else 0)


def minimum_round_trips(
    provider: str, vehicles: int, scheduled: int = 0, depots: int = 0, plans: int = 0
) -> int:
    """Fewest round trips that must follow one another (see ROUND_TRIPS)."""
    if provider == "hiven":
        if vehicles == 0:
            return 1
        rounds = math.ceil((vehicles + scheduled) / PER_VEHICLE_CONCURRENCY)
        return 1 + max(rounds, 2 if scheduled else 1)
    if provider == "chargeye":
        return 1 + math.ceil(depots / PER_VEHICLE_CONCURRENCY)
    if provider == "evenergy" and plans:
        return (
            minimum_requests(provider, vehicles)
            + math.ceil(plans / EVENERGY_PAGE_SIZE)
            + math.ceil(plans / PER_VEHICLE_CONCURRENCY)
        )
    return minimum_requests(provider, vehicles, scheduled)


def hiven_scheduled(fleet: Fleet) -> int:
    """Count Hiven cars whose schedule is worth a request (plugged in, smart charging on)."""
    return sum(
        1
        for snapshot in fleet.vehicles.values()
        if snapshot.error is None
        and snapshot.state.charging_status in SCHEDULED_STATUSES
        and snapshot.preferences.smart_charging is not False
    )


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


class BenchError(Exception):
    """The benchmark cannot produce honest numbers (a refresh failed, setup failed)."""


class SimulatorControl(Protocol):
    """What the benchmark asks of the simulator, in-process or over /_admin."""

    async def now(self) -> datetime:
        """Return the simulated time."""

    async def advance(self, seconds: float) -> datetime:
        """Move the simulated clock and return the new time."""

    async def clear_requests(self) -> None:
        """Forget the recorded requests."""

    async def request_count(self, provider: str) -> int:
        """Return how many requests of the provider were recorded."""

    async def chargeye_depots(self) -> int:
        """Return how many depots the ChargEye vehicles name (each read once)."""

    async def plan_reads(self) -> int:
        """Return how many ev.energy schedule (plan) reads were recorded."""


def distinct_depots(depots_named: dict[str, list[str]]) -> int:
    """Count the depots in ChargEye's ``depots_named`` (GET /_admin/state)."""
    return len({depot for depots in depots_named.values() for depot in depots})


class LocalSimulator:
    """A Simulator object in this process (the smoke test)."""

    def __init__(self, sim: Simulator) -> None:
        """Wrap the simulator."""
        self.sim = sim

    async def now(self) -> datetime:
        """Return the simulated time."""
        return self.sim.clock.now()

    async def advance(self, seconds: float) -> datetime:
        """Move the simulated clock."""
        return self.sim.advance(seconds)

    async def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self.sim.requests.clear()

    async def request_count(self, provider: str) -> int:
        """Count the provider's recorded requests."""
        return self.sim.requests.count(provider=provider)

    async def chargeye_depots(self) -> int:
        """Count the depots the ChargEye vehicles name."""
        return distinct_depots(self.sim.chargeye.admin_state()["depots_named"])

    async def plan_reads(self) -> int:
        """Count the recorded ev.energy schedule reads."""
        return self.sim.requests.count(provider="evenergy", path=PLAN_READ)


class RemoteSimulator:
    """The simulator in another process (``python -m tests.simulator --frozen``)."""

    def __init__(self, url: str) -> None:
        """Talk to the simulator's /_admin at ``url``."""
        self.url = url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        """Open the admin session."""
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the admin session."""
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self._session is not None
        async with self._session.request(
            method, f"{self.url}/_admin{path}", **kwargs
        ) as response:
            response.raise_for_status()
            return await response.json()

    async def now(self) -> datetime:
        """Return the simulated time."""
        return datetime.fromisoformat((await self._call("GET", "/clock"))["time"])

    async def advance(self, seconds: float) -> datetime:
        """Move the simulated clock."""
        data = await self._call("POST", "/clock", json={"advance": seconds})
        return datetime.fromisoformat(data["time"])

    async def clear_requests(self) -> None:
        """Forget the recorded requests."""
        await self._call("DELETE", "/requests")

    async def request_count(self, provider: str) -> int:
        """Count the provider's recorded requests."""
        return len(await self._call("GET", "/requests", params={"provider": provider}))

    async def chargeye_depots(self) -> int:
        """Count the depots the ChargEye vehicles name."""
        state = await self._call("GET", "/state", params={"provider": "chargeye"})
        return distinct_depots(state["providers"]["chargeye"]["depots_named"])

    async def plan_reads(self) -> int:
        """Count the recorded ev.energy schedule reads."""
        recorded = await self._call("GET", "/requests", params={"provider": "evenergy"})
        return sum(1 for entry in recorded if re.search(PLAN_READ, entry["path"]))


@dataclass
class WriteCount:
    """State writes of the integration's entities since the last reset."""

    calls: int = 0
    """``async_write_ha_state`` calls by ChargeBridge entities."""
    changed: int = 0
    """``state_changed`` events of ChargeBridge entities."""
    reported: int = 0
    """``state_reported`` events (a write of an unchanged state) of ChargeBridge entities."""
    refused: int = 0
    """Enabled entities Home Assistant would not add (its per-config-entry limit)."""

    def reset(self) -> None:
        """Start counting from zero."""
        self.calls = self.changed = self.reported = 0


@contextmanager
def count_writes(hass: HomeAssistant) -> Iterator[WriteCount]:
    """Count ChargeBridge entities' state writes and the state events they cause."""
    count = WriteCount()
    original = Entity.async_write_ha_state
    ours: set[str] = set()

    def counting(self: Entity) -> None:
        if self.platform is not None and self.platform.platform_name == DOMAIN:
            count.calls += 1
            if self.entity_id:
                ours.add(self.entity_id)
        original(self)

    @callback
    def ours_only(event_data: Any) -> bool:
        return event_data["entity_id"] in ours

    @callback
    def on_changed(event: Event) -> None:
        count.changed += 1

    @callback
    def on_reported(event: Event) -> None:
        count.reported += 1

    original_abort = Entity.add_to_platform_abort

    def counting_abort(self: Entity) -> None:
        # Disabled entities are aborted too, but after they got their registry entry.
        if (
            self.platform is not None
            and self.platform.platform_name == DOMAIN
            and self.registry_entry is None
        ):
            count.refused += 1
        original_abort(self)

    Entity.async_write_ha_state = counting  # type: ignore[method-assign]
    Entity.add_to_platform_abort = counting_abort  # type: ignore[method-assign]
    unsubscribe = [
        hass.bus.async_listen(EVENT_STATE_CHANGED, on_changed, event_filter=ours_only),
        hass.bus.async_listen(
            EVENT_STATE_REPORTED, on_reported, event_filter=ours_only
        ),
    ]
    try:
        yield count
    finally:
        Entity.async_write_ha_state = original  # type: ignore[method-assign]
        Entity.add_to_platform_abort = original_abort  # type: ignore[method-assign]
        for remove in unsubscribe:
            remove()


@dataclass
class Measurement:
    """What one provider account of one fleet size measured."""

    provider: str
    vehicles: int
    rtt_ms: float
    entities: int = 0
    """Entities with a state (Home Assistant may refuse some: see ``registered``)."""
    offered: int = 0
    """Enabled entities the integration made (Home Assistant may refuse some)."""
    setup_s: float = 0.0
    scheduled: int = 0
    """Hiven only: cars whose schedule is read (plugged in, smart charging on)."""
    depots: int = 0
    """ChargEye only: depots the vehicles name (each read once per refresh)."""
    plans: int = 0
    """ev.energy only: plans read in the measured refreshes (at most, per refresh)."""
    requests_after_change: int | None = None
    plans_after_change: int | None = None
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    """Requests the simulator received per refresh."""
    client_requests: list[int] = field(default_factory=list)
    """Requests the client counted per refresh (must equal ``requests``)."""
    writes: list[int] = field(default_factory=list)
    state_changed: list[int] = field(default_factory=list)
    state_reported: list[int] = field(default_factory=list)
    writes_after_change: int | None = None
    changed_after_change: int | None = None
    cpu_after_change_ms: float | None = None
    peak_rss_mib: float = 0.0

    @property
    def min_requests(self) -> int:
        """The provider's minimum requests for this fleet."""
        return minimum_requests(
            self.provider, self.vehicles, self.scheduled, self.depots, self.plans
        )

    @property
    def min_round_trips(self) -> int:
        """The provider's minimum dependent round trips for this fleet."""
        return minimum_round_trips(
            self.provider, self.vehicles, self.scheduled, self.depots, self.plans
        )

    @property
    def median_wall_ms(self) -> float:
        """Median refresh wall time."""
        return statistics.median(self.wall_ms)

    @property
    def median_cpu_ms(self) -> float:
        """Median CPU time of this process per refresh."""
        return statistics.median(self.cpu_ms)

    @property
    def median_requests(self) -> float:
        """Median requests per refresh."""
        return statistics.median(self.requests)

    @property
    def ratio(self) -> float:
        """Refresh wall time over (minimum dependent round trips x RTT)."""
        return self.median_wall_ms / (self.min_round_trips * self.rtt_ms)

    def to_json(self) -> dict[str, Any]:
        """Plain data, for the driver process."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        """Read what to_json wrote."""
        return cls(**data)

    def row(self) -> dict[str, str]:
        """Return the table row (column title -> text); see COLUMNS."""
        requests = f"{self.median_requests:g}"
        if min(self.requests) != max(self.requests):
            requests += f" ({min(self.requests)}-{max(self.requests)})"
        changed = (
            "-"
            if self.writes_after_change is None
            else (
                f"{self.writes_after_change} / {self.changed_after_change}, "
                f"{self.cpu_after_change_ms or 0:.0f} ms"
            )
        )
        return {
            "vehicles": str(self.vehicles),
            "entities": (
                str(self.entities)
                if self.entities >= self.offered
                else f"{self.entities} of {self.offered}"
            ),
            "setup s": f"{self.setup_s:.2f}",
            "refresh ms": f"{self.median_wall_ms:.0f}",
            "requests": requests,
            "minimum": str(self.min_requests),
            "CPU ms": f"{self.median_cpu_ms:.1f}",
            "CPU ms/vehicle": f"{self.median_cpu_ms / max(self.vehicles, 1):.3f}",
            "writes unchanged": (
                f"{statistics.median(self.writes):g} / "
                f"{statistics.median(self.state_changed):g}"
            ),
            "writes changed": changed,
            "peak RSS MiB": f"{self.peak_rss_mib:.0f}",
            "min RTs": str(self.min_round_trips),
            "ratio": f"{self.ratio:.2f}",
        }


COLUMNS: dict[str, str] = {
    "vehicles": "fleet size N (per provider)",
    "entities": (
        'enabled entities with a state ("of" the ones made where Home Assistant refused'
        " some: recent releases add at most 10000 per config entry)"
    ),
    "setup s": "config entry setup: first fetch (token, full read), devices and entities",
    "refresh ms": "median wall time of a coordinator refresh, listeners and state writes included",
    "requests": "HTTP requests per refresh, as the simulator's request log saw them",
    "minimum": "fewest requests the provider's API allows for this fleet",
    "CPU ms": "median CPU time (time.process_time) of the Home Assistant process per refresh",
    "CPU ms/vehicle": "CPU ms / N",
    "writes unchanged": (
        "per refresh with nothing changed: async_write_ha_state calls / state_changed events"
    ),
    "writes changed": (
        f"one refresh after the simulated clock moved {CHANGE_SECONDS // 60} min: writes /"
        " state_changed events, and its CPU time (every entity then checks what it shows)"
    ),
    "peak RSS MiB": "peak resident memory of the Home Assistant process (resource.getrusage)",
    "min RTs": "minimum dependent round trips of the refresh (definition per provider)",
    "ratio": "refresh ms / (min RTs x RTT)",
}


def format_table(measurements: list[Measurement]) -> str:
    """Return a Markdown table, one row per fleet size."""
    return markdown_table([measurement.row() for measurement in measurements])


def markdown_table(rows: list[dict[str, str]]) -> str:
    """Return rows (column title -> text, every row the same titles) as a Markdown table."""
    titles = list(rows[0])
    widths = {
        title: max(len(title), *(len(row[title]) for row in rows)) for title in titles
    }
    lines = [
        "| " + " | ".join(title.ljust(widths[title]) for title in titles) + " |",
        "|" + "|".join("-" * (widths[title] + 2) for title in titles) + "|",
    ]
    lines.extend(
        "| " + " | ".join(row[title].rjust(widths[title]) for title in titles) + " |"
        for row in rows
    )
    return "\n".join(lines)


async def _refresh(hass: HomeAssistant, coordinator: Any) -> None:
    # Every measured refresh reads the whole account, as a manual refresh does: time
    # stands still here, so the cadence would find no car due and read nothing.
    await coordinator.async_refresh_everything()
    await hass.async_block_till_done()
    if not coordinator.last_update_success:
        raise BenchError(f"refresh failed: {coordinator.last_exception!r}")


async def measure(
    hass: HomeAssistant,
    sim: SimulatorControl,
    config: dict[str, Any],
    *,
    vehicles: int,
    refreshes: int = 5,
    warmup: int = 1,
    rtt_ms: float = DEFAULT_RTT_MS,
    change: bool = True,
    profile: cProfile.Profile | None = None,
) -> Measurement:
    """Set up ``config`` in ``hass``, measure ``refreshes`` refreshes, then unload it."""
    provider = config["provider"]
    result = Measurement(provider=provider, vehicles=vehicles, rtt_ms=rtt_ms)
    entry = MockConfigEntry(
        domain=DOMAIN, title=provider, data=config, unique_id=f"bench_{provider}"
    )
    entry.add_to_hass(hass)
    # The client reads the simulator's (frozen) time from its first request on: token
    # lifetimes and ChargEye's plan-derived state then agree with the simulated world,
    # and nothing changes between refreshes, not even time.
    build_client = integration.build_client

    def build_with_sim_clock(hass: HomeAssistant, data: Any) -> Any:
        client = build_client(hass, data)
        client.clock = clock
        return client

    clock = _fixed(await sim.now())
    with (
        count_writes(hass) as writes,
        patch.object(integration, "build_client", build_with_sim_clock),
    ):
        started = time.perf_counter()
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise BenchError(f"{provider}: setting up the config entry failed")
        await hass.async_block_till_done()
        result.setup_s = time.perf_counter() - started
        coordinator = entry.runtime_data.coordinator
        client = entry.runtime_data.client
        result.entities = sum(
            1
            for item in er.async_entries_for_config_entry(
                er.async_get(hass), entry.entry_id
            )
            if item.disabled_by is None and hass.states.get(item.entity_id) is not None
        )
        result.offered = result.entities + writes.refused

        for _ in range(warmup):
            await _refresh(hass, coordinator)
        if provider == "evenergy":
            # A refresh reads at most MAX_PLAN_READS_PER_REFRESH plans: the steady state
            # begins once the plans setup left for later are read.
            for _ in range(MAX_SETTLE_REFRESHES):
                await sim.clear_requests()
                await _refresh(hass, coordinator)
                if not await sim.plan_reads():
                    break

        for _ in range(refreshes):
            await sim.clear_requests()
            made = client.requests_made
            writes.reset()
            if profile is not None:
                profile.enable()
            wall, cpu = time.perf_counter(), time.process_time()
            await _refresh(hass, coordinator)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if profile is not None:
                profile.disable()
            result.wall_ms.append(wall * 1000)
            result.cpu_ms.append(cpu * 1000)
            result.client_requests.append(client.requests_made - made)
            result.requests.append(await sim.request_count(provider))
            if provider == "evenergy":
                result.plans = max(result.plans, await sim.plan_reads())
            result.writes.append(writes.calls)
            result.state_changed.append(writes.changed)
            result.state_reported.append(writes.reported)
        if provider == "hiven":
            result.scheduled = hiven_scheduled(coordinator.data)
        if provider == "chargeye":
            result.depots = await sim.chargeye_depots()

        if change:
            moved = await sim.advance(CHANGE_SECONDS)
            client.clock = _fixed(moved)
            writes.reset()
            await sim.clear_requests()
            cpu = time.process_time()
            await _refresh(hass, coordinator)
            result.cpu_after_change_ms = (time.process_time() - cpu) * 1000
            result.requests_after_change = await sim.request_count(provider)
            if provider == "evenergy":
                result.plans_after_change = await sim.plan_reads()
            result.writes_after_change = writes.calls
            result.changed_after_change = writes.changed

    result.peak_rss_mib = peak_rss_mib()
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    return result


def _fixed(when: datetime) -> Callable[[], datetime]:
    return lambda: when
