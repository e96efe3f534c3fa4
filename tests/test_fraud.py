"""Fraud on signing: allow and block lists, rate limits, the honeypot and the time-to-fill, and the shadow ban
(a fraudulent signature looks exactly like a good one to its owner, and is never confirmed or counted)."""

import re
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.core import mail
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from petitions.canonical import email_domain_rules_cached
from petitions.forms import SignatureForm, current_country, form_fill_seconds, form_shown_stamp
from petitions.groups import MODERATORS, SYSADMINS, staff_groups_ensure
from petitions.models import (
    AuditLog,
    Country,
    FraudReason,
    PetitionState,
    RateLimit,
    Signature,
    SignatureState,
    SigningListEntry,
    SiteSettings,
    TrendingItem,
)
from petitions.services import (
    FormSignals,
    fraud,
    petition_create,
    reference_data_load,
    signature_create,
    signatures_tally,
    signing_rules,
    signing_rules_clear,
)
from petitions.services.fraud import DomainSet, signing_list_value_clean

from .factories import OpenPetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

GOOD_IP = "198.51.100.7"
HUMAN = FormSignals(honeypot=False, fill_seconds=30.0)
SIGNER = {
    "uk_citizenship": "on",
    "name": "Grace Hopper",
    "email": "grace@example.org",
    "email_confirmation": "grace@example.org",
    "country": "GB",
    "postcode": "M1 1AE",
}

needs_postgres = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite serialises writers with IMMEDIATE transactions; the advisory locks need PostgreSQL.",
)


@pytest.fixture(autouse=True)
def limits():
    """The shipped defaults (tests/conftest.py switches the time-to-fill off for the other test files)."""
    RateLimit.objects.update_or_create(pk=1, defaults={"minimum_fill_seconds": 2})
    signing_rules_clear()
    return set_limits


def set_limits(**changes):
    RateLimit.objects.filter(pk=1).update(**changes)
    signing_rules_clear()


def listed(action, kind, value):
    entry = SigningListEntry.objects.create(action=action, kind=kind, value=value)
    signing_rules_clear()
    return entry


@pytest.fixture
def petition():
    return OpenPetitionFactory(
        action="Protect hedgehogs from garden strimmers", deadline_at=timezone.now() + timedelta(days=90)
    )


def create(petition, *, email="grace@example.org", name="Grace Hopper", ip=GOOD_IP, signals=HUMAN,
           postcode="M1 1AE", **kw):  # fmt: skip
    return signature_create(
        petition=petition,
        name=name,
        email=email,
        country=Country.objects.get(code="GB"),
        postcode=postcode,
        constituency=None,
        notify_by_email=False,
        ip_address=ip,
        signals=signals,
        **kw,
    )


def reason_of(signature) -> str:
    signature.refresh_from_db()
    return signature.fraud_reason if signature.state == SignatureState.FRAUDULENT else "pending"


def sign_url(petition) -> str:
    return f"/petitions/{petition.pk}/signatures/new"


def post_sign(client, petition, *, ip=GOOD_IP, shown_ago=10.0, captured=None, extra=None, **headers):
    data = {**SIGNER, **(extra or {})}
    if shown_ago is not None:
        data["shown_at"] = form_shown_stamp(time.time() - shown_ago)
    if captured is None:
        return client.post(sign_url(petition), data, REMOTE_ADDR=ip, **headers)
    with captured(execute=True):
        return client.post(sign_url(petition), data, REMOTE_ADDR=ip, **headers)


def last_signature() -> Signature:
    return Signature.objects.order_by("-pk").first()


def html(response) -> str:
    return response.content.decode()


def main(response) -> str:
    return html(response).split('id="main-content"')[1]


