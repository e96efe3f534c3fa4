"""Starting a petition: the petition and its creator's signature, then the email asking for supporters."""

from django.db import transaction

from .. import canonical
from ..models import Constituency, Country, Petition, PetitionState, Signature, SignatureState
from .emails import signature_email_on_commit


def email_canonicalise(email: str) -> str:
    """The address that identifies a person; see `petitions.canonical` for the per-domain rules."""
    return canonical.email_canonicalise(email)


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
