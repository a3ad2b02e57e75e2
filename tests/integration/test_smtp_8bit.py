"""A forward carrying the customer's original in 8-bit text is announced as such to the relay."""

from __future__ import annotations

import asyncio
from typing import Any

from mailflow.outbound.transports import Outgoing, SmtpTransport
from tests.conftest import free_port


class OptionsHandler:
    """An aiosmtpd handler that keeps each message's MAIL FROM options and bytes."""

    def __init__(self) -> None:
        self.got: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.got.append((list(envelope.mail_options), bytes(envelope.original_content)))
        return "250 OK"


def test_eight_bit_messages_are_sent_with_body_8bitmime_and_arrive_intact() -> None:
    from aiosmtpd.controller import Controller

    handler = OptionsHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        transport = SmtpTransport("127.0.0.1", port, False, False, None, None, timeout=5)
        eight_bit = "Subject: Hund\r\n\r\nGrüße aus München\r\n".encode()
        seven_bit = b"Subject: Dog\r\n\r\nHello\r\n"
        results = asyncio.run(
            transport.send_batch(
                [Outgoing("b@x.example", "bob@contoso.example", data) for data in (eight_bit, seven_bit)]
            )
        )
    finally:
        controller.stop()
    assert [result.ok for result in results] == [True, True]
    (options_8, data_8), (options_7, data_7) = handler.got
    assert "BODY=8BITMIME" in options_8 and data_8 == eight_bit
    assert not any(option.startswith("BODY=") for option in options_7) and data_7 == seven_bit
