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
    from debates.selectors import events_for_petition, other_business_for_petition
    from responses.selectors import consultations_for_petition, government_response_published_for

    def start_of(day) -> datetime:
        return timezone.make_aware(datetime.combine(day, datetime.min.time()))

    entries: list[TimelineEntry] = []
    response = government_response_published_for(petition=petition)
    if response:
        entries.append(TimelineEntry("government_response", start_of(response.responded_on), response))
    entries += [
        TimelineEntry("consultation", c.opens_at, c) for c in consultations_for_petition(petition=petition)
    ]
    entries += [TimelineEntry("event", e.starts_at, e) for e in events_for_petition(petition=petition)]
    entries += [
        TimelineEntry("other_business", start_of(item.occurred_on), item)
        for item in other_business_for_petition(petition=petition)
    ]
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
