"""The charging plan as entities and the action show it: current and upcoming periods.

One reading for the calendar, the planned-charging sensors and ``get_charging_plan``, so
they always agree; a car without a plan (unplugged, no schedule) has no periods.
"""

from __future__ import annotations

from datetime import datetime

from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .api import VehicleSnapshot
from .api.models import ChargingPeriod, charging_periods


def planned_periods(
    snapshot: VehicleSnapshot, now: datetime | None = None
) -> tuple[ChargingPeriod, ...]:
    """Return the periods under way or upcoming at ``now`` (default: now), slots merged."""
    if snapshot.schedule is None:
        return ()
    return charging_periods(snapshot.schedule.slots, now or dt_util.utcnow())


def current_or_next_period(
    snapshot: VehicleSnapshot, now: datetime | None = None
) -> ChargingPeriod | None:
    """Return the period under way, else the next one."""
    periods = planned_periods(snapshot, now)
    return periods[0] if periods else None


def next_period_start(snapshot: VehicleSnapshot) -> datetime | None:
    """Return when the period under way started, else when the next one starts."""
    period = current_or_next_period(snapshot)
    return None if period is None else period.start


def next_period_end(snapshot: VehicleSnapshot) -> datetime | None:
    """Return when the period under way, else the next one, ends."""
    period = current_or_next_period(snapshot)
    return None if period is None else period.end


def in_planned_period(snapshot: VehicleSnapshot) -> bool:
    """Tell whether now lies inside a planned period (start included, end not)."""
    now = dt_util.utcnow()
    period = current_or_next_period(snapshot, now)
    return period is not None and period.start <= now


def next_boundary(snapshot: VehicleSnapshot) -> datetime | None:
    """Return when what the plan says about now next changes: a period's start or end."""
    now = dt_util.utcnow()
    period = current_or_next_period(snapshot, now)
    if period is None:
        return None
    return period.start if period.start > now else period.end


def _kilo(value: float | None) -> float | None:
    """Convert W or Wh to kW or kWh (three decimals: watt precision)."""
    return None if value is None else round(value / 1000, 3)


def _iso(value: datetime) -> str:
    """Format in Home Assistant's time zone, offset included."""
    return dt_util.as_local(value).isoformat()


def planned_dispatches(snapshot: VehicleSnapshot) -> list[JsonValueType]:
    """Return the periods in the shape of Octopus Energy's ``planned_dispatches``.

    Automations written for Octopus' intelligent dispatching read ours unchanged.
    """
    return [
        {
            "start": _iso(period.start),
            "end": _iso(period.end),
            "charge_in_kwh": _kilo(period.energy_wh),
        }
        for period in planned_periods(snapshot)
    ]


def plan_slots(snapshot: VehicleSnapshot) -> list[JsonValueType]:
    """Return the periods as ``get_charging_plan`` answers them."""
    return [
        {
            "start": _iso(period.start),
            "end": _iso(period.end),
            "energy_kwh": _kilo(period.energy_wh),
            "power_kw": _kilo(period.power_w),
        }
        for period in planned_periods(snapshot)
    ]


def period_description(period: ChargingPeriod) -> str | None:
    """Describe the planned energy and power where the provider says them."""
    energy = _kilo(period.energy_wh)
    power = _kilo(period.power_w)
    parts = []
    if energy is not None:
        parts.append(f"{energy:g} kWh")
    if power is not None:
        parts.append(f"up to {power:g} kW")
    return ", ".join(parts) or None
