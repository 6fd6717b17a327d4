"""Occurrences of ChargEye's recurring schedules (RFC 5545 RRULE), with no I/O.

A recurring EvSchedule states its first occurrence (``plannedArrivalTime`` to
``plannedDepartureTime``) and a ``recurrenceRule``. Each occurrence arrives when the rule
says, counted from the first arrival, and stays as long as the first one did. A fleet
refresh needs only two occurrences per schedule: the latest that departed and the current
(or next) one.

dateutil walks a rule from its start, and a rule that can never match (February 31st)
makes it search to the year 9999: seconds of CPU. So a ``Recurrence`` remembers where it
is: each look-up resumes at the latest departed occurrence, and a rule found exhausted is
never walked again. Only the first look-up of a rule can be slow; the client runs those
off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
import re
from typing import Any

from dateutil.rrule import rrule, rrulestr  # type: ignore[import-untyped]

MAX_STEPS = 10_000
"""Occurrences walked at most per look-up: a rule that needs more (a minutely rule running
for weeks) is refused rather than let one schedule stall the refresh."""

_COUNT = re.compile(r"(?:^|[;:])COUNT=(\d+)", re.IGNORECASE)


class RecurrenceError(ValueError):
    """The rule cannot be expanded (unreadable, or too many occurrences to walk)."""


@dataclass(frozen=True, slots=True)
class Window:
    """One occurrence: when the vehicle is planned at the depot."""

    arrival: datetime
    departure: datetime


class Recurrence:
    """A recurring schedule's occurrences, remembered between look-ups.

    A look-up resumes at the latest occurrence known to have departed (with what is left
    of ``COUNT``): from an occurrence the rule yields exactly the occurrences a walk from
    the first one would, since every BYxxx default it takes from its start is shared by
    all its occurrences.
    """

    __slots__ = ("_count", "_duration", "_ended", "_rule", "_skipped")

    def __init__(
        self,
        text: str,
        first_arrival: datetime,
        first_departure: datetime,
        zone: tzinfo,
    ) -> None:
        """Read ``text`` (``FREQ=…`` or ``RRULE:FREQ=…``); RecurrenceError if unreadable.

        Occurrences are expanded in ``zone``: a daily rule repeats the first arrival's
        wall-clock time there.
        """
        duration = first_departure - first_arrival
        if duration < timedelta(0):
            raise RecurrenceError("the first occurrence departs before it arrives")
        try:
            parsed = rrulestr(text.strip(), dtstart=first_arrival.astimezone(zone))
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as err:
            raise RecurrenceError(f"unreadable rule ({type(err).__name__})") from None
        if not isinstance(parsed, rrule):
            raise RecurrenceError("not a single RRULE")
        count = _COUNT.search(text)
        self._rule: Any = parsed
        self._count = None if count is None else int(count.group(1))
        self._skipped = 0
        """Occurrences before the one the rule now starts at (what COUNT has used up)."""
        self._duration = duration
        self._ended: tuple[datetime, Window | None] | None = None
        """When the rule was found exhausted, and its last occurrence."""

    def around(self, now: datetime) -> tuple[Window | None, Window | None]:
        """Return the latest occurrence departed before ``now`` and the current-or-next one.

        The current occurrence is the earliest whose departure is not before ``now`` (it
        contains ``now``, or it is the next to arrive).
        """
        if self._ended is not None and now >= self._ended[0]:
            return self._ended[1], None
        arrivals: Iterator[datetime] = iter(self._rule)
        previous: Window | None = None
        passed = 0
        try:
            for arrival in arrivals:
                window = Window(arrival, arrival + self._duration)
                if window.departure >= now:
                    self._resume(previous, passed)
                    return previous, window
                previous = window
                passed += 1
                if passed > MAX_STEPS:
                    break
            else:
                self._ended = (now, previous)
                return previous, None
        except (ValueError, OverflowError) as err:
            raise RecurrenceError(f"unexpandable rule ({type(err).__name__})") from None
        raise RecurrenceError(f"more than {MAX_STEPS} occurrences before now")

    def _resume(self, previous: Window | None, passed: int) -> None:
        """Start the next look-up at the latest departed occurrence."""
        if previous is None or passed < 2:
            return
        self._skipped += passed - 1
        if self._count is None:
            self._rule = self._rule.replace(dtstart=previous.arrival)
        else:
            self._rule = self._rule.replace(
                dtstart=previous.arrival, count=self._count - self._skipped
            )


def first_looks[K](
    rules: Mapping[K, tuple[str, Window]], zone: tzinfo, now: datetime
) -> dict[K, Recurrence | RecurrenceError]:
    """Read each rule and make its first look-up at ``now`` (the one that may be slow).

    Meant to run off the event loop; later look-ups resume where this one stopped.
    """
    result: dict[K, Recurrence | RecurrenceError] = {}
    for key, (text, first) in rules.items():
        try:
            recurrence = Recurrence(text, first.arrival, first.departure, zone)
            recurrence.around(now)
        except RecurrenceError as err:
            result[key] = err
        else:
            result[key] = recurrence
    return result