# --- The allow and block lists ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "ip", "email", "expected"),
    [
        ("ip", "198.51.100.7", "198.51.100.7", "a@example.org", FraudReason.BLOCKED_IP),
        ("ip", "198.51.100.7", "198.51.100.8", "a@example.org", "pending"),
        ("ip", "198.51.100.0/24", "198.51.100.200", "a@example.org", FraudReason.BLOCKED_IP),
        ("ip", "198.51.100.0/24", "198.51.101.1", "a@example.org", "pending"),
        ("ip", "2001:db8::/32", "2001:db8:1::5", "a@example.org", FraudReason.BLOCKED_IP),
        ("ip", "2001:db8::/32", "2001:db9::5", "a@example.org", "pending"),
        ("ip", "2001:db8::5", "2001:db8::5", "a@example.org", FraudReason.BLOCKED_IP),
        ("ip", "198.51.100.0/24", "::ffff:198.51.100.9", "a@example.org", FraudReason.BLOCKED_IP),
        # Blocked in every spelling: compared with the canonical address.
        ("email", "grace.hopper@gmail.com", GOOD_IP, "Grace.Hopper+x@googlemail.com", FraudReason.BLOCKED_EMAIL),
        ("email", "grace.hopper@gmail.com", GOOD_IP, "grace.hopper2@gmail.com", "pending"),
        ("domain", "example.net", GOOD_IP, "a@EXAMPLE.net", FraudReason.BLOCKED_DOMAIN),
        ("domain", "example.net", GOOD_IP, "a@mail.example.net", "pending"),
        ("domain", "*.example.net", GOOD_IP, "a@mail.example.net", FraudReason.BLOCKED_DOMAIN),
        ("domain", "*.example.net", GOOD_IP, "a@example.net", "pending"),
        ("domain", "*.example.net", GOOD_IP, "a@x.mail.example.net", "pending"),
        ("domain", "**.example.net", GOOD_IP, "a@mail.example.net", FraudReason.BLOCKED_DOMAIN),
        ("domain", "**.example.net", GOOD_IP, "a@x.mail.example.net", FraudReason.BLOCKED_DOMAIN),
        ("domain", "**.example.net", GOOD_IP, "a@example.net", "pending"),
        ("domain", "**.example.net", GOOD_IP, "a@notexample.net", "pending"),
    ],
)  # fmt: skip
def test_block_lists(petition, kind, value, ip, email, expected):
    listed("block", kind, value)
    signature = create(petition, email=email, ip=ip)
    assert reason_of(signature) == expected
    assert signature.email_domain == signature.canonical_email.rpartition("@")[2]


def test_domain_globs():
    domains = DomainSet(["example.com", "*.one.example", "**.any.example"])
    assert "example.com" in domains and "www.example.com" not in domains
    assert "a.one.example" in domains and "one.example" not in domains and "b.a.one.example" not in domains
    assert "a.any.example" in domains and "c.b.a.any.example" in domains and "any.example" not in domains
    assert "" not in domains and "xany.example" not in domains


def test_precedence(petition, limits):
    """Blocked IP, then blocked email, then blocked domain, then honeypot, then too fast, then the rates."""
    limits(burst_rate=1, sustained_rate=1)
    entries = [
        listed("block", "ip", "203.0.113.0/24"),
        listed("block", "email", "bot@spam.example"),
        listed("block", "domain", "spam.example"),
    ]
    expected = [
        FraudReason.BLOCKED_IP,
        FraudReason.BLOCKED_EMAIL,
        FraudReason.BLOCKED_DOMAIN,
        FraudReason.HONEYPOT,
        FraudReason.TOO_FAST,
        FraudReason.IP_BURST,
    ]
    signals = FormSignals(honeypot=True, fill_seconds=0.5)
    for n, reason in enumerate(expected):
        # A fresh petition each time, with one earlier signature from the IP (over the burst rate of 1).
        other = OpenPetitionFactory(deadline_at=timezone.now() + timedelta(days=90))
        create(other, email=f"earlier{n}@example.org", ip="203.0.113.5", signals=HUMAN)
        signature = create(other, email="bot@spam.example", ip="203.0.113.5", signals=signals)
        assert reason_of(signature) == reason, n
        if entries:
            entries.pop(0).delete()
            signing_rules_clear()
        elif signals.honeypot:
            signals = FormSignals(honeypot=False, fill_seconds=0.5)
        else:
            signals = HUMAN


def test_allowed_ip_is_exempt_from_every_rate_limit_but_not_from_the_block_lists(petition, limits):
    limits(burst_rate=1, sustained_rate=1, domain_rate=1)
    listed("allow", "ip", "192.0.2.0/28")
    for n in range(4):
        assert reason_of(create(petition, email=f"s{n}@corp.example", ip="192.0.2.3")) == "pending"
    listed("block", "domain", "corp.example")
    assert reason_of(create(petition, email="s9@corp.example", ip="192.0.2.3")) == FraudReason.BLOCKED_DOMAIN
    listed("block", "ip", "192.0.2.3")
    assert reason_of(create(petition, email="t@example.org", ip="192.0.2.3")) == FraudReason.BLOCKED_IP


def test_allowed_domain_is_exempt_from_the_domain_limit_only(petition, limits):
    limits(burst_rate=2, sustained_rate=2, domain_rate=1)
    listed("allow", "domain", "**.school.example")
    assert reason_of(create(petition, email="a@pupils.school.example", ip="192.0.2.1")) == "pending"
    assert reason_of(create(petition, email="b@pupils.school.example", ip="192.0.2.2")) == "pending"
    assert reason_of(create(petition, email="c@pupils.school.example", ip="192.0.2.1")) == "pending"
    # The IP limit still applies: a third from 192.0.2.1.
    assert (
        reason_of(create(petition, email="d@pupils.school.example", ip="192.0.2.1")) == FraudReason.IP_BURST
    )
    # A domain not on the list gets its limit.
    assert reason_of(create(petition, email="a@other.example", ip="192.0.2.5")) == "pending"
    assert reason_of(create(petition, email="b@other.example", ip="192.0.2.6")) == FraudReason.DOMAIN_RATE


