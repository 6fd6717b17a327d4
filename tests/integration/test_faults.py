"""The fault suite: every provider against every fault the simulator injects.

Each case runs Home Assistant against the simulator on its manual clock (time moves with
the ``advance`` fixture; nothing sleeps) and checks what a user would see:

- no unhandled exception (nothing logged with a traceback, no "Unexpected error" or
  "Error doing job");
- only the affected scope unavailable: the whole fleet for a fault of the account, only
  that vehicle's entities for a fault of one vehicle, nothing for harmless payload
  changes; the account's own entities (refresh button) stay;
- exactly one log line when lost and one when back;
- recovery by itself once the fault is gone;
- reauthentication only for credentials the provider really refuses, never for a 401
  that a new access token fixes;
- a write during a fault is applied or reported (HomeAssistantError, old state kept),
  never silently dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.chargebridge.api import (
    Capabilities,
    ChargeBridgeError,
    Fleet,
    ProviderConnectionError,
    ProviderResponseError,
    ProviderValueError,
    Vehicle,
    VehicleSnapshot,
)
from custom_components.chargebridge.api.registry import PROVIDERS
from custom_components.chargebridge.const import DOMAIN
from custom_components.chargebridge.coordinator import (
    ChargeBridgeCoordinator,
    keep_unlisted,
)
from tests.simulator import PROFILES, Fault, FaultKind, Simulator
from tests.simulator.profiles import token_profiles

from .conftest import next_full_poll, reauth_flows, refresh_everything

TOKEN_PROVIDERS = [profile.name for profile in token_profiles()]
UNHANDLED = (
    "Unexpected error",
    "Error doing job",
    "Task exception was never retrieved",
    "Exception in",
    "does not generate unique IDs",
)
QUIET = 50
"""Event loop turns without any progress before held requests are let time out."""
LOST = "Error fetching"
BACK = "data recovered"
AUTH_LOST = "Authentication failed while fetching"
PROBLEM = "Problem reading the fleet"
SOLVED = "Problem resolved"


# --- the harness -------------------------------------------------------------------------


@dataclass
class Harness:
    """Home Assistant with one loaded entry, the simulator, the clock and the log."""

    hass: HomeAssistant
    sim: Simulator
    entry: MockConfigEntry
    freezer: FrozenDateTimeFactory
    caplog: pytest.LogCaptureFixture
    in_flight: int = 0
    """Requests the client has sent and not yet got an answer (or error) for."""

    def count_requests(self) -> None:
        """Keep ``in_flight`` up to date by wrapping the client's one I/O method."""
        client = self.entry.runtime_data.client
        send = client._send

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.in_flight += 1
            try:
                return await send(*args, **kwargs)
            finally:
                self.in_flight -= 1

        client._send = counted  # type: ignore[method-assign]

    @property
    def provider(self) -> str:
        """The entry's provider."""
        return str(self.entry.data["provider"])

    @property
    def coordinator(self) -> ChargeBridgeCoordinator:
        """The entry's coordinator."""
        return self.entry.runtime_data.coordinator

    async def advance(self, seconds: float) -> None:
        """Move the simulator and Home Assistant on together and run what fell due."""
        self.sim.advance(seconds)
        self.freezer.tick(seconds)
        async_fire_time_changed(self.hass)
        async with self.moving_clock():
            await self.hass.async_block_till_done(wait_background_tasks=True)

    async def next_poll(self) -> None:
        """Move time to the coordinator's next refresh."""
        interval = self.coordinator.update_interval
        assert interval is not None
        await self.advance(interval.total_seconds() + 1)

    async def next_full_poll(self) -> None:
        """Move time to the next refresh that reads everything (the list, every car)."""
        await next_full_poll(self.entry, self.advance)

    @asynccontextmanager
    async def moving_clock(self) -> AsyncIterator[None]:
        """Let request timeouts pass while a TIMEOUT fault holds a request.

        The client times out on the event loop's clock, which is frozen with the wall
        clock. Once every request still in flight is one the simulator holds (and
        nothing has moved for a while), move both clocks past the request timeout:
        only the held requests time out, never one that was about to be answered.
        """

        async def release() -> None:
            step = self.entry.runtime_data.client.request_timeout + 0.1
            quiet, last = 0, None
            while True:
                await asyncio.sleep(0)
                now = (self.in_flight, self.sim.faults.hanging, len(self.sim.requests))
                quiet = quiet + 1 if now == last else 0
                last = now
                if 0 < self.in_flight <= self.sim.faults.hanging and quiet >= QUIET:
                    self.sim.advance(step)
                    self.freezer.tick(step)
                    async_fire_time_changed(self.hass)
                    quiet = 0

        releaser = asyncio.create_task(release())
        try:
            yield
        finally:
            releaser.cancel()
            with suppress(asyncio.CancelledError):
                await releaser

    def count(self, text: str) -> int:
        """How many log records contain ``text``."""
        return sum(text in record.getMessage() for record in self.caplog.records)

    def assert_no_unhandled(self) -> None:
        """Nothing crashed: no traceback and none of Home Assistant's crash messages."""
        for record in self.caplog.records:
            message = record.getMessage()
            assert record.exc_info is None, message
            assert not any(text in message for text in UNHANDLED), message

    def assert_quiet(self) -> None:
        """Nothing was logged at warning level or above (asyncio's timing aside)."""
        loud = [
            record.getMessage()
            for record in self.caplog.records
            if record.levelno >= logging.WARNING and record.name != "asyncio"
        ]
        assert not loud

    def states(self) -> dict[str, tuple[str, str]]:
        """Return unique id → (entity id, state) of every enabled entity."""
        return {
            entity.unique_id: (
                entity.entity_id,
                self.hass.states.get(entity.entity_id).state,
            )
            for entity in er.async_entries_for_config_entry(
                er.async_get(self.hass), self.entry.entry_id
            )
            if not entity.disabled_by
        }

    def fleet_states(self) -> dict[str, str]:
        """Return unique id → state of the vehicles' entities."""
        account = f"{self.provider}_account_"
        return {
            unique_id: state
            for unique_id, (_, state) in self.states().items()
            if not unique_id.startswith(account)
        }

    def account_states(self) -> dict[str, str]:
        """Return unique id → state of the account's entities (the refresh button)."""
        account = f"{self.provider}_account_"
        return {
            unique_id: state
            for unique_id, (_, state) in self.states().items()
            if unique_id.startswith(account)
        }

    def vehicle_ids(self) -> list[str]:
        """Return the fleet's vehicle ids as of the last good refresh."""
        return list(self.coordinator.data.vehicles)

    def unavailable_vehicles(self) -> set[str]:
        """Return the vehicles with at least one unavailable entity."""
        fleet = self.fleet_states()
        return {
            vehicle_id
            for vehicle_id in self.vehicle_ids()
            for unique_id, state in fleet.items()
            if unique_id.startswith(f"{self.provider}_{vehicle_id}_")
            and state == STATE_UNAVAILABLE
        }

    def reauth_flows(self) -> list[dict[str, Any]]:
        """Return the reauth flows in progress."""
        return reauth_flows(self.hass)

    def devices(self) -> set[tuple[str, str]]:
        """Return the identifiers of the entry's devices."""
        return {
            identifier
            for device in dr.async_entries_for_config_entry(
                dr.async_get(self.hass), self.entry.entry_id
            )
            for identifier in device.identifiers
        }

    def issues(self) -> set[str]:
        """Return the ids of the repair issues ChargeBridge raised."""
        return {
            issue_id
            for (domain, issue_id) in ir.async_get(self.hass).issues
            if domain == DOMAIN
        }

    def smart_charging(self, vehicle_id: str) -> tuple[str, str]:
        """Return a vehicle's smart charging switch and its state."""
        return self.states()[f"{self.provider}_{vehicle_id}_smart_charging"]


