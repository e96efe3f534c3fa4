"""Constituency alerts (issue 7): double opt-in subscription, one-click unsubscribe, the weekly digest's content
against hand-built data, and sending it exactly once through the bulk email engine's parts (throttle, claim and
lease, retries, the pause switch). Unit tests: locmem email and eager Celery."""

import re
import smtplib
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.cache import cache
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from debates import alerts, tasks_alerts
from debates.models import AlertDigest, AlertState, ConstituencyAlert, EventKind, Outcome, ParliamentaryEvent
from petitions.groups import DEBATE_EDITORS, REVIEWERS, STAFF_GROUPS, SYSADMINS, staff_groups_ensure
from petitions.models import Constituency, ConstituencyPetitionJournal, PetitionState, SiteSettings
from petitions.services import notices as notices_module
from responses.models import GovernmentResponse

from .factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
URL_RE = re.compile(r"https?://[^\s\"'<>]+")
ADDRESS = "Office@Member.Example"
STORED = "office@member.example"
#: Monday 9 March 2026, 07:00 London: the week's digests are queued. The past week is 2 to 9 March.
MONDAY = datetime(2026, 3, 9, 7, 0, tzinfo=LONDON)
WEEK = date(2026, 3, 9)


def _at(day, hour=12, minute=0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=LONDON)


# --- Test mail backend: fails on purpose, then behaves like locmem --------------------------------------------


class FlakyBackend(LocmemBackend):
    """Raises the queued errors, one per message, then delivers."""

    errors: list = []

    def send_messages(self, messages):
        if FlakyBackend.errors:
            raise FlakyBackend.errors.pop(0)
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = "tests.test_alerts.FlakyBackend"
    FlakyBackend.errors = []
    yield FlakyBackend.errors
    FlakyBackend.errors = []


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the throttle and the per-address subscription counter


# --- Data ------------------------------------------------------------------------------------------------------


@pytest.fixture
def constituency():
    return Constituency.objects.order_by("gss_code").first()


@pytest.fixture
def elsewhere(constituency):
    return Constituency.objects.exclude(pk=constituency.pk).order_by("gss_code").first()


def _alert(constituency, email=STORED, state=AlertState.ACTIVE, **fields) -> ConstituencyAlert:
    return ConstituencyAlert.objects.create(
        email=email,
        constituency=constituency,
        state=state,
        confirm_token=alerts._new_token(),
        unsubscribe_token=alerts._new_token(),
        confirmed_at=timezone.now() if state == AlertState.ACTIVE else None,
        **fields,
    )


def _journal(petition, constituency, count):
    ConstituencyPetitionJournal.objects.update_or_create(
        petition=petition, constituency=constituency, defaults={"signature_count": count}
    )
    return petition


def _published_response(petition, published_at):
    return GovernmentResponse.objects.create(
        petition=petition,
        responded_on=published_at.date(),
        summary=f"The Government's answer to {petition.action}",
        status="published",
        published_at=published_at,
    )


def _debate(petitions, starts_at, created_at, kind=EventKind.WESTMINSTER_HALL_DEBATE, **fields):
    event = ParliamentaryEvent.objects.create(
        kind=kind, title=f"Debate {len(petitions)} at {starts_at:%d %H}", starts_at=starts_at, **fields
    )
    ParliamentaryEvent.objects.filter(pk=event.pk).update(created_at=created_at)
    event.petitions.set(petitions)
    return event


def _subscribe_url(constituency):
    return reverse("debates_alerts:new", args=[constituency.gss_code])


@pytest.fixture
def subscribe(django_capture_on_commit_callbacks):
    """POST the form as a browser does, running what the view queued for after its commit (the email task)."""

    def post(client, constituency, email):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(_subscribe_url(constituency), {"email": email})

    return post


def _links(message) -> list[str]:
    bodies = [message.body, *(content for content, _ in getattr(message, "alternatives", []))]
    headers = [str(value) for value in message.extra_headers.values()]
    return [url for text in [*bodies, *headers] for url in URL_RE.findall(text)]


def _link(message, kind) -> str:
    path = next(url for url in _links(message) if f"/{kind}?" in url)
    return path.removeprefix("http://testserver").rstrip(">")


def _queue_and_send(now=MONDAY):
    with time_machine.travel(now, tick=False):
        queued = alerts.alerts_digests_queue()
        sent = alerts.alerts_digests_send()
    return queued, sent


# --- Subscribing: double opt-in, no enumeration, the cap -------------------------------------------------------


