"""Each car's own pace (``cadence``): the rhythm it learns and when it reads a car.

Pure functions and one state class: no Home Assistant, no simulator. The end-to-end
behaviour (what the provider received, with time travel) is in ``test_cadence_e2e.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.chargebridge.api import (
    Capabilities,
    ChargingSlot,
    ChargingStatus,
    Fleet,
    FleetRead,
    Schedule,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
)
from custom_components.chargebridge.api.errors import ProviderResponseError
from custom_components.chargebridge.cadence import (
    DETAILS_READ_INTERVAL,
    IDLE_READ_INTERVAL,
    LIST_READ_INTERVAL,
    PLAN_LEAD,
    PUBLISH_MARGIN,
    FleetCadence,
    Rhythm,
    align_to,
    car_due,
    next_boundary,
    slot_read,
)

T0 = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)
SCAN = timedelta(minutes=5)
MINIMUM = timedelta(minutes=1)
NOTHING = Capabilities(features=frozenset())
LATER = T0 + timedelta(days=1)
"""When the test's reads happen: after every update they see."""


def car(
    status: ChargingStatus,
    *,
    updated_at: datetime | None = None,
    slots: tuple[tuple[datetime, datetime], ...] = (),
    vehicle_id: str = "car",
) -> VehicleSnapshot:
    """Return a car in ``status``, last heard from at ``updated_at``, with a plan."""
    plugged = status in {ChargingStatus.CHARGING, ChargingStatus.PLUGGED_IN}
    return VehicleSnapshot(
        vehicle=Vehicle(id=vehicle_id, name=vehicle_id, capabilities=NOTHING),
        state=VehicleState(
            charging_status=status,
            plugged_in=plugged,
            charging=status == ChargingStatus.CHARGING,
            updated_at=updated_at,
        ),
        schedule=Schedule(
            slots=tuple(ChargingSlot(start=start, end=end) for start, end in slots)
        )
        if slots
        else None,
    )


def see(rhythm: Rhythm, updates: list[datetime], *, watched: bool = True) -> None:
    """Read each update just after it; ``watched``: again past halfway to the next.

    The second read still shows the update the newest, which tells the interval is one
    period; reads only just after each update (slow reads) tell nothing of it.
    """
    for update, following in zip(updates, [*updates[1:], None], strict=True):
        rhythm.observe(update, update + timedelta(seconds=5))
        if watched and following is not None:
            rhythm.observe(update, update + (following - update) * 0.6)


def learned(period: timedelta, updates: int = 4, *, jitter_s: float = 0) -> Rhythm:
    """Return a rhythm that watched ``updates`` updates ``period`` apart, every other late."""
    rhythm = Rhythm()
    see(
        rhythm,
        [
            T0 + period * index + timedelta(seconds=jitter_s if index % 2 else 0)
            for index in range(updates)
        ],
    )
    return rhythm


def test_rhythm_is_learned_after_four_updates() -> None:
    """Three intervals make a rhythm; before that, none."""
    assert learned(timedelta(minutes=3), updates=3).period is None
    assert learned(timedelta(minutes=3)).period == timedelta(minutes=3)


def test_rhythm_ignores_repeated_and_older_times() -> None:
    """Reading between two updates shows the same time again: nothing new to learn."""
    rhythm = learned(timedelta(minutes=3))
    assert not rhythm.observe(rhythm.last_update, LATER)
    assert not rhythm.observe(T0, LATER)
    assert not rhythm.observe(None, LATER)
    # The provider's answer time, not the car's: nothing to learn either.
    assert not rhythm.observe(LATER, LATER)
    assert rhythm.period == timedelta(minutes=3)


def test_rhythm_counts_missed_updates() -> None:
    """A slow read that saw one update in two still learns the cloud's period."""
    rhythm = Rhythm()
    see(rhythm, [T0, T0 + timedelta(minutes=10)], watched=False)
    see(rhythm, [T0 + timedelta(minutes=minutes) for minutes in (20, 25, 30)])
    assert rhythm.period == timedelta(minutes=5)