@pytest.fixture
def harness(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> Harness:
    """Return the harness: no backoff jitter (exact pauses), 0.2 s timeout, INFO logs."""
    init_integration.runtime_data.coordinator.pacer.jitter = lambda: 0.0
    init_integration.runtime_data.client.request_timeout = 0.2
    caplog.set_level(logging.INFO)
    caplog.clear()
    harness = Harness(hass, sim, init_integration, freezer, caplog)
    harness.count_requests()
    return harness


# --- faults of the whole account ---------------------------------------------------------


@dataclass(frozen=True)
class AccountFault:
    """A fault of every request of the provider, and the error key a user sees."""

    kind: FaultKind
    status: int | None = None
    error: str = "cannot_connect"

    @property
    def id(self) -> str:
        """Return the test id."""
        return f"{self.kind}{'' if self.status is None else self.status}"

    def inject(self, sim: Simulator, provider: str, path: str | None = None) -> Fault:
        """Add the fault to the simulator."""
        return sim.faults.add(
            Fault(kind=self.kind, provider=provider, status=self.status, path=path)
        )


ACCOUNT_FAULTS = [
    AccountFault(FaultKind.TIMEOUT),
    AccountFault(FaultKind.STATUS, 500),
    AccountFault(FaultKind.STATUS, 502),
    AccountFault(FaultKind.STATUS, 503),
    AccountFault(FaultKind.HTML),
    AccountFault(FaultKind.MALFORMED, error="invalid_response"),
    AccountFault(FaultKind.TRUNCATED, error="invalid_response"),
    AccountFault(FaultKind.RATE_LIMIT, error="rate_limited"),
]


@pytest.mark.usefixtures("provider")
@pytest.mark.parametrize("fault", ACCOUNT_FAULTS, ids=lambda fault: fault.id)
async def test_account_fault(harness: Harness, fault: AccountFault) -> None:
    """The fleet goes unavailable, logged once, backs off, and comes back by itself."""
    sim, provider, coordinator = harness.sim, harness.provider, harness.coordinator
    before = harness.fleet_states()
    injected = fault.inject(sim, provider)

    await harness.next_full_poll()
    assert set(harness.fleet_states().values()) == {STATE_UNAVAILABLE}
    assert STATE_UNAVAILABLE not in harness.account_states().values()
    assert coordinator.last_exception.translation_key == fault.error
    first_pause = coordinator.update_interval

    sim.requests.clear()
    await harness.next_poll()
    assert sim.requests.for_provider(provider), "polling goes on during the fault"
    assert coordinator.update_interval == 2 * first_pause, "exponential backoff"
    assert harness.count(LOST) == 1
    assert not harness.reauth_flows()
    quota = {f"rate_limit_exhausted_{harness.entry.entry_id}"}
    throttled = fault.kind is FaultKind.RATE_LIMIT
    assert harness.issues() == (quota if throttled else set())

    sim.faults.remove(injected)
    await harness.next_poll()
    after = harness.fleet_states()
    assert after.keys() == before.keys()
    assert STATE_UNAVAILABLE not in after.values()
    assert (harness.count(LOST), harness.count(BACK)) == (1, 1)
    assert not harness.issues()
    harness.assert_no_unhandled()

    # Success reset the backoff: the next outage starts from the first pause again.
    fault.inject(sim, provider)
    await harness.next_full_poll()
    assert coordinator.update_interval == first_pause


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
@pytest.mark.parametrize(
    "fault",
    [
        AccountFault(FaultKind.TIMEOUT),
        AccountFault(FaultKind.STATUS, 503),
        AccountFault(FaultKind.HTML),
        AccountFault(FaultKind.MALFORMED, error="invalid_response"),
        AccountFault(FaultKind.RATE_LIMIT, error="rate_limited"),
    ],
    ids=lambda fault: fault.id,
)
async def test_token_endpoint_fault(harness: Harness, fault: AccountFault) -> None:
    """A token endpoint that fails (rather than refuses) is an outage, never a reauth."""
    injected = fault.inject(
        harness.sim, harness.provider, PROFILES[harness.provider].token_pattern
    )
    harness.entry.runtime_data.client._forget_token()
    await harness.next_poll()
    assert injected.hits >= 1
    assert set(harness.fleet_states().values()) == {STATE_UNAVAILABLE}
    assert harness.coordinator.last_exception.translation_key == fault.error
    assert not harness.reauth_flows()

    harness.sim.faults.remove(injected)
    await harness.next_poll()
    assert STATE_UNAVAILABLE not in harness.fleet_states().values()
    assert not harness.reauth_flows()
    assert (harness.count(LOST), harness.count(BACK)) == (1, 1)
    harness.assert_no_unhandled()


# --- harmless payload changes ------------------------------------------------------------


def unknown_enum(sim: Simulator, provider: str) -> Callable[[], object]:
    """Serve an unknown value in the provider's status field; return the undo.

    Jedlix nests ``chargeState`` (the enum) in an object of the same name, which the
    injector's key-based replacement would turn into a string; its simulator serves an
    unknown value for the enum itself instead. ChargEye has no status enum (state comes
    from the plan): its other enums change.
    """
    profile = PROFILES[provider]
    if profile.status_field is not None and profile.status_field not in (
        profile.enum_fields
    ):
        state: Any = sim.providers[provider]
        vehicles = list(state.fleet.vehicles)
        for vehicle_id in vehicles:
            state.set_status(vehicle_id, "SOMETHING_NEW")
        return lambda: [state.set_status(vehicle_id, None) for vehicle_id in vehicles]
    fields = (
        (profile.status_field,)
        if profile.status_field is not None
        else profile.enum_fields
    )
    fault = sim.faults.add(
        Fault(kind=FaultKind.UNKNOWN_ENUM, provider=provider, fields=fields)
    )
    return lambda: sim.faults.remove(fault)


def missing_fields(sim: Simulator, provider: str) -> Callable[[], object]:
    """Leave out the provider's optional fields that take no feature away; return the undo."""
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider=provider,
            fields=PROFILES[provider].harmless_missing_fields,
        )
    )
    return lambda: sim.faults.remove(fault)


