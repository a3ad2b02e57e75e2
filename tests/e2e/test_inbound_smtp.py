"""Replies over SMTP and LMTP to a running `mailflow serve --roles smtp,worker`."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import berlin, free_port, run_mailflow_subprocess, self_signed_certificate, wait_for_smtp

DOMAIN = "replies.contoso.example"


@dataclass
class Server:
    smtp_port: int
    lmtp_port: int
    data_dir: Path
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_mailflow_subprocess(list(args), self.env, self.data_dir.parent)

    def outbox(self) -> list[EmailMessage]:
        box = mailbox.Maildir(self.data_dir / "outbox", factory=None, create=True)
        found = []
        for key in box.iterkeys():
            message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    def wait_for(self, kind: str, ref: str, timeout: float = 20) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.outbox():
                if message["X-Mailflow-Kind"] == kind and message["X-Mailflow-Booking"] == ref:
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no {kind} email for {ref} within {timeout} s")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory migrated and seeded with the demo once per module; each test's server
    starts from its own copy (two CLI runs fewer per test, the same isolation)."""
    data = tmp_path_factory.mktemp("seeded") / "data"
    env = {**clean_env(), "MAILFLOW_DATA_DIR": str(data), "MAILFLOW_INBOUND_DOMAIN": DOMAIN}
    handle = Server(0, 0, data, env)
    for args in (("db", "upgrade"), ("demo",)):
        done = handle.cli(*args)
        assert done.returncode == 0, done.stderr
    return data


@pytest.fixture
def server(tmp_path: Path, seeded: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    extra: dict[str, str] = getattr(request, "param", {})
    env = clean_env()
    smtp_port, lmtp_port = free_port(), free_port()
    env.update(
        {
            "MAILFLOW_DATA_DIR": str(tmp_path / "data"),
            "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
            "MAILFLOW_SMTP_BIND": f"127.0.0.1:{smtp_port}",
            "MAILFLOW_LMTP_BIND": f"127.0.0.1:{lmtp_port}",
            **{key: value.replace("{tmp}", str(tmp_path)) for key, value in extra.items()},
        }
    )
    if "MAILFLOW_SMTP_TLS_CERT" in extra:
        self_signed_certificate(tmp_path, DOMAIN)
    handle = Server(smtp_port, lmtp_port, tmp_path / "data", env)
    shutil.copytree(seeded, handle.data_dir)
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "serve", "--roles", "smtp,worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_smtp(smtp_port, process, tmp_path / "serve.log")
    yield handle
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    log.close()


def book(server: Server, day: date, hour: int) -> tuple[str, EmailMessage]:
    created = server.cli(
        "bookings", "create", "--service", "consultation", "--staff", "bob@contoso.example",
        "--customer-email", "max@example.de", "--customer-name", "Max Mustermann", "--locale", "de",
        "--origin", "self_service", "--start", berlin(day, hour).isoformat(), "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    ref = json.loads(created.stdout)["ref"]
    return ref, server.wait_for("confirmation", ref)


def reply(original: EmailMessage, text: str, message_id: str) -> tuple[str, bytes]:
    answer = EmailMessage()
    answer["From"] = "Max Mustermann <max@example.de>"
    answer["To"] = str(original["Reply-To"])
    answer["Subject"] = f"AW: {original['Subject']}"
    answer["Message-ID"] = message_id
    answer["In-Reply-To"] = str(original["Message-ID"])
    answer.set_content(f"{text}\n\n-----Ursprüngliche Nachricht-----\nVon: Contoso Salon\n\nIhr Termin …\n")
    return str(original["Reply-To"].addresses[0].addr_spec), answer.as_bytes()


def test_smtp_contract_and_a_german_cancel_reply(server: Server, next_tuesday: date) -> None:
    """Unknown key 550 5.1.1, foreign domain 550 5.7.1, too big 552; a "Stornieren" reply cancels."""
    ref, confirmation = book(server, next_tuesday, 10)
    address, raw = reply(confirmation, "Stornieren", "<stornieren-1@example.de>")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("mx.example.de")
        client.mail("max@example.de")
        code, text = client.rcpt(f"reply+{'ab' * 12}@{DOMAIN}")
        assert (code, text[:5]) == (550, b"5.1.1")
        code, text = client.rcpt("someone@elsewhere.example")
        assert (code, text[:5]) == (550, b"5.7.1")
        client.rset()
        with pytest.raises(smtplib.SMTPException) as too_big:
            client.sendmail("max@example.de", [address], raw + b"x" * (11 * 1024 * 1024))
        assert "552" in str(too_big.value)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        assert client.sendmail("max@example.de", [address], raw) == {}
    server.wait_for("cancelled", ref)
    shown = json.loads(server.cli("bookings", "show", ref, "--json").stdout)
    assert shown["status"] == "cancelled"


def test_fifty_concurrent_connections_lose_nothing(server: Server, next_tuesday: date) -> None:
    """50 clients at once, each with a free-text reply: all 50 are stored and reach staff."""
    ref, confirmation = book(server, next_tuesday, 11)
    errors: list[BaseException] = []

    def send(index: int) -> None:
        address, raw = reply(confirmation, f"Frage Nummer {index}", f"<frage-{index}@example.de>")
        try:
            with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
                client.sendmail("max@example.de", [address], raw)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    deadline = time.monotonic() + 30
    listed: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        listed = json.loads(server.cli("inbound", "list", "--limit", "200", "--json").stdout)
        if sum(1 for row in listed if row["status"] == "done") >= 50:
            break
        time.sleep(0.5)
    assert sum(1 for row in listed if row["status"] == "done" and row["booking"] == ref) == 50


def test_lmtp_answers_once_per_recipient(server: Server, next_tuesday: date) -> None:
    """Over LMTP a message for a known and an unknown key: the known one is taken, the other refused."""
    _, confirmation = book(server, next_tuesday, 12)
    address, raw = reply(confirmation, "Hallo", "<lmtp-1@example.de>")
    with smtplib.LMTP("127.0.0.1", server.lmtp_port, timeout=10) as client:
        client.ehlo_or_helo_if_needed()
        refused = client.sendmail("max@example.de", [address, f"reply+{'cd' * 12}@{DOMAIN}"], raw)
    assert list(refused) == [f"reply+{'cd' * 12}@{DOMAIN}"]
    assert refused[f"reply+{'cd' * 12}@{DOMAIN}"][0] == 550


NO_RELAYS = {"MAILFLOW_TRUSTED_RELAYS": ""}  # loopback is a client like any other


@pytest.mark.parametrize("server", [NO_RELAYS], indirect=True)
def test_connections_beyond_the_per_client_limit_get_421(server: Server) -> None:
    """With the limit at 50, the 51st simultaneous connection from one address is turned away."""
    clients = [smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) for _ in range(50)]
    try:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10)
        assert refused.value.smtp_code == 421
    finally:
        for client in clients:
            client.close()


