"""Signature counts are caches of the signature rows; these rebuild them."""

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from ..models import ConstituencyPetitionJournal, CountryPetitionJournal, Petition, Signature, SignatureState


@transaction.atomic
def petition_recount(*, petition_id: int) -> int:
    """Rebuild a petition's signature count and its constituency and country journals from the signature rows.

    The rows are the source of truth and the counts are caches of them, so this is always safe to run.
    """
    if not Petition.objects.select_for_update().filter(pk=petition_id).exists():
        return 0
    validated = Signature.objects.filter(petition_id=petition_id, state=SignatureState.VALIDATED)
    totals = validated.aggregate(n=Count("id"), last=Max("validated_at"))

    ConstituencyPetitionJournal.objects.filter(petition_id=petition_id).delete()
    ConstituencyPetitionJournal.objects.bulk_create(
        ConstituencyPetitionJournal(
            petition_id=petition_id,
            constituency_id=row["constituency_id"],
            signature_count=row["n"],
            last_signed_at=row["last"],
        )
        for row in validated.exclude(constituency_id=None)
        .values("constituency_id")
        .annotate(n=Count("id"), last=Max("validated_at"))
        .order_by()
    )
    CountryPetitionJournal.objects.filter(petition_id=petition_id).delete()
    CountryPetitionJournal.objects.bulk_create(
        CountryPetitionJournal(
            petition_id=petition_id,
            country_id=row["country_id"],
            signature_count=row["n"],
            last_signed_at=row["last"],
        )
        for row in validated.values("country_id").annotate(n=Count("id"), last=Max("validated_at")).order_by()
    )
    now = timezone.now()
    Petition.objects.filter(pk=petition_id).update(
        signature_count=totals["n"],
        last_signed_at=totals["last"],
        signature_count_validated_at=now,
        updated_at=now,
    )
    return totals["n"]
