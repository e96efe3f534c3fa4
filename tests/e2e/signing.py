"""What the signing journeys share: the petition Sam looks for among others, and Sam's details."""

from datetime import timedelta

from django.utils import timezone

from petitions.dates import deadline_for
from petitions.models import Petition
from tests.factories import OpenPetitionFactory

SIGNER = {"name": "Sam Signer", "email": "sam.signer@example.org", "postcode": "SW1A 1AA"}


def open_petitions_create() -> Petition:
    """Three open petitions; returns the one about school nurses, with 1,234 signatures counted."""
    opened_at = timezone.now() - timedelta(days=30)
    deadline_at = deadline_for(opened_at, 6)
    for action, count in (("Plant a million trees by 2030", 52_016), ("Ban the sale of fireworks", 8_200)):
        OpenPetitionFactory(
            action=action, signature_count=count, opened_at=opened_at, deadline_at=deadline_at
        )
    return OpenPetitionFactory(
        action="Fund more school nurses",
        background="Most secondary schools share one nurse between thousands of pupils.",
        signature_count=1_234,
        opened_at=opened_at,
        deadline_at=deadline_at,
    )
