"""Invalidations (reference §2.6): a Sysadmin takes away every signature matching some criteria, in batches.

Lifecycle: `invalidation_create` (pending) → `invalidation_count` (how many match, any number of times before
starting) → `invalidation_start` (enqueued; the `invalidate_signatures` task is queued on commit) → the task runs
`invalidation_run_batch` until none match (running, then completed); `invalidation_cancel` stops it between
batches. Only pending and validated signatures match: pending ones too, so they cannot be stored up for later.

An invalidation only changes signature rows (state `invalidated`). The tally job subtracts rows that were
counted and are no longer validated, so the petition's count and its constituency and country journals drop
without this module touching them.
"""

import ipaddress
import re
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..canonical import email_canonicalise
from ..models import (
    INVALIDATABLE_SIGNATURE_STATES,
    INVALIDATION_ACTIVE_STATES,
    Invalidation,
    InvalidationState,
    Signature,
    SignatureState,
)
from ..selectors import invalidation_signatures
from .audit import audit_log_record
from .moderation import NotAllowed, is_sysadmin

#: The criteria fields of an Invalidation; at least one must be given.
INVALIDATION_CRITERIA = (
    "petition",
    "name",
    "postcode",
    "ip_address",
    "email",
    "domain",
    "constituency",
    "country",
    "created_after",
    "created_before",
)

NO_CRITERION_MESSAGE = (
    "Enter at least one criterion: a petition, name, postcode, IP address, email, domain, constituency, "
    "country or date."
)
_POSTCODE_RE = re.compile(r"[A-Z0-9]{2,8}")
_DOMAIN_RE = re.compile(r"[a-z0-9*]([a-z0-9*.-]*[a-z0-9*])?")
_HAS_TEXT_RE = re.compile(r"[a-z0-9]")


class InvalidationStateError(ValueError):
    """The invalidation's state does not allow the action. The message is written for staff."""


def _clean_name(value: str) -> str:
    value = " ".join(value.split())
    if value and not value.replace("*", "").strip():
        raise ValidationError("A name made only of * would match everyone: enter part of a name.")
    return value


def _clean_postcode(value: str) -> str:
    value = "".join(value.split()).upper()
    if value and not _POSTCODE_RE.fullmatch(value):
        raise ValidationError("Enter a postcode using letters and numbers only, like SW1A 1AA.")
    return value


