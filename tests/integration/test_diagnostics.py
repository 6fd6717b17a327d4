"""Diagnostics: everything support needs, nothing that identifies or unlocks the account."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from tests.simulator import Fault, FaultKind, Simulator, SimulatorServer

from .conftest import refresh_everything

REDACTED = "**REDACTED**"


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim_server: SimulatorServer,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Secrets, user ids, VINs and locations are redacted; the rest is there."""
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    text = json.dumps(diagnostics)

    data = init_integration.data
    for key in ("api_key", "refresh_token", "client_secret", "client_id", "user_id"):
        if key in data:
            assert diagnostics["entry"]["data"][key] == REDACTED
            assert data[key] not in text
    vehicles = init_integration.runtime_data.coordinator.data.vehicles.values()
    for snapshot_ in vehicles:
        if snapshot_.vehicle.vin:
            assert snapshot_.vehicle.vin not in text
    for vehicle in diagnostics["fleet"]["vehicles"].values():
        assert vehicle["vehicle"]["vin"] in (None, REDACTED)
    assert len(diagnostics["fleet"]["vehicles"]) == len(vehicles)

    # The simulator listens on a random port; the rest is deterministic.
    assert json.loads(text.replace(sim_server.url, "http://simulator")) == snapshot


@pytest.mark.parametrize("provider", ["hiven"])
async def test_diagnostics_show_problems(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: Simulator,
    init_integration: MockConfigEntry,
) -> None:
    """A vehicle that could not be read shows its error, naming the provider."""
    broken = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS, provider="hiven", vehicle_id=broken, path="/status"
        )
    )
    await refresh_everything(hass, init_integration)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    error = diagnostics["fleet"]["vehicles"][broken]["error"]
    assert error == "ProviderConnectionError: hiven: server error 503"
    assert diagnostics["fleet"]["problems"] == [error]
