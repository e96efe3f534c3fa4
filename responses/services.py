"""Writes for government responses: saving a draft or a correction, publishing and unpublishing.

Each function is one transaction that takes the acting staff user, checks their role (Response editors and
Sysadmins), records a numbered GovernmentResponseRevision (who, when, which fields, the text as it then stood)
and an audit row. A refused action raises `ResponseTransitionError` (or `NotAllowed` for the role), a
`TransitionError` whose message is written for staff; the admin shows it as an error message.

Publishing moves the petition to "Government responded"; "Publish and email signers" queues the bulk email
(a Notice) in the same transaction, so the email and the publication commit or roll back together.
"""

from django.db import transaction
from django.db.models import Case, Max, Value, When
from django.utils import timezone

from petitions.groups import RESPONSE_EDITORS
from petitions.models import Notice, NoticeKind, NoticeState, Petition, ResponseState
from petitions.services import NotAllowed, TransitionError, audit_log_record, is_sysadmin, notice_create
from petitions.services.moderation import staff_group_names

from .models import GovernmentResponse, GovernmentResponseRevision, ResponseStatus

#: The fields a revision copies; a change to TEXT_FIELDS of a published response is shown as "Updated on".
REVISED_FIELDS = ("petition", "department", "responded_on", "summary", "details")
TEXT_FIELDS = ("summary", "details")


class ResponseTransitionError(TransitionError):
    """The response's status does not allow the action (publishing a published response...)."""


def is_response_editor(user) -> bool:
    """May write and publish government responses: a Response editor or a Sysadmin."""
    active = user is not None and getattr(user, "is_authenticated", False) and user.is_active
    return active and (is_sysadmin(user) or RESPONSE_EDITORS in staff_group_names(user))


def _require_editor(actor, doing: str) -> None:
    if not is_response_editor(actor):
        raise NotAllowed(f"Only response editors and sysadmins can {doing}.")


def _locked(response: GovernmentResponse) -> GovernmentResponse:
    return GovernmentResponse.objects.select_for_update(of=("self",)).get(pk=response.pk)


def _revision_record(
    response: GovernmentResponse, actor, changed_fields: list[str], now
) -> GovernmentResponseRevision:
    # The response row is locked (or new), so the next number cannot be taken twice.
    last = response.revisions.aggregate(last=Max("number"))["last"] or 0
    return GovernmentResponseRevision.objects.create(
        response=response,
        number=last + 1,
        status=response.status,
        responded_on=response.responded_on,
        summary=response.summary,
        details=response.details,
        department_name=response.department.name if response.department_id else "",
        changed_fields=list(changed_fields),
        created_by=actor if actor is not None and actor.is_authenticated else None,
        created_at=now,
    )


def _sync(response: GovernmentResponse, row: GovernmentResponse) -> GovernmentResponse:
    """Bring the caller's instance up to date with the row the service changed."""
    if response is not row:
        for field in ("status", "published_at", "published_by_id", "text_updated_at", "updated_at"):
            setattr(response, field, getattr(row, field))
    return response


@transaction.atomic
def government_response_save(*, response: GovernmentResponse, actor, changed_fields) -> GovernmentResponse:
    """Save `response` (new or changed, as the admin form left it) and record a revision of it.

    `changed_fields` are the form's changed fields; for an existing response only those whose stored value
    really changed are recorded. Editing the summary or details of a published response stamps
    `text_updated_at`, which the petition page shows as "Updated on". The status and publication fields are
    the publish/unpublish services' business and are kept as stored.
    """
    _require_editor(actor, "write government responses")
    now = timezone.now()
    created = response.pk is None
    changed = list(dict.fromkeys(changed_fields))
    if created:
        response.status = ResponseStatus.DRAFT
        response.published_at = response.published_by = response.text_updated_at = None
        response.created_at = now
    else:
        stored = _locked(response)
        changed = [
            name
            for name in changed
            if name not in REVISED_FIELDS
            or getattr(stored, _attname(name)) != getattr(response, _attname(name))
        ]
        response.status = stored.status
        response.published_at, response.published_by_id = stored.published_at, stored.published_by_id
        response.text_updated_at = stored.text_updated_at
        if stored.status == ResponseStatus.PUBLISHED and set(changed) & set(TEXT_FIELDS):
            response.text_updated_at = now
    response.save()
    revision = _revision_record(response, actor, changed, now)
    audit_log_record(
        actor=actor,
        action="response.save",
        obj=response,
        details={
            "created": created,
            "fields": changed,
            "revision": revision.number,
            "status": response.status,
            "petition": response.petition_id,
        },
    )
    return response


