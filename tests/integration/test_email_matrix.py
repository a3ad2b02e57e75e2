"""Every kind × every shipped language × both variants, rendered from real bookings (issue 18).

The variants are the two sides of the rule: a booking staff made for a service with the
setting off (no Manage button) and one the customer made on the self-service page (with it).
Each email's text part must carry every link and every fact of its HTML: a reader whose
client shows only the text loses nothing.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from mailflow.booking.model import Origin
from mailflow.demo import seed_demo
from mailflow.outbound.context import booking_dict, customer_reader, load_facts
from mailflow.outbound.html_lines import MAX_LINE
from mailflow.outbound.samples import CUSTOMER_KINDS, KINDS, SAMPLE_LOCALES
from mailflow.services.business import update_business
from mailflow.store.engine import make_engine
from mailflow.store.queries import booking_by_ref
from tests.conftest import BERLIN, next_weekday
from tests.integration.test_emails import PUBLIC, STAFF, bodies, build, make

# (origin, service) -> Manage button: staff-made haircut (setting off) and a self-service consultation.
VARIANTS = {"no-manage": (Origin.STAFF, "haircut"), "manage": (Origin.SELF_SERVICE, "consultation")}


@dataclass(frozen=True)
class Rendered:
    """One email of the matrix and the booking facts it is about, as its reader reads them."""

    kind: str
    locale: str
    variant: str
    message: EmailMessage
    facts: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.kind}/{self.locale}/{self.variant}"


def every_email(engine: Engine, now: datetime, day: date) -> list[Rendered]:
    """Book one appointment per language and variant, then render every kind for it."""
    out = []
    for i, locale in enumerate(SAMPLE_LOCALES):
        for j, (variant, (origin, service)) in enumerate(VARIANTS.items()):
            ref = make(engine, now, day, 9 + 2 * i + j, service, origin, locale=locale, name="Ada Lovelace")
            with Session(engine) as session:
                facts = load_facts(session, booking_by_ref(session, ref))
                booking = booking_dict(facts, facts.booking, facts.staff, customer_reader(facts), now)
            shown = ("ref", "service_name", "staff_name", "date", "time_range", "customer_name")
            wanted = (*(str(booking[key]) for key in shown), facts.business.phone or "")
            for kind in KINDS:
                message = build(engine, ref, kind, now, locale=locale)
                out.append(Rendered(kind, locale, variant, message, wanted))
    return out


class _Html(HTMLParser):
    """The links and the visible text of an email's HTML (head, style and preheader left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []
        self._hidden = 0
        self._stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = dict(attrs)
        if tag == "a" and given.get("href"):
            self.links.append(given["href"] or "")
        if tag in ("br", "img", "meta", "link", "hr", "input"):
            return
        style = (given.get("style") or "").replace(" ", "")
        hidden = tag in ("head", "style", "title") or "display:none" in style
        self._stack.append(hidden)
        self._hidden += hidden

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "img", "meta", "link", "hr", "input") or not self._stack:
            return
        self._hidden -= self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def read_html(html: str) -> tuple[list[str], str]:
    parser = _Html()
    parser.feed(html)
    return parser.links, " ".join(" ".join(parser.text).split())


def matrix_on_sqlite(template: Path, folder: Path) -> list[Rendered]:
    """The matrix on a fresh copy of the migrated SQLite ``template`` holding the demo business."""
    shutil.copyfile(template, folder / "matrix.db")
    engine = make_engine(f"sqlite:///{folder / 'matrix.db'}")
    now = datetime.now(UTC)
    try:
        seed_demo(engine, now)
        update_business(engine, "contoso", {"languages": list(SAMPLE_LOCALES)}, actor=STAFF, now=now)
        return every_email(engine, now, next_weekday(now.astimezone(BERLIN).date() + timedelta(days=7), 1))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> list[Rendered]:
    """The whole matrix, rendered once for this module's tests."""
    return matrix_on_sqlite(sqlite_template, tmp_path_factory.mktemp("matrix"))