def test_reads_slower_than_the_cloud_teach_no_rhythm() -> None:
    """Half-hourly reads of a car updated every 3 minutes: no 30-minute rhythm.

    The updates seen are 30 minutes apart because the reads are: nothing shows that
    the cloud's own period is that long.
    """
    rhythm = Rhythm()
    see(
        rhythm,
        [
            T0 + timedelta(minutes=30 * index, seconds=drift)
            for index, drift in enumerate((0, -40, 20, -70, 10, -30))
        ],
        watched=False,
    )
    assert rhythm.period is None


def test_reads_at_the_user_interval_teach_the_rhythm() -> None:
    """Read every 5 minutes, each just after a 5-minute update: that rhythm is learned."""
    rhythm = Rhythm()
    for index in range(4):
        update = T0 + timedelta(minutes=5 * index, seconds=10 * (index % 2))
        read = T0 + timedelta(minutes=5 * index, seconds=70)
        rhythm.observe(update, read, user_interval=SCAN)
    assert rhythm.period is not None
    assert abs(rhythm.period - SCAN) <= timedelta(seconds=10)


def test_learned_period_survives_slow_reads() -> None:
    """Read half-hourly while parked, a car still has the 5-minute rhythm it had."""
    rhythm = learned(timedelta(minutes=5))
    start = T0 + timedelta(minutes=15)
    slow = [
        start + timedelta(minutes=30 * (index + 1), seconds=drift)
        for index, drift in enumerate((20, -15, 25, 0, -20, 10))
    ]
    see(rhythm, slow, watched=False)
    assert rhythm.period is not None
    assert abs(rhythm.period - timedelta(minutes=5)) <= timedelta(seconds=10)
    # Without the period learned before, the same slow reads show no 5-minute rhythm.
    fresh = Rhythm()
    see(fresh, list(rhythm.updates), watched=False)
    assert fresh.period != rhythm.period


def test_irregular_updates_have_no_rhythm() -> None:
    """Updates that stray more than a quarter of the period: no rhythm, fixed reads."""
    rhythm = Rhythm()
    see(rhythm, [T0 + timedelta(minutes=minutes) for minutes in (0, 4, 13, 15, 25)])
    assert rhythm.period is None
    assert rhythm.jitter == timedelta(0)


def test_jitter_is_how_far_updates_strayed() -> None:
    """Every other update 30 s late: the period stays near 10 minutes, jitter ~30 s."""
    rhythm = learned(timedelta(minutes=10), updates=6, jitter_s=30)
    assert rhythm.period is not None
    assert abs(rhythm.period - timedelta(minutes=10)) <= timedelta(seconds=10)
    assert timedelta(seconds=25) <= rhythm.jitter <= timedelta(seconds=40)


def test_charging_car_is_read_just_after_its_next_update() -> None:
    """Known rhythm: the next read comes the margin after the expected update."""
    rhythm = learned(timedelta(minutes=3))
    last = rhythm.last_update
    assert last is not None
    now = last + timedelta(seconds=20)
    due, reason = car_due(
        car(ChargingStatus.CHARGING, updated_at=last),
        rhythm,
        now=now,
        scan_interval=SCAN,
        minimum=MINIMUM,
    )
    assert reason == "rhythm"
    assert due == last + timedelta(minutes=3) + PUBLISH_MARGIN


def test_charging_car_without_rhythm_is_read_at_the_scan_interval() -> None:
    """Unknown rhythm: the user's interval, as before."""
    due, reason = car_due(
        car(ChargingStatus.CHARGING, updated_at=T0),
        Rhythm(),
        now=T0,
        scan_interval=SCAN,
        minimum=MINIMUM,
    )
    assert (due, reason) == (T0 + SCAN, "fixed")


def test_slow_cloud_is_read_twice_per_update_never_slower_than_scan() -> None:
    """A 10-minute cloud with a 5-minute option: one read in between, one just after."""
    rhythm = learned(timedelta(minutes=10))
    last = rhythm.last_update
    assert last is not None
    now = last + PUBLISH_MARGIN
    snapshot = car(ChargingStatus.CHARGING, updated_at=last)
    first, _ = car_due(snapshot, rhythm, now=now, scan_interval=SCAN, minimum=MINIMUM)
    assert first - now <= SCAN
    second, _ = car_due(
        snapshot, rhythm, now=first, scan_interval=SCAN, minimum=MINIMUM
    )
    assert second == last + timedelta(minutes=10) + PUBLISH_MARGIN
    assert second - first <= SCAN


