"""A real Celery worker (on Redis when REDIS_URL is set, as in CI) runs a task enqueued on commit."""

import time

import pytest
from django.db import transaction
from django.utils import timezone

from config.celery import app
from petitions import tasks
from petitions.models import Country, Petition, PetitionState, Signature, SignatureState
from tests.celery_worker import wait_for


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_task_enqueued_on_commit_runs_on_a_real_worker(real_worker):
    gb, _ = Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})
    with transaction.atomic():
        petition = Petition.objects.create(action="Test", background="Test", state=PetitionState.OPEN)
        Signature.objects.bulk_create(
            Signature(
                petition=petition,
                name=f"Person {i}",
                email=f"p{i}@example.com",
                canonical_email=f"p{i}@example.com",
                country=gb,
                state=SignatureState.VALIDATED,
                validated_at=timezone.now(),
            )
            for i in range(3)
        )
        tasks.petition_recount.delay_on_commit(petition.pk)
        # Still inside the transaction: nothing may have been sent to the broker yet.
        time.sleep(0.5)
        assert Petition.objects.get(pk=petition.pk).signature_count == 0

    assert wait_for(lambda: Petition.objects.get(pk=petition.pk).signature_count == 3)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_task_enqueued_in_a_rolled_back_transaction_never_runs(real_worker):
    gb, _ = Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})
    petition = Petition.objects.create(action="Test", background="Test", state=PetitionState.OPEN)
    Signature.objects.create(
        petition=petition,
        name="Person",
        email="p@example.com",
        canonical_email="p@example.com",
        country=gb,
        state=SignatureState.VALIDATED,
        validated_at=timezone.now(),
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.petition_recount.delay_on_commit(petition.pk)
        raise RuntimeError("roll back")
    time.sleep(3)
    assert Petition.objects.get(pk=petition.pk).signature_count == 0


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_tally_goes_to_its_own_queue_and_a_default_worker_runs_it(real_worker):
    """The tally is routed to the `counts` queue (so an email backlog never holds it up); a worker started
    without -Q consumes it, as scripts/run-all.sh and docker-compose start them."""
    assert app.amqp.router.route({}, "petitions.tasks.tally_signatures")["queue"].name == "counts"
    assert app.amqp.router.route({}, "petitions.tasks.signature_email")["queue"].name == "celery"
    gb, _ = Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})
    petition = Petition.objects.create(action="Test", background="Test", state=PetitionState.OPEN)
    Signature.objects.create(
        petition=petition,
        name="Person",
        email="p@example.com",
        canonical_email="p@example.com",
        country=gb,
        state=SignatureState.VALIDATED,
        validated_at=timezone.now(),
    )
    tasks.tally_signatures.delay()
    assert wait_for(lambda: Petition.objects.get(pk=petition.pk).signature_count == 1)
