"""An invalidation started through the service runs to completion on a real Celery worker over Redis, re-queueing
itself between batches, and the tally then takes the invalidated signatures out of the counts."""

import os

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from petitions import tasks
from petitions.models import (
    AuditLog,
    Country,
    CountryPetitionJournal,
    Invalidation,
    InvalidationState,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
)
from petitions.services import invalidation_create, invalidation_start, signatures_tally
from tests.celery_worker import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL) for a real worker"),
]


@pytest.mark.django_db(transaction=True)
def test_invalidation_runs_on_a_real_worker_and_the_tally_drops_the_count(real_worker, monkeypatch):
    # Small batches and no time budget: every batch after the first arrives through Redis as a re-queued task.
    monkeypatch.setattr(tasks, "INVALIDATION_BATCH_SIZE", 3)
    monkeypatch.setattr(tasks, "INVALIDATION_TIME_BUDGET", 0)
    gb, _ = Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})
    sysadmin = User.objects.create_superuser("root", "root@example.com", "pw")
    petition = Petition.objects.create(action="Test", background="Test", state=PetitionState.OPEN)
    now = timezone.now()
    Signature.objects.bulk_create(
        Signature(
            petition=petition,
            name=f"Person {i}",
            email=f"p{i}@{'bots.example' if i < 8 else 'example.com'}",
            canonical_email=f"p{i}@{'bots.example' if i < 8 else 'example.com'}",
            email_domain="bots.example" if i < 8 else "example.com",
            country=gb,
            state=SignatureState.VALIDATED,
            validated_at=now,
        )
        for i in range(10)
    )
    signatures_tally()
    assert Petition.objects.get(pk=petition.pk).signature_count == 10

    invalidation = invalidation_create(actor=sysadmin, summary="Bots", domain="bots.example")
    invalidation_start(invalidation=invalidation, actor=sysadmin)  # queues the task once this commits

    def completed():
        return Invalidation.objects.get(pk=invalidation.pk).state == InvalidationState.COMPLETED

    assert wait_for(completed)
    invalidation.refresh_from_db()
    assert invalidation.invalidated_count == 8
    assert invalidation.matching_count == 8
    assert Signature.objects.filter(invalidation=invalidation, state=SignatureState.INVALIDATED).count() == 8
    assert AuditLog.objects.filter(action="invalidation.complete", details={"invalidated_count": 8}).exists()

    assert signatures_tally()["subtracted"] == 8
    assert Petition.objects.get(pk=petition.pk).signature_count == 2
    assert CountryPetitionJournal.objects.get(petition=petition, country=gb).signature_count == 2
