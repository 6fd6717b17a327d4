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


def _event(period: ChargingPeriod) -> CalendarEvent:
    """Show one planned period as an event."""
    return CalendarEvent(
        start=period.start,
        end=period.end,
        summary=EVENT_SUMMARY,
        description=period_description(period),
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
        return None if period is None else _event(period)

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """Return the planned periods that overlap the window."""
        if not self.available:
            return []
        return [
            _event(period)
            for period in planned_periods(self.snapshot)
            if period.start < end_date and period.end > start_date
        ]
