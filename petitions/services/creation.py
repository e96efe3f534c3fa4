"""Starting a petition: the petition and its creator's signature, then the email asking for supporters."""

from django.db import transaction

from ..models import Constituency, Country, Petition, PetitionState, Signature, SignatureState
from .emails import signature_email_on_commit

GMAIL = "gmail.com"
GMAIL_ALIASES = {"gmail.com", "googlemail.com"}


def email_canonicalise(email: str) -> str:
    """The address that identifies a person: lower-cased, and for Gmail without dots and "+tags".

    `John.Smith+petitions@GoogleMail.com` and `johnsmith@gmail.com` reach the same mailbox, so they are one
    person. (Issue 4 replaces this with the full per-domain rules.)
    """
    local, _, domain = email.strip().lower().rpartition("@")
    if domain in GMAIL_ALIASES:
        local = local.split("+", 1)[0].replace(".", "")
        domain = GMAIL
    return f"{local}@{domain}"


@transaction.atomic
def petition_create(
    *,
    action: str,
    background: str,
    additional_details: str,
    name: str,
    email: str,
    country: Country,
    postcode: str,
    constituency: Constituency | None,
    ip_address: str | None,
) -> Petition:
    """Create a pending petition and its creator's pending signature; email the creator the supporters' link.

    Opening that link proves the creator's email address (see `petition_creator_validate`).
    """
    from ..selectors import moderation_delay_in_effect

    petition = Petition.objects.create(
        action=action.strip(),
        background=background.strip(),
        additional_details=additional_details.strip(),
        state=PetitionState.PENDING,
    )
    creator = Signature.objects.create(
        petition=petition,
        name=name.strip(),
        email=email.strip(),
        canonical_email=email_canonicalise(email),
        country=country,
        postcode=postcode,
        constituency=constituency,
        state=SignatureState.PENDING,
        creator=True,
        # Creators always hear what happens to their petition.
        notify_by_email=True,
        ip_address=ip_address,
    )
    signature_email_on_commit(
        signature_id=creator.pk,
        template="gather_sponsors",
        extra={"moderation_delay": moderation_delay_in_effect()},
    )
    return petition
