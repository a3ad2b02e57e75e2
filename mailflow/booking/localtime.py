"""Local wall-clock times read in a time zone, refusing the ones daylight saving makes wrong.

A time given without an offset (``2027-03-28T02:30``) is a wall-clock reading in
some zone. Twice a year that reading is not one instant: in the spring gap it
names no instant at all (in Berlin the clocks go from 02:00 straight to 03:00),
in the autumn overlap it names two (02:30 summer time, then 02:30 winter time
an hour later). ``resolve_local`` turns a reading into one UTC instant or
refuses it with ``LocalTimeInvalid``, naming what to give instead; it never
guesses, because a guess books a time the customer did not ask for.

Everything after that counts in absolute time: a 30-minute service ends 30
minutes after its start, a 24-hour reminder comes 24 hours ahead, whatever the
clocks do in between (``to_utc`` before any arithmetic).

Pure: the standard library and ``mailflow.errors`` only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mailflow.errors import N_, InvalidInput

__all__ = ["AMBIGUOUS", "NONEXISTENT", "LocalTimeInvalid", "is_real_local_time", "resolve_local", "to_utc"]

NONEXISTENT = "nonexistent"
AMBIGUOUS = "ambiguous"


class LocalTimeInvalid(InvalidInput):
    """A wall-clock time that is not exactly one instant in its zone.

    ``problem`` is ``nonexistent`` (skipped when the clocks go forward) or
    ``ambiguous`` (repeated when they go back); ``choices`` are the instants a
    reader may have meant, as aware datetimes in the zone: for an ambiguous time
    both readings (earlier first), for a nonexistent one the same instant read
    after the change (02:30 in the Berlin gap is 03:30 summer time).
    """

    def __init__(
        self, problem: str, given: datetime, zone: str, choices: tuple[datetime, ...], *, field: str | None
    ) -> None:
        wall = given.replace(tzinfo=None).isoformat(timespec="minutes")
        if problem == NONEXISTENT:
            message = N_(
                "{wall} does not exist in {zone}: the clocks go forward that night and skip it "
                "(that moment is called {after} after the change); choose another time"
            )
            values = {"after": choices[0].strftime("%H:%M")}
        else:
            message = N_(
                "{wall} happens twice in {zone}: the clocks go back that night; give the offset, "
                "{first} (the first time) or {second} (the second time)"
            )
            first, second = (choice.isoformat(timespec="minutes") for choice in choices)
            values = {"first": first, "second": second}
        super().__init__(message, field=field, wall=wall, zone=zone, **values)
        self.problem = problem
        self.given = given
        self.zone = zone
        self.choices = choices


def _readings(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``wall`` read with ``fold=0`` and ``fold=1``: the same instant unless a transition is near."""
    naive = wall.replace(tzinfo=None)
    return naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)


def _exists(reading: datetime, zone: ZoneInfo) -> bool:
    """Whether ``reading`` survives the round trip through UTC (a time in a gap does not)."""
    back = reading.astimezone(UTC).astimezone(zone)
    return back.replace(tzinfo=None, fold=0) == reading.replace(tzinfo=None, fold=0)


def is_real_local_time(wall: datetime, zone: str) -> bool:
    """Whether naive ``wall`` is exactly one instant in ``zone`` (neither in a gap nor repeated)."""
    first, second = _readings(wall, ZoneInfo(zone))
    return first.utcoffset() == second.utcoffset()


def resolve_local(value: datetime, zone: str, *, field: str | None = "start") -> datetime:
    """``value`` as an aware instant; a naive ``value`` is a wall-clock time in ``zone``.

    An aware ``value`` (it has an offset) is returned as it is. A naive one must name
    exactly one instant in ``zone`` and comes back aware in ``zone``; convert it with
    ``to_utc`` before adding durations (not here: a date near the ends of ``datetime``'s
    range may not survive the conversion, and the caller checks the range first).

    Raises:
        LocalTimeInvalid: (an ``InvalidInput``, so exit code 2 and a 422 at ``field``) when the
            wall time falls in a spring-forward gap (``problem == "nonexistent"``) or in an
            autumn overlap (``problem == "ambiguous"``, both offsets named in the message).
        zoneinfo.ZoneInfoNotFoundError: an unknown zone name.

    Example:
        >>> resolve_local(datetime(2027, 3, 28, 1, 30), "Europe/Berlin").isoformat()
        '2027-03-28T01:30:00+01:00'
        >>> resolve_local(datetime(2027, 3, 28, 2, 30), "Europe/Berlin")
        Traceback (most recent call last):
        ...
        mailflow.booking.localtime.LocalTimeInvalid: 2027-03-28T02:30 does not exist in Europe/Berlin: ...
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value
    tz = ZoneInfo(zone)
    first, second = _readings(value, tz)
    if first.utcoffset() == second.utcoffset():
        return first
    if not _exists(first, tz):
        # In the gap: fold=0 reads it with the offset before the change, which lands after it.
        raise LocalTimeInvalid(NONEXISTENT, value, zone, (first.astimezone(UTC).astimezone(tz),), field=field)
    earlier, later = (reading.astimezone(UTC).astimezone(tz) for reading in (first, second))
    raise LocalTimeInvalid(AMBIGUOUS, value, zone, (earlier, later), field=field)


def to_utc(value: datetime) -> datetime:
    """An aware ``value`` in UTC, so that adding a duration counts elapsed time, not wall-clock time.

    ``datetime`` adds a ``timedelta`` to the wall clock of its own zone: 01:45 Berlin
    plus 30 minutes on the spring-forward night is "02:15", an instant before the start.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no offset")
    return value.astimezone(UTC)
