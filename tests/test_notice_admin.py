"""The bulk email admin: notices' list and progress, the preview / pause / resume / cancel buttons (roles, POST
only, audit rows, messages), the Sysadmins' read-only deliveries list (no addresses), and the bulk email
settings on the Site settings page."""

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from petitions.groups import DEBATE_EDITORS, MODERATORS, RESPONSE_EDITORS, SYSADMINS, staff_groups_ensure
from petitions.models import (
    AuditLog,
    DeliveryState,
    Notice,
    NoticeDelivery,
    NoticeKind,
    NoticeState,
    SiteSettings,
)

from .factories import OpenPetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db


# --- Fixtures and helpers -------------------------------------------------------------------------


def _staff(group_name: str) -> User:
    staff_groups_ensure()
    username = group_name.lower().replace(" ", "_")
    user = User.objects.create_user(username, f"{username}@staff.example", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def editor(db):
    return _staff(RESPONSE_EDITORS)


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def sysadmin_client(client, db):
    client.force_login(_staff(SYSADMINS))
    return client


def _url(view, *args, model="notice"):
    return reverse(f"admin:petitions_{model}_{view}", args=args)


def make_notice(*, state=NoticeState.RUNNING, sent=0, failed=0, skipped=0, queued=0, emails=None, **fields):
    """A notice part-way through: one delivery row per recipient in the given states, counters to match."""
    petition = fields.pop("petition", None) or OpenPetitionFactory(action="Plant more trees")
    notice = Notice.objects.create(
        petition=petition,
        kind=fields.pop("kind", NoticeKind.RESPONSE_PUBLISHED),
        state=state,
        started_at=timezone.now() if state != NoticeState.PENDING else None,
        fanout_done_at=timezone.now() if state != NoticeState.PENDING else None,
        total=sent + failed + skipped + queued,
        sent_count=sent,
        failed_count=failed,
        skipped_count=skipped,
        **fields,
    )
    states = (
        [DeliveryState.SENT] * sent
        + [DeliveryState.FAILED] * failed
        + [DeliveryState.SKIPPED] * skipped
        + [DeliveryState.QUEUED] * queued
    )
    emails = list(emails or [])
    for n, delivery_state in enumerate(states):
        extra = {"email": emails[n]} if n < len(emails) else {}
        signature = ValidatedSignatureFactory(petition=petition, notify_by_email=True, **extra)
        NoticeDelivery.objects.create(
            notice=notice,
            signature=signature,
            state=delivery_state,
            attempts=0 if delivery_state == DeliveryState.QUEUED else 1,
            sent_at=timezone.now() if delivery_state == DeliveryState.SENT else None,
            error="550 5.1.1 <address>: mailbox unavailable"
            if delivery_state == DeliveryState.FAILED
            else "",
        )
    return notice


def page_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- List and progress ----------------------------------------------------------------------------


def test_editor_sees_the_list_with_progress(editor_client):
    make_notice(sent=3, failed=1, queued=4)
    make_notice(
        state=NoticeState.COMPLETED, sent=2, kind=NoticeKind.DEBATE_SCHEDULED, completed_at=timezone.now()
    )
    response = editor_client.get(_url("changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "3 of 8 sent, 1 failed" in page
    assert "50%" in page  # 4 of 8 dealt with
    assert "2 of 2 sent" in page and "100%" in page
    assert "Plant more trees" in page
    assert "Government response published" in page and "Debate scheduled" in page
    # No add button: notices come from the staff action they announce.
    assert _url("add") not in page
    assert editor_client.get(_url("add")).status_code == 403


def test_list_is_newest_first_and_filters_by_state_and_kind(editor_client):
    older = make_notice(state=NoticeState.PAUSED, created_at=timezone.now() - timezone.timedelta(hours=1))
    newer = make_notice(kind=NoticeKind.DEBATE_OUTCOME)
    response = editor_client.get(_url("changelist"))
    assert list(response.context["cl"].result_list) == [newer, older]
    paused = editor_client.get(_url("changelist"), {"state__exact": "paused"})
    assert list(paused.context["cl"].result_list) == [older]
    outcome = editor_client.get(_url("changelist"), {"kind__exact": NoticeKind.DEBATE_OUTCOME})
    assert list(outcome.context["cl"].result_list) == [newer]
    by_petition = editor_client.get(_url("changelist"), {"q": str(older.petition_id)})
    assert list(by_petition.context["cl"].result_list) == [older]


def test_list_queries_do_not_grow_with_rows(editor_client, django_assert_num_queries):
    make_notice(sent=1, queued=1)

    def load():
        response = editor_client.get(_url("changelist"))
        assert response.status_code == 200
        return response

    # Session, user, the user's permissions (2), the two counts, the rows (with petition and created_by
    # joined), the sidebar's site-settings check: none per row.
    with django_assert_num_queries(8):
        load()
    for _ in range(12):
        make_notice(state=NoticeState.PENDING, created_by=User.objects.first())
    with django_assert_num_queries(8):
        response = load()
    assert len(response.context["cl"].result_list) == 13


def test_change_page_shows_progress_and_refreshes_while_running(editor_client):
    notice = make_notice(sent=3, failed=1, skipped=2, queued=4)
    response = editor_client.get(_url("change", notice.pk))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    page = response.content.decode()
    assert "<strong>3</strong> of 10 sent (60%)" in page
    counts = response.context["progress"]
    assert (counts["sent"], counts["total"], counts["failed"], counts["skipped"], counts["queued"]) == (
        3,
        10,
        1,
        2,
        4,
    )
    assert 'http-equiv="refresh"' in page
    for button in ("Send me a preview", "Pause", "Cancel"):
        assert f'value="{button}"' in page
    assert 'value="Resume"' not in page
    assert 'name="csrfmiddlewaretoken"' in page
    # Deliveries are for Sysadmins only: no link for an editor.
    assert _url("changelist", model="noticedelivery") not in page


def test_change_page_links_to_what_the_notice_is_about(editor_client):
    notice = make_notice(source_type="responses.governmentresponse", source_id="7")
    page = editor_client.get(_url("change", notice.pk)).content.decode()
    assert (
        '<a href="/admin/responses/governmentresponse/7/change/">responses.governmentresponse 7</a>' in page
    )
    unknown = make_notice(source_type="gone.model", source_id="3")
    page = editor_client.get(_url("change", unknown.pk)).content.decode()
    assert "gone.model 3" in page


def test_finished_notice_does_not_refresh_and_has_only_the_preview_button(editor_client):
    notice = make_notice(state=NoticeState.COMPLETED, sent=2, completed_at=timezone.now())
    page = editor_client.get(_url("change", notice.pk)).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert 'value="Send me a preview"' in page
    for button in ("Pause", "Resume", "Cancel"):
        assert f'value="{button}"' not in page
    assert "(100%)" in page


def test_change_page_warns_when_bulk_email_is_paused_site_wide(editor_client):
    site = SiteSettings.load()
    site.disable_notifications = True
    site.save()
    notice = make_notice(queued=2)
    page = editor_client.get(_url("change", notice.pk)).content.decode()
    assert "Bulk email is paused site-wide" in page


# --- The buttons ----------------------------------------------------------------------------------


def test_editor_sends_a_preview_to_themselves_only(editor_client, editor, django_capture_on_commit_callbacks):
    notice = make_notice(queued=2, emails=["first.signer@example.net", "second.signer@example.net"])
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(_url("preview", notice.pk), follow=True)
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [editor.email]
    assert not message.cc and not message.bcc
    assert message.subject.startswith("[Preview]")
    assert "example.net" not in str(message.message())
    assert f"Preview sent to {editor.email} (only to you)." in page_messages(response)
    notice.refresh_from_db()
    assert notice.preview_sent_at is not None
    assert notice.state == NoticeState.RUNNING and notice.sent_count == 0  # nothing sent to signers
    assert (
        AuditLog.objects.filter(action="notice.preview", actor=editor, object_id=str(notice.pk)).count() == 1
    )
    assert "last sent" in response.content.decode()


def test_preview_without_an_email_address_gets_a_message(editor_client, editor):
    editor.email = ""
    editor.save()
    notice = make_notice(queued=1)
    response = editor_client.post(_url("preview", notice.pk), follow=True)
    assert response.status_code == 200
    assert "no email address" in " ".join(page_messages(response))
    assert mail.outbox == []
    assert not AuditLog.objects.filter(action="notice.preview").exists()


def test_editor_pauses_resumes_and_cancels(editor_client, editor, django_capture_on_commit_callbacks):
    notice = make_notice(sent=3, failed=1, queued=4)

    response = editor_client.post(_url("pause", notice.pk), follow=True)
    assert "Paused: 3 of 8 sent, 1 failed. Nothing more is sent until you resume it." in page_messages(
        response
    )
    notice.refresh_from_db()
    assert notice.state == NoticeState.PAUSED and notice.paused_at is not None
    page = response.content.decode()
    assert 'value="Resume"' in page and 'value="Pause"' not in page
    assert 'http-equiv="refresh"' not in page

    # The resumed notice's task is queued on commit; not run here, so no signer is emailed.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = editor_client.post(_url("resume", notice.pk), follow=True)
    assert callbacks
    assert "Resumed: the remaining emails are being sent." in page_messages(response)
    notice.refresh_from_db()
    assert notice.state == NoticeState.RUNNING

    response = editor_client.post(_url("cancel", notice.pk), follow=True)
    assert "Cancelled: 3 of 8 sent, 1 failed. No more will be sent." in page_messages(response)
    notice.refresh_from_db()
    assert notice.state == NoticeState.CANCELLED and notice.cancelled_at is not None
    page = response.content.decode()
    for button in ("Pause", "Resume", "Cancel"):
        assert f'value="{button}"' not in page

    actions = list(
        AuditLog.objects.filter(actor=editor, object_id=str(notice.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["notice.pause", "notice.resume", "notice.cancel"]
    assert mail.outbox == []


def test_a_debate_editor_may_steer_notices_too(client):
    client.force_login(_staff(DEBATE_EDITORS))
    notice = make_notice(queued=1)
    assert client.get(_url("changelist")).status_code == 200
    client.post(_url("pause", notice.pk))
    notice.refresh_from_db()
    assert notice.state == NoticeState.PAUSED


def test_a_refused_action_is_a_message_not_an_error_page(editor_client):
    notice = make_notice(state=NoticeState.COMPLETED, sent=1, completed_at=timezone.now())
    for action in ("pause", "resume", "cancel"):
        response = editor_client.post(_url(action, notice.pk), follow=True)
        assert response.status_code == 200
        assert any("notice" in m for m in page_messages(response)), action
    notice.refresh_from_db()
    assert notice.state == NoticeState.COMPLETED
    assert not AuditLog.objects.filter(action__startswith="notice.").exists()


def test_a_missing_notice_redirects_with_a_message(editor_client):
    response = editor_client.post(_url("pause", 999999), follow=True)
    assert response.status_code == 200
    assert any("doesn’t exist" in m for m in page_messages(response))


@pytest.mark.parametrize("action", ["preview", "pause", "resume", "cancel"])
def test_action_urls_are_post_only(editor_client, action):
    notice = make_notice(state=NoticeState.PAUSED, queued=1)
    response = editor_client.get(_url(action, notice.pk))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    notice.refresh_from_db()
    assert notice.state == NoticeState.PAUSED and notice.preview_sent_at is None


def test_action_urls_need_the_csrf_token(client, editor):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(editor)
    notice = make_notice(queued=1)
    assert csrf_client.post(_url("pause", notice.pk)).status_code == 403
    notice.refresh_from_db()
    assert notice.state == NoticeState.RUNNING


def test_moderator_gets_403_everywhere(client):
    client.force_login(_staff(MODERATORS))
    notice = make_notice(queued=2)
    assert client.get(_url("changelist")).status_code == 403
    assert client.get(_url("change", notice.pk)).status_code == 403
    for action in ("preview", "pause", "resume", "cancel"):
        assert client.post(_url(action, notice.pk)).status_code == 403
    assert client.get(_url("changelist", model="noticedelivery")).status_code == 403
    notice.refresh_from_db()
    assert notice.state == NoticeState.RUNNING and notice.preview_sent_at is None
    assert mail.outbox == []
    assert "notice" not in client.get(reverse("admin:index")).content.decode().lower()


def test_only_sysadmins_delete_notices(editor_client, client):
    notice = make_notice(state=NoticeState.CANCELLED, sent=1, cancelled_at=timezone.now())
    assert editor_client.post(_url("delete", notice.pk), {"post": "yes"}).status_code == 403
    assert Notice.objects.filter(pk=notice.pk).exists()

    sysadmin = _staff(SYSADMINS)
    client.force_login(sysadmin)
    confirm = client.get(_url("delete", notice.pk))
    assert confirm.status_code == 200
    assert "1 delivery record" in confirm.content.decode()  # a summary, not a link per recipient
    assert client.post(_url("delete", notice.pk), {"post": "yes"}).status_code == 302
    assert not Notice.objects.filter(pk=notice.pk).exists()
    assert not NoticeDelivery.objects.exists()
    assert AuditLog.objects.filter(
        action="admin.delete", actor=sysadmin, object_type="petitions.notice"
    ).exists()


# --- Deliveries (Sysadmins) -----------------------------------------------------------------------


def test_sysadmin_sees_deliveries_without_addresses(sysadmin_client):
    notice = make_notice(
        sent=1,
        failed=1,
        queued=1,
        emails=["Private.Person@example.net", "other.one@bounce.example", "x@y.example"],
    )
    other = make_notice(sent=1)
    response = sysadmin_client.get(_url("changelist", model="noticedelivery"))
    assert response.status_code == 200
    page = response.content.decode()
    assert len(response.context["cl"].result_list) == 4
    for address in ("private.person", "example.net", "other.one", "bounce.example", "y.example"):
        assert address not in page.lower()
    assert "550 5.1.1 &lt;address&gt;: mailbox unavailable" in page
    failed = NoticeDelivery.objects.get(notice=notice, state=DeliveryState.FAILED)
    assert f">{failed.signature_id}<" in page

    filtered = sysadmin_client.get(_url("changelist", model="noticedelivery"), {"state__exact": "failed"})
    assert list(filtered.context["cl"].result_list) == [failed]
    searched = sysadmin_client.get(_url("changelist", model="noticedelivery"), {"q": str(other.pk)})
    assert [d.notice_id for d in searched.context["cl"].result_list] == [other.pk]
    nonsense = sysadmin_client.get(_url("changelist", model="noticedelivery"), {"q": "someone@example.net"})
    assert nonsense.status_code == 200
    assert list(nonsense.context["cl"].result_list) == []

    detail = sysadmin_client.get(_url("change", failed.pk, model="noticedelivery"))
    assert detail.status_code == 200
    assert "other.one" not in detail.content.decode().lower()
    assert not detail.context["has_change_permission"]
    # The notice's page links to its deliveries for a Sysadmin.
    notice_page = sysadmin_client.get(_url("change", notice.pk)).content.decode()
    link = f"{_url('changelist', model='noticedelivery')}?notice__id__exact={notice.pk}"
    assert link in notice_page.replace("&amp;", "&")
    own = sysadmin_client.get(link)
    assert sorted(d.notice_id for d in own.context["cl"].result_list) == [notice.pk] * 3


def test_deliveries_are_read_only_and_sysadmin_only(sysadmin_client, client, editor):
    notice = make_notice(sent=1)
    delivery = NoticeDelivery.objects.get(notice=notice)
    assert sysadmin_client.get(_url("add", model="noticedelivery")).status_code == 403
    assert (
        sysadmin_client.post(_url("delete", delivery.pk, model="noticedelivery"), {"post": "yes"}).status_code
        == 403
    )
    client.force_login(editor)
    assert client.get(_url("changelist", model="noticedelivery")).status_code == 403
    assert client.get(_url("change", delivery.pk, model="noticedelivery")).status_code == 403
    assert NoticeDelivery.objects.filter(pk=delivery.pk).exists()


# --- Site settings: bulk email --------------------------------------------------------------------


def _settings_form(**overrides):
    site = SiteSettings.load()
    data = {
        "threshold_for_response": site.threshold_for_response,
        "threshold_for_debate": site.threshold_for_debate,
        "petition_duration_months": site.petition_duration_months,
        "minimum_sponsors": site.minimum_sponsors,
        "maximum_sponsors": site.maximum_sponsors,
        "moderation_delay_threshold": site.moderation_delay_threshold,
        "moderation_delay_message": "",
        "response_overdue_months": site.response_overdue_months,
        "banner_message": "",
        "update_signature_counts": "on",
        "signature_count_interval": site.signature_count_interval,
        "bulk_email_rate": site.bulk_email_rate,
        "bulk_email_night_starts": site.bulk_email_night_starts,
        "bulk_email_night_ends": site.bulk_email_night_ends,
        "feedback_email": site.feedback_email,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_site_settings_page_has_the_bulk_email_fieldset(sysadmin_client):
    SiteSettings.load()
    page = sysadmin_client.get(_url("change", 1, model="sitesettings")).content.decode()
    start = page.index("Bulk email</h2>")
    for field in (
        "disable_notifications",
        "bulk_email_rate",
        "bulk_email_night_only",
        "bulk_email_night_starts",
        "bulk_email_night_ends",
    ):
        assert page.index(f'name="{field}"') > start, field


def test_site_settings_bulk_email_fields_save(sysadmin_client):
    SiteSettings.load()
    response = sysadmin_client.post(
        _url("change", 1, model="sitesettings"),
        _settings_form(
            disable_notifications="on",
            bulk_email_rate="50",
            bulk_email_night_only="on",
            bulk_email_night_starts="23",
            bulk_email_night_ends="5",
        ),
    )
    assert response.status_code == 302
    site = SiteSettings.load()
    assert site.disable_notifications is True
    assert (site.bulk_email_rate, site.bulk_email_night_only) == (50, True)
    assert (site.bulk_email_night_starts, site.bulk_email_night_ends) == (23, 5)
    audit = AuditLog.objects.get(action="admin.change", object_type="petitions.sitesettings")
    assert {"bulk_email_rate", "bulk_email_night_only", "disable_notifications"} <= set(
        audit.details["fields"]
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"bulk_email_rate": "0"}, "bulk_email_rate", "at least 1 email a second"),
        ({"bulk_email_rate": "-5"}, "bulk_email_rate", "greater than or equal to 0"),
        ({"bulk_email_rate": "lots"}, "bulk_email_rate", "Enter a whole number"),
        (
            {"bulk_email_night_only": "on", "bulk_email_night_starts": "2", "bulk_email_night_ends": "2"},
            "bulk_email_night_ends",
            "must end at a different hour",
        ),
        ({"bulk_email_night_starts": "24"}, "bulk_email_night_starts", "less than or equal to 23"),
        ({"bulk_email_night_ends": ""}, "bulk_email_night_ends", "This field is required"),
    ],
)
def test_site_settings_bad_bulk_email_values_get_form_errors(sysadmin_client, fields, field, message):
    before = SiteSettings.load()
    response = sysadmin_client.post(_url("change", 1, model="sitesettings"), _settings_form(**fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors.get(field, [])), errors
    assert message in response.content.decode().replace("&#x27;", "'")
    after = SiteSettings.load()
    assert (after.bulk_email_rate, after.bulk_email_night_starts, after.bulk_email_night_ends) == (
        before.bulk_email_rate,
        before.bulk_email_night_starts,
        before.bulk_email_night_ends,
    )


def test_same_start_and_end_hours_are_fine_without_night_only(sysadmin_client):
    SiteSettings.load()
    response = sysadmin_client.post(
        _url("change", 1, model="sitesettings"),
        _settings_form(bulk_email_night_starts="3", bulk_email_night_ends="3"),
    )
    assert response.status_code == 302
    assert SiteSettings.load().bulk_email_night_starts == 3
