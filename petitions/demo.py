"""Demo data for `make run`: the seed petition page and petitions in every public state.

Every count comes from real signature rows (invented people spread over constituencies and countries, inserted in
bulk) and is then tallied by `petition_recount`, so counts, hourly history and rows always agree.
"""

import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from debates.models import OtherBusiness, ParliamentaryEvent
from responses.models import Consultation, GovernmentResponse, ResponseStatus

from .dates import deadline_for
from .models import (
    Constituency,
    Country,
    DebateState,
    Department,
    Petition,
    PetitionState,
    Rejection,
    RejectionReason,
    ResponseState,
    Signature,
    SignatureState,
    Topic,
    new_token,
)
from .services import petition_recount, reference_data_load
from .services.counting import petitions_history_rebuild

DEMO_DIR = Path(__file__).resolve().parent / "data" / "demo"

DEPARTMENTS = [
    ("CO", "Cabinet Office", "https://www.gov.uk/government/organisations/cabinet-office"),
    ("DBT", "Department for Business and Trade", "https://www.gov.uk/government/organisations/department-for-business-and-trade"),
    ("DCMS", "Department for Culture, Media and Sport", "https://www.gov.uk/government/organisations/department-for-culture-media-and-sport"),
    ("DFE", "Department for Education", "https://www.gov.uk/government/organisations/department-for-education"),
    ("DESNZ", "Department for Energy Security and Net Zero", "https://www.gov.uk/government/organisations/department-for-energy-security-and-net-zero"),
    ("DEFRA", "Department for Environment, Food and Rural Affairs", "https://www.gov.uk/government/organisations/department-for-environment-food-rural-affairs"),
    ("DHSC", "Department of Health and Social Care", "https://www.gov.uk/government/organisations/department-of-health-and-social-care"),
    ("DFT", "Department for Transport", "https://www.gov.uk/government/organisations/department-for-transport"),
    ("DWP", "Department for Work and Pensions", "https://www.gov.uk/government/organisations/department-for-work-pensions"),
    ("HMT", "HM Treasury", "https://www.gov.uk/government/organisations/hm-treasury"),
    ("HO", "Home Office", "https://www.gov.uk/government/organisations/home-office"),
    ("MHCLG", "Ministry of Housing, Communities and Local Government", "https://www.gov.uk/government/organisations/ministry-of-housing-communities-local-government"),
    ("MOJ", "Ministry of Justice", "https://www.gov.uk/government/organisations/ministry-of-justice"),
]  # fmt: skip

TOPICS = [
    ("education", "Education"), ("environment", "Environment"), ("health", "Health"),
    ("housing", "Housing"), ("transport", "Transport"), ("democracy", "Democracy and elections"),
    ("energy", "Energy"), ("welfare", "Welfare and pensions"),
]  # fmt: skip

FIRST_NAMES = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Freya",
    "Ella",
    "Evie",
    "Poppy",
    "Aisha",
    "Priya",
    "Niamh",
    "Siobhan",
    "Catrin",
    "Eilidh",
    "Megan",
    "Zara",
    "Fatima",
    "Chloe",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Muhammad",
    "Leo",
    "Harry",
    "Oscar",
    "Archie",
    "Henry",
    "Theo",
    "Jack",
    "Charlie",
    "Jacob",
    "Thomas",
    "Dylan",
    "Rhys",
    "Callum",
    "Euan",
    "Ciaran",
    "Sean",
    "Kwame",
    "Arjun",
    "Tomasz",
    "Ravi",
    "Daniel",
    "Samuel",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Griffiths",
    "Mitchell",
    "Kelly",
    "Cook",
    "Carter",
    "Richardson",
    "Bailey",
    "Collins",
    "Bell",
    "Shaw",
    "Murphy",
    "Miller",
    "Cox",
    "Richards",
    "Khan",
    "Marshall",
    "Anderson",
    "Simpson",
    "Ellis",
    "Adams",
    "Singh",
    "Begum",
    "Wilkinson",
    "Foster",
    "Chapman",
    "Powell",
    "Webb",
    "Rogers",
    "Gray",
    "Mason",
    "Ali",
    "Hunt",
    "Hussain",
    "Campbell",
    "Matthews",
    "Owen",
    "Palmer",
    "Holmes",
    "Mills",
    "Barnes",
    "Knight",
    "Lloyd",
    "Butler",
    "Russell",
    "Barker",
    "Fisher",
    "Stevens",
    "Jenkins",
    "Murray",
    "Dixon",
    "Harvey",
    "Graham",
    "Pearson",
    "Ahmed",
    "Fletcher",
    "Walsh",
    "Kaur",
    "Gibson",
    "Howard",
    "Andrews",
    "Stewart",
    "Elliott",
    "Reynolds",
    "MacDonald",
    "Reid",
    "Fraser",
    "Kowalski",
    "Nowak",
    "Okafor",
    "Mensah",
]

