"""mailflow behind a real Postfix (issue 21): outbound through it over STARTTLS with its own
certificate, to a customer's server and into a mailbox Postfix keeps itself (a Maildir),
replies handed over by LMTP, unknown reply keys refused while the customer's server is still
connected, and both kinds of refusal of a customer's address flagging the customer.

One Postfix (``tests/postfix.py``), one ``mailflow serve --roles smtp,worker`` and one aiosmtpd
standing in for the customers' mail servers serve the whole module; each test has its own
customer. The pipe path (``inbound feed`` run by Postfix as an unprivileged user, with the
database up, down and read-only) has a Postfix of its own in tests/e2e/test_postfix_pipe.py.
"""

from __future__ import annotations

import email
import email.policy
import grp
import json
import os
import pwd
import shutil
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import (
    SmtpSink,
    berlin,
    free_port,
    run_mailflow_subprocess,
    self_signed_certificate,
    wait_for_smtp,
)
from tests.postfix import PIPE_GROUP, PIPE_USER, Postfix

DOMAIN = "replies.test"
MAILBOXES = "mailbox.example.org"  # Postfix's own virtual mailboxes: Maildirs under the Postfix folder
CLIENT = "mx.customer.example.com"  # the customers' server, as it greets Postfix


@dataclass
class Stack:
    postfix: Postfix
    sink: SmtpSink
    env: dict[str, str]
    log: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_mailflow_subprocess(list(args), self.env, self.log.parent)

    def book(self, day: date, hour: int, customer: str) -> str:
        created = self.cli(
            "bookings", "create", "--service", "consultation", "--staff", "bob@contoso.example",
            "--customer-email", customer, "--customer-name", "Ada Lovelace", "--locale", "en",
            "--origin", "self_service", "--start", berlin(day, hour).isoformat(), "--json",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        return str(json.loads(created.stdout)["ref"])

    def received(self, recipient: str, kind: str, timeout: float = 30) -> EmailMessage:
        """The first email of ``kind`` the customers' server got for ``recipient`` through Postfix."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mail_from, rcpts, raw in list(self.sink.handler.messages):
                message = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                if recipient in rcpts and message["X-Mailflow-Kind"] == kind:
                    message["X-Test-Envelope-From"] = mail_from
                    return message
            time.sleep(0.2)
        raise AssertionError(f"no {kind} for {recipient} within {timeout} s\n{self.postfix.tail()}")

    def bouncing(self, address: str) -> bool:
        exported = json.loads(self.cli("customers", "export", address, "--json").stdout)
        return bool(exported["customers"][0]["bouncing"])

    def wait_bouncing(self, address: str, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.bouncing(address):
                return
            time.sleep(0.5)
        raise AssertionError(
            f"{address} not marked bouncing\n{self.postfix.tail()}\n{self.log.read_text()[-2000:]}"
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("postfix-stack")
    cert = self_signed_certificate(root, "mx.postfix.test")  # read by Postfix's smtpd as root
    sink = SmtpSink().start()
    sink.handler.refuse["ghost@customers.example.com"] = (
        "550 5.1.1 <ghost@customers.example.com>: Recipient address rejected"
    )
    lmtp_port = free_port()
    refusals = "{ nobody@customers.example.com = 550 5.1.1 <nobody@customers.example.com>: no such user }"
    postfix = Postfix(
        {
            "virtual_mailbox_domains": MAILBOXES,
            "virtual_mailbox_base": "{root}/mail",
            "virtual_mailbox_maps": f"inline:{{ ada@{MAILBOXES}={MAILBOXES}/ada/ }}",
            "virtual_uid_maps": f"static:{pwd.getpwnam(PIPE_USER).pw_uid}",
            "virtual_gid_maps": f"static:{grp.getgrnam(PIPE_GROUP).gr_gid}",
            "relay_domains": DOMAIN,
            "transport_maps": f"inline:{{ {DOMAIN}=lmtp:inet:127.0.0.1:{lmtp_port} }}",
            "relayhost": f"[127.0.0.1]:{sink.port}",
            # Replies to unknown keys are refused in the customer's own session (no backscatter):
            # Postfix asks mailflow's LMTP about each reply recipient first.
            "smtpd_recipient_restrictions": (
                f"check_recipient_access inline:{{ {refusals}, {DOMAIN}=reject_unverified_recipient }}, "
                "permit_mynetworks, reject_unauth_destination"
            ),
            "unverified_recipient_reject_code": "550",
            "address_verify_poll_delay": "1s",
            "smtpd_helo_required": "yes",
            "smtpd_helo_restrictions": "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname",
            "smtpd_tls_cert_file": str(cert),
            "smtpd_tls_key_file": str(cert.with_name("key.pem")),
            "smtpd_tls_security_level": "may",
        },
        services="virtual   unix  -  n  n  -  -  virtual\n",
    )
    mail = postfix.root / "mail"
    mail.mkdir()
    shutil.chown(mail, user=PIPE_USER, group=PIPE_GROUP)
    postfix.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update(
        {
            "MAILFLOW_DATA_DIR": str(root / "data"),
            "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
            "MAILFLOW_PUBLIC_URL": "https://book.contoso.test",
            "MAILFLOW_SMTP_BIND": f"127.0.0.1:{free_port()}",
            "MAILFLOW_LMTP_BIND": f"127.0.0.1:{lmtp_port}",
            # The relay's own self-signed certificate, trusted by file (issue 21, item 7).
            "MAILFLOW_OUTBOUND_URL": f"smtp://127.0.0.1:{postfix.port}?timeout=10&ca_file={cert}",
        }
    )
    log = root / "serve.log"
    handle = Stack(postfix, sink, env, log)
    server = None
    try:
        for args in (("db", "upgrade"), ("demo",)):
            done = handle.cli(*args)
            assert done.returncode == 0, done.stderr
        with log.open("w") as output:
            server = subprocess.Popen(
                [sys.executable, "-m", "mailflow", "serve", "--roles", "smtp,worker"],
                env=env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_smtp(lmtp_port, server, log, lmtp=True)
        yield handle
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        postfix.stop()
        sink.stop()


def test_outbound_through_postfix_and_a_reply_back_by_lmtp(stack: Stack, next_tuesday: date) -> None:
    """The confirmation leaves through Postfix (STARTTLS with its own certificate, EHLO with the
    public host's name, which Postfix insists be fully qualified); the customer's "cancel"
    reaches mailflow from Postfix by LMTP and cancels the booking."""
    ref = stack.book(next_tuesday, 10, "ada@customers.example.com")
    confirmation = stack.received("ada@customers.example.com", "confirmation")
    assert confirmation["X-Test-Envelope-From"].startswith("bounce+")
    # Postfix's own Received line: the EHLO name mailflow gave, and ESMTPS (STARTTLS was used).
    received = " ".join(str(confirmation["Received"]).split())
    assert received.startswith("from book.contoso.test (localhost [127.0.0.1])"), received
    assert "with ESMTPS" in received, received

    answer = EmailMessage()
    answer["From"] = "Ada Lovelace <ada@customers.example.com>"
    answer["To"] = str(confirmation["Reply-To"])
    answer["Subject"] = f"Re: {confirmation['Subject']}"
    answer["Message-ID"] = "<cancel-1@customers.example.com>"
    answer["In-Reply-To"] = str(confirmation["Message-ID"])
    answer.set_content("cancel\n\nAda\n")
    address = str(confirmation["Reply-To"].addresses[0].addr_spec)
    with smtplib.SMTP("127.0.0.1", stack.postfix.port, local_hostname=CLIENT, timeout=30) as client:
        assert client.sendmail("ada@customers.example.com", [address], answer.as_bytes()) == {}
    stack.received("ada@customers.example.com", "cancelled")
    shown = json.loads(stack.cli("bookings", "show", ref, "--json").stdout)
    assert shown["status"] == "cancelled"


def test_outbound_through_postfix_into_a_local_mailbox(stack: Stack, next_tuesday: date) -> None:
    """A customer whose mailbox Postfix itself keeps (a virtual domain, one Maildir each): the
    confirmation is delivered into that Maildir, whole, with its calendar part."""
    ref = stack.book(next_tuesday, 9, f"ada@{MAILBOXES}")
    maildir = stack.postfix.root / "mail" / MAILBOXES / "ada" / "new"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (maildir.is_dir() and any(maildir.iterdir())):
        time.sleep(0.2)
    delivered = sorted(maildir.iterdir()) if maildir.is_dir() else []
    assert len(delivered) == 1, stack.postfix.tail()
    message = email.message_from_bytes(delivered[0].read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["X-Mailflow-Kind"] == "confirmation"
    assert message["Delivered-To"] == f"ada@{MAILBOXES}"
    text = message.get_body(("plain",))
    assert text is not None and ref in text.get_content()
    assert any(part.get_content_type() == "text/calendar" for part in message.walk())


def test_an_unknown_reply_key_is_refused_in_the_customers_session(stack: Stack) -> None:
    """With reject_unverified_recipient, Postfix asks mailflow's LMTP first: a key we never issued
    is refused with 550 while the sender is connected, so nobody is sent a bounce afterwards."""
    unknown = f"reply+{'ab' * 12}@{DOMAIN}"
    deadline = time.monotonic() + 30
    code = 0
    while time.monotonic() < deadline:
        with smtplib.SMTP("127.0.0.1", stack.postfix.port, local_hostname=CLIENT, timeout=30) as client:
            client.ehlo()
            client.mail("max@customers.example.com")
            code, _ = client.rcpt(unknown)
        if code == 550:
            break
        assert code == 450, code  # the probe is still on its way
        time.sleep(1)
    assert code == 550, stack.postfix.tail()


def test_a_bounce_from_beyond_postfix_flags_the_customer(stack: Stack, next_tuesday: date) -> None:
    """The customers' server refuses ghost@ when Postfix relays the confirmation: Postfix sends its
    DSN to our signed return path, hands it over by LMTP, and mailflow marks ghost@ bouncing."""
    stack.book(next_tuesday, 11, "ghost@customers.example.com")
    stack.wait_bouncing("ghost@customers.example.com")


def test_postfixs_own_refusal_at_rcpt_flags_the_customer(stack: Stack, next_tuesday: date) -> None:
    """Postfix itself refuses nobody@ at RCPT (550 5.1.1): the dispatcher marks the email failed
    and the customer bouncing, exactly as the DSN path does (issue 21, item 6)."""
    stack.book(next_tuesday, 12, "nobody@customers.example.com")
    stack.wait_bouncing("nobody@customers.example.com")
    assert not stack.bouncing("ada@customers.example.com")
