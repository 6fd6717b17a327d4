"""ChargEye's charging plans: what a plan says a vehicle does at a given moment.

ChargEye publishes no live telemetry; each depot schedule carries the plan ChargEye computed
(segments of charging or pause, with power, energy and state of charge at their ends). This
module reads those plans and derives the vehicle's state from them, with no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from .chargeye_recurrence import Window
from .errors import ProviderResponseError
from .models import ChargingSlot, ChargingStatus, DepotSchedule, VehicleState
from .payload import Payload


# [assume] The Vehicles API has no plug state: a vehicle inside a schedule's planned
# arrival-departure window (both ends included) counts as at the depot and plugged in;
# outside every window it counts as disconnected (on the road).
def at_depot(schedule: DepotSchedule, now: datetime) -> bool:
    """Tell whether the schedule says the vehicle is at the depot, plugged in, at ``now``."""
    arrival, departure = schedule.planned_arrival, schedule.planned_departure
    return arrival is not None and departure is not None and arrival <= now <= departure


@dataclass(frozen=True, slots=True)
class PlanSegment:
    """One segment of a ChargEye plan (charging or paused)."""

    start: datetime
    end: datetime
    power_w: float | None
    energy_wh: float | None
    start_soc: float | None
    end_soc: float | None
    paused: bool

    @property
    def charging(self) -> bool:
        """Whether power flows in this segment."""
        return not self.paused and (self.power_w or 0) > 0

    def elapsed(self, now: datetime) -> float:
        """Return the share of this segment that lies before ``now`` (0 to 1)."""
        if now <= self.start:
            return 0.0
        if now >= self.end:
            return 1.0
        return (now - self.start) / (self.end - self.start)

    def energy(self) -> float:
        """Energy in Wh: as stated, else power × duration; nothing while paused."""
        if self.paused:
            return 0.0
        if self.energy_wh is not None:
            return self.energy_wh
        if self.power_w is not None:
            return self.power_w * (self.end - self.start).total_seconds() / 3600
        return 0.0

    def soc_at(self, now: datetime) -> float | None:
        """State of charge at ``now``, interpolated between the segment's ends."""
        if self.start_soc is None or self.end_soc is None:
            return self.end_soc if self.start_soc is None else self.start_soc
        return self.start_soc + (self.end_soc - self.start_soc) * self.elapsed(now)

    def slot(self) -> ChargingSlot:
        """As a normalized charging slot."""
        return ChargingSlot(
            start=self.start,
            end=self.end,
            power_w=self.power_w,
            energy_wh=self.energy_wh,
            start_soc=self.start_soc,
            end_soc=self.end_soc,
        )


@dataclass(frozen=True, slots=True)
class PlannedSchedule:
    """An EvSchedule: the normalized schedule plus the plan details state is derived from."""

    schedule: DepotSchedule
    segments: tuple[PlanSegment, ...]
    """Past and upcoming segments, by start time."""
    upcoming: tuple[PlanSegment, ...]
    """The plan's ``segments`` (not yet past), by start time."""
    plan_timestamp: datetime | None
    has_plan: bool = True
    """Whether a plan came with the schedule (without one, energy is unknown, not 0)."""
    plan_window: Window | None = None
    """The window the plan says it was made for (its ``schedule.from`` and ``to``)."""
    end_soc: float | None = None
    """The state of charge the plan reaches by departure (the plan's ``endSoc``)."""
    reaches_target: bool | None = None
    """Whether the plan reaches the target (``reachedTargetSocInSchedule``)."""

    @property
    def window(self) -> Window | None:
        """When the vehicle is planned at the depot; None when the departure is unknown."""
        departure = self.schedule.planned_departure
        if departure is None:
            return None
        arrival = self.schedule.planned_arrival
        return Window(departure if arrival is None else arrival, departure)

    def covering(self, now: datetime) -> PlanSegment | None:
        """Return the segment whose span contains ``now``."""
        for segment in self.segments:
            if segment.start <= now < segment.end:
                return segment
        return None

    def soc_at(self, now: datetime) -> float | None:
        """State of charge at ``now`` from the plan (None when the plan does not say)."""
        segment = self.covering(now)
        if segment is not None:
            return segment.soc_at(now)
        ended = [s for s in self.segments if s.end <= now and s.end_soc is not None]
        if ended:
            return ended[-1].end_soc
        return self.schedule.start_soc

    def energy_until(self, now: datetime) -> float | None:
        """Energy (Wh) the plan delivers before ``now``; None without a plan."""
        if not self.has_plan:
            return None
        return sum(segment.energy() * segment.elapsed(now) for segment in self.segments)

    # [assume] A recurring schedule's plan is for the occurrence its plan.schedule.from-to
    # (else its segments) overlaps; the document does not say which occurrence it is for.
    # If wrong, the occurrence shows without a plan (state of charge from startSoC).
    def at(self, occurrence: Window) -> PlannedSchedule:
        """Return this recurring schedule at one occurrence, with the plan if made for it.

        A plan made for the occurrence also gives its exact times (ChargEye's own, which
        beat our expansion of the rule).
        """
        made_for = self.plan_window
        if made_for is None and self.segments:
            made_for = Window(
                self.segments[0].start, max(segment.end for segment in self.segments)
            )
        if self.has_plan and made_for is not None and _overlap(made_for, occurrence):
            times = self.plan_window or occurrence
            return replace(
                self,
                schedule=replace(
                    self.schedule,
                    planned_arrival=times.arrival,
                    planned_departure=times.departure,
                ),
            )
        return PlannedSchedule(
            schedule=replace(
                self.schedule,
                planned_arrival=occurrence.arrival,
                planned_departure=occurrence.departure,
                slots=(),
            ),
            segments=(),
            upcoming=(),
            plan_timestamp=None,
            has_plan=False,
        )


