"""Reads for parliamentary events and other business."""

from django.db.models import QuerySet

from .models import OtherBusiness, ParliamentaryEvent


def events_for_petition(*, petition) -> QuerySet[ParliamentaryEvent]:
    return (
        ParliamentaryEvent.objects.filter(petitions=petition)
        .select_related("lead_mp", "department")
        .order_by("starts_at")
    )


def other_business_for_petition(*, petition) -> QuerySet[OtherBusiness]:
    return OtherBusiness.objects.filter(petition=petition).order_by("occurred_on", "created_at")
