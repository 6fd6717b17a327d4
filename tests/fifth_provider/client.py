"""Voltly: a made-up provider, written the way a real one is added.

Authentication is a bearer token on every request. Validating is one GET of ``/me``; one
refresh is one request, as the car list carries everything (state of charge, plug, target).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from custom_components.chargebridge.api.base import ConfigField, Provider
from custom_components.chargebridge.api.errors import ProviderResponseError
from custom_components.chargebridge.api.models import (
    Account,
    Capabilities,
    ChargingPreferences,
    Feature,
    PreferencesUpdate,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
)
from custom_components.chargebridge.api.payload import Payload

CAPABILITIES = Capabilities(
    features=frozenset(
        {Feature.STATE_OF_CHARGE, Feature.PLUGGED_IN, Feature.TARGET_SOC}
    ),
    target_soc_min=20,
    target_soc_max=100,
)
"""Every Voltly car offers the same: state of charge, plug, a target of 20–100 %."""


@dataclass(kw_only=True)
class VoltlyClient(Provider):
    """A Voltly account: one API token and the account it belongs to."""

    name: ClassVar[str] = "voltly"
    title: ClassVar[str] = "Voltly"
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(key="api_url", default="https://api.voltly.example", url=True),
        ConfigField(key="token", secret=True),
        ConfigField(key="account", account=True),
    )

    token: str = field(repr=False)
    account: str

    async def _async_auth_headers(self) -> dict[str, str]:
        """Send the bearer token on every request."""
        return {"Authorization": f"Bearer {self.token}"}

    async def _async_get_cars(self) -> list[Any]:
        """Fetch the account's cars as a JSON array."""
        response = await self._request("GET", f"{self.api_url}/cars")
        if not isinstance(response.data, list):
            raise ProviderResponseError(self.name, "expected a JSON array", "cars")
        return response.data

    async def async_validate(self) -> Account:
        """Ask who the token belongs to: the cheapest call that proves it."""
        await self._request("GET", f"{self.api_url}/me")
        return Account(unique_id=self.account, title=self.title)

    async def _async_list_vehicles(self) -> Sequence[tuple[str, Any]]:
        return [
            (f"cars[{index}]", item)
            for index, item in enumerate(await self._async_get_cars())
        ]

    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot:
        car_id = item.req_str("id")
        return VehicleSnapshot(
            vehicle=Vehicle(
                id=car_id,
                name=item.opt_str("name") or car_id,
                capabilities=CAPABILITIES,
            ),
            state=VehicleState(
                state_of_charge=item.opt_float("soc"),
                plugged_in=item.opt_bool("plugged"),
            ),
            preferences=ChargingPreferences(target_soc=item.opt_int("target")),
        )

    def _unreadable_capabilities(self, vehicle_id: str) -> Capabilities:
        return CAPABILITIES

    async def _async_update_preferences(
        self, snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        """PUT the new target (the only setting a Voltly car has)."""
        current = snapshot.preferences
        if update.target_soc is None:
            return current
        await self._request(
            "PUT",
            f"{self.api_url}/cars/{snapshot.vehicle.id}",
            json={"target": update.target_soc},
        )
        return replace(current, target_soc=update.target_soc)
