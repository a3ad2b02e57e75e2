"""What every command group of ``mailflow`` shares: the wired app, the clock, the output,
and the parsing of options several groups take (dates, ``--business``, texts per language).

Texts a customer reads come per language: a bare ``--name TEXT`` is in the business's
default language, ``--name de=TEXT`` in German. A value counts as ``LANG=TEXT`` when the part
before the first ``=`` is a 2-3 letter lower-case code; to give a text that itself looks like
that, put the language in front (``--name en=ab=cd``). ``LANG=`` (empty) removes a language
on ``update``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer

from mailflow.booking.localtime import resolve_local
from mailflow.booking.model import Actor, ActorKind
from mailflow.bootstrap import App, build
from mailflow.config import Settings, load_settings
from mailflow.errors import InvalidInput, NotFound
from mailflow.services.business import list_businesses
from mailflow.services.common import parse_minutes
from mailflow.services.staff import DAYS
from mailflow.store import migrate

if TYPE_CHECKING:
    from mailflow.services.bookings import BookingView

JsonOption = typer.Option(False, "--json", help="Print JSON only (logs go to stderr).")
BusinessOption = typer.Option(None, "--business", help="Business slug (optional when there is one).")
STAFF_ACTOR = Actor(ActorKind.STAFF, "cli")
LANGUAGE_TEXT = re.compile(r"([a-z]{2,3})=(.*)", re.DOTALL)
# The options that differ from "--" + the service layer's field name.
OPTIONS = {
    "slug": "SLUG",
    "names": "--name",
    "descriptions": "--description",
    **{f"hours.{day}": f"--{day}" for day in DAYS},
    "customer.email": "--customer-email",
    "customer.name": "--customer-name",
    "customer.phone": "--phone",
}


@contextmanager
def open_app(*, migrated: bool = True, settings: Settings | None = None) -> Iterator[App]:
    """The application wired from ``settings`` (default: the environment's), refusing an
    unmigrated database by default."""
    app = build(settings or load_settings())
    try:
        if migrated:
            migrate.ensure_migrated(app.engine)
        yield app
    finally:
        app.close()


def now() -> datetime:
    return datetime.now(UTC)


def emit(data: Any, as_json: bool, human: Callable[[], str]) -> None:
    """``data`` as JSON on stdout with ``--json``, else the human text."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(human() + "\n")


def parse_when(value: str, option: str, zone: str) -> datetime:
    """An ISO 8601 date-time; one without an offset is read in ``zone``."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{option}: {value!r} is not an ISO 8601 date-time such as 2026-03-03T10:00:00+01:00"
        ) from None
    return resolve_local(parsed, zone, field=option.removeprefix("--"))


def parse_bound(value: str | None, option: str, zone: str) -> datetime | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return parse_when(value, option, zone)
    return datetime.combine(day, time(0), ZoneInfo(zone))


@contextmanager
def setup_app(business: str | None = None, **fields: str) -> Iterator[App]:
    """The app, with errors phrased for the command line: a bad value names its option
    (``fields`` maps a service field to an option where the defaults do not fit), and a
    ``--business`` left out while there is not exactly one business lists those there are."""
    with open_app() as app:
        try:
            yield app
        except InvalidInput as exc:
            raise naming_option(exc, fields) from None
        except NotFound as exc:
            if business is None and exc.what == "business":
                slugs = [view.slug for view in list_businesses(app.engine)]
                exc.message = (
                    f"there are {len(slugs)} businesses ({', '.join(slugs)}): name one with --business"
                    if slugs
                    else "there is no business yet: create one with `mailflow business create`"
                )
            raise


def naming_option(exc: InvalidInput, fields: dict[str, str]) -> InvalidInput:
    if exc.field is None:
        return exc
    option = fields.get(exc.field) or OPTIONS.get(exc.field) or "--" + exc.field.replace("_", "-")
    message = exc.message.removeprefix(f"{exc.field}: ")
    if message.startswith(option):
        return exc
    return InvalidInput(f"{option}: {message}", field=exc.field)


def language_texts(values: list[str] | None, default: str, field: str) -> dict[str, str] | None:
    """``["Haircut", "de=Haarschnitt"]`` -> ``{"en": "Haircut", "de": "Haarschnitt"}`` (None
    when the option was not given)."""
    if not values:
        return None
    texts: dict[str, str] = {}
    for value in values:
        match = LANGUAGE_TEXT.fullmatch(value)
        language, text = (match.group(1), match.group(2)) if match else (default, value)
        if language in texts:
            raise InvalidInput(f"two texts in {language!r}", field=field)
        texts[language] = text
    return texts


def split_values(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated values as one list (None when not given)."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def minutes_of(value: str | None, field: str) -> int | None:
    return None if value is None else parse_minutes(value, field=field)


def parse_moment(value: str, option: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date-time, naive when given without an offset (the service reads it in the
    staff member's zone); a date alone is that day's start, or with ``end`` its end."""
    text = value.strip()
    try:
        return day_bound(date.fromisoformat(text), end)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option}: {value!r} is not an ISO 8601 date-time such as 2026-12-24T09:00",
            field=option.removeprefix("--"),
        ) from None


def day_bound(day: date, end: bool) -> datetime:
    return datetime.combine(day + timedelta(days=1) if end else day, time(0))


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{option}: {value!r} is not a date such as 2026-12-24", field=option.removeprefix("--")
        ) from None


def given_options(**values: Any) -> dict[str, Any]:
    """The options that were given (not None)."""
    return {name: value for name, value in values.items() if value is not None}


def bookings_line(booking: BookingView) -> str:
    data = booking.to_json()
    return (
        f"  {data['ref']}  {data['start']}  {data['service']} with {data['staff']}"
        f"  for {data['customer']['name']} <{data['customer']['email']}>"
    )


def affected_lines(bookings: list[BookingView], where: str) -> list[str]:
    if not bookings:
        return [f"no confirmed bookings fall in {where}"]
    count = f"{len(bookings)} confirmed booking" + ("s fall" if len(bookings) > 1 else " falls")
    return [f"{count} in {where} (move or cancel them):", *map(bookings_line, bookings)]