UNKNOWN_KEY = {
    "unknown_enum": {
        "hiven": "charging_status",
        "jedlix": "charging_status",
        "evenergy": "charging_status",
    },
    "missing_fields": {
        "hiven": "state_of_charge",
        "chargeye": "battery_capacity",
        "jedlix": "state_of_charge",
        "evenergy": "state_of_charge",
    },
}
"""The entity that reads "unknown" during the change (ChargEye reads no enum)."""


def values_of(states: dict[str, str], key: str) -> set[str]:
    """Return the states of every vehicle's ``key`` entity."""
    return {
        state for unique_id, state in states.items() if unique_id.endswith(f"_{key}")
    }


@pytest.mark.usefixtures("provider")
@pytest.mark.parametrize(
    "change", [unknown_enum, missing_fields], ids=["unknown_enum", "missing_fields"]
)
async def test_harmless_payload_change(
    harness: Harness, change: Callable[[Simulator, str], Callable[[], object]]
) -> None:
    """A new enum value or a left-out optional field costs that value, nothing more."""
    before = harness.fleet_states()
    undo = change(harness.sim, harness.provider)
    await harness.next_full_poll()
    await harness.next_poll()
    during = harness.fleet_states()
    assert during.keys() == before.keys()
    assert STATE_UNAVAILABLE not in during.values()
    key = UNKNOWN_KEY[change.__name__].get(harness.provider)
    if key is not None:
        assert values_of(before, key) - {STATE_UNKNOWN}
        assert values_of(during, key) == {STATE_UNKNOWN}

    undo()
    await harness.next_full_poll()
    after = harness.fleet_states()
    assert STATE_UNAVAILABLE not in after.values()
    if key is not None:
        assert values_of(after, key) - {STATE_UNKNOWN}
    harness.assert_quiet()


# --- one vehicle failing -----------------------------------------------------------------


@dataclass(frozen=True)
class VehicleFault:
    """A fault of one vehicle: its own endpoint, or its item in the list."""

    name: str
    kind: FaultKind
    path: str | None = None
    fields: tuple[str, ...] = ()
    value: object = None
    """What REPLACE_VALUE puts in the fields."""
    settle: float | None = None
    """Seconds to move on before a full read shows the fault (a cache must expire first)."""


VEHICLE_FAULTS: dict[str, list[VehicleFault]] = {
    "hiven": [
        VehicleFault("status_503", FaultKind.STATUS, path=r"/status$"),
        VehicleFault("status_timeout", FaultKind.TIMEOUT, path=r"/status$"),
        VehicleFault("list_item", FaultKind.UNKNOWN_ENUM, fields=("attributes",)),
    ],
    # A ChargEye list item holds nothing but the object with the id (no structure to break
    # that would leave the id readable), and a depot read serves every vehicle at the
    # depot: test_chargeye_depots.py covers a failing depot.
    "chargeye": [],
    "jedlix": [
        VehicleFault("list_item", FaultKind.UNKNOWN_ENUM, fields=("details",)),
        # Charge settings are re-read on a full read (Refresh) once 30 minutes old.
        VehicleFault(
            "settings_503", FaultKind.STATUS, path=r"/charge-settings$", settle=1801
        ),
    ],
    "evenergy": [
        VehicleFault(
            "list_item",
            FaultKind.REPLACE_VALUE,
            fields=("latest_status_log",),
            value=42,
        ),
    ],
}


