"""Setting a business up through the CLI only (DESIGN §10, "Set-up"), from an empty database."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BERLIN, next_weekday

HOURS = "09:00-12:00,13:00-17:00"
BOB = "bob@salon.example"


def _one_line_error(result: Any, exit_code: int) -> str:
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def _json(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def monday(now: datetime) -> date:
    """A Monday a week or more ahead (Berlin)."""
    return next_weekday(now.astimezone(BERLIN).date() + timedelta(days=7), 0)


@pytest.fixture
def salon(run_cli: Any) -> Any:
    """An empty database set up through the CLI: business (en, de), Bob with a lunch break, a haircut."""
    run_cli("db", "upgrade", check=True)
    run_cli(
        "business", "create", "salon", "--name", "City Salon", "--timezone", "Europe/Berlin",
        "--languages", "en,de", "--email", "hello@salon.example", check=True,
    )  # fmt: skip
    run_cli("staff", "add", BOB, "--name", "Bob", check=True)
    days = [f"--{day}" for day in ("mon", "tue", "wed", "thu", "fri")]
    run_cli("staff", "hours", BOB, *[arg for day in days for arg in (day, HOURS)], check=True)
    run_cli(
        "services", "create", "haircut", "--name", "Haircut", "--name", "de=Haarschnitt",
        "--duration", "45", "--staff", BOB, check=True,
    )  # fmt: skip
    return run_cli


def _book(cli: Any, day: date, at: str, *, locale: str = "en", email_address: str = "ada@example.com") -> Any:
    return cli(
        "bookings", "create", "--service", "haircut", "--staff", BOB, "--customer-email", email_address,
        "--customer-name", "Ada", "--locale", locale, "--start", f"{day.isoformat()}T{at}", "--json",
    )  # fmt: skip


def test_whole_setup_through_the_cli_is_honoured_by_bookings(
    salon: Any, monday: date, tmp_path: Path
) -> None:
    """Hours with a lunch break, time off, a closure and Bavarian holidays refuse bookings (exit 5);
    a free slot books, and a German customer's confirmation names the German service name."""
    tuesday, wednesday = monday + timedelta(days=1), monday + timedelta(days=2)
    # The first year ahead whose 6 January (Epiphany: a holiday in Bavaria, not Berlin) is a weekday.
    year = next(y for y in range(monday.year + 1, monday.year + 9) if date(y, 1, 6).weekday() < 5)
    service = _json(salon("services", "show", "haircut", "--json"))
    assert service["names"] == {"en": "Haircut", "de": "Haarschnitt"} and service["staff"] == [BOB]
    hours = _json(salon("staff", "list", "--json"))[0]["hours"]
    assert hours["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]] and "sat" not in hours
    salon(
        "staff", "time-off", "add", BOB, "--from", f"{tuesday}T09:00", "--to", f"{tuesday}T12:00", check=True
    )
    salon("closures", "add", "--from", wednesday.isoformat(), "--label", "Training", check=True)
    imported = _json(
        salon(
            "closures",
            "import-holidays",
            "--country",
            "DE",
            "--subdivision",
            "BY",
            "--year",
            str(year),
            "--json",
        )
    )
    assert f"{year}-01-06" in {c["from"] for c in imported["closures"]}

    booked = _json(_book(salon, monday, "10:00", locale="de", email_address="grete@example.de"))
    assert booked["status"] == "confirmed" and booked["service"] == "haircut"
    refused = {
        "lunch break": (monday, "12:15"),
        "time off": (tuesday, "10:00"),
        "closure": (wednesday, "10:00"),
        "holiday": (date(year, 1, 6), "10:00"),
    }
    for what, (day, at) in refused.items():
        result = _book(salon, day, at)
        assert result.returncode == 5, (what, result.returncode, result.stderr)
    assert [b["ref"] for b in _json(salon("bookings", "list", "--json"))] == [booked["ref"]]

    salon("run-once", check=True)
    box = mailbox.Maildir(tmp_path / "data" / "outbox", factory=None, create=False)
    messages = [
        email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.iterkeys()
    ]
    confirmations = [m for m in messages if m["X-Mailflow-Kind"] == "confirmation"]
    assert [m["To"].addresses[0].addr_spec for m in confirmations] == ["grete@example.de"]
    body = confirmations[0].get_body(preferencelist=("plain",))
    assert body is not None and "Haarschnitt" in body.get_content()


def test_json_output_lists_the_bookings_a_change_affects(salon: Any, monday: date) -> None:
    """Time off, a closure and a deactivation print the confirmed bookings they leave to move."""
    days = [monday + timedelta(days=n) for n in range(4)]
    refs = [_json(_book(salon, day, "10:00"))["ref"] for day in days]
    monday_ref, tuesday_ref, _, thursday_ref = refs

    time_off = _json(
        salon("staff", "time-off", "add", BOB, "--from", f"{monday}T09:00", "--to", f"{monday}T11:00",
              "--reason", "dentist", "--json")
    )  # fmt: skip
    assert [b["ref"] for b in time_off["affected"]] == [monday_ref]
    assert time_off["reason"] == "dentist"
    assert time_off["start"] == datetime.combine(monday, time(9), BERLIN).isoformat()
    closure = _json(salon("closures", "add", "--from", days[1].isoformat(), "--json"))
    assert [b["ref"] for b in closure["affected"]] == [tuesday_ref]
    assert closure["closures"][0]["from"] == closure["closures"][0]["to"] == days[1].isoformat()

    human = salon("staff", "time-off", "add", BOB, "--from", days[3].isoformat(), "--to", days[3].isoformat())
    assert human.returncode == 0, human.stderr
    assert "1 confirmed booking falls in this time off" in human.stdout and thursday_ref in human.stdout

    deactivated = _json(salon("staff", "deactivate", BOB, "--json"))
    assert deactivated["active"] is False
    assert [b["ref"] for b in deactivated["affected"]] == refs


def test_bad_input_names_the_option_and_stores_nothing(salon: Any, monday: date) -> None:
    """Each mistake exits 2 with one line naming the option, and the list commands show no change."""
    cases = [
        ("--timezone", ("business", "create", "other", "--name", "Other", "--timezone", "Mars/Base")),
        ("--languages", ("business", "create", "other", "--name", "Other", "--timezone", "UTC",
                         "--languages", "en,xx")),
        ("SLUG", ("business", "create", "salon", "--name", "Another", "--timezone", "UTC")),
        ("--locale", ("staff", "add", "carla@salon.example", "--name", "Carla", "--locale", "xx")),
        ("--mon", ("staff", "hours", BOB, "--mon", "09:00-12:00,11:00-13:00")),
        ("--to", ("staff", "time-off", "add", BOB, "--from", f"{monday}T12:00", "--to", f"{monday}T09:00")),
        ("--staff", ("services", "create", "shave", "--name", "Shave", "--duration", "30")),
        ("--name", ("services", "create", "shave", "--name", "Shave", "--name", "fr=Rasage",
                    "--duration", "30", "--staff", BOB)),
        ("--reminders", ("services", "create", "shave", "--name", "Shave", "--duration", "30",
                         "--staff", BOB, "--reminders", "24x")),
    ]  # fmt: skip
    for option, args in cases:
        line = _one_line_error(salon(*args), 2)
        assert line.startswith(f"mailflow: error: {option}: "), (args, line)

    assert _one_line_error(salon("business", "show", "other"), 4)
    assert _json(salon("business", "show", "salon", "--json"))["name"] == "City Salon"
    assert [s["email"] for s in _json(salon("staff", "list", "--json"))] == [BOB]
    assert _json(salon("staff", "list", "--json"))[0]["hours"]["mon"] == [
        ["09:00", "12:00"],
        ["13:00", "17:00"],
    ]
    assert _json(salon("staff", "time-off", "list", BOB, "--json")) == []
    assert [s["slug"] for s in _json(salon("services", "list", "--json"))] == ["haircut"]


def test_language_prefix_rule_and_update_options(salon: Any) -> None:
    """LANG=TEXT needs a 2-3 letter lower-case code; en= escapes a text that looks like one;
    LANG= removes a language; reminders take m, h and d."""
    looks_like = salon("services", "update", "haircut", "--description", "ab=cd")
    assert "not one of the business's languages" in _one_line_error(looks_like, 2)
    escaped = _json(salon("services", "update", "haircut", "--name", "en=ab=cd", "--json"))
    assert escaped["names"] == {"en": "ab=cd", "de": "Haarschnitt"} and escaped["name"] == "ab=cd"
    updated = _json(
        salon("services", "update", "haircut", "--description", "Wash=incl.",
              "--description", "de=Mit Waschen", "--reminders", "1d,90m,2h", "--json")
    )  # fmt: skip
    assert updated["descriptions"] == {"en": "Wash=incl.", "de": "Mit Waschen"}
    assert updated["reminder_offsets_minutes"] == [1440, 120, 90]
    twice = salon("services", "update", "haircut", "--name", "Cut", "--name", "en=Trim")
    assert "'en'" in _one_line_error(twice, 2)
    removed = _json(salon("services", "update", "haircut", "--name", "de=", "--json"))
    assert removed["names"] == {"en": "ab=cd"}


def test_business_option_is_optional_only_while_there_is_one(salon: Any) -> None:
    """Without --business the only business is used; with two it exits 4 and asks for one."""
    assert [s["slug"] for s in _json(salon("services", "list", "--json"))] == ["haircut"]
    salon("business", "create", "annex", "--name", "Annex", "--timezone", "Europe/Vienna", check=True)
    line = _one_line_error(salon("services", "list", "--json"), 4)
    assert "--business" in line and "annex" in line and "salon" in line
    assert _json(salon("services", "list", "--business", "annex", "--json")) == []
    assert [s["slug"] for s in _json(salon("services", "list", "--business", "salon", "--json"))] == [
        "haircut"
    ]
