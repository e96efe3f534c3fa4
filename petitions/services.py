"""Writes. Each function is one transaction; side effects run after commit."""

import csv
from datetime import date
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from .models import (
    AuditLog,
    Constituency,
    ConstituencyPetitionJournal,
    Country,
    CountryPetitionJournal,
    Nation,
    Petition,
    Region,
    RejectionReason,
    Signature,
    SignatureState,
)

DATA_DIR = Path(__file__).resolve().parent / "data"

NATIONS_BY_GSS = {
    "E92000001": Nation.ENGLAND,
    "W92000004": Nation.WALES,
    "S92000003": Nation.SCOTLAND,
    "N92000002": Nation.NORTHERN_IRELAND,
}

# The reference's ten seeded reasons (alphagov/e-petitions db/migrate/20200211022417_create_rejection_reasons.rb).
REJECTION_REASONS = [
    ("duplicate", "Duplicate petition", False,
     "There's already a petition about this issue. We cannot accept a new petition when we already have one about "
     "a very similar issue, or if the Petitions Committee has considered one in the last year. Please sign and "
     "share that petition instead."),
    ("irrelevant", "Not the Government/Parliament's responsibility", False,
     "It's about something that the UK Government or Parliament is not directly responsible for."),
    ("no-action", "Action unclear", False,
     "It did not have a clear statement explaining what action you want the UK Government or Parliament to take."),
    ("honours", "Honours or appointments", False,
     "It's about honours or appointments. We cannot accept petitions about these matters."),
    ("fake-name", "Fake name", False,
     "It was created using a fake or incomplete name. You can create a new petition using your full name."),
    ("foi", "FOI request", False,
     "It's a Freedom of Information request. Find out how to make an FOI request to the relevant department."),
    ("libellous", "Confidential, libellous, false, defamatory or references a court case", True,
     "It included confidential, libellous, false or defamatory information, or a reference to a case which is "
     "active in the UK courts."),
    ("offensive", "Offensive or a joke", True,
     "It included content that is offensive, extreme, or a joke."),
    ("advert", "Advert", True,
     "It was an advert, or it promoted a business, product or service."),
    ("removed", "We've removed this petition from the site", True,
     "The creator asked us not to publish it."),
]  # fmt: skip


def _rows(name: str):
    with open(DATA_DIR / "constituencies" / name, newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def _date(value: str):
    return date.fromisoformat(value) if value else None


@transaction.atomic
def reference_data_load() -> dict[str, int]:
    """Upsert countries, regions, constituencies (with current MPs) and rejection reasons. Safe to re-run."""
    for row in _rows("countries-e-petitions.csv"):
        Country.objects.update_or_create(
            code=row["code"],
            defaults={
                "name": row["name"],
                "start_date": _date(row["start_date"]),
                "end_date": _date(row["end_date"]),
            },
        )

    regions = {}
    for row in _rows("regions.csv"):
        regions[row["region_code"]], _ = Region.objects.update_or_create(
            gss_code=row["region_code"],
            defaults={
                "name": row["region_name"],
                "api_code": row["petitions_region_code"],
                "nation": NATIONS_BY_GSS[row["country_code"]],
            },
        )

    mps = {row["PCON24CD"]: row for row in _rows("current-mps-oi.csv")}
    for row in _rows("constituencies-2024.csv"):
        mp = mps.get(row["pcon24cd"], {})
        Constituency.objects.update_or_create(
            gss_code=row["pcon24cd"],
            defaults={
                "name": row["name"],
                "name_cy": row["name_cy"],
                "region": regions[row["region_code"]],
                "nation": NATIONS_BY_GSS[row["country_code"]],
                "mp_name": mp.get("MP") or row["mp_elected_2024"],
                "mp_id": int(mp["ID"]) if mp.get("ID") else None,
                "party": mp.get("Party name") or row["party_elected_2024"],
                "party_colour": mp.get("Party bg", ""),
                "example_postcode": row["example_postcode"],
            },
        )

    for code, title, hidden, description in REJECTION_REASONS:
        RejectionReason.objects.update_or_create(
            code=code, defaults={"title": title, "hidden": hidden, "description": description}
        )
    return {
        "countries": Country.objects.count(),
        "regions": Region.objects.count(),
        "constituencies": Constituency.objects.count(),
        "rejection_reasons": RejectionReason.objects.count(),
    }


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


def audit_log_record(*, actor, action: str, obj, details: dict | None = None) -> AuditLog:
    """Record a staff action. Call it inside the transaction of the action it records."""
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        details=details or {},
    )