TLS = {"MAILFLOW_SMTP_TLS_CERT": "{tmp}/cert.pem", "MAILFLOW_SMTP_TLS_KEY": "{tmp}/key.pem"}


@pytest.mark.parametrize("server", [TLS], indirect=True)
def test_starttls_is_offered_with_a_certificate(server: Server, next_tuesday: date) -> None:
    """With a certificate configured the server offers STARTTLS and takes a reply over TLS."""
    import ssl

    _, confirmation = book(server, next_tuesday, 13)
    address, raw = reply(confirmation, "Hallo über TLS", "<tls-1@example.de>")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a throwaway self-signed certificate
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=context)
        client.ehlo()
        assert client.sendmail("max@example.de", [address], raw) == {}


@pytest.mark.parametrize(
    "server",
    [
        {"MAILFLOW_SMTP_MESSAGES_PER_CLIENT_PER_MINUTE": "3", **NO_RELAYS},
        {"MAILFLOW_SMTP_MESSAGES_PER_CLIENT_PER_MINUTE": "3"},
    ],
    indirect=True,
    ids=["a client", "behind a trusted relay"],
)
def test_messages_beyond_the_per_client_rate_are_deferred(server: Server, next_tuesday: date) -> None:
    """With 3 messages a minute allowed, the fourth MAIL FROM of the same sender gets 451. From
    a client that is no relay, another sender is deferred too (the address is the client); from a
    trusted relay (loopback by default: an MTA in front, issue 21 item 10) the limit is per envelope
    sender, so another customer behind the same MTA still gets through, and the relay may hold more
    connections than one client may."""
    relay = "MAILFLOW_TRUSTED_RELAYS" not in server.env
    _, confirmation = book(server, next_tuesday, 14)
    address, raw = reply(confirmation, "Hallo", "<rate-1@example.de>")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        for _ in range(3):
            assert client.sendmail("max@example.de", [address], raw) == {}
        with pytest.raises(smtplib.SMTPSenderRefused) as deferred:
            client.sendmail("max@example.de", [address], raw)
        assert deferred.value.smtp_code == 451
        client.rset()
        if relay:
            assert client.sendmail("erika@example.de", [address], raw) == {}
        else:
            with pytest.raises(smtplib.SMTPSenderRefused):
                client.sendmail("erika@example.de", [address], raw)
    if relay:
        clients = [smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) for _ in range(60)]
        try:
            assert all(client.noop()[0] == 250 for client in clients)
        finally:
            for client in clients:
                client.close()