def test_the_form_page_names_the_constituency_and_an_unknown_code_is_a_404(client, constituency):
    page = client.get(_subscribe_url(constituency))
    assert page.status_code == 200
    assert constituency.name in page.content.decode()
    assert (
        client.get(_subscribe_url(constituency).replace(constituency.gss_code, "E99999999")).status_code
        == 404
    )
    assert client.get("/constituencies/not-a-code/alerts/new").status_code == 404


def test_a_bad_address_is_a_form_error_and_nothing_is_stored(client, constituency, subscribe):
    page = subscribe(client, constituency, "not an address")
    assert page.status_code == 200
    body = page.content.decode()
    assert "There is a problem" in body and "Enter an email address in the correct format" in body
    page = client.post(_subscribe_url(constituency), {})
    assert "Enter your email address" in page.content.decode()
    assert not ConstituencyAlert.objects.exists() and mail.outbox == []


def test_double_opt_in_nothing_is_sent_before_the_button_is_pressed(client, constituency, subscribe):
    response = subscribe(client, constituency, ADDRESS)
    assert response.status_code == 302
    assert response["Location"] == reverse("debates_alerts:check_email", args=[constituency.gss_code])
    assert "Check your email" in client.get(response["Location"]).content.decode()

    alert = ConstituencyAlert.objects.get()
    assert (alert.email, alert.state, alert.confirmation_emails) == (STORED, AlertState.PENDING, 1)
    assert len(alert.confirm_token) >= 43 and len(alert.unsubscribe_token) >= 43
    [message] = mail.outbox
    assert message.to == [STORED] and constituency.name in message.subject
    assert message.alternatives and message.alternatives[0][1] == "text/html"
    confirm = _link(message, "confirm")
    assert confirm == f"/alerts/{alert.pk}/confirm?token={alert.confirm_token}"

    # A pending alert gets no digest, whatever there is to report.
    _journal(OpenPetitionFactory(), constituency, 150)
    queued, _ = _queue_and_send()
    assert queued["queued"] == 0 and not AlertDigest.objects.exists() and len(mail.outbox) == 1

    # Opening the link (as a mail scanner does) changes nothing: it shows a button.
    page = client.get(confirm)
    assert page.status_code == 200 and "Confirm email alerts" in page.content.decode()
    assert client.head(confirm).status_code == 200
    alert.refresh_from_db()
    assert alert.state == AlertState.PENDING and alert.confirmed_at is None

    # Pressing it (a real form post, CSRF token and all) confirms.
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(confirm)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    response = browser.post(f"/alerts/{alert.pk}/confirm", {"csrfmiddlewaretoken": csrf, "token": token})
    assert response.status_code == 302
    assert "Email alerts confirmed" in browser.get(response["Location"]).content.decode()
    alert.refresh_from_db()
    assert alert.state == AlertState.ACTIVE and alert.confirmed_at is not None
    # Pressing it again changes nothing.
    assert client.post(confirm).status_code == 302
    assert ConstituencyAlert.objects.get().confirmed_at == alert.confirmed_at


