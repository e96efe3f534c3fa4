"""The government response services: roles, revisions, "Updated on", publishing (the petition's response state,
exactly one bulk email), unpublishing, audit rows, and the response email's safe Markdown."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from petitions.groups import (
    DEBATE_EDITORS,
    MODERATORS,
    RESPONSE_EDITORS,
    REVIEWERS,
    SYSADMINS,
    staff_groups_ensure,
)
from petitions.models import AuditLog, Department, Notice, NoticeKind, NoticeState, Petition, ResponseState
from petitions.services import NotAllowed, TransitionError, notice_email_render
from responses.models import GovernmentResponse, GovernmentResponseRevision, ResponseStatus
from responses.services import (
    ResponseTransitionError,
    government_response_publish,
    government_response_save,
    government_response_unpublish,
    is_response_editor,
)

from .factories import OpenPetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

ROLES = [SYSADMINS, MODERATORS, REVIEWERS, RESPONSE_EDITORS, DEBATE_EDITORS]
EDITING_ROLES = {SYSADMINS, RESPONSE_EDITORS}
MALICIOUS_DETAILS = (
    "We **will** act.\n\n"
    "<script>alert('details')</script>\n\n"
    '<a href="javascript:alert(1)">raw link</a> and <img src=x onerror="alert(2)">\n\n'
    "[a markdown link](javascript:alert(3)) and [a good one](https://www.gov.uk/dfe)"
)


def make_staff(group_name: str, username: str | None = None) -> User:
    staff_groups_ensure()
    username = username or group_name.lower().replace(" ", "_")
    user = User.objects.create_user(username, f"{username}@staff.example", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def editor():
    return make_staff(RESPONSE_EDITORS)


@pytest.fixture
def petition():
    return OpenPetitionFactory(
        action="Plant more trees",
        response_state=ResponseState.AWAITING,
        response_threshold_reached_at=timezone.now() - timedelta(days=30),
    )


@pytest.fixture
def department():
    return Department.objects.get_or_create(acronym="DEFRA", defaults={"name": "Department for Trees"})[0]


def draft(petition, editor, **fields) -> GovernmentResponse:
    """A response saved through the service, as the admin's add form does."""
    values = {"responded_on": date(2026, 3, 9), "summary": "We will plant a million trees.", "details": ""}
    values.update(fields)
    response = GovernmentResponse(petition=petition, **values)
    return government_response_save(
        response=response, actor=editor, changed_fields=["petition", "responded_on", "summary", *fields]
    )


def edit(response, actor, **fields) -> GovernmentResponse:
    """Change fields on a fresh copy and save it, as the admin's change form does."""
    copy = GovernmentResponse.objects.get(pk=response.pk)
    for name, value in fields.items():
        setattr(copy, name, value)
    return government_response_save(response=copy, actor=actor, changed_fields=list(fields))


# --- Roles -----------------------------------------------------------------------------------------


def test_is_response_editor():
    users = {role: make_staff(role) for role in ROLES}
    assert {role for role, user in users.items() if is_response_editor(user)} == EDITING_ROLES
    assert is_response_editor(User.objects.create_superuser("root", "root@example.com", "pw"))
    assert not is_response_editor(None)
    inactive = users[RESPONSE_EDITORS]
    inactive.is_active = False
    assert not is_response_editor(inactive)


@pytest.mark.parametrize("role", ROLES)
def test_only_response_editors_and_sysadmins_save_publish_and_unpublish(role, petition):
    user = make_staff(role)
    response = GovernmentResponse.objects.create(
        petition=petition, responded_on=date(2026, 3, 9), summary="Stored summary."
    )
    calls = {
        "save": lambda: edit(response, user, summary="Changed summary."),
        "publish": lambda: government_response_publish(response=response, actor=user, email_signers=True),
        "unpublish": lambda: government_response_unpublish(response=response, actor=user),
    }
    for call in calls.values():
        if role in EDITING_ROLES:
            call()
        else:
            with pytest.raises(NotAllowed, match="Only response editors and sysadmins"):
                call()
    response.refresh_from_db()
    petition.refresh_from_db()
    if role in EDITING_ROLES:
        assert response.summary == "Changed summary."
        assert response.status == ResponseStatus.DRAFT  # published, then unpublished
        assert Notice.objects.count() == 1
        assert list(AuditLog.objects.filter(actor=user).values_list("action", flat=True).order_by("pk")) == [
            "response.save",
            "notice.create",
            "response.publish",
            "response.unpublish",
        ]
    else:
        assert (response.summary, response.status) == ("Stored summary.", ResponseStatus.DRAFT)
        assert petition.response_state == ResponseState.AWAITING
        assert not Notice.objects.exists()
        assert not GovernmentResponseRevision.objects.exists()
        assert not AuditLog.objects.exists()


