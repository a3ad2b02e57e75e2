"""The new text of a reply: quotes, quote headers, signatures and closings stripped."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailflow.inbound.strip import _new_part, new_text, strip_reply

QUOTE_EN = (
    "On Mon, 2 Jun 2025 at 10:00, Salon Schnitt <hello@salon.example> wrote:\n\n> Your booking BK-7Q2M9X"
)
QUOTE_DE = "Am 02.06.2025 um 10:00 schrieb Salon Schnitt <hello@salon.example>:\n\n> Ihr Termin BK-7Q2M9X"
OUTLOOK_EN = (
    "________________________________\n"
    "From: Salon Schnitt <hello@salon.example>\n"
    "Sent: Monday, June 2, 2025 10:00 AM\n"
    "To: Max Muster <max@example.com>\n"
    "Subject: Your booking\n\n"
    "Hello Max,\nyour booking is confirmed."
)
OUTLOOK_DE = (
    "Von: Salon Schnitt <hello@salon.example>\n"
    "Gesendet: Montag, 2. Juni 2025 10:00\n"
    "An: Max Muster <max@example.com>\n"
    "Betreff: Ihr Termin\n\n"
    "Hallo Max,\nIhr Termin ist bestätigt."
)


def message(body: str, *, subtype: str = "plain", **options: str) -> EmailMessage:
    """A reply whose only body is ``body``."""
    msg = EmailMessage()
    msg["From"] = "max@example.com"
    msg["Subject"] = "Re: Your booking"
    msg.set_content(body, subtype=subtype, **options)
    return msg


def parsed(raw: bytes) -> EmailMessage:
    """A message parsed from raw bytes the way the inbound pipeline parses it."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


# --- Quotes and quote headers ---------------------------------------------------------


def test_text_above_an_english_quote_header_is_kept_and_the_quote_cut() -> None:
    """Top-posting above "On … wrote:" keeps only the new text."""
    assert strip_reply(f"Cancel\n\n{QUOTE_EN}\n> more quote\n\nfooter") == "Cancel"


def test_text_above_a_german_quote_header_is_kept_and_the_quote_cut() -> None:
    """Top-posting above "Am … schrieb …:" keeps only the new text."""
    assert strip_reply(f"Stornieren\n\n{QUOTE_DE}") == "Stornieren"


@pytest.mark.parametrize(
    "header",
    [
        "On Mon, Jun 2, 2025 at 10:00 AM Salon Schnitt <hello@salon.example>\nwrote:",
        "On Mon, Jun 2, 2025 at 10:00 AM, Salon Schnitt <\nhello@salon.example> wrote:",
        "Am Mo., 2. Juni 2025 um 10:00 Uhr schrieb Salon Schnitt <\nhello@salon.example>:",
        "Salon Schnitt <hello@salon.example> schrieb am Mo., 2. Juni\n2025 um 10:00 Uhr:",
    ],
    ids=["en-wrote-wrapped", "en-address-wrapped", "de-am-wrapped", "de-schrieb-am-wrapped"],
)
def test_quote_headers_wrapped_over_two_lines_are_recognised(header: str) -> None:
    """A quote header broken over two lines still cuts the quote."""
    assert strip_reply(f"Verschieben\n\n{header}\n\n> Ihr Termin") == "Verschieben"


def test_someone_schrieb_am_header_is_recognised() -> None:
    """Gmail's German "X <a@b> schrieb am …:" cuts the quote."""
    header = "Salon Schnitt <hello@salon.example> schrieb am Mo., 2. Juni 2025 um 10:00 Uhr:"
    assert strip_reply(f"Absagen\n\n{header}\n\n> Ihr Termin") == "Absagen"