def test_the_confirmation_email_waits_for_the_commit(
    client, constituency, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(_subscribe_url(constituency), {"email": ADDRESS})
    assert len(callbacks) == 1 and mail.outbox == []


def test_the_confirm_post_needs_the_csrf_token(constituency):
    alert = _alert(constituency, state=AlertState.PENDING)
    response = Client(enforce_csrf_checks=True).post(
        f"/alerts/{alert.pk}/confirm", {"token": alert.confirm_token}
    )
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.state == AlertState.PENDING


def test_new_pending_and_active_addresses_get_the_same_page(client, constituency, subscribe):
    _alert(constituency, email="active@member.example")
    _alert(constituency, email="pending@member.example", state=AlertState.PENDING, confirmation_emails=1)
    _alert(constituency, email="capped@member.example", state=AlertState.PENDING, confirmation_emails=5)
    pages = []
    for address in (
        "new@member.example",
        "pending@member.example",
        "active@member.example",
        "capped@member.example",
    ):
        response = subscribe(client, constituency, address)
        followed = client.get(response["Location"])
        content = re.sub(rb' nonce="[^"]*"', b"", followed.content)  # the CSP nonce is new on every response
        pages.append((response.status_code, response["Location"], followed.status_code, content))
    assert len(set(pages)) == 1
    # What each got: a link, a link again, an "already subscribed" note, nothing.
    assert sorted((m.to[0], m.subject.split(" ")[0]) for m in mail.outbox) == [
        ("active@member.example", "You"),
        ("new@member.example", "Confirm"),
        ("pending@member.example", "Confirm"),
    ]


def test_an_address_gets_at_most_five_emails_ever(client, constituency, subscribe):
    for _ in range(8):
        assert subscribe(client, constituency, ADDRESS).status_code == 302
    alert = ConstituencyAlert.objects.get()
    assert alert.confirmation_emails == 5 and len(mail.outbox) == 5
    # The same link each time: a later one does not invalidate an earlier one.
    assert len({_link(m, "confirm") for m in mail.outbox}) == 1

    client.post(_link(mail.outbox[0], "confirm"))
    for _ in range(3):
        subscribe(client, constituency, ADDRESS)
    assert len(mail.outbox) == 5  # the cap holds for "already subscribed" emails too


def test_an_active_address_is_told_it_is_already_subscribed_with_an_unsubscribe_link(
    client, constituency, subscribe
):
    alert = _alert(constituency)
    subscribe(client, constituency, ADDRESS)
    [message] = mail.outbox
    assert message.subject == f"You already get email alerts for {constituency.name}"
    assert _link(message, "unsubscribe") == f"/alerts/{alert.pk}/unsubscribe?token={alert.unsubscribe_token}"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    alert.refresh_from_db()
    assert alert.state == AlertState.ACTIVE and alert.confirmation_emails == 1


def test_a_confirmation_email_queued_before_the_alert_was_confirmed_is_not_sent(constituency):
    alert = _alert(constituency)
    assert alerts.alert_email_send(alert_id=alert.pk, template="alert_confirm") is False
    assert alerts.alert_email_send(alert_id=alert.pk + 1000, template="alert_confirm") is False
    assert mail.outbox == []
    with pytest.raises(ValueError):
        alerts.alert_email_send(alert_id=alert.pk, template="alert_digest")


def test_an_alert_is_per_constituency(client, constituency, elsewhere, subscribe):
    subscribe(client, constituency, ADDRESS)
    subscribe(client, elsewhere, ADDRESS)
    assert ConstituencyAlert.objects.filter(email=STORED).count() == 2 and len(mail.outbox) == 2


def test_subscribing_again_after_unsubscribing_needs_a_new_confirmation(client, constituency, subscribe):
    alert = _alert(constituency)
    old_confirm = alerts.alert_confirm_path(alert)
    client.post(alerts.alert_unsubscribe_path(alert))
    # The old confirmation link no longer re-subscribes anyone.
    assert client.post(old_confirm).status_code == 404
    subscribe(client, constituency, ADDRESS)
    alert.refresh_from_db()
    assert alert.state == AlertState.PENDING
    [message] = mail.outbox
    new_confirm = _link(message, "confirm")
    assert new_confirm != old_confirm and client.get(old_confirm).status_code == 404
    client.post(new_confirm)
    alert.refresh_from_db()
    assert alert.state == AlertState.ACTIVE


def test_too_many_requests_from_one_address_are_refused(client, constituency, monkeypatch, subscribe):
    monkeypatch.setattr(alerts, "SUBSCRIBE_LIMIT", 2)
    for n in range(2):
        assert subscribe(client, constituency, f"n{n}@member.example").status_code == 302
    response = subscribe(client, constituency, "n2@member.example")
    assert response.status_code == 429 and "Too many requests" in response.content.decode()
    assert len(mail.outbox) == 2 and ConstituencyAlert.objects.count() == 2
    # Another client address is not held up, and the window passes.
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert subscribe(other, constituency, "n3@member.example").status_code == 302
    later = timezone.now().timestamp() + alerts.SUBSCRIBE_WINDOW
    assert alerts.alert_subscribe_rate_take(ip_address="127.0.0.1", now=later) is True


# --- Links with a wrong token ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["confirm", "unsubscribe"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_wrong_token_or_unknown_alert_is_a_clear_404(client, constituency, kind, method):
    alert = _alert(constituency, state=AlertState.PENDING)
    good = getattr(alert, f"{kind}_token")
    wrong = [
        f"/alerts/{alert.pk}/{kind}?token={good[:-1]}x",
        f"/alerts/{alert.pk}/{kind}?token=",
        f"/alerts/{alert.pk}/{kind}",
        f"/alerts/{alert.pk}/{kind}?token={alert.unsubscribe_token if kind == 'confirm' else alert.confirm_token}",
        f"/alerts/{alert.pk + 1}/{kind}?token={good}",
        f"/alerts/99999999999999999999999/{kind}?token={good}",
    ]
    for url in wrong:
        response = getattr(client, method)(url)
        assert response.status_code == 404, url
        assert "This link is not valid" in response.content.decode()
    alert.refresh_from_db()
    assert alert.state == AlertState.PENDING


# --- Unsubscribing ---------------------------------------------------------------------------------------------


def test_the_unsubscribe_link_shows_a_button_and_its_post_unsubscribes(client, constituency):
    alert = _alert(constituency)
    url = alerts.alert_unsubscribe_path(alert)
    page = client.get(url)
    assert page.status_code == 200 and 'method="post"' in page.content.decode()
    alert.refresh_from_db()
    assert alert.state == AlertState.ACTIVE
    response = client.post(url)
    assert response.status_code == 200 and "You've been unsubscribed" in response.content.decode()
    alert.refresh_from_db()
    assert alert.state == AlertState.UNSUBSCRIBED and alert.unsubscribed_at is not None
    # Idempotent, and the link keeps saying so.
    assert (
        client.post(url).status_code == 200 and "You've been unsubscribed" in client.get(url).content.decode()
    )


def test_one_click_unsubscribe_from_the_digest_headers_works_without_csrf(constituency):
    alert = _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    _queue_and_send()
    [message] = mail.outbox
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = message.extra_headers["List-Unsubscribe"]
    assert header == f"<http://testserver/alerts/{alert.pk}/unsubscribe?token={alert.unsubscribe_token}>"
    assert _link(message, "unsubscribe") == header[1:-1].removeprefix("http://testserver")

    # The mail provider's POST: no cookie, no CSRF token, the RFC 8058 body.
    response = Client(enforce_csrf_checks=True).post(
        header[1:-1], "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.state == AlertState.UNSUBSCRIBED


def test_a_digest_queued_before_unsubscribing_is_not_sent(client, constituency):
    alert = _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    with time_machine.travel(MONDAY, tick=False):
        alerts.alerts_digests_queue()
    claimed = alerts.alert_digests_claim(limit=1)  # a sender holds it...
    client.post(alerts.alert_unsubscribe_path(alert))  # ...when the subscriber unsubscribes
    AlertDigest.objects.filter(pk__in=claimed).update(state="queued", claimed_at=None)
    assert alerts.alerts_digests_send()["skipped"] == 1
    assert mail.outbox == []
    assert AlertDigest.objects.get().state == "skipped"


# --- Digest content --------------------------------------------------------------------------------------------


@pytest.fixture
def week_data(constituency, elsewhere):
    """Petitions and events around the week of 9 March 2026 (past week: 2 to 9 March)."""
    data = {}
    data["p150"] = _journal(
        OpenPetitionFactory(action="Fund rural buses", signature_count=9000), constituency, 150
    )
    data["p1200"] = _journal(
        ClosedPetitionFactory(action="Save the library", signature_count=40000), constituency, 1200
    )
    data["p99"] = _journal(OpenPetitionFactory(action="Almost there"), constituency, 99)
    data["hidden"] = _journal(PetitionFactory(state=PetitionState.HIDDEN), constituency, 5000)
    data["rejected"] = _journal(PetitionFactory(state=PetitionState.REJECTED), constituency, 500)
    data["far"] = _journal(OpenPetitionFactory(action="Signed only elsewhere"), elsewhere, 3000)

    data["answered"] = _journal(OpenPetitionFactory(action="Answered last week"), constituency, 12)
    data["response"] = _published_response(data["answered"], _at(4, 15))
    old = _journal(OpenPetitionFactory(action="Answered long ago"), constituency, 12)
    _published_response(old, _at(1, 23, 59))  # the week before
    draft = _journal(OpenPetitionFactory(), constituency, 12)
    GovernmentResponse.objects.create(petition=draft, responded_on=date(2026, 3, 5), summary="Draft")
    _published_response(data["far"], _at(5))  # no signature from the constituency

    data["debated"] = _journal(OpenPetitionFactory(action="Debated last week"), constituency, 3)
    data["held"] = _debate(
        [data["debated"]],
        _at(2, 16, 30),
        _at(1),
        outcome=Outcome.DEBATED,
        video_url="https://parliamentlive.tv/1",
    )
    data["soon"] = _debate(
        [data["p150"], data["far"]], _at(9, 16, 30) + timedelta(days=1), _at(1) - timedelta(days=30)
    )
    data["new"] = _debate([data["p99"]], _at(9) + timedelta(days=40), _at(6))
    _debate([data["p99"]], _at(9) + timedelta(days=40), _at(1))  # scheduled before the past week, not soon
    _debate([data["far"]], _at(10), _at(6))  # on a petition not signed from the constituency
    _debate([data["p99"]], _at(10), _at(6), kind=EventKind.MINISTERIAL_STATEMENT)  # not a debate
    return data


def test_digest_content_against_hand_built_data(constituency, week_data):
    alert = _alert(constituency)
    content = alerts.alert_digest_content(alert, WEEK)
    d = week_data
    assert content["week"] == "2026-03-09"
    assert content["period"] == ["2026-03-02T00:00:00+00:00", "2026-03-09T00:00:00+00:00"]
    assert content["passed_1000"] == [
        {"id": d["p1200"].pk, "action": "Save the library", "count": 1200, "total": 40000}
    ]
    assert content["passed_100"] == [
        {"id": d["p150"].pk, "action": "Fund rural buses", "count": 150, "total": 9000}
    ]
    assert content["new_reported"] == {"1000": [d["p1200"].pk], "100": [d["p1200"].pk, d["p150"].pk]}
    assert [(r["petition_id"], r["count"]) for r in content["responses"]] == [(d["answered"].pk, 12)]
    assert content["responses"][0]["published_at"] == d["response"].published_at.isoformat()
    assert [e["id"] for e in content["held"]] == [d["held"].pk]
    assert content["held"][0]["outcome"] == "debated"
    assert content["held"][0]["video_url"] == "https://parliamentlive.tv/1"
    assert [e["id"] for e in content["upcoming"]] == [d["soon"].pk, d["new"].pk]
    # An event lists only its petitions signed from the constituency.
    assert [p["id"] for p in content["upcoming"][0]["petitions"]] == [d["p150"].pk]
    assert content["upcoming"][0]["petitions"][0]["count"] == 150
    assert not alerts.alert_digest_is_empty(content)


def test_crossing_100_and_1000_is_reported_once_across_two_weeks(constituency, week_data):
    alert = _alert(constituency)
    d = week_data
    with time_machine.travel(MONDAY, tick=False):
        assert alerts.alerts_digests_queue()["queued"] == 1
    alert.refresh_from_db()
    assert alert.reported == {"100": sorted([d["p150"].pk, d["p1200"].pk]), "1000": [d["p1200"].pk]}

    # The next week: 150 grew past 1,000, 99 past 100; 1,200 grew but was reported.
    _journal(d["p150"], constituency, 1001)
    _journal(d["p99"], constituency, 100)
    _journal(d["p1200"], constituency, 1500)
    with time_machine.travel(MONDAY + timedelta(days=7), tick=False):
        assert alerts.alerts_digests_queue()["queued"] == 1
    second = AlertDigest.objects.get(week=WEEK + timedelta(days=7)).content
    assert [p["id"] for p in second["passed_1000"]] == [d["p150"].pk]
    assert [p["id"] for p in second["passed_100"]] == [d["p99"].pk]
    # Last week's response and debate are not repeated; the debate "soon" was held in this past week.
    assert second["responses"] == [] and [e["id"] for e in second["held"]] == [d["soon"].pk]
    alert.refresh_from_db()
    assert alert.reported == {
        "100": sorted([d["p150"].pk, d["p1200"].pk, d["p99"].pk]),
        "1000": sorted([d["p1200"].pk, d["p150"].pk]),
    }
    # A third week with nothing new: an empty digest, skipped and sent to nobody.
    with time_machine.travel(MONDAY + timedelta(days=14), tick=False):
        assert alerts.alerts_digests_queue() == {"week": "2026-03-23", "queued": 0, "skipped": 1}
        assert alerts.alerts_digests_send()["sent"] == 2  # the first two weeks'
    assert AlertDigest.objects.get(week=WEEK + timedelta(days=14)).state == "skipped"
    assert [m.subject[-13:] for m in mail.outbox] == [" 9 March 2026", "16 March 2026"]


def test_a_long_list_is_cut_and_the_rest_counted_and_reported(constituency, monkeypatch):
    monkeypatch.setattr(alerts, "DIGEST_LIST_MAX", 2)
    petitions = [_journal(OpenPetitionFactory(), constituency, 100 + n) for n in range(5)]
    alert = _alert(constituency)
    content = alerts.alert_digest_content(alert, WEEK)
    assert [p["id"] for p in content["passed_100"]] == [petitions[4].pk, petitions[3].pk]
    assert content["passed_100_more"] == 3
    assert sorted(content["new_reported"]["100"]) == sorted(p.pk for p in petitions)


def test_an_empty_digest_is_skipped_and_not_sent(constituency):
    _alert(constituency)
    queued, sent = _queue_and_send()
    assert (queued["queued"], queued["skipped"], sent["sent"]) == (0, 1, 0)
    assert AlertDigest.objects.get().state == "skipped" and mail.outbox == []


def test_the_digest_email_says_what_happened(constituency, week_data):
    alert = _alert(constituency)
    _queue_and_send()
    [message] = mail.outbox
    html = message.alternatives[0][0]
    assert message.subject == f"Petitions signed in {constituency.name}: your weekly alert, 9 March 2026"
    for text in (message.body, html):
        assert (
            "Passed 1,000 signatures" in text and "1,200 signatures from" in text and "40,000 in all" in text
        )
        assert "Save the library" in text and "Fund rural buses" in text
        assert "Answered last week" in text and "The Government responded on 4 March 2026" in text
        assert "Tuesday 10 March 2026 at 4.30pm" in text  # coming up
        assert "Debated last week" in text and "https://parliamentlive.tv/1" in text
        assert f"/petitions/{week_data['p1200'].pk}" in text
        assert alerts.alert_unsubscribe_path(alert) in text
        assert text.count("Almost there") == 1  # under its debate, not as past 100 (it has 99)
        for absent in ("Answered long ago", "Signed only elsewhere"):
            assert absent not in text


# --- Queueing and sending exactly once -------------------------------------------------------------------------


def test_queueing_twice_adds_nothing_and_sending_twice_sends_one_email(constituency, elsewhere):
    alerts_ = [_alert(constituency), _alert(elsewhere), _alert(constituency, email="two@member.example")]
    _alert(constituency, email="pending@member.example", state=AlertState.PENDING)
    _alert(constituency, email="gone@member.example", state=AlertState.UNSUBSCRIBED)
    _journal(OpenPetitionFactory(), constituency, 120)
    _journal(OpenPetitionFactory(), elsewhere, 120)
    with time_machine.travel(MONDAY, tick=False):
        assert alerts.alerts_digests_queue()["queued"] == 3
        assert alerts.alerts_digests_queue() == {"week": "2026-03-09", "queued": 0, "skipped": 0}
    # Later the same week: still the same week's digest.
    with time_machine.travel(MONDAY + timedelta(days=3), tick=False):
        assert alerts.alerts_digests_queue()["queued"] == 0
    assert AlertDigest.objects.count() == 3
    assert set(AlertDigest.objects.values_list("alert_id", flat=True)) == {a.pk for a in alerts_}

    assert alerts.alerts_digests_send()["sent"] == 3
    assert alerts.alerts_digests_send()["sent"] == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted(a.email for a in alerts_)
    for alert in alerts_:
        alert.refresh_from_db()
        assert alert.last_digest_at is not None
    digest = AlertDigest.objects.first()
    assert (digest.state, digest.attempts, digest.claimed_at) == ("sent", 1, None)


def test_alerts_on_one_constituency_share_its_weeks_reads(constituency, elsewhere, week_data):
    for n in range(4):
        _alert(constituency, email=f"office{n}@member.example")
    _alert(elsewhere)
    with CaptureQueriesContext(connection) as queries, time_machine.travel(MONDAY, tick=False):
        assert alerts.alerts_digests_queue()["queued"] == 5
    responses = [q["sql"] for q in queries.captured_queries if "responses_governmentresponse" in q["sql"]]
    assert len(responses) == 2  # once per constituency, not per alert
    contents = [d.content for d in AlertDigest.objects.filter(alert__constituency=constituency)]
    assert all(c == contents[0] for c in contents)


def test_the_weekly_task_queues_and_sends(constituency):
    _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    with time_machine.travel(MONDAY, tick=False):
        assert tasks_alerts.queue_alert_digests.delay().get()["queued"] == 1
    assert len(mail.outbox) == 1  # eager Celery: the send task ran
    assert tasks_alerts.send_alert_digests.delay().get()["sent"] == 0


def test_a_killed_senders_digest_is_sent_once_after_its_lease(constituency):
    for n in range(3):
        _alert(constituency, email=f"office{n}@member.example")
    _journal(OpenPetitionFactory(), constituency, 120)
    with time_machine.travel(MONDAY, tick=False):
        alerts.alerts_digests_queue()
    claimed = alerts.alert_digests_claim(limit=1)  # then the worker dies
    assert alerts.alerts_digests_send()["sent"] == 2
    with time_machine.travel(timezone.now() + notices_module.DELIVERY_LEASE - timedelta(seconds=5)):
        assert alerts.alerts_digests_send()["sent"] == 0
    with time_machine.travel(timezone.now() + notices_module.DELIVERY_LEASE + timedelta(seconds=1)):
        assert alerts.alerts_digests_send()["sent"] == 1
        assert alerts.alerts_digests_send()["sent"] == 0
    assert len(mail.outbox) == 3 and len({m.to[0] for m in mail.outbox}) == 3
    assert AlertDigest.objects.get(pk=claimed[0]).state == "sent"


def test_two_senders_claim_different_digests(constituency):
    for n in range(3):
        _alert(constituency, email=f"office{n}@member.example")
    _journal(OpenPetitionFactory(), constituency, 120)
    with time_machine.travel(MONDAY, tick=False):
        alerts.alerts_digests_queue()
    first = alerts.alert_digests_claim(limit=2)
    second = alerts.alert_digests_claim(limit=2)
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)
    assert alerts.alerts_digests_send()["sent"] == 0 and mail.outbox == []


def test_the_message_id_is_the_same_on_a_resend(constituency):
    _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    _queue_and_send()
    digest = AlertDigest.objects.get()
    AlertDigest.objects.filter(pk=digest.pk).update(state="queued")  # as if the UPDATE had not committed
    alerts.alerts_digests_send()
    first, again = mail.outbox
    assert first.extra_headers["Message-ID"] == again.extra_headers["Message-ID"]
    assert first.extra_headers["Message-ID"] == f"<alert-digest.{digest.pk}@petitions.localhost>"


def test_a_temporary_smtp_error_is_retried_later_then_sent_once(constituency, flaky):
    _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    flaky.append(smtplib.SMTPResponseException(451, b"4.7.1 Try again later"))
    queued, result = _queue_and_send(now=timezone.now())
    assert (result["sent"], result["retrying"]) == (0, 1)
    digest = AlertDigest.objects.get()
    assert (digest.state, digest.attempts, digest.error) == ("queued", 1, "451 4.7.1 Try again later")
    assert timedelta(seconds=25) < digest.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    assert alerts.alerts_digests_send()["sent"] == 0  # not due yet
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert alerts.alerts_digests_send()["sent"] == 1
    digest.refresh_from_db()
    assert (digest.state, digest.attempts, digest.error) == ("sent", 2, "")
    assert len(mail.outbox) == 1


def test_a_dropped_connection_holds_the_batch_and_a_permanent_failure_is_recorded(constituency, flaky):
    for n in range(3):
        _alert(constituency, email=f"office{n}@member.example")
    _journal(OpenPetitionFactory(), constituency, 120)
    flaky.append(smtplib.SMTPServerDisconnected("Connection unexpectedly closed"))
    queued, result = _queue_and_send(now=timezone.now())
    assert (result["held"], result["retrying"], result["sent"]) == ("connection", 1, 0)
    # The two not tried went back to the queue as they were.
    assert list(AlertDigest.objects.order_by("pk").values_list("state", "attempts")) == [
        ("queued", 1),
        ("queued", 0),
        ("queued", 0),
    ]
    flaky.append(
        smtplib.SMTPRecipientsRefused(
            {"office1@member.example": (550, b"5.1.1 <office1@member.example> unknown")}
        )
    )
    result = alerts.alerts_digests_send()
    assert (result["failed"], result["sent"]) == (1, 1)
    failed = AlertDigest.objects.get(state="failed")
    assert failed.error == "550 5.1.1 <address> unknown"


def test_temporary_failures_give_up_after_the_last_attempt(constituency, flaky, monkeypatch):
    monkeypatch.setattr(alerts, "MAX_ATTEMPTS", 2)
    _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    flaky.extend([smtplib.SMTPResponseException(451, b"busy")] * 2)
    _queue_and_send(now=timezone.now())
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        alerts.alerts_digests_send()
    digest = AlertDigest.objects.get()
    assert (digest.state, digest.attempts) == ("failed", 2) and mail.outbox == []


def test_the_pause_bulk_email_switch_holds_digests_until_it_is_off(constituency):
    _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    site = SiteSettings.load()
    site.disable_notifications = True
    site.save()
    queued, result = _queue_and_send()
    assert queued["queued"] == 1 and result["held"] == "paused" and mail.outbox == []
    assert tasks_alerts.send_alert_digests.delay().get()["held"] == "paused"
    assert AlertDigest.objects.get().state == "queued"
    site.disable_notifications = False
    site.save()
    assert alerts.alerts_digests_send()["sent"] == 1


def test_the_throttle_is_shared_and_holds_the_rest(constituency):
    for n in range(3):
        _alert(constituency, email=f"office{n}@member.example")
    _journal(OpenPetitionFactory(), constituency, 120)
    site = SiteSettings.load()
    site.bulk_email_rate = 2
    site.save()
    with time_machine.travel(MONDAY, tick=False):
        alerts.alerts_digests_queue()
        result = alerts.alerts_digests_send()
        assert (result["sent"], result["held"]) == (2, "throttled")
        # A notice sending in the same second finds the tokens used.
        assert notices_module.notice_rate_take(rate=2) == 0
        assert alerts.alerts_digests_send()["held"] == "throttled"
    with time_machine.travel(MONDAY + timedelta(seconds=1), tick=False):
        assert alerts.alerts_digests_send()["sent"] == 1
    assert len(mail.outbox) == 3


def test_the_night_window_holds_digests(constituency):
    _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    site = SiteSettings.load()
    site.bulk_email_night_only, site.bulk_email_night_starts, site.bulk_email_night_ends = True, 0, 4
    site.save()
    queued, result = _queue_and_send()
    assert result["held"] == "night" and result["wait_until"] == datetime(2026, 3, 10, 0, 0, tzinfo=LONDON)
    with time_machine.travel(datetime(2026, 3, 10, 0, 5, tzinfo=LONDON), tick=False):
        assert alerts.alerts_digests_send()["sent"] == 1


# --- Privacy ---------------------------------------------------------------------------------------------------


def test_no_address_in_any_url_or_stored_content(client, constituency, week_data, caplog, subscribe):
    subscribe(client, constituency, ADDRESS)
    subscribe(client, constituency, ADDRESS)
    alert = ConstituencyAlert.objects.get()
    client.post(alerts.alert_confirm_path(alert))
    subscribe(client, constituency, ADDRESS)
    _queue_and_send()
    assert [m.subject.split(" ")[0] for m in mail.outbox] == ["Confirm", "Confirm", "You", "Petitions"]
    for message in mail.outbox:
        for url in _links(message):
            assert "@" not in url and "member.example" not in url.lower(), url
        assert STORED not in message.subject
    assert STORED not in str(AlertDigest.objects.get().content)
    # Nothing logged carries it (tests/privacy_plugin.py checks every line; this names the lines we expect).
    assert STORED not in caplog.text.lower()


def _staff(group_name) -> User:
    staff_groups_ensure()
    user = User.objects.create_user(group_name.lower().replace(" ", "_"), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


def test_only_sysadmins_see_alerts_and_lists_show_no_address(client, constituency):
    alert = _alert(constituency)
    _journal(OpenPetitionFactory(), constituency, 120)
    with time_machine.travel(MONDAY, tick=False):
        alerts.alerts_digests_queue()
    digest = AlertDigest.objects.get()
    urls = [
        reverse("admin:debates_constituencyalert_changelist"),
        reverse("admin:debates_alertdigest_changelist"),
        reverse("admin:debates_alertdigest_change", args=[digest.pk]),
    ]
    for role in (REVIEWERS, DEBATE_EDITORS):
        client.force_login(_staff(role))
        assert [client.get(url).status_code for url in urls] == [403, 403, 403], role
    client.force_login(_staff(SYSADMINS))
    for url in urls:
        page = client.get(url)
        assert (
            page.status_code == 200
            and STORED not in page.content.decode()
            and alert.unsubscribe_token not in page.content.decode()
        )
    # The detail page shows the address (to answer the subscriber), never the tokens; a search finds it exactly.
    page = client.get(reverse("admin:debates_constituencyalert_change", args=[alert.pk])).content.decode()
    assert STORED in page and alert.confirm_token not in page and alert.unsubscribe_token not in page
    found = client.get(reverse("admin:debates_constituencyalert_changelist"), {"q": STORED})
    assert list(found.context["cl"].result_list) == [alert]
    found = client.get(reverse("admin:debates_alertdigest_changelist"), {"q": str(alert.pk)})
    assert list(found.context["cl"].result_list) == [digest]
    # Read-only, even for Sysadmins.
    assert client.get(reverse("admin:debates_constituencyalert_add")).status_code == 403
    assert (
        client.post(
            reverse("admin:debates_constituencyalert_delete", args=[alert.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert ConstituencyAlert.objects.filter(pk=alert.pk).exists()


def test_sysadmins_hold_every_alert_permission():
    perms = set(STAFF_GROUPS[SYSADMINS])
    for model in (ConstituencyAlert, AlertDigest):
        for action in model._meta.default_permissions:
            assert f"debates.{action}_{model._meta.model_name}" in perms
    assert not any("constituencyalert" in p for g, ps in STAFF_GROUPS.items() if g != SYSADMINS for p in ps)