def test_the_seeded_webmail_domains_are_allowed(petition, limits):
    limits(domain_rate=1)
    assert SigningListEntry.objects.filter(action="allow", kind="domain", value="gmail.com").exists()
    for n in range(3):
        assert reason_of(create(petition, email=f"person{n}@gmail.com", ip=f"192.0.2.{n}")) == "pending"


# --- Rate limits -----------------------------------------------------------------------------------------


def test_burst_and_sustained_windows(petition, limits):
    limits(burst_rate=2, burst_period=60, sustained_rate=3, sustained_period=600)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        results = []
        for n, seconds in enumerate([0, 1, 2, 120, 700]):
            traveller.move_to(start + timedelta(seconds=seconds))
            results.append(reason_of(create(petition, email=f"s{n}@example.org")))
    # 0 s and 1 s pass; at 2 s two are within the minute; at 120 s none is within the minute but three (the
    # fraudulent one too: every state counts) within ten minutes; at 700 s only the one from 120 s is.
    assert results == ["pending", "pending", FraudReason.IP_BURST, FraudReason.IP_SUSTAINED, "pending"]


def test_the_limits_are_per_petition_and_per_ip(petition, limits):
    limits(burst_rate=1, sustained_rate=1)
    other = OpenPetitionFactory(deadline_at=timezone.now() + timedelta(days=90))
    assert reason_of(create(petition, email="a@example.org")) == "pending"
    assert reason_of(create(other, email="b@example.org")) == "pending"
    assert reason_of(create(petition, email="c@example.org", ip="198.51.100.8")) == "pending"
    assert reason_of(create(petition, email="d@example.org")) == FraudReason.IP_BURST


def test_domain_rate_window(petition, limits):
    limits(domain_rate=2, domain_period=300)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        results = []
        for n, seconds in enumerate([0, 10, 20, 311]):
            traveller.move_to(start + timedelta(seconds=seconds))
            results.append(reason_of(create(petition, email=f"s{n}@corp.example", ip=f"192.0.2.{n}")))
    assert results == ["pending", "pending", FraudReason.DOMAIN_RATE, "pending"]


def test_switching_the_limits_off_keeps_the_block_lists(petition, limits):
    limits(enabled=False, burst_rate=1, sustained_rate=1, domain_rate=1)
    for n in range(3):
        assert reason_of(create(petition, email=f"s{n}@corp.example")) == "pending"
    listed("block", "ip", GOOD_IP)
    assert reason_of(create(petition, email="t@corp.example")) == FraudReason.BLOCKED_IP


def test_signatures_without_an_ip_address_skip_the_ip_checks(petition, limits):
    limits(burst_rate=1, sustained_rate=1)
    for n in range(3):
        assert reason_of(create(petition, email=f"s{n}@example.org", ip=None)) == "pending"


def test_duplicate_rules_come_first(petition, limits, django_capture_on_commit_callbacks):
    limits(burst_rate=1, sustained_rate=1)
    with django_capture_on_commit_callbacks(execute=True):
        first = create(petition)
        listed("block", "ip", GOOD_IP)
        # The same person again, now from a blocked IP: no row, and their pending link is sent again.
        assert create(petition) is None
    assert Signature.objects.count() == 1 and reason_of(first) == "pending"
    assert [m.subject for m in mail.outbox] == ["Please confirm your email address"] * 2


def test_a_repeat_of_a_fraudulent_signing_gets_the_confirmation_again_like_a_pending_one(
    petition, django_capture_on_commit_callbacks
):
    listed("block", "domain", "spam.example")
    with django_capture_on_commit_callbacks(execute=True):
        first = create(petition, email="bot@spam.example")
        assert create(petition, email="bot@spam.example") is None
    assert reason_of(first) == FraudReason.BLOCKED_DOMAIN
    assert len(mail.outbox) == 2 and mail.outbox[0].body == mail.outbox[1].body


# --- The honeypot and the time-to-fill -------------------------------------------------------------------


