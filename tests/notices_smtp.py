"""A real SMTP server (aiosmtpd) on localhost for the bulk email integration tests, counting what each recipient
receives. (tests/e2e/conftest.py has the browser tests' own; this one keeps envelopes, for exactly-once counts.)"""

import email
import email.policy
import logging
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)  # (envelope recipient, parsed message)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, envelope) -> None:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.extend((rcpt, message) for rcpt in envelope.rcpt_tos)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def per_recipient(self) -> Counter:
        with self.lock:
            return Counter(rcpt for rcpt, _ in self.messages)

    def message_ids(self, rcpt: str) -> list[str]:
        with self.lock:
            return [message["Message-ID"] for to, message in self.messages if to == rcpt]

    def wait_for_count(self, count: int, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= count:
                return True
            time.sleep(0.05)
        return False


class _Handler:
    def __init__(self, mailbox):
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.mailbox.handle(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smtp_server_start() -> tuple[Controller, Mailbox]:
    # aiosmtpd logs every envelope's addresses at INFO: the server stands in for the outside world, whose logs
    # are not the service's (tests/privacy_plugin.py checks the service's).
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    mailbox = Mailbox()
    controller = Controller(_Handler(mailbox), hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, mailbox
