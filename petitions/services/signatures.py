"""Signing an open petition: a pending signature and its confirmation email, with the duplicate rules."""

import zlib

from django.db import IntegrityError, connection, transaction
from django.utils.text import slugify

from ..canonical import email_canonicalise
from ..models import Constituency, Country, Petition, Signature, SignatureState
from .emails import signature_email_on_commit

#: One address may sign a petition this many times: its owner and one other person in the same household.
MAX_SIGNATURES_PER_EMAIL = 2


def _same_name(a: str, b: str) -> bool:
    return slugify(a) == slugify(b)


def _same_postcode(a: str, b: str) -> bool:
    return a.replace(" ", "").upper() == b.replace(" ", "").upper()


def _duplicate_of(existing: list[Signature], *, name: str, postcode: str) -> Signature | None:
    """The signature that makes this one a duplicate, or None when it may be added.

    A second signature from one address is allowed only for a different person (name) at the same postcode.
    """
    if not existing:
        return None
    for signature in existing:
        if _same_name(signature.name, name):
            return signature
    if len(existing) >= MAX_SIGNATURES_PER_EMAIL or not _same_postcode(existing[0].postcode, postcode):
        return existing[0]
    return None


def _lock_address(*, petition_id: int, canonical: str) -> None:
    """Serialise signings by one address on one petition, including the first, when there is no row to lock."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(canonical.encode()) - 2**31
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [petition_id % 2**31, key])


def _email_duplicate(signature: Signature) -> None:
    """Tell the address's owner about a repeat attempt, within the per-signature email cap."""
    if signature.state == SignatureState.PENDING:
        signature_email_on_commit(signature_id=signature.pk, template="signature_confirm", capped=True)
    elif signature.state == SignatureState.VALIDATED:
        signature_email_on_commit(signature_id=signature.pk, template="signature_duplicate", capped=True)


@transaction.atomic
def signature_create(
    *,
    petition: Petition,
    name: str,
    email: str,
    country: Country,
    postcode: str,
    constituency: Constituency | None,
    notify_by_email: bool,
    ip_address: str | None,
) -> Signature | None:
    """Sign an open petition: a pending signature (counted only once confirmed) and, after commit, the email
    with the link that confirms it.

    A duplicate (see `_duplicate_of`) adds nothing: the existing signature's owner is sent the confirmation
    again if it is still pending, or told they have already signed. Returns the new signature, or None for a
    duplicate; callers must show the same page either way, so nobody can learn who has signed.
    """
    canonical = email_canonicalise(email)
    _lock_address(petition_id=petition.pk, canonical=canonical)
    existing = list(
        Signature.objects.select_for_update()
        .filter(petition=petition, canonical_email=canonical)
        .order_by("pk")
    )
    duplicate = _duplicate_of(existing, name=name, postcode=postcode)
    if duplicate is not None:
        _email_duplicate(duplicate)
        return None
    try:
        # A savepoint, so that losing a race to the unique index leaves this transaction usable.
        with transaction.atomic():
            signature = Signature.objects.create(
                petition=petition,
                name=name,
                email=email,
                canonical_email=canonical,
                country=country,
                postcode=postcode,
                constituency=constituency,
                state=SignatureState.PENDING,
                notify_by_email=notify_by_email,
                ip_address=ip_address,
                email_count=1,  # the first of MAX_EMAILS_PER_SIGNATURE, taken by the email queued below
            )
    except IntegrityError:
        duplicate = (
            Signature.objects.select_for_update()
            .filter(petition=petition, canonical_email=canonical, name=name)
            .first()
        )
        if duplicate is not None:
            _email_duplicate(duplicate)
        return None
    signature_email_on_commit(signature_id=signature.pk, template="signature_confirm")
    return signature
