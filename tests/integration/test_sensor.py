"""The next departure: the provider's plan, else the next ready-by time."""

from __future__ import annotations

from datetime import UTC, datetime, time

from homeassistant.core import HomeAssistant

from custom_components.chargebridge.api import (
    Capabilities,
    ChargingPreferences,
    Schedule,
    Vehicle,
    VehicleSnapshot,
    Weekday,
)
from custom_components.chargebridge.sensor import next_departure

VEHICLE = Vehicle(id="v", name="v", capabilities=Capabilities(features=frozenset()))


def snapshot(
    preferences: ChargingPreferences, schedule: Schedule | None = None
) -> VehicleSnapshot:
    """Return a vehicle with these preferences and plan."""
    return VehicleSnapshot(vehicle=VEHICLE, preferences=preferences, schedule=schedule)


async def test_plan_wins(hass: HomeAssistant) -> None:
    """The provider's planned departure is taken as it is."""
    planned = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    value = snapshot(
        ChargingPreferences(ready_time=time(7)), Schedule(next_departure=planned)
    )
    assert next_departure(value) == planned


async def test_next_ready_time_in_local_time(hass: HomeAssistant) -> None:
    """Now is Monday 07:00 in Amsterdam: 07:00 today has passed, so tomorrow 07:00 (06:00 UTC)."""
    value = snapshot(ChargingPreferences(ready_time=time(7)), Schedule())
    assert next_departure(value) == datetime(2026, 11, 3, 6, 0, tzinfo=UTC)


async def test_weekday_times_and_gaps(hass: HomeAssistant) -> None:
    """Days without a time are skipped; no time at all means no departure."""
    value = snapshot(
        ChargingPreferences(weekday_ready_times={Weekday.THURSDAY: time(8, 30)})
    )
    assert next_departure(value) == datetime(2026, 11, 5, 7, 30, tzinfo=UTC)
    assert next_departure(snapshot(ChargingPreferences())) is None


async def test_ready_time_in_the_zone_the_schedule_names(hass: HomeAssistant) -> None:
    """Hiven's schedule names the car's zone: 07:00 in New York is 12:00 UTC today.

    An unknown zone name costs nothing: Home Assistant's zone is used.
    """
    value = snapshot(
        ChargingPreferences(ready_time=time(7)),
        Schedule(time_zone="America/New_York"),
    )
    assert next_departure(value) == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    unknown = snapshot(
        ChargingPreferences(ready_time=time(7)), Schedule(time_zone="Mars/Olympus")
    )
    assert next_departure(unknown) == datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
