"""Signing a petition (signers on an open one, sponsors on one gathering support): a pending signature and its
confirmation email, with the duplicate rules and the fraud checks (`fraud.py`)."""

import ipaddress
import zlib

from django.db import IntegrityError, connection, transaction
from django.utils.text import slugify

from ..canonical import email_canonicalise, email_domain_rules_cached
from ..models import Constituency, Country, Petition, Signature, SignatureState
from .emails import signature_email_on_commit
from .fraud import FormSignals, signing_check, signing_rate_reason, signing_rules

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


def _lock_address(*, petition_id: int, canonical: str, ip_address: str | None = None) -> None:
    """Serialise signings by one address on one petition, including the first, when there is no row to lock;
    with `ip_address`, also signings from that IP on the petition, so its rate limit counts every earlier one.

    Always the email lock first, then the IP lock, in one statement: one order everywhere, so no deadlock.
    """
    if connection.vendor != "postgresql":
        return
    petition_key = petition_id % 2**31
    email_key = zlib.crc32(canonical.encode()) - 2**31
    with connection.cursor() as cursor:
        if ip_address is None:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [petition_key, email_key])
        else:
            # The one-key form is a lock space of its own, apart from the two-key locks on addresses.
            ip_key = (petition_key << 32) | zlib.crc32(ipaddress.ip_address(ip_address).packed)
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s), pg_advisory_xact_lock(%s)",
                [petition_key, email_key, ip_key],
            )


def _email_duplicate(signature: Signature) -> None:
    """Tell the address's owner about a repeat attempt, within the per-signature email cap.

    A fraudulent signature is treated like a pending one until its owner has pressed "Confirm", and like a
    validated one after, so its owner cannot tell it apart.
    """
    pressed = signature.state == SignatureState.FRAUDULENT and signature.validated_at is not None
    if signature.state in (SignatureState.PENDING, SignatureState.FRAUDULENT) and not pressed:
        template = "sponsor_confirm" if signature.sponsor else "signature_confirm"
        signature_email_on_commit(signature_id=signature.pk, template=template, capped=True)
    elif signature.state == SignatureState.VALIDATED or pressed:
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
    sponsor: bool = False,
    signals: FormSignals | None = None,
) -> Signature | None:
    """Sign a petition: a pending signature (counted only once confirmed) and, after commit, the email with
    the link that confirms it. A `sponsor` supports a petition that is gathering support; `signals` come from
    the public form (None: no honeypot or timer checks).

    A duplicate (see `_duplicate_of`) adds nothing: the existing signature's owner is sent the confirmation
    again if it is still pending, or told they have already signed. A signing that breaks a fraud rule
    (`fraud.py`) is kept as a fraudulent row, never confirmable or counted, and otherwise handled exactly like
    a good one. Returns the new signature, or None for a duplicate; callers must show the same page either
    way, so nobody can learn who has signed, or who was caught.
    """
    rules = signing_rules()
    canonical = email_canonicalise(email, rules=email_domain_rules_cached())
    check = signing_check(rules=rules, ip_address=ip_address, canonical_email=canonical, signals=signals)
    _lock_address(
        petition_id=petition.pk, canonical=canonical, ip_address=ip_address if check.ip_limited else None
    )
    existing = list(
        Signature.objects.select_for_update()
        .filter(petition=petition, canonical_email=canonical)
        .order_by("pk")
        .only(
            "name", "postcode", "state", "sponsor", "validated_at"
        )  # what `_duplicate_of` and `_email_duplicate` read
    )
    duplicate = _duplicate_of(existing, name=name, postcode=postcode)
    if duplicate is not None:
        _email_duplicate(duplicate)
        return None
    reason = signing_rate_reason(
        check=check,
        limits=rules.limits,
        petition_id=petition.pk,
        ip_address=ip_address,
        email_domain=canonical.rpartition("@")[2],
    )
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
                state=SignatureState.FRAUDULENT if reason else SignatureState.PENDING,
                fraud_reason=reason,
                sponsor=sponsor,
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
    template = "sponsor_confirm" if sponsor else "signature_confirm"
    signature_email_on_commit(signature_id=signature.pk, template=template)
    return signature
