"""Counts are caches of the signature rows: the recount service and the periodic jobs rebuild them exactly."""

import pytest
from django.utils import timezone

from petitions import tasks
from petitions.models import (
    AuditLog,
    Constituency,
    ConstituencyPetitionJournal,
    Country,
    CountryPetitionJournal,
    Petition,
)
from petitions.services import audit_log_record, petition_recount

from .factories import (
    FraudulentSignatureFactory,
    InvalidatedSignatureFactory,
    OpenPetitionFactory,
    PendingSignatureFactory,
    ValidatedSignatureFactory,
)

pytestmark = pytest.mark.django_db


def test_recount_counts_only_validated_rows_and_builds_the_journals():
    petition = OpenPetitionFactory()
    a, b = Constituency.objects.order_by("gss_code")[:2]
    france = Country.objects.get(code="FR")
    ValidatedSignatureFactory.create_batch(3, petition=petition, constituency=a)
    ValidatedSignatureFactory.create_batch(2, petition=petition, constituency=b)
    ValidatedSignatureFactory(petition=petition, constituency=None, country=france, postcode="")
    PendingSignatureFactory(petition=petition)
    FraudulentSignatureFactory(petition=petition)
    InvalidatedSignatureFactory(petition=petition)

    assert petition_recount(petition_id=petition.pk) == 6

    petition.refresh_from_db()
    assert petition.signature_count == 6
    assert petition.last_signed_at is not None
    journals = dict(
        ConstituencyPetitionJournal.objects.filter(petition=petition).values_list(
            "constituency_id", "signature_count"
        )
    )
    assert journals == {a.pk: 3, b.pk: 2}
    countries = dict(
        CountryPetitionJournal.objects.filter(petition=petition).values_list(
            "country__code", "signature_count"
        )
    )
    assert countries == {"GB": 5, "FR": 1}


def test_recount_removes_journals_whose_signatures_were_invalidated():
    petition = OpenPetitionFactory()
    signature = ValidatedSignatureFactory(petition=petition)
    petition_recount(petition_id=petition.pk)
    signature.state = "invalidated"
    signature.save()

    assert petition_recount(petition_id=petition.pk) == 0
    assert not ConstituencyPetitionJournal.objects.filter(petition=petition).exists()
    assert Petition.objects.get(pk=petition.pk).signature_count == 0


def test_recount_of_a_missing_petition_is_a_no_op():
    assert petition_recount(petition_id=987654321) == 0


def test_nightly_check_repairs_a_wrong_count():
    petition = OpenPetitionFactory()
    ValidatedSignatureFactory.create_batch(4, petition=petition)
    Petition.objects.filter(pk=petition.pk).update(
        signature_count=99, signature_count_validated_at=timezone.now()
    )

    assert tasks.verify_all_counts.delay().get() == 1
    assert Petition.objects.get(pk=petition.pk).signature_count == 4


def test_audit_log_records_the_actor_and_the_object(django_user_model):
    user = django_user_model.objects.create_user("mod", password="x")
    petition = OpenPetitionFactory()
    entry = audit_log_record(actor=user, action="petition.publish", obj=petition, details={"note": "ok"})
    assert AuditLog.objects.get() == entry
    assert (entry.actor, entry.object_type, entry.object_id) == (user, "petitions.petition", str(petition.pk))