def test_the_errors_are_transition_errors():
    assert issubclass(ResponseTransitionError, TransitionError)
    assert issubclass(NotAllowed, TransitionError)


# --- Saving and revisions ----------------------------------------------------------------------------


def test_a_new_response_is_a_draft_with_its_first_revision_and_an_audit_row(petition, editor, department):
    response = draft(petition, editor, department=department, details="Some *details*.")
    response.refresh_from_db()
    assert response.status == ResponseStatus.DRAFT
    assert response.published_at is None and response.text_updated_at is None

    revision = response.revisions.get()
    assert revision.number == 1
    assert revision.created_by == editor
    assert revision.status == ResponseStatus.DRAFT
    assert (revision.summary, revision.details) == ("We will plant a million trees.", "Some *details*.")
    assert revision.department_name == "Department for Trees"
    assert revision.responded_on == date(2026, 3, 9)
    assert set(revision.changed_fields) == {"petition", "responded_on", "summary", "department", "details"}

    audit = AuditLog.objects.get(action="response.save")
    assert audit.actor == editor
    assert (audit.object_type, audit.object_id) == ("responses.governmentresponse", str(response.pk))
    assert audit.details["created"] is True and audit.details["revision"] == 1
    petition.refresh_from_db()
    assert petition.response_state == ResponseState.AWAITING  # a draft changes nothing public


def test_each_save_records_the_next_revision_with_what_really_changed_and_who(petition, editor, department):
    response = draft(petition, editor)
    other = make_staff(SYSADMINS, "sam_admin")
    edit(response, other, summary="A better summary.")
    # The form may call a field changed when it is not (e.g. re-posted unchanged): only real changes count.
    edit(response, editor, details="New details.", summary="A better summary.", department=department)

    revisions = list(response.revisions.order_by("number"))
    assert [r.number for r in revisions] == [1, 2, 3]
    assert [r.created_by for r in revisions] == [editor, other, editor]
    assert revisions[1].changed_fields == ["summary"]
    assert revisions[1].summary == "A better summary."
    assert revisions[2].changed_fields == ["details", "department"]
    assert revisions[2].department_name == "Department for Trees"
    assert revisions[2].details == "New details."
    assert revisions[0].summary == "We will plant a million trees."  # earlier text kept
    assert AuditLog.objects.filter(action="response.save").count() == 3
    assert AuditLog.objects.filter(action="response.save", actor=other).get().details["fields"] == ["summary"]


def test_saving_never_changes_the_status_or_the_publication(petition, editor):
    response = draft(petition, editor)
    copy = GovernmentResponse.objects.get(pk=response.pk)
    copy.status, copy.published_at = ResponseStatus.PUBLISHED, timezone.now()
    government_response_save(response=copy, actor=editor, changed_fields=["status", "published_at"])
    response.refresh_from_db()
    assert (response.status, response.published_at) == (ResponseStatus.DRAFT, None)


def test_editing_a_published_responses_text_sets_text_updated_at_and_a_draft_does_not(
    petition, editor, department
):
    response = draft(petition, editor)
    edit(response, editor, summary="Draft wording.")
    response.refresh_from_db()
    assert response.text_updated_at is None

    government_response_publish(response=response, actor=editor, email_signers=False)
    edit(response, editor, department=department, responded_on=date(2026, 3, 10))
    response.refresh_from_db()
    assert response.text_updated_at is None  # not the text

    before = timezone.now()
    edit(response, editor, details="A correction.")
    response.refresh_from_db()
    assert response.text_updated_at >= before
    first_update = response.text_updated_at
    edit(response, editor, summary="Corrected summary.")
    response.refresh_from_db()
    assert response.text_updated_at > first_update
    assert response.status == ResponseStatus.PUBLISHED


# --- Publishing ----------------------------------------------------------------------------------------


