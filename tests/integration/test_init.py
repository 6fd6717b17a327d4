"""Setup, unload, reload; outages, reauth, rate limits; vehicles that come and go."""

from __future__ import annotations

from datetime import timedelta
import logging

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge import async_remove_config_entry_device
from custom_components.chargebridge.const import DOMAIN
from tests.simulator import PROFILES, Fault, FaultKind, Simulator

from .conftest import Advance, charge_for_hours, next_full_poll, next_poll, reauth_flows


def entity_states(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str]:
    """Entity id → state of every enabled entity of the entry."""
    return {
        entity.entity_id: hass.states.get(entity.entity_id).state
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if not entity.disabled_by
    }


def fleet_states(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str]:
    """Entity id → state of the enabled vehicle entities (not the account's)."""
    account = f"{entry.data['provider']}_account_"
    return {
        entity_id: state
        for entity_id, state in entity_states(hass, entry).items()
        if not er.async_get(hass).async_get(entity_id).unique_id.startswith(account)
    }


def vehicle_states(
    hass: HomeAssistant, entry: MockConfigEntry, vehicle_id: str
) -> dict[str, str]:
    """Entity id → state of the enabled entities of one vehicle."""
    prefix = f"{entry.data['provider']}_{vehicle_id}_"
    return {
        entity.entity_id: hass.states.get(entity.entity_id).state
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if not entity.disabled_by and entity.unique_id.startswith(prefix)
    }


def device_identifiers(
    device_registry: dr.DeviceRegistry, entry: MockConfigEntry
) -> set[tuple[str, str]]:
    """Return the identifiers of every device of the entry."""
    return {
        identifier
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
        for identifier in device.identifiers
    }


async def test_unload_and_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Unloading makes every entity unavailable; reloading brings them back."""
    states = entity_states(hass, init_integration)
    assert STATE_UNAVAILABLE not in states.values()
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert set(entity_states(hass, init_integration).values()) == {STATE_UNAVAILABLE}
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert entity_states(hass, init_integration) == states


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        (FaultKind.STATUS, ConfigEntryState.SETUP_RETRY),
        (FaultKind.RATE_LIMIT, ConfigEntryState.SETUP_RETRY),
        (FaultKind.MALFORMED, ConfigEntryState.SETUP_RETRY),
        (FaultKind.AUTH, ConfigEntryState.SETUP_ERROR),
    ],
)
async def test_setup_fails(
    hass: HomeAssistant,
    sim: Simulator,
    mock_config_entry: MockConfigEntry,
    kind: FaultKind,
    state: ConfigEntryState,
) -> None:
    """The first refresh runs during setup: retry later, or ask for new credentials."""
    sim.faults.add(Fault(kind=kind, provider=mock_config_entry.data["provider"]))
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is state
    reauth = reauth_flows(hass)
    assert bool(reauth) is (kind is FaultKind.AUTH)


async def test_insecure_stored_url_is_refused(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A stored plain-http URL to another host never gets credentials sent to it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={**mock_config_entry.data, "api_url": "http://example.com/api"},
        unique_id=mock_config_entry.unique_id,
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert (
        entry.reason == "invalid_url"
        or entry.error_reason_translation_key == "invalid_url"
    )


async def test_revoked_credentials_start_reauth(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A 401 while polling (credentials revoked at the provider) starts reauth."""
    sim.providers[provider].credentials[PROFILES[provider].login_secret] = "revoked"
    init_integration.runtime_data.client._forget_token()
    await next_poll(init_integration, advance)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert set(fleet_states(hass, init_integration).values()) == {STATE_UNAVAILABLE}