@pytest.mark.parametrize(
    ("provider", "fault"),
    [
        pytest.param(provider, fault, id=f"{provider}-{fault.name}")
        for provider, faults in VEHICLE_FAULTS.items()
        for fault in faults
    ],
)
async def test_one_vehicle_fault(harness: Harness, fault: VehicleFault) -> None:
    """Only that vehicle goes unavailable: one warning when lost, one info when back."""
    broken = harness.vehicle_ids()[0]
    injected = harness.sim.faults.add(
        Fault(
            kind=fault.kind,
            provider=harness.provider,
            vehicle_id=broken,
            path=fault.path,
            fields=fault.fields,
            value=fault.value,
        )
    )
    if fault.settle is not None:
        await harness.advance(fault.settle)
        await refresh_everything(harness.hass, harness.entry)
    await harness.next_full_poll()
    await harness.next_poll()
    assert injected.hits >= 1
    assert harness.unavailable_vehicles() == {broken}
    assert STATE_UNAVAILABLE not in harness.account_states().values()
    assert harness.coordinator.last_update_success
    assert (harness.count(PROBLEM), harness.count(LOST)) == (1, 0)

    harness.sim.faults.remove(injected)
    if fault.settle is not None:
        await harness.advance(fault.settle)
        await refresh_everything(harness.hass, harness.entry)
    await harness.next_full_poll()
    assert not harness.unavailable_vehicles()
    assert (harness.count(PROBLEM), harness.count(SOLVED)) == (1, 1)
    assert harness.count(LOST) == 0
    harness.assert_no_unhandled()


@pytest.mark.usefixtures("provider")
@pytest.mark.parametrize("scope", ["one_vehicle", "every_vehicle"])
async def test_unreadable_value_costs_only_that_entity(
    harness: Harness, scope: str
) -> None:
    """A value of the wrong type: its entity reads unknown, nothing else changes.

    The car and its other entities stay available with their values, nothing is
    repaired; one warning names the provider and the field (however many cars and
    refreshes), never the value; one info line when the value is readable again.
    Refreshes here do not move time, so every other value must stay exactly as it was.
    """
    profile = PROFILES[harness.provider]
    broken = harness.vehicle_ids()[0]
    affected = [broken] if scope == "one_vehicle" else harness.vehicle_ids()
    name = harness.coordinator.data.vehicles[broken].vehicle.name
    key = profile.value_entity
    before = harness.fleet_states()
    issues = harness.issues()
    assert before[f"{harness.provider}_{broken}_{key}"] != STATE_UNKNOWN
    injected = harness.sim.faults.add(
        Fault(
            kind=FaultKind.REPLACE_VALUE,
            provider=harness.provider,
            vehicle_id=broken if scope == "one_vehicle" else None,
            fields=(profile.value_field,),
            value="abc-not-a-number",
        )
    )
    unknown = {f"{harness.provider}_{vehicle_id}_{key}" for vehicle_id in affected}
    for _ in range(3):
        await refresh_everything(harness.hass, harness.entry)
        during = harness.fleet_states()
        assert during == {
            unique_id: STATE_UNKNOWN if unique_id in unknown else state
            for unique_id, state in before.items()
        }
    assert injected.hits >= 3
    assert harness.issues() == issues
    assert harness.coordinator.last_update_success
    warnings = [
        record for record in harness.caplog.records if PROBLEM in record.getMessage()
    ]
    assert len(warnings) == 1
    (warning,) = warnings
    message = warning.getMessage()
    assert warning.levelno == logging.WARNING
    assert f"{harness.provider}: " in message
    assert f".{profile.value_field})" in message
    assert "[]" in message, "the field as it is for every car"
    assert name in message
    if len(affected) > 1:
        assert f"and {len(affected) - 1} more vehicle" in message
    assert "abc-not-a-number" not in harness.caplog.text
    assert harness.count(SOLVED) == 0

    harness.sim.faults.remove(injected)
    await refresh_everything(harness.hass, harness.entry)
    assert harness.fleet_states() == before
    await harness.next_poll()
    assert STATE_UNAVAILABLE not in harness.fleet_states().values()
    assert harness.fleet_states()[f"{harness.provider}_{broken}_{key}"] != (
        STATE_UNKNOWN
    )
    (solved,) = [
        record.getMessage()
        for record in harness.caplog.records
        if SOLVED in record.getMessage()
    ]
    assert f".{profile.value_field})" in solved
    assert harness.count(PROBLEM) == 1
    harness.assert_no_unhandled()