@pytest.mark.parametrize(
    "header",
    [
        "Le lun. 2 juin 2025 à 10:00, Salon <hello@salon.example> a écrit :",
        "Op 2 jun. 2025 om 10:00 heeft Salon <hello@salon.example> het volgende geschreven:",
        "El lun, 2 jun 2025 a las 10:00, Salon (<hello@salon.example>) escribió:",
        "Dnia 2 cze 2025 o godz. 10:00 Salon <hello@salon.example> napisał(a):",
        "Den 2 juni 2025 kl. 10:00 skrev Salon <hello@salon.example>:",
        "пн, 2 июн. 2025 г. в 10:00, Salon <hello@salon.example>:",
        "2 июня 2025 г. 10:00 пользователь Salon <hello@salon.example> написал:",
        "在 2025年6月2日，上午10:00，Salon <hello@salon.example> 写道：",
    ],
    ids=["fr", "nl", "es", "pl", "sv", "ru-gmail", "ru", "zh"],
)
def test_quote_headers_in_other_languages_cut_the_quote(header: str) -> None:
    """French, Dutch, Spanish, Polish, Swedish, Russian and Chinese headers cut the quote."""
    assert strip_reply(f"Merci\n\n{header}\n\nquoted text without marks") == "Merci"


def test_quoted_lines_are_removed_when_the_reply_is_written_below() -> None:
    """Bottom-posting: the header and ``>`` lines go, the new text below stays."""
    assert strip_reply(f"{QUOTE_EN}\n> Reply 'cancel' to cancel.\n\nCancel\n") == "Cancel"


def test_quoted_lines_are_removed_between_inline_answers() -> None:
    """Interleaved answers keep their text, without the quoted lines."""
    text = "> Which day?\nTuesday\n\n> Which time?\n>\n10:00"
    assert strip_reply(text) == "Tuesday\n\n10:00"


def test_a_reply_that_only_quotes_has_no_new_text() -> None:
    """Nothing but quoted lines gives an empty string."""
    assert strip_reply(f"{QUOTE_EN}\n> more\n") == ""


# --- Outlook header blocks and separators -----------------------------------------------


def test_a_command_above_an_english_outlook_quote_is_exactly_the_command() -> None:
    """Outlook's From/Sent/To/Subject block under "Cancel" leaves exactly "Cancel"."""
    assert strip_reply(f"Cancel\r\n\r\n{OUTLOOK_EN}".replace("\n", "\r\n")) == "Cancel"


def test_a_command_above_a_german_outlook_quote_is_exactly_the_command() -> None:
    """Outlook's Von/Gesendet/An/Betreff block under "Stornieren" leaves exactly "Stornieren"."""
    assert strip_reply(f"Stornieren\n\n{OUTLOOK_DE}") == "Stornieren"


def test_french_and_bold_outlook_header_blocks_cut_the_quote() -> None:
    """De/Envoyé/À/Objet and "*From:*" blocks are header blocks too."""
    french = "De : Salon <a@b.example>\nEnvoyé : lundi 2 juin 2025 10:00\nÀ : Max\nObjet : RDV\n\nBonjour"
    bold = "*From:* Salon\n*Sent:* 2025-06-02\n*To:* max@example.com\n*Subject:* Booking\n\nHello"
    assert strip_reply(f"Annuler\n\n{french}") == "Annuler"
    assert strip_reply(f"Cancel\n\n{bold}") == "Cancel"


def test_a_header_value_wrapped_onto_a_second_line_stays_in_the_block() -> None:
    """A subject wrapped over two lines does not end the header block early."""
    text = (
        "Cancel\n\nFrom: Salon <hello@salon.example>\nSent: Monday\nSubject: Your booking on\n"
        "Monday morning\nTo: max@example.com\n\nquoted"
    )
    assert strip_reply(text) == "Cancel"


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "----- Original Message -----",
        "-----Ursprüngliche Nachricht-----",
        "---------- Forwarded message ---------",
        "________________________________",
        "Begin forwarded message:",
    ],
)
def test_separators_cut_the_quote(separator: str) -> None:
    """Original-message, forward and underscore separators end the new text."""
    assert strip_reply(f"Stornieren\n\n{separator}\nVon: Salon\n\nHallo") == "Stornieren"


def test_a_lone_from_line_in_the_text_is_not_a_header_block() -> None:
    """One "From:"-like line in the customer's text is kept."""
    text = "Reschedule please\nFrom: Tuesday is fine for me\nThanks"
    assert strip_reply(text) == text


def test_ordinary_sentences_that_look_like_headers_are_kept() -> None:
    """A line starting "On Monday" without "wrote:", and a sentence with "wrote", are text."""
    text = "On Monday I can come at 10:00.\n\nMy wife wrote the date down wrong."
    assert strip_reply(text) == text


def test_new_text_before_a_quoted_header_line_is_kept() -> None:
    """A text line directly above a ``>``-quoted header is not taken for its first half."""
    assert strip_reply(f"Cancel at 10:00\n> {QUOTE_EN.splitlines()[0]}\n> hi") == "Cancel at 10:00"


def test_code_fences_are_never_cut() -> None:
    """Separator-looking lines inside ``` fences are kept."""
    text = "Here:\n\n```\n####\n-----\n```\n\nDone"
    assert strip_reply(text) == text


# --- Signatures and closings --------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nMax Muster\nTel. 0171 1234567",
        "--\nMax Muster",
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPhone",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Get [Outlook for Android](https://aka.ms/ghei36)",
    ],
)
def test_signatures_are_removed(signature: str) -> None:
    """Signature blocks and mobile signatures end the new text."""
    assert strip_reply(f"Verschieben\n\n{signature}\n\n{QUOTE_DE}") == "Verschieben"


def test_sentences_that_start_like_mobile_signatures_are_kept() -> None:
    """A line starting "From my side", and a long one starting "Sent from", are text."""
    text = (
        "From my side, Tuesday is fine.\n"
        "Sent from the office because my phone is broken, so please answer by email"
        " and not by text message today, thank you."
    )
    assert strip_reply(text) == text


def test_keep_signature_keeps_the_signature_but_not_the_quote() -> None:
    """``keep_signature`` is for showing staff the whole message: quotes still go."""
    text = f"Please call me\n\n-- \nMax Muster\nTel. 0171 1234567\n\n{QUOTE_EN}"
    assert strip_reply(text, keep_signature=True) == "Please call me\n\n--\nMax Muster\nTel. 0171 1234567"


@pytest.mark.parametrize(
    "closing",
    [
        "Mit freundlichen Grüßen\nMax",
        "Viele Grüße\nMax Muster",
        "Viele Grüße, Max",
        "LG Max",
        "Best regards,\nMax",
        "Kind regards\n\nMax Muster\n+49 171 1234567",
    ],
)
def test_a_closing_with_a_few_short_lines_after_it_is_a_signature(closing: str) -> None:
    """A closing formula followed by at most three short lines is dropped."""
    assert strip_reply(f"Verschieben\n\n{closing}") == "Verschieben"


def test_the_german_closing_example_gives_the_bare_command() -> None:
    """The example "Verschieben / Mit freundlichen Grüßen / Max" gives exactly "Verschieben"."""
    assert strip_reply("Verschieben\n\nMit freundlichen Grüßen\nMax") == "Verschieben"


def test_a_closing_followed_by_a_long_block_is_kept() -> None:
    """More than three lines after a closing means it is not the end of the message."""
    text = "Verschieben\n\nViele Grüße\n\nMax Muster\nMusterstraße 1\n12345 Musterstadt\nTel. 0171 1234567"
    assert strip_reply(text) == text


def test_a_closing_never_swallows_the_whole_message() -> None:
    """A message that is only a closing stays as it is."""
    assert strip_reply("Viele Grüße\nMax") == "Viele Grüße\nMax"


def test_thanks_is_not_a_closing() -> None:
    """A closing "Thanks," is part of what the customer says, not a formula to drop."""
    assert strip_reply("Hi. I am fine.\n\nThanks,\nAlex") == "Hi. I am fine.\n\nThanks,\nAlex"


def test_keep_closing_keeps_the_closing_but_drops_the_signature() -> None:
    """``keep_closing`` keeps "Best regards / Max" and still drops "Sent from my iPhone"."""
    text = "Cancel\n\nBest regards\nMax\n\nSent from my iPhone"
    assert strip_reply(text, keep_closing=True) == "Cancel\n\nBest regards\nMax"


# --- Whitespace -----------------------------------------------------------------------------


def test_trailing_whitespace_and_blank_line_runs_are_collapsed() -> None:
    """Line ends are trimmed, blank runs become one blank line, ends are stripped."""
    text = "\r\n\r\nTuesday   \r\n\r\n\r\n\r\n10:00\t\r\n\r\n\r\n"
    assert strip_reply(text) == "Tuesday\n\n10:00"


def test_indentation_is_kept() -> None:
    """Leading spaces inside the text are the sender's formatting and stay."""
    assert strip_reply("Options:\n    1. Tuesday\n    2. Friday") == "Options:\n    1. Tuesday\n    2. Friday"


# --- Messages: parts -------------------------------------------------------------------------


def test_new_text_prefers_the_plain_part() -> None:
    """In multipart/alternative the text/plain part is used."""
    msg = message(f"Cancel\n\n{QUOTE_EN}")
    msg.add_alternative("<p>HTML version</p>", subtype="html")
    assert new_text(msg) == "Cancel"


def test_new_text_uses_html_when_the_plain_part_is_blank() -> None:
    """An empty text/plain part does not hide the HTML body."""
    msg = message("\n \n")
    msg.add_alternative("<div>Stornieren</div>", subtype="html")
    assert new_text(msg) == "Stornieren"


def test_a_message_without_text_has_no_new_text() -> None:
    """A message with only an attachment gives an empty string."""
    msg = EmailMessage()
    msg.set_content(b"\x89PNG", maintype="image", subtype="png")
    assert new_text(msg) == ""


# --- Messages: HTML-only ------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        # Gmail
        '<div dir="ltr">Cancel</div><br><div class="gmail_quote"><div class="gmail_attr">On Mon, Jun 2,'
        " 2025 at 10:00 AM Salon &lt;a@b.example&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">Your booking</blockquote></div>',
        # Outlook on the web
        '<div>Cancel</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Salon'
        "<br><b>Sent:</b> Monday</div><div>Your booking</div>",
        # Outlook desktop
        "<p class=MsoNormal>Cancel<o:p></o:p></p><div style='border:none;border-top:solid #E1E1E1 1.0pt'>"
        "<p class=MsoNormal><b>From:</b> Salon<br><b>Sent:</b> Monday</p></div><p>Your booking</p>",
        # Apple Mail
        '<div>Cancel</div><div><br><blockquote type="cite"><div>On 2 Jun 2025, at 10:00, Salon'
        " &lt;a@b.example&gt; wrote:</div><div>Your booking</div></blockquote></div>",
        # Thunderbird
        '<p>Cancel</p><div class="moz-cite-prefix">On 02.06.25 10:00, Salon wrote:<br></div>'
        '<blockquote type="cite">Your booking</blockquote>',
        # Yandex / mail.ru: a plain blockquote after a date line
        '<p>Cancel<br><br>02.06.2025, 10:00, "Salon" &lt;a@b.example&gt;:</p>'
        "<blockquote>Your booking</blockquote>",
    ],
    ids=["gmail", "outlook-web", "outlook-desktop", "apple-mail", "thunderbird", "yandex"],
)
def test_html_only_replies_lose_their_quote(html: str) -> None:
    """Each client's HTML quote container is removed."""
    assert new_text(message(html, subtype="html")) == "Cancel"


def test_html_layout_becomes_lines_and_entities_are_decoded() -> None:
    """Blocks and ``<br>`` become lines; entities, scripts and styles are handled."""
    html = (
        "<html><head><style>p {margin:0}</style><title>x</title></head><body>"
        "<div>Tuesday&nbsp;&amp; Friday</div><div><br></div><div>Max &lt;3</div>"
        "<script>alert(1)</script></body></html>"
    )
    assert new_text(message(html, subtype="html")) == "Tuesday & Friday\n\nMax <3"


def test_html_signature_blocks_are_removed_unless_kept() -> None:
    """Gmail's signature div goes by default and stays with ``keep_signature``."""
    html = '<div>Cancel</div><div class="gmail_signature">Max Muster<br>0171 1234567</div>'
    assert new_text(message(html, subtype="html")) == "Cancel"
    assert new_text(message(html, subtype="html"), keep_signature=True) == "Cancel\nMax Muster\n0171 1234567"


def test_html_answers_below_a_quote_are_kept() -> None:
    """A reply written below an Apple Mail quote is found."""
    html = (
        "<div>On 2 Jun 2025, at 10:00, Salon &lt;a@b.example&gt; wrote:</div>"
        '<blockquote type="cite">Your booking</blockquote><div>Stornieren</div>'
    )
    assert new_text(message(html, subtype="html")) == "Stornieren"


# --- Messages: charsets and transfer encodings ------------------------------------------------


def test_a_declared_latin1_body_is_decoded_with_its_charset() -> None:
    """ISO-8859-1 bytes are read as ISO-8859-1."""
    raw = (
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Gr\xfc\xdfe, bitte verschieben\r\n"
    )
    assert new_text(parsed(raw)) == "Grüße, bitte verschieben"


def test_an_undeclared_8bit_body_falls_back_to_utf8() -> None:
    """A body without a charset is read as UTF-8 when it is UTF-8."""
    raw = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"
    assert new_text(parsed(raw)) == "Grüße"


def test_an_undeclared_latin1_body_falls_back_past_utf8() -> None:
    """A body without a charset that is not UTF-8 is read as Windows-1252 / Latin-1."""
    raw = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe \x80 5\r\n"
    assert new_text(parsed(raw)) == "Grüße € 5"


def test_a_wrongly_declared_utf8_body_does_not_crash() -> None:
    """Latin-1 bytes labelled UTF-8 are read as Windows-1252."""
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nVerschieben, Gr\xfc\xdfe\r\n"
    assert new_text(parsed(raw)) == "Verschieben, Grüße"


def test_utf8_bytes_labelled_latin1_are_read_as_utf8() -> None:
    """Valid UTF-8 under a single-byte label is taken for the mislabelled UTF-8 it is."""
    raw = b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"
    assert new_text(parsed(raw)) == "Grüße"


def test_an_unknown_charset_does_not_crash() -> None:
    """A charset Python does not know falls back to UTF-8."""
    raw = b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nStornieren \xc3\xa4\r\n"
    assert new_text(parsed(raw)) == "Stornieren ä"


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
def test_base64_and_quoted_printable_bodies_are_decoded(cte: str) -> None:
    """Transfer encodings are undone before stripping."""
    msg = parsed(message(f"Verschieben ä\n\n{QUOTE_DE}", cte=cte, charset="utf-8").as_bytes())
    assert msg["Content-Transfer-Encoding"] == cte
    assert new_text(msg) == "Verschieben ä"


def test_a_quoted_printable_soft_break_inside_a_header_is_joined() -> None:
    """A QP soft line break inside "wrote:" still gives one header line."""
    raw = (
        b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Cancel\r\n\r\nOn Apr 3, 2012, at 4:19 PM, bob <bob@example.com> wr=\r\note:\r\n\r\n> Hi\r\n"
    )
    assert new_text(parsed(raw)) == "Cancel"


# --- Messages: broken input -------------------------------------------------------------------


def test_a_multipart_without_boundary_inside_a_multipart_is_read_as_text() -> None:
    """The stdlib's get_body trips over this structure; the body is still found."""
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: multipart/related\r\n\r\nStornieren\r\n--b--\r\n"
    )
    assert new_text(parsed(raw)) == "Stornieren"


def test_a_charset_name_with_a_null_byte_does_not_crash() -> None:
    """A garbage charset parameter falls back like an unknown one."""
    raw = b'Content-Type: text/plain; charset="utf\\x00-8"\r\n\r\nStornieren\r\n'.replace(b"\\x00", b"\x00")
    assert new_text(parsed(raw)) == "Stornieren"


def test_malformed_html_marked_sections_do_not_crash() -> None:
    """CPython's HTML parser asserts on "<![x"; the text around it is still read."""
    html = "<div>Cancel</div><![x <div>more</div><![endif]>"
    assert new_text(message(html, subtype="html")).startswith("Cancel")


def test_deeply_nested_html_does_not_exhaust_the_stack() -> None:
    """Thousands of nested tags are flattened instead of recursed into."""
    html = "<div>" * 5000 + "Cancel" + "</div>" * 5000
    assert new_text(message(html, subtype="html")) == "Cancel"


