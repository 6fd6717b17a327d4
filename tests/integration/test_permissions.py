"""Errors mean what they say: 403 is a refused permission, decimals in headers, 503 commands.

A 403 never starts reauth: on a write it says the provider does not permit it; on a refresh
the entities go unavailable and a repair names what is refused until a good refresh.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.const import DOMAIN
from tests.simulator import PROFILES, Fault, FaultKind, Simulator

from .conftest import Advance, next_poll, reauth_flows

MISSING_SCOPE = (
    "You do not have permission to perform this action (scope vehicle:write)."
)


def smart_charging_switch(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """Return the entity id of the first vehicle's smart charging switch."""
    vehicle = next(iter(entry.runtime_data.coordinator.data.vehicles.values()))
    unique_id = f"{entry.data['provider']}_{vehicle.vehicle.id}_smart_charging"
    found = er.async_get(hass).async_get_entity_id("switch", DOMAIN, unique_id)
    assert found is not None
    return found


async def flip(hass: HomeAssistant, switch: str, before: str) -> None:
    """Switch ``switch`` the other way than ``before``."""
    await hass.services.async_call(
        "switch",
        "turn_off" if before == "on" else "turn_on",
        {ATTR_ENTITY_ID: switch},
        blocking=True,
    )


def entity_states(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    """Return the states of the entry's enabled entities."""
    return {
        hass.states.get(entity.entity_id).state
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if not entity.disabled_by and hass.states.get(entity.entity_id)
    }


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_client_without_write_scope_reads_but_may_not_write(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """An ev.energy client granted only read scopes: values shown, writes not_permitted."""
    sim.evenergy.scopes = {"vehicle:read", "user:read", "charging_session:read"}
    sim.evenergy.expire_tokens()
    await next_poll(init_integration, advance)
    switch = smart_charging_switch(hass, init_integration)
    before = hass.states.get(switch).state
    assert before in ("on", "off")
    sim.requests.clear()
    with pytest.raises(HomeAssistantError) as raised:
        await flip(hass, switch, before)
    await hass.async_block_till_done()
    assert raised.value.translation_key == "not_permitted"
    assert "vehicle:write" in raised.value.translation_placeholders["error"]
    assert len(sim.requests.filter(provider, "PATCH")) == 1
    assert not reauth_flows(hass)
    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get(switch).state == before
    await next_poll(init_integration, advance)
    assert hass.states.get(switch).state == before
    assert not ir.async_get(hass).issues


@pytest.mark.parametrize("provider", ["evenergy", "jedlix"])
async def test_forbidden_write_is_not_permitted(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
) -> None:
    """403 on a write: translated not_permitted, sent once, no reauth, old state kept."""
    switch = smart_charging_switch(hass, init_integration)
    before = hass.states.get(switch).state
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            status=403,
            detail=MISSING_SCOPE,
            provider=provider,
            method=PROFILES[provider].write_method,
        )
    )
    with pytest.raises(HomeAssistantError) as raised:
        await flip(hass, switch, before)
    await hass.async_block_till_done()
    assert raised.value.translation_domain == DOMAIN
    assert raised.value.translation_key == "not_permitted"
    assert MISSING_SCOPE in raised.value.translation_placeholders["error"]
    assert fault.hits == 1
    assert not reauth_flows(hass)
    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get(switch).state == before


@pytest.mark.parametrize("provider", ["evenergy", "hiven"])
async def test_forbidden_refresh_raises_a_repair_until_a_good_refresh(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """403 on a refresh: entities unavailable, a repair naming it, no reauth; then back."""
    switch = smart_charging_switch(hass, init_integration)
    issue_id = f"permission_denied_{init_integration.entry_id}"
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            status=403,
            detail=MISSING_SCOPE,
            provider=provider,
            method="GET",
        )
    )
    await next_poll(init_integration, advance)
    coordinator = init_integration.runtime_data.coordinator
    assert not coordinator.last_update_success
    assert coordinator.last_exception.translation_key == "not_permitted"
    assert hass.states.get(switch).state == STATE_UNAVAILABLE
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "permission_denied"
    assert issue.translation_placeholders["detail"] == MISSING_SCOPE
    assert not reauth_flows(hass)
    assert init_integration.state is ConfigEntryState.LOADED

    sim.faults.remove(fault)
    await next_poll(init_integration, advance)
    assert coordinator.last_update_success
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get(switch).state != STATE_UNAVAILABLE
    assert STATE_UNAVAILABLE not in entity_states(hass, init_integration)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_decimal_retry_after_is_honoured(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Retry-After: 42.5 (a number, as the spec types it) holds the next poll ≥ 42.5 s."""
    coordinator = init_integration.runtime_data.coordinator
    fault = sim.faults.add(
        Fault(kind=FaultKind.RATE_LIMIT, provider="evenergy", retry_after="42.5")
    )
    await next_poll(init_integration, advance)
    assert not coordinator.last_update_success
    sim.faults.remove(fault)
    assert coordinator.update_interval is not None
    assert coordinator.update_interval.total_seconds() >= 42.5
    sim.requests.clear()
    await advance(42)
    assert not sim.requests.for_provider("evenergy")
    await advance(coordinator.update_interval.total_seconds())
    assert coordinator.last_update_success


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("provider", ["evenergy"])
async def test_decimal_rate_limit_headers_are_shown(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """X-RateLimit-Limit: 1000.0 and X-RateLimit-Remaining: 12.0 read as whole numbers."""
    sim.evenergy.decimal_headers = True
    await next_poll(init_integration, advance)
    client = init_integration.runtime_data.client
    budget = sim.evenergy.admin_state()["rate_limit"]
    assert client.rate_limit is not None
    assert client.rate_limit.limit == budget["limit"]
    assert client.rate_limit.remaining == budget["limit"] - budget["used"]
    unique_id = (
        f"evenergy_account_{init_integration.unique_id.removeprefix('evenergy_')}"
        "_rate_limit_remaining"
    )
    sensor = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)
    assert sensor is not None
    assert hass.states.get(sensor).state == str(budget["limit"] - budget["used"])


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_evenergy_command_503_is_not_delivered(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
) -> None:
    """ev.energy's 503 on a command: it could not be delivered to the car."""
    switch = smart_charging_switch(hass, init_integration)
    before = hass.states.get(switch).state
    sim.faults.add(Fault(kind=FaultKind.STATUS, provider="evenergy", method="PATCH"))
    with pytest.raises(HomeAssistantError) as raised:
        await flip(hass, switch, before)
    assert raised.value.translation_key == "command_not_delivered"
    assert hass.states.get(switch).state == before
    assert not reauth_flows(hass)
