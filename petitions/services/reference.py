"""Loads the UK geography and rejection reasons shipped in petitions/data/ (idempotent upserts)."""

import csv
from datetime import date
from pathlib import Path

from django.db import transaction

from ..models import (
    Constituency,
    Country,
    EmailDomainRule,
    Nation,
    Region,
    RejectionReason,
)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

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
    # Registered electors at the July 2024 general election, written "72,580".
    electorates = {
        row["ONS ID"]: int(row["Electorate"].replace(",", ""))
        for row in _rows("hoc-ge2024-results-by-constituency.csv")
        if row["Electorate"].strip()
    }
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
                "electorate": electorates.get(row["pcon24cd"]),
            },
        )

    # The reference's seed: gmail.com ignores dots and +tags, and googlemail.com is the same mailbox.
    EmailDomainRule.objects.get_or_create(
        domain="gmail.com", defaults={"strip_dots": True, "strip_plus_tags": True}
    )
    EmailDomainRule.objects.get_or_create(
        domain="googlemail.com",
        defaults={"strip_dots": True, "strip_plus_tags": True, "alias_of": "gmail.com"},
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
