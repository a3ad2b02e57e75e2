"""Input that must never be stored (issue 16, item 5) at the other doors: the self-service and
manage pages (400, the message next to the field) and the CLI (exit 2, one line naming the option).

The API's side, on both engines, is ``tests/api/test_field_rules.py``.
"""

from __future__ import annotations

import html as htmllib
import json
from typing import Any

import pytest

from tests.integration.test_web import Site, booking_form, make_site, post_booking, site

__all__ = ["make_site", "site"]  # fixtures used here

INJECTION = "Eve\r\nBcc: x@evil.example"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("name", INJECTION, "line breaks and other control characters are not allowed"),
        ("name", "E" * 300, "at most 200 characters"),
        ("email", "victim@example.com>,<evil@attacker.example", "not an email address"),
        ("phone", "+49\r\n30", "line breaks and other control characters are not allowed"),
    ],
)
def test_booking_form_shows_the_problem_next_to_the_field(
    site: Site, field: str, value: str, says: str
) -> None:
    """A name with CR/LF (once a 500), an over-long one or two addresses: 400, the message next
    to the field it concerns, the values kept, nothing booked or queued."""
    mark = site.outbox_mark()
    values = {"name": "Eve", "email": "eve@example.com", field: value}
    address = values.pop("email")

    response = post_booking(site, 11, address, **values)

    assert response.status_code == 400
    page = htmllib.unescape(response.text)
    assert f'id="{field}-error"' in page and says in page.split(f'id="{field}-error"', 1)[1].split("</p>")[0]
    assert f'aria-describedby="{field}-error"' in page
    assert site.bookings() == [] and site.queued_since(mark) == []


def test_booking_form_speaks_the_reader_language_next_to_the_field(site: Site) -> None:
    """The field's message comes from the catalog of the page's language."""
    form = booking_form(site, 11, "eve@example.com", name=INJECTION)
    response = site.client.post("/book/consultation?lang=de", data=form)
    assert response.status_code == 400
    assert "Zeilenumbrüche" in htmllib.unescape(response.text)


def test_cancel_reason_with_control_characters_is_shown_on_the_cancel_page(site: Site) -> None:
    """A reason holding an escape sequence: 400 with the message at the reason; the booking stays."""
    booked = site.book(10)
    csrf = site.form(f"{booked.path}/cancel")

    response = site.client.post(f"{booked.path}/cancel", data={"csrf": csrf, "reason": "sorry\x1b[2J"})

    assert response.status_code == 400
    assert 'id="reason-error"' in response.text
    assert site.booking(booked.ref).status == "confirmed"


def test_cancel_reason_on_several_lines_is_kept(site: Site) -> None:
    """Line breaks are fine in a reason (it is no header): the cancellation goes through."""
    booked = site.book(10)
    csrf = site.form(f"{booked.path}/cancel")

    response = site.client.post(f"{booked.path}/cancel", data={"csrf": csrf, "reason": "ill\r\nsorry"})

    assert response.status_code in (200, 303)
    row = site.booking(booked.ref)
    assert row.status == "cancelled" and row.cancel_reason == "ill\nsorry"


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def demo_cli(run_cli: Any) -> Any:
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)
    return run_cli


def _one_line_error(result: Any) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return str(lines[0])


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (
            ("business", "update", "contoso", "--sender-name", "Contoso\r\nBcc: x@evil.example"),
            "--sender-name",
        ),
        (
            ("business", "update", "contoso", "--sender-email", "a@example.com>,<b@evil.example"),
            "--sender-email",
        ),
        (("business", "update", "contoso", "--name", "C" * 201), "--name"),
        (("staff", "update", "bob@contoso.example", "--name", "Bob\nBcc: x@evil.example"), "--name"),
        (("services", "update", "haircut", "--name", "Cut\r\nX: y"), "--name"),
    ],
)
def test_cli_set_up_refuses_bad_fields_naming_the_option(
    demo_cli: Any, args: tuple[str, ...], option: str
) -> None:
    """Set-up commands: exit 2, one line naming the option; the business is unchanged."""
    before = json.loads(demo_cli("business", "show", "contoso", "--json", check=True).stdout)

    line = _one_line_error(demo_cli(*args))

    assert option in line
    assert json.loads(demo_cli("business", "show", "contoso", "--json", check=True).stdout) == before


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--customer-name", "Ada\r\nBcc: x@evil.example"),
        ("--customer-name", "A" * 100_000),
        ("--customer-email", "victim@example.com>,<evil@attacker.example"),
        ("--phone", "1" * 65),
    ],
)
def test_cli_booking_refuses_bad_customer_fields(
    demo_cli: Any, next_tuesday: Any, option: str, value: str
) -> None:
    """``bookings create`` with a bad customer field: exit 2 naming the option, no booking."""
    values = {"--customer-name": "Ada", "--customer-email": "ada@example.com", "--phone": "", option: value}
    result = demo_cli(
        "bookings", "create", "--service", "haircut", "--staff", "bob@contoso.example",
        *[part for pair in values.items() for part in pair],
        "--start", f"{next_tuesday.isoformat()}T10:00", "--json",
    )  # fmt: skip

    assert _one_line_error(result).startswith(f"mailflow: error: {option}:")
    assert json.loads(demo_cli("bookings", "list", "--json", check=True).stdout) == []
