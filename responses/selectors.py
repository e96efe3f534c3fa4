"""Reads for government responses and consultations."""

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from petitions.dates import months_before
from petitions.models import Department, Petition, ResponseState, SiteSettings

from .models import Consultation, GovernmentResponse, ResponseStatus


def government_response_published_for(*, petition) -> GovernmentResponse | None:
    return (
        GovernmentResponse.objects.select_related("department")
        .filter(petition=petition, status=ResponseStatus.PUBLISHED)
        .first()
    )


def consultations_for_petition(*, petition) -> QuerySet[Consultation]:
    """Consultations linked to the petition directly or through its published response, each once."""
    # Subqueries rather than joins: a consultation linked both ways must not come back twice.
    direct = Consultation.objects.filter(petitions=petition).values("pk")
    via_response = Consultation.objects.filter(
        responses__petition=petition, responses__status=ResponseStatus.PUBLISHED
    ).values("pk")
    return (
        Consultation.objects.filter(Q(pk__in=direct) | Q(pk__in=via_response))
        .select_related("department")
        .order_by("opens_at", "pk")
    )


# --- Response timeliness (staff) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwaitingResponse:
    """A petition awaiting a government response: since when (London date), for how long, and whether overdue."""

    petition: Petition
    threshold_on: date
    days_waiting: int
    overdue: bool


@dataclass(frozen=True)
class DepartmentTimeliness:
    """One row of the timeliness table. `department` is None for the "No department" and "All" rows."""

    label: str
    department: Department | None
    due: int
    overdue: int
    responded: int
    median_days: int | float | None


@dataclass(frozen=True)
class ResponseTimeliness:
    months: int
    cutoff: datetime
    #: One row per department (by name), then "No department": awaiting petitions with no department and
    #: published responses with no responding department.
    rows: list[DepartmentTimeliness]
    #: Every awaiting petition and published response counted once (a petition may sit in two departments).
    total: DepartmentTimeliness


def response_overdue_months() -> int:
    return SiteSettings.load().response_overdue_months


def response_overdue_cutoff(*, now: datetime | None = None, months: int | None = None) -> datetime:
    """A petition that reached the response threshold before this instant has waited longer than the limit.

    The same London wall-clock time `months` earlier, so a threshold reached at 10am in summer time becomes
    overdue at 10am London time, not 10am UTC, once the clocks have gone back."""
    if months is None:
        months = response_overdue_months()
    return months_before(now or timezone.now(), months)


def awaiting_response_petitions() -> QuerySet[Petition]:
    """Petitions awaiting a government response, longest waiting first, with their departments prefetched."""
    return (
        Petition.objects.filter(
            response_state=ResponseState.AWAITING, response_threshold_reached_at__isnull=False
        )
        .order_by("response_threshold_reached_at", "pk")
        .only("pk", "action", "state", "signature_count", "response_threshold_reached_at")
        .prefetch_related(Prefetch("departments", queryset=Department.objects.only("pk", "acronym", "name")))
    )


def awaiting_response_rows(
    petitions, *, cutoff: datetime, now: datetime | None = None
) -> list[AwaitingResponse]:
    """Days waiting (London calendar days since the threshold was reached) and the overdue flag, per petition."""
    today = timezone.localdate(now or timezone.now())
    rows = []
    for petition in petitions:
        reached_at = petition.response_threshold_reached_at
        threshold_on = timezone.localdate(reached_at)
        rows.append(
            AwaitingResponse(
                petition=petition,
                threshold_on=threshold_on,
                days_waiting=(today - threshold_on).days,
                overdue=reached_at < cutoff,
            )
        )
    return rows


def _median(values: list[int]) -> int | float | None:
    if not values:
        return None
    middle = statistics.median(values)
    return int(middle) if float(middle).is_integer() else middle


def response_timeliness(*, now: datetime | None = None, months: int | None = None) -> ResponseTimeliness:
    """Per department: awaiting petitions due (within the limit) and overdue, published responses, and the median
    days from the response threshold (London date) to the response date.

    Four queries whatever the number of departments or petitions (three with `months` given): counts are
    aggregated in SQL; the median is taken in Python over one list of (department, dates) rows, since SQLite has
    no percentile function."""
    if months is None:
        months = response_overdue_months()
    cutoff = response_overdue_cutoff(now=now, months=months)
    # A comparison with the threshold date also leaves out the (impossible) awaiting petitions without one.
    within = Q(response_threshold_reached_at__gte=cutoff)
    over = Q(response_threshold_reached_at__lt=cutoff)
    awaiting = Q(response_state=ResponseState.AWAITING)
    in_department = Q(petitions__response_state=ResponseState.AWAITING)
    departments = list(
        Department.objects.order_by("name").annotate(
            due=Count(
                "petitions", filter=in_department & Q(petitions__response_threshold_reached_at__gte=cutoff)
            ),
            overdue=Count(
                "petitions", filter=in_department & Q(petitions__response_threshold_reached_at__lt=cutoff)
            ),
        )
    )
    # The departments join repeats a petition once per department: count distinct petitions for the totals.
    counts = Petition.objects.filter(awaiting).aggregate(
        due=Count("pk", distinct=True, filter=within),
        overdue=Count("pk", distinct=True, filter=over),
        unassigned_due=Count("pk", distinct=True, filter=within & Q(departments__isnull=True)),
        unassigned_overdue=Count("pk", distinct=True, filter=over & Q(departments__isnull=True)),
    )

    responded: dict[int | None, int] = defaultdict(int)
    days: dict[int | None, list[int]] = defaultdict(list)
    every: list[int] = []
    for department_id, responded_on, reached_at in GovernmentResponse.objects.filter(
        status=ResponseStatus.PUBLISHED
    ).values_list("department_id", "responded_on", "petition__response_threshold_reached_at"):
        responded[department_id] += 1
        if reached_at is not None:
            waited = (responded_on - timezone.localdate(reached_at)).days
            days[department_id].append(waited)
            every.append(waited)

    rows = [
        DepartmentTimeliness(
            label=department.name,
            department=department,
            due=department.due,
            overdue=department.overdue,
            responded=responded[department.pk],
            median_days=_median(days[department.pk]),
        )
        for department in departments
    ]
    rows.append(
        DepartmentTimeliness(
            label="No department",
            department=None,
            due=counts["unassigned_due"],
            overdue=counts["unassigned_overdue"],
            responded=responded[None],
            median_days=_median(days[None]),
        )
    )
    total = DepartmentTimeliness(
        label="All departments",
        department=None,
        due=counts["due"],
        overdue=counts["overdue"],
        responded=sum(responded.values()),
        median_days=_median(every),
    )
    return ResponseTimeliness(months=months, cutoff=cutoff, rows=rows, total=total)