def test_the_form_carries_a_hidden_honeypot_and_a_signed_timestamp(client, petition):
    page = html(client.get(sign_url(petition)))
    honeypot = re.search(r'<div class="app-honeypot" hidden aria-hidden="true">(.*?)</div>', page, re.S)
    assert honeypot, page
    assert '<input type="text" name="website"' in honeypot.group(1)
    assert 'tabindex="-1"' in honeypot.group(1) and 'autocomplete="off"' in honeypot.group(1)
    assert 'class="govuk-input' not in honeypot.group(1)
    stamp = re.search(r'<input type="hidden" name="shown_at" value="([^"]+)"', page).group(1)
    assert 0 <= form_fill_seconds(stamp) < 5
    assert "website" not in re.sub(r'<div class="app-honeypot".*?</div>', "", page, flags=re.S)


def test_the_sponsor_form_has_them_too():
    petition = petition_create(
        action="Plant more trees", background="Trees are good.", additional_details="", name="Ada Lovelace",
        email="ada@example.com", country=Country.objects.get(code="GB"), postcode="SW1A 1AA",
        constituency=None, ip_address="192.0.2.99",
    )  # fmt: skip
    page = html(Client().get(f"/petitions/{petition.pk}/sponsors/new?token={petition.sponsor_token}"))
    assert 'name="website"' in page and 'name="shown_at"' in page


def test_timestamps():
    now = time.time()
    assert form_fill_seconds(form_shown_stamp(now - 7), now=now) == pytest.approx(7, abs=1)
    stamp = form_shown_stamp(now)
    value, stamped, signature = stamp.split(":")
    assert (
        form_fill_seconds(f"{value}:{stamped[:-1]}{'A' if stamped[-1] != 'A' else 'B'}:{signature}") is None
    )
    assert form_fill_seconds("") is None and form_fill_seconds("nonsense") is None
    assert form_fill_seconds(stamp.replace("shown", "other")) is None


@pytest.mark.parametrize(
    ("shown_ago", "minimum", "tamper", "expected"),
    [
        (10, 2, False, "pending"),
        (3, 2, False, "pending"),
        (1, 2, False, FraudReason.TOO_FAST),
        (None, 2, False, FraudReason.TOO_FAST),  # no timestamp
        (10, 2, True, FraudReason.TOO_FAST),  # a timestamp made to look older
        (None, 0, False, "pending"),  # 0 switches the check off
    ],
)
def test_time_to_fill(client, petition, limits, shown_ago, minimum, tamper, expected):
    limits(minimum_fill_seconds=minimum)
    extra = {}
    if tamper:
        value, _, signature = form_shown_stamp().split(":")
        extra["shown_at"] = f"{value}:{form_shown_stamp(time.time() - 60).split(':')[1]}:{signature}"
        shown_ago = None
    # The clock stands still, so a slow machine cannot turn "shown 1 s ago" into 2 s by the time it is checked.
    with time_machine.travel(time.time(), tick=False):
        response = post_sign(client, petition, shown_ago=shown_ago, extra=extra)
    assert response.status_code == 302
    assert reason_of(last_signature()) == expected


def test_the_honeypot(client, petition):
    response = post_sign(client, petition, extra={"website": "https://cheap-pills.example"})
    assert response.status_code == 302
    assert reason_of(last_signature()) == FraudReason.HONEYPOT
    post_sign(
        client,
        petition,
        extra={"website": "  ", "email": "b@example.org", "email_confirmation": "b@example.org"},
    )
    assert reason_of(last_signature()) == "pending"


def test_a_form_shown_again_with_errors_keeps_its_first_timestamp(client, petition):
    stamp = form_shown_stamp(time.time() - 30)
    response = client.post(sign_url(petition), {**SIGNER, "postcode": "", "shown_at": stamp})
    assert f'name="shown_at" value="{stamp}"' in html(response)
    form = SignatureForm({**SIGNER, "shown_at": stamp})
    assert form.is_valid(), form.errors
    assert form.signer_details()["signals"].fill_seconds == pytest.approx(30, abs=2)


# --- The client's IP address ------------------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, petition, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    listed("block", "ip", "203.0.113.9")
    post_sign(client, petition, ip="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.9")
    signature = last_signature()
    assert signature.ip_address == "192.0.2.10" and reason_of(signature) == "pending"


