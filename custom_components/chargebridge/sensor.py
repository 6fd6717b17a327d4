"""Sensors: battery, range, charging status and power, energy, departure, last contact.

The plan's next charging period and its state of charge at departure; and two of the account: the requests sent to the provider, and its remaining budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfEnergy,
    UnitOfLength,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .account import ChargeBridgeAccountEntity, ChargeBridgeAccountEntityDescription
from .api import ChargingStatus, Feature, VehicleSnapshot, Weekday
from .coordinator import ChargeBridgeConfigEntry, ChargeBridgeCoordinator
from .entity import (
    ChargeBridgeEntity,
    ChargeBridgeEntityDescription,
    async_add_vehicle_entities,
    supports,
)
from .plan import next_period_end, next_period_start

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeSensorDescription(
    SensorEntityDescription, ChargeBridgeEntityDescription
):
    """A sensor read from a vehicle snapshot."""

    value_fn: Callable[[VehicleSnapshot], float | str | datetime | None]


def next_departure(snapshot: VehicleSnapshot) -> datetime | None:
    """Return the provider's next departure, else the next ready-by time from the preferences.

    Ready-by times are the car's local times: in the zone the provider's schedule names,
    else Home Assistant's.
    """
    schedule = snapshot.schedule
    if schedule is not None and schedule.next_departure is not None:
        return schedule.next_departure
    zone = None
    if schedule is not None and schedule.time_zone:
        zone = dt_util.get_time_zone(schedule.time_zone)
    now = dt_util.now(zone)
    for days_ahead in range(8):
        day = (now + timedelta(days=days_ahead)).date()
        ready = snapshot.preferences.effective_ready_time(
            Weekday.from_index(day.weekday())
        )
        if ready is None:
            continue
        candidate = datetime.combine(day, ready, tzinfo=now.tzinfo)
        if candidate > now:
            return dt_util.as_utc(candidate)
    return None


DESCRIPTIONS: tuple[ChargeBridgeSensorDescription, ...] = (
    ChargeBridgeSensorDescription(
        key="state_of_charge",
        translation_key="state_of_charge",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        exists_fn=supports(Feature.STATE_OF_CHARGE),
        value_fn=lambda snapshot: snapshot.state.state_of_charge,
    ),
    ChargeBridgeSensorDescription(
        key="range",
        translation_key="range",
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.KILOMETERS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        exists_fn=supports(Feature.RANGE),
        value_fn=lambda snapshot: snapshot.state.range_km,
    ),
    ChargeBridgeSensorDescription(
        key="charging_status",
        translation_key="charging_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in ChargingStatus],
        exists_fn=supports(Feature.CHARGING_STATUS),
        value_fn=lambda snapshot: snapshot.state.charging_status.value,
    ),
    ChargeBridgeSensorDescription(
        key="charge_power",
        translation_key="charge_power",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=1,
        state_class=SensorStateClass.MEASUREMENT,
        exists_fn=supports(Feature.CHARGE_POWER),
        value_fn=lambda snapshot: snapshot.state.charge_power_w,
    ),
    # The counter restarts from zero at every plug-in: Home Assistant's definition of
    # total_increasing, which the energy dashboard reads as a new meter cycle.
    ChargeBridgeSensorDescription(
        key="energy_added",
        translation_key="energy_added",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        state_class=SensorStateClass.TOTAL_INCREASING,
        exists_fn=supports(Feature.ENERGY_ADDED),
        value_fn=lambda snapshot: snapshot.state.energy_added_wh,
    ),
    ChargeBridgeSensorDescription(
        key="battery_capacity",
        translation_key="battery_capacity",
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        exists_fn=supports(Feature.BATTERY_CAPACITY),
        value_fn=lambda snapshot: snapshot.state.battery_capacity_wh,
    ),
    ChargeBridgeSensorDescription(
        key="next_departure",
        translation_key="next_departure",
        device_class=SensorDeviceClass.TIMESTAMP,
        exists_fn=supports(Feature.NEXT_DEPARTURE),
        value_fn=next_departure,
    ),
    *(
        ChargeBridgeSensorDescription(
            key=key,
            translation_key=key,
            device_class=SensorDeviceClass.TIMESTAMP,
            exists_fn=supports(Feature.CHARGING_PLAN),
            follows_plan=True,
            value_fn=value_fn,
        )
        for key, value_fn in (
            ("next_charge_start", next_period_start),
            ("next_charge_end", next_period_end),
        )
    ),
    ChargeBridgeSensorDescription(
        key="departure_soc",
        translation_key="departure_soc",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        exists_fn=supports(Feature.DEPARTURE_SOC),
        value_fn=lambda snapshot: (
            None if snapshot.schedule is None else snapshot.schedule.departure_soc
        ),
    ),
    ChargeBridgeSensorDescription(
        key="last_update",
        translation_key="last_update",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        exists_fn=supports(Feature.LAST_UPDATE),
        value_fn=lambda snapshot: snapshot.state.updated_at,
    ),
)


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeAccountSensorDescription(
    SensorEntityDescription, ChargeBridgeAccountEntityDescription
):
    """A sensor of the account, read from the coordinator and its client."""

    value_fn: Callable[[ChargeBridgeCoordinator], int | None]


def rate_limit_remaining(coordinator: ChargeBridgeCoordinator) -> int | None:
    """Return the requests the provider says are left in its window."""
    rate_limit = coordinator.client.rate_limit
    return None if rate_limit is None else rate_limit.remaining


# Both change with every refresh: diagnostic, and off until someone wants to watch them.
ACCOUNT_DESCRIPTIONS: tuple[ChargeBridgeAccountSensorDescription, ...] = (
    ChargeBridgeAccountSensorDescription(
        key="api_requests",
        translation_key="api_requests",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda coordinator: coordinator.client.requests_made,
    ),
    ChargeBridgeAccountSensorDescription(
        key="rate_limit_remaining",
        translation_key="rate_limit_remaining",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        exists_fn=lambda coordinator: rate_limit_remaining(coordinator) is not None,
        value_fn=rate_limit_remaining,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's sensors, and those of every vehicle (also vehicles added later).

    The remaining budget exists where the provider stated one in the first refresh.
    """
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        ChargeBridgeAccountSensorEntity(coordinator, description)
        for description in ACCOUNT_DESCRIPTIONS
        if description.exists_fn(coordinator)
    )
    async_add_vehicle_entities(
        entry, async_add_entities, ChargeBridgeSensorEntity, DESCRIPTIONS
    )


class ChargeBridgeSensorEntity(ChargeBridgeEntity, SensorEntity):
    """A vehicle sensor."""

    entity_description: ChargeBridgeSensorDescription

    @property
    def native_value(self) -> float | str | datetime | None:
        """The value from the latest refresh."""
        return self.entity_description.value_fn(self.snapshot)


class ChargeBridgeAccountSensorEntity(ChargeBridgeAccountEntity, SensorEntity):
    """An account sensor, written after every refresh in which its value moved.

    It follows refreshes, not the fleet: the request counter moves also when a refresh
    fails or brings nothing new.
    """

    entity_description: ChargeBridgeAccountSensorDescription
    _written: int | None = None

    async def async_added_to_hass(self) -> None:
        """Remember what the first write (right after this) shows."""
        await super().async_added_to_hass()
        self._written = self.native_value

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only when the value moved."""
        value = self.native_value
        if value != self._written:
            self._written = value
            self.async_write_ha_state()

    @property
    def native_value(self) -> int | None:
        """The value after the latest refresh."""
        return self.entity_description.value_fn(self.coordinator)