def test_french_annuler_reply_over_smtp_cancels_and_answers_in_french(
    server: Server, next_tuesday: date
) -> None:
    """French offered with ``business update --languages en,de,fr``: a French customer's "Annuler" cancels."""
    updated = server.cli("business", "update", "contoso", "--languages", "en,de,fr", "--json")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["locales"] == ["en", "de", "fr"]
    created = server.cli(
        "bookings", "create", "--service", "consultation", "--staff", "bob@contoso.example",
        "--customer-email", "camille@example.fr", "--customer-name", "Camille Martin", "--locale", "fr",
        "--origin", "self_service", "--start", berlin(next_tuesday, 12).isoformat(), "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    ref = json.loads(created.stdout)["ref"]
    confirmation = server.wait_for("confirmation", ref)
    assert str(confirmation["Subject"]).startswith("Confirmé\u00a0: ")

    answer = EmailMessage()
    answer["From"] = "Camille Martin <camille@example.fr>"
    answer["To"] = str(confirmation["Reply-To"])
    answer["Subject"] = f"RE\u00a0: {confirmation['Subject']}"
    answer["Message-ID"] = "<annuler-1@example.fr>"
    answer["In-Reply-To"] = str(confirmation["Message-ID"])
    answer.set_content(
        "Annuler\n\nCordialement,\nCamille\n\n-----Message d'origine-----\nDe : Contoso Salon\n"
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        address = str(confirmation["Reply-To"].addresses[0].addr_spec)
        assert client.sendmail("camille@example.fr", [address], answer.as_bytes()) == {}

    cancelled = server.wait_for("cancelled", ref)
    assert str(cancelled["Subject"]).startswith("Annulé à votre demande")
    shown = json.loads(server.cli("bookings", "show", ref, "--json").stdout)
    assert shown["status"] == "cancelled"


def forged_dsn(rcpt: str, failed: str) -> bytes:
    """The issue's forged bounce: a DSN-looking report naming ``failed``."""
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: {rcpt}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{failed.replace('@', '.')}-{rcpt[:20]}@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.example.net.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--b--\r\n"
    ).encode()


def book_for(server: Server, day: date, hour: int, email_address: str) -> tuple[str, EmailMessage]:
    created = server.cli(
        "bookings", "create", "--service", "consultation", "--staff", "bob@contoso.example",
        "--customer-email", email_address, "--customer-name", "Ada Lovelace",
        "--origin", "self_service", "--start", berlin(day, hour).isoformat(), "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    ref = json.loads(created.stdout)["ref"]
    return ref, server.wait_for("confirmation", ref)


def is_bouncing(server: Server, email_address: str) -> bool:
    exported = json.loads(server.cli("customers", "export", email_address, "--json").stdout)
    return bool(exported["customers"][0]["bouncing"])


def test_forged_bounce_is_refused_and_ada_keeps_receiving_mail(server: Server, next_tuesday: date) -> None:
    """MAIL FROM:<>, RCPT bounce+anything: 550; a signed return path of ours is taken; Ada is not marked."""
    _, confirmation = book_for(server, next_tuesday, 10, "ada@example.com")
    return_path = confirmation["Return-Path"].strip("<>")
    assert return_path.startswith("bounce+") and return_path.endswith(f"@{DOMAIN}")
    outbox_id, signature = return_path.split("@")[0].removeprefix("bounce+").split(".")
    forged = [
        f"bounce+anything@{DOMAIN}",
        f"bounce+{outbox_id}.{'a' * len(signature)}@{DOMAIN}",  # a real id, a made-up signature
        f"bounce+{int(outbox_id) + 1000}.{signature}@{DOMAIN}",  # a real signature, another id
        f"bounce+{outbox_id}@{DOMAIN}",  # unsigned
    ]
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("mx.example.net")
        for rcpt in forged:
            client.mail("<>")
            code, text = client.rcpt(rcpt)
            assert (rcpt, code, text[:5]) == (rcpt, 550, b"5.1.1")
            client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("<>", [forged[0]], forged_dsn(forged[0], "ada@example.com"))
    assert refused.value.recipients[forged[0]][0] == 550
    time.sleep(1.5)  # had the worker got anything, it would have acted by now
    assert not is_bouncing(server, "ada@example.com")
    ref, _ = book_for(server, next_tuesday, 11, "ada@example.com")  # Ada keeps receiving mail
    assert server.wait_for("confirmation", ref)["To"].addresses[0].addr_spec == "ada@example.com"


def test_bounce_at_a_signed_return_path_marks_that_recipient(server: Server, next_tuesday: date) -> None:
    """A real bounce at the return path of Max's confirmation marks Max, whatever address it names."""
    book_for(server, next_tuesday, 12, "ada@example.com")
    _, confirmation = book(server, next_tuesday, 13)
    return_path = confirmation["Return-Path"].strip("<>")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        assert client.sendmail("<>", [return_path], forged_dsn(return_path, "ada@example.com")) == {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not is_bouncing(server, "max@example.de"):
        time.sleep(0.2)
    assert is_bouncing(server, "max@example.de")
    assert not is_bouncing(server, "ada@example.com")


def test_cancel_from_two_addresses_does_not_cancel(server: Server, next_tuesday: date) -> None:
    """Issue 16, item 6: ``From: max@…, mallory@…`` + "Stornieren" reaches staff, cancels nothing."""
    ref, confirmation = book(server, next_tuesday, 15)
    address, raw = reply(confirmation, "Stornieren", "<two-froms-1@evil.example>")
    raw = raw.replace(
        b"From: Max Mustermann <max@example.de>", b"From: max@example.de, mallory@evil.example", 1
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        assert client.sendmail("mallory@evil.example", [address], raw) == {}
    server.wait_for("customer_message", ref)  # processed: handed to staff as an unverified message
    assert json.loads(server.cli("bookings", "show", ref, "--json").stdout)["status"] == "confirmed"


def test_postmaster_is_accepted_at_rcpt_and_reaches_the_admins(server: Server) -> None:
    """RFC 5321 4.5.1: RCPT TO:<postmaster@domain> (any case) and bare <Postmaster> get 250;
    the message reaches the demo admin as a "postmaster" email (issue 16, item 9)."""
    note = EmailMessage()
    note["From"] = "Abuse Desk <abuse@isp.example>"
    note["To"] = f"postmaster@{DOMAIN}"
    note["Subject"] = "Spam complaint"
    note["Message-ID"] = "<complaint-1@isp.example>"
    note.set_content("One of your messages was reported.\n")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("mx.isp.example")
        for rcpt in (f"PostMaster@{DOMAIN}", "Postmaster"):
            client.mail("abuse@isp.example")
            assert client.rcpt(rcpt)[0] == 250, rcpt
            client.rset()
        assert client.mail("abuse@isp.example")[0] == 250
        assert client.rcpt("postmaster@elsewhere.example")[0] == 550  # another domain's postmaster
        client.rset()
        assert client.sendmail("abuse@isp.example", [f"postmaster@{DOMAIN}"], note.as_bytes()) == {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [m for m in server.outbox() if m["X-Mailflow-Kind"] == "postmaster"]
        if found:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no postmaster email within 20 s")
    (copy,) = found
    assert copy["To"].addresses[0].addr_spec == "admin@contoso.example"
    assert str(copy["Subject"]) == f"Mail to postmaster@{DOMAIN}: Spam complaint"
