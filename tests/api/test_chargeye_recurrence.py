"""Occurrences of ChargEye's recurring schedules, and picking a vehicle's two schedules.

Pure functions (no I/O): the client tests against the simulator are in test_chargeye.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
import pytest

from custom_components.chargebridge.api.chargeye_plan import (
    PlannedSchedule,
    pick_upcoming,
)
from custom_components.chargebridge.api.chargeye_recurrence import (
    MAX_STEPS,
    Recurrence,
    RecurrenceError,
    Window,
    first_looks,
)
from custom_components.chargebridge.api.models import DepotSchedule

FIRST = datetime(2026, 9, 7, 17, 30, tzinfo=UTC)
"""A Monday evening, weeks before the moments looked at."""
STAY = timedelta(hours=13)

RULES = [
    "FREQ=DAILY",
    "RRULE:FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY;BYDAY=MO,TU",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR",
    "FREQ=MONTHLY;BYDAY=1MO,-1FR",
    "FREQ=MONTHLY;BYMONTHDAY=7",
    "FREQ=DAILY;BYHOUR=5,17;BYMINUTE=30",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=-1",
    "FREQ=DAILY;COUNT=40",
    "FREQ=DAILY;UNTIL=20261020T000000Z",
]


def walked(rule: str, now: datetime) -> tuple[Window | None, Window | None]:
    """Return what a walk from the first occurrence gives (the reference)."""
    previous = None
    for arrival in rrulestr(rule, dtstart=FIRST):
        window = Window(arrival, arrival + STAY)
        if window.departure >= now:
            return previous, window
        previous = window
    return previous, None


@pytest.mark.parametrize("rule", RULES)
def test_resuming_gives_what_a_walk_from_the_first_gives(rule: str) -> None:
    """Look-ups resume at the last departed occurrence; the answers do not change."""
    recurrence = Recurrence(rule, FIRST, FIRST + STAY, UTC)
    now = FIRST
    while now < FIRST + timedelta(days=120):
        assert recurrence.around(now) == walked(rule, now), now
        now += timedelta(hours=7, minutes=13)


def test_current_contains_now_else_is_next() -> None:
    """Inside an occurrence (ends included) it is current; between, the next one."""
    recurrence = Recurrence("FREQ=DAILY", FIRST, FIRST + STAY, UTC)
    day = timedelta(days=30)
    for now, previous, current in (
        (FIRST + day, FIRST + day - timedelta(days=1), FIRST + day),
        (FIRST + day + STAY, FIRST + day - timedelta(days=1), FIRST + day),
        (
            FIRST + day + STAY + timedelta(seconds=1),
            FIRST + day,
            FIRST + day + timedelta(days=1),
        ),
    ):
        assert recurrence.around(now) == (
            Window(previous, previous + STAY),
            Window(current, current + STAY),
        )


def test_before_the_first_and_after_the_last() -> None:
    """Before the first: nothing departed yet; after the last: nothing to come."""
    recurrence = Recurrence("FREQ=DAILY;COUNT=2", FIRST, FIRST + STAY, UTC)
    assert recurrence.around(FIRST - timedelta(days=3)) == (
        None,
        Window(FIRST, FIRST + STAY),
    )
    second = FIRST + timedelta(days=1)
    assert recurrence.around(FIRST + timedelta(days=5)) == (
        Window(second, second + STAY),
        None,
    )


def test_expanded_in_the_zone_given() -> None:
    """A daily rule keeps the wall-clock time of the zone it is expanded in."""
    amsterdam = ZoneInfo("Europe/Amsterdam")
    first = datetime(2026, 10, 20, 18, 0, tzinfo=amsterdam)
    after_dst = datetime(2026, 10, 27, 12, 0, tzinfo=UTC)
    in_utc = Recurrence("FREQ=DAILY", first, first + STAY, UTC)
    local = Recurrence("FREQ=DAILY", first, first + STAY, amsterdam)
    _, utc_next = in_utc.around(after_dst)
    _, local_next = local.around(after_dst)
    assert utc_next is not None
    assert local_next is not None
    assert utc_next.arrival == datetime(2026, 10, 27, 16, 0, tzinfo=UTC)
    assert local_next.arrival == datetime(2026, 10, 27, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=FORTNIGHTLY",
        "BYDAY=MO",
        "FREQ=DAILY;INTERVAL=x",
        "FREQ=DAILY;UNTIL=20261020T000000",  # a floating UNTIL with an aware start
        "",
        "not a rule at all",
        "RRULE:FREQ=DAILY\nEXDATE:20261001T173000Z",  # a set, not one rule
    ],
)
def test_unreadable_rules(rule: str) -> None:
    """A rule dateutil cannot read is a RecurrenceError when it is read."""
    with pytest.raises(RecurrenceError):
        Recurrence(rule, FIRST, FIRST + STAY, UTC).around(FIRST)


class NotWalkedAgain:
    """A rule that fails the test if it is walked."""

    def __iter__(self) -> Iterator[datetime]:
        """Fail: the rule must not be walked."""
        raise AssertionError("walked again")


def test_a_rule_that_never_matches_is_walked_once() -> None:
    """February 30th makes dateutil search to the year 9999: once, not every refresh."""
    recurrence = Recurrence(
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", FIRST, FIRST + STAY, UTC
    )
    assert recurrence.around(FIRST) == (None, None)
    recurrence._rule = NotWalkedAgain()
    assert recurrence.around(FIRST + timedelta(days=1)) == (None, None)


def test_an_ended_rule_is_not_walked_again() -> None:
    """After its last occurrence, a look-up answers without walking."""
    recurrence = Recurrence("FREQ=DAILY;COUNT=3", FIRST, FIRST + STAY, UTC)
    last = FIRST + timedelta(days=2)
    assert recurrence.around(FIRST + timedelta(days=9)) == (
        Window(last, last + STAY),
        None,
    )
    recurrence._rule = NotWalkedAgain()
    assert recurrence.around(FIRST + timedelta(days=10)) == (
        Window(last, last + STAY),
        None,
    )


def test_first_looks() -> None:
    """Each rule read and walked once to now; an unreadable one is its error."""
    now = FIRST + timedelta(days=3)
    looked = first_looks(
        {
            "good": ("FREQ=DAILY", Window(FIRST, FIRST + STAY)),
            "bad": ("FREQ=NEVER", Window(FIRST, FIRST + STAY)),
        },
        UTC,
        now,
    )
    assert isinstance(looked["bad"], RecurrenceError)
    good = looked["good"]
    assert isinstance(good, Recurrence)
    assert good.around(now) == walked("FREQ=DAILY", now)


def test_departing_before_arriving() -> None:
    """A first occurrence that departs before it arrives cannot be repeated."""
    with pytest.raises(RecurrenceError):
        Recurrence("FREQ=DAILY", FIRST, FIRST - STAY, UTC)


def test_too_many_occurrences_to_walk() -> None:
    """A rule needing more than MAX_STEPS occurrences to reach now is refused."""
    recurrence = Recurrence("FREQ=MINUTELY", FIRST, FIRST + timedelta(seconds=30), UTC)
    with pytest.raises(RecurrenceError):
        recurrence.around(FIRST + timedelta(minutes=MAX_STEPS + 10))


def planned(
    schedule_id: str,
    arrival: datetime,
    departure: datetime,
    *,
    has_plan: bool = True,
) -> PlannedSchedule:
    """Return a schedule with an empty plan (or none), for picking."""
    return PlannedSchedule(
        schedule=DepotSchedule(
            id=schedule_id,
            vehicle_id="v",
            planned_arrival=arrival,
            planned_departure=departure,
        ),
        segments=(),
        upcoming=(),
        plan_timestamp=None,
        has_plan=has_plan,
    )


NOW = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
TONIGHT = (NOW - timedelta(hours=8), NOW + timedelta(hours=4))
LAST_NIGHT = (NOW - timedelta(hours=32), NOW - timedelta(hours=20))
TOMORROW = (NOW + timedelta(hours=16), NOW + timedelta(hours=28))


def test_pick_dated_wins_over_occurrences() -> None:
    """Where a dated schedule and an occurrence overlap, the dated one is picked."""
    dated = planned("dated", *TONIGHT)
    occurrence = planned("series", TONIGHT[0], TONIGHT[1] + timedelta(minutes=5))
    bare_previous = planned("series", *LAST_NIGHT, has_plan=False)
    assert pick_upcoming([dated], [occurrence, bare_previous], [], NOW) == (
        bare_previous,
        dated,
    )


def test_pick_remembered_wins_over_a_bare_occurrence() -> None:
    """The last session seen before it departed beats the rule's plan-less occurrence."""
    remembered = planned("seen", *LAST_NIGHT)
    bare = planned("series", *LAST_NIGHT, has_plan=False)
    with_plan = planned("series", *TOMORROW)
    assert pick_upcoming([], [bare, with_plan], [remembered], NOW) == (
        remembered,
        with_plan,
    )