def test_x_forwarded_for_from_a_trusted_proxy_is_used(client, petition, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    listed("block", "ip", "203.0.113.9")
    post_sign(client, petition, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    signature = last_signature()
    assert signature.ip_address == "203.0.113.9" and reason_of(signature) == FraudReason.BLOCKED_IP
    # An entry the client wrote itself, to the left of our proxy's, is not believed.
    extra = {"email": "b@example.org", "email_confirmation": "b@example.org"}
    post_sign(client, petition, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 192.0.2.44", extra=extra)
    signature = last_signature()
    assert signature.ip_address == "192.0.2.44" and reason_of(signature) == "pending"


# --- The shadow ban ---------------------------------------------------------------------------------------


def _scrub(text: str, signature: Signature) -> str:
    for secret in (signature.confirm_token, signature.unsubscribe_token):
        text = text.replace(secret, "TOKEN")
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", text)
    text = re.sub(r' nonce="[^"]*"', "", text)  # the CSP nonce is new on every response
    return re.sub(rf"/signatures/{signature.pk}/", "/signatures/ID/", text)


def test_a_fraudulent_signing_looks_exactly_like_a_good_one(petition, django_capture_on_commit_callbacks):
    listed("block", "ip", "203.0.113.0/24")
    seen = []
    for ip, email in [("192.0.2.1", "good@example.org"), ("203.0.113.1", "bad@example.org")]:
        client = Client()
        response = post_sign(client, petition, ip=ip, captured=django_capture_on_commit_callbacks,
                             extra={"email": email, "email_confirmation": email})  # fmt: skip
        thanks = client.get(response["Location"])
        [message] = [m for m in mail.outbox if m.to == [email]]
        signature = Signature.objects.get(email=email)
        seen.append(
            (
                response.status_code,
                response["Location"],
                thanks.status_code,
                re.sub(rb' nonce="[^"]*"', b"", thanks.content),  # the CSP nonce is new on every response
                message.subject,
                _scrub(message.body, signature),
                signature.email_count,
            )
        )
    assert seen[0] == seen[1]
    assert reason_of(Signature.objects.get(email="good@example.org")) == "pending"
    assert reason_of(Signature.objects.get(email="bad@example.org")) == FraudReason.BLOCKED_IP


def test_a_fraudulent_signature_can_be_confirmed_but_never_counts(
    petition, django_capture_on_commit_callbacks
):
    listed("block", "domain", "spam.example")
    pages = {}
    for email in ("good@example.org", "bot@spam.example"):
        signature = create(petition, email=email)
        client = Client()
        url = f"/signatures/{signature.pk}/confirm?token={signature.confirm_token}"
        before = client.get(url)
        with django_capture_on_commit_callbacks(execute=True):
            posted = client.post(f"/signatures/{signature.pk}/confirm", {"token": signature.confirm_token})
        after = client.get(posted["Location"])
        again = Client().get(url)  # another browser, too: the press is remembered on the row, not in a cookie
        pages[email] = [(r.status_code, _scrub(main(r), signature)) for r in (before, after, again)] + [
            (posted.status_code, _scrub(posted["Location"], signature))
        ]
    assert pages["good@example.org"] == pages["bot@spam.example"]
    assert "Confirm your signature" in pages["good@example.org"][0][1]
    assert "We've added your signature" in pages["good@example.org"][1][1]

    bot = Signature.objects.get(email="bot@spam.example")
    # The press is remembered (so the pages look confirmed everywhere), the state never changes.
    assert bot.state == SignatureState.FRAUDULENT and bot.validated_at is not None
    signatures_tally()
    petition.refresh_from_db()
    assert petition.signature_count == 1
    bot.refresh_from_db()
    assert bot.counted_at is None and bot.state == SignatureState.FRAUDULENT


def test_a_fraudulent_supporter_never_moves_the_petition_on(client, django_capture_on_commit_callbacks):
    petition = petition_create(
        action="Plant more trees", background="Trees are good.", additional_details="", name="Ada Lovelace",
        email="ada@example.com", country=Country.objects.get(code="GB"), postcode="SW1A 1AA",
        constituency=None, ip_address="192.0.2.99",
    )  # fmt: skip
    client.get(f"/petitions/{petition.pk}/sponsors/new?token={petition.sponsor_token}")
    ValidatedSignatureFactory.create_batch(4, petition=petition, sponsor=True)
    data = {**SIGNER, "shown_at": form_shown_stamp(time.time() - 10), "website": "spam"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/petitions/{petition.pk}/sponsors/new?token={petition.sponsor_token}", data, REMOTE_ADDR=GOOD_IP
        )
    assert response["Location"].startswith(f"/petitions/{petition.pk}/sponsors/thank-you")
    sponsor = Signature.objects.get(email="grace@example.org")
    assert sponsor.sponsor and reason_of(sponsor) == FraudReason.HONEYPOT
    [message] = [m for m in mail.outbox if m.to == ["grace@example.org"]]
    assert "confirm your support" in message.body
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/signatures/{sponsor.pk}/confirm", {"token": sponsor.confirm_token})
    petition.refresh_from_db()
    assert petition.state == PetitionState.VALIDATED
    assert reason_of(sponsor) == FraudReason.HONEYPOT


def test_sponsors_share_the_signers_duplicate_rules(client, django_capture_on_commit_callbacks):
    """Merged with signing: one more person in the household may support from the same address, no one else."""
    petition = petition_create(
        action="Plant more trees", background="Trees are good.", additional_details="", name="Ada Lovelace",
        email="ada@example.com", country=Country.objects.get(code="GB"), postcode="SW1A 1AA",
        constituency=None, ip_address="192.0.2.99",
    )  # fmt: skip
    for n, (name, postcode) in enumerate([("Grace Hopper", "M1 1AE"), ("Vincent Hopper", "M1 1AE"),
                                         ("Walter Hopper", "M1 1AE"), ("Other Person", "SW1A 1AA")]):  # fmt: skip
        create(petition, name=name, email="hoppers@example.org", ip=f"192.0.2.{n}", postcode=postcode,
               sponsor=True)  # fmt: skip
    assert sorted(Signature.objects.filter(sponsor=True).values_list("name", flat=True)) == [
        "Grace Hopper",
        "Vincent Hopper",
    ]


# --- The rules cache -----------------------------------------------------------------------------------


def test_list_changes_take_effect_within_the_cache_lifetime(petition, monkeypatch):
    monkeypatch.setattr(fraud, "SIGNING_RULES_TTL", 1.0)
    signing_rules()  # cached now
    SigningListEntry.objects.create(action="block", kind="ip", value=GOOD_IP)
    assert reason_of(create(petition, email="a@example.org")) == "pending"
    time.sleep(1.1)
    assert reason_of(create(petition, email="b@example.org")) == FraudReason.BLOCKED_IP


def test_the_cached_rules_cost_no_query(django_assert_num_queries):
    signing_rules()
    with django_assert_num_queries(0):
        signing_rules()
    signing_rules_clear()
    with django_assert_num_queries(2):  # the lists and the limits (no blocked emails: no domain rules)
        signing_rules()


# --- Query counts ---------------------------------------------------------------------------------------

#: A signing through the form, with the rules, the site settings, the email domain rules and the reference data
#: cached: the petition, the transaction's savepoint, [PostgreSQL: the advisory locks], the address's earlier
#: signatures, the IP rate count, the insert in its savepoint, and the releases.
SIGN_QUERIES = 8 + (connection.vendor == "postgresql")


@pytest.mark.parametrize(
    ("email", "extra"),
    [
        ("grace@gmail.com", 0),  # an allow-listed domain: no domain count
        ("grace@example.org", 1),  # the domain rate count
    ],
)
def test_signing_queries(
    client, petition, django_assert_num_queries, django_capture_on_commit_callbacks, email, extra
):
    SiteSettings.cached()  # made on first use
    signing_rules()
    email_domain_rules_cached()
    current_country("GB")  # the reference data
    data = {"email": email, "email_confirmation": email}
    with django_assert_num_queries(SIGN_QUERIES + extra):
        assert post_sign(client, petition, extra=data).status_code == 302
    # An over-limit signing costs no more than a good one.
    set_limits(burst_rate=1, sustained_rate=1)
    signing_rules()
    data = {"email": f"2{email}", "email_confirmation": f"2{email}"}
    with django_assert_num_queries(SIGN_QUERIES):  # the domain is not counted once the IP is over
        assert post_sign(client, petition, extra=data).status_code == 302
    assert reason_of(last_signature()) == FraudReason.IP_BURST
    # Caught by a rule that needs no count: no rate count either.
    data = {"email": f"3{email}", "email_confirmation": f"3{email}", "website": "x"}
    with django_assert_num_queries(SIGN_QUERIES - 1):
        assert post_sign(client, petition, extra=data).status_code == 302
    assert reason_of(last_signature()) == FraudReason.HONEYPOT


# --- Concurrency (PostgreSQL) ------------------------------------------------------------------------------


@pytest.fixture
def reference_data_restored(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        reference_data_load()


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_signings_from_one_ip_leave_exactly_the_burst_rate_good(reference_data_restored, mailoutbox):
    reference_data_load()
    RateLimit.objects.update_or_create(
        pk=1, defaults={"burst_rate": 3, "sustained_rate": 10, "minimum_fill_seconds": 0}
    )
    signing_rules_clear()
    petition = OpenPetitionFactory(deadline_at=timezone.now() + timedelta(days=90))
    n = 12
    start = threading.Barrier(n)
    errors: list[BaseException] = []
    statuses: list[int] = []

    def run(i):
        try:
            client = Client()
            data = {**SIGNER, "name": f"Signer {i}", "email": f"s{i}@example.org",
                    "email_confirmation": f"s{i}@example.org"}  # fmt: skip
            start.wait(timeout=20)
            statuses.append(client.post(sign_url(petition), data, REMOTE_ADDR="192.0.2.77").status_code)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == [] and statuses == [302] * n
    rows = Signature.objects.filter(petition=petition)
    assert rows.count() == n
    assert rows.filter(state=SignatureState.PENDING).count() == 3
    assert rows.filter(state=SignatureState.FRAUDULENT, fraud_reason=FraudReason.IP_BURST).count() == n - 3


# --- The admin ------------------------------------------------------------------------------------------


@pytest.fixture
def staff(client):
    def login(group):
        staff_groups_ensure()
        user = User.objects.create_user(group.lower(), password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
        return user

    return login


ADMIN_PAGES = [
    "/admin/petitions/ratelimit/",
    "/admin/petitions/ratelimit/1/change/",
    "/admin/petitions/signinglistentry/",
    "/admin/petitions/signinglistentry/add/",
    "/admin/petitions/trendingitem/",
]


def test_moderators_cannot_see_the_fraud_pages(client, staff):
    staff(MODERATORS)
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 403, url
    entry = listed("block", "ip", "203.0.113.1")
    assert client.get(f"/admin/petitions/signinglistentry/{entry.pk}/change/").status_code == 403
    assert client.post("/admin/petitions/signinglistentry/add/", {"action": "allow", "kind": "ip",
                                                                  "value": "192.0.2.1"}).status_code == 403  # fmt: skip
    index = html(client.get("/admin/"))
    assert "Rate limits" not in index and "allow and block lists" not in index.lower()


def test_sysadmins_see_the_fraud_pages(client, staff):
    staff(SYSADMINS)
    for url in ADMIN_PAGES:
        assert client.get(url, follow=True).status_code == 200, url
    # The trending report is written by the hourly job only.
    assert client.get("/admin/petitions/trendingitem/add/").status_code == 403


def test_a_sysadmin_edits_the_rate_limits_with_an_audit_row(
    client, staff, django_capture_on_commit_callbacks
):
    user = staff(SYSADMINS)
    fields = {"enabled": "on", "burst_rate": 3, "burst_period": 30, "sustained_rate": 10, "sustained_period": 600,
              "domain_rate": 50, "domain_period": 300, "minimum_fill_seconds": 4, "trending_threshold": 40}  # fmt: skip
    signing_rules()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/petitions/ratelimit/1/change/", fields)
    assert response.status_code == 302
    limits = RateLimit.load()
    assert (limits.burst_rate, limits.burst_period, limits.minimum_fill_seconds) == (3, 30, 4)
    audit = AuditLog.objects.get(object_type="petitions.ratelimit")
    assert audit.actor == user and audit.action == "admin.change" and "burst_rate" in audit.details["fields"]
    assert signing_rules().limits.burst_rate == 3  # the cache was cleared on commit

    bad = client.post(
        "/admin/petitions/ratelimit/1/change/", {**fields, "sustained_rate": 2, "burst_period": 0}
    )
    assert bad.status_code == 200
    assert "The sustained rate can&#x27;t be below the burst rate." in html(bad)
    assert "Must be at least 1." in html(bad)
    assert RateLimit.load().burst_period == 30
    assert client.get("/admin/petitions/ratelimit/add/").status_code == 403
    assert client.post("/admin/petitions/ratelimit/1/delete/").status_code == 403


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("ip", " 192.0.2.1 ", "192.0.2.1"),
        ("ip", "192.0.2.1/32", "192.0.2.1"),
        ("ip", "192.0.2.0/24", "192.0.2.0/24"),
        ("ip", "2001:DB8::/32", "2001:db8::/32"),
        ("domain", "Example.COM", "example.com"),
        ("domain", "@example.com", "example.com"),
        ("domain", "*.example.com", "*.example.com"),
        ("domain", "**.ru", "**.ru"),
        ("email", "Grace.Hopper@Example.com", "grace.hopper@example.com"),
    ],
)
def test_list_values_are_written_one_way(kind, value, stored):
    assert signing_list_value_clean(kind, value) == stored


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("ip", "192.0.2.300", "Enter an IP address"),
        ("ip", "192.0.2.5/24", "did you mean 192.0.2.0/24?"),
        ("ip", "example.com", "Enter an IP address"),
        ("domain", "example", "Enter a domain"),
        ("domain", "*example.com", "Enter a domain"),
        ("domain", "***.example.com", "Enter a domain"),
        ("domain", "exa mple.com", "Enter a domain"),
        ("domain", "-bad.example.com", "Enter a domain"),
        ("domain", "a.*.example.com", "Enter a domain"),
        ("email", "not-an-email", "Enter an email address"),
        ("email", "grace@", "Enter an email address"),
    ],
)
def test_a_sysadmin_gets_a_clear_message_for_a_bad_entry(client, staff, kind, value, message):
    staff(SYSADMINS)
    response = client.post("/admin/petitions/signinglistentry/add/", {"action": "block", "kind": kind,
                                                                      "value": value, "note": ""})  # fmt: skip
    assert response.status_code == 200
    assert message in html(response)
    assert not SigningListEntry.objects.filter(kind=kind, action="block").exists()


def test_a_sysadmin_adds_an_entry_with_an_audit_row(
    client, staff, petition, django_capture_on_commit_callbacks
):
    user = staff(SYSADMINS)
    signing_rules()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/petitions/signinglistentry/add/",
                               {"action": "block", "kind": "ip", "value": "203.0.113.0/24", "note": "Botnet"})  # fmt: skip
    assert response.status_code == 302
    entry = SigningListEntry.objects.get(action="block", kind="ip")
    assert entry.value == "203.0.113.0/24" and entry.created_by == user
    assert AuditLog.objects.filter(
        object_type="petitions.signinglistentry", action="admin.add", actor=user
    ).exists()
    assert reason_of(create(petition, ip="203.0.113.4")) == FraudReason.BLOCKED_IP  # no wait in this process
    duplicate = client.post("/admin/petitions/signinglistentry/add/",
                            {"action": "block", "kind": "ip", "value": "203.0.113.0/24 "})  # fmt: skip
    assert duplicate.status_code == 200 and "already exists" in html(duplicate)
    client.post(f"/admin/petitions/signinglistentry/{entry.pk}/delete/", {"post": "yes"})
    assert not SigningListEntry.objects.filter(pk=entry.pk).exists()
    assert AuditLog.objects.filter(object_type="petitions.signinglistentry", action="admin.delete").exists()


