"""Privacy guard over every test: no log line may carry an email address, a postcode or a client IP address.

Every record that reaches the root logger during a test (Django, Celery's in-process workers, our own code) is
kept and checked when the test ends; a test whose code logged personal data errors in its teardown. Addresses
the service itself sends from are allowed: they are no one's personal data.
"""

import logging
import re
from email.utils import parseaddr

import pytest

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Postcodes as the site stores and shows them: upper case, one space.
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}\b")
IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# At least three colons, or a "::": a time of day (12:34:56) is not an address.
IPV6 = re.compile(
    r"\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b|\b(?:[0-9a-fA-F]{1,4}:)+:[0-9a-fA-F]{1,4}\b"
)
#: The loopback address the test client and live server use; no signer signs from it in production.
NOT_PERSONAL_IPS = {"127.0.0.1", "0.0.0.0"}  # noqa: S104 - a string to compare, not a bind address


class _Keep(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.NOTSET)
        self.lines: list[str] = []

    def emit(self, record):
        try:
            line = record.getMessage()
        except Exception:  # noqa: BLE001 - a badly formatted record is still checked as best we can
            line = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            line += f" {record.exc_info[1]!r}"
        self.lines.append(f"{record.name}: {line}")


def personal_data_in(line: str, allowed_emails: set[str]) -> list[str]:
    found = [e for e in EMAIL.findall(line) if e.lower() not in allowed_emails]
    found += POSTCODE.findall(line)
    found += [ip for ip in IPV4.findall(line) if ip not in NOT_PERSONAL_IPS]
    found += IPV6.findall(line)
    return found


@pytest.fixture(autouse=True)
def _no_personal_data_in_logs(settings):
    handler = _Keep()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    allowed = {parseaddr(a)[1].lower() for a in (settings.DEFAULT_FROM_EMAIL, settings.SERVER_EMAIL)}
    allowed |= {"petitionscommittee@parliament.uk"}
    leaks = [(line, found) for line in handler.lines if (found := personal_data_in(line, allowed))]
    assert not leaks, f"personal data in log lines: {leaks[:5]}"
