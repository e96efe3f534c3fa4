"""Reads for government responses and consultations."""

from django.db.models import QuerySet

from .models import Consultation, GovernmentResponse, ResponseStatus


def government_response_published_for(*, petition) -> GovernmentResponse | None:
    return (
        GovernmentResponse.objects.select_related("department")
        .filter(petition=petition, status=ResponseStatus.PUBLISHED)
        .first()
    )


def consultations_for_petition(*, petition) -> QuerySet[Consultation]:
    return Consultation.objects.filter(petitions=petition).select_related("department").order_by("opens_at")
