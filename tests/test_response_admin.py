"""The government response admin: who may write, publish and read responses; saves go through the service (a
revision and an audit row each); the Publish / Publish and email signers / Unpublish buttons; the history of
revisions; the live Markdown preview endpoint; form errors for bad input; the petition autocomplete (awaiting
petitions first); the changelist's query count."""

import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from petitions.groups import (
    DEBATE_EDITORS,
    MODERATORS,
    RESPONSE_EDITORS,
    REVIEWERS,
    SYSADMINS,
    staff_groups_ensure,
)
from petitions.models import AuditLog, Department, Notice, NoticeKind, Petition, ResponseState
from responses.models import GovernmentResponse, GovernmentResponseRevision, ResponseStatus
from responses.services import government_response_publish, government_response_save

from .factories import OpenPetitionFactory, PetitionFactory
from .test_admin import form_data

pytestmark = pytest.mark.django_db

ROLES = [SYSADMINS, MODERATORS, REVIEWERS, RESPONSE_EDITORS, DEBATE_EDITORS]
BUTTONS = ("publish", "publish_and_email", "unpublish")


def make_staff(group_name: str, username: str | None = None) -> User:
    staff_groups_ensure()
    username = username or group_name.lower().replace(" ", "_")
    user = User.objects.create_user(username, f"{username}@staff.example", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


def url(view, *args, model="governmentresponse"):
    return reverse(f"admin:responses_{model}_{view}", args=args)


def awaiting_petition(days=30, **fields):
    return OpenPetitionFactory(
        response_state=ResponseState.AWAITING,
        response_threshold_reached_at=timezone.now() - timedelta(days=days),
        **fields,
    )


def make_response(petition=None, *, actor=None, **fields) -> GovernmentResponse:
    """A draft saved through the service (by a sysadmin unless `actor` says otherwise)."""
    values = {"responded_on": date(2026, 3, 9), "summary": "We will plant a million trees.", "details": ""}
    values.update(fields)
    if actor is None:
        actor = User.objects.filter(username="setup_admin").first() or make_staff(SYSADMINS, "setup_admin")
    response = GovernmentResponse(petition=petition or awaiting_petition(), **values)
    return government_response_save(response=response, actor=actor, changed_fields=list(values))


def press(client, button, response) -> list[str]:
    """POST a button; it ends back on the change page, whose messages are returned."""
    answer = client.post(url(button, response.pk), follow=True)
    assert answer.redirect_chain == [(url("change", response.pk), 302)]
    return [str(m) for m in answer.context["messages"]]


@pytest.fixture
def department():
    return Department.objects.get_or_create(acronym="DfE", defaults={"name": "Department for Education"})[0]


@pytest.fixture
def login(client):
    def as_role(group_name):
        user = make_staff(group_name)
        client.force_login(user)
        return client, user

    return as_role


# --- Who sees what ---------------------------------------------------------------------------------

PAGE_STATUS = {
    # role: (changelist, add, change page, revision page)
    SYSADMINS: (200, 200, 200, 200),
    RESPONSE_EDITORS: (200, 200, 200, 200),
    REVIEWERS: (200, 403, 200, 200),
    MODERATORS: (403, 403, 403, 403),
    DEBATE_EDITORS: (403, 403, 403, 403),
}


@pytest.mark.parametrize("role", ROLES)
def test_pages_per_role(login, role):
    response = make_response()
    revision = response.revisions.get()
    client, _ = login(role)
    statuses = (
        client.get(url("changelist")).status_code,
        client.get(url("add")).status_code,
        client.get(url("change", response.pk)).status_code,
        client.get(url("change", revision.pk, model="governmentresponserevision")).status_code,
    )
    assert statuses == PAGE_STATUS[role]


@pytest.mark.parametrize("role", ROLES)
def test_only_response_editors_and_sysadmins_press_the_buttons(login, role):
    petition = awaiting_petition()
    response = make_response(petition)
    client, user = login(role)
    page = client.get(url("change", response.pk))
    may = role in (SYSADMINS, RESPONSE_EDITORS)
    if page.status_code == 200:
        html = page.content.decode()
        assert ('value="Publish and email signers"' in html) == may
        assert (url("publish", response.pk) in html) == may

    answer = client.post(url("publish_and_email", response.pk))
    assert answer.status_code == (302 if may else 403)
    response.refresh_from_db()
    petition.refresh_from_db()
    if may:
        assert response.status == ResponseStatus.PUBLISHED
        assert petition.response_state == ResponseState.RESPONDED
        assert petition.government_response_at is not None
        assert Notice.objects.filter(created_by=user).count() == 1
        assert AuditLog.objects.filter(action="response.publish", actor=user).exists()
    else:
        assert response.status == ResponseStatus.DRAFT
        assert petition.response_state == ResponseState.AWAITING
        assert not Notice.objects.exists()
        assert not AuditLog.objects.filter(action="response.publish").exists()


def test_a_reviewer_reads_but_changes_nothing(login):
    response = make_response(summary="Original summary.", details="## Heading\n\nText.")
    client, _ = login(REVIEWERS)
    page = client.get(url("change", response.pk))
    assert not page.context["has_change_permission"]
    html = page.content.decode()
    assert "Original summary." in html
    assert "History of revisions" in html
    assert '<h3 class="govuk-heading-m">Heading</h3>' in html  # the details as the page shows them
    assert 'value="Publish' not in html
    assert client.post(url("change", response.pk), {"summary": "Hijacked"}).status_code == 403
    for button in BUTTONS:
        assert client.post(url(button, response.pk)).status_code == 403
    response.refresh_from_db()
    assert (response.summary, response.status) == ("Original summary.", ResponseStatus.DRAFT)


# --- Adding and changing through the form ------------------------------------------------------------


def test_an_editor_adds_a_response_through_the_service(login, department):
    petition = awaiting_petition(action="Fund rural buses")
    client, editor = login(RESPONSE_EDITORS)
    page = client.get(url("add"))
    data = form_data(page, GovernmentResponse)
    data.update(
        petition=str(petition.pk),
        department=str(department.pk),
        responded_on="2026-03-09",
        summary="Buses matter.\r\nWe fund them.",
        details="We **will** fund buses.\r\n\r\n- Routes\r\n- Fares",
        status=ResponseStatus.PUBLISHED,  # not a form field: ignored
        _continue="Save and continue editing",
    )
    answer = client.post(url("add"), data)
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    response = GovernmentResponse.objects.get(petition=petition)
    assert answer.url == url("change", response.pk)
    assert response.status == ResponseStatus.DRAFT
    assert response.summary == "Buses matter.\nWe fund them."  # line breaks stored as \n
    assert response.department == department

    revision = response.revisions.get()
    assert (revision.number, revision.created_by, revision.status) == (1, editor, ResponseStatus.DRAFT)
    assert {"petition", "department", "responded_on", "summary", "details"} <= set(revision.changed_fields)
    audit = AuditLog.objects.get(action="response.save")
    assert audit.actor == editor and audit.object_id == str(response.pk)
    assert not AuditLog.objects.filter(action__startswith="admin.").exists()
    petition.refresh_from_db()
    assert petition.response_state == ResponseState.AWAITING


def test_changing_records_a_revision_and_the_history_shows_it(login, department):
    response = make_response(details="First details.")
    client, editor = login(RESPONSE_EDITORS)
    change = url("change", response.pk)
    page = client.get(change)
    data = form_data(page, GovernmentResponse)
    assert "petition" not in data  # a response stays with its petition
    assert "status" not in data and "published_at" not in data
    data.update(details="Second details.", _continue="Save and continue editing")
    assert client.post(change, data).status_code == 302

    revisions = list(response.revisions.order_by("number"))
    assert [r.number for r in revisions] == [1, 2]
    assert revisions[1].changed_fields == ["details"]
    assert revisions[1].created_by == editor
    response.refresh_from_db()
    assert response.text_updated_at is None  # a draft

    # Saving the form unchanged (line breaks and all) records nothing as changed.
    page = client.get(change)
    assert client.post(change, {**form_data(page, GovernmentResponse), "_continue": "1"}).status_code == 302
    assert response.revisions.get(number=3).changed_fields == []

    page = client.get(change)
    history = page.content.decode().split('id="response-history"')[1]
    rows = re.findall(r"<tr>(.*?)</tr>", history, re.S)[1:]
    assert len(rows) == 3
    assert "response_editors" in rows[1] and "details" in rows[1]
    assert "nothing changed" in rows[0]
    assert "created" in rows[2]
    assert url("change", revisions[1].pk, model="governmentresponserevision") in rows[1]


def test_editing_a_published_response_marks_it_updated(login):
    response = make_response(summary="Old summary.")
    client, editor = login(RESPONSE_EDITORS)
    government_response_publish(response=response, actor=editor, email_signers=False)
    change = url("change", response.pk)
    data = form_data(client.get(change), GovernmentResponse)
    data.update(summary="New summary.", _continue="1")
    before = timezone.now()
    assert client.post(change, data).status_code == 302
    response.refresh_from_db()
    assert response.status == ResponseStatus.PUBLISHED
    assert response.text_updated_at >= before
    assert response.revisions.get(number=3).changed_fields == ["summary"]


def test_bad_input_gets_form_errors(login):
    petition = awaiting_petition()
    make_response(petition)
    client, _ = login(RESPONSE_EDITORS)
    base = {**form_data(client.get(url("add")), GovernmentResponse), "responded_on": "2026-03-09"}

    too_long = client.post(
        url("add"), {**base, "petition": str(awaiting_petition().pk), "summary": "x" * 501}
    )
    assert too_long.status_code == 200
    assert "summary" in too_long.context["adminform"].form.errors
    assert "at most 500 characters" in too_long.content.decode()

    # 500 characters with line breaks, as a browser posts them (CRLF), fit.
    fits = client.post(
        url("add"),
        {**base, "petition": str(awaiting_petition().pk), "summary": "x\r\n" * 250, "_continue": "1"},
    )
    assert fits.status_code == 302

    missing = client.post(url("add"), {**base, "petition": "", "summary": "A summary."})
    assert missing.status_code == 200
    assert "Choose the petition this response is to." in missing.content.decode()

    second = client.post(url("add"), {**base, "petition": str(petition.pk), "summary": "A second one."})
    assert second.status_code == 200
    assert "This petition already has a government response" in second.content.decode()

    nonsense = client.post(url("add"), {**base, "petition": "not-a-number", "responded_on": "someday"})
    assert nonsense.status_code == 200
    assert set(nonsense.context["adminform"].form.errors) >= {"petition", "responded_on", "summary"}
    for petition_id in ("99999999999999999999999", "-1", "12345678"):
        unknown = client.post(url("add"), {**base, "petition": petition_id, "summary": "A summary."})
        assert unknown.status_code == 200
        assert "Select a valid choice" in unknown.content.decode()

    assert GovernmentResponse.objects.count() == 2
    assert GovernmentResponseRevision.objects.count() == 2


# --- The buttons ---------------------------------------------------------------------------------------


def test_publish_unpublish_buttons(login):
    petition = awaiting_petition()
    response = make_response(petition)
    client, editor = login(RESPONSE_EDITORS)
    change = url("change", response.pk)

    for button in BUTTONS:
        assert client.get(url(button, response.pk)).status_code == 405  # POST only

    [done] = press(client, "publish", response)
    assert "Response published" in done and "not emailed" in done
    response.refresh_from_db()
    petition.refresh_from_db()
    assert response.status == ResponseStatus.PUBLISHED and response.published_by == editor
    assert petition.response_state == ResponseState.RESPONDED
    assert not Notice.objects.exists()

    page = client.get(change).content.decode()
    assert 'value="Unpublish"' in page and 'value="Publish"' not in page
    assert press(client, "publish", response) == ["This response is already published."]

    [done] = press(client, "unpublish", response)
    assert "Response unpublished" in done and "still open" not in done
    response.refresh_from_db()
    petition.refresh_from_db()
    assert response.status == ResponseStatus.DRAFT
    assert (petition.response_state, petition.government_response_at) == (ResponseState.AWAITING, None)

    assert press(client, "unpublish", response) == ["This response is not published."]
    assert list(
        AuditLog.objects.filter(action__startswith="response.", actor=editor)
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["response.publish", "response.unpublish"]


def test_publish_and_email_signers_makes_exactly_one_notice(login):
    response = make_response()
    client, editor = login(RESPONSE_EDITORS)
    [done] = press(client, "publish_and_email", response)
    notice = Notice.objects.get()
    assert (notice.kind, notice.source_id, notice.created_by) == (
        NoticeKind.RESPONSE_PUBLISHED,
        str(response.pk),
        editor,
    )
    assert f"will be emailed (bulk email {notice.pk})" in done

    assert press(client, "publish_and_email", response) == ["This response is already published."]
    assert Notice.objects.count() == 1

    [done] = press(client, "unpublish", response)
    assert f"bulk email {notice.pk}) is still open" in done
    [done] = press(client, "publish_and_email", response)
    assert "already emailed" in done
    assert Notice.objects.count() == 1


def test_a_published_response_cannot_be_deleted(login):
    response = make_response()
    client, admin_user = login(SYSADMINS)
    government_response_publish(response=response, actor=admin_user, email_signers=False)
    assert client.get(url("delete", response.pk)).status_code == 403
    changelist = client.get(url("changelist"))
    assert changelist.context["action_form"] is None  # no "delete selected"
    draft = make_response()
    assert client.get(url("delete", draft.pk)).status_code == 200
    assert client.post(url("delete", draft.pk), {"post": "yes"}).status_code == 302
    assert not GovernmentResponse.objects.filter(pk=draft.pk).exists()
    assert not GovernmentResponseRevision.objects.filter(response_id=draft.pk).exists()
    assert AuditLog.objects.filter(action="admin.delete", object_id=str(draft.pk)).exists()


# --- Revisions admin: read-only for everyone ---------------------------------------------------------


def test_revisions_are_read_only_even_for_a_superuser(client):
    response = make_response(details="Some <script>alert(1)</script> *text*.")
    revision = response.revisions.get()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get(url("change", revision.pk, model="governmentresponserevision"))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    html = page.content.decode()
    assert "<em>text</em>" in html and "<script>alert" not in html
    assert client.get(url("add", model="governmentresponserevision")).status_code == 403
    assert client.get(url("delete", revision.pk, model="governmentresponserevision")).status_code == 403
    answer = client.post(
        url("change", revision.pk, model="governmentresponserevision"), {"summary": "Forged"}
    )
    assert answer.status_code == 403
    revision.refresh_from_db()
    assert revision.summary == "We will plant a million trees."


# --- The live preview ------------------------------------------------------------------------------------


MALICIOUS = (
    "## Plan\n\n"
    "<script>alert('x')</script>\n\n"
    '<div onclick="steal()">raw <b>html</b></div>\n\n'
    '[click me](javascript:alert(1)) and <a href="javascript:alert(2)">this</a>\n\n'
    "[GOV.UK](https://www.gov.uk)"
)


def test_the_preview_renders_sanitised_html(login):
    client, _ = login(RESPONSE_EDITORS)
    answer = client.post(url("preview"), {"text": MALICIOUS})
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    html = answer.json()["html"]
    assert '<h3 class="govuk-heading-m">Plan</h3>' in html
    assert '<a class="govuk-link" href="https://www.gov.uk" rel="noopener noreferrer">GOV.UK</a>' in html
    for bad in ("<script", "alert(", "javascript:", "onclick", "<div", "<b>"):
        assert bad not in html


def test_the_preview_refuses_get_non_staff_and_staff_who_write_no_responses(client):
    preview = url("preview")
    editor = make_staff(RESPONSE_EDITORS)
    client.force_login(editor)
    assert client.get(preview, {"text": "x"}).status_code == 405

    too_long = client.post(preview, {"text": "x" * 10_001})
    assert too_long.status_code == 400 and "10,000" in too_long.json()["error"]

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(editor)
    assert csrf_client.post(preview, {"text": "x"}).status_code == 403

    for user in (make_staff(MODERATORS), make_staff(REVIEWERS)):
        client.force_login(user)
        assert client.post(preview, {"text": "x"}).status_code == 403

    client.force_login(User.objects.create_user("member", password="pw"))  # not staff
    answer = client.post(preview, {"text": "<b>x</b>"})
    assert answer.status_code == 302 and "/admin/login/" in answer.url
    client.logout()
    answer = client.post(preview, {"text": "x"})
    assert answer.status_code == 302 and "/admin/login/" in answer.url


def test_the_form_wires_the_preview_and_counter_without_inline_script(login):
    client, _ = login(RESPONSE_EDITORS)
    for page in (client.get(url("add")), client.get(url("change", make_response().pk))):
        html = page.content.decode()
        assert f'data-markdown-preview-url="{url("preview")}"' in html
        assert 'data-markdown-preview-output="details"' in html
        assert 'data-character-count="500"' in html
        assert 'src="/static/js/response_preview.js"' in html
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all(" src=" in tag for tag in scripts)


# --- The petition autocomplete ---------------------------------------------------------------------------


def _autocomplete(client, model_name, field_name, term=""):
    answer = client.get(
        reverse("admin:autocomplete"),
        {"term": term, "app_label": "responses", "model_name": model_name, "field_name": field_name},
    )
    assert answer.status_code == 200
    return [int(row["id"]) for row in answer.json()["results"]]


def test_the_petition_autocomplete_lists_awaiting_petitions_first(login):
    now = timezone.now()
    newest = PetitionFactory(action="Trees newest", created_at=now)
    awaiting_recent = awaiting_petition(
        days=3, action="Trees awaiting recently", created_at=now - timedelta(days=60)
    )
    responded = OpenPetitionFactory(
        action="Trees responded",
        response_state=ResponseState.RESPONDED,
        response_threshold_reached_at=now - timedelta(days=200),
        created_at=now - timedelta(days=10),
    )
    awaiting_oldest = awaiting_petition(
        days=90, action="Trees awaiting longest", created_at=now - timedelta(days=120)
    )
    other = PetitionFactory(action="Buses", created_at=now - timedelta(days=1))
    client, _ = login(RESPONSE_EDITORS)

    assert _autocomplete(client, "governmentresponse", "petition") == [
        awaiting_oldest.pk,
        awaiting_recent.pk,
        newest.pk,
        other.pk,
        responded.pk,
    ]
    assert _autocomplete(client, "governmentresponse", "petition", "trees") == [
        awaiting_oldest.pk,
        awaiting_recent.pk,
        newest.pk,
        responded.pk,
    ]
    assert _autocomplete(client, "governmentresponse", "petition", str(awaiting_recent.pk)) == [
        awaiting_recent.pk
    ]
    # Other autocompletes keep the petition admin's own order (newest first).
    assert _autocomplete(client, "consultation", "petitions") == list(
        Petition.objects.order_by("-created_at").values_list("pk", flat=True)
    )


# --- Query counts ----------------------------------------------------------------------------------------


def test_the_changelist_makes_a_fixed_number_of_queries(login, department, django_assert_num_queries):
    client, editor = login(RESPONSE_EDITORS)
    for _ in range(3):
        make_response(actor=editor, department=department)
    client.get(url("changelist"))  # warm the per-process caches (content types, site settings)

    # session, user, permissions (user's, groups'), department filter choices, counts (filtered, total), groups
    # (the role check), rows, date hierarchy (range, days)
    expected = 11
    with django_assert_num_queries(expected):
        page = client.get(url("changelist"))
    assert page.status_code == 200 and page.context["cl"].result_count == 3

    for _ in range(10):
        make_response(actor=editor, department=department)
    with django_assert_num_queries(expected):
        page = client.get(url("changelist"))
    assert page.context["cl"].result_count == 13


def test_the_revision_changelist_makes_a_fixed_number_of_queries(login, django_assert_num_queries):
    client, _ = login(REVIEWERS)
    editor = make_staff(RESPONSE_EDITORS)
    response = make_response(actor=editor)
    revisions = url("changelist", model="governmentresponserevision")
    client.get(revisions)
    with django_assert_num_queries(7) as first:
        page = client.get(revisions)
    assert len(page.context["cl"].result_list) == 1

    for n in range(5):
        copy = GovernmentResponse.objects.get(pk=response.pk)
        copy.summary = f"Summary {n}"
        government_response_save(response=copy, actor=editor, changed_fields=["summary"])
    make_response(actor=make_staff(SYSADMINS, "another_admin"))
    with django_assert_num_queries(len(first.captured_queries)):
        page = client.get(revisions)
    assert len(page.context["cl"].result_list) == 7
