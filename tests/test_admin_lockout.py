"""Admin brute-force protection (django-axes): five failures lock a username out from one address for 30
minutes; the lockout page is the same whether the username exists or not; X-Forwarded-For sent by the
client is ignored unless our own proxies are configured."""

import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from petitions.client_ip import client_ip_address

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
LOCKOUT_TEXT = "Too many failed attempts to log in"


@pytest.fixture
def staff(db):
    return User.objects.create_user("editor", password="correct horse battery", is_staff=True)


def attempt(client, username, password="wrong password", **headers):  # noqa: S107
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **headers)


def fail(client, username, times, **headers):
    return [attempt(client, username, **headers) for _ in range(times)]


def _normalised(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def test_settings_are_the_agreed_ones(settings):
    assert settings.AXES_ENABLED is True  # the real thing runs in the test suite
    assert settings.AXES_FAILURE_LIMIT == 5
    cooloff = settings.AXES_COOLOFF_TIME
    assert cooloff == timedelta(minutes=30)
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_RESET_ON_SUCCESS is True
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


def test_five_failures_lock_the_username_out(client, staff):
    responses = fail(client, "editor", 4)
    assert [r.status_code for r in responses] == [200] * 4
    assert "Please enter the correct username and password" in responses[-1].content.decode()

    locked = attempt(client, "editor")
    assert locked.status_code == 429
    assert LOCKOUT_TEXT in locked.content.decode()
    assert "30 minutes" in locked.content.decode()

    # Even the right password is refused now, and nobody is logged in.
    right = attempt(client, "editor", password="correct horse battery")
    assert right.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_lockout_ends_after_30_minutes(client, staff):
    fail(client, "editor", 5)
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        response = attempt(client, "editor", password="correct horse battery")
        assert response.status_code == 302
        assert client.get(reverse("admin:index")).status_code == 200


def test_the_lockout_page_does_not_reveal_whether_the_user_exists(client, staff):
    existing = fail(client, "editor", 5)[-1]
    missing = fail(client, "nobody-by-this-name", 5)[-1]
    assert existing.status_code == missing.status_code == 429
    assert _normalised(existing) == _normalised(missing)
    assert "editor" not in existing.content.decode()
    assert "nobody-by-this-name" not in missing.content.decode()

    # Before the lockout, a wrong password and an unknown user get the same answer too.
    client.cookies.clear()
    wrong_password = attempt(client, "editor", REMOTE_ADDR="10.0.0.9")
    unknown_user = attempt(client, "someone-else", REMOTE_ADDR="10.0.0.9")
    assert wrong_password.status_code == unknown_user.status_code == 200
    assert _normalised(wrong_password).replace("editor", "X") == _normalised(unknown_user).replace(
        "someone-else", "X"
    )


def test_a_success_resets_the_count(client, staff):
    fail(client, "editor", 4)
    assert attempt(client, "editor", password="correct horse battery").status_code == 302
    client.logout()
    fail(client, "editor", 4)
    assert attempt(client, "editor", password="correct horse battery").status_code == 302


def test_the_lockout_is_per_username_and_address(client, staff):
    fail(client, "editor", 5)
    other_address = attempt(client, "editor", password="correct horse battery", REMOTE_ADDR="192.0.2.50")
    assert other_address.status_code == 302  # a different address is not locked out


def test_a_spoofed_x_forwarded_for_is_ignored(client, staff):
    for n in range(4):
        assert attempt(client, "editor", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 200
    locked = attempt(client, "editor", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert locked.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}

    right = attempt(client, "editor", password="correct horse battery", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert right.status_code == 429


def test_client_ip_behind_trusted_proxies(settings):
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_ip_address(request) == "10.0.0.2"  # no trusted proxy: the header is ignored

    settings.TRUSTED_PROXY_COUNT = 1  # a load balancer appends the address it saw
    assert client_ip_address(request) == "203.0.113.9"
    settings.TRUSTED_PROXY_COUNT = 2  # a CDN, then the load balancer
    assert client_ip_address(request) == "6.6.6.6"
    settings.TRUSTED_PROXY_COUNT = 3  # fewer entries than proxies: not through our proxies
    assert client_ip_address(request) == "10.0.0.2"

    settings.TRUSTED_PROXY_COUNT = 1
    garbage = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip_address(garbage) == "10.0.0.2"


def test_lockout_behind_a_trusted_proxy_uses_the_forwarded_address(client, staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(5):
        # The attacker's own X-Forwarded-For entry changes each time; the proxy's entry does not.
        attempt(client, "editor", HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 198.51.100.7", REMOTE_ADDR="10.0.0.2")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
    blocked = attempt(client, "editor", password="correct horse battery", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert blocked.status_code == 429
    elsewhere = attempt(
        client, "editor", password="correct horse battery", HTTP_X_FORWARDED_FOR="198.51.100.9"
    )
    assert elsewhere.status_code == 302


def test_force_login_still_works_for_tests(client, staff):
    client.force_login(staff)
    assert client.get(reverse("admin:index")).status_code == 200
