"""Reads for parliamentary events and other business."""

from django.db.models import Prefetch, QuerySet

from petitions.models import VISIBLE_STATES, ConstituencyPetitionJournal, Department, Petition

from .models import OtherBusiness, ParliamentaryEvent


def events_for_petition(*, petition) -> QuerySet[ParliamentaryEvent]:
    return (
        ParliamentaryEvent.objects.filter(petitions=petition)
        .select_related("lead_mp", "department")
        .order_by("starts_at")
    )


def other_business_for_petition(*, petition) -> QuerySet[OtherBusiness]:
    return OtherBusiness.objects.filter(petition=petition).order_by("occurred_on", "created_at")


# --- The /debates browse page, its downloads and feeds ---------------------------------------------------------

#: The constituency filter's rule: an event is "on a petition most signed from a constituency" when one of its
#: public petitions is among that constituency's MOST_SIGNED_LIMIT public petitions by signatures from it.
MOST_SIGNED_LIMIT = 50


def public_petitions_prefetch() -> Prefetch:
    """Each event's public petitions (open, closed, rejected), most signed first, as `event.public_petitions`:
    one query for a whole page. Petitions the public cannot see are never loaded."""
    return Prefetch(
        "petitions",
        queryset=Petition.objects.visible()
        .only("id", "action", "state", "signature_count")
        .order_by("-signature_count", "pk"),
        to_attr="public_petitions",
    )


def events_browsed() -> QuerySet[ParliamentaryEvent]:
    """Every parliamentary event with what a listing shows: department and lead MP joined, public petitions
    prefetched. Filtering and order come from `debates.filters.EventFilter`."""
    return ParliamentaryEvent.objects.select_related("department", "lead_mp").prefetch_related(
        public_petitions_prefetch()
    )


def departments_with_events(request=None) -> QuerySet[Department]:
    return Department.objects.filter(
        pk__in=ParliamentaryEvent.objects.exclude(department=None).values("department_id")
    ).order_by("name")


def petitions_most_signed_in(*, constituency, limit: int = MOST_SIGNED_LIMIT) -> QuerySet:
    """Ids of the constituency's `limit` public petitions with the most signatures from it (at least one),
    ties broken by the older petition, from the per-constituency journal (never the signature rows)."""
    return (
        ConstituencyPetitionJournal.objects.filter(
            constituency=constituency, signature_count__gt=0, petition__state__in=VISIBLE_STATES
        )
        .order_by("-signature_count", "petition_id")
        .values("petition_id")[:limit]
    )


def constituency_signature_counts(*, constituency, petition_ids) -> dict[int, int]:
    """Signatures from one constituency on each of the given petitions (missing: none), in one query."""
    return dict(
        ConstituencyPetitionJournal.objects.filter(
            constituency=constituency, petition_id__in=set(petition_ids)
        ).values_list("petition_id", "signature_count")
    )


def events_added_recently(*, limit: int) -> list[ParliamentaryEvent]:
    """The events staff added most recently, newest first, with their public petitions."""
    return list(
        ParliamentaryEvent.objects.select_related("department")
        .prefetch_related(public_petitions_prefetch())
        .order_by("-created_at", "-pk")[:limit]
    )


def events_with_recent_outcomes(*, limit: int) -> list[ParliamentaryEvent]:
    """Events whose outcome (debated or not) was recorded most recently, newest first."""
    return list(
        ParliamentaryEvent.objects.exclude(outcome="")
        .filter(outcome_at__isnull=False)
        .prefetch_related(public_petitions_prefetch())
        .order_by("-outcome_at", "-pk")[:limit]
    )


def responses_published_recently(*, limit: int) -> list:
    """Published government responses to public petitions, most recently published first."""
    from responses.models import GovernmentResponse, ResponseStatus

    return list(
        GovernmentResponse.objects.filter(
            status=ResponseStatus.PUBLISHED,
            published_at__isnull=False,
            petition__state__in=VISIBLE_STATES,
        )
        .select_related("petition")
        .only("id", "summary", "published_at", "petition__id", "petition__action")
        .order_by("-published_at", "-pk")[:limit]
    )
