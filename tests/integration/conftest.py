"""Fixtures for the integration tests: Home Assistant against the running simulator.

Time: the simulator's clock is manual and the provider clients read wall time (token
expiry, ChargEye's plan "now"), so tests freeze wall time at the simulator's start and
move both together with the ``advance`` fixture.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from datetime import timedelta
import importlib
from typing import Any
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.chargebridge import coordinator as coordinator_module
from custom_components.chargebridge.api.registry import PROVIDERS
from custom_components.chargebridge.cadence import LIST_READ_INTERVAL
from custom_components.chargebridge.const import DOMAIN
from tests.simulator import (
    DEFAULT_TIMEZONE,
    PROVIDER_NAMES,
    Simulator,
    SimulatorServer,
    SimVehicle,
)

# Diagnostics import hassio, whose models cannot be compiled while time is frozen:
# import it now, before any test freezes time.
importlib.import_module("homeassistant.components.hassio")

type Advance = Callable[[float], Awaitable[None]]


@pytest.fixture
def sim() -> Simulator:
    """Return the simulated world in strict mode (the documents' strictest readings).

    Writes must meet them, e.g. Hiven's preferences need behaviour, target and ready time.
    """
    return Simulator(vehicles=3, seed=1, strict=True)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/chargebridge."""


@pytest.fixture(autouse=True)
async def sim_time(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, sim: Simulator
) -> None:
    """Run Home Assistant at the simulator's time and in its time zone."""
    freezer.move_to(sim.clock.now())
    await hass.config.async_set_time_zone(DEFAULT_TIMEZONE)


@pytest.fixture
def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, sim: Simulator
) -> Advance:
    """Move the simulator and Home Assistant forward together, firing due timers."""

    async def _advance(seconds: float) -> None:
        sim.advance(seconds)
        freezer.tick(seconds)
        async_fire_time_changed(hass)
        # Scheduled refreshes run as background tasks.
        await hass.async_block_till_done(wait_background_tasks=True)

    return _advance


def reauth_flows(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Return the reauth flows of ChargeBridge in progress."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


async def next_poll(entry: ConfigEntry, advance: Advance) -> None:
    """Move time to the coordinator's next refresh."""
    interval = entry.runtime_data.coordinator.update_interval
    assert interval is not None
    await advance(interval.total_seconds() + 1)


def charge_for_hours(vehicle: SimVehicle) -> None:
    """Keep the car charging at once and for hours (smart charging off, a big battery).

    Each car is read at its own pace, and only a charging one at the user's interval: a
    test about polling at that interval keeps one car charging.
    """
    vehicle.routine = False
    vehicle.battery_wh = 200_000
    vehicle.max_power_w = 3_700
    vehicle.soc = 10
    vehicle.target_soc = 100
    vehicle.smart_charging = False
    if not vehicle.plugged_in:
        vehicle.plug_in()


def until_full_read(entry: ConfigEntry) -> timedelta:
    """Return how long until a scheduled refresh reads everything: the list, every car.

    Each car is read at its own pace (``cadence``) and Hiven's list at most every 30
    minutes, so the next refresh may read only some cars. Waiting until the list and the
    last car are due (and at least the planned pause, e.g. a backoff) makes that
    refresh read them all, as the first refresh did.
    """
    coordinator = entry.runtime_data.coordinator
    interval = coordinator.update_interval
    assert interval is not None
    cadence = coordinator.cadence
    if (
        not coordinator_module.ADAPTIVE_CADENCE
        or coordinator.reads_everything_next
        or not cadence.per_vehicle
        or cadence.list_read is None
    ):
        return interval
    now = dt_util.utcnow()
    moments = [cadence.list_read + LIST_READ_INTERVAL]
    moments += [pace.due for pace in cadence.cars.values() if pace.due is not None]
    return max(interval, *(moment - now for moment in moments))


async def next_full_poll(entry: ConfigEntry, advance: Advance) -> None:
    """Move time to the first scheduled refresh that reads everything (see above)."""
    await advance(until_full_read(entry).total_seconds() + 1)


async def refresh_everything(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Refresh now and read everything, as a manual refresh does (without its cooldown).

    For tests that refresh without moving time: a plain refresh reads only the cars due.
    """
    await entry.runtime_data.coordinator.async_refresh_everything()
    await hass.async_block_till_done()


@pytest.fixture(params=PROVIDER_NAMES)
def provider(request: pytest.FixtureRequest) -> str:
    """Each provider in turn."""
    return request.param


@pytest.fixture
def provider_config(sim_server: SimulatorServer, provider: str) -> dict[str, Any]:
    """Config entry data that works against the simulator."""
    return sim_server.config(provider)


@pytest.fixture
async def account_unique_id(
    hass: HomeAssistant, sim: Simulator, provider_config: dict[str, Any]
) -> str:
    """Return the unique id the config flow gives this account (asked from the simulator)."""
    fields = {k: v for k, v in provider_config.items() if k != "provider"}
    client = PROVIDERS[provider_config["provider"]](
        session=async_get_clientsession(hass), **fields
    )
    account = await client.async_validate()
    sim.requests.clear()
    return f"{provider_config['provider']}_{account.unique_id}"


@pytest.fixture
def mock_config_entry(
    provider_config: dict[str, Any], account_unique_id: str
) -> MockConfigEntry:
    """Return a config entry for the simulator's demo account of the provider."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=provider_config["provider"],
        data=provider_config,
        unique_id=account_unique_id,
    )


@pytest.fixture
def platforms() -> list[str] | None:
    """Return the platforms to set up (None: all); platform tests narrow it to one."""
    return None


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    sim: Simulator,
    mock_config_entry: MockConfigEntry,
    platforms: list[str] | None,
) -> MockConfigEntry:
    """Set up the integration for the provider against the simulator."""
    mock_config_entry.add_to_hass(hass)
    if platforms is None:
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    else:
        with patch("custom_components.chargebridge.PLATFORMS", platforms):
            assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    sim.requests.clear()
    return mock_config_entry


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, also those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield
