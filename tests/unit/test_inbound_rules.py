"""The inbound rules: what a message is, which rule said so, and what a bounce tells us."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from mailflow.inbound.parse import parse_message
from mailflow.inbound.reports import bounce_info
from mailflow.inbound.rules import (
    BOUNCE,
    DISCARD,
    HELD,
    RULES,
    Classification,
    RuleContext,
    classify,
)
from mailflow.outbound.compose import Address, Envelope, compose, new_message_id, thread_id
from mailflow.outbound.render import RenderedEmail

DOMAIN = "mailflow.localhost"
CTX = RuleContext(our_addresses=frozenset({"hello@contoso.example"}), inbound_domain=DOMAIN)
OUR_ID = "<20260301120000.abc@mailflow.localhost>"


def mail(body: str = "Hello", **headers: str) -> bytes:
    """A message from a customer to a reply address; keyword headers (``Auto_Submitted``) add to it."""
    message = EmailMessage()
    message["From"] = headers.pop("From", "Ada Lovelace <ada@example.com>")
    message["To"] = headers.pop("To", f"reply+k3y@{DOMAIN}")
    message["Subject"] = headers.pop("Subject", "Re: Your booking is confirmed")
    message["Message-ID"] = headers.pop("Message_ID", "<reply-1@example.com>")
    message["Date"] = "Sun, 01 Mar 2026 12:00:00 +0000"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def judge(raw: bytes, ctx: RuleContext = CTX) -> Classification:
    return classify(parse_message(raw), ctx)


def rules_of(result: Classification) -> list[str]:
    return [verdict.rule for verdict in result.verdicts]


def our_email(kind: str = "confirmation", ref: str = "BK-7Q2M9X") -> bytes:
    """A real customer email as mailflow composes it."""
    envelope = Envelope(
        sender=Address("hello@contoso.example", "Contoso Salon"),
        to=Address("ada@example.com", "Ada Lovelace"),
        message_id=new_message_id(DOMAIN),
        date=datetime(2026, 3, 1, 12, tzinfo=UTC),
        kind=kind,
        reply_to=Address(f"reply+abc123@{DOMAIN}", "Contoso Salon"),
        thread_id=thread_id(ref, DOMAIN),
        booking_ref=ref,
    )
    return compose(envelope, RenderedEmail(subject="Your booking", html="<p>Hi</p>", text="Hi\n"))


def dsn(
    action: str = "failed",
    status: str = "5.1.1",
    recipient: str = "ada@example.com",
    original: bytes | None = None,
    to: str = f"bounce+bk-7q2m9x@{DOMAIN}",
) -> bytes:
    """An RFC 3464 delivery-status notification, as Postfix sends it."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.com (Mail Delivery System)"
    report["To"] = to
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Return-Path"] = "<>"
    report["Auto-Submitted"] = "auto-replied"
    report.attach(MIMEText("This is the mail system at host mx.example.com.\n\nI'm sorry ...\n"))
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.com"
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = f"smtp; 550 {status} <{recipient}>: Recipient address rejected"
    status_part = MIMEBase("message", "delivery-status")
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    report.attach(MIMEMessage(message_from_bytes(original or our_email())))
    return report.as_bytes()


# --- replies -----------------------------------------------------------------------


def test_customer_reply_is_a_reply_with_no_verdict() -> None:
    """A normal reply (Re: subject, quoted text, In-Reply-To) is a reply and nothing blocks it."""
    raw = mail(
        "cancel please\n\nOn Sun, 1 Mar 2026 Contoso Salon wrote:\n> Your booking is confirmed.\n",
        In_Reply_To=OUR_ID,
        References=OUR_ID,
    )
    result = judge(raw)
    assert result.kind == "reply"
    assert result.verdicts == []
    assert result.may_act


def test_reply_quoting_a_bounce_text_stays_a_reply() -> None:
    """Quoted lines never count as the message's own words."""
    raw = mail(
        "What does this mean?\n\n> This message was created automatically by mail delivery software.\n"
    )
    assert judge(raw).kind == "reply"


@pytest.mark.parametrize("subject", ["Absence next week, please cancel", "Vacation plans: can we move it?"])
def test_subjects_a_person_writes_are_not_auto_replies(subject: str) -> None:
    """ "Absence" or "Vacation" opening a sentence is a person writing, not a label."""
    assert judge(mail(Subject=subject)).kind == "reply"


def test_auto_submitted_no_is_a_person() -> None:
    """``Auto-Submitted: no`` is what a person's message may say."""
    assert judge(mail(Auto_Submitted="no")).kind == "reply"


def test_message_without_sender_is_unknown() -> None:
    """Nothing says who wrote it: no verdict, but no action either."""
    result = judge(b"Subject: hi\r\n\r\nhello\r\n")
    assert result.kind == "unknown"
    assert not result.may_act


# --- auto-replies ------------------------------------------------------------------


def test_german_vacation_notice_is_an_auto_reply() -> None:
    """Outlook's German out-of-office: subject and Auto-Submitted both say so."""
    raw = mail(
        "Ich bin bis zum 10. März nicht im Büro.",
        Subject="Automatische Antwort: Ihr Termin ist bestätigt",
        Auto_Submitted="auto-replied",
    )
    result = judge(raw)
    assert result.kind == "auto_reply"
    assert {"auto_submitted", "auto_reply_subject"} <= set(rules_of(result))
    assert all(v.verdict == DISCARD for v in result.verdicts)


def test_german_abwesenheitsnotiz_by_subject_alone() -> None:
    """A German notice without any header is still caught by its subject."""
    assert rules_of(judge(mail("Bin im Urlaub.", Subject="Abwesenheitsnotiz: Ihr Termin"))) == [
        "auto_reply_subject"
    ]


def test_english_out_of_office_is_an_auto_reply() -> None:
    """An English out-of-office notice from Exchange."""
    raw = mail(
        "I am out of the office until Monday.",
        Subject="Out of Office: Your booking is confirmed",
        X_MS_Exchange_Inbox_Rules_Loop="ada@example.com",
    )
    result = judge(raw)
    assert result.kind == "auto_reply"
    assert {"auto_reply_subject", "exchange_generated"} <= set(rules_of(result))


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Your booking",
        "Auto Reply: Your booking",
        "Autoreply: Your booking",
        "Réponse automatique : Votre rendez-vous",
        "Absence: Your booking",
        "Vacation reply",
        "Abwesend: Ihr Termin",
        "[EXT] Out of office: Your booking",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    """Common auto-reply subjects in several languages."""
    assert rules_of(judge(mail(Subject=subject))) == ["auto_reply_subject"]


@pytest.mark.parametrize(
    ("header", "value", "rule"),
    [
        ("Auto-Submitted", "auto-replied", "auto_submitted"),
        ("Auto-Submitted", "auto-generated", "auto_submitted"),
        ("X-Autoreply", "yes", "autoreply_header"),
        ("X-Autorespond", "Out of office", "autoreply_header"),
        ("X-Auto-Reply", "yes", "autoreply_header"),
        ("X-Autoresponder", "vacation", "autoreply_header"),
        ("Precedence", "bulk", "precedence"),
        ("Precedence", "junk", "precedence"),
        ("Precedence", "auto_reply", "precedence"),
        ("X-Precedence", "bulk", "precedence"),
        ("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent", "exchange_generated"),
        ("X-Apple-Action", "VACATION", "apple_vacation"),
        ("Return-Path", "<>", "null_return_path"),
    ],
)
def test_auto_reply_headers(header: str, value: str, rule: str) -> None:
    """Each auto-reply header is caught by its own named rule, with a discard verdict."""
    result = judge(mail(**{header.replace("-", "_"): value}))
    assert result.kind == "auto_reply"
    assert rules_of(result) == [rule]
    assert result.verdicts[0].verdict == DISCARD


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.com",
        "postmaster@example.com",
        "noreply@example.com",
        "no-reply@example.com",
        "do-not-reply@example.com",
    ],
)
def test_machine_senders_are_auto_replies(sender: str) -> None:
    """Mail from daemons and no-reply addresses never gets an answer."""
    result = judge(mail(From=sender))
    assert result.kind == "auto_reply"
    assert "machine_address" in rules_of(result)


@pytest.mark.parametrize(("header", "value"), [("List-Id", "<news.example.com>"), ("Precedence", "list")])
def test_list_mail_is_held(header: str, value: str) -> None:
    """List mail is kept for staff with a verdict that says it is list mail."""
    result = judge(mail(**{header.replace("-", "_"): value}))
    assert result.kind == "auto_reply"
    (verdict,) = result.verdicts
    assert (verdict.rule, verdict.verdict) == ("list_mail", HELD)
    assert "list" in verdict.detail


def test_mail_to_our_return_path_is_never_a_reply() -> None:
    """Only machines write to ``bounce+…@``; a message there with no other sign is still not a reply."""
    result = judge(mail(To=f"bounce+bk-7q2m9x@{DOMAIN}"))
    assert result.kind == "auto_reply"
    assert rules_of(result) == ["return_path_recipient"]


# --- loops -------------------------------------------------------------------------


def test_our_own_email_fed_back_is_a_loop() -> None:
    """A confirmation we composed, delivered to ourselves, is a loop (not an auto-reply)."""
    result = judge(our_email())
    assert result.kind == "loop"
    assert {"loop_from_us", "loop_our_headers"} <= set(rules_of(result))


def test_our_headers_alone_make_a_loop() -> None:
    """Even without knowing our sender addresses, X-Mailflow-Kind gives us away."""
    result = judge(our_email(), RuleContext(inbound_domain=DOMAIN))
    assert result.kind == "loop"
    assert "loop_our_headers" in rules_of(result)


@pytest.mark.parametrize("sender", [f"reply+abc@{DOMAIN}", f"Bounce+BK-1@{DOMAIN.upper()}"])
def test_mail_from_our_reply_and_bounce_addresses_is_a_loop(sender: str) -> None:
    """From one of our ``reply+``/``bounce+`` addresses means it came from us."""
    result = judge(mail(From=sender))
    assert result.kind == "loop"
    assert rules_of(result) == ["loop_from_us"]


# --- bounces -------------------------------------------------------------------------


def test_dsn_bounce_of_our_email() -> None:
    """An RFC 3464 report: the failed customer, the status, and which email of which booking."""
    original = our_email(kind="reminder", ref="BK-7Q2M9X")
    result = judge(dsn(original=original))
    assert result.kind == "bounce"
    assert "delivery_status_report" in rules_of(result)
    assert all(v.verdict in {BOUNCE, DISCARD} for v in result.verdicts)
    info = result.bounce
    assert info is not None
    assert info.recipients == ["ada@example.com"]
    assert info.status == "5.1.1"
    assert info.permanent and info.action == "failed"
    assert info.diagnostic is not None and "Recipient address rejected" in info.diagnostic
    assert info.original_kind == "reminder"
    assert info.original_booking == "BK-7Q2M9X"
    assert info.original_message_id == parse_message(original).message_id
    assert info.return_path_key == "bk-7q2m9x"


def test_delayed_dsn_is_temporary() -> None:
    """Action delayed with a 4.x.x status is a temporary failure."""
    info = bounce_info(parse_message(dsn(action="delayed", status="4.4.1")))
    assert info is not None
    assert not info.permanent and info.temporary
    assert info.status == "4.4.1"


def test_exim_text_bounce() -> None:
    """Exim's plain-text bounce, with the original copied inline after its marker."""
    original = our_email(kind="confirmation", ref="BK-AAAA22").decode()
    body = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  ada@example.com\n"
        "    SMTP error from remote mail server after RCPT TO:<ada@example.com>:\n"
        "    host mx.example.com [192.0.2.1]: 550 5.1.1 User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n" + original
    )
    raw = mail(
        body, From="Mail Delivery System <Mailer-Daemon@mx.example.org>", Subject="Mail delivery failed"
    )
    result = judge(raw)
    assert result.kind == "bounce"
    assert "bounce_text" in rules_of(result)
    info = result.bounce
    assert info is not None
    assert info.recipients == ["ada@example.com"]
    assert info.status == "5.1.1" and info.permanent
    assert (info.original_kind, info.original_booking) == ("confirmation", "BK-AAAA22")