def test_publishing_makes_the_petition_responded(petition, editor):
    response = draft(petition, editor)
    stale = Petition.objects.get(pk=petition.pk)  # the caller's copy, loaded before the publication
    Petition.objects.filter(pk=petition.pk).update(signature_count=12_345)

    before = timezone.now()
    assert government_response_publish(response=response, actor=editor, email_signers=False) is None
    assert response.status == ResponseStatus.PUBLISHED  # the caller's instance follows

    response.refresh_from_db()
    assert response.status == ResponseStatus.PUBLISHED
    assert response.published_at >= before and response.published_by == editor
    petition.refresh_from_db()
    assert petition.response_state == ResponseState.RESPONDED
    assert petition.government_response_at >= before
    assert petition.signature_count == 12_345  # updated in place, not saved from a stale copy
    assert stale.response_state == ResponseState.AWAITING
    assert not Notice.objects.exists()

    revision = response.revisions.get(number=2)
    assert (revision.status, revision.changed_fields, revision.created_by) == (
        ResponseStatus.PUBLISHED,
        ["status"],
        editor,
    )
    audit = AuditLog.objects.get(action="response.publish")
    assert audit.actor == editor and audit.details["email_signers"] is False
    assert audit.details["petition"] == petition.pk


def test_publishing_twice_is_refused(petition, editor):
    response = draft(petition, editor)
    government_response_publish(response=response, actor=editor, email_signers=False)
    stale = GovernmentResponse.objects.get(pk=response.pk)
    stale.status = ResponseStatus.DRAFT  # a page loaded before the first press
    with pytest.raises(ResponseTransitionError, match="already published"):
        government_response_publish(response=stale, actor=editor, email_signers=True)
    assert not Notice.objects.exists()
    assert AuditLog.objects.filter(action="response.publish").count() == 1


def test_publish_and_email_signers_queues_exactly_one_notice(
    petition, editor, django_capture_on_commit_callbacks
):
    response = draft(petition, editor)
    with django_capture_on_commit_callbacks(execute=False):
        notice = government_response_publish(response=response, actor=editor, email_signers=True)
    assert Notice.objects.get() == notice
    assert notice.kind == NoticeKind.RESPONSE_PUBLISHED
    assert (notice.source_type, notice.source_id) == ("responses.governmentresponse", str(response.pk))
    assert notice.petition_id == petition.pk and notice.created_by == editor
    assert AuditLog.objects.get(action="response.publish").details["notice"] == notice.pk

    with pytest.raises(ResponseTransitionError):
        government_response_publish(response=response, actor=editor, email_signers=True)
    assert Notice.objects.count() == 1

    # Unpublished and published again, once the first email has gone: nobody is emailed twice.
    Notice.objects.filter(pk=notice.pk).update(state=NoticeState.COMPLETED, completed_at=timezone.now())
    government_response_unpublish(response=response, actor=editor)
    again = government_response_publish(response=response, actor=editor, email_signers=True)
    assert again.pk == notice.pk
    assert Notice.objects.count() == 1

    # A cancelled email does not count as sent: publishing with email again queues a new one.
    Notice.objects.filter(pk=notice.pk).update(state=NoticeState.CANCELLED, cancelled_at=timezone.now())
    government_response_unpublish(response=response, actor=editor)
    fresh = government_response_publish(response=response, actor=editor, email_signers=True)
    assert fresh.pk != notice.pk
    assert Notice.objects.exclude(state=NoticeState.CANCELLED).count() == 1


def test_the_notice_rolls_back_with_a_failed_publication(petition, editor):
    response = draft(petition, editor)
    with pytest.raises(RuntimeError), transaction.atomic():
        government_response_publish(response=response, actor=editor, email_signers=True)
        raise RuntimeError("the request failed after the publication")
    assert not Notice.objects.exists()
    response.refresh_from_db()
    petition.refresh_from_db()
    assert response.status == ResponseStatus.DRAFT
    assert petition.response_state == ResponseState.AWAITING
    assert not AuditLog.objects.filter(action="response.publish").exists()