def parse_segment(payload: Payload) -> PlanSegment:
    """Read one plan segment; ``from`` and ``to`` (epoch ms) are its structure.

    Without them the segment cannot be placed in time, so they raise even where other
    values are read leniently.
    """
    times = Payload(payload.provider, payload.data, payload.path)
    start = times.opt_epoch_ms("from")
    end = times.opt_epoch_ms("to")
    if start is None or end is None:
        raise ProviderResponseError(
            payload.provider,
            "missing required field",
            f"{payload.path}.{'from' if start is None else 'to'}",
        )
    if end < start:
        raise ProviderResponseError(
            payload.provider, "segment ends before it starts", f"{payload.path}.to"
        )
    power_kw = payload.opt_float("powerkW")
    energy_kwh = payload.opt_float("energykWh")
    return PlanSegment(
        start=start,
        end=end,
        power_w=None if power_kw is None else power_kw * 1000,
        energy_wh=None if energy_kwh is None else energy_kwh * 1000,
        start_soc=payload.opt_float("startSoc"),
        end_soc=payload.opt_float("endSoc"),
        paused=bool(payload.opt_bool("paused")),
    )


def parse_schedule(
    payload: Payload, vehicle_id: str | None = None, *, with_plan: bool = True
) -> PlannedSchedule:
    """Read an EvSchedule (the vehicle id falls back to the one asked for).

    ``with_plan=False`` reads only the schedule itself, enough to choose among a depot's
    schedules: the plans of the two chosen are read after, the others' never.
    """
    plan = payload.opt_obj("plan") if with_plan else None
    past: list[PlanSegment] = []
    upcoming: list[PlanSegment] = []
    plan_timestamp = None
    plan_window = None
    end_soc = None
    reaches_target = None
    if plan is not None:
        past = [parse_segment(item) for item in plan.objects("pastSegments")]
        upcoming = [parse_segment(item) for item in plan.objects("segments")]
        end_soc = plan.opt_float("endSoc")
        reaches_target = plan.opt_bool("reachedTargetSocInSchedule")
    meta = payload.opt_obj("planMeta") if with_plan else None
    if meta is not None:
        plan_timestamp = meta.opt_datetime("timestamp")
    segments = sorted(past + upcoming, key=lambda s: s.start)
    if plan is not None:
        plan_window = _plan_window(plan)
    schedule = DepotSchedule(
        id=payload.req_str("id"),
        vehicle_id=payload.opt_str("evId") or vehicle_id or "",
        location_uid=payload.opt_str("locationUid"),
        planned_arrival=payload.opt_datetime("plannedArrivalTime"),
        planned_departure=payload.opt_datetime("plannedDepartureTime"),
        start_soc=payload.opt_float("startSoC"),
        target_soc=payload.opt_float("targetSoC"),
        recurrence_rule=payload.opt_str("recurrenceRule"),
        slots=tuple(s.slot() for s in segments if s.charging),
    )
    return PlannedSchedule(
        schedule=schedule,
        segments=tuple(segments),
        upcoming=tuple(sorted(upcoming, key=lambda s: s.start)),
        plan_timestamp=plan_timestamp,
        has_plan=plan is not None,
        plan_window=plan_window,
        end_soc=end_soc,
        reaches_target=reaches_target,
    )


