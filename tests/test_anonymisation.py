"""Six months after a petition closes, is rejected or is stopped, its signers' personal data goes; counts stay."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from petitions import tasks
from petitions.dates import months_before
from petitions.models import (
    Constituency,
    ConstituencyPetitionJournal,
    Country,
    CountryPetitionJournal,
    Petition,
    PetitionState,
    Signature,
)
from petitions.services import petition_anonymise, petition_recount, petitions_anonymise

from .factories import (
    ClosedPetitionFactory,
    OpenPetitionFactory,
    PendingSignatureFactory,
    PetitionFactory,
    ValidatedSignatureFactory,
)

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 9, 1, 3, 0, tzinfo=LONDON)
SEVEN_MONTHS_AGO = datetime(2026, 2, 1, 12, 0, tzinfo=LONDON)
FIVE_MONTHS_AGO = datetime(2026, 4, 1, 12, 0, tzinfo=LONDON)
S = PetitionState


def _signers(petition):
    """A UK signer with a constituency, a UK signer without one, one abroad, and an unconfirmed one."""
    constituency = Constituency.objects.exclude(example_postcode="").order_by("gss_code")[5]
    return [
        ValidatedSignatureFactory(
            petition=petition,
            creator=True,
            name="Ada Lovelace",
            email="Ada@Example.com",
            canonical_email="ada@example.com",
            constituency=constituency,
            postcode="SW1A 1AA",
            ip_address="203.0.113.7",
            validated_ip="203.0.113.8",
        ),
        ValidatedSignatureFactory(petition=petition, constituency=None, postcode="BT1 1AA", ip_address="::1"),
        ValidatedSignatureFactory(
            petition=petition, country=Country.objects.get(code="FR"), constituency=None, postcode=""
        ),
        PendingSignatureFactory(petition=petition, ip_address="198.51.100.1"),
    ]


def _snapshot(petition):
    petition.refresh_from_db()
    return (
        petition.signature_count,
        sorted(
            ConstituencyPetitionJournal.objects.filter(petition=petition).values_list(
                "constituency_id", "signature_count", "last_signed_at"
            )
        ),
        sorted(
            CountryPetitionJournal.objects.filter(petition=petition).values_list(
                "country_id", "signature_count", "last_signed_at"
            )
        ),
    )


def _pii(petition):
    return list(
        Signature.objects.filter(petition=petition)
        .order_by("pk")
        .values_list(
            "name", "email", "canonical_email", "postcode", "ip_address", "validated_ip", "anonymized_at"
        )
    )


def test_signers_of_a_petition_closed_over_six_months_ago_are_anonymised():
    petition = ClosedPetitionFactory(closed_at=SEVEN_MONTHS_AGO)
    uk, uk_unknown, abroad, pending = _signers(petition)
    petition_recount(petition_id=petition.pk)
    counts = _snapshot(petition)

    assert petitions_anonymise(now=NOW) == 1

    rows = {s.pk: s for s in Signature.objects.filter(petition=petition)}
    for signature in rows.values():
        assert signature.name == f"Signature {signature.pk}"
        assert signature.email == signature.canonical_email == f"signature-{signature.pk}@anonymised.invalid"
        assert signature.ip_address is None and signature.validated_ip is None
        assert signature.anonymized_at == NOW
    assert rows[uk.pk].postcode == uk.constituency.example_postcode
    assert rows[uk_unknown.pk].postcode == "ZZ99 3WZ"
    assert rows[abroad.pk].postcode == ""
    # Where people signed from, and who created or sponsored it, stay: they are the counts.
    assert rows[uk.pk].constituency_id == uk.constituency_id and rows[uk.pk].creator
    assert rows[abroad.pk].country.code == "FR"
    assert rows[pending.pk].state == pending.state

    petition.refresh_from_db()
    assert petition.anonymized_at == NOW
    assert _snapshot(petition) == counts
    # And rebuilding the counts from the anonymised rows gives the same numbers.
    petition_recount(petition_id=petition.pk)
    assert _snapshot(petition) == counts
    assert counts[0] == 3


def test_running_again_changes_nothing():
    petition = ClosedPetitionFactory(closed_at=SEVEN_MONTHS_AGO)
    _signers(petition)
    assert petitions_anonymise(now=NOW) == 1
    after_first = _pii(petition)

    assert petitions_anonymise(now=NOW + timedelta(days=1)) == 0

    assert _pii(petition) == after_first
    petition.refresh_from_db()
    assert petition.anonymized_at == NOW


@pytest.mark.parametrize(
    "make",
    [
        lambda: PetitionFactory(state=S.REJECTED, rejected_at=SEVEN_MONTHS_AGO),
        lambda: PetitionFactory(state=S.HIDDEN, rejected_at=SEVEN_MONTHS_AGO),
        lambda: PetitionFactory(state=S.STOPPED, stopped_at=SEVEN_MONTHS_AGO),
    ],
    ids=["rejected", "hidden", "stopped"],
)
def test_rejected_hidden_and_stopped_petitions_are_anonymised_too(make):
    petition = make()
    signature = ValidatedSignatureFactory(petition=petition, creator=True)
    assert petitions_anonymise(now=NOW) == 1
    signature.refresh_from_db()
    assert signature.name == f"Signature {signature.pk}" and signature.anonymized_at == NOW


@pytest.mark.parametrize(
    "make",
    [
        lambda: ClosedPetitionFactory(closed_at=SEVEN_MONTHS_AGO, do_not_anonymize=True),
        lambda: ClosedPetitionFactory(closed_at=FIVE_MONTHS_AGO),
        lambda: PetitionFactory(state=S.REJECTED, rejected_at=FIVE_MONTHS_AGO),
        lambda: PetitionFactory(state=S.STOPPED, stopped_at=FIVE_MONTHS_AGO),
        lambda: OpenPetitionFactory(opened_at=SEVEN_MONTHS_AGO - timedelta(days=30)),
        lambda: PetitionFactory(state=S.SPONSORED, created_at=SEVEN_MONTHS_AGO),
    ],
    ids=["do-not-anonymise", "closed-5-months-ago", "rejected-5-months-ago", "stopped-5-months-ago", "open",
         "in-moderation"],
)  # fmt: skip
def test_these_petitions_keep_their_signers_data(make):
    petition = make()
    _signers(petition)
    before = _pii(petition)
    assert petitions_anonymise(now=NOW) == 0
    assert _pii(petition) == before
    petition.refresh_from_db()
    assert petition.anonymized_at is None


def test_six_months_is_counted_in_london_calendar_months():
    assert months_before(NOW, 6) == datetime(2026, 3, 1, 3, 0, tzinfo=LONDON)
    just_inside = ClosedPetitionFactory(closed_at=datetime(2026, 3, 1, 3, 0, 1, tzinfo=LONDON))
    just_past = ClosedPetitionFactory(closed_at=datetime(2026, 3, 1, 2, 59, 59, tzinfo=LONDON))
    assert petitions_anonymise(now=NOW) == 1
    just_inside.refresh_from_db()
    just_past.refresh_from_db()
    assert just_inside.anonymized_at is None and just_past.anonymized_at == NOW


def test_signatures_are_anonymised_in_batches():
    petition = ClosedPetitionFactory(closed_at=SEVEN_MONTHS_AGO)
    ValidatedSignatureFactory.create_batch(7, petition=petition)

    assert petition_anonymise(petition_id=petition.pk, now=NOW, batch_size=3) is True

    assert not Signature.objects.filter(petition=petition, anonymized_at=None).exists()
    assert Signature.objects.filter(petition=petition, name__startswith="Signature ").count() == 7
    petition.refresh_from_db()
    assert petition.anonymized_at == NOW


def test_the_nightly_task_anonymises_due_petitions():
    petition = ClosedPetitionFactory(closed_at=SEVEN_MONTHS_AGO)
    signature = ValidatedSignatureFactory(petition=petition)
    with time_machine.travel(NOW, tick=False):
        assert tasks.anonymise_petitions.delay().get() == 1
    signature.refresh_from_db()
    assert signature.email == f"signature-{signature.pk}@anonymised.invalid"
    assert Petition.objects.get(pk=petition.pk).anonymized_at == NOW