async def test_outage_and_recovery(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outage makes the vehicles unavailable, logged once; they come back by themselves.

    The account's refresh button stays: it is how the user tries again at once.
    """
    provider = init_integration.data["provider"]
    fault = sim.faults.add(Fault(kind=FaultKind.STATUS, provider=provider))
    await next_full_poll(init_integration, advance)
    assert set(fleet_states(hass, init_integration).values()) == {STATE_UNAVAILABLE}
    account = set(entity_states(hass, init_integration).items()) - set(
        fleet_states(hass, init_integration).items()
    )
    assert account
    assert STATE_UNAVAILABLE not in dict(account).values()
    await next_poll(init_integration, advance)
    assert caplog.text.count("Error fetching") == 1

    sim.faults.remove(fault)
    await next_poll(init_integration, advance)
    assert STATE_UNAVAILABLE not in entity_states(hass, init_integration).values()
    assert caplog.text.count("data recovered") == 1


async def test_retry_after_is_honoured(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A 429 with Retry-After pauses polling as long as the provider asked."""
    coordinator = init_integration.runtime_data.coordinator
    normal = coordinator.update_interval
    # Polling comes back to the user's interval: the pace of a charging car.
    charge_for_hours(next(iter(sim.fleet(provider))))
    fault = sim.faults.add(
        Fault(kind=FaultKind.RATE_LIMIT, provider=provider, retry_after="2400")
    )
    await next_poll(init_integration, advance)
    assert coordinator.update_interval == timedelta(seconds=2400)
    sim.faults.remove(fault)
    sim.requests.clear()
    await advance(2398)
    assert not sim.requests.for_provider(provider)
    await advance(2)
    assert sim.requests.for_provider(provider)
    assert coordinator.last_update_success
    assert coordinator.update_interval <= normal * 3


async def test_new_vehicle_appears_without_reload(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A vehicle added at the provider gets its device and entities on the next poll."""
    provider = init_integration.data["provider"]
    before = device_identifiers(device_registry, init_integration)
    vehicle = sim.providers[provider].add_vehicle()
    await next_full_poll(init_integration, advance)
    assert device_identifiers(device_registry, init_integration) == before | {
        (DOMAIN, f"{provider}_{vehicle.id}")
    }
    states = vehicle_states(hass, init_integration, vehicle.id)
    assert states
    assert STATE_UNAVAILABLE not in states.values()


async def test_removed_vehicle_device_is_removed(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A vehicle gone at the provider loses its device (and so its entities)."""
    provider = init_integration.data["provider"]
    gone = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    identifier = (DOMAIN, f"{provider}_{gone}")
    device = next(
        device
        for device in dr.async_entries_for_config_entry(
            device_registry, init_integration.entry_id
        )
        if identifier in device.identifiers
    )
    assert not await async_remove_config_entry_device(hass, init_integration, device)

    sim.providers[provider].remove_vehicle(gone)
    await next_full_poll(init_integration, advance)
    assert identifier not in device_identifiers(device_registry, init_integration)
    assert device_registry.async_get(device.id) is None
    assert not vehicle_states(hass, init_integration, gone)
    assert STATE_UNAVAILABLE not in entity_states(hass, init_integration).values()


async def test_user_may_remove_only_stale_devices(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A device whose vehicle the provider no longer lists may be deleted by the user."""
    stale = device_registry.async_get_or_create(
        config_entry_id=init_integration.entry_id,
        identifiers={(DOMAIN, f"{init_integration.data['provider']}_gone")},
    )
    assert await async_remove_config_entry_device(hass, init_integration, stale)


@pytest.mark.parametrize("provider", ["hiven"])
async def test_one_vehicle_failing_leaves_the_others(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hiven reads status per vehicle: one failing vehicle is unavailable alone, logged once."""
    vehicles = list(init_integration.runtime_data.coordinator.data.vehicles)
    broken, *fine = vehicles
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.STATUS, provider="hiven", vehicle_id=broken, path="/status"
        )
    )
    caplog.set_level(logging.INFO)
    await next_poll(init_integration, advance)
    await next_poll(init_integration, advance)
    assert set(vehicle_states(hass, init_integration, broken).values()) == {
        STATE_UNAVAILABLE
    }
    for vehicle_id in fine:
        assert (
            STATE_UNAVAILABLE
            not in vehicle_states(hass, init_integration, vehicle_id).values()
        )
    assert caplog.text.count("Problem reading the fleet") == 1
    assert "hiven" in caplog.text

    sim.faults.remove(fault)
    await next_poll(init_integration, advance)
    assert STATE_UNAVAILABLE not in entity_states(hass, init_integration).values()
    assert caplog.text.count("Problem resolved") == 1