@pytest.mark.parametrize("provider", ["hiven"])
async def test_each_failing_vehicle_is_named(harness: Harness) -> None:
    """Two cars failing alike are two problems, each naming its car, each resolved."""
    first, second, *_ = harness.vehicle_ids()
    names = {
        vehicle_id: harness.coordinator.data.vehicles[vehicle_id].vehicle.name
        for vehicle_id in (first, second)
    }
    faults = {
        vehicle_id: harness.sim.faults.add(
            Fault(
                kind=FaultKind.STATUS,
                provider="hiven",
                vehicle_id=vehicle_id,
                path=r"/status$",
            )
        )
        for vehicle_id in (first, second)
    }
    await harness.next_poll()
    warnings = [
        record.getMessage()
        for record in harness.caplog.records
        if PROBLEM in record.getMessage()
    ]
    assert len(warnings) == 2
    for vehicle_id, name in names.items():
        assert sum(name in warning for warning in warnings) == 1, vehicle_id

    harness.sim.faults.remove(faults[first])
    await harness.next_poll()
    assert harness.unavailable_vehicles() == {second}
    (solved,) = [
        record.getMessage()
        for record in harness.caplog.records
        if SOLVED in record.getMessage()
    ]
    assert names[first] in solved


@pytest.mark.usefixtures("provider")
async def test_unreadable_vehicle_keeps_its_device(harness: Harness) -> None:
    """A list item without a readable id is not a vehicle that left.

    Its device and entities stay (unavailable) while the list has problems; only a
    clean refresh without the vehicle removes them.
    """
    provider = harness.provider
    broken = harness.vehicle_ids()[0]
    identifier = (DOMAIN, f"{provider}_{broken}")
    entities = {
        unique_id
        for unique_id in harness.fleet_states()
        if unique_id.startswith(f"{provider}_{broken}_")
    }
    injected = harness.sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider=provider,
            path=PROFILES[provider].fleet_path,
            vehicle_id=broken,
            fields=("id",),
        )
    )
    await harness.next_full_poll()
    await harness.next_poll()
    assert injected.hits >= 1
    assert identifier in harness.devices()
    assert harness.unavailable_vehicles() == {broken}
    assert harness.count(PROBLEM) == 1

    harness.sim.faults.remove(injected)
    await harness.next_full_poll()
    assert identifier in harness.devices()
    assert not harness.unavailable_vehicles()
    assert entities <= harness.fleet_states().keys()
    assert harness.count(SOLVED) == 1
    harness.assert_no_unhandled()

    harness.sim.providers[provider].remove_vehicle(broken)
    await harness.next_full_poll()
    assert identifier not in harness.devices()


def bare(vehicle_id: str, error: ChargeBridgeError | None = None) -> VehicleSnapshot:
    """Return a vehicle snapshot with nothing but an id (and maybe an error)."""
    return VehicleSnapshot(
        vehicle=Vehicle(
            id=vehicle_id,
            name=vehicle_id,
            capabilities=Capabilities(features=frozenset()),
        ),
        error=error,
    )


def test_keep_unlisted() -> None:
    """Only a problem that names no listed vehicle keeps missing vehicles around."""
    previous = Fleet(vehicles={"a": bare("a"), "b": bare("b")})
    unreadable = ProviderResponseError("hiven", "missing required field", "[1].id")
    own = ProviderConnectionError("hiven", "server error 503")

    clean = Fleet(vehicles={"a": bare("a")})
    assert keep_unlisted(previous, clean) is clean
    assert keep_unlisted(None, clean) is clean

    # "a" failed on its own: that explains nothing about "b", which is gone.
    attributed = Fleet(vehicles={"a": bare("a", own)}, problems=(own,))
    assert keep_unlisted(previous, attributed) is attributed

    # An item nobody could read may be "b": keep it, unreadable.
    hidden = Fleet(vehicles={"a": bare("a", own)}, problems=(own, unreadable))
    kept = keep_unlisted(previous, hidden)
    assert list(kept.vehicles) == ["a", "b"]
    assert kept.vehicles["b"].error is unreadable
    assert kept.vehicles["a"].error is own
    assert kept.problems == hidden.problems

    # Nothing missing: nothing to keep.
    complete = Fleet(vehicles={"a": bare("a"), "b": bare("b")}, problems=(unreadable,))
    assert keep_unlisted(previous, complete) is complete

    # A value that could not be read names no vehicle's error, yet explains nothing
    # missing: "b" is gone.
    value = ProviderValueError("hiven", "wrong type for field", "status[a].soc", "a")
    valued = Fleet(vehicles={"a": bare("a")}, problems=(value,))
    assert keep_unlisted(previous, valued) is valued


# --- authentication ----------------------------------------------------------------------


def drop_tokens(sim: Simulator, provider: str) -> None:
    """Make the provider forget every access token it issued (credentials still good)."""
    state: Any = sim.providers[provider]
    state.revoke_tokens()


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
@pytest.mark.parametrize("how", ["one_401", "tokens_dropped"])
async def test_transient_401_is_not_a_reauth(harness: Harness, how: str) -> None:
    """A 401 that a new access token fixes costs one token request, nothing else."""
    sim, provider = harness.sim, harness.provider
    before = harness.fleet_states()
    if how == "one_401":
        sim.faults.add(
            Fault(
                kind=FaultKind.AUTH,
                provider=provider,
                path=PROFILES[provider].fleet_path,
                times=1,
            )
        )
    else:
        drop_tokens(sim, provider)
    sim.requests.clear()
    await harness.next_poll()
    profile = PROFILES[provider]
    assert sim.requests.count(provider=provider, path=profile.token_pattern) == 1
    assert sim.requests.count(provider=provider, path=profile.fleet_path) == 2
    assert harness.fleet_states().keys() == before.keys()
    assert STATE_UNAVAILABLE not in harness.fleet_states().values()
    assert not harness.reauth_flows()
    assert harness.entry.state is ConfigEntryState.LOADED
    harness.assert_quiet()


@pytest.mark.parametrize("provider", ["hiven"])
async def test_hiven_401_is_always_real(harness: Harness) -> None:
    """Hiven sends its API key with every request: no token to renew, a 401 is final."""
    harness.sim.faults.add(Fault(kind=FaultKind.AUTH, provider="hiven", times=1))
    await harness.next_poll()
    assert len(harness.reauth_flows()) == 1
    assert harness.count(AUTH_LOST) == 1
    harness.assert_no_unhandled()


@pytest.mark.usefixtures("provider")
async def test_revoked_credentials(harness: Harness) -> None:
    """Refused credentials: reauth once, polling stops; a new secret brings all back."""
    hass, sim, provider = harness.hass, harness.sim, harness.provider
    state = sim.providers[provider]
    state.revoke_credentials()
    if provider == "chargeye":
        state.rotate_refresh_token("rotated-chargeye-refresh-token")
    await harness.next_poll()
    assert set(harness.fleet_states().values()) == {STATE_UNAVAILABLE}
    (flow,) = harness.reauth_flows()
    assert (harness.count(AUTH_LOST), harness.count(LOST)) == (1, 0)

    sim.requests.clear()
    await harness.advance(3600)
    assert not sim.requests.for_provider(provider), "no polling with refused secrets"
    assert len(harness.reauth_flows()) == 1

    secrets = {
        field.key: state.credentials[field.key]
        for field in PROVIDERS[provider].config_fields
        if field.secret
    }
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], secrets)
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert dict(harness.entry.data).items() >= secrets.items()
    assert harness.entry.state is ConfigEntryState.LOADED
    assert STATE_UNAVAILABLE not in harness.fleet_states().values()
    assert not harness.reauth_flows()
    harness.assert_no_unhandled()


# --- writes during faults ----------------------------------------------------------------


@dataclass(frozen=True)
class WriteFault:
    """A fault of the write request, and what the user is told (None: it works)."""

    kind: FaultKind
    error: str | None
    times: int | None = None

    @property
    def id(self) -> str:
        """Return the test id."""
        return f"{self.kind}{'' if self.times is None else self.times}"