def test_the_matrix_is_complete_and_every_email_parses(matrix: list[Rendered]) -> None:
    """Every kind in en, de and fr, with and without the button: a multipart email with both bodies."""
    seen = {(r.kind, r.locale, r.variant) for r in matrix}
    assert seen == {(k, loc, v) for k in KINDS for loc in SAMPLE_LOCALES for v in VARIANTS}
    for rendered in matrix:
        html, text = bodies(rendered.message)
        assert html.strip() and text.strip(), rendered.where
        assert rendered.message["X-Mailflow-Kind"] == rendered.kind


def test_every_html_part_goes_as_7bit(matrix: list[Rendered]) -> None:
    """Every shipped email's HTML is sent as 7bit (no quoted-printable to encode or decode):
    ASCII, with lines of at most 998 characters."""
    for rendered in matrix:
        html = rendered.message.get_body(("html",))
        assert html is not None
        assert html["Content-Transfer-Encoding"] == "7bit", rendered.where
        raw = html.get_payload(decode=True)
        assert isinstance(raw, bytes) and raw.isascii(), rendered.where
        assert max(len(line) for line in raw.split(b"\r\n")) <= MAX_LINE, rendered.where


def test_the_text_part_carries_every_link_of_the_html(matrix: list[Rendered]) -> None:
    """Web links verbatim; mailto: the address; tel: the number as written."""
    for rendered in matrix:
        html, text = bodies(rendered.message)
        links, _ = read_html(html)
        assert links, rendered.where
        flat = " ".join(text.split())
        for link in links:
            scheme = urlsplit(link).scheme
            if scheme in ("http", "https"):
                assert unescape(link) in text, f"{rendered.where}: {link}"
            elif scheme == "mailto":
                address = unquote(link.removeprefix("mailto:").split("?")[0])
                assert address in text, f"{rendered.where}: {link}"
            elif scheme == "tel":
                digits = re.sub(r"\D", "", link)
                assert any(re.sub(r"\D", "", m) == digits for m in re.findall(r"\+?[\d ()/-]{6,}", flat)), (
                    f"{rendered.where}: {link}"
                )
            else:
                pytest.fail(f"{rendered.where}: unexpected link {link}")


def test_the_text_part_carries_every_fact_of_the_html(matrix: list[Rendered]) -> None:
    """Each booking fact the HTML shows (reference, service, staff, day, time, name, phone) is in the text."""
    for rendered in matrix:
        html, text = bodies(rendered.message)
        _, visible = read_html(html)
        flat = " ".join(text.split())
        shown = [fact for fact in rendered.facts if fact and fact in visible]
        assert rendered.facts[0] in shown or rendered.kind == "daily_agenda", rendered.where  # the ref
        for fact in shown:
            assert fact in flat, f"{rendered.where}: {fact!r} is in the HTML but not in the text"


def test_customer_emails_always_offer_a_way_to_act(matrix: list[Rendered]) -> None:
    """Without the button, the box still offers an action: call (tel:), write (mailto:) or reply."""
    for rendered in matrix:
        if rendered.kind not in CUSTOMER_KINDS or rendered.kind == "cancelled":
            continue
        html, _ = bodies(rendered.message)
        links, _ = read_html(html)
        managed = any("/m/" in link and "booking.ics" not in link for link in links)
        if rendered.variant == "manage" and managed:
            continue
        assert any(link.startswith("tel:") for link in links), rendered.where
        assert any(link.startswith("mailto:") for link in links), rendered.where


def test_the_manage_link_exactly_where_the_rule_allows(matrix: list[Rendered]) -> None:
    """In every language: the Manage link in customer emails of the allowed variant, never elsewhere."""
    for rendered in matrix:
        html, text = bodies(rendered.message)
        links, _ = read_html(html)
        # (reschedule_options' slot links come from the sample context, on the sample's own URL)
        manage = [link for link in links if link.startswith(f"{PUBLIC}/m/") and not link.endswith(".ics")]
        expected = (
            rendered.variant == "manage"
            and rendered.kind in CUSTOMER_KINDS
            and rendered.kind != "cancelled"  # nothing left to manage
        )
        assert bool(manage) is expected, rendered.where
        assert all(link in text for link in manage), rendered.where