def test_a_very_long_line_is_kept_as_text() -> None:
    """A 100,000-character line is ordinary text (it once sent a header regex into a very long search)."""
    line = "Stornieren " + "x" * 100_000
    assert strip_reply(f"{line}\n\nOn Mon, 2 Jun 2025 at 10:00, Salon <a@b.de> wrote:\n> Hi") == line


def test_only_the_first_part_of_a_huge_body_is_read() -> None:
    """Beyond MAX_TEXT characters the body is not read: the new text is at the top."""
    from email.message import EmailMessage

    from mailflow.inbound.strip import MAX_TEXT, new_text

    message = EmailMessage()
    message.set_content("Cancel\n" + "y" * (MAX_TEXT * 3))
    text = new_text(message)
    assert text.startswith("Cancel\n") and len(text) <= MAX_TEXT


# --- classifying from the top --------------------------------------------------------------

# Lines that classify as every kind, and that join into wrapped quote headers and header blocks.
LINES = (
    "Cancel please",
    "Kann ich mit Karte zahlen?",
    "",
    "> quoted",
    "On Mon, 2 Mar 2026 at 10:00, Contoso Salon <hello@contoso.example>",
    "wrote:",
    "Am 02.03.2026 um 10:00 schrieb",
    "Salon <a@b.de>:",
    "2016-03-03 17:21 GMT+01:00 X <x@y.de>:",
    "<",
    "x@y.de> wrote:",
    "From: Salon <a@b.de>",
    "Von: Salon",
    "Sent: Monday",
    "Gesendet: Montag, 2. Juni 2025 10:00",
    "To: Max",
    "Subject: Your booking",
    "Date: today",
    "-----Original Message-----",
    "________________________________",
    "-- ",
    "Sent from my iPhone",
    "Best regards",
    "Max",
    "```",
    "Time: 10:00 - 11:00",
    # pieces of quote headers wrapped over several lines
    "On Mon, 2 Mar 2026 at 10:00,",
    "Contoso Salon",
    "<hello@contoso.example>",
    "Am 02.03.2026 um 10:00",
    "schrieb Salon",
    "<a@b.de>:",
    "Leistung:          Beratung (30 min)",
    "Ort:               Hauptstraße 1, 10115 Berlin",
    "Zum Kalender hinzufügen: http://127.0.0.1:8000/m/T5elcHWEp26SZ/booking.ics",
)
# A quote header wrapped across where the first lines end, inside a fence: found by a search
# over real replies' lines when the look-ahead was set too short.
ACROSS = [
    "Zum Kalender hinzufügen: http://127.0.0.1:8000/m/T5elcHWEp26SZ/booking.ics",
    "",
    "  Subject: [Mailman-Developers] RELEASED Mailman 2.0.12",
    "Datum: 1.2.2026",
    "```",
    "Leistung:          Beratung (30 min)",
    "On Mon, 2 Mar 2026 at 10:00, Contoso Salon <hello@contoso.example>",
    "-----Ursprüngliche Nachricht-----",
    "From: Bob <b@c.de>",
    "Von: a",
    "From: A <a@b.de>",
    "Ort:               Hauptstraße 1, 10115 Berlin",
    "Salon <a@b.de>:",
    "cancel",
    "",
    "",
    "Am 02.03.2026 um 10:00 schrieb",
]


@given(
    lines=st.lists(st.sampled_from(LINES), max_size=60),
    first=st.integers(min_value=1, max_value=30),
    keep_signature=st.booleans(),
)
@example(lines=ACROSS, first=1, keep_signature=False)
@settings(max_examples=3000, deadline=None)
def test_classifying_from_the_top_cuts_where_classifying_every_line_does(
    lines: list[str], first: int, keep_signature: bool
) -> None:
    """The new part is read from the first lines (then four times as many, …), stopping at a
    cut the lines below cannot move: always the part found by classifying every line."""
    whole = _new_part(lines, keep_signature=keep_signature, first=max(len(lines), 1))
    assert _new_part(lines, keep_signature=keep_signature, first=first) == whole
