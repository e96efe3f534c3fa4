"""Browser tests: Playwright drives Debian's Chromium against a live server, mail goes to a real SMTP server,
and Celery tasks run on a real worker (in a thread of this process, on the configured broker)."""

import email
import email.policy
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from celery.contrib.testing import tasks as _testing_tasks  # noqa: F401 - registers celery.ping
from celery.contrib.testing.worker import start_worker

from config.celery import app as celery_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            if not os.path.exists(CHROMIUM):
                item.add_marker(
                    pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
                )


@pytest.fixture(autouse=True, scope="session")
def _allow_orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread; Django's ORM must still be usable from tests."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class Mailbox:
    """Messages received by the SMTP server, parsed."""

    messages: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)

    def wait_for(self, *, to: str, subject_contains: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for message in self.messages:
                    if to in message["To"] and subject_contains in message["Subject"]:
                        return message
            time.sleep(0.2)
        subjects = [(m["To"], m["Subject"]) for m in self.messages]
        raise AssertionError(f"no email to {to!r} with {subject_contains!r}; got {subjects}")

    @staticmethod
    def body(message) -> str:
        part = message.get_body(preferencelist=("plain",))
        return part.get_content()

    @classmethod
    def link(cls, message, pattern: str) -> str:
        match = re.search(pattern, cls.body(message))
        assert match, f"no link matching {pattern!r} in:\n{cls.body(message)}"
        return match.group(0)


class _Handler:
    def __init__(self, mailbox):
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.mailbox.handle(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(_Handler(mailbox), hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server, settings):
    """A real SMTP server on localhost; Django sends to it over SMTP."""
    controller, box = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    with box.lock:
        box.messages.clear()
    return box


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker consuming the configured broker (Redis in CI)."""
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    finally:
        celery_app.conf.task_always_eager = True


@pytest.fixture(autouse=True)
def reference_data(transactional_db):
    """Transactional tests empty the database after each test, so reload the geography before each one."""
    from petitions.services import reference_data_load

    reference_data_load()


@pytest.fixture(autouse=True)
def browser_address_allowed(reference_data):
    """Everyone in a journey signs from this one browser on the loopback address: allow-list it, or the rate
    limits would rightly take the fifth supporter within a minute for a bot. (tests/conftest.py already
    switches the time-to-fill check off: Playwright fills a form in well under a second.)"""
    from petitions.models import SigningListEntry
    from petitions.services import signing_rules_clear

    for address in ("127.0.0.1", "::1"):
        SigningListEntry.objects.get_or_create(
            action="allow", kind="ip", value=address, defaults={"note": "Browser tests"}
        )
    signing_rules_clear()


@pytest.fixture
def site_url(live_server, settings):
    settings.SITE_URL = live_server.url
    return live_server.url