def test_late_update_is_looked_for_again_soon() -> None:
    """No new update where one was expected: look again after the provider's minimum."""
    rhythm = learned(timedelta(minutes=3))
    last = rhythm.last_update
    assert last is not None
    now = last + timedelta(minutes=3) + PUBLISH_MARGIN + timedelta(seconds=1)
    due, reason = car_due(
        car(ChargingStatus.CHARGING, updated_at=last),
        rhythm,
        now=now,
        scan_interval=SCAN,
        minimum=MINIMUM,
    )
    assert (due, reason) == (now + MINIMUM, "late")


def test_unplugged_car_is_read_every_half_hour() -> None:
    """Parked and unplugged: 30 minutes, or the user's interval when that is slower."""
    snapshot = car(ChargingStatus.DISCONNECTED, updated_at=T0)
    due, reason = car_due(
        snapshot, learned(SCAN), now=T0, scan_interval=SCAN, minimum=MINIMUM
    )
    assert (due, reason) == (T0 + IDLE_READ_INTERVAL, "unplugged")
    slow = timedelta(hours=1)
    due, _ = car_due(snapshot, Rhythm(), now=T0, scan_interval=slow, minimum=MINIMUM)
    assert due == T0 + slow


def test_waiting_car_is_read_shortly_before_its_plan_starts() -> None:
    """Plugged in, plan at 23:00: read at 22:59 (but at least every 30 minutes)."""
    start = T0 + timedelta(hours=3)
    late = car(
        ChargingStatus.PLUGGED_IN, updated_at=T0, slots=((start, start + SCAN * 12),)
    )
    due, reason = car_due(late, Rhythm(), now=T0, scan_interval=SCAN, minimum=MINIMUM)
    assert (due, reason) == (T0 + IDLE_READ_INTERVAL, "waiting")
    soon = T0 + timedelta(minutes=10)
    waiting = car(
        ChargingStatus.PLUGGED_IN, updated_at=T0, slots=((soon, soon + SCAN),)
    )
    due, _ = car_due(waiting, Rhythm(), now=T0, scan_interval=SCAN, minimum=MINIMUM)
    assert due == soon - PLAN_LEAD


def test_car_inside_its_planned_period_follows_its_rhythm() -> None:
    """The plan says it charges now, though the last read said waiting: read it closely."""
    rhythm = learned(timedelta(minutes=3))
    last = rhythm.last_update
    assert last is not None
    snapshot = car(
        ChargingStatus.PLUGGED_IN,
        updated_at=last,
        slots=((last - SCAN, last + timedelta(hours=1)),),
    )
    _, reason = car_due(snapshot, rhythm, now=last, scan_interval=SCAN, minimum=MINIMUM)
    assert reason == "rhythm"


def test_car_whose_plan_began_is_watched_until_it_shows_the_charge() -> None:
    """Rhythm unknown: each minimum interval in the period's first scan interval only."""
    start = T0 - timedelta(seconds=30)
    snapshot = car(
        ChargingStatus.PLUGGED_IN,
        updated_at=start - timedelta(minutes=2),
        slots=((start, start + timedelta(hours=1)),),
    )
    due, reason = car_due(
        snapshot, Rhythm(), now=T0, scan_interval=SCAN, minimum=MINIMUM
    )
    assert (due, reason) == (T0 + MINIMUM, "starting")
    later = start + SCAN
    due, reason = car_due(
        snapshot, Rhythm(), now=later, scan_interval=SCAN, minimum=MINIMUM
    )
    assert (due, reason) == (later + SCAN, "fixed")
    charging = car(
        ChargingStatus.CHARGING,
        updated_at=T0,
        slots=((start, start + timedelta(hours=1)),),
    )
    due, reason = car_due(
        charging, Rhythm(), now=T0, scan_interval=SCAN, minimum=MINIMUM
    )
    assert (due, reason) == (T0 + SCAN, "fixed")


