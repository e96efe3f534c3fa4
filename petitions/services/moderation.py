"""Moderation: the staff decisions that move a petition between states (reference §1.2).

Each action is one transaction that takes the acting staff user, checks their role and the petition's state,
writes an audit row and releases the moderation edit lock. A refused action raises `TransitionError`, whose
message is written for staff (the admin shows it as an error message). Emails ("Save and email") are queued
only once the decision has committed.

Roles: Moderators publish, reject, flag, mark dormant, restore flagged/dormant petitions and take open ones
down; Sysadmins also re-publish, restore or re-reject rejected/hidden petitions and remove petitions from
the site; Reviewers and the other staff roles moderate nothing.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..dates import deadline_for
from ..groups import MODERATORS, SYSADMINS
from ..models import (
    FLAGGABLE_STATES,
    REJECTABLE_STATES,
    RESTORABLE_STATES,
    TODO_LIST_STATES,
    VISIBLE_STATES,
    Petition,
    PetitionState,
    Rejection,
    RejectionReason,
    SignatureState,
    SiteSettings,
)
from .audit import audit_log_record
from .emails import signature_email_on_commit

S = PetitionState

#: A lock older than this is abandoned: anyone may moderate the petition again.
LOCK_TIMEOUT = timedelta(minutes=15)

PUBLISHABLE_STATES = (S.VALIDATED, S.SPONSORED, S.FLAGGED, S.DORMANT)
DORMANT_FROM_STATES = (*FLAGGABLE_STATES, S.FLAGGED)
REJECTED_STATES = (S.REJECTED, S.HIDDEN)
REMOVABLE_STATES = (*VISIBLE_STATES, S.HIDDEN)
REJECTION_DETAILS_MAX = 4000

#: Moderation actions in the order the admin offers them, with their labels.
MODERATION_ACTIONS = {
    "publish": "Publish",
    "reject": "Reject",
    "flag": "Flag for a second look",
    "dormant": "Mark as dormant",
    "restore": "Restore to the moderation queue",
    "take_down": "Take down",
    "remove": "Remove from the site",
}
#: Actions whose decision can be emailed to the creator and sponsors ("Save and email").
EMAILED_ACTIONS = ("publish", "reject", "take_down")
#: Actions that need a rejection reason.
REJECTING_ACTIONS = ("reject", "take_down")


class TransitionError(ValueError):
    """A moderation action this petition's state, its edit lock or the user's role does not allow.

    The message is written for staff.
    """


class NotAllowed(TransitionError):
    """The user's role does not allow the action."""


# --- Roles ----------------------------------------------------------------------------------------