def test_first_publication_is_kept_across_unpublish_and_publish(petition, editor):
    response = draft(petition, editor)
    government_response_publish(response=response, actor=editor, email_signers=False)
    response.refresh_from_db()
    first_at, first_by = response.published_at, response.published_by
    government_response_unpublish(response=response, actor=editor)
    other = make_staff(SYSADMINS, "second_publisher")
    government_response_publish(response=response, actor=other, email_signers=False)
    response.refresh_from_db()
    assert (response.published_at, response.published_by) == (first_at, first_by)


# --- Unpublishing ----------------------------------------------------------------------------------


def test_unpublishing_puts_the_petition_back_to_awaiting(petition, editor):
    response = draft(petition, editor)
    government_response_publish(response=response, actor=editor, email_signers=False)
    government_response_unpublish(response=response, actor=editor)

    response.refresh_from_db()
    petition.refresh_from_db()
    assert response.status == ResponseStatus.DRAFT
    assert petition.response_state == ResponseState.AWAITING
    assert petition.government_response_at is None
    assert [r.status for r in response.revisions.order_by("number")] == [
        ResponseStatus.DRAFT,
        ResponseStatus.PUBLISHED,
        ResponseStatus.DRAFT,
    ]
    audit = AuditLog.objects.get(action="response.unpublish")
    assert audit.actor == editor and audit.details["revision"] == 3


def test_unpublishing_a_petition_below_the_threshold_puts_it_back_to_pending(editor):
    petition = OpenPetitionFactory(response_state=ResponseState.PENDING)
    response = draft(petition, editor)
    government_response_publish(response=response, actor=editor, email_signers=False)
    petition.refresh_from_db()
    assert petition.response_state == ResponseState.RESPONDED
    government_response_unpublish(response=response, actor=editor)
    petition.refresh_from_db()
    assert (petition.response_state, petition.government_response_at) == (ResponseState.PENDING, None)


def test_unpublishing_a_draft_is_refused(petition, editor):
    response = draft(petition, editor)
    with pytest.raises(ResponseTransitionError, match="not published"):
        government_response_unpublish(response=response, actor=editor)
    assert not AuditLog.objects.filter(action="response.unpublish").exists()
    assert response.revisions.count() == 1


# --- The email -------------------------------------------------------------------------------------


def _assert_safe(text: str, html: str) -> None:
    for part in (text, html):
        assert "<script" not in part.lower()
        assert "javascript:" not in part.lower()
        assert "onerror" not in part.lower()
        assert "alert(" not in part


def test_the_response_email_renders_malicious_markdown_safely(petition, editor):
    response = draft(petition, editor, details=MALICIOUS_DETAILS)
    creator = ValidatedSignatureFactory(petition=petition, creator=True, name="Jo Creator")
    notice = Notice(
        petition=petition,
        kind=NoticeKind.RESPONSE_PUBLISHED,
        source_type="responses.governmentresponse",
        source_id=str(response.pk),
    )
    subject, text, html = notice_email_render(notice=notice, signature=creator)
    assert subject.startswith("The government responded to your petition")
    _assert_safe(text, html)
    # Text: the Markdown as plain text, never raw Markdown or HTML.
    assert "We will act." in text and "**" not in text and "<strong>" not in text
    assert "a good one (https://www.gov.uk/dfe)" in text
    assert "<a " not in text
    # HTML: rendered and sanitised.
    assert "We <strong>will</strong> act." in html
    assert 'href="https://www.gov.uk/dfe"' in html


def test_signers_get_the_published_response_by_email_without_any_script(
    petition, editor, django_capture_on_commit_callbacks
):
    cache.clear()  # the bulk email throttle's counters
    ValidatedSignatureFactory(petition=petition, creator=True, email="creator@example.org")
    ValidatedSignatureFactory(petition=petition, notify_by_email=True, email="signer@example.org")
    ValidatedSignatureFactory(petition=petition, notify_by_email=False, email="quiet@example.org")
    response = draft(petition, editor, details=MALICIOUS_DETAILS)

    with django_capture_on_commit_callbacks(execute=True):
        government_response_publish(response=response, actor=editor, email_signers=True)

    assert sorted(address for message in mail.outbox for address in message.to) == [
        "creator@example.org",
        "signer@example.org",
    ]
    for message in mail.outbox:
        html = message.alternatives[0][0]
        _assert_safe(message.body, html)
        assert "We will plant a million trees." in message.body
        assert "We <strong>will</strong> act." in html
    assert Notice.objects.get().state == NoticeState.COMPLETED
