"""A real HTTP receiver for webhook tests: a threaded ``http.server`` on a free 127.0.0.1 port.

It records every request (headers and body bytes) and answers by plan: each request takes
the next ``(status, pause)`` of ``plan`` (a pause longer than the sender's timeout makes
it time out), then ``default`` once the plan is used up; a body holding a string of
``refuse_once`` is answered 500 (once per string).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, default: int = 200) -> None:
        self.default = default
        self.plan: list[tuple[int, float]] = []
        self.requests: list[Received] = []
        self.refuse_once: set[str] = set()
        """Bodies containing one of these strings are answered 500, each string once."""
        self.pause = 0.0
        """Seconds every request takes (to make two senders overlap)."""
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), data))
                    status, pause = receiver.plan.pop(0) if receiver.plan else (receiver.default, 0.0)
                    refused = {text for text in receiver.refuse_once if text.encode() in data}
                    if refused:
                        receiver.refuse_once -= refused
                        status = 500
                time.sleep(pause + receiver.pause)
                answer = b"" if status == 204 else json.dumps({"received": len(data)}).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the sender gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # several senders' connections at once are all accepted

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def types(self) -> list[str]:
        return [request.json()["type"] for request in self.requests]


def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