def staff_group_names(user) -> frozenset:
    # Cached on the user object for the request, as Django caches permissions (`_perm_cache`).
    names = getattr(user, "_staff_group_names", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        user._staff_group_names = names
    return names


def _active(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


def is_sysadmin(user) -> bool:
    """A superuser or a member of the Sysadmins group."""
    return _active(user) and (user.is_superuser or SYSADMINS in staff_group_names(user))


def is_moderator(user) -> bool:
    """May moderate petitions: a Moderator or a Sysadmin."""
    return _active(user) and (is_sysadmin(user) or MODERATORS in staff_group_names(user))


def _require_moderator(actor, doing: str) -> None:
    if not is_moderator(actor):
        raise NotAllowed(f"Only moderators and sysadmins can {doing}.")


def _require_sysadmin(actor, doing: str) -> None:
    if not is_sysadmin(actor):
        raise NotAllowed(f"Only a sysadmin can {doing}.")


# --- State checks (no writes) ---------------------------------------------------------------------


def _state_name(state: str) -> str:
    label = str(PetitionState(state).label)
    return label[:1].lower() + label[1:]


def _refuse(petition: Petition, doing: str) -> TransitionError:
    return TransitionError(f"You can't {doing} this petition: it is {_state_name(petition.state)}.")


def _check_publish(petition: Petition, actor) -> None:
    _require_moderator(actor, "publish petitions")
    if petition.state == S.PENDING:
        raise TransitionError("The creator hasn't confirmed their email address yet.")
    if petition.state in REJECTED_STATES:
        _require_sysadmin(actor, "publish a rejected or hidden petition")
    elif petition.state not in PUBLISHABLE_STATES:
        raise _refuse(petition, "publish")


def _check_reject(petition: Petition, actor) -> None:
    _require_moderator(actor, "reject petitions")
    if petition.state in REJECTED_STATES:
        _require_sysadmin(actor, "change the rejection of a rejected or hidden petition")
    elif petition.state == S.OPEN:
        raise TransitionError("This petition is open: take it down instead.")
    elif petition.state not in REJECTABLE_STATES:
        raise _refuse(petition, "reject")


def _check_flag(petition: Petition, actor) -> None:
    _require_moderator(actor, "flag petitions")
    if petition.state not in FLAGGABLE_STATES:
        raise _refuse(petition, "flag")


def _check_dormant(petition: Petition, actor) -> None:
    _require_moderator(actor, "mark petitions as dormant")
    if petition.state not in DORMANT_FROM_STATES:
        raise _refuse(petition, "mark as dormant")


def _check_restore(petition: Petition, actor) -> None:
    _require_moderator(actor, "restore petitions")
    if petition.state not in RESTORABLE_STATES:
        raise _refuse(petition, "restore")
    if petition.state in REJECTED_STATES:
        _require_sysadmin(actor, "restore a rejected or hidden petition")


def _check_take_down(petition: Petition, actor) -> None:
    _require_moderator(actor, "take petitions down")
    if petition.state != S.OPEN:
        raise _refuse(petition, "take down")


def _check_remove(petition: Petition, actor) -> None:
    # The state first for moderators, so the moderation page only says "sysadmin only" where removing is possible.
    if not is_moderator(actor):
        _require_sysadmin(actor, "remove petitions from the site")
    if petition.state not in REMOVABLE_STATES:
        raise _refuse(petition, "remove")
    _require_sysadmin(actor, "remove petitions from the site")


_CHECKS = {
    "publish": _check_publish,
    "reject": _check_reject,
    "flag": _check_flag,
    "dormant": _check_dormant,
    "restore": _check_restore,
    "take_down": _check_take_down,
    "remove": _check_remove,
}


def moderation_check(*, action: str, petition: Petition, actor) -> None:
    """Raise TransitionError if `actor` may not do `action` to `petition` now (its state, role and lock)."""
    check = _CHECKS.get(action)
    if check is None:
        raise TransitionError("Choose what to do with this petition.")
    check(petition, actor)
    _check_lock(petition, actor, timezone.now())


def moderation_actions(*, petition: Petition, actor) -> dict[str, TransitionError | None]:
    """Every action, mapped to None when `actor` may do it to `petition` now, else the TransitionError that
    refuses it (a NotAllowed when only the role stands in the way).

    The edit lock is left out: the moderation page deals with it first.
    """
    refusals: dict[str, TransitionError | None] = {}
    for action, check in _CHECKS.items():
        try:
            check(petition, actor)
        except TransitionError as error:
            refusals[action] = error
        else:
            refusals[action] = None
    return refusals


# --- The edit lock --------------------------------------------------------------------------------


def petition_lock_holder(petition: Petition, *, now=None):
    """The user holding a live (younger than LOCK_TIMEOUT) moderation lock on the petition, or None."""
    if petition.locked_by_id is None or petition.locked_at is None:
        return None
    if petition.locked_at <= (now or timezone.now()) - LOCK_TIMEOUT:
        return None
    return petition.locked_by


def user_display_name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else "Someone"


def lock_message(petition: Petition) -> str:
    since = timezone.localtime(petition.locked_at).strftime("%H:%M")
    return f"{user_display_name(petition.locked_by)} is moderating this petition (since {since})."


def _check_lock(petition: Petition, actor, now) -> None:
    holder = petition_lock_holder(petition, now=now)
    if holder is not None and holder.pk != actor.pk:
        raise TransitionError(lock_message(petition))


def _release_lock(petition: Petition) -> list[str]:
    petition.locked_by = None
    petition.locked_at = None
    return ["locked_by", "locked_at"]


@transaction.atomic
def petition_lock(*, petition: Petition, actor, force: bool = False) -> Petition:
    """Take the moderation edit lock (or refresh one's own). Someone else's live lock is refused unless
    `force` ("Take over"), which is audited."""
    _require_moderator(actor, "moderate petitions")
    now = timezone.now()
    row = _row_for_update(petition)
    holder = petition_lock_holder(row, now=now)
    taken_over = holder is not None and holder.pk != actor.pk
    if taken_over and not force:
        raise TransitionError(lock_message(row))
    row.locked_by = actor
    row.locked_at = now
    row.save(update_fields=["locked_by", "locked_at", "updated_at"])
    if taken_over:
        audit_log_record(
            actor=actor, action="petition.lock_take_over", obj=row, details={"previous_holder_id": holder.pk}
        )
    return _synced(petition, row)


@transaction.atomic
def petition_unlock(*, petition: Petition, actor) -> bool:
    """Release the actor's own moderation lock. Someone else's lock is left alone. True if released."""
    row = _row_for_update(petition)
    if row.locked_by_id is None or row.locked_by_id != actor.pk:
        return False
    row.save(update_fields=[*_release_lock(row), "updated_at"])
    _synced(petition, row)
    return True


# --- Actions --------------------------------------------------------------------------------------


def _row_for_update(petition: Petition) -> Petition:
    return Petition.objects.select_for_update(of=("self",)).select_related("locked_by").get(pk=petition.pk)


def _synced(petition: Petition, row: Petition) -> Petition:
    """Bring the caller's instance up to date with the row the service changed."""
    if petition is not row:
        petition.refresh_from_db()
    return petition


def _begin(petition: Petition, actor, check) -> tuple[Petition, object]:
    now = timezone.now()
    row = _row_for_update(petition)
    check(row, actor)
    _check_lock(row, actor, now)
    return row, now


def _moderation_lag_fields(row: Petition, now) -> list[str]:
    """Days from reaching the moderation threshold to the decision, set on the first decision (reference
    `update_moderation_lag`: only when leaving the to-do list)."""
    if row.state not in TODO_LIST_STATES:
        return []
    reached = row.moderation_threshold_reached_at
    days = (timezone.localdate(now) - timezone.localdate(reached)).days if reached is not None else 0
    row.moderation_lag = max(days, 0)
    return ["moderation_lag"]


def _record(row: Petition, actor, action: str, from_state: str, **details) -> None:
    audit_log_record(
        actor=actor,
        action=f"petition.{action}",
        obj=row,
        details={"from": from_state, "to": row.state, **details},
    )


def _email_decision(row: Petition, decision: str) -> int:
    """Queue the decision email to the creator and every validated sponsor, after commit."""
    recipients = (
        row.signatures.filter(Q(creator=True) | Q(sponsor=True, state=SignatureState.VALIDATED))
        .order_by("pk")
        .values_list("pk", "creator")
    )
    sent = 0
    for signature_id, creator in recipients:
        role = "creator" if creator else "sponsor"
        signature_email_on_commit(signature_id=signature_id, template=f"petition_{decision}_{role}")
        sent += 1
    return sent


@transaction.atomic
def petition_publish(*, petition: Petition, actor, email: bool = False) -> Petition:
    """Publish: open the petition for signatures, with a deadline the petition duration from now.

    A petition published before (taken down, then re-published by a sysadmin) keeps its opening date and
    deadline, and goes straight to closed if that deadline has passed (reference `state_for_publishing`).
    """
    row, now = _begin(petition, actor, _check_publish)
    from_state = row.state
    fields = _moderation_lag_fields(row, now)
    if row.opened_at is None:
        row.opened_at = now
        row.deadline_at = deadline_for(now, SiteSettings.load().petition_duration_months)
    elif row.deadline_at is None:
        row.deadline_at = deadline_for(row.opened_at, SiteSettings.load().petition_duration_months)
    if row.deadline_at <= now:
        row.state = S.CLOSED
        row.closed_at = row.closed_at or row.deadline_at
    else:
        row.state = S.OPEN
        row.closed_at = None
    row.rejected_at = None
    row.moderated_by = actor
    Rejection.objects.filter(petition=row).delete()
    fields += ["state", "opened_at", "deadline_at", "closed_at", "rejected_at", "moderated_by"]
    row.save(update_fields=[*fields, *_release_lock(row), "updated_at"])
    _record(row, actor, "publish", from_state, email=email)
    if email:
        _email_decision(row, "published")
    return _synced(petition, row)


def _reject(petition: Petition, actor, check, action: str, reason_code: str, details: str, email: bool):
    reason = RejectionReason.objects.filter(code=reason_code).first() if reason_code else None
    if reason is None:
        raise TransitionError(
            "Choose a rejection reason." if not reason_code else "Unknown rejection reason."
        )
    details = (details or "").strip()
    if len(details) > REJECTION_DETAILS_MAX:
        raise TransitionError(f"The rejection details must be {REJECTION_DETAILS_MAX:,} characters or fewer.")
    row, now = _begin(petition, actor, check)
    from_state = row.state
    Rejection.objects.update_or_create(
        petition=row, defaults={"reason": reason, "details": details, "created_by": actor, "created_at": now}
    )
    fields = _moderation_lag_fields(row, now)
    row.state = S.HIDDEN if reason.hidden else S.REJECTED
    row.rejected_at = now
    row.moderated_by = actor
    fields += ["state", "rejected_at", "moderated_by"]
    row.save(update_fields=[*fields, *_release_lock(row), "updated_at"])
    _record(row, actor, action, from_state, reason=reason.code, email=email)
    if email:
        _email_decision(row, "hidden" if reason.hidden else "rejected")
    return _synced(petition, row)


@transaction.atomic
def petition_reject(
    *, petition: Petition, actor, reason_code: str, details: str = "", email: bool = False
) -> Petition:
    """Reject a petition that is not yet published: `rejected`, or `hidden` when the reason is a hidden one.

    A sysadmin may also change the rejection of a rejected or hidden petition. Open petitions are taken
    down instead (`petition_take_down`).
    """
    return _reject(petition, actor, _check_reject, "reject", reason_code, details, email)


@transaction.atomic
def petition_take_down(
    *, petition: Petition, actor, reason_code: str, details: str = "", email: bool = False
) -> Petition:
    """Take an open petition down: rejected, or hidden for a hidden reason. It keeps its opening date and
    deadline, should a sysadmin publish it again."""
    return _reject(petition, actor, _check_take_down, "take_down", reason_code, details, email)


def _simple_transition(petition: Petition, actor, check, action: str, to_state: str) -> Petition:
    row, _ = _begin(petition, actor, check)
    from_state = row.state
    row.state = to_state
    row.save(update_fields=["state", *_release_lock(row), "updated_at"])
    _record(row, actor, action, from_state)
    return _synced(petition, row)


@transaction.atomic
def petition_flag(*, petition: Petition, actor) -> Petition:
    """Flag for a second look: the petition stays in the moderation queue."""
    return _simple_transition(petition, actor, _check_flag, "flag", S.FLAGGED)


@transaction.atomic
def petition_mark_dormant(*, petition: Petition, actor) -> Petition:
    """Park the petition out of the moderation queue (still moderatable later)."""
    return _simple_transition(petition, actor, _check_dormant, "dormant", S.DORMANT)


@transaction.atomic
def petition_restore(*, petition: Petition, actor) -> Petition:
    """Back to the moderation queue (`sponsored`), as if never published or rejected."""
    row, _ = _begin(petition, actor, _check_restore)
    from_state = row.state
    row.state = S.SPONSORED
    row.opened_at = row.deadline_at = row.closed_at = row.rejected_at = None
    Rejection.objects.filter(petition=row).delete()
    fields = ["state", "opened_at", "deadline_at", "closed_at", "rejected_at"]
    row.save(update_fields=[*fields, *_release_lock(row), "updated_at"])
    _record(row, actor, "restore", from_state)
    return _synced(petition, row)


@transaction.atomic
def petition_remove(*, petition: Petition, actor) -> Petition:
    """Remove a published, rejected or hidden petition from the site: its page answers 410 Gone."""
    row, now = _begin(petition, actor, _check_remove)
    from_state = row.state
    row.state_at_removal = from_state
    row.state = S.REMOVED
    row.removed_at = now
    fields = ["state", "state_at_removal", "removed_at"]
    row.save(update_fields=[*fields, *_release_lock(row), "updated_at"])
    _record(row, actor, "remove", from_state)
    return _synced(petition, row)


_ACTIONS = {
    "publish": petition_publish,
    "reject": petition_reject,
    "flag": petition_flag,
    "dormant": petition_mark_dormant,
    "restore": petition_restore,
    "take_down": petition_take_down,
    "remove": petition_remove,
}


def petition_moderate(
    *, petition: Petition, actor, action: str, reason_code: str = "", details: str = "", email: bool = False
) -> Petition:
    """Run one moderation action by name (the admin's moderation form). Each action is its own transaction."""
    service = _ACTIONS.get(action)
    if service is None:
        raise TransitionError("Choose what to do with this petition.")
    kwargs = {"petition": petition, "actor": actor}
    if action in REJECTING_ACTIONS:
        kwargs.update(reason_code=reason_code, details=details)
    if action in EMAILED_ACTIONS:
        kwargs["email"] = email
    return service(**kwargs)