def _plan_window(plan: Payload) -> Window | None:
    """Return the window a plan says it was made for (``schedule.from`` to ``to``).

    Only a hint (a recurring schedule's plan tells which occurrence it is for): when it is
    unreadable, the schedule is still read.
    """
    try:
        made_for = plan.opt_obj("schedule")
        if made_for is None:
            return None
        start, end = made_for.opt_epoch_ms("from"), made_for.opt_epoch_ms("to")
    except ProviderResponseError:
        return None
    if start is None or end is None or end < start:
        return None
    return Window(start, end)


def _overlap(one: Window, other: Window) -> bool:
    """Whether two windows share time (touching ends do not count)."""
    return one.arrival < other.departure and other.arrival < one.departure


def pick_upcoming(
    dated: Iterable[PlannedSchedule],
    occurrences: Iterable[PlannedSchedule],
    remembered: Iterable[PlannedSchedule],
    now: datetime,
) -> tuple[PlannedSchedule | None, PlannedSchedule | None]:
    """Pick ``(previous, currentOrNext)`` from a vehicle's schedules at ``now``.

    ``previous`` is the latest departed; ``currentOrNext`` the one whose window contains
    ``now``, else the earliest to arrive. Where windows overlap, a dated schedule (the
    materialized occurrence) wins over a recurring occurrence that carries its plan, that
    over a departed schedule remembered from an earlier refresh (the depot read lists no
    past ones), and that over a bare occurrence of the rule. Schedules without a
    departure time cannot be placed and are left out.
    """
    chosen = [(s, window) for s in dated if (window := s.window) is not None]
    planned = [o for o in occurrences if o.has_plan]
    bare = [o for o in occurrences if not o.has_plan]
    departed = [
        r for r in remembered if r.window is not None and r.window.departure < now
    ]
    for schedule in (*planned, *departed, *bare):
        window = schedule.window
        if window is not None and not any(_overlap(window, w) for _, w in chosen):
            chosen.append((schedule, window))
    previous = current = None
    previous_window = current_window = None
    for schedule, window in chosen:
        if window.departure < now:
            if previous_window is None or window.departure > previous_window.departure:
                previous, previous_window = schedule, window
        elif current_window is None or _sooner(window, current_window, now):
            current, current_window = schedule, window
    return previous, current


def _sooner(window: Window, other: Window, now: datetime) -> bool:
    """Whether ``window`` comes before ``other`` as the current-or-next one at ``now``."""
    inside, other_inside = window.arrival <= now, other.arrival <= now
    if inside != other_inside:
        return inside
    return window.arrival < other.arrival


def parse_upcoming(
    payload: Payload, vehicle_id: str | None = None
) -> tuple[PlannedSchedule | None, PlannedSchedule | None]:
    """Read ``{previous, currentOrNext}``."""
    previous = payload.opt_obj("previous")
    current = payload.opt_obj("currentOrNext")
    return (
        None if previous is None else parse_schedule(previous, vehicle_id),
        None if current is None else parse_schedule(current, vehicle_id),
    )


def target_of(schedule: PlannedSchedule | None) -> int | None:
    """Return a schedule's targetSoC as a whole percent."""
    if schedule is None or schedule.schedule.target_soc is None:
        return None
    return round(schedule.schedule.target_soc)


def plan_state(
    battery_capacity_wh: float | None,
    previous: PlannedSchedule | None,
    current: PlannedSchedule | None,
    now: datetime,
) -> VehicleState:
    """Derive what the vehicle is doing at ``now`` from its plan."""
    updated_at = next(
        (s.plan_timestamp for s in (current, previous) if s and s.plan_timestamp),
        None,
    )
    session = next(
        (s for s in (current, previous) if s and at_depot(s.schedule, now)), None
    )
    if session is None:
        return VehicleState(
            charging_status=ChargingStatus.DISCONNECTED,
            plugged_in=False,
            charging=False,
            charge_power_w=0.0,
            energy_added_wh=None if previous is None else previous.energy_until(now),
            battery_capacity_wh=battery_capacity_wh,
            updated_at=updated_at,
        )
    segment = session.covering(now)
    soc = session.soc_at(now)
    charging = segment is not None and segment.charging
    target = session.schedule.target_soc
    if charging:
        status = ChargingStatus.CHARGING
    elif soc is not None and target is not None and soc >= target:
        status = ChargingStatus.COMPLETE
    else:
        status = ChargingStatus.PLUGGED_IN
    return VehicleState(
        state_of_charge=soc,
        charging_status=status,
        plugged_in=True,
        charging=charging,
        charge_power_w=segment.power_w if charging and segment else 0.0,
        energy_added_wh=session.energy_until(now),
        battery_capacity_wh=battery_capacity_wh,
        updated_at=updated_at,
    )
