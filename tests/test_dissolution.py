"""Dissolution of Parliament: open petitions close early, unpublished ones stop, and each person gets one email."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.template.loader import render_to_string
from django.test import RequestFactory

from petitions import tasks
from petitions.context_processors import site_notices
from petitions.dates import end_of_day
from petitions.models import (
    DissolutionNotification,
    Parliament,
    Petition,
    PetitionState,
    SignatureState,
    SiteSettings,
)
from petitions.services import parliament_dissolve

from .factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory, SignatureFactory

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
DISSOLUTION = datetime(2026, 5, 30, 0, 1, tzinfo=LONDON)  # 12.01am BST, Saturday 30 May 2026
AFTER = DISSOLUTION + timedelta(minutes=1)
S = PetitionState


def _parliament(**extra) -> Parliament:
    defaults = {
        "name": "2024–",
        "opened_at": datetime(2024, 7, 9, tzinfo=LONDON),
        "dissolution_at": DISSOLUTION,
        "dissolution_message": "Find out more about the general election on the Parliament website.",
    }
    return Parliament.objects.create(**(defaults | extra))


def _open(action: str, deadline_day=(2026, 10, 1)) -> Petition:
    return OpenPetitionFactory(action=action, deadline_at=end_of_day(datetime(*deadline_day).date()))


def _sign(petition, email, *, notify=True, creator=False, state=SignatureState.VALIDATED, name="Sam Signer"):
    return SignatureFactory(
        petition=petition,
        name=name,
        email=email,
        canonical_email=email.lower(),
        notify_by_email=notify,
        creator=creator,
        state=state,
        validated_at=DISSOLUTION - timedelta(days=3) if state == SignatureState.VALIDATED else None,
    )


def _dissolve(parliament, capture, now=AFTER):
    with capture(execute=True):
        return parliament_dissolve(parliament=parliament, now=now)


def test_open_petitions_close_early_and_unpublished_ones_stop(django_capture_on_commit_callbacks):
    parliament = _parliament()
    late = _open("Closes after the dissolution")
    due = _open("Its deadline was before the dissolution", deadline_day=(2026, 5, 29))
    already_closed = ClosedPetitionFactory(closed_at=DISSOLUTION - timedelta(days=20))
    unpublished = {state: PetitionFactory(state=state) for state in (S.PENDING, S.VALIDATED, S.SPONSORED)}
    unpublished |= {state: PetitionFactory(state=state) for state in (S.FLAGGED, S.DORMANT)}
    rejected = PetitionFactory(state=S.REJECTED, rejected_at=DISSOLUTION - timedelta(days=5))
    hidden = PetitionFactory(state=S.HIDDEN, rejected_at=DISSOLUTION - timedelta(days=5))

    result = _dissolve(parliament, django_capture_on_commit_callbacks)

    assert result == {"closed": 1, "stopped": 5, "notifications": 0}
    late.refresh_from_db()
    assert (late.state, late.closed_at) == (S.CLOSED, DISSOLUTION)
    assert late.deadline_at > DISSOLUTION  # kept: the page and the archive still show the original deadline
    for petition in unpublished.values():
        petition.refresh_from_db()
        assert (petition.state, petition.stopped_at) == (S.STOPPED, DISSOLUTION)
    # Its own deadline passed first: the nightly close job closes it at that deadline.
    due.refresh_from_db()
    assert (due.state, due.closed_at) == (S.OPEN, None)
    for untouched, state in [(already_closed, S.CLOSED), (rejected, S.REJECTED), (hidden, S.HIDDEN)]:
        before = untouched.closed_at, untouched.stopped_at
        untouched.refresh_from_db()
        assert untouched.state == state and (untouched.closed_at, untouched.stopped_at) == before
    parliament.refresh_from_db()
    assert parliament.dissolution_processed_at == AFTER
    assert parliament.dissolution_emails_sent_at is not None


def test_each_person_gets_one_email_listing_their_petitions(mailoutbox, django_capture_on_commit_callbacks):
    parliament = _parliament()
    first, second, third = (_open(f"Petition number {n}") for n in (1, 2, 3))
    for petition, address in [
        (first, "sam@example.com"),
        (second, "Sam@Example.com"),
        (third, "sam@example.com"),
    ]:
        _sign(petition, address)  # one person, however they typed their address
    _sign(first, "quiet@example.com", notify=False)  # didn't ask for updates
    _sign(first, "unconfirmed@example.com", state=SignatureState.PENDING)
    due = _open("Closed by its own deadline", deadline_day=(2026, 5, 29))
    _sign(due, "due@example.com")

    _dissolve(parliament, django_capture_on_commit_callbacks)

    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["sam@example.com"]
    assert email.subject == "We've closed petitions you signed early"
    assert "Dear Sam Signer" in email.body
    assert "12.01am on Saturday 30 May 2026" in email.body
    for petition in (first, second, third):
        assert f"- {petition.action}" in email.body
        assert f"http://testserver/petitions/{petition.pk}" in email.body
    assert "and 0 more" not in email.body and "more." not in email.body
    assert parliament.dissolution_message in email.body
    assert DissolutionNotification.objects.filter(parliament=parliament).count() == 1
    assert DissolutionNotification.objects.get().sent_at is not None


def test_creators_get_the_creator_version_of_their_one_email(mailoutbox, django_capture_on_commit_callbacks):
    parliament = _parliament()
    own = _open("My own open petition")
    other = _open("Someone else's petition")
    _sign(own, "cara@example.com", creator=True, notify=False, name="Cara Creator")
    _sign(other, "cara@example.com", name="Cara Creator")
    sponsored = PetitionFactory(state=S.SPONSORED, action="Waiting for moderation")
    _sign(sponsored, "stella@example.com", creator=True, notify=False, name="Stella Starter")
    _sign(sponsored, "sponsor@example.com", notify=True)  # signers of stopped petitions are not emailed
    pending = PetitionFactory(state=S.PENDING, action="Never confirmed")
    _sign(pending, "ghost@example.com", creator=True, state=SignatureState.PENDING)

    _dissolve(parliament, django_capture_on_commit_callbacks)

    by_address = {m.to[0]: m for m in mailoutbox}
    assert sorted(by_address) == ["cara@example.com", "stella@example.com"]

    cara = by_address["cara@example.com"]
    assert cara.subject == "We've closed your petition early"
    assert "Dear Cara Creator" in cara.body
    assert (
        f"Your petition:\n\n- My own open petition\n  Closed early: http://testserver/petitions/{own.pk}"
        in cara.body
    )
    assert "Petitions you signed that have closed:\n\n- Someone else's petition" in cara.body

    stella = by_address["stella@example.com"]
    assert stella.subject == "We've closed your petition early"
    assert "- Waiting for moderation\n  Stopped: it had not been published" in stella.body
    assert "Petitions you signed" not in stella.body


def test_a_long_list_stops_at_five_and_says_how_many_more(mailoutbox, django_capture_on_commit_callbacks):
    parliament = _parliament()
    petitions = [_open(f"Busy petition {n}") for n in range(7)]
    for petition in petitions:
        _sign(petition, "busy@example.com")

    _dissolve(parliament, django_capture_on_commit_callbacks)

    assert len(mailoutbox) == 1
    body = mailoutbox[0].body
    assert sum(f"- {p.action}\n" in body for p in petitions) == 5
    assert "…and 2 more." in body


def test_processing_again_changes_nothing_and_sends_nothing(mailoutbox, django_capture_on_commit_callbacks):
    parliament = _parliament()
    petition = _open("Closes early")
    _sign(petition, "sam@example.com")
    _sign(petition, "cara@example.com", creator=True)
    _dissolve(parliament, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2
    parliament.refresh_from_db()
    processed = parliament.dissolution_processed_at

    assert _dissolve(parliament, django_capture_on_commit_callbacks, now=AFTER + timedelta(hours=1)) is None
    with (
        time_machine.travel(AFTER + timedelta(hours=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.process_dissolution.delay().get() is None
    # A delivery task run twice (a retry, a duplicate message) sends nothing the second time.
    for notification in DissolutionNotification.objects.all():
        assert tasks.dissolution_notification_send.delay(notification.pk).get() is False

    assert len(mailoutbox) == 2
    assert DissolutionNotification.objects.count() == 2
    parliament.refresh_from_db()
    assert parliament.dissolution_processed_at == processed


def test_the_minutely_task_does_nothing_before_the_dissolution(
    mailoutbox, django_capture_on_commit_callbacks
):
    parliament = _parliament()
    petition = _open("Still open")
    sponsored = PetitionFactory(state=S.SPONSORED)
    _sign(petition, "sam@example.com")

    moment = DISSOLUTION - timedelta(seconds=1)
    with time_machine.travel(moment, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_dissolution.delay().get() is None
    petition.refresh_from_db()
    sponsored.refresh_from_db()
    parliament.refresh_from_db()
    assert (petition.state, sponsored.state) == (S.OPEN, S.SPONSORED)
    assert parliament.dissolution_processed_at is None
    assert mailoutbox == []

    moment = DISSOLUTION + timedelta(seconds=30)
    with time_machine.travel(moment, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_dissolution.delay().get() == {"closed": 1, "stopped": 1, "notifications": 1}
    petition.refresh_from_db()
    assert (petition.state, petition.closed_at) == (S.CLOSED, DISSOLUTION)
    assert len(mailoutbox) == 1


def test_the_task_does_nothing_without_a_dissolution_or_a_parliament(django_capture_on_commit_callbacks):
    assert tasks.process_dissolution.delay().get() is None
    _parliament(dissolution_at=None)
    petition = _open("Still open")
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_dissolution.delay().get() is None
    petition.refresh_from_db()
    assert petition.state == S.OPEN


def test_only_the_current_parliament_is_processed(django_capture_on_commit_callbacks):
    _parliament(name="2019–2024", opened_at=datetime(2019, 12, 17, tzinfo=LONDON))
    current = _parliament(name="2024–", dissolution_at=None)
    petition = _open("Open in the new Parliament")
    with time_machine.travel(AFTER, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_dissolution.delay().get() is None
    petition.refresh_from_db()
    assert petition.state == S.OPEN
    assert Parliament.current() == current


# --- Notices on the site --------------------------------------------------------------------------


@pytest.fixture
def notices_wired(settings):
    """The context processor as the settings will list it."""
    engine = settings.TEMPLATES[0]
    processors = [*engine["OPTIONS"]["context_processors"], "petitions.context_processors.site_notices"]
    settings.TEMPLATES = [{**engine, "OPTIONS": {**engine["OPTIONS"], "context_processors": processors}}]


def test_site_notices_are_empty_without_a_banner_or_a_dissolution():
    notices = site_notices(RequestFactory().get("/"))
    assert not notices["site_banner"]
    assert not notices["dissolution"]
    _parliament(dissolution_at=None)
    assert not site_notices(RequestFactory().get("/"))["dissolution"]


def test_site_notices_carry_the_banner_and_the_announced_dissolution():
    site = SiteSettings.load()
    site.banner_message = "Signing is paused for maintenance."
    site.save()
    parliament = _parliament()
    notices = site_notices(RequestFactory().get("/"))
    assert str(notices["site_banner"]) == "Signing is paused for maintenance."
    assert notices["dissolution"].pk == parliament.pk


def test_notice_before_and_after_the_dissolution(notices_wired):
    _parliament()
    request = RequestFactory().get("/")
    with time_machine.travel(DISSOLUTION - timedelta(days=2), tick=False):
        html = render_to_string("includes/site_notices.html", request=request)
    assert "Parliament is being dissolved" in html
    assert "All petitions will close at 12.01am on Saturday 30 May 2026" in html
    assert "Find out more about the general election" in html
    with time_machine.travel(AFTER, tick=False):
        html = render_to_string("includes/site_notices.html", request=request)
    assert "Parliament has been dissolved" in html


def test_banner_message_is_shown_and_escaped(notices_wired):
    site = SiteSettings.load()
    site.banner_message = "Maintenance <tonight>"
    site.save()
    html = render_to_string("includes/site_notices.html", request=RequestFactory().get("/"))
    assert "Maintenance &lt;tonight&gt;" in html
    assert "dissolution-banner-title" not in html


def test_petition_page_shows_the_early_closing_date_once_dissolution_is_announced(client, notices_wired):
    _parliament()
    petition = _open("Closes early")
    with time_machine.travel(DISSOLUTION - timedelta(days=3), tick=False):
        html = client.get(petition.get_absolute_url()).content.decode()
    assert "<strong>Deadline</strong> 30 May 2026" in html
    assert "This petition will close early, at 12.01am on Saturday 30 May 2026" in html
    assert "1 October 2026" not in html


def test_a_petition_signed_twice_by_one_person_is_listed_once(mailoutbox, django_capture_on_commit_callbacks):
    parliament = _parliament()
    petition = _open("Signed for me and for my partner")
    _sign(petition, "sam@example.com", name="Sam Signer")
    _sign(petition, "sam@example.com", name="Alex Signer")  # same address, another name: allowed

    _dissolve(parliament, django_capture_on_commit_callbacks)

    assert len(mailoutbox) == 1
    assert mailoutbox[0].body.count(f"- {petition.action}\n") == 1
    assert "This petition you signed has closed:" in mailoutbox[0].body
