"""A fifth provider, defined only in this package, works end to end with no production change.

Config flow → entities → a write → diagnostics (and the options flow), against a tiny
Voltly API on loopback. The only thing that makes the integration know Voltly is
``registry.register(VoltlyClient)`` (the autouse fixture in conftest.py).
"""

from __future__ import annotations

import json
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.api import PreferencesUpdate
from custom_components.chargebridge.api.registry import PROVIDERS
from custom_components.chargebridge.const import DOMAIN
from custom_components.chargebridge.diagnostics import (
    async_get_config_entry_diagnostics,
)

from .client import VoltlyClient
from .simulator import ACCOUNT, TOKEN, VoltlyWorld

REDACTED = "**REDACTED**"
VEHICLE_KEYS = ("state_of_charge", "plugged_in", "target_soc")


def entry_data(url: str, token: str = TOKEN) -> dict[str, str]:
    """Return the config entry data of the Voltly account on ``url``."""
    return {"provider": "voltly", "api_url": url, "token": token, "account": ACCOUNT}


def schema_defaults(result: Any) -> dict[str, Any]:
    """Return a form's fields in order, with their defaults (None: no default)."""
    fields: dict[str, Any] = {}
    for marker in result["data_schema"].schema:
        default = marker.default() if callable(marker.default) else None
        fields[str(marker)] = default
    return fields


def devices_by_identifier(
    hass: HomeAssistant, entry: MockConfigEntry
) -> dict[str, dr.DeviceEntry]:
    """Return the entry's devices by their ChargeBridge identifier."""
    return {
        identifier: device
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
        for domain, identifier in device.identifiers
        if domain == DOMAIN
    }


