"""Actions: depot schedules, and the charging plan of vehicles whose provider has one."""

from __future__ import annotations

from datetime import datetime

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .api import DepotScheduleRequest, Feature, VehicleSnapshot
from .compat import vol
from .const import DOMAIN
from .coordinator import ChargeBridgeConfigEntry, ChargeBridgeCoordinator
from .helpers import provider_errors
from .plan import plan_slots

SERVICE_SET_DEPOT_SCHEDULE = "set_depot_schedule"
SERVICE_GET_CHARGING_PLAN = "get_charging_plan"
ATTR_DEVICE_ID = "device_id"
ATTR_ARRIVAL = "arrival"
ATTR_DEPARTURE = "departure"
ATTR_TARGET_SOC = "target_soc"
ATTR_REPLACE_FUTURE = "replace_future"

SET_DEPOT_SCHEDULE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_ARRIVAL): cv.datetime,
        vol.Required(ATTR_DEPARTURE): cv.datetime,
        vol.Required(ATTR_TARGET_SOC): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=100)
        ),
        vol.Optional(ATTR_REPLACE_FUTURE, default=False): cv.boolean,
    }
)

GET_CHARGING_PLAN_SCHEMA = vol.Schema(
    {vol.Required(ATTR_DEVICE_ID): vol.All(cv.ensure_list, [cv.string])}
)


def _aware(value: datetime) -> datetime:
    """Read a time without zone as Home Assistant's local time."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt_util.get_default_time_zone())
    return value


def _vehicle(
    hass: HomeAssistant, device_id: str, feature: Feature, error_key: str
) -> tuple[ChargeBridgeCoordinator, VehicleSnapshot, str]:
    """Find the vehicle of a device that offers ``feature``, or explain why there is none.

    Returns its coordinator, its snapshot and the device's name as the user sees it;
    ``error_key`` names the translated refusal for a device that is no such vehicle.
    """
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_not_found",
            translation_placeholders={"device_id": device_id},
        )
    for entry_id in device.config_entries:
        entry: ChargeBridgeConfigEntry | None = hass.config_entries.async_get_entry(
            entry_id
        )
        if (
            entry is None
            or entry.domain != DOMAIN
            or entry.state is not ConfigEntryState.LOADED
        ):
            continue
        client = entry.runtime_data.client
        coordinator = entry.runtime_data.coordinator
        for domain, identifier in device.identifiers:
            prefix = f"{client.name}_"
            if domain != DOMAIN or not identifier.startswith(prefix):
                continue
            snapshot = coordinator.data.vehicles.get(identifier.removeprefix(prefix))
            if snapshot is not None and snapshot.vehicle.capabilities.supports(feature):
                return coordinator, snapshot, device.name_by_user or device.name or ""
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=error_key,
        translation_placeholders={"device": device.name or device_id},
    )


async def _async_set_depot_schedule(call: ServiceCall) -> ServiceResponse:
    """Add (or with replace_future: make the only future) schedule of a depot vehicle."""
    coordinator, snapshot, _ = _vehicle(
        call.hass,
        call.data[ATTR_DEVICE_ID],
        Feature.DEPOT_SCHEDULES,
        "not_a_depot_vehicle",
    )
    vehicle_id = snapshot.vehicle.id
    request = DepotScheduleRequest(
        planned_arrival=_aware(call.data[ATTR_ARRIVAL]),
        planned_departure=_aware(call.data[ATTR_DEPARTURE]),
        target_soc=call.data[ATTR_TARGET_SOC],
    )
    async with provider_errors(call.hass, coordinator.config_entry):
        ids, removed = await coordinator.client.async_add_schedules(
            vehicle_id, [request], replace_future=call.data[ATTR_REPLACE_FUTURE]
        )
    await coordinator.async_request_refresh()
    return {
        "schedule_ids": [*ids],
        "removed_schedule_ids": [*removed],
    }


async def _async_get_charging_plan(call: ServiceCall) -> ServiceResponse:
    """Answer each vehicle's current and upcoming planned periods (as its calendar has them).

    Every device is checked before anything is answered: one wrong device refuses the call.
    """
    vehicles: dict[str, JsonValueType] = {}
    for device_id in call.data[ATTR_DEVICE_ID]:
        _, snapshot, name = _vehicle(
            call.hass, device_id, Feature.CHARGING_PLAN, "no_charging_plan"
        )
        vehicles[device_id] = {
            "name": name or snapshot.vehicle.name,
            "slots": plan_slots(snapshot),
        }
    return {"vehicles": vehicles}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, whatever entries exist)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SET_DEPOT_SCHEDULE,
        _async_set_depot_schedule,
        schema=SET_DEPOT_SCHEDULE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_CHARGING_PLAN,
        _async_get_charging_plan,
        schema=GET_CHARGING_PLAN_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