def test_car_whose_read_failed_is_read_at_the_scan_interval() -> None:
    """A failed read: no rhythm, no idling."""
    snapshot = VehicleSnapshot(
        vehicle=Vehicle(id="car", name="car", capabilities=NOTHING),
        error=ProviderResponseError("hiven", "broken", "status"),
    )
    due, reason = car_due(
        snapshot, learned(SCAN), now=T0, scan_interval=SCAN, minimum=MINIMUM
    )
    assert (due, reason) == (T0 + SCAN, "fixed")


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        (timedelta(minutes=4), timedelta(minutes=4)),
        (timedelta(minutes=10), timedelta(minutes=5)),
        (timedelta(minutes=11), timedelta(minutes=1)),
    ],
)
def test_align_to_keeps_the_due_read_on_its_moment(
    wait: timedelta, expected: timedelta
) -> None:
    """Reads in between fall whole intervals before the due one."""
    assert align_to(T0 + wait, T0, SCAN, timedelta(0)) == T0 + expected


def test_align_to_stretches_one_gap_rather_than_read_again() -> None:
    """Ten minutes and a few seconds to the update, five-minute option: one read between."""
    due = T0 + timedelta(minutes=10, seconds=5)
    middle = align_to(due, T0, SCAN, timedelta(seconds=30))
    assert middle == due - SCAN
    assert align_to(due, middle, SCAN, timedelta(seconds=30)) == due


def test_plan_car_is_read_at_its_boundaries() -> None:
    """A car whose state is its plan: just after its period starts, and ends."""
    start = T0 + timedelta(minutes=2)
    snapshot = car(ChargingStatus.PLUGGED_IN, slots=((start, start + SCAN * 6),))
    assert next_boundary(snapshot, T0) == start
    inside = start + timedelta(minutes=28)
    assert next_boundary(snapshot, inside) == start + SCAN * 6
    assert next_boundary(car(ChargingStatus.DISCONNECTED), T0) is None


def test_slot_read_moves_the_fixed_read_to_a_boundary_instead_of_adding_one() -> None:
    """One read per fixed slot: at its end, or at its first boundary; a passed one at once."""
    slot_end = T0 + SCAN
    assert slot_read([], now=T0, slot_end=slot_end, interval=SCAN) == (slot_end, False)
    boundary = T0 + timedelta(minutes=2)
    assert slot_read([boundary], now=T0, slot_end=slot_end, interval=SCAN) == (
        boundary + PUBLISH_MARGIN,
        True,
    )
    # A boundary after this slot waits for its own slot: this one ends as usual.
    late = T0 + timedelta(minutes=7)
    assert slot_read([late], now=T0, slot_end=slot_end, interval=SCAN) == (
        slot_end,
        False,
    )
    # A boundary the last read came too early for is read as the next slot opens.
    assert slot_read(
        [T0 + timedelta(minutes=3)],
        now=T0 + timedelta(minutes=2),
        slot_end=T0 + SCAN * 2,
        interval=SCAN,
    ) == (T0 + SCAN, True)


def test_plan_account_reads_no_more_often_than_the_fixed_clock() -> None:
    """Boundaries every 2 minutes for an hour: still one read per 5-minute slot."""
    cadence = FleetCadence(per_vehicle=False, telemetry=False)
    slots = tuple(
        (T0 + timedelta(minutes=m), T0 + timedelta(minutes=m + 1))
        for m in range(1, 60, 2)
    )
    fleet = Fleet(vehicles={"bus": car(ChargingStatus.PLUGGED_IN, slots=slots)})
    now, reads, at_boundary = T0, 0, 0
    while now < T0 + timedelta(hours=1):
        assert cadence.read_for(now) == FleetRead()
        cadence.observe(
            fleet, FleetRead(), now=now, scan_interval=SCAN, minimum=MINIMUM, fixed=SCAN
        )
        reads += 1
        at_boundary += cadence.cars["bus"].reason == "plan_boundary"
        due = cadence.next_due()
        assert due is not None and due > now
        now = due
    assert reads <= 12 + 1
    assert at_boundary >= 10