# Petitions other than the seed: (spec, signatures). Dates are London time.
OTHER_PETITIONS = [
    {
        "action": "Fund free school meals for every primary school child in England",
        "background": "Every child in a state primary school in England should get a free, healthy lunch, as they "
        "already do in Wales, Scotland and London. Hungry children cannot learn.",
        "additional_details": "Around 900,000 children living in poverty are not eligible for free school meals "
        "under the current rules.\n\nUniversal provision removes the stigma and the paperwork.",
        "state": PetitionState.OPEN,
        "opened_at": "2026-10-02T09:14:00",
        "signatures": 4_318,
        "departments": ["DFE"],
        "topics": ["education"],
        "creator_name": "Amira Okafor",
    },
    {
        "action": "Require water companies to publish sewage discharges in real time",
        "background": "Water companies should publish every storm overflow discharge within an hour, with its "
        "location, duration and the river or beach affected, in an open format anyone can use.",
        "additional_details": "Swimmers, anglers and rowers need to know whether it is safe to go in the water "
        "today, not in next year's annual return.",
        "state": PetitionState.OPEN,
        "opened_at": "2026-08-20T16:02:00",
        "signatures": 12_604,
        "response_state": ResponseState.AWAITING,
        "departments": ["DEFRA"],
        "topics": ["environment"],
        "creator_name": "Tom Pearson",
    },
    {
        "action": "Lower the voting age to 16 for all UK elections and referendums",
        "background": "16 and 17 year olds can already vote in Scottish and Welsh elections. They should be able to "
        "vote in general elections, local elections in England and Northern Ireland, and referendums.",
        "additional_details": "",
        "state": PetitionState.OPEN,
        "opened_at": "2026-06-30T10:40:00",
        "signatures": 100_412,
        "response_state": ResponseState.RESPONDED,
        "debate_state": DebateState.AWAITING,
        "departments": ["MHCLG"],
        "topics": ["democracy"],
        "creator_name": "Ffion Reynolds",
        "response": {
            "responded_on": "2026-09-24",
            "department": "MHCLG",
            "summary": "The Government has committed to giving 16 and 17 year olds the vote in all UK elections "
            "and will legislate for this in the Elections Bill.",
            "details": "The Government's elections strategy, published in July 2025, set out our plans to extend "
            "the franchise to 16 and 17 year olds at UK Parliamentary elections.\n\n"
            "We will bring forward the necessary legislation in the Elections Bill.",
        },
    },
    {
        "action": "Make solar panels compulsory on all new homes from 2027",
        "background": "Every new home built in the UK from 2027 should be required to have solar panels, cutting "
        "household bills and carbon emissions for the lifetime of the building.",
        "additional_details": "Fitting panels during construction costs a fraction of retrofitting them later.",
        "state": PetitionState.CLOSED,
        "opened_at": "2025-11-04T12:00:00",
        "signatures": 101_876,
        "response_state": ResponseState.RESPONDED,
        "debate_state": DebateState.DEBATED,
        "departments": ["DESNZ", "MHCLG"],
        "topics": ["energy", "housing"],
        "creator_name": "Dylan Hughes",
        "response": {
            "responded_on": "2026-01-15",
            "department": "DESNZ",
            "summary": "The Future Homes Standard will mean new homes in England are built with solar panels as "
            "standard from 2027, with limited exceptions.",
            "details": "The Future Homes Standard, laid before Parliament in 2025, sets new energy efficiency "
            "requirements for new homes.\n\nMost new homes will be expected to have solar panels.",
        },
        "debate": {
            "kind": "westminster_hall_debate",
            "title": "MPs debate solar panels on new homes",
            "starts_at": "2026-06-15T16:30:00",
            "place": "Westminster Hall",
            "outcome": "debated",
            "lead_constituency": "Brighton Pavilion",
            "summary": "MPs debated e-petition 101876 relating to solar panels on new homes.",
        },
        "other_business": {
            "subject": "Petitions Committee asks for your views on solar panels",
            "body": "Before the debate the Petitions Committee asked people who signed this petition to share "
            "their views. Thank you to the 4,200 people who took part.",
            "occurred_on": "2026-05-20",
        },
    },
    {
        "action": "Stop sewage being dumped into our rivers and seas",
        "background": "The Government must stop water companies dumping raw sewage into rivers and onto beaches.",
        "additional_details": "",
        "state": PetitionState.REJECTED,
        "opened_at": None,
        "signatures": 6,
        "departments": ["DEFRA"],
        "topics": ["environment"],
        "creator_name": "Gary Mills",
        "rejection": {
            "code": "duplicate",
            "details": "There's already a petition about this issue: 'Require water companies to publish sewage "
            "discharges in real time'. Please sign that petition instead.",
        },
    },
    {
        "action": "Build a railway station at Cranbrook Green",
        "background": "The 4,000 new homes at Cranbrook Green have no station. The line runs through the village "
        "and a station would take thousands of cars off the A30 every day.",
        "additional_details": "",
        "state": PetitionState.SPONSORED,
        "opened_at": None,
        "signatures": 6,
        "departments": ["DFT"],
        "topics": ["transport"],
        "creator_name": "Helen Ward",
    },
    {
        "action": "Extend the Winter Fuel Payment to pensioners just above Pension Credit",
        "background": "Pensioners whose income is just above the Pension Credit threshold are losing their Winter "
        "Fuel Payment. Extend it to everyone within 10% of the threshold.",
        "additional_details": "",
        "state": PetitionState.VALIDATED,
        "opened_at": None,
        "signatures": 3,
        "departments": ["DWP"],
        "topics": ["welfare"],
        "creator_name": "Roy Simpson",
    },
]


