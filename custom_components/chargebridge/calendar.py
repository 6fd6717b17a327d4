"""The charging plan as a calendar: one event per planned charging period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.calendar import (
    CalendarEntity,
    CalendarEntityDescription,
    CalendarEvent,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Feature
from .api.models import ChargingPeriod
from .coordinator import ChargeBridgeConfigEntry
from .entity import (
    ChargeBridgeEntity,
    ChargeBridgeEntityDescription,
    async_add_vehicle_entities,
    supports,
)
from .plan import current_or_next_period, period_description, planned_periods

PARALLEL_UPDATES = 0

EVENT_SUMMARY = "Planned charging"
"""Fixed, not translated: automations and templates compare summaries, and Home Assistant
translates no event text."""


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeCalendarDescription(
    CalendarEntityDescription, ChargeBridgeEntityDescription
):
    """A calendar read from a vehicle snapshot."""


DESCRIPTIONS: tuple[ChargeBridgeCalendarDescription, ...] = (
    ChargeBridgeCalendarDescription(
        key="charging_plan",
        translation_key="charging_plan",
        exists_fn=supports(Feature.CHARGING_PLAN),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the plan calendar of every vehicle whose provider publishes a plan."""
    async_add_vehicle_entities(
        entry, async_add_entities, ChargeBridgeCalendarEntity, DESCRIPTIONS
    )


def _event(period: ChargingPeriod, car: str) -> CalendarEvent:
    """Show one planned period as an event; the description names the car.

    The calendar panel shows every car's events in one list under the same summary:
    the car's name says whose charging it is.
    """
    details = period_description(period)
    return CalendarEvent(
        start=period.start,
        end=period.end,
        summary=EVENT_SUMMARY,
        description=car if details is None else f"{car}: {details}",
    )


class ChargeBridgeCalendarEntity(ChargeBridgeEntity, CalendarEntity):
    """A vehicle's planned charging (the calendar itself wakes at each event's start and end).

    Only the current and upcoming periods exist: the provider forgets past ones.
    """

    entity_description: ChargeBridgeCalendarDescription

    @property
    def event(self) -> CalendarEvent | None:
        """The period under way, else the next one (none while the vehicle is unreadable)."""
        if not self.available:
            return None
        period = current_or_next_period(self.snapshot)
        return None if period is None else _event(period, self._car_name())

    def _car_name(self) -> str:
        """Return the car's name as the user sees it: their own name for the device first."""
        if self.registry_entry is not None and self.registry_entry.device_id:
            device = dr.async_get(self.hass).async_get(self.registry_entry.device_id)
            name = device and (device.name_by_user or device.name)
            if name:
                return name
        return self.snapshot.vehicle.name

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """Return the planned periods that overlap the window."""
        if not self.available:
            return []
        car = self._car_name()
        return [
            _event(period, car)
            for period in planned_periods(self.snapshot)
            if period.start < end_date and period.end > start_date
        ]
