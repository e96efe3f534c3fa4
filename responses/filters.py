"""The public list of consultations (/consultations): its filters, order and linked petitions.

Status uses the same bounds as `Consultation.is_open` and the `consultation_state` template filter: open while
opens_at ≤ now < closes_at, closed from closes_at (even if opens_at is wrongly later), otherwise not open yet.
"""

import django_filters
from django.db.models import Case, F, IntegerField, Prefetch, QuerySet, Value, When
from django.utils import timezone

from petitions.forms import GovukForm
from petitions.models import Department, Petition

from .models import Consultation, GovernmentResponse, ResponseStatus

OPEN, UPCOMING, CLOSED, ALL = "open", "upcoming", "closed", "all"
STATUS_CHOICES = [
    (ALL, "All consultations"),
    (OPEN, "Open"),
    (UPCOMING, "Not open yet"),
    (CLOSED, "Closed"),
]


def departments_with_consultations(request=None) -> QuerySet[Department]:
    return Department.objects.filter(
        pk__in=Consultation.objects.exclude(department=None).values("department_id")
    ).order_by("name")


def consultations_listed(*, now) -> QuerySet[Consultation]:
    """Every consultation: open ones first (closing soonest first), then those not open yet (opening soonest
    first), then closed ones (most recently closed first), with the public petitions each is linked to
    (directly, or through a published government response) prefetched, in a fixed number of queries."""
    rank = Case(
        When(closes_at__lte=now, then=Value(2)),
        When(opens_at__gt=now, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return (
        Consultation.objects.select_related("department")
        .annotate(status_rank=rank)
        .annotate(
            soonest=Case(
                When(status_rank=0, then=F("closes_at")),
                When(status_rank=1, then=F("opens_at")),
            ),
            latest=Case(When(status_rank=2, then=F("closes_at"))),
        )
        .order_by("status_rank", F("soonest").asc(nulls_last=True), F("latest").desc(nulls_last=True), "pk")
        .prefetch_related(
            Prefetch(
                "petitions",
                queryset=Petition.objects.visible().only("id", "action").order_by("pk"),
                to_attr="public_petitions",
            ),
            Prefetch(
                "responses",
                queryset=GovernmentResponse.objects.filter(
                    status=ResponseStatus.PUBLISHED, petition__in=Petition.objects.visible()
                )
                .select_related("petition")
                .only("id", "petition__id", "petition__action"),
                to_attr="public_responses",
            ),
        )
    )


def linked_petitions(consultation: Consultation) -> list[Petition]:
    """A listed consultation's public petitions, each once, by id (needs `consultations_listed`'s prefetch)."""
    petitions = {p.pk: p for p in consultation.public_petitions}
    for response in consultation.public_responses:
        petitions.setdefault(response.petition.pk, response.petition)
    return [petitions[pk] for pk in sorted(petitions)]


class ConsultationFilter(django_filters.FilterSet):
    """Status and department. An invalid value is reported on the form and that filter left out."""

    status = django_filters.ChoiceFilter(
        label="Status",
        choices=STATUS_CHOICES,
        empty_label=None,
        method="filter_status",
        error_messages={"invalid_choice": "Choose a status from the list"},
    )
    department = django_filters.ModelChoiceFilter(
        label="Department",
        queryset=departments_with_consultations,
        empty_label="All departments",
        error_messages={"invalid_choice": "Choose a department from the list"},
    )

    class Meta:
        model = Consultation
        fields = ["status", "department"]
        form = GovukForm

    def __init__(self, data=None, *args, now=None, **kwargs):
        if data is not None and not data.get("status"):
            data = data.copy()
            data["status"] = ALL
        super().__init__(data, *args, **kwargs)
        self.now = now or timezone.now()

    def filter_status(self, queryset, name, value):
        if value == OPEN:
            return queryset.filter(opens_at__lte=self.now, closes_at__gt=self.now)
        if value == UPCOMING:
            return queryset.filter(opens_at__gt=self.now, closes_at__gt=self.now)
        if value == CLOSED:
            return queryset.filter(closes_at__lte=self.now)
        return queryset
