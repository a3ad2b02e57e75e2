"""The IMAP poller: a mailbox elsewhere (Microsoft 365, Gmail, any IMAP host) feeds the pipeline.

Runs in its own thread (imapclient blocks), never in the event loop. Each
round: log in, take the unseen messages of the folder, store each raw (the
pipeline de-duplicates by Message-ID, so a crash between storing and moving
costs nothing), then move it to ``mailflow/processed`` (created when missing;
marked seen where MOVE is not offered). Between rounds it waits in IDLE when
the server offers it (re-issued well before servers drop idle clients), else it
polls. Connection and login failures back off exponentially and are reported
through ``status`` (shown by ``/readyz``), never retried in a tight loop.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailflow.config import ImapAccount
from mailflow.services.inbound_store import store_raw

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("mailflow.imap")

PROCESSED = ("mailflow", "processed")
IDLE_SECONDS = 25 * 60  # RFC 2177: servers may drop an idle client after 30 minutes
POLL_SECONDS = 30.0
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


class ImapPoller:
    """Polls one mailbox until ``stop`` is set, storing what it takes through ``engine``;
    ``status`` says how it is doing."""

    def __init__(
        self, engine: Engine, account: ImapAccount, *, on_stored: Callable[[], None] | None = None
    ) -> None:
        self.engine = engine
        self.account = account
        self.on_stored = on_stored
        self.status = "starting"
        self.stop = threading.Event()
        self.stored = 0
        self._client: IMAPClient | None = None

    # --- one connection ------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        context = ssl.create_default_context() if self.account.ssl else None
        client = IMAPClient(self.account.host, port=self.account.port, ssl=self.account.ssl,
                            ssl_context=context, timeout=30)  # fmt: skip
        client.login(self.account.username, self.account.password)
        return client

    def _processed_folder(self, client: IMAPClient) -> str:
        delimiter = "/"
        for _flags, found_delimiter, _name in client.list_folders(directory="", pattern="%"):
            if found_delimiter:
                delimiter = (
                    found_delimiter.decode() if isinstance(found_delimiter, bytes) else str(found_delimiter)
                )
                break
        name = delimiter.join(PROCESSED)
        if not client.folder_exists(name):
            if not client.folder_exists(PROCESSED[0]):
                client.create_folder(PROCESSED[0])
            client.create_folder(name)
        return name

    def take_new(self, client: IMAPClient, processed: str) -> int:
        """Store every unseen message and move it out of the way; returns how many."""
        client.select_folder(self.account.folder)
        _arrived(client)  # the SELECT's own count: what this round's search covers
        uids = client.search("UNSEEN")
        taken = 0
        for uid in uids:
            fetched: dict[Any, Any] = client.fetch([uid], ["BODY.PEEK[]"])
            data = fetched.get(uid, {}).get(b"BODY[]")
            if not isinstance(data, bytes):
                continue
            store_raw(self.engine, data, envelope_from="", envelope_rcpt="", now=datetime.now(UTC))
            taken += 1
            if client.has_capability("MOVE"):
                client.move([uid], processed)
            else:
                client.add_flags([uid], [b"\\Seen"])
        if taken:
            self.stored += taken
            log.info("imap: stored %d new message(s) from %s", taken, self.account.folder)
            if self.on_stored is not None:
                self.on_stored()
        return taken

    def _wait_for_news(self, client: IMAPClient) -> None:
        if not client.has_capability("IDLE"):
            self.stop.wait(POLL_SECONDS)
            return
        client.idle()
        try:
            deadline = time.monotonic() + IDLE_SECONDS
            while not self.stop.is_set() and time.monotonic() < deadline:
                if client.idle_check(timeout=1):
                    return
        finally:
            client.idle_done()

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Poll until ``stop`` is set, reconnecting with backoff."""
        backoff = BACKOFF_FIRST
        while not self.stop.is_set():
            client = None
            try:
                client = self._connect()
                self._client = client
                processed = self._processed_folder(client)
                self.status = "ok"
                backoff = BACKOFF_FIRST
                while not self.stop.is_set():
                    # Until a round finds nothing and nothing arrived meanwhile: the server tells
                    # of mail that came during a round (EXISTS) then, and never again in IDLE.
                    while (self.take_new(client, processed) or _arrived(client)) and not self.stop.is_set():
                        pass
                    self._wait_for_news(client)
            except LoginError as exc:
                self.status = f"cannot log in to {self.account.host} as {self.account.username}: {exc}"
                log.error("imap: %s (next try in %.0f s)", self.status, backoff)
            except (IMAPClientError, OSError, ssl.SSLError) as exc:
                self.status = f"cannot reach {self.account.host}:{self.account.port}: {exc}"
                log.warning("imap: %s (next try in %.0f s)", self.status, backoff)
            finally:
                self._client = None
                if client is not None:
                    try:
                        client.logout()
                    except Exception:  # the connection may already be gone
                        log.debug("imap: logout failed", exc_info=True)
            self.stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="mailflow-imap", daemon=True)
        thread.start()
        return thread


def _arrived(client: IMAPClient) -> bool:
    """Whether the server announced new mail (``* n EXISTS``) since the last call.

    Such an announcement can come with any command's answer: one that came with the UNSEEN
    search's (a message delivered while the search ran, so not in its result) is not repeated
    in IDLE, and the message would wait for the next IDLE cycle (25 minutes). imapclient keeps
    these answers in imaplib's ``untagged_responses``; each call takes them out.
    """
    return bool(client._imap.untagged_responses.pop("EXISTS", None))