def test_the_trending_report_links_to_the_signatures(client, staff, petition):
    staff(SYSADMINS)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    inside = [
        ValidatedSignatureFactory(
            petition=petition, ip_address="192.0.2.50", created_at=hour + timedelta(minutes=m)
        )
        for m in (1, 2)
    ]
    ValidatedSignatureFactory(
        petition=petition, ip_address="192.0.2.50", created_at=hour - timedelta(minutes=1)
    )
    ValidatedSignatureFactory(
        petition=petition, ip_address="192.0.2.51", created_at=hour + timedelta(minutes=3)
    )
    item = TrendingItem.objects.create(
        petition=petition, kind="ip", value="192.0.2.50", starts_at=hour, signature_count=2
    )
    TrendingItem.objects.create(
        petition=petition,
        kind="domain",
        value="example.org",
        starts_at=hour - timedelta(hours=5),
        signature_count=9,
    )
    page = html(client.get("/admin/petitions/trendingitem/"))
    assert "192.0.2.50" in page and "example.org" in page
    by_kind = html(client.get("/admin/petitions/trendingitem/?kind=ip"))
    assert "192.0.2.50" in by_kind and "example.org" not in by_kind
    by_hour = html(client.get(f"/admin/petitions/trendingitem/?hour={int(hour.timestamp())}"))
    assert "192.0.2.50" in by_hour and "example.org" not in by_hour
    assert client.get("/admin/petitions/trendingitem/?hour=nonsense").status_code == 200

    link = re.search(r'href="(/admin/petitions/signature/\?[^"]+)"', by_hour).group(1).replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 200
    assert sorted(response.context["cl"].result_list, key=lambda s: s.pk) == inside
    assert item.signature_count == len(inside)


