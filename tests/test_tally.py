"""The tally turns signature rows into counts: exactly once per row, under concurrency, and it agrees with the
full rebuild. Confirming a signature of a published petition writes only the signature row."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from petitions import tasks
from petitions.models import (
    AuditLog,
    Constituency,
    ConstituencyPetitionJournal,
    Country,
    CountryPetitionJournal,
    DebateState,
    Petition,
    ResponseState,
    Signature,
    SignatureState,
    SiteSettings,
)
from petitions.services import (
    petition_recount,
    petitions_thresholds_check,
    reference_data_load,
    signature_confirm,
    signatures_tally,
)

from .factories import (
    InvalidatedSignatureFactory,
    OpenPetitionFactory,
    PendingSignatureFactory,
    ValidatedSignatureFactory,
)

needs_postgres = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite has no row locks (its IMMEDIATE transactions serialise writers); needs PostgreSQL.",
)


def journals(petition):
    constituencies = dict(
        ConstituencyPetitionJournal.objects.filter(petition=petition)
        .exclude(signature_count=0)
        .values_list("constituency_id", "signature_count")
    )
    countries = dict(
        CountryPetitionJournal.objects.filter(petition=petition)
        .exclude(signature_count=0)
        .values_list("country__code", "signature_count")
    )
    return constituencies, countries


def expected_journals(petition):
    """What the journals must be: computed straight from the validated rows."""
    rows = Signature.objects.filter(petition=petition, state=SignatureState.VALIDATED)
    constituencies, countries = {}, {}
    for constituency_id, code in rows.values_list("constituency_id", "country__code"):
        if constituency_id is not None:
            constituencies[constituency_id] = constituencies.get(constituency_id, 0) + 1
        countries[code] = countries.get(code, 0) + 1
    return constituencies, countries


def tally_until_done() -> int:
    added = 0
    while True:
        result = signatures_tally()
        added += result["added"] - result["subtracted"]
        if not result["added"] and not result["subtracted"]:
            return added


# --- Single-threaded behaviour (both databases) ------------------------------------------------------


@pytest.mark.django_db
class TestTally:
    def test_adds_validated_rows_once_and_builds_the_journals(self):
        petition = OpenPetitionFactory()
        a, b = Constituency.objects.order_by("gss_code")[:2]
        france = Country.objects.get(code="FR")
        ValidatedSignatureFactory.create_batch(3, petition=petition, constituency=a)
        ValidatedSignatureFactory.create_batch(2, petition=petition, constituency=b)
        ValidatedSignatureFactory(petition=petition, constituency=None, country=france, postcode="")
        PendingSignatureFactory(petition=petition)
        InvalidatedSignatureFactory(petition=petition)

        result = signatures_tally()

        assert (result["added"], result["subtracted"], result["petition_ids"]) == (6, 0, [petition.pk])
        petition.refresh_from_db()
        assert petition.signature_count == 6
        assert (
            petition.last_signed_at
            == Signature.objects.filter(state="validated").latest("validated_at").validated_at
        )
        assert journals(petition) == ({a.pk: 3, b.pk: 2}, {"GB": 5, "FR": 1})
        assert not Signature.objects.filter(state="validated", counted_at=None).exists()
        assert not Signature.objects.exclude(state="validated").exclude(counted_at=None).exists()
        assert signatures_tally()["added"] == 0
        assert Petition.objects.get(pk=petition.pk).signature_count == 6
        assert SiteSettings.load().signature_count_updated_at is not None

    def test_invalidated_signatures_are_subtracted(self):
        petition = OpenPetitionFactory()
        signatures = ValidatedSignatureFactory.create_batch(3, petition=petition)
        signatures_tally()
        Signature.objects.filter(pk=signatures[0].pk).update(
            state=SignatureState.INVALIDATED, invalidated_at=timezone.now()
        )

        result = signatures_tally()

        assert (result["added"], result["subtracted"]) == (0, 1)
        assert Petition.objects.get(pk=petition.pk).signature_count == 2
        assert journals(petition) == expected_journals(petition)
        assert Signature.objects.get(pk=signatures[0].pk).counted_at is None
        assert signatures_tally()["subtracted"] == 0

    def test_a_row_invalidated_before_it_was_counted_is_never_counted_or_subtracted(self):
        petition = OpenPetitionFactory()
        signature = ValidatedSignatureFactory(petition=petition)
        Signature.objects.filter(pk=signature.pk).update(state=SignatureState.INVALIDATED)
        assert signatures_tally() == {"added": 0, "subtracted": 0, "petition_ids": [], "full": False}
        assert Petition.objects.get(pk=petition.pk).signature_count == 0

    def test_a_full_batch_says_so_and_the_next_takes_the_rest(self):
        petition = OpenPetitionFactory()
        ValidatedSignatureFactory.create_batch(5, petition=petition)
        first = signatures_tally(limit=3)
        assert (first["added"], first["full"]) == (3, True)
        second = signatures_tally(limit=3)
        assert (second["added"], second["full"]) == (2, False)
        assert Petition.objects.get(pk=petition.pk).signature_count == 5

    def test_the_task_loops_over_full_batches_and_respects_the_switch(self, monkeypatch):
        petition = OpenPetitionFactory()
        ValidatedSignatureFactory.create_batch(4, petition=petition)
        site = SiteSettings.load()
        site.update_signature_counts = False
        site.save()
        assert tasks.tally_signatures.delay().get()["added"] == 0
        assert Petition.objects.get(pk=petition.pk).signature_count == 0

        site.update_signature_counts = True
        site.save()
        from petitions import services

        real = services.signatures_tally
        monkeypatch.setattr(services, "signatures_tally", lambda: real(limit=1))
        assert tasks.tally_signatures.delay().get() == {"added": 4, "subtracted": 0, "batches": 5}
        assert Petition.objects.get(pk=petition.pk).signature_count == 4

    def test_the_tally_is_scheduled_every_interval(self):
        entry = settings.CELERY_BEAT_SCHEDULE["petitions-tally-signatures"]
        assert entry["task"] == "petitions.tasks.tally_signatures"
        assert entry["schedule"] == settings.SIGNATURE_TALLY_INTERVAL

    def test_recount_and_tally_agree(self):
        petition = OpenPetitionFactory()
        ValidatedSignatureFactory.create_batch(3, petition=petition)
        counted = ValidatedSignatureFactory(petition=petition)
        signatures_tally()
        Signature.objects.filter(pk=counted.pk).update(state=SignatureState.FRAUDULENT)
        ValidatedSignatureFactory.create_batch(2, petition=petition)

        assert petition_recount(petition_id=petition.pk) == 5

        assert Signature.objects.get(pk=counted.pk).counted_at is None
        assert signatures_tally() == {"added": 0, "subtracted": 0, "petition_ids": [], "full": False}
        assert Petition.objects.get(pk=petition.pk).signature_count == 5
        assert journals(petition) == expected_journals(petition)


@pytest.mark.django_db
def test_confirming_a_signature_of_an_open_petition_writes_only_the_signature_row():
    SiteSettings.load()
    petition = OpenPetitionFactory()
    before = Petition.objects.values("updated_at", "signature_count").get(pk=petition.pk)
    signature = PendingSignatureFactory(petition=petition)

    with CaptureQueriesContext(connection) as queries:
        signature_confirm(signature=signature, token=signature.confirm_token, ip_address="192.0.2.1")

    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))
    ]
    assert len(writes) == 1 and "petitions_signature" in writes[0]
    # The only lock asked of the petitions table is for unpublished petitions, so it matches no row here.
    petition_locks = [
        q["sql"] for q in queries if "FOR UPDATE" in q["sql"] and 'FROM "petitions_petition"' in q["sql"]
    ]
    assert all("NOT" in sql and "'open'" in sql for sql in petition_locks)
    assert Petition.objects.values("updated_at", "signature_count").get(pk=petition.pk) == before
    signature.refresh_from_db()
    assert signature.state == SignatureState.VALIDATED and signature.counted_at is None
    assert signatures_tally()["added"] == 1


# --- Thresholds ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_thresholds_are_set_when_reached_and_reverted_when_dropping_below():
    site = SiteSettings.load()
    site.threshold_for_response, site.threshold_for_debate = 3, 5
    site.save()
    petition = OpenPetitionFactory()
    signatures = ValidatedSignatureFactory.create_batch(3, petition=petition)

    signatures_tally()
    petition.refresh_from_db()
    assert petition.response_threshold_reached_at is not None
    assert petition.response_state == ResponseState.AWAITING
    assert petition.debate_threshold_reached_at is None and petition.debate_state == DebateState.PENDING

    ValidatedSignatureFactory.create_batch(2, petition=petition)
    signatures_tally()
    petition.refresh_from_db()
    reached = petition.response_threshold_reached_at
    assert petition.debate_threshold_reached_at is not None and petition.debate_state == DebateState.AWAITING

    Signature.objects.filter(pk=signatures[0].pk).update(state=SignatureState.INVALIDATED)
    signatures_tally()
    petition.refresh_from_db()
    assert petition.signature_count == 4
    assert petition.debate_threshold_reached_at is None and petition.debate_state == DebateState.PENDING
    assert petition.response_threshold_reached_at == reached  # still above 3: unchanged

    Signature.objects.filter(pk__in=[s.pk for s in signatures[1:]]).update(state=SignatureState.INVALIDATED)
    signatures_tally()
    petition.refresh_from_db()
    assert petition.response_threshold_reached_at is None and petition.response_state == ResponseState.PENDING


@pytest.mark.django_db
def test_threshold_check_keeps_later_states_and_ignores_unpublished_petitions():
    site = SiteSettings.load()
    site.threshold_for_response = 1
    site.save()
    responded = OpenPetitionFactory(signature_count=5, response_state=ResponseState.RESPONDED)
    sponsored = OpenPetitionFactory(signature_count=5, state="sponsored")

    changed = petitions_thresholds_check([responded.pk, sponsored.pk])

    assert changed["response_reached"] == [responded.pk]
    responded.refresh_from_db()
    assert responded.response_state == ResponseState.RESPONDED and responded.response_threshold_reached_at
    assert Petition.objects.get(pk=sponsored.pk).response_threshold_reached_at is None


# --- Nightly reconciliation ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reconciliation_repairs_drift_and_records_it():
    drifted, fine = OpenPetitionFactory(), OpenPetitionFactory()
    ValidatedSignatureFactory.create_batch(4, petition=drifted)
    ValidatedSignatureFactory.create_batch(2, petition=fine)
    signatures_tally()
    ValidatedSignatureFactory(petition=fine)  # not yet tallied: lag, not drift
    Petition.objects.filter(pk=drifted.pk).update(signature_count=99)
    ConstituencyPetitionJournal.objects.filter(petition=drifted).update(signature_count=50)

    assert tasks.verify_all_counts.delay().get() == 1

    drifted.refresh_from_db()
    assert drifted.signature_count == 4
    assert journals(drifted) == expected_journals(drifted)
    assert Petition.objects.get(pk=fine.pk).signature_count == 3
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.object_id) == (None, "counts.repair", str(drifted.pk))
    assert entry.details == {"before": 99, "after": 4}
    assert signatures_tally()["added"] == 0


# --- Concurrency (PostgreSQL) ------------------------------------------------------------------------------


def _run_threads(targets):
    errors: list[BaseException] = []

    def wrap(target):
        def run():
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)
            finally:
                connections.close_all()

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def _signers(petition, n):
    constituencies = list(Constituency.objects.order_by("gss_code")[:7])
    countries = list(Country.objects.filter(code__in=["GB", "FR", "IE"]))
    gb = Country.objects.get(code="GB")
    rows = []
    for i in range(n):
        constituency = constituencies[i % len(constituencies)] if i % 5 else None
        country = gb if constituency else countries[i % len(countries)]
        rows.append(
            PendingSignatureFactory.build(
                petition=petition, constituency=constituency, country=country, postcode=""
            )
        )
    return Signature.objects.bulk_create(rows)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_200_parallel_confirmations_are_counted_exactly():
    reference_data_load()
    petition = OpenPetitionFactory()
    pending = _signers(petition, 200)
    done = threading.Event()
    start = threading.Barrier(9)

    def confirm(chunk):
        def run():
            start.wait(timeout=10)
            for signature in chunk:
                signature_confirm(signature=signature, token=signature.confirm_token, ip_address=None)

        return run

    def tally_meanwhile():
        start.wait(timeout=10)
        while not done.is_set():
            signatures_tally(limit=17)

    tally_thread = threading.Thread(target=lambda: (tally_meanwhile(), connections.close_all()))
    tally_thread.start()
    _run_threads([confirm(pending[i::8]) for i in range(8)])
    done.set()
    tally_thread.join(timeout=60)

    tally_until_done()
    petition.refresh_from_db()
    assert Signature.objects.filter(petition=petition, state="validated").count() == 200
    assert petition.signature_count == 200
    assert journals(petition) == expected_journals(petition)
    assert sum(journals(petition)[1].values()) == 200
    assert not Signature.objects.filter(petition=petition, counted_at=None).exists()


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_committed_late_is_counted_exactly_once_by_the_next_tally():
    reference_data_load()
    petition = OpenPetitionFactory()
    ValidatedSignatureFactory.create_batch(3, petition=petition)
    late = PendingSignatureFactory(petition=petition)
    locked_row = ValidatedSignatureFactory(petition=petition)
    validated, release = threading.Event(), threading.Event()

    def slow_confirmation():
        with transaction.atomic():
            Signature.objects.filter(pk=late.pk).update(state="validated", validated_at=timezone.now())
            # An already validated row held under a lock (say, a confirmation retried): the tally skips it.
            Signature.objects.select_for_update().get(pk=locked_row.pk)
            validated.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=lambda: (slow_confirmation(), connections.close_all()))
    thread.start()
    assert validated.wait(timeout=10)
    started = time.monotonic()
    first = signatures_tally()
    assert time.monotonic() - started < 5  # it did not wait for the open transaction
    release.set()
    thread.join(timeout=30)

    assert first["added"] == 3
    assert Petition.objects.get(pk=petition.pk).signature_count == 3
    second = signatures_tally()
    assert second["added"] == 2
    assert signatures_tally()["added"] == 0
    assert Petition.objects.get(pk=petition.pk).signature_count == 5
    assert journals(petition) == expected_journals(petition)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_tallies_at_once_count_nothing_twice():
    reference_data_load()
    petitions = [OpenPetitionFactory() for _ in range(3)]
    for petition in petitions:
        for signature in _signers(petition, 100):
            signature.state, signature.validated_at = "validated", timezone.now()
        Signature.objects.filter(petition=petition).update(state="validated", validated_at=timezone.now())
    start = threading.Barrier(2)
    totals = []

    def tally():
        start.wait(timeout=10)
        added = 0
        while True:
            result = signatures_tally(limit=23)
            added += result["added"]
            if (
                not result["added"]
                and not Signature.objects.filter(state="validated", counted_at=None).exists()
            ):
                break
        totals.append(added)

    _run_threads([tally, tally])

    assert sum(totals) == 300
    for petition in petitions:
        petition.refresh_from_db()
        assert petition.signature_count == 100
        assert journals(petition) == expected_journals(petition)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_recount_during_tallies_leaves_exact_counts():
    reference_data_load()
    petition = OpenPetitionFactory()
    pending = _signers(petition, 120)
    start = threading.Barrier(3)

    def confirm():
        start.wait(timeout=10)
        for signature in pending:
            signature_confirm(signature=signature, token=signature.confirm_token, ip_address=None)

    def tally():
        start.wait(timeout=10)
        for _ in range(30):
            signatures_tally(limit=10)

    def recount():
        start.wait(timeout=10)
        for _ in range(10):
            petition_recount(petition_id=petition.pk)

    _run_threads([confirm, tally, recount])
    tally_until_done()
    petition.refresh_from_db()
    assert petition.signature_count == 120
    assert journals(petition) == expected_journals(petition)
