"""Signer self-service: unsubscribing from a petition's emails and withdrawing a signature, from email links.

Both are authorised by a token alone (no account, no session): `Signature.unsubscribe_token` for unsubscribing
(the link in every email to a signer, and its `List-Unsubscribe` header), `Signature.confirm_token` for
withdrawing (the link in the confirmation email, the only one that proves the address). Both are idempotent.

The creator may do neither: their signature is part of their petition, and their emails are about it.

Withdrawal changes only the signature row; the tally job takes a counted row out of the petition's count and
journals. It is allowed while the petition is open and before its deadline, or, for a supporter, while the
petition is still gathering supporters (then the sponsor count is rebuilt at once, as confirming does).
Pending and validated signatures become withdrawn; fraudulent and invalidated ones keep their state (the
first is a silent ban that must not show, the second a staff decision) but get the same `withdrawn_at`, so the
signer sees exactly the same pages whatever the state.
"""

from django.db import transaction
from django.utils import timezone

from ..models import COLLECTING_SPONSORS_STATES, Petition, PetitionState, Signature, SignatureState
from .counting import petition_recount
from .signing import SignatureTokenInvalid, tokens_match


class SignatureUnsubscribeRefused(Exception):
    """The signature cannot be unsubscribed. `reason` is "creator"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SignatureWithdrawRefused(Exception):
    """The signature cannot be withdrawn now. `reason` is "creator", "closed" (the petition no longer takes
    signatures) or "in_moderation" (it has its supporters and is being checked)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


#: Signature states a withdrawal turns into `withdrawn`. The rest keep their state (see the module docstring).
WITHDRAWABLE_STATES = (SignatureState.PENDING, SignatureState.VALIDATED)


def signature_withdraw_refusal_reason(*, signature: Signature, petition: Petition, now=None) -> str | None:
    """Why `signature` cannot be withdrawn now, or None when it can. Never depends on the signature's state."""
    if signature.creator:
        return "creator"
    if petition.state == PetitionState.OPEN:
        now = now or timezone.now()
        if petition.deadline_at is not None and petition.deadline_at <= now:
            return "closed"
        return None
    if petition.state in COLLECTING_SPONSORS_STATES:
        return None
    if petition.state in (PetitionState.SPONSORED, PetitionState.FLAGGED):
        return "in_moderation"
    return "closed"


@transaction.atomic
def signature_unsubscribe(*, signature: Signature, token: str | None) -> Signature:
    """Stop emails about the signature's petition (`notify_by_email` off, `unsubscribed_at` set).

    Idempotent: unsubscribing again changes nothing. Raises `SignatureTokenInvalid` for a wrong token and
    `SignatureUnsubscribeRefused("creator")` for the creator's signature.
    """
    if not tokens_match(signature.unsubscribe_token, token):
        raise SignatureTokenInvalid
    if signature.creator:
        raise SignatureUnsubscribeRefused("creator")
    now = timezone.now()
    Signature.objects.filter(pk=signature.pk, unsubscribed_at__isnull=True).update(
        notify_by_email=False, unsubscribed_at=now, updated_at=now
    )
    signature.refresh_from_db(fields=["notify_by_email", "unsubscribed_at", "updated_at"])
    return signature


@transaction.atomic
def signature_withdraw(*, signature: Signature, token: str | None) -> Signature:
    """The signer removes their signature (the POST behind the button the confirmation email links to).

    Idempotent: withdrawing again changes nothing, also after the petition has closed. Raises
    `SignatureTokenInvalid` for a wrong token and `SignatureWithdrawRefused` for the creator's signature or a
    petition that no longer takes withdrawals.
    """
    if not tokens_match(signature.confirm_token, token):
        raise SignatureTokenInvalid
    # As in confirming: a petition gathering supporters is locked so sponsors are counted one after the other;
    # a published petition's row is left to the tally.
    petition = (
        Petition.objects.select_for_update()
        .filter(pk=signature.petition_id, state__in=COLLECTING_SPONSORS_STATES)
        .first()
    )
    gathering_support = petition is not None
    if not gathering_support:
        petition = Petition.objects.get(pk=signature.petition_id)
    signature = Signature.objects.select_for_update().get(pk=signature.pk)
    if signature.creator:
        raise SignatureWithdrawRefused("creator")
    if signature.withdrawn_at is not None:
        return signature
    now = timezone.now()
    reason = signature_withdraw_refusal_reason(signature=signature, petition=petition, now=now)
    if reason is not None:
        raise SignatureWithdrawRefused(reason)

    fields = ["withdrawn_at", "notify_by_email", "updated_at"]
    signature.withdrawn_at = now
    signature.notify_by_email = False
    if signature.state in WITHDRAWABLE_STATES:
        signature.state = SignatureState.WITHDRAWN
        fields.append("state")
    signature.save(update_fields=fields)
    if gathering_support:
        petition_recount(petition_id=petition.pk)
    return signature