def _clean_ip_address(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    example = "Enter an IP address like 192.0.2.1 or 2001:db8::1, or a range (CIDR) like 192.0.2.0/24."
    if "%" in value:
        raise ValidationError(example)
    if "/" not in value:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValidationError(example) from None
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValidationError(example) from None
        raise ValidationError(
            f"{value} is not the start of a range: did you mean {network}?", code="host_bits"
        ) from None


def _clean_email(value: str) -> str:
    value = value.strip().lower()
    if not value:
        return ""
    if "*" not in value:
        try:
            EmailValidator()(value)
        except ValidationError:
            raise ValidationError(
                "Enter an email address like name@example.com, or a pattern with * like name*@example.com."
            ) from None
        return email_canonicalise(value)
    local, at, domain = value.partition("@")
    if not at or "@" in domain or any(c.isspace() for c in value):
        raise ValidationError(
            "Enter an email pattern with one @, like name*@example.com (for a whole domain use Domain)."
        )
    if not _HAS_TEXT_RE.search(value):
        raise ValidationError("A pattern made only of * and @ would match everyone.")
    return value


def _clean_domain(value: str) -> str:
    value = value.strip().lower()
    if not value:
        return ""
    if "@" in value:
        raise ValidationError("Enter a domain without an @, like example.com (for an address use Email).")
    if not _DOMAIN_RE.fullmatch(value) or ".." in value:
        raise ValidationError("Enter a domain like example.com, or *.example.com for its subdomains.")
    if not _HAS_TEXT_RE.search(value):
        raise ValidationError("A domain made only of * would match everyone.")
    return value


_TEXT_CLEANERS = {
    "name": _clean_name,
    "postcode": _clean_postcode,
    "ip_address": _clean_ip_address,
    "email": _clean_email,
    "domain": _clean_domain,
}


def invalidation_criteria_clean(criteria: dict) -> dict:
    """The criteria normalised as they are stored and matched (postcode upper case without spaces, email
    canonical unless it has a *, IP address or range in its standard form), or `ValidationError` with a
    staff-readable message per field (`__all__` when no criterion was given or the dates are the wrong way
    round). Keys not given count as empty."""
    cleaned, errors = {}, {}
    for field in INVALIDATION_CRITERIA:
        value = criteria.get(field)
        if field in _TEXT_CLEANERS:
            try:
                value = _TEXT_CLEANERS[field](value or "")
            except ValidationError as error:
                errors[field] = error.messages
        cleaned[field] = value
    after, before = cleaned["created_after"], cleaned["created_before"]
    if after is not None and before is not None and after >= before:
        errors["created_before"] = ["“Signed before” must be later than “signed after”."]
    if not errors and not any(cleaned[field] not in (None, "") for field in INVALIDATION_CRITERIA):
        errors["__all__"] = [NO_CRITERION_MESSAGE]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _require_sysadmin(actor) -> None:
    if not is_sysadmin(actor):
        raise NotAllowed("Only a sysadmin can invalidate signatures.")


def _criteria_given(invalidation: Invalidation) -> list[str]:
    # Field names only: the values (emails, IP addresses) are personal data and stay out of the audit log.
    return [f for f in INVALIDATION_CRITERIA if getattr(invalidation, f) not in (None, "")]


def _locked(invalidation: Invalidation | int) -> Invalidation:
    pk = invalidation if isinstance(invalidation, int) else invalidation.pk
    return Invalidation.objects.select_for_update().get(pk=pk)


@transaction.atomic
def invalidation_create(*, actor, summary: str, details: str = "", **criteria) -> Invalidation:
    """A pending invalidation with validated criteria (see `invalidation_criteria_clean`), and its audit row."""
    _require_sysadmin(actor)
    unknown = set(criteria) - set(INVALIDATION_CRITERIA)
    if unknown:
        raise TypeError(f"unknown invalidation criteria: {sorted(unknown)}")
    summary = (summary or "").strip()
    if not summary:
        raise ValidationError({"summary": ["Enter a summary: why these signatures are invalidated."]})
    invalidation = Invalidation.objects.create(
        summary=summary,
        details=details or "",
        created_by=actor,
        **invalidation_criteria_clean(criteria),
    )
    audit_log_record(
        actor=actor,
        action="invalidation.create",
        obj=invalidation,
        details={"criteria": _criteria_given(invalidation)},
    )
    return invalidation


@transaction.atomic
def invalidation_count(*, invalidation: Invalidation, actor) -> int:
    """Count the signatures a pending invalidation matches now; stores `matching_count` and `counted_at`."""
    _require_sysadmin(actor)
    locked = _locked(invalidation)
    if locked.state != InvalidationState.PENDING:
        raise InvalidationStateError(
            f"This invalidation is {locked.get_state_display().lower()}: only a pending one can be counted."
        )
    locked.matching_count = invalidation_signatures(invalidation=locked).count()
    locked.counted_at = timezone.now()
    locked.save(update_fields=["matching_count", "counted_at"])
    audit_log_record(
        actor=actor,
        action="invalidation.count",
        obj=locked,
        details={"matching_count": locked.matching_count},
    )
    invalidation.matching_count, invalidation.counted_at = locked.matching_count, locked.counted_at
    return locked.matching_count


@transaction.atomic
def invalidation_start(*, invalidation: Invalidation, actor) -> Invalidation:
    """Pending → enqueued: counts the matching signatures once more (the progress is measured against that
    number) and queues the `invalidate_signatures` task once this commits."""
    from ..tasks import invalidate_signatures

    _require_sysadmin(actor)
    locked = _locked(invalidation)
    if locked.state != InvalidationState.PENDING:
        raise InvalidationStateError(
            f"This invalidation is {locked.get_state_display().lower()}: only a pending one can be started."
        )
    now = timezone.now()
    locked.matching_count = invalidation_signatures(invalidation=locked).count()
    locked.counted_at = now
    locked.state = InvalidationState.ENQUEUED
    locked.enqueued_at = now
    locked.save(update_fields=["matching_count", "counted_at", "state", "enqueued_at"])
    audit_log_record(
        actor=actor,
        action="invalidation.start",
        obj=locked,
        details={"matching_count": locked.matching_count},
    )
    pk = locked.pk
    transaction.on_commit(lambda: invalidate_signatures.delay(pk))
    return locked


@transaction.atomic
def invalidation_cancel(*, invalidation: Invalidation, actor) -> Invalidation:
    """Any active state → cancelled. A batch in progress finishes first (it holds the row lock); no further
    batch runs. Signatures already invalidated stay invalidated."""
    _require_sysadmin(actor)
    locked = _locked(invalidation)
    if locked.state not in INVALIDATION_ACTIVE_STATES:
        raise InvalidationStateError(
            f"This invalidation is {locked.get_state_display().lower()}: it can't be cancelled."
        )
    locked.state = InvalidationState.CANCELLED
    locked.cancelled_at = timezone.now()
    locked.save(update_fields=["state", "cancelled_at"])
    audit_log_record(
        actor=actor,
        action="invalidation.cancel",
        obj=locked,
        details={"invalidated_count": locked.invalidated_count},
    )
    return locked


@transaction.atomic
def invalidation_run_batch(*, invalidation_id: int, batch_size: int = 1000) -> dict:
    """Invalidate the next `batch_size` matching signatures of a started invalidation, in one transaction.

    Holds the invalidation's row lock for the batch, so batches never overlap and a cancel waits for the batch
    in progress. Signature rows locked by someone else (a confirmation in flight, the tally) are skipped and
    picked up by a later batch. A worker dying mid-batch rolls the whole batch back, `invalidated_count`
    included, so running again resumes where it stopped and counts every row once.

    Returns {"state", "invalidated" (this batch), "done"}; "done" means there is nothing more to run (completed,
    cancelled, not started or gone).
    """
    invalidation = Invalidation.objects.select_for_update().filter(pk=invalidation_id).first()
    if invalidation is None:
        return {"state": None, "invalidated": 0, "done": True}
    if invalidation.state not in (InvalidationState.ENQUEUED, InvalidationState.RUNNING):
        return {"state": invalidation.state, "invalidated": 0, "done": True}

    now = timezone.now()
    invalidation.heartbeat_at = now
    update_fields = ["invalidated_count", "heartbeat_at"]
    if invalidation.state == InvalidationState.ENQUEUED:
        invalidation.state = InvalidationState.RUNNING
        invalidation.started_at = now
        update_fields += ["state", "started_at"]

    matching = invalidation_signatures(invalidation=invalidation)
    ids = list(
        matching.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)[:batch_size]
    )
    invalidated = 0
    if ids:
        invalidated = Signature.objects.filter(pk__in=ids, state__in=INVALIDATABLE_SIGNATURE_STATES).update(
            state=SignatureState.INVALIDATED,
            invalidated_at=now,
            invalidation=invalidation,
            notify_by_email=False,
            updated_at=now,
        )
        invalidation.invalidated_count += invalidated
    # A short batch may only mean some rows were locked: finish only when nothing matches any more.
    done = len(ids) < batch_size and not matching.exists()
    if done:
        invalidation.state = InvalidationState.COMPLETED
        invalidation.completed_at = now
        update_fields += ["state", "completed_at"]
    invalidation.save(update_fields=update_fields)
    if done:
        audit_log_record(
            actor=None,
            action="invalidation.complete",
            obj=invalidation,
            details={"invalidated_count": invalidation.invalidated_count},
        )
    return {"state": invalidation.state, "invalidated": invalidated, "done": done}