def entity_id(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    """Return the entity id registered for ``unique_id``."""
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


@pytest.fixture
async def voltly_entry(
    hass: HomeAssistant, voltly_url: str, world: VoltlyWorld
) -> MockConfigEntry:
    """Set up a Voltly account the way the config flow stores it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Voltly",
        data=entry_data(voltly_url),
        unique_id=f"voltly_{ACCOUNT}",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    world.received.clear()
    return entry


def test_registered_only_through_the_registry() -> None:
    """The fixture registered the client: the integration learns of it nowhere else."""
    assert PROVIDERS["voltly"] is VoltlyClient
    assert VoltlyClient.secret_fields == frozenset({"token"})
    assert VoltlyClient.default_api_url == "https://api.voltly.example"


async def test_config_flow(
    hass: HomeAssistant, voltly_url: str, world: VoltlyWorld
) -> None:
    """Menu → Voltly's form → wrong token refused → the right one creates the entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "voltly" in result["menu_options"]
    for builtin in ("hiven", "chargeye", "jedlix", "evenergy"):
        assert builtin in result["menu_options"]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "voltly"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "voltly"
    assert result["errors"] == {}
    assert schema_defaults(result) == {
        "api_url": "https://api.voltly.example",
        "token": None,
        "account": None,
    }
    flow_id = result["flow_id"]

    user_input = {"api_url": voltly_url, "token": "wrong-token", "account": ACCOUNT}
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert [(r.method, r.path) for r in world.received] == [("GET", "/me")]
    assert world.received[0].headers["Authorization"] == "Bearer wrong-token"

    result = await hass.config_entries.flow.async_configure(
        flow_id, {**user_input, "token": TOKEN}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Voltly"
    assert result["data"] == entry_data(voltly_url)
    entry = result["result"]
    assert entry.unique_id == f"voltly_{ACCOUNT}"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    # The same account again is refused.
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "voltly"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**user_input, "token": TOKEN}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_entities(hass: HomeAssistant, voltly_entry: MockConfigEntry) -> None:
    """Each car is a device with exactly the entities its features give, in its state."""
    devices = devices_by_identifier(hass, voltly_entry)
    assert set(devices) == {
        "voltly_car-1",
        "voltly_car-2",
        f"voltly_account_{ACCOUNT}",
    }
    entities = er.async_get(hass)
    expected = {
        "car-1": ("Blue Hatch", "55.0", "on", "90"),
        "car-2": ("Red Van", "12.5", "off", "70"),
    }
    for car_id, (name, soc, plugged, target) in expected.items():
        device = devices[f"voltly_{car_id}"]
        assert device.name == name
        on_device = {
            entry.unique_id
            for entry in er.async_entries_for_device(entities, device.id)
        }
        assert on_device == {f"voltly_{car_id}_{key}" for key in VEHICLE_KEYS}
        prefix = f"voltly_{car_id}"
        state = hass.states.get(entity_id(hass, "sensor", f"{prefix}_state_of_charge"))
        assert state is not None
        assert state.state == soc
        assert state.attributes["unit_of_measurement"] == "%"
        state = hass.states.get(
            entity_id(hass, "binary_sensor", f"{prefix}_plugged_in")
        )
        assert state is not None
        assert state.state == plugged
        state = hass.states.get(entity_id(hass, "number", f"{prefix}_target_soc"))
        assert state is not None
        assert float(state.state) == float(target)
        assert state.attributes["min"] == 20
        assert state.attributes["max"] == 100

    account = devices[f"voltly_account_{ACCOUNT}"]
    assert account.manufacturer == "Voltly"
    refresh = entity_id(hass, "button", f"voltly_account_{ACCOUNT}_refresh")
    assert entities.async_get(refresh).device_id == account.id  # type: ignore[union-attr]
    assert hass.states.get(refresh) is not None


async def test_write(
    hass: HomeAssistant, voltly_entry: MockConfigEntry, world: VoltlyWorld
) -> None:
    """Setting the target sends one PUT with the token; out of range sends nothing."""
    target = entity_id(hass, "number", "voltly_car-1_target_soc")
    await hass.services.async_call(
        "number", "set_value", {ATTR_ENTITY_ID: target, "value": 80}, blocking=True
    )
    writes = world.writes()
    assert [(r.method, r.path, r.body) for r in writes] == [
        ("PUT", "/cars/car-1", {"target": 80})
    ]
    assert writes[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert float(hass.states.get(target).state) == 80  # type: ignore[union-attr]
    assert world.cars["car-1"]["target"] == 80

    world.received.clear()
    # Home Assistant's number service checks the entity's range (the client's range).
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            "number", "set_value", {ATTR_ENTITY_ID: target, "value": 10}, blocking=True
        )
    assert raised.value.translation_key == "out_of_range"
    assert raised.value.translation_domain == "number"
    # The integration's own check (any other caller of the write path) says the same.
    coordinator = voltly_entry.runtime_data.coordinator
    with pytest.raises(ServiceValidationError) as raised:
        await coordinator.async_update_preferences(
            "car-1", PreferencesUpdate(target_soc=10)
        )
    assert raised.value.translation_domain == DOMAIN
    assert raised.value.translation_key == "out_of_range"
    assert raised.value.translation_placeholders == {
        "field": "target_soc",
        "value": "10",
        "min": "20",
        "max": "100",
    }
    assert world.received == []
    assert float(hass.states.get(target).state) == 80  # type: ignore[union-attr]


async def test_diagnostics(hass: HomeAssistant, voltly_entry: MockConfigEntry) -> None:
    """The token and the account id are redacted everywhere; the fleet lists both cars."""
    diagnostics = await async_get_config_entry_diagnostics(hass, voltly_entry)
    text = json.dumps(diagnostics)
    assert diagnostics["entry"]["data"]["token"] == REDACTED
    assert diagnostics["entry"]["data"]["account"] == REDACTED
    assert TOKEN not in text
    assert set(diagnostics["fleet"]["vehicles"]) == {"car-1", "car-2"}
    assert diagnostics["fleet"]["vehicles"]["car-2"]["state"]["state_of_charge"] == 12.5


async def test_options_flow(hass: HomeAssistant, voltly_entry: MockConfigEntry) -> None:
    """The polling interval is offered with the client's default and minimum."""
    result = await hass.config_entries.options.async_init(voltly_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert schema_defaults(result) == {
        "scan_interval": int(VoltlyClient.default_scan_interval.total_seconds())
    }
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["min"] == str(
        int(VoltlyClient.min_scan_interval.total_seconds())
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 120}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert voltly_entry.options == {"scan_interval": 120}
    coordinator = voltly_entry.runtime_data.coordinator
    assert coordinator.update_interval is not None
