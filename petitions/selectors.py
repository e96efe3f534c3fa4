"""Reads. Views and tasks get their data from here."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from .models import (
    VISIBLE_STATES,
    ConstituencyPetitionJournal,
    CountryPetitionJournal,
    DebateState,
    Petition,
    PetitionState,
    Region,
    ResponseState,
    Signature,
    SignatureState,
)


def petition_ids_signed_since(since: datetime) -> list[int]:
    return list(
        Signature.objects.filter(state=SignatureState.VALIDATED, validated_at__gt=since)
        .values_list("petition_id", flat=True)
        .distinct()
        .order_by()
    )


def petition_ids_needing_recount() -> list[int]:
    """Petitions with a signature validated after their count was last rebuilt."""
    return list(
        Petition.objects.filter(
            Q(signature_count_validated_at__isnull=True)
            | Q(last_signed_at__gt=F("signature_count_validated_at")),
            signatures__state=SignatureState.VALIDATED,
        )
        .values_list("pk", flat=True)
        .distinct()
        .order_by()
    )


def petition_get_for_show(*, petition_id: int) -> Petition | None:
    return (
        Petition.objects.select_related("rejection__reason")
        .prefetch_related("departments", "topics")
        .filter(pk=petition_id)
        .first()
    )


@dataclass
class TimelineEntry:
    """One thing that happened to a petition, for the petition page (sorted by `at`)."""

    kind: str
    at: datetime
    obj: object = None
    extra: dict = field(default_factory=dict)


def petition_timeline(*, petition: Petition) -> list[TimelineEntry]:
    """Government response, consultations, parliamentary events and other business, in date order."""
    from debates.models import ParliamentaryEvent
    from responses.models import Consultation, GovernmentResponse, ResponseStatus

    entries: list[TimelineEntry] = []
    response = GovernmentResponse.objects.filter(petition=petition, status=ResponseStatus.PUBLISHED).first()
    if response:
        at = timezone.make_aware(datetime.combine(response.responded_on, datetime.min.time()))
        entries.append(TimelineEntry("government_response", at, response))
    for consultation in Consultation.objects.filter(petitions=petition).select_related("department"):
        entries.append(TimelineEntry("consultation", consultation.opens_at, consultation))
    events = ParliamentaryEvent.objects.filter(petitions=petition).select_related("lead_mp", "department")
    for event in events:
        entries.append(TimelineEntry("event", event.starts_at, event))
    for item in petition.other_business.all():
        at = timezone.make_aware(datetime.combine(item.occurred_on, datetime.min.time()))
        entries.append(TimelineEntry("other_business", at, item))
    entries.sort(key=lambda e: e.at)
    return entries


def petition_signatures_by_region(*, petition: Petition) -> list[dict]:
    counts = dict(
        ConstituencyPetitionJournal.objects.filter(petition=petition)
        .values_list("constituency__region_id")
        .annotate(n=Sum("signature_count"))
        .order_by()
    )
    return [
        {"name": r.name, "ons_code": r.api_code, "signature_count": counts.get(r.pk, 0)}
        for r in Region.objects.order_by("api_code")
    ]


def petition_top_constituencies(*, petition: Petition, limit: int = 10) -> QuerySet:
    return (
        ConstituencyPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .select_related("constituency")
        .order_by("-signature_count", "constituency__name")[:limit]
    )


def petition_top_countries(*, petition: Petition, limit: int = 10) -> QuerySet:
    return (
        CountryPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .select_related("country")
        .order_by("-signature_count", "country__name")[:limit]
    )


def home_counts() -> dict[str, int]:
    visible = Petition.objects.filter(state__in=VISIBLE_STATES)
    return {
        "open": visible.filter(state=PetitionState.OPEN).count(),
        "awaiting_response": visible.filter(response_state=ResponseState.AWAITING).count(),
        "with_response": visible.filter(response_state=ResponseState.RESPONDED).count(),
        "awaiting_debate": visible.filter(
            debate_state__in=[DebateState.AWAITING, DebateState.SCHEDULED]
        ).count(),
        "debated": visible.filter(debate_state=DebateState.DEBATED).count(),
    }


def petitions_popular_open(*, limit: int = 5) -> QuerySet:
    return Petition.objects.open().order_by("-signature_count", "-opened_at")[:limit]


def petitions_recent_with_response(*, limit: int = 3) -> QuerySet:
    return (
        Petition.objects.visible()
        .filter(response_state=ResponseState.RESPONDED)
        .order_by(F("government_response_at").desc(nulls_last=True))[:limit]
    )
