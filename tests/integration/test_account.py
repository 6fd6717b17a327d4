"""The account device: request counter, remaining budget, refresh button; the budget."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceEntryType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge import async_remove_config_entry_device
from custom_components.chargebridge.const import (
    BACKOFF_JITTER,
    BUDGET_RESERVE,
    CONF_SCAN_INTERVAL,
    DOMAIN,
)
from tests.simulator import Fault, FaultKind, Simulator

from .conftest import Advance, charge_for_hours, next_full_poll, next_poll

TITLES = {
    "hiven": "Hiven account",
    "chargeye": "Kempower ChargEye account",
    "jedlix": "Jedlix account",
    "evenergy": "ev.energy account",
}
API_NAMES = {
    "hiven": "Hiven API",
    "chargeye": "ChargEye Vehicles API",
    "jedlix": "Jedlix Smart Charging API v2",
    "evenergy": "ev.energy API v2",
}


def account_id(entry: MockConfigEntry) -> str:
    """Return the account id the entry's unique id carries."""
    provider = entry.data["provider"]
    return entry.unique_id.removeprefix(f"{provider}_")


def account_entity(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    """Return the entity id of one of the account's entities."""
    provider = entry.data["provider"]
    domain = "button" if key == "refresh" else "sensor"
    unique_id = f"{provider}_account_{account_id(entry)}_{key}"
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """Return an entity's state."""
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def press(hass: HomeAssistant, entity_id: str) -> None:
    """Press a button."""
    await hass.services.async_call(
        "button", "press", {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


# --- the device --------------------------------------------------------------------------


async def test_account_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """One service device per entry, named after the provider and its API, never removable."""
    provider = init_integration.data["provider"]
    identifier = (DOMAIN, f"{provider}_account_{account_id(init_integration)}")
    (device,) = [
        device
        for device in dr.async_entries_for_config_entry(
            device_registry, init_integration.entry_id
        )
        if identifier in device.identifiers
    ]
    assert device.name == TITLES[provider]
    assert device.model == API_NAMES[provider]
    assert device.manufacturer == TITLES[provider].removesuffix(" account")
    assert device.entry_type is DeviceEntryType.SERVICE
    assert not await async_remove_config_entry_device(hass, init_integration, device)


async def test_every_device_names_its_maker_and_model(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The device list shows no "<unknown>" for the simulator's fleets (demo, smoke)."""
    devices = dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    )
    assert len(devices) > 1
    assert [
        device.name for device in devices if not device.manufacturer or not device.model
    ] == []


async def test_account_device_survives_refreshes(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    advance: Advance,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Stale-device removal is for vehicles the provider dropped, not the account."""
    await next_poll(init_integration, advance)
    provider = init_integration.data["provider"]
    identifiers = {
        identifier
        for device in dr.async_entries_for_config_entry(
            device_registry, init_integration.entry_id
        )
        for identifier in device.identifiers
    }
    assert (DOMAIN, f"{provider}_account_{account_id(init_integration)}") in (
        identifiers
    )


# --- the request counter and the remaining budget ----------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_request_counter_counts_every_request(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Each refresh adds what it sent, also when nothing changed or it failed."""
    counter = account_entity(hass, init_integration, "api_requests")
    start = int(state_of(hass, counter))
    assert start == init_integration.runtime_data.client.requests_made > 0

    sim.requests.clear()
    await next_poll(init_integration, advance)
    await next_poll(init_integration, advance)
    sent = len(sim.requests.for_provider(provider))
    assert sent > 0
    assert int(state_of(hass, counter)) == start + sent

    sim.faults.add(Fault(kind=FaultKind.STATUS, provider=provider))
    sim.requests.clear()
    await next_poll(init_integration, advance)
    assert int(state_of(hass, counter)) == start + sent + len(
        sim.requests.for_provider(provider)
    )
    assert state_of(hass, counter) != STATE_UNAVAILABLE


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_remaining_budget_only_where_stated(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """ev.energy states its budget: the sensor follows it. The others have none."""
    unique_id = (
        f"{provider}_account_{account_id(init_integration)}_rate_limit_remaining"
    )
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)
    if provider != "evenergy":
        assert entity_id is None
        return
    assert entity_id is not None
    await next_poll(init_integration, advance)
    budget = sim.evenergy.admin_state()["rate_limit"]
    assert int(state_of(hass, entity_id)) == budget["limit"] - budget["used"]


# --- the budget --------------------------------------------------------------------------


async def use_fastest_polling(
    hass: HomeAssistant, sim: Simulator, entry: MockConfigEntry, advance: Advance
) -> None:
    """Choose the provider's minimum interval, and let the poll already planned run.

    One car keeps charging: each car is read at its own pace, a charging one at the
    user's interval (a plugged-in car waiting for its plan only every 30 minutes).
    """
    charge_for_hours(next(iter(sim.fleet(entry.data["provider"]))))
    hass.config_entries.async_update_entry(entry, options={CONF_SCAN_INTERVAL: 60})
    await hass.async_block_till_done()
    await advance(entry.runtime_data.client.default_scan_interval.total_seconds() * 3)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_polling_slows_down_to_fit_the_budget(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A small budget stretches the interval: what is left, less the reserve, lasts."""
    coordinator = init_integration.runtime_data.coordinator
    await use_fastest_polling(hass, sim, init_integration, advance)
    sim.evenergy.set_rate_limit(10)
    sim.evenergy.reset_rate_limit()
    await next_poll(init_integration, advance)
    # One request spent: 9 left, 2 kept for writes, 7 polls spread over the hour.
    assert init_integration.runtime_data.client.rate_limit.remaining == 9
    assert coordinator.pacer.requests_per_refresh == 1
    assert coordinator.update_interval == timedelta(hours=1) / 7

    # Failed requests count too: the backoff never polls faster than the budget.
    fault = sim.faults.add(Fault(kind=FaultKind.STATUS, provider="evenergy"))
    await next_poll(init_integration, advance)
    assert not coordinator.last_update_success
    assert coordinator.update_interval == timedelta(hours=1) / 7
    sim.faults.remove(fault)

    sim.evenergy.set_rate_limit(1000)
    await next_poll(init_integration, advance)
    assert coordinator.update_interval <= timedelta(minutes=3)


@pytest.mark.parametrize("provider", ["evenergy"])
@pytest.mark.parametrize("limit", [12, 40])
async def test_polling_never_exceeds_the_budget(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
    limit: int,
) -> None:
    """Three hours at the fastest option never meet a 429; the reserve stays for writes."""
    await use_fastest_polling(hass, sim, init_integration, advance)
    sim.evenergy.set_rate_limit(limit)
    sim.evenergy.reset_rate_limit()
    sim.requests.clear()
    elapsed = 0.0
    while elapsed < 3 * 3600:
        interval = init_integration.runtime_data.coordinator.update_interval
        await advance(interval.total_seconds() + 1)
        elapsed += interval.total_seconds() + 1
        budget = sim.evenergy.admin_state()["rate_limit"]
        assert limit - budget["used"] >= int(BUDGET_RESERVE * limit)
    assert sim.evenergy.rate_limited == 0
    # The budget is used, not wasted: by the vehicle list and the cars' plans.
    used = sim.requests.count(provider="evenergy")
    assert used >= 3 * (limit - BUDGET_RESERVE * limit) // 2


@pytest.mark.parametrize("provider", ["hiven"])
async def test_backoff_uses_jitter(
    sim: Simulator, init_integration: MockConfigEntry, advance: Advance
) -> None:
    """Failures back off by a random share: the first pause, shortened by the jitter."""
    coordinator = init_integration.runtime_data.coordinator
    coordinator.pacer.jitter = lambda: 0.5
    sim.faults.add(Fault(kind=FaultKind.STATUS, provider="hiven"))
    await next_full_poll(init_integration, advance)
    base = init_integration.runtime_data.client.default_scan_interval
    assert coordinator.update_interval == base * (1 - BACKOFF_JITTER * 0.5)


# --- the refresh button ------------------------------------------------------------------


async def test_refresh_button(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A press refreshes at once, but never twice within the provider's minimum."""
    button = account_entity(hass, init_integration, "refresh")
    coordinator = init_integration.runtime_data.coordinator
    minimum = int(
        init_integration.runtime_data.client.min_scan_interval.total_seconds()
    )
    with pytest.raises(ServiceValidationError) as raised:
        await press(hass, button)
    assert raised.value.translation_key == "refresh_too_soon"
    assert raised.value.translation_placeholders["seconds"] == str(minimum)
    assert not sim.requests.for_provider(provider)

    await advance(minimum / 2)
    with pytest.raises(ServiceValidationError) as raised:
        await press(hass, button)
    assert raised.value.translation_placeholders["seconds"] == str(minimum // 2)

    await advance(minimum / 2)
    scheduled = coordinator.update_interval
    await press(hass, button)
    assert sim.requests.count(provider=provider, method="GET") > 0
    assert coordinator.last_update_success
    assert state_of(hass, button) != "unknown"
    assert coordinator.update_interval == scheduled

    sim.requests.clear()
    with pytest.raises(ServiceValidationError):
        await press(hass, button)
    assert not sim.requests.for_provider(provider)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_refresh_button_honours_retry_after(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A failed refresh says why; after a 429 the button waits out Retry-After."""
    button = account_entity(hass, init_integration, "refresh")
    fault = sim.faults.add(
        Fault(kind=FaultKind.RATE_LIMIT, provider="evenergy", retry_after="600")
    )
    await advance(61)
    with pytest.raises(HomeAssistantError) as raised:
        await press(hass, button)
    assert not isinstance(raised.value, ServiceValidationError)
    assert raised.value.translation_key == "rate_limited"
    assert raised.value.translation_placeholders["provider"] == "ev.energy"

    sim.faults.remove(fault)
    await advance(61)
    sim.requests.clear()
    with pytest.raises(ServiceValidationError) as raised:
        await press(hass, button)
    assert raised.value.translation_placeholders["seconds"] == str(600 - 61)
    assert not sim.requests.for_provider("evenergy")

    # The scheduled refresh runs when Retry-After ends; pressing then would be a second.
    await advance(600 - 61)
    assert sim.requests.for_provider("evenergy")
    assert init_integration.runtime_data.coordinator.last_update_success
    assert STATE_UNAVAILABLE not in {
        hass.states.get(entity.entity_id).state
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), init_integration.entry_id
        )
        if not entity.disabled_by
    }
    with pytest.raises(ServiceValidationError) as raised:
        await press(hass, button)
    assert raised.value.translation_placeholders["seconds"] == "60"


@pytest.mark.parametrize("provider", ["hiven"])
async def test_refresh_button_after_429_without_retry_after(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A 429 with no usable Retry-After leaves only the cooldown for the button."""
    button = account_entity(hass, init_integration, "refresh")
    fault = sim.faults.add(
        Fault(kind=FaultKind.RATE_LIMIT, provider="hiven", retry_after="soon")
    )
    await advance(61)
    with pytest.raises(HomeAssistantError) as raised:
        await press(hass, button)
    assert raised.value.translation_key == "rate_limited"
    sim.faults.remove(fault)
    await advance(61)
    await press(hass, button)
    assert init_integration.runtime_data.coordinator.last_update_success
