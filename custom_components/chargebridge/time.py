"""Times: the ready-by time for all days, and the effective ready-by time of each weekday."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Feature, PreferencesUpdate, VehicleSnapshot, Weekday
from .coordinator import ChargeBridgeConfigEntry
from .entity import (
    ChargeBridgeEntity,
    ChargeBridgeEntityDescription,
    async_add_vehicle_entities,
    supports,
)

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeTimeDescription(TimeEntityDescription, ChargeBridgeEntityDescription):
    """A time backed by a vehicle's charging preferences."""

    value_fn: Callable[[VehicleSnapshot], time | None]
    update_fn: Callable[[time], PreferencesUpdate]


def _weekday(day: Weekday) -> ChargeBridgeTimeDescription:
    """Describe a weekday's ready-by time: its own where set, else the time for all days."""
    return ChargeBridgeTimeDescription(
        key=f"ready_time_{day}",
        translation_key=f"ready_time_{day}",
        entity_category=EntityCategory.CONFIG,
        exists_fn=supports(Feature.WEEKDAY_READY_TIMES),
        value_fn=lambda snapshot: snapshot.preferences.effective_ready_time(day),
        update_fn=lambda value: PreferencesUpdate(weekday_ready_times={day: value}),
    )


DESCRIPTIONS: tuple[ChargeBridgeTimeDescription, ...] = (
    ChargeBridgeTimeDescription(
        key="ready_time",
        translation_key="ready_time",
        exists_fn=supports(Feature.READY_TIME),
        value_fn=lambda snapshot: snapshot.preferences.ready_time,
        update_fn=lambda value: PreferencesUpdate(ready_time=value),
    ),
    *(_weekday(day) for day in Weekday),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the times of every vehicle, including vehicles that appear later."""

    async_add_vehicle_entities(
        entry, async_add_entities, ChargeBridgeTimeEntity, DESCRIPTIONS
    )


class ChargeBridgeTimeEntity(ChargeBridgeEntity, TimeEntity):
    """A vehicle ready-by time."""

    entity_description: ChargeBridgeTimeDescription

    @property
    def native_value(self) -> time | None:
        """The value from the latest refresh or write."""
        return self.entity_description.value_fn(self.snapshot)

    async def async_set_value(self, value: time) -> None:
        """Send the new time (whole minutes) to the provider."""
        await self.async_update_preferences(
            self.entity_description.update_fn(value.replace(second=0, microsecond=0))
        )