def _london(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


SIGNATURE_COLUMNS = (
    "petition_id", "name", "email", "canonical_email", "email_domain", "fraud_reason", "email_failure", "postcode", "country_id", "constituency_id", "state",
    "creator", "sponsor", "notify_by_email", "confirm_token", "unsubscribe_token", "email_count",
    "created_at", "updated_at", "validated_at",
)  # fmt: skip


def _insert_signatures(rows: list[dict]):
    """Insert rows with one prepared statement: the ORM's per-field preparation dominates at 250,000 rows."""
    adapt = connection.ops.adapt_datetimefield_value
    table = Signature._meta.db_table
    placeholders = ", ".join(["%s"] * len(SIGNATURE_COLUMNS))
    sql = f"INSERT INTO {table} ({', '.join(SIGNATURE_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
    params = [
        tuple(
            adapt(row[c]) if c in ("created_at", "updated_at", "validated_at") else row[c]
            for c in SIGNATURE_COLUMNS
        )
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


class SignatureFactory:
    """Invented signers spread over constituencies (weighted differently per petition) and countries."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not security
        self.gb = Country.objects.get(code="GB")
        self.abroad = list(Country.objects.exclude(code="GB").filter(end_date__isnull=True))
        self.constituencies = list(Constituency.objects.order_by("gss_code"))
        self.weights = [self.rng.paretovariate(1.6) for _ in self.constituencies]

    def row(self, petition: Petition, *, name: str, email: str, constituency, country, validated_at, **extra):
        return {
            "petition_id": petition.pk,
            "name": name,
            "email": email,
            "canonical_email": email,
            "email_domain": email.rpartition("@")[2],
            "fraud_reason": "",
            "email_failure": "",
            "postcode": constituency.example_postcode if constituency else "",
            "country_id": country.pk,
            "constituency_id": constituency.pk if constituency else None,
            "state": SignatureState.VALIDATED,
            "creator": False,
            "sponsor": False,
            "notify_by_email": self.rng.random() < 0.6,
            "confirm_token": new_token(),
            "unsubscribe_token": new_token(),
            "email_count": 1,
            "created_at": validated_at - timedelta(minutes=self.rng.randint(1, 30)),
            "updated_at": validated_at,
            "validated_at": validated_at,
            **extra,
        }

    def build(self, petition: Petition, n: int, start: datetime, end: datetime, *, offset: int = 0, **extra):
        rng = self.rng
        constituencies = rng.choices(self.constituencies, weights=self.weights, k=n)
        span = max((end - start).total_seconds(), 60.0)
        rows = []
        for i in range(n):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            abroad = rng.random() < 0.015
            rows.append(
                self.row(
                    petition,
                    name=f"{first} {last}",
                    email=f"{first}.{last}.{petition.pk}.{offset + i}@example.com".lower(),
                    constituency=None if abroad else constituencies[i],
                    country=rng.choice(self.abroad) if abroad else self.gb,
                    # Most signatures come in the first days after a petition is shared.
                    validated_at=start + timedelta(seconds=min(rng.expovariate(6.0 / span), span - 1)),
                    **extra,
                )
            )
        return rows


def _add_signatures(
    petition: Petition, spec: dict, factory: SignatureFactory, start: datetime, end: datetime
):
    total = spec["signatures"]
    creator_name = spec["creator_name"]
    constituency = factory.rng.choice(factory.constituencies)
    creator = factory.row(
        petition,
        name=creator_name,
        email=f"{creator_name.replace(' ', '.').lower()}.creator.{petition.pk}@example.com",
        constituency=constituency,
        country=factory.gb,
        validated_at=petition.created_at + timedelta(minutes=5),
        creator=True,
        notify_by_email=True,
    )
    sponsor_window = (petition.created_at + timedelta(hours=1), petition.created_at + timedelta(hours=12))
    sponsors = factory.build(petition, min(5, total - 1), *sponsor_window, sponsor=True)
    _insert_signatures([creator, *sponsors])
    rest, batch = total - 1 - len(sponsors), 10_000
    for offset in range(0, rest, batch):
        _insert_signatures(
            factory.build(petition, min(batch, rest - offset), start, end, offset=len(sponsors) + offset)
        )


def _create_petition(spec: dict, *, seed: int, site_months: int = 6) -> Petition:
    created_at = _london(spec.get("created_at")) or (
        (_london(spec["opened_at"]) - timedelta(days=6))
        if spec.get("opened_at")
        else timezone.now() - timedelta(days=3)
    )
    opened_at = _london(spec.get("opened_at"))
    deadline = deadline_for(opened_at, site_months) if opened_at else None
    state = spec["state"]
    petition = Petition(
        action=spec["action"],
        background=spec["background"],
        additional_details=spec.get("additional_details", ""),
        state=state,
        response_state=spec.get("response_state", ResponseState.PENDING),
        debate_state=spec.get("debate_state", DebateState.PENDING),
        created_at=created_at,
        opened_at=opened_at,
        deadline_at=deadline,
        closed_at=deadline if state == PetitionState.CLOSED else None,
        moderation_threshold_reached_at=_london(spec.get("moderation_threshold_reached_at"))
        or (created_at + timedelta(hours=12) if state != PetitionState.VALIDATED else None),
    )
    # SQLite does not enforce lengths or choices; validating here keeps the demo loadable on PostgreSQL too.
    petition.full_clean(exclude=["sponsor_token"])
    petition.save()
    petition.departments.set(Department.objects.filter(acronym__in=spec.get("departments", [])))
    petition.topics.set(Topic.objects.filter(code__in=spec.get("topics", [])))

    factory = SignatureFactory(seed)
    end = min(deadline or timezone.now(), timezone.now())
    _add_signatures(petition, spec, factory, opened_at or created_at, end)
    petition_recount(petition_id=petition.pk)
    petition.refresh_from_db()
    _set_threshold_times(petition, spec)
    return petition


def _nth_signature_time(petition: Petition, n: int) -> datetime | None:
    row = (
        Signature.objects.filter(petition=petition, state=SignatureState.VALIDATED)
        .order_by("validated_at")
        .values_list("validated_at", flat=True)[n - 1 : n]
    )
    return row[0] if row else None


def _set_threshold_times(petition: Petition, spec: dict):
    """Threshold timestamps are when the Nth signature was validated, as the tally job would record them."""
    updates = {}
    if petition.signature_count >= 10_000:
        updates["response_threshold_reached_at"] = _london(
            spec.get("response_threshold_reached_at")
        ) or _nth_signature_time(petition, 10_000)
    if petition.signature_count >= 100_000:
        updates["debate_threshold_reached_at"] = _nth_signature_time(petition, 100_000)
    if updates:
        Petition.objects.filter(pk=petition.pk).update(**updates)
        for key, value in updates.items():
            setattr(petition, key, value)


def _publish_response(petition: Petition, spec: dict):
    responded_on = date.fromisoformat(spec["responded_on"])
    published_at = timezone.make_aware(
        datetime.combine(responded_on, datetime.min.time()) + timedelta(hours=16)
    )
    GovernmentResponse.objects.create(
        petition=petition,
        responded_on=responded_on,
        summary=spec["summary"],
        details=spec["details"],
        department=Department.objects.filter(acronym=spec.get("department")).first(),
        status=ResponseStatus.PUBLISHED,
        published_at=published_at,
    )
    Petition.objects.filter(pk=petition.pk).update(
        government_response_at=published_at, response_state=ResponseState.RESPONDED
    )


def _event(spec: dict, petition: Petition) -> ParliamentaryEvent:
    fields = {
        k: v
        for k, v in spec.items()
        if k not in {"starts_at", "evidence_deadline", "department", "lead_constituency"}
    }
    event = ParliamentaryEvent.objects.create(
        **fields,
        starts_at=_london(spec["starts_at"]),
        evidence_deadline=_london(spec.get("evidence_deadline")),
        department=Department.objects.filter(acronym=spec.get("department")).first(),
        lead_mp=Constituency.objects.filter(name=spec.get("lead_constituency")).first(),
    )
    event.petitions.add(petition)
    return event


def _load_seed_petition():
    doc = json.loads((DEMO_DIR / "send-training-petition.json").read_text(encoding="utf-8"))
    spec = doc["petition"]
    petition = _create_petition({**spec, "signatures": spec["signature_count"]}, seed=2022)
    _publish_response(petition, doc["response"])
    Petition.objects.filter(pk=petition.pk).update(closed_at=petition.deadline_at)

    c = doc["consultation"]
    consultation = Consultation.objects.create(
        title=c["title"],
        summary=c["summary"],
        details=c["details"],
        url=c["url"],
        department=Department.objects.filter(acronym=c["department"]).first(),
        opens_at=_london(c["opens_at"]),
        closes_at=_london(c["closes_at"]),
    )
    consultation.petitions.add(petition)
    consultation.responses.add(petition.government_response)
    for event in doc["events"]:
        _event(event, petition)
    return petition


def _load_other(spec: dict, seed: int):
    petition = _create_petition(spec, seed=seed)
    if "response" in spec:
        _publish_response(petition, spec["response"])
    if "debate" in spec:
        event = _event(spec["debate"], petition)
        Petition.objects.filter(pk=petition.pk).update(
            scheduled_debate_date=timezone.localtime(event.starts_at).date(),
            debate_outcome_at=event.starts_at + timedelta(days=1),
        )
    if "other_business" in spec:
        ob = spec["other_business"]
        OtherBusiness.objects.create(
            petition=petition,
            subject=ob["subject"],
            body=ob["body"],
            occurred_on=date.fromisoformat(ob["occurred_on"]),
        )
    if "rejection" in spec:
        reason = RejectionReason.objects.get(code=spec["rejection"]["code"])
        Rejection.objects.create(petition=petition, reason=reason, details=spec["rejection"]["details"])
        Petition.objects.filter(pk=petition.pk).update(rejected_at=petition.created_at + timedelta(days=4))


def demo_data_load(*, stdout=None) -> dict[str, int]:
    """Load reference data and the demo petitions that are missing. Idempotent: existing ones are left alone."""
    reference_data_load()
    for acronym, name, url in DEPARTMENTS:
        Department.objects.update_or_create(acronym=acronym, defaults={"name": name, "url": url})
    for code, name in TOPICS:
        Topic.objects.update_or_create(code=code, defaults={"name": name})

    created = 0
    seed_doc = json.loads((DEMO_DIR / "send-training-petition.json").read_text(encoding="utf-8"))
    specs = [(seed_doc["petition"]["action"], _load_seed_petition)]
    for i, spec in enumerate(OTHER_PETITIONS):
        specs.append((spec["action"], lambda spec=spec, i=i: _load_other(spec, seed=100 + i)))
    for action, loader in specs:
        if Petition.objects.filter(action=action).exists():
            continue
        with transaction.atomic():
            loader()
        created += 1
        if stdout:
            stdout.write(f"  created demo petition: {action}")
    # The hourly history of every counted petition that has none (a database loaded before there was one): two
    # statements in all. Petitions loaded just now already have theirs, rebuilt by `petition_recount`.
    petitions_history_rebuild(
        petition_ids=list(
            Petition.objects.filter(signature_count__gt=0, hourly_counts__isnull=True).values_list(
                "pk", flat=True
            )
        )
    )
    return {
        "created": created,
        "petitions": Petition.objects.count(),
        "signatures": Signature.objects.count(),
    }