def test_pick_ignores_remembered_schedules_not_departed() -> None:
    """A remembered schedule that has not departed is no longer listed: it was deleted."""
    remembered = planned("deleted", *TONIGHT)
    assert pick_upcoming([], [], [remembered], NOW) == (None, None)


def test_pick_prefers_the_window_containing_now() -> None:
    """Current is the window containing now, else the earliest to arrive."""
    tonight, tomorrow = planned("a", *TONIGHT), planned("b", *TOMORROW)
    assert pick_upcoming([tomorrow, tonight], [], [], NOW) == (None, tonight)
    assert pick_upcoming([tomorrow], [], [], NOW) == (None, tomorrow)
    assert pick_upcoming([tomorrow, tonight], [], [], TONIGHT[1]) == (None, tonight)
    later = TONIGHT[1] + timedelta(seconds=1)
    assert pick_upcoming([tomorrow, tonight], [], [], later) == (tonight, tomorrow)


def test_pick_leaves_out_schedules_without_departure() -> None:
    """A schedule without a departure time cannot be placed in time."""
    unplaced = PlannedSchedule(
        schedule=DepotSchedule(id="x", vehicle_id="v", planned_arrival=NOW),
        segments=(),
        upcoming=(),
        plan_timestamp=None,
    )
    assert pick_upcoming([unplaced], [], [], NOW) == (None, None)