def test_qmail_text_bounce() -> None:
    """qmail's bounce names the failed address as ``<address>:``."""
    body = (
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<ada@example.com>:\n192.0.2.1 does not like recipient.\n"
        "Remote host said: 550 5.1.1 no such user\n"
    )
    result = judge(mail(body, From="MAILER-DAEMON@mx.example.net", Subject="failure notice"))
    assert result.kind == "bounce"
    assert result.bounce is not None and result.bounce.recipients == ["ada@example.com"]


def test_gmail_delay_notice_is_a_temporary_bounce() -> None:
    """Gmail's "(Delay)" notice is a bounce, but a temporary one."""
    body = (
        "This is an automatically generated Delivery Status Notification\n\n"
        "THIS IS A WARNING MESSAGE ONLY.\n\n"
        "Delivery to the following recipient has been delayed:\n\n     ada@example.com\n\n"
        "Message will be retried for 2 more day(s)\n"
    )
    raw = mail(
        body,
        From="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        Subject="Delivery Status Notification (Delay)",
    )
    result = judge(raw)
    assert result.kind == "bounce"
    assert result.bounce is not None
    assert result.bounce.recipients == ["ada@example.com"]
    assert result.bounce.temporary


def test_failed_recipients_header_is_a_bounce() -> None:
    """Exim's X-Failed-Recipients names the address even when the text says little."""
    raw = mail("Sorry.", From="mailer-daemon@mx.example.org", X_Failed_Recipients="ada@example.com")
    result = judge(raw)
    assert result.kind == "bounce"
    assert result.bounce is not None and result.bounce.recipients == ["ada@example.com"]


def test_bounce_subject_needs_a_machine_sender() -> None:
    """A person writing "Undeliverable" in a subject is still a person."""
    assert (
        judge(mail("Your letter was undeliverable, call me", Subject="Undeliverable letter")).kind == "reply"
    )


def test_bounce_wins_over_auto_reply_signs() -> None:
    """A DSN also has ``<>`` and a daemon sender; it is recorded as such but classified as a bounce."""
    result = judge(dsn())
    assert result.kind == "bounce"
    assert {"null_return_path", "machine_address", "delivery_status_report"} <= set(rules_of(result))


def test_return_path_key_from_envelope_recipient() -> None:
    """The RCPT TO of the notification gives the key when no header names it."""
    info = bounce_info(
        parse_message(dsn(to="someone@example.org")),
        inbound_domain=DOMAIN,
        envelope_recipients=[f"bounce+bk-zzzz99@{DOMAIN}"],
    )
    assert info is not None and info.return_path_key == "bk-zzzz99"


def test_bounce_info_of_a_reply_is_empty_handed() -> None:
    """A reply has no failed recipients to report."""
    info = bounce_info(parse_message(mail("Thanks!")))
    assert info is None or info.recipients == []


# --- feedback reports ------------------------------------------------------------------


def test_arf_feedback_report() -> None:
    """An abuse report (RFC 5965) is a feedback report, never a reply."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "Abuse Desk <abuse@mail.example.net>"
    report["To"] = "hello@contoso.example"
    report["Subject"] = "FW: Your booking"
    report.attach(MIMEText("This is an email abuse report for an email message received.\n"))
    feedback = MIMEBase("message", "feedback-report")
    feedback.set_payload("Feedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n")
    report.attach(feedback)
    result = judge(report.as_bytes())
    assert result.kind == "feedback_report"
    assert "feedback_report" in rules_of(result)


# --- machine mail that still looks human (issue 16, item 11) ----------------------------


def plain(headers: str, body: str) -> bytes:
    """A plain-text message exactly as written: headers (one a line), a blank line, the body."""
    head = "\r\n".join(line.strip() for line in headers.strip().splitlines())
    return f"{head}\r\n\r\n{body}".replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode()


def test_small_mta_plain_text_bounce_from_mailer_daemon_without_address() -> None:
    """``From: MAILER-DAEMON <>``, "Mail delivery failed", no DSN part: a bounce naming the address."""
    raw = plain(
        f"""From: MAILER-DAEMON <>
        To: reply+k3y@{DOMAIN}
        Subject: Mail delivery failed
        Message-ID: <smallmta-1@mx.tiny.example>""",
        "Your message could not be delivered to the following address:\n\n"
        "    ada@example.com\n    mailbox is full\n",
    )
    result = judge(raw)
    assert result.kind == "bounce" and not result.may_act
    assert "machine_from" in rules_of(result)
    assert result.bounce is not None and "ada@example.com" in result.bounce.recipients


def test_a_mail_system_display_name_is_a_machine_sender() -> None:
    """A mail system's display name makes a failure subject a bounce even from an ordinary address."""
    raw = mail(
        "Sorry, ada@example.com does not exist here.",
        From="Mail Delivery Subsystem <mx-notify@tiny.example>",
        Subject="Delivery failed: Your booking is confirmed",
    )
    result = judge(raw)
    assert result.kind == "bounce"
    assert {"machine_from", "bounce_subject"} <= set(rules_of(result))