#: A started invalidation with no batch for this long has lost its task (a flushed or restarted broker).
INVALIDATION_STALL_AFTER = timedelta(minutes=2)


@transaction.atomic
def invalidations_resume(*, now=None) -> list[int]:
    """Queue the task again for every started invalidation whose task was lost: enqueued or running, and no batch
    for `INVALIDATION_STALL_AFTER`. Marks them as just seen, so one stall is re-queued once. A task that was only
    slow is harmless to duplicate: batches hold the invalidation's row lock. Returns the ids re-queued."""
    from ..tasks import invalidate_signatures

    now = now or timezone.now()
    stalled = list(
        Invalidation.objects.select_for_update(skip_locked=True)
        .filter(state__in=(InvalidationState.ENQUEUED, InvalidationState.RUNNING))
        .filter(
            Q(heartbeat_at__lt=now - INVALIDATION_STALL_AFTER)
            | Q(heartbeat_at__isnull=True, enqueued_at__lt=now - INVALIDATION_STALL_AFTER)
        )
        .values_list("pk", flat=True)
    )
    if stalled:
        Invalidation.objects.filter(pk__in=stalled).update(heartbeat_at=now)
        for pk in stalled:
            transaction.on_commit(lambda pk=pk: invalidate_signatures.delay(pk))
    return stalled