WRITE_FAULTS = [
    WriteFault(FaultKind.STATUS, "cannot_connect"),
    WriteFault(FaultKind.TIMEOUT, "cannot_connect"),
    WriteFault(FaultKind.HTML, "cannot_connect"),
    WriteFault(FaultKind.RATE_LIMIT, "rate_limited"),
    WriteFault(FaultKind.MALFORMED, "invalid_response"),
    WriteFault(FaultKind.AUTH, None, times=1),
]


def expected_write_error(provider: str, fault: WriteFault) -> str | None:
    """Return the error a user sees for a write during ``fault``, None if it works."""
    if fault.kind is FaultKind.AUTH and provider == "hiven":
        return "auth_failed"  # no token to renew: Hiven refused the API key
    if fault.kind is FaultKind.STATUS and provider == "evenergy":
        return "command_not_delivered"  # 503 on a command: not delivered to the car
    if fault.kind is FaultKind.MALFORMED and provider == "hiven":
        return None  # Hiven answers the PUT with an empty 200: nothing to garble
    return fault.error


@pytest.mark.usefixtures("provider")
@pytest.mark.parametrize("fault", WRITE_FAULTS, ids=lambda fault: fault.id)
async def test_write_during_fault(harness: Harness, fault: WriteFault) -> None:
    """A failed write says so and keeps the old state; a write that works shows at once."""
    hass, sim, provider = harness.hass, harness.sim, harness.provider
    vehicle_id = harness.vehicle_ids()[0]
    truth = sim.providers[provider].fleet.vehicles[vehicle_id]
    switch, before = harness.smart_charging(vehicle_id)
    wanted = "off" if before == "on" else "on"
    injected = sim.faults.add(
        Fault(
            kind=fault.kind,
            provider=provider,
            method=PROFILES[provider].write_method,
            times=fault.times,
        )
    )

    async def turn() -> None:
        async with harness.moving_clock():
            await hass.services.async_call(
                "switch", f"turn_{wanted}", {ATTR_ENTITY_ID: switch}, blocking=True
            )

    error = expected_write_error(provider, fault)
    if error is None:
        await turn()
        assert harness.smart_charging(vehicle_id)[1] == wanted
        assert truth.smart_charging is (wanted == "on")
        assert not harness.reauth_flows()
        harness.assert_quiet()
        return

    with pytest.raises(HomeAssistantError) as raised:
        await turn()
    assert raised.value.translation_key == error
    assert injected.hits == 1
    assert harness.smart_charging(vehicle_id)[1] == before
    if fault.kind is not FaultKind.MALFORMED:
        # Refused before the provider acted. (MALFORMED garbles the answer to a change
        # that was made: reported as failed, and the next refresh shows the truth.)
        assert truth.smart_charging is (before == "on")
    await hass.async_block_till_done()
    assert bool(harness.reauth_flows()) is (error == "auth_failed")
    if error == "auth_failed":
        return

    sim.faults.remove(injected)
    await turn()
    assert harness.smart_charging(vehicle_id)[1] == wanted
    assert truth.smart_charging is (wanted == "on")
    await harness.next_poll()
    assert harness.smart_charging(vehicle_id)[1] == wanted
    harness.assert_no_unhandled()


@pytest.mark.parametrize("provider", ["hiven"])
async def test_unavailable_vehicle_is_not_written(harness: Harness) -> None:
    """An unavailable vehicle's controls send nothing; the others' keep working.

    Home Assistant itself skips unavailable entities (newer releases log it).
    """
    hass, sim = harness.hass, harness.sim
    broken, other, *_ = harness.vehicle_ids()
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS, provider="hiven", vehicle_id=broken, path=r"/status$"
        )
    )
    await harness.next_poll()
    switch, before = harness.smart_charging(broken)
    assert before == STATE_UNAVAILABLE
    sim.requests.clear()
    await hass.services.async_call(
        "switch", "toggle", {ATTR_ENTITY_ID: switch}, blocking=True
    )
    assert not sim.requests.count(method="PUT")
    assert harness.smart_charging(broken)[1] == STATE_UNAVAILABLE

    other_switch, other_before = harness.smart_charging(other)
    await hass.services.async_call(
        "switch", "toggle", {ATTR_ENTITY_ID: other_switch}, blocking=True
    )
    assert harness.smart_charging(other)[1] != other_before
    assert sim.requests.count(method="PUT") == 1
