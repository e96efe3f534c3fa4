"""Supporting and confirming signatures: sponsors sign, everyone confirms by email, counts follow the rows."""

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..models import (
    COLLECTING_SPONSORS_STATES,
    PUBLISHED_STATES,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
    SiteSettings,
)
from .counting import petition_recount
from .emails import signature_email_on_commit


class SignatureTokenInvalid(Exception):
    """The token does not belong to the signature."""


class SignatureNotConfirmable(Exception):
    """The petition no longer takes confirmations. `reason` is "paused" or "closed"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def tokens_match(expected: str, given: str | None) -> bool:
    return secrets.compare_digest(expected.encode(), (given or "").encode())


def _validate_creator(*, petition: Petition, now) -> bool:
    # A second early, so the creator is always the first validated signature.
    return bool(
        Signature.objects.filter(petition=petition, creator=True, state=SignatureState.PENDING).update(
            state=SignatureState.VALIDATED, validated_at=now - timedelta(seconds=1), updated_at=now
        )
    )


def _promote(*, petition: Petition, now, notify: bool) -> None:
    """Move a petition on once its creator is proven: pending → validated, and validated → sponsored when
    enough sponsors have confirmed. `petition` must be locked. When `notify`, tell the creator."""
    if petition.state == PetitionState.PENDING:
        petition.state = PetitionState.VALIDATED
        Petition.objects.filter(pk=petition.pk).update(state=PetitionState.VALIDATED, updated_at=now)
    if petition.state not in COLLECTING_SPONSORS_STATES:
        return
    site = SiteSettings.load()
    sponsors = Signature.objects.filter(
        petition=petition, sponsor=True, state=SignatureState.VALIDATED
    ).count()
    if sponsors >= site.minimum_sponsors:
        from ..selectors import moderation_delay_in_effect

        template = "sponsored_with_delay" if moderation_delay_in_effect() else "sponsored"
        petition.state = PetitionState.SPONSORED
        petition.moderation_threshold_reached_at = now
        Petition.objects.filter(pk=petition.pk).update(
            state=PetitionState.SPONSORED, moderation_threshold_reached_at=now, updated_at=now
        )
    elif notify:
        template = "sponsor_signed"
    else:
        return
    creator_id = (
        Signature.objects.filter(petition=petition, creator=True).values_list("pk", flat=True).first()
    )
    if creator_id is not None:
        signature_email_on_commit(
            signature_id=creator_id, template=template, extra={"sponsor_count": sponsors}
        )


@transaction.atomic
def petition_creator_validate(*, petition: Petition) -> bool:
    """The creator opened the supporters' link, which was only emailed to them: their address is proven.

    Validates the creator's signature and moves the petition from pending to validated. Returns True if
    anything changed.
    """
    petition = Petition.objects.select_for_update().get(pk=petition.pk)
    if petition.state not in COLLECTING_SPONSORS_STATES:
        return False
    now = timezone.now()
    changed = _validate_creator(petition=petition, now=now)
    if changed or petition.state == PetitionState.PENDING:
        _promote(petition=petition, now=now, notify=False)
        petition_recount(petition_id=petition.pk)
        return True
    return False


@transaction.atomic
def signature_confirm(*, signature: Signature, token: str | None, ip_address: str | None) -> Signature:
    """Confirm a signature from the link in its email (the POST behind the "Confirm" button).

    Idempotent: confirming again changes nothing. Confirming any signature proves the petition's creator
    too (only they can have shared the petition before it is published). A sponsor's confirmation may
    take the petition to moderation; the creator is told either way. Raises `SignatureTokenInvalid` for a
    wrong token and `SignatureNotConfirmable` when the petition no longer takes confirmations.
    """
    from ..selectors import signature_confirm_refusal_reason

    if not tokens_match(signature.confirm_token, token):
        raise SignatureTokenInvalid
    # A published petition's row is neither locked nor written here (the tally job counts its signatures).
    petition = Petition.objects.only("state", "closed_at").get(pk=signature.petition_id)
    if petition.state in PUBLISHED_STATES:
        return _published_signature_confirm(signature=signature, petition=petition, ip_address=ip_address)
    # An unpublished petition is locked first, so that two sponsors confirming at once count one after the
    # other.
    petition = (
        Petition.objects.select_for_update()
        .filter(pk=signature.petition_id)
        .exclude(state__in=PUBLISHED_STATES)
    ).first()
    if petition is None:  # published meanwhile
        petition = Petition.objects.only("state", "closed_at").get(pk=signature.petition_id)
        return _published_signature_confirm(signature=signature, petition=petition, ip_address=ip_address)
    signature = Signature.objects.select_for_update().get(pk=signature.pk)
    now = timezone.now()
    reason = signature_confirm_refusal_reason(petition=petition, now=now)
    if reason is not None:
        raise SignatureNotConfirmable(reason)
    if signature.state == SignatureState.FRAUDULENT and signature.validated_at is None:
        # The shadow ban: remember the press, so its pages look confirmed, but the state never changes, so it is
        # never counted.
        Signature.objects.filter(pk=signature.pk).update(
            validated_at=now, validated_ip=ip_address, updated_at=now
        )
        return signature
    if signature.state != SignatureState.PENDING:
        return signature

    signature.state = SignatureState.VALIDATED
    signature.validated_at = now
    signature.validated_ip = ip_address
    signature.save(update_fields=["state", "validated_at", "validated_ip", "updated_at"])
    if not signature.creator:
        _validate_creator(petition=petition, now=now)
    _promote(petition=petition, now=now, notify=signature.sponsor)
    # Few rows, and the sponsor count drives moderation: count them now rather than at the next tally.
    petition_recount(petition_id=petition.pk)
    return signature


def _published_signature_confirm(
    *, signature: Signature, petition: Petition, ip_address: str | None
) -> Signature:
    """`signature_confirm` on an open or closed petition: the signature row alone changes, only if it is
    pending (or fraudulent and never pressed), in a statement that waits for any other writer of the row."""
    from ..selectors import signature_confirm_refusal_reason

    now = timezone.now()
    reason = signature_confirm_refusal_reason(petition=petition, now=now)
    if reason is not None:
        raise SignatureNotConfirmable(reason)
    pressed = {"validated_at": now, "validated_ip": ip_address, "updated_at": now}
    rows = Signature.objects.filter(pk=signature.pk)
    if rows.filter(state=SignatureState.PENDING).update(state=SignatureState.VALIDATED, **pressed):
        signature.state = SignatureState.VALIDATED
    elif not rows.filter(state=SignatureState.FRAUDULENT, validated_at__isnull=True).update(**pressed):
        return signature  # confirmed before, withdrawn or invalidated: nothing changes
    # The shadow ban (fraudulent): the press is remembered, so its pages look confirmed, but the state never
    # changes, so it is never counted.
    signature.validated_at, signature.validated_ip, signature.updated_at = now, ip_address, now
    return signature