@pytest.mark.parametrize(
    ("sender", "subject", "body"),
    [
        (
            "Email Feedback <scomp@aol.example>",
            "Email Feedback Report for IP 192.0.2.7",
            "This is an email abuse report for an email message received from IP 192.0.2.7.",
        ),
        (
            "abuse@isp.example",
            "Complaint about message from 192.0.2.7",
            "A user of ours marked the message below as spam.",
        ),
        (
            "reports@fbl.example",
            "FW: Your booking is confirmed",
            "Feedback-Type: abuse\nUser-Agent: SomeFBL/1.0\nVersion: 1\n\nThe original message follows.",
        ),
    ],
)
def test_abuse_report_without_its_feedback_part(sender: str, subject: str, body: str) -> None:
    """An abuse report whose message/feedback-report part is missing is still a feedback report."""
    result = judge(mail(body, From=sender, Subject=subject))
    assert result.kind == "feedback_report" and not result.may_act
    assert "feedback_text" in rules_of(result)


@pytest.mark.parametrize(
    ("sender", "subject", "body"),
    [
        (
            "Majordomo@lists.example.org",
            "Majordomo results: cancel",
            ">>>> cancel\n**** Command 'cancel' not recognized.",
        ),
        (
            "dev-request@lists.example.org",
            "The results of your email commands",
            "cancel\n    Command not recognized",
        ),
        (
            "dev-bounces@lists.example.org",
            "Your message to dev@lists.example.org awaits moderator approval",
            "Your mail to 'dev' with the subject cancel is being held until the moderator can review it.",
        ),
        ("LISTSERV@LISTS.EXAMPLE.EDU", "Re: cancel", 'Unknown command - "CANCEL". Try HELP.'),
    ],
)
def test_mailing_list_manager_errors_are_machine_mail(sender: str, subject: str, body: str) -> None:
    """Errors of Majordomo, Mailman and LISTSERV (often quoting "cancel") never act."""
    result = judge(mail(body, From=sender, Subject=subject))
    assert result.kind == "auto_reply" and not result.may_act
    assert "list_manager" in rules_of(result)


def test_people_are_not_taken_for_list_managers_or_abuse_desks() -> None:
    """A customer whose address merely ends in -owner, or who complains, is still a person."""
    assert judge(mail("cancel", From="Salon Owner <salon-owner@example.com>")).kind == "reply"
    assert judge(mail("I have a complaint about my last visit.", Subject="Complaint report")).kind == "reply"
    assert judge(mail("Mailbox full? ada@example.com works", Subject="Re: delivery")).kind == "reply"


# --- the rule list ---------------------------------------------------------------------


def test_rule_names_are_unique_and_grouped_in_pipeline_order() -> None:
    """Rules run loop → auto-reply → bounce → feedback, each with a distinct name."""
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    order = ["loop", "auto_reply", "bounce", "feedback_report"]
    kinds = [rule.kind for rule in RULES]
    assert kinds == sorted(kinds, key=order.index)


def test_crashing_rule_is_recorded_and_blocks_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule that raises is kept as an ``error`` verdict; the message is not treated as a reply."""
    from mailflow.inbound import rules as rules_module

    def explode(parsed: object, ctx: object) -> str | None:
        raise RuntimeError("boom")

    broken = rules_module.Rule("auto_submitted", "auto_reply", DISCARD, explode)
    monkeypatch.setattr(rules_module, "RULES", (broken, *rules_module.RULES[1:]))
    result = judge(mail())
    assert result.kind == "auto_reply"
    assert result.verdicts[0].verdict == "error"