def test_fleet_cadence_reads_only_due_cars_and_the_list_half_hourly() -> None:
    """Per-vehicle provider: each refresh reads the cars due; the list every 30 minutes."""
    cadence = FleetCadence(per_vehicle=True)
    assert cadence.read_for(T0) == FleetRead()
    fleet = Fleet(
        vehicles={
            "parked": car(ChargingStatus.DISCONNECTED, vehicle_id="parked"),
            "charging": car(ChargingStatus.CHARGING, vehicle_id="charging"),
        }
    )
    cadence.observe(
        fleet, FleetRead(), now=T0, scan_interval=SCAN, minimum=MINIMUM, fixed=SCAN
    )
    assert cadence.next_due() == T0 + SCAN
    read = cadence.read_for(T0 + SCAN)
    assert read == FleetRead(account_list=False, vehicles=frozenset({"charging"}))
    cadence.observe(
        fleet, read, now=T0 + SCAN, scan_interval=SCAN, minimum=MINIMUM, fixed=SCAN
    )
    assert cadence.cars["parked"].last_read == T0
    half_hour = cadence.read_for(T0 + LIST_READ_INTERVAL)
    assert half_hour.account_list
    assert half_hour.vehicles == frozenset({"parked", "charging"})


def test_list_account_rereads_each_cars_details_hourly() -> None:
    """One request reads every car: a plugged-in car's details are due for their age."""
    cadence = FleetCadence(per_vehicle=False)
    fleet = Fleet(
        vehicles={
            "parked": car(ChargingStatus.DISCONNECTED, vehicle_id="parked"),
            "charging": car(ChargingStatus.CHARGING, vehicle_id="charging"),
        }
    )
    cadence.observe(
        fleet, FleetRead(), now=T0, scan_interval=SCAN, minimum=MINIMUM, fixed=SCAN
    )
    read = cadence.read_for(T0 + SCAN)
    # The list only: no car's details are due, nor the account's notices (half-hourly).
    assert read == FleetRead(vehicles=frozenset(), notices=False)
    assert cadence.read_for(T0 + LIST_READ_INTERVAL).notices
    cadence.observe(
        fleet, read, now=T0 + SCAN, scan_interval=SCAN, minimum=MINIMUM, fixed=SCAN
    )
    # The list read every car's state: the parked car counts as read too.
    assert cadence.cars["parked"].last_read == T0 + SCAN
    # Later, the plugged-in car's details are due; the parked car's wait for its plug.
    assert cadence.read_for(T0 + DETAILS_READ_INTERVAL) == FleetRead(
        vehicles=frozenset({"charging"})
    )


def test_fleet_cadence_reads_a_written_car_soon() -> None:
    """After a write the car is due after the provider's minimum."""
    cadence = FleetCadence(per_vehicle=True)
    fleet = Fleet(vehicles={"parked": car(ChargingStatus.DISCONNECTED)})
    cadence.observe(
        fleet, FleetRead(), now=T0, scan_interval=SCAN, minimum=MINIMUM, fixed=SCAN
    )
    cadence.written("car", T0, MINIMUM)
    assert cadence.next_due() == T0 + MINIMUM
    assert "car" in (cadence.read_for(T0 + MINIMUM).vehicles or ())


def test_fleet_cadence_forgets_gone_cars_and_shows_diagnostics() -> None:
    """A car no longer listed is forgotten; diagnostics show each car's pace."""
    cadence = FleetCadence(per_vehicle=False)
    heard = T0 - timedelta(minutes=1)
    fleet = Fleet(vehicles={"car": car(ChargingStatus.CHARGING, updated_at=heard)})
    cadence.observe(
        fleet, FleetRead(), now=T0, scan_interval=SCAN, minimum=MINIMUM, fixed=SCAN
    )
    diagnostics = cadence.as_diagnostics()
    assert diagnostics["vehicles"] == {
        "car": {
            "reason": "fixed",
            "last_read": T0.isoformat(),
            "next_read": (T0 + SCAN).isoformat(),
            "cloud_period_s": None,
            "cloud_jitter_s": 0.0,
            "last_cloud_update": heard.isoformat(),
        }
    }
    cadence.observe(
        Fleet(vehicles={}),
        FleetRead(),
        now=T0 + SCAN,
        scan_interval=SCAN,
        minimum=MINIMUM,
        fixed=SCAN,
    )
    assert cadence.cars == {}
    assert cadence.read_for(T0 + SCAN + LIST_READ_INTERVAL) == FleetRead()