def test_the_signature_admin_filters_by_fraud_reason(client, staff, petition):
    staff(SYSADMINS)
    listed("block", "domain", "spam.example")
    create(petition, email="bot@spam.example")
    create(petition, email="good@example.org", ip="192.0.2.3")
    response = client.get("/admin/petitions/signature/?fraud_reason=blocked_domain")
    assert [s.email for s in response.context["cl"].result_list] == ["bot@spam.example"]
    assert "Blocked email domain" in html(response)


def test_signing_again_after_confirming_gets_the_same_email_for_a_fraudulent_signature(
    petition, django_capture_on_commit_callbacks
):
    """After "Confirm", a repeat signing says "you've already signed" whether or not the signature was caught."""
    listed("block", "domain", "spam.example")
    subjects = {}
    for email in ("good@example.org", "bot@spam.example"):
        with django_capture_on_commit_callbacks(execute=True):
            signature = create(petition, email=email)
        Client().post(f"/signatures/{signature.pk}/confirm", {"token": signature.confirm_token})
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert create(petition, email=email) is None
        subjects[email] = [m.subject.split(":")[0] for m in mail.outbox]
    assert subjects["good@example.org"] == subjects["bot@spam.example"]
    assert subjects["good@example.org"][0].startswith("You've already signed")
