"""At 10,000 and 100,000 signatures (here 3 and 5): the creator is told once, the editors get a daily digest, and
the admin home page shows the queues."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.utils import timezone

from petitions import tasks
from petitions.groups import DEBATE_EDITORS, RESPONSE_EDITORS, staff_groups_ensure
from petitions.models import (
    AuditLog,
    DebateState,
    Petition,
    ResponseState,
    Signature,
    SignatureState,
    SiteSettings,
)
from petitions.services import petitions_thresholds_check, signatures_tally, threshold_digests_send

from .factories import OpenPetitionFactory, SignatureFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def low_thresholds():
    site = SiteSettings.load()
    site.threshold_for_response, site.threshold_for_debate = 3, 5
    site.save()


@pytest.fixture
def petition():
    petition = OpenPetitionFactory(action="Save the red squirrel")
    SignatureFactory(
        petition=petition, creator=True, name="Rosa Creator", email="rosa@example.com",
        state=SignatureState.VALIDATED, validated_at=timezone.now(),
    )  # fmt: skip
    signatures_tally()
    return petition


def tally(captured):
    with captured(execute=True):
        return signatures_tally()


def subjects() -> list[str]:
    return [m.subject for m in mail.outbox]


def test_the_creator_hears_once_at_each_threshold(petition, django_capture_on_commit_callbacks):
    ValidatedSignatureFactory.create_batch(2, petition=petition)
    for _ in range(3):
        tally(django_capture_on_commit_callbacks)
    assert subjects() == ["Your petition has 3 signatures: the government will respond"]
    assert mail.outbox[0].to == ["rosa@example.com"]
    assert f"/petitions/{petition.pk}" in mail.outbox[0].body

    ValidatedSignatureFactory.create_batch(2, petition=petition)
    for _ in range(3):
        tally(django_capture_on_commit_callbacks)
    assert subjects()[1:] == ["Your petition has 5 signatures: it will be considered for debate"]
    petition.refresh_from_db()
    assert (petition.response_state, petition.debate_state) == (ResponseState.AWAITING, DebateState.AWAITING)


def test_a_crossing_seen_by_two_checks_moves_and_emails_once(petition, django_capture_on_commit_callbacks):
    ValidatedSignatureFactory.create_batch(2, petition=petition)
    with django_capture_on_commit_callbacks(execute=True):
        signatures_tally()
        first = petitions_thresholds_check([petition.pk])
    assert first["response_reached"] == []  # the tally already moved it
    assert len(mail.outbox) == 1


def test_falling_back_below_reverts_without_an_email(petition, django_capture_on_commit_callbacks):
    signatures = ValidatedSignatureFactory.create_batch(2, petition=petition)
    tally(django_capture_on_commit_callbacks)
    Signature.objects.filter(pk=signatures[0].pk).update(state=SignatureState.INVALIDATED)
    tally(django_capture_on_commit_callbacks)
    petition.refresh_from_db()
    assert petition.response_threshold_reached_at is None and petition.response_state == ResponseState.PENDING
    assert len(mail.outbox) == 1


# --- The editors' digest --------------------------------------------------------------------------------------


@pytest.fixture
def editors():
    staff_groups_ensure()
    response = User.objects.create_user("resp", "response.editor@parliament.example", "x", is_staff=True)
    response.groups.add(Group.objects.get(name=RESPONSE_EDITORS))
    debate = User.objects.create_user("deb", "debate.editor@parliament.example", "x", is_staff=True)
    debate.groups.add(Group.objects.get(name=DEBATE_EDITORS))
    User.objects.create_user("gone", "gone@parliament.example", "x", is_active=False).groups.add(
        Group.objects.get(name=RESPONSE_EDITORS)
    )
    return response, debate


def awaiting(action, *, response_at=None, debate_at=None):
    return OpenPetitionFactory(
        action=action,
        signature_count=7,
        response_state=ResponseState.AWAITING if response_at else ResponseState.PENDING,
        response_threshold_reached_at=response_at,
        debate_state=DebateState.AWAITING if debate_at else DebateState.PENDING,
        debate_threshold_reached_at=debate_at,
    )


def test_the_digest_lists_new_crossings_to_each_group_once(editors, django_capture_on_commit_callbacks):
    now = timezone.now()
    awaiting("Old news", response_at=now - timedelta(days=3))
    awaiting("Plant more trees", response_at=now - timedelta(hours=5))
    awaiting("Ban fireworks", response_at=now - timedelta(hours=2), debate_at=now - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert threshold_digests_send(now=now) == {"response": 2, "debate": 1}
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert set(by_recipient) == {"response.editor@parliament.example", "debate.editor@parliament.example"}
    response_mail = by_recipient["response.editor@parliament.example"]
    assert response_mail.subject == "2 petitions now awaiting a government response"
    assert "Plant more trees" in response_mail.body and "Ban fireworks" in response_mail.body
    assert "Old news" not in response_mail.body
    assert (
        by_recipient["debate.editor@parliament.example"].subject
        == "1 petition now awaiting a debate decision"
    )

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert threshold_digests_send(now=now + timedelta(minutes=1)) == {"response": 0, "debate": 0}
    assert mail.outbox == []
    assert AuditLog.objects.filter(action__startswith="digest.").count() == 2


def test_the_next_digest_starts_where_the_last_ended(editors, django_capture_on_commit_callbacks):
    now = timezone.now()
    awaiting("First", response_at=now - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        threshold_digests_send(now=now)
    mail.outbox.clear()
    awaiting("Second", response_at=now + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert threshold_digests_send(now=now + timedelta(days=1)) == {"response": 1, "debate": 0}
    [message] = mail.outbox
    assert "Second" in message.body and "First" not in message.body


def test_the_digest_task_is_scheduled_each_morning(settings, editors):
    entry = settings.CELERY_BEAT_SCHEDULE["petitions-threshold-digests"]
    assert entry["task"] == "petitions.tasks.threshold_digests"
    assert tasks.threshold_digests() == {"response": 0, "debate": 0}


# --- The admin home page --------------------------------------------------------------------------------------


def test_the_admin_home_shows_both_queues_oldest_first(admin_client, django_assert_max_num_queries):
    now = timezone.now()
    awaiting("Newer", response_at=now - timedelta(days=2))
    awaiting("Older", response_at=now - timedelta(days=9), debate_at=now - timedelta(days=4))
    Petition.objects.update(signature_count=12_345)
    with django_assert_max_num_queries(8):
        page = admin_client.get("/admin/").content.decode()
    queues = page.split('id="staff-queues"')[1].split("</div>")[0]
    response_queue, debate_queue = queues.split("Awaiting a debate decision")
    assert "Awaiting a government response (2)" in response_queue
    assert response_queue.index("Older") < response_queue.index("Newer")
    assert "9 days" in response_queue and "2 days" in response_queue
    assert "Older" in debate_queue and "4 days" in debate_queue and "Newer" not in debate_queue


def test_staff_who_cannot_see_petitions_get_no_queues(client):
    user = User.objects.create_user("plain", "plain@parliament.example", "x", is_staff=True)
    client.force_login(user)
    assert 'id="staff-queues"' not in client.get("/admin/").content.decode()
