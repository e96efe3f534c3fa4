"""Moderation services (reference §1.2) and the admin's moderation queue, moderation page and edit lock."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from petitions.groups import MODERATORS, REVIEWERS, SYSADMINS, staff_groups_ensure
from petitions.models import AuditLog, Petition, PetitionState, Rejection, RejectionReason, SiteSettings
from petitions.services import (
    NotAllowed,
    TransitionError,
    petition_flag,
    petition_lock,
    petition_mark_dormant,
    petition_publish,
    petition_reject,
    petition_remove,
    petition_restore,
    petition_take_down,
    petition_unlock,
)

from .factories import PendingSignatureFactory, PetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

S = PetitionState
LONDON = ZoneInfo("Europe/London")
ALL_STATES = list(S)


def make_staff(group_name: str, username: str | None = None) -> User:
    staff_groups_ensure()
    user = User.objects.create_user(username or group_name.lower().replace(" ", "_"), is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def moderator():
    return make_staff(MODERATORS, "mo")


@pytest.fixture
def sysadmin():
    return make_staff(SYSADMINS, "sid")


@pytest.fixture
def reviewer():
    return make_staff(REVIEWERS, "rita")


def petition_in(state, **kwargs) -> Petition:
    """A petition in `state` with the dates that state implies."""
    now = timezone.now()
    extra = {}
    if state in (S.SPONSORED, S.FLAGGED, S.DORMANT):
        extra["moderation_threshold_reached_at"] = now - timedelta(days=3)
    if state in (S.OPEN, S.CLOSED):
        extra.update(opened_at=now - timedelta(days=30), deadline_at=now + timedelta(days=150))
    if state == S.CLOSED:
        extra.update(opened_at=now - timedelta(days=200), deadline_at=now - timedelta(days=17))
        extra["closed_at"] = extra["deadline_at"]
    if state in (S.REJECTED, S.HIDDEN):
        extra["rejected_at"] = now - timedelta(days=1)
    petition = PetitionFactory(state=state, **{**extra, **kwargs})
    if state in (S.REJECTED, S.HIDDEN):
        code = "offensive" if state == S.HIDDEN else "duplicate"
        Rejection.objects.create(petition=petition, reason=RejectionReason.objects.get(code=code))
    return petition


def run(action: str, petition: Petition, actor, **kwargs) -> Petition:
    services = {
        "publish": petition_publish,
        "reject": petition_reject,
        "flag": petition_flag,
        "dormant": petition_mark_dormant,
        "restore": petition_restore,
        "take_down": petition_take_down,
        "remove": petition_remove,
    }
    if action in ("reject", "take_down"):
        kwargs.setdefault("reason_code", "duplicate")
    return services[action](petition=petition, actor=actor, **kwargs)


# Each action: {from state: resulting state} for a sysadmin; every state not listed is refused.
SYSADMIN_TRANSITIONS = {
    "publish": {
        S.VALIDATED: S.OPEN,
        S.SPONSORED: S.OPEN,
        S.FLAGGED: S.OPEN,
        S.DORMANT: S.OPEN,
        S.REJECTED: S.OPEN,
        S.HIDDEN: S.OPEN,
    },
    "reject": {
        S.PENDING: S.REJECTED,
        S.VALIDATED: S.REJECTED,
        S.SPONSORED: S.REJECTED,
        S.FLAGGED: S.REJECTED,
        S.DORMANT: S.REJECTED,
        S.REJECTED: S.REJECTED,
        S.HIDDEN: S.REJECTED,
    },
    "flag": {S.PENDING: S.FLAGGED, S.VALIDATED: S.FLAGGED, S.SPONSORED: S.FLAGGED},
    "dormant": {S.PENDING: S.DORMANT, S.VALIDATED: S.DORMANT, S.SPONSORED: S.DORMANT, S.FLAGGED: S.DORMANT},
    "restore": {
        S.FLAGGED: S.SPONSORED,
        S.DORMANT: S.SPONSORED,
        S.REJECTED: S.SPONSORED,
        S.HIDDEN: S.SPONSORED,
    },
    "take_down": {S.OPEN: S.REJECTED},
    "remove": {S.OPEN: S.REMOVED, S.CLOSED: S.REMOVED, S.REJECTED: S.REMOVED, S.HIDDEN: S.REMOVED},
}
#: What only a sysadmin may do: (action, from state).
SYSADMIN_ONLY = {
    *(("publish", s) for s in (S.REJECTED, S.HIDDEN)),
    *(("reject", s) for s in (S.REJECTED, S.HIDDEN)),
    *(("restore", s) for s in (S.REJECTED, S.HIDDEN)),
    *(("remove", s) for s in SYSADMIN_TRANSITIONS["remove"]),
}
TABLE = [(action, state) for action in SYSADMIN_TRANSITIONS for state in ALL_STATES]


def _id(value):
    return str(value)


@pytest.mark.parametrize(("action", "state"), TABLE, ids=_id)
@pytest.mark.parametrize("role", ["moderator", "sysadmin", "reviewer"])
def test_transition_table(action, state, role, request):
    """Every action from every one of the 11 states, by each role: the allowed ones move the petition,
    record an audit row with the actor and release the edit lock; the refused ones change nothing."""
    actor = request.getfixturevalue(role)
    petition = petition_in(state, locked_by=actor, locked_at=timezone.now())
    allowed_to = SYSADMIN_TRANSITIONS[action].get(state)
    if role == "moderator" and (action, state) in SYSADMIN_ONLY:
        allowed_to = None
    if role == "reviewer":
        allowed_to = None

    if allowed_to is None:
        with pytest.raises(TransitionError) as refused:
            run(action, petition, actor)
        assert str(refused.value)  # a message for staff
        if role == "reviewer" or (action, state) in SYSADMIN_ONLY and SYSADMIN_TRANSITIONS[action].get(state):
            assert isinstance(refused.value, NotAllowed)
        petition.refresh_from_db()
        assert petition.state == state
        assert petition.locked_by == actor
        assert not AuditLog.objects.exists()
        return

    result = run(action, petition, actor)
    assert result.state == allowed_to
    petition.refresh_from_db()
    assert petition.state == allowed_to
    assert (petition.locked_by, petition.locked_at) == (None, None)
    log = AuditLog.objects.get()
    assert (log.actor, log.action, log.object_id) == (actor, f"petition.{action}", str(petition.pk))
    assert log.details["from"] == state and log.details["to"] == allowed_to


def test_publishing_a_pending_petition_says_why():
    petition = petition_in(S.PENDING)
    with pytest.raises(TransitionError, match="The creator hasn't confirmed their email address yet"):
        petition_publish(petition=petition, actor=make_staff(MODERATORS))


def test_rejecting_an_open_petition_points_to_take_down(moderator):
    with pytest.raises(TransitionError, match="take it down"):
        petition_reject(petition=petition_in(S.OPEN), actor=moderator, reason_code="duplicate")


# --- Publish --------------------------------------------------------------------------------------


def test_publish_opens_with_a_deadline_at_the_end_of_the_day_six_months_later(moderator):
    with time_machine.travel(datetime(2026, 3, 15, 10, 30, tzinfo=LONDON), tick=False):
        petition = petition_in(S.SPONSORED)
        petition_publish(petition=petition, actor=moderator)
        now = timezone.now()
    assert petition.state == S.OPEN
    assert petition.opened_at == now
    assert petition.deadline_at == datetime(2026, 9, 15, 23, 59, 59, 999999, tzinfo=LONDON)
    assert petition.moderated_by == moderator


def test_publish_uses_the_site_petition_duration(moderator):
    site = SiteSettings.load()
    site.petition_duration_months = 3
    site.save()
    with time_machine.travel(datetime(2026, 11, 30, 9, 0, tzinfo=LONDON), tick=False):
        petition = petition_in(S.SPONSORED)
        petition_publish(petition=petition, actor=moderator)
    assert petition.deadline_at == datetime(2027, 2, 28, 23, 59, 59, 999999, tzinfo=LONDON)


def test_moderation_lag_counts_days_since_the_threshold(moderator):
    with time_machine.travel(datetime(2026, 5, 1, 23, 30, tzinfo=LONDON), tick=False):
        petition = petition_in(S.SPONSORED, moderation_threshold_reached_at=timezone.now())
    with time_machine.travel(datetime(2026, 5, 10, 0, 15, tzinfo=LONDON), tick=False):
        petition_publish(petition=petition, actor=moderator)
    assert petition.moderation_lag == 9  # London calendar days, not 24-hour periods


def test_moderation_lag_is_set_by_rejection_and_zero_without_a_threshold(moderator):
    petition = petition_in(S.SPONSORED, moderation_threshold_reached_at=timezone.now() - timedelta(days=12))
    petition_reject(petition=petition, actor=moderator, reason_code="duplicate")
    assert petition.moderation_lag == 12

    flagged_early = petition_in(S.VALIDATED)
    petition_publish(petition=flagged_early, actor=moderator)
    assert flagged_early.moderation_lag == 0


def test_republishing_keeps_the_first_moderation_lag_and_dates(moderator, sysadmin):
    petition = petition_in(S.SPONSORED, moderation_threshold_reached_at=timezone.now() - timedelta(days=5))
    petition_publish(petition=petition, actor=moderator)
    opened_at, deadline_at = petition.opened_at, petition.deadline_at
    petition_take_down(petition=petition, actor=moderator, reason_code="duplicate")
    assert (petition.opened_at, petition.deadline_at, petition.moderation_lag) == (opened_at, deadline_at, 5)

    petition_publish(petition=petition, actor=sysadmin)
    assert petition.state == S.OPEN
    assert (petition.opened_at, petition.deadline_at, petition.moderation_lag) == (opened_at, deadline_at, 5)
    assert not Rejection.objects.filter(petition=petition).exists()
    assert petition.rejected_at is None


def test_republishing_after_the_deadline_closes_it(sysadmin):
    deadline = timezone.now() - timedelta(days=2)
    petition = petition_in(S.REJECTED, opened_at=deadline - timedelta(days=180), deadline_at=deadline)
    petition_publish(petition=petition, actor=sysadmin)
    assert petition.state == S.CLOSED
    assert petition.closed_at == deadline


# --- Reject, take down, hidden, restore, remove ---------------------------------------------------


def test_reject_records_the_rejection(moderator):
    petition = petition_in(S.SPONSORED)
    petition_reject(
        petition=petition, actor=moderator, reason_code="duplicate", details="  See petition 12.  "
    )
    rejection = Rejection.objects.get(petition=petition)
    assert (rejection.reason.code, rejection.details, rejection.created_by) == (
        "duplicate",
        "See petition 12.",
        moderator,
    )
    assert petition.state == S.REJECTED
    assert petition.rejected_at is not None
    assert petition.moderated_by == moderator
    assert AuditLog.objects.get().details == {
        "from": "sponsored",
        "to": "rejected",
        "reason": "duplicate",
        "email": False,
    }


def test_reject_refuses_unknown_reasons_and_long_details(moderator):
    petition = petition_in(S.SPONSORED)
    with pytest.raises(TransitionError, match="Choose a rejection reason"):
        petition_reject(petition=petition, actor=moderator, reason_code="")
    with pytest.raises(TransitionError, match="Unknown rejection reason"):
        petition_reject(petition=petition, actor=moderator, reason_code="nonsense")
    with pytest.raises(TransitionError, match="4,000 characters"):
        petition_reject(petition=petition, actor=moderator, reason_code="duplicate", details="x" * 4001)
    petition_reject(petition=petition, actor=moderator, reason_code="duplicate", details="x" * 4000)
    assert petition.state == S.REJECTED


def test_a_hidden_reason_hides_the_petition_from_the_public(client, moderator):
    petition = petition_in(S.SPONSORED)
    petition_reject(petition=petition, actor=moderator, reason_code="offensive")
    assert petition.state == S.HIDDEN
    assert client.get(petition.get_absolute_url()).status_code == 404


def test_taking_down_for_a_hidden_reason_hides_it(client, moderator):
    petition = petition_in(S.OPEN)
    assert client.get(petition.get_absolute_url()).status_code == 200
    petition_take_down(petition=petition, actor=moderator, reason_code="advert", details="Spam.")
    assert petition.state == S.HIDDEN
    # It was public, so search engines are told it is gone (410), as the reference does.
    assert client.get(petition.get_absolute_url()).status_code == 410


def test_hiding_an_unpublished_petition_makes_it_not_found(client, moderator):
    petition = petition_in(S.SPONSORED)
    petition_reject(petition=petition, actor=moderator, reason_code="offensive")
    assert petition.state == S.HIDDEN
    assert client.get(petition.get_absolute_url()).status_code == 404


def test_a_public_reason_shows_the_rejection(client, moderator):
    petition = petition_in(S.SPONSORED)
    petition_reject(petition=petition, actor=moderator, reason_code="duplicate", details="See the other one.")
    page = client.get(petition.get_absolute_url())
    assert page.status_code == 200
    assert "Duplicate petition" in page.content.decode()


def test_removed_petitions_are_gone(client, sysadmin):
    petition = petition_in(S.CLOSED)
    petition_remove(petition=petition, actor=sysadmin)
    assert (petition.state, petition.state_at_removal) == (S.REMOVED, S.CLOSED)
    assert petition.removed_at is not None
    assert client.get(petition.get_absolute_url()).status_code == 410


@pytest.mark.parametrize("state", [S.REJECTED, S.HIDDEN])
def test_restoring_a_rejected_or_hidden_petition_needs_a_sysadmin(state, moderator, sysadmin):
    petition = petition_in(state, opened_at=timezone.now(), deadline_at=timezone.now() + timedelta(days=9))
    with pytest.raises(NotAllowed, match="sysadmin"):
        petition_restore(petition=petition, actor=moderator)
    petition_restore(petition=petition, actor=sysadmin)
    assert petition.state == S.SPONSORED
    assert (petition.opened_at, petition.deadline_at, petition.closed_at, petition.rejected_at) == (None,) * 4
    assert not Rejection.objects.filter(petition=petition).exists()


def test_a_superuser_counts_as_a_sysadmin():
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    petition = petition_in(S.HIDDEN)
    petition_restore(petition=petition, actor=root)
    assert petition.state == S.SPONSORED


def test_inactive_staff_cannot_moderate(moderator):
    moderator.is_active = False
    moderator.save()
    with pytest.raises(NotAllowed):
        petition_flag(petition=petition_in(S.SPONSORED), actor=moderator)


# --- Save and email -------------------------------------------------------------------------------


def _people(petition):
    creator = ValidatedSignatureFactory(petition=petition, creator=True, email="creator@example.com")
    sponsors = [
        ValidatedSignatureFactory(petition=petition, sponsor=True, email=f"sponsor{i}@example.com")
        for i in range(2)
    ]
    PendingSignatureFactory(petition=petition, sponsor=True, email="pending-sponsor@example.com")
    ValidatedSignatureFactory(petition=petition, email="signer@example.com")  # not a sponsor
    return creator, sponsors


def test_save_and_email_tells_the_creator_and_validated_sponsors_only(
    moderator, mailoutbox, django_capture_on_commit_callbacks
):
    petition = petition_in(S.SPONSORED)
    _people(petition)
    with django_capture_on_commit_callbacks(execute=True):
        petition_publish(petition=petition, actor=moderator, email=True)
    recipients = sorted(address for message in mailoutbox for address in message.to)
    assert recipients == ["creator@example.com", "sponsor0@example.com", "sponsor1@example.com"]
    by_to = {message.to[0]: message for message in mailoutbox}
    assert by_to["creator@example.com"].subject == f"We published your petition “{petition.action}”"
    assert (
        by_to["sponsor0@example.com"].subject
        == f"We published the petition you supported: “{petition.action}”"
    )
    assert f"http://testserver/petitions/{petition.pk}" in by_to["creator@example.com"].body
    assert AuditLog.objects.get().details["email"] is True


def test_rejection_emails_carry_the_reason_and_details(
    moderator, mailoutbox, django_capture_on_commit_callbacks
):
    petition = petition_in(S.SPONSORED, action='Ban the "things" & stuff')
    _people(petition)
    with django_capture_on_commit_callbacks(execute=True):
        petition_reject(
            petition=petition,
            actor=moderator,
            reason_code="duplicate",
            details="Sign petition 42 instead.",
            email=True,
        )
    assert len(mailoutbox) == 3
    reason = RejectionReason.objects.get(code="duplicate")
    for message in mailoutbox:
        assert message.subject.startswith("We rejected")
        assert 'Ban the "things" & stuff' in message.subject  # plain text: not HTML-escaped
        assert reason.title in message.body
        assert reason.description in message.body
        assert "Sign petition 42 instead." in message.body


def test_hidden_rejection_emails_use_the_hidden_templates(
    moderator, mailoutbox, django_capture_on_commit_callbacks
):
    petition = petition_in(S.SPONSORED)
    _people(petition)
    with django_capture_on_commit_callbacks(execute=True):
        petition_reject(petition=petition, actor=moderator, reason_code="offensive", email=True)
    assert len(mailoutbox) == 3
    assert all(message.subject.startswith("We can't accept") for message in mailoutbox)
    assert all(f"/petitions/{petition.pk}" not in message.body for message in mailoutbox)


def test_no_email_without_save_and_email(moderator, mailoutbox, django_capture_on_commit_callbacks):
    petition = petition_in(S.SPONSORED)
    _people(petition)
    with django_capture_on_commit_callbacks(execute=True):
        petition_publish(petition=petition, actor=moderator)
    assert mailoutbox == []


def test_a_refused_action_sends_nothing(moderator, mailoutbox, django_capture_on_commit_callbacks):
    petition = petition_in(S.OPEN)
    _people(petition)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TransitionError):
        petition_publish(petition=petition, actor=moderator, email=True)
    assert mailoutbox == []


# --- The edit lock (services) ---------------------------------------------------------------------


def test_lock_refuses_a_second_moderator_until_forced(moderator):
    other = make_staff(MODERATORS, "olga")
    other.first_name, other.last_name = "Olga", "Smith"
    other.save()
    petition = petition_in(S.SPONSORED)
    with time_machine.travel(datetime(2026, 6, 1, 14, 5, tzinfo=LONDON), tick=False):
        petition_lock(petition=petition, actor=other)
    with time_machine.travel(datetime(2026, 6, 1, 14, 10, tzinfo=LONDON), tick=False):
        with pytest.raises(
            TransitionError, match=r"^Olga Smith is moderating this petition \(since 14:05\)\.$"
        ):
            petition_lock(petition=petition, actor=moderator)
        with pytest.raises(TransitionError, match="Olga Smith is moderating"):
            petition_publish(petition=petition, actor=moderator)
        assert not AuditLog.objects.exists()
        petition_lock(petition=petition, actor=moderator, force=True)
    assert petition.locked_by == moderator
    log = AuditLog.objects.get()
    assert (log.action, log.actor, log.details) == (
        "petition.lock_take_over",
        moderator,
        {"previous_holder_id": other.pk},
    )
    petition_publish(petition=petition, actor=moderator)
    assert petition.locked_by is None


def test_an_abandoned_lock_expires_after_15_minutes(moderator):
    other = make_staff(MODERATORS, "olga")
    petition = petition_in(
        S.SPONSORED, locked_by=other, locked_at=timezone.now() - timedelta(minutes=15, seconds=1)
    )
    petition_flag(petition=petition, actor=moderator)
    assert (petition.state, petition.locked_by) == (S.FLAGGED, None)


def test_unlock_releases_only_ones_own_lock(moderator):
    other = make_staff(MODERATORS, "olga")
    petition = petition_in(S.SPONSORED)
    petition_lock(petition=petition, actor=other)
    assert not petition_unlock(petition=petition, actor=moderator)
    assert petition.locked_by == other
    assert petition_unlock(petition=petition, actor=other)
    assert petition.locked_by is None


def test_reviewers_cannot_take_the_lock(reviewer):
    with pytest.raises(NotAllowed):
        petition_lock(petition=petition_in(S.SPONSORED), actor=reviewer)


# --- The admin: moderation page -------------------------------------------------------------------


def moderate_url(petition):
    return reverse("admin:petitions_petition_moderate", args=[petition.pk])


def change_url(petition):
    return reverse("admin:petitions_petition_change", args=[petition.pk])


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_change_page_links_to_the_moderation_page(client, moderator):
    petition = petition_in(S.SPONSORED)
    client.force_login(moderator)
    page = client.get(change_url(petition))
    assert moderate_url(petition) in page.content.decode()


def test_moderation_page_publishes(client, moderator):
    petition = petition_in(S.SPONSORED)
    client.force_login(moderator)
    page = client.get(moderate_url(petition))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="publish"' in html and 'value="remove"' not in html  # removing needs a sysadmin
    assert "Save and email" in html
    petition.refresh_from_db()
    assert petition.locked_by == moderator  # opening the page takes the lock

    response = client.post(moderate_url(petition), {"action": "publish", "_save": "Save"})
    assert response.status_code == 302 and response.url == change_url(petition)
    petition.refresh_from_db()
    assert (petition.state, petition.locked_by) == (S.OPEN, None)
    assert AuditLog.objects.filter(action="petition.publish", actor=moderator).exists()


def test_moderation_page_rejects_and_emails(
    client, moderator, mailoutbox, django_capture_on_commit_callbacks
):
    petition = petition_in(S.SPONSORED)
    _people(petition)
    client.force_login(moderator)
    data = {
        "action": "reject",
        "reason": "duplicate",
        "details": "See 42.",
        "_save_and_email": "Save and email",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(moderate_url(petition), data, follow=True)
    assert "Petition rejected. The creator and sponsors will be emailed." in _messages(response)
    petition.refresh_from_db()
    assert petition.state == S.REJECTED
    assert len(mailoutbox) == 3


def test_moderation_page_needs_a_reason_to_reject(client, moderator):
    petition = petition_in(S.SPONSORED)
    client.force_login(moderator)
    response = client.post(moderate_url(petition), {"action": "reject", "_save": "Save"})
    assert response.status_code == 200
    assert "Choose a rejection reason." in response.content.decode()
    assert "<title>Error: " in response.content.decode()
    petition.refresh_from_db()
    assert petition.state == S.SPONSORED


def test_a_refused_transition_is_an_error_message_not_a_500(client, moderator):
    petition = petition_in(S.PENDING)
    client.force_login(moderator)
    page = client.get(moderate_url(petition))
    assert "The creator hasn&#x27;t confirmed their email address yet" in page.content.decode()
    response = client.post(moderate_url(petition), {"action": "publish", "_save": "Save"})
    assert response.status_code == 200
    assert "The creator hasn't confirmed their email address yet." in _messages(response)
    petition.refresh_from_db()
    assert petition.state == S.PENDING

    rejected = petition_in(S.REJECTED)
    response = client.post(moderate_url(rejected), {"action": "restore", "_save": "Save"})
    assert response.status_code == 200
    assert "Only a sysadmin can restore a rejected or hidden petition." in _messages(response)


def test_moderation_page_rejects_nonsense_input(client, moderator):
    petition = petition_in(S.SPONSORED)
    client.force_login(moderator)
    response = client.post(moderate_url(petition), {"action": "explode", "reason": "nope", "_save": "Save"})
    assert response.status_code == 200
    petition.refresh_from_db()
    assert petition.state == S.SPONSORED
    assert client.get(reverse("admin:petitions_petition_moderate", args=["999999"])).status_code == 302


def test_second_moderator_sees_the_lock_and_can_take_over(client, moderator):
    petition = petition_in(S.SPONSORED)
    first = make_staff(MODERATORS, "fiona")
    first.first_name = "Fiona"
    first.save()
    with time_machine.travel(datetime(2026, 6, 1, 9, 41, tzinfo=LONDON), tick=False):
        client.force_login(first)
        client.get(moderate_url(petition))
    with time_machine.travel(datetime(2026, 6, 1, 9, 45, tzinfo=LONDON), tick=False):
        client.force_login(moderator)
        page = client.get(moderate_url(petition))
        html = page.content.decode()
        assert "Fiona is moderating this petition (since 09:41)." in html
        assert 'name="_take_over"' in html
        assert 'id="moderation_form"' not in html
        petition.refresh_from_db()
        assert petition.locked_by == first

        # The change form and the list say who holds the lock.
        assert (
            "Fiona is moderating this petition (since 09:41)."
            in client.get(change_url(petition)).content.decode()
        )
        listing = client.get(reverse("admin:petitions_petition_changelist"))
        assert '<td class="field-lock_holder">Fiona</td>' in listing.content.decode()

        # Posting a decision anyway is refused with a message.
        response = client.post(moderate_url(petition), {"action": "publish", "_save": "Save"})
        assert "Fiona is moderating this petition (since 09:41)." in _messages(response)
        petition.refresh_from_db()
        assert petition.state == S.SPONSORED

        response = client.post(moderate_url(petition), {"_take_over": "Take over"})
        assert response.status_code == 302
        petition.refresh_from_db()
        assert petition.locked_by == moderator
        page = client.get(moderate_url(petition))
        assert 'id="moderation_form"' in page.content.decode()

        # Now the first moderator is the one refused.
        client.force_login(first)
        response = client.post(moderate_url(petition), {"action": "flag", "_save": "Save"})
        assert "mo is moderating this petition (since 09:45)." in _messages(response)
        petition.refresh_from_db()
        assert petition.state == S.SPONSORED


def test_cancel_releases_the_lock(client, moderator):
    petition = petition_in(S.SPONSORED)
    client.force_login(moderator)
    client.get(moderate_url(petition))
    response = client.post(moderate_url(petition), {"_release": "Cancel"})
    assert response.status_code == 302
    petition.refresh_from_db()
    assert petition.locked_by is None


def test_sysadmin_sees_restore_publish_and_remove_for_a_hidden_petition(client, sysadmin, moderator):
    petition = petition_in(S.HIDDEN)
    client.force_login(moderator)
    html = client.get(moderate_url(petition)).content.decode()
    assert 'value="restore"' not in html
    assert "Only a sysadmin can restore a rejected or hidden petition." in html
    client.post(moderate_url(petition), {"_release": "Cancel"})

    client.force_login(sysadmin)
    html = client.get(moderate_url(petition)).content.decode()
    for action in ("publish", "reject", "restore", "remove"):
        assert f'value="{action}"' in html
    response = client.post(moderate_url(petition), {"action": "remove", "_save": "Save"})
    assert response.status_code == 302
    petition.refresh_from_db()
    assert petition.state == S.REMOVED


def test_nothing_to_moderate_on_a_removed_petition(client, sysadmin):
    petition = petition_in(S.REMOVED)
    client.force_login(sysadmin)
    page = client.get(moderate_url(petition))
    assert page.status_code == 200
    assert "There is nothing to moderate" in page.content.decode()


# --- The admin: moderation queue ------------------------------------------------------------------


@pytest.fixture
def queue():
    now = timezone.now()

    def waiting(days, state=S.SPONSORED, **kwargs):
        return PetitionFactory(
            state=state, moderation_threshold_reached_at=now - timedelta(days=days), **kwargs
        )

    return {
        "fresh": waiting(1),
        "ten": waiting(10, state=S.FLAGGED),
        "twelve": waiting(12),
        "thirteen": waiting(13),
        "old": waiting(20),
        "older": waiting(30, state=S.FLAGGED),
        "flagged_early": PetitionFactory(state=S.FLAGGED, created_at=now - timedelta(days=2)),
        "open": waiting(40, state=S.OPEN),  # not in moderation
        "dormant": waiting(40, state=S.DORMANT),  # parked: out of the queue
    }


def _listed(client, **params):
    response = client.get(reverse("admin:petitions_petition_changelist"), params)
    assert response.status_code == 200
    return [p.pk for p in response.context["cl"].result_list], response


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        ("recent", ["ten", "flagged_early", "fresh"]),
        ("nearly_overdue", ["thirteen", "twelve"]),
        ("overdue", ["older", "old"]),
        ("all", ["older", "old", "thirteen", "twelve", "ten", "flagged_early", "fresh"]),
    ],
)
def test_queue_buckets_oldest_first(client, moderator, queue, bucket, expected):
    client.force_login(moderator)
    listed, _ = _listed(client, moderation=bucket)
    assert listed == [queue[name].pk for name in expected]


def test_queue_shows_days_waiting_and_its_size(client, moderator, queue):
    client.force_login(moderator)
    _, response = _listed(client, moderation="all")
    html = response.content.decode()
    assert '<td class="field-days_waiting">20</td>' in html
    assert "0–11 days" in html and "11–14 days" in html and "over 14 days" in html
    summary = response.context["moderation_queue"]
    assert (summary["all"], summary["recent"], summary["nearly_overdue"], summary["overdue"]) == (7, 3, 2, 2)
    assert summary["delayed"] is False and "Below the moderation delay threshold (500)" in html

    site = SiteSettings.load()
    site.moderation_delay_threshold = 7
    site.save()
    _, response = _listed(client)
    assert response.context["moderation_queue"]["delayed"] is True
    assert "The queue has reached the moderation delay threshold (7)" in response.content.decode()


def test_unknown_queue_bucket_is_ignored(client, moderator, queue):
    client.force_login(moderator)
    response = client.get(reverse("admin:petitions_petition_changelist"), {"moderation": "<junk>"})
    assert response.status_code in (200, 302)


def test_moderation_changelist_queries_do_not_grow(client, moderator, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(moderator)
    url = reverse("admin:petitions_petition_changelist")
    locker = make_staff(MODERATORS, "locker")

    def add(n):
        for _ in range(n):
            PetitionFactory(
                state=S.SPONSORED,
                moderation_threshold_reached_at=timezone.now() - timedelta(days=3),
                locked_by=locker,
                locked_at=timezone.now(),
            )

    add(3)
    SiteSettings.load()
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, {"moderation": "all"}).status_code == 200
    assert len(few.captured_queries) <= 15
    add(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url, {"moderation": "all"}).status_code == 200