def _attname(name: str) -> str:
    return f"{name}_id" if name in ("petition", "department") else name


def signers_already_emailed(response: GovernmentResponse) -> bool:
    """A bulk email about this response was sent, or is being sent (cancelled ones do not count)."""
    return (
        Notice.objects.filter(
            kind=NoticeKind.RESPONSE_PUBLISHED,
            source_type=GovernmentResponse._meta.label_lower,
            source_id=str(response.pk),
        )
        .exclude(state=NoticeState.CANCELLED)
        .exists()
    )


@transaction.atomic
def government_response_publish(*, response: GovernmentResponse, actor, email_signers: bool) -> Notice | None:
    """Publish the response: the petition is then "Government responded". With `email_signers`, queue the
    bulk email to its signers in this transaction; never a second one about the same response (an email
    already sent or on its way is not repeated after an unpublish and publish).

    Returns the notice emailing the signers (None without `email_signers`)."""
    _require_editor(actor, "publish government responses")
    row = _locked(response)
    if row.status == ResponseStatus.PUBLISHED:
        raise ResponseTransitionError("This response is already published.")
    now = timezone.now()
    row.status = ResponseStatus.PUBLISHED
    if row.published_at is None:
        row.published_at, row.published_by = now, actor
    row.save(update_fields=["status", "published_at", "published_by", "updated_at"])
    # The petition row is updated in place: the caller's copy of it may be stale.
    Petition.objects.filter(pk=row.petition_id).update(
        response_state=ResponseState.RESPONDED, government_response_at=now, updated_at=now
    )
    revision = _revision_record(row, actor, ["status"], now)
    notice = None
    if email_signers:
        if signers_already_emailed(row):
            notice = (
                Notice.objects.filter(
                    kind=NoticeKind.RESPONSE_PUBLISHED,
                    source_type=GovernmentResponse._meta.label_lower,
                    source_id=str(row.pk),
                )
                .exclude(state=NoticeState.CANCELLED)
                .order_by("-created_at", "-pk")
                .first()
            )
        else:
            notice = notice_create(
                petition=row.petition, kind=NoticeKind.RESPONSE_PUBLISHED, source=row, actor=actor
            )
    audit_log_record(
        actor=actor,
        action="response.publish",
        obj=row,
        details={
            "petition": row.petition_id,
            "revision": revision.number,
            "email_signers": email_signers,
            "notice": notice.pk if notice is not None else None,
        },
    )
    _sync(response, row)
    return notice


@transaction.atomic
def government_response_unpublish(*, response: GovernmentResponse, actor) -> GovernmentResponse:
    """Take the response off the petition page (back to draft): the petition awaits a response again, or is
    below the threshold if it never reached it. When it was first published, and by whom, is kept."""
    _require_editor(actor, "unpublish government responses")
    row = _locked(response)
    if row.status != ResponseStatus.PUBLISHED:
        raise ResponseTransitionError("This response is not published.")
    now = timezone.now()
    row.status = ResponseStatus.DRAFT
    row.save(update_fields=["status", "updated_at"])
    Petition.objects.filter(pk=row.petition_id).update(
        response_state=Case(
            When(response_threshold_reached_at__isnull=False, then=Value(ResponseState.AWAITING)),
            default=Value(ResponseState.PENDING),
        ),
        government_response_at=None,
        updated_at=now,
    )
    revision = _revision_record(row, actor, ["status"], now)
    audit_log_record(
        actor=actor,
        action="response.unpublish",
        obj=row,
        details={"petition": row.petition_id, "revision": revision.number},
    )
    return _sync(response, row)
