"""Invalidations: Sysadmins take away every signature matching some criteria, in batches, through the admin.

Criteria matching, validation, counting before starting, batches and progress, cancelling, re-running after a
crash, counts dropping through the tally, audit rows, and the admin pages (roles, buttons, errors, queries).
"""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from petitions import tasks
from petitions.groups import MODERATORS, SYSADMINS, staff_groups_ensure
from petitions.models import (
    AuditLog,
    Constituency,
    ConstituencyPetitionJournal,
    Country,
    CountryPetitionJournal,
    EmailDomainRule,
    Invalidation,
    InvalidationState,
    Signature,
    SignatureState,
)
from petitions.selectors import invalidation_percent_completed, invalidation_signatures
from petitions.services import (
    InvalidationStateError,
    NotAllowed,
    invalidation_cancel,
    invalidation_count,
    invalidation_create,
    invalidation_criteria_clean,
    invalidation_run_batch,
    invalidation_start,
    signatures_tally,
)

from .factories import OpenPetitionFactory, SignatureFactory

pytestmark = pytest.mark.django_db

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the inet column and `<<=` exist on PostgreSQL only"
)


# --- Fixtures and helpers -------------------------------------------------------------------------


def _staff(group_name: str) -> User:
    staff_groups_ensure()
    user = User.objects.create_user(group_name.lower().replace(" ", "_"), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def sysadmin(db):
    return _staff(SYSADMINS)


@pytest.fixture
def moderator(db):
    return _staff(MODERATORS)


@pytest.fixture
def sysadmin_client(client, sysadmin):
    client.force_login(sysadmin)
    return client


@pytest.fixture
def places(db):
    first, second = Constituency.objects.order_by("gss_code")[:2]
    return {
        "gb": Country.objects.get(code="GB"),
        "fr": Country.objects.get(code="FR"),
        "first": first,
        "second": second,
    }


def sign(petition=None, **fields) -> Signature:
    fields.setdefault("state", SignatureState.VALIDATED)
    if fields["state"] == SignatureState.VALIDATED:
        fields.setdefault("validated_at", timezone.now())
    if "email" in fields:
        fields.setdefault("canonical_email", fields["email"].lower())
    return SignatureFactory(petition=petition or OpenPetitionFactory(), **fields)


def matched(invalidation) -> set[int]:
    return set(invalidation_signatures(invalidation=invalidation).values_list("pk", flat=True))


def create(actor, **criteria) -> Invalidation:
    return invalidation_create(actor=actor, summary="Spam run", **criteria)


def _url(view, *args):
    return reverse(f"admin:petitions_invalidation_{view}", args=args)


# --- Criteria -------------------------------------------------------------------------------------


def test_petition_criterion(sysadmin):
    petition = OpenPetitionFactory()
    mine = [sign(petition), sign(petition, state=SignatureState.PENDING)]
    sign()  # another petition
    assert matched(create(sysadmin, petition=petition)) == {s.pk for s in mine}


def test_name_is_case_insensitive_and_whole(sysadmin):
    alice = sign(name="Alice Smith")
    sign(name="Alice Smithson")
    assert matched(create(sysadmin, name="alice SMITH")) == {alice.pk}


def test_name_wildcard(sysadmin):
    smiths = [sign(name="Alice Smith"), sign(name="Bob SMITH")]
    sign(name="Smith Jones")
    sign(name="Alice Smithson")
    assert matched(create(sysadmin, name="* smith")) == {s.pk for s in smiths}
    # Regex characters in a name are literal.
    dotted = sign(name="A.B. (Test)")
    sign(name="AxBx (Test)")
    assert matched(create(sysadmin, name="a.b. (*")) == {dotted.pk}


def test_postcode_ignores_case_and_spaces(sysadmin):
    here = [sign(postcode="SW1A 1AA"), sign(postcode="sw1a1aa")]
    sign(postcode="SW1A 1AB")
    invalidation = create(sysadmin, postcode=" sw1a  1aa ")
    assert invalidation.postcode == "SW1A1AA"
    assert matched(invalidation) == {s.pk for s in here}


def test_ip_address_exact(sysadmin):
    one = sign(ip_address="192.0.2.10")
    sign(ip_address="192.0.2.11")
    sign(ip_address=None)
    assert matched(create(sysadmin, ip_address="192.0.2.10")) == {one.pk}


def test_ip_range_cidr(sysadmin):
    inside = [sign(ip_address="192.0.2.1"), sign(ip_address="192.0.2.255")]
    sign(ip_address="192.0.3.1")
    sign(ip_address="2001:db8::1")
    sign(ip_address=None)
    assert matched(create(sysadmin, ip_address="192.0.2.0/24")) == {s.pk for s in inside}


def test_ipv6_range_cidr(sysadmin):
    inside = [sign(ip_address="2001:db8::1"), sign(ip_address="2001:db8:0:ffff::2")]
    sign(ip_address="2001:db9::1")
    sign(ip_address="192.0.2.1")
    invalidation = create(sysadmin, ip_address="2001:DB8::/48")
    assert invalidation.ip_address == "2001:db8::/48"
    assert matched(invalidation) == {s.pk for s in inside}


@needs_postgres
def test_cidr_is_matched_in_sql_on_postgresql(sysadmin):
    inside = sign(ip_address="10.1.2.3")
    sign(ip_address="10.2.0.1")
    invalidation = create(sysadmin, ip_address="10.1.0.0/16")
    with CaptureQueriesContext(connection) as ctx:
        assert matched(invalidation) == {inside.pk}
    assert "\"ip_address\" <<= ('10.1.0.0/16')::inet" in ctx.captured_queries[-1]["sql"]


def test_email_is_compared_canonically(sysadmin):
    EmailDomainRule.objects.update_or_create(
        domain="gmail.com", defaults={"strip_dots": True, "strip_plus_tags": True, "alias_of": ""}
    )
    EmailDomainRule.objects.update_or_create(domain="googlemail.com", defaults={"alias_of": "gmail.com"})
    target = sign(email="John.Smith@gmail.com", canonical_email="johnsmith@gmail.com")
    sign(email="jane@gmail.com", canonical_email="jane@gmail.com")
    invalidation = create(sysadmin, email="J.O.H.N.Smith+petitions@GoogleMail.com")
    assert invalidation.email == "johnsmith@gmail.com"
    assert matched(invalidation) == {target.pk}


def test_email_wildcard(sysadmin):
    bots = [sign(email="bot1@example.com"), sign(email="bot22@example.com")]
    sign(email="bot1@example.org")
    sign(email="robot1@example.com")
    assert matched(create(sysadmin, email="bot*@example.com")) == {s.pk for s in bots}


def test_domain_and_subdomain_wildcard(sysadmin):
    apex = sign(email="a@example.com")
    subs = [sign(email="b@mail.example.com"), sign(email="c@x.y.example.com")]
    sign(email="d@notexample.com")
    assert matched(create(sysadmin, domain="Example.com")) == {apex.pk}
    assert matched(create(sysadmin, domain="*.example.com")) == {s.pk for s in subs}


def test_constituency_and_country(sysadmin, places):
    first = sign(constituency=places["first"])
    sign(constituency=places["second"])
    abroad = sign(country=places["fr"], constituency=None, postcode="")
    assert matched(create(sysadmin, constituency=places["first"])) == {first.pk}
    assert matched(create(sysadmin, country=places["fr"])) == {abroad.pk}


def test_date_range_on_signing_time(sysadmin):
    now = timezone.now()
    early = sign(created_at=now - timedelta(hours=3))
    during = [sign(created_at=now - timedelta(hours=2)), sign(created_at=now - timedelta(minutes=61))]
    late = sign(created_at=now)
    start, end = now - timedelta(hours=2), now - timedelta(hours=1)
    assert matched(create(sysadmin, created_after=start, created_before=end)) == {s.pk for s in during}
    assert matched(create(sysadmin, created_after=start)) == {*(s.pk for s in during), late.pk}
    assert matched(create(sysadmin, created_before=start)) == {early.pk}


def test_criteria_are_combined_with_and(sysadmin, places):
    petition = OpenPetitionFactory()
    both = sign(petition, ip_address="192.0.2.1")
    sign(petition, ip_address="198.51.100.1")
    sign(ip_address="192.0.2.1")
    assert matched(create(sysadmin, petition=petition, ip_address="192.0.2.0/24")) == {both.pk}


def test_only_pending_and_validated_signatures_match(sysadmin):
    petition = OpenPetitionFactory()
    live = [sign(petition), sign(petition, state=SignatureState.PENDING)]
    others = [
        sign(petition, state=state)
        for state in (SignatureState.FRAUDULENT, SignatureState.INVALIDATED, SignatureState.WITHDRAWN)
    ]
    invalidation = create(sysadmin, petition=petition)
    assert matched(invalidation) == {s.pk for s in live}
    invalidation_start(invalidation=invalidation, actor=sysadmin)
    invalidation_run_batch(invalidation_id=invalidation.pk)
    states = dict(Signature.objects.filter(petition=petition).values_list("pk", "state"))
    assert {states[s.pk] for s in live} == {SignatureState.INVALIDATED}
    assert [states[s.pk] for s in others] == [s.state for s in others]
    assert Signature.objects.filter(invalidation=invalidation).count() == 2


def test_an_invalidation_without_criteria_matches_nothing(sysadmin):
    sign()
    assert matched(Invalidation.objects.create(summary="Broken row")) == set()


# --- Validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "field", "message"),
    [
        ({}, "__all__", "at least one criterion"),
        ({"name": "  "}, "__all__", "at least one criterion"),
        ({"name": "**"}, "name", "match everyone"),
        ({"ip_address": "192.0.2"}, "ip_address", "Enter an IP address"),
        ({"ip_address": "192.0.2.0/33"}, "ip_address", "Enter an IP address"),
        ({"ip_address": "192.0.2.7/24"}, "ip_address", "did you mean 192.0.2.0/24"),
        ({"ip_address": "fe80::1%eth0"}, "ip_address", "Enter an IP address"),
        ({"domain": "bob@example.com"}, "domain", "without an @"),
        ({"domain": "exa mple.com"}, "domain", "like example.com"),
        ({"domain": "*"}, "domain", "match everyone"),
        ({"email": "not-an-email"}, "email", "Enter an email address"),
        ({"email": "*"}, "email", "one @"),
        ({"email": "*@*"}, "email", "match everyone"),
        ({"postcode": "SW1A-1AA"}, "postcode", "letters and numbers"),
    ],
)
def test_bad_criteria_are_refused_with_a_message(sysadmin, criteria, field, message):
    with pytest.raises(ValidationError) as error:
        create(sysadmin, **criteria)
    assert message in " ".join(error.value.message_dict[field])
    assert not Invalidation.objects.exists()


def test_dates_the_wrong_way_round_are_refused():
    now = timezone.now()
    with pytest.raises(ValidationError) as error:
        invalidation_criteria_clean({"created_after": now, "created_before": now - timedelta(days=1)})
    assert "must be later" in error.value.message_dict["created_before"][0]


def test_only_sysadmins_can_use_the_services(moderator, sysadmin):
    with pytest.raises(NotAllowed):
        create(moderator, name="x")
    invalidation = create(sysadmin, name="x")
    for service in (invalidation_count, invalidation_start, invalidation_cancel):
        with pytest.raises(NotAllowed):
            service(invalidation=invalidation, actor=moderator)
    assert Invalidation.objects.get().state == InvalidationState.PENDING


def test_create_leaves_an_audit_row_without_the_values(sysadmin):
    invalidation = create(sysadmin, email="victim@example.com", ip_address="192.0.2.1")
    row = AuditLog.objects.get(action="invalidation.create")
    assert (row.actor, row.object_id) == (sysadmin, str(invalidation.pk))
    assert row.details == {"criteria": ["ip_address", "email"]}
    assert invalidation.created_by == sysadmin
    assert invalidation.state == InvalidationState.PENDING


# --- Lifecycle ------------------------------------------------------------------------------------


def test_count_before_starting(sysadmin):
    petition = OpenPetitionFactory()
    for _ in range(3):
        sign(petition)
    invalidation = create(sysadmin, petition=petition)
    assert invalidation.matching_count is None
    assert invalidation_count(invalidation=invalidation, actor=sysadmin) == 3
    invalidation.refresh_from_db()
    assert invalidation.matching_count == 3
    assert invalidation.counted_at is not None
    assert invalidation.state == InvalidationState.PENDING
    assert Signature.objects.filter(state=SignatureState.VALIDATED).count() == 3  # nothing changed yet
    assert AuditLog.objects.filter(action="invalidation.count", details={"matching_count": 3}).exists()


def test_start_enqueues_and_queues_the_task_on_commit(sysadmin, django_capture_on_commit_callbacks):
    petition = OpenPetitionFactory()
    for _ in range(3):
        sign(petition)
    invalidation = create(sysadmin, petition=petition)
    with django_capture_on_commit_callbacks() as callbacks:
        invalidation_start(invalidation=invalidation, actor=sysadmin)
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.ENQUEUED
    assert invalidation.enqueued_at is not None
    assert invalidation.matching_count == 3  # counted again at the start: progress is measured against it
    start_row = AuditLog.objects.get(action="invalidation.start")
    assert start_row.actor == sysadmin
    assert start_row.details == {"matching_count": 3}
    assert len(callbacks) == 1

    callbacks[0]()  # the eager task runs every batch
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.COMPLETED
    assert invalidation.invalidated_count == 3


def test_batches_show_progress_then_complete(sysadmin):
    petition = OpenPetitionFactory()
    signatures = [sign(petition) for _ in range(5)]
    invalidation = create(sysadmin, petition=petition)
    invalidation_start(invalidation=invalidation, actor=sysadmin)

    progress = []
    for _ in range(10):  # bounded: a broken "done" must fail the test, not hang it
        result = invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=2)
        invalidation.refresh_from_db()
        progress.append(
            (
                result["invalidated"],
                invalidation.state,
                invalidation_percent_completed(invalidation=invalidation),
            )
        )
        if result["done"]:
            break
    assert progress == [
        (2, InvalidationState.RUNNING, 40),
        (2, InvalidationState.RUNNING, 80),
        (1, InvalidationState.COMPLETED, 100),
    ]
    assert invalidation.invalidated_count == 5
    assert invalidation.started_at is not None
    assert invalidation.completed_at >= invalidation.started_at
    for signature in Signature.objects.filter(pk__in=[s.pk for s in signatures]):
        assert signature.state == SignatureState.INVALIDATED
        assert signature.invalidation_id == invalidation.pk
        assert signature.invalidated_at is not None
        assert signature.notify_by_email is False
    complete = AuditLog.objects.get(action="invalidation.complete")
    assert complete.actor is None
    assert complete.details == {"invalidated_count": 5}


def test_a_pending_invalidation_runs_no_batch(sysadmin):
    petition = OpenPetitionFactory()
    sign(petition)
    invalidation = create(sysadmin, petition=petition)
    assert invalidation_run_batch(invalidation_id=invalidation.pk)["done"]
    assert Signature.objects.get().state == SignatureState.VALIDATED
    assert invalidation_run_batch(invalidation_id=10**9) == {"state": None, "invalidated": 0, "done": True}


def test_cancel_between_batches_stops(sysadmin):
    petition = OpenPetitionFactory()
    for _ in range(5):
        sign(petition)
    invalidation = create(sysadmin, petition=petition)
    invalidation_start(invalidation=invalidation, actor=sysadmin)
    invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=2)

    invalidation_cancel(invalidation=invalidation, actor=sysadmin)
    result = invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=2)
    assert result == {"state": InvalidationState.CANCELLED, "invalidated": 0, "done": True}
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.CANCELLED
    assert invalidation.cancelled_at is not None
    assert invalidation.completed_at is None
    assert invalidation.invalidated_count == 2
    assert Signature.objects.filter(state=SignatureState.INVALIDATED).count() == 2
    assert Signature.objects.filter(state=SignatureState.VALIDATED).count() == 3
    cancel = AuditLog.objects.get(action="invalidation.cancel")
    assert cancel.actor == sysadmin
    assert cancel.details == {"invalidated_count": 2}
    assert invalidation_percent_completed(invalidation=invalidation) == 40


def test_the_task_stops_when_cancelled(sysadmin, monkeypatch):
    petition = OpenPetitionFactory()
    for _ in range(6):
        sign(petition)
    invalidation = create(sysadmin, petition=petition)
    invalidation_start(invalidation=invalidation, actor=sysadmin)
    real_batch = invalidation_run_batch
    calls = []

    def batch_then_cancel(**kwargs):
        calls.append(kwargs)
        result = real_batch(**kwargs)
        if len(calls) == 1:  # a Sysadmin presses Cancel while the first batch is done
            invalidation_cancel(invalidation=invalidation, actor=sysadmin)
        return result

    monkeypatch.setattr(tasks, "INVALIDATION_BATCH_SIZE", 2)
    monkeypatch.setattr(tasks.services, "invalidation_run_batch", batch_then_cancel)
    assert tasks.invalidate_signatures(invalidation.pk) == InvalidationState.CANCELLED
    assert len(calls) == 2
    assert Signature.objects.filter(state=SignatureState.INVALIDATED).count() == 2


def test_the_task_requeues_itself_when_its_time_is_up(sysadmin, monkeypatch):
    petition = OpenPetitionFactory()
    for _ in range(5):
        sign(petition)
    invalidation = create(sysadmin, petition=petition)
    invalidation_start(invalidation=invalidation, actor=sysadmin)
    queued = []
    real_delay = tasks.invalidate_signatures.delay
    monkeypatch.setattr(tasks, "INVALIDATION_BATCH_SIZE", 2)
    monkeypatch.setattr(tasks, "INVALIDATION_TIME_BUDGET", 0)
    monkeypatch.setattr(
        tasks.invalidate_signatures, "delay", lambda *args: queued.append(args) or real_delay(*args)
    )
    tasks.invalidate_signatures(invalidation.pk)
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.COMPLETED
    assert invalidation.invalidated_count == 5
    # Batches of 2, 2 and 1: each run but the last queued the next one.
    assert queued == [(invalidation.pk,), (invalidation.pk,)]


def test_rerun_after_a_crash_resumes_and_never_double_counts(sysadmin):
    petition = OpenPetitionFactory()
    for _ in range(5):
        sign(petition)
    invalidation = create(sysadmin, petition=petition)
    invalidation_start(invalidation=invalidation, actor=sysadmin)
    invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=2)

    # The worker dies in the middle of the second batch: its transaction never commits.
    with pytest.raises(RuntimeError), transaction.atomic():
        invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=2)
        assert Signature.objects.filter(state=SignatureState.INVALIDATED).count() == 4
        raise RuntimeError("worker lost")
    invalidation.refresh_from_db()
    assert invalidation.invalidated_count == 2
    assert invalidation.state == InvalidationState.RUNNING
    assert Signature.objects.filter(state=SignatureState.INVALIDATED).count() == 2

    # The task is delivered again (acks late) and, as a duplicate, twice: same end state as one run.
    tasks.invalidate_signatures(invalidation.pk)
    tasks.invalidate_signatures(invalidation.pk)
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.COMPLETED
    assert invalidation.invalidated_count == 5
    assert Signature.objects.filter(invalidation=invalidation).count() == 5
    assert AuditLog.objects.filter(action="invalidation.complete").count() == 1


def test_rows_invalidated_elsewhere_between_batches_are_not_counted(sysadmin):
    petition = OpenPetitionFactory()
    signatures = [sign(petition) for _ in range(4)]
    invalidation = create(sysadmin, petition=petition)
    invalidation_start(invalidation=invalidation, actor=sysadmin)
    invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=2)
    Signature.objects.filter(pk=signatures[3].pk).update(state=SignatureState.WITHDRAWN)
    invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=2)
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.COMPLETED
    assert invalidation.invalidated_count == 3


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_rows_locked_elsewhere_are_skipped_and_picked_up_later(monkeypatch):
    """A confirmation (or the tally) holding a signature's row lock neither blocks a batch nor lets the
    invalidation finish without that row."""
    Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})
    sysadmin = User.objects.create_superuser("root", "root@example.com", "pw")
    petition = OpenPetitionFactory()
    signatures = [sign(petition, constituency=None, postcode="") for _ in range(3)]
    invalidation = create(sysadmin, petition=petition)
    monkeypatch.setattr(
        tasks.invalidate_signatures, "delay", lambda *args: None
    )  # this test runs the batches
    invalidation_start(invalidation=invalidation, actor=sysadmin)

    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic():
                Signature.objects.select_for_update().get(pk=signatures[0].pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        result = invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=10)
        assert result == {"state": InvalidationState.RUNNING, "invalidated": 2, "done": False}
    finally:
        release.set()
        holder.join()
    assert invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=10) == {
        "state": InvalidationState.COMPLETED,
        "invalidated": 1,
        "done": True,
    }
    assert Invalidation.objects.get(pk=invalidation.pk).invalidated_count == 3


def test_state_rules(sysadmin):
    petition = OpenPetitionFactory()
    sign(petition)
    invalidation = create(sysadmin, petition=petition)
    invalidation_start(invalidation=invalidation, actor=sysadmin)
    with pytest.raises(InvalidationStateError, match="only a pending one can be started"):
        invalidation_start(invalidation=invalidation, actor=sysadmin)
    with pytest.raises(InvalidationStateError, match="only a pending one can be counted"):
        invalidation_count(invalidation=invalidation, actor=sysadmin)
    invalidation_run_batch(invalidation_id=invalidation.pk)
    with pytest.raises(InvalidationStateError, match="completed: it can't be cancelled"):
        invalidation_cancel(invalidation=invalidation, actor=sysadmin)

    pending = create(sysadmin, petition=petition)
    invalidation_cancel(invalidation=pending, actor=sysadmin)  # a pending one may be cancelled too
    with pytest.raises(InvalidationStateError):
        invalidation_start(invalidation=pending, actor=sysadmin)
    assert Invalidation.objects.get(pk=pending.pk).state == InvalidationState.CANCELLED


# --- Counts drop through the tally ----------------------------------------------------------------


def test_counts_drop_after_the_tally(sysadmin, places):
    petition = OpenPetitionFactory()
    bad = [sign(petition, ip_address="203.0.113.5", constituency=places["first"]) for _ in range(3)]
    bad.append(sign(petition, ip_address="203.0.113.9", country=places["fr"], constituency=None, postcode=""))
    pending_bad = sign(petition, ip_address="203.0.113.7", state=SignatureState.PENDING)
    good = [sign(petition, ip_address="198.51.100.1", constituency=places["second"]) for _ in range(2)]
    signatures_tally()

    def counts():
        petition.refresh_from_db()
        constituencies = dict(
            ConstituencyPetitionJournal.objects.filter(petition=petition).values_list(
                "constituency_id", "signature_count"
            )
        )
        countries = dict(
            CountryPetitionJournal.objects.filter(petition=petition).values_list(
                "country__code", "signature_count"
            )
        )
        return petition.signature_count, constituencies, countries

    first, second = places["first"].pk, places["second"].pk
    assert counts() == (6, {first: 3, second: 2}, {"GB": 5, "FR": 1})

    invalidation = create(sysadmin, petition=petition, ip_address="203.0.113.0/24")
    assert invalidation_count(invalidation=invalidation, actor=sysadmin) == 5
    invalidation_start(invalidation=invalidation, actor=sysadmin)
    results = [invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=2) for _ in range(3)]
    assert [r["done"] for r in results] == [False, False, True]
    # The invalidation itself never touches the caches...
    assert counts() == (6, {first: 3, second: 2}, {"GB": 5, "FR": 1})
    result = signatures_tally()
    # ...the tally subtracts the counted rows that are no longer validated (the pending one was never counted).
    assert result["subtracted"] == 4
    assert counts() == (2, {first: 0, second: 2}, {"GB": 2, "FR": 0})
    assert Signature.objects.get(pk=pending_bad.pk).state == SignatureState.INVALIDATED
    assert Signature.objects.filter(pk__in=[s.pk for s in bad], counted_at__isnull=True).count() == 4
    assert Signature.objects.filter(pk__in=[s.pk for s in good], state=SignatureState.VALIDATED).count() == 2


# --- Admin ----------------------------------------------------------------------------------------


def _add_form(**overrides):
    data = {
        "summary": "Bot run from one network",
        "details": "",
        "petition": "",
        "name": "",
        "postcode": "",
        "ip_address": "",
        "email": "",
        "domain": "",
        "constituency": "",
        "country": "",
        "created_after_0": "",
        "created_after_1": "",
        "created_before_0": "",
        "created_before_1": "",
    }
    data.update(overrides)
    return data


def test_moderators_get_403_everywhere(client, moderator, sysadmin):
    invalidation = create(sysadmin, name="x")
    client.force_login(moderator)
    assert client.get(_url("changelist")).status_code == 403
    assert client.get(_url("add")).status_code == 403
    assert client.post(_url("add"), _add_form(name="x")).status_code == 403
    assert client.get(_url("change", invalidation.pk)).status_code == 403
    for action in ("count", "start", "cancel"):
        assert client.post(_url(action, invalidation.pk)).status_code == 403
    invalidation.refresh_from_db()
    assert (invalidation.state, invalidation.matching_count) == (InvalidationState.PENDING, None)
    index = client.get(reverse("admin:index")).content.decode()
    assert "invalidation" not in index.lower()


def test_sysadmin_creates_counts_starts_through_the_admin(
    sysadmin_client, sysadmin, places, django_capture_on_commit_callbacks
):
    petition = OpenPetitionFactory()
    for _ in range(3):
        sign(petition, email="bot@spam.example", ip_address="192.0.2.20")
    keep = sign(petition, email="real@example.com")

    assert sysadmin_client.get(_url("add")).status_code == 200
    response = sysadmin_client.post(
        _url("add"), _add_form(petition=str(petition.pk), domain="spam.example", details="Seen in logs")
    )
    invalidation = Invalidation.objects.get()
    assert response.status_code == 302
    assert response.url == _url("change", invalidation.pk)
    assert invalidation.created_by == sysadmin
    assert (invalidation.domain, invalidation.details) == ("spam.example", "Seen in logs")
    assert AuditLog.objects.filter(action="invalidation.create", actor=sysadmin).count() == 1

    page = sysadmin_client.get(_url("change", invalidation.pk)).content.decode()
    assert "Not counted yet" in page
    assert "Count matching signatures" in page
    assert "Start invalidation" not in page  # only once the number has been seen
    assert "Cancel invalidation" in page

    assert sysadmin_client.get(_url("count", invalidation.pk)).status_code == 405
    response = sysadmin_client.post(_url("count", invalidation.pk), follow=True)
    assert "3 signatures match." in response.content.decode()
    page = response.content.decode()
    assert "<strong>3</strong>" in page
    assert "Start invalidation" in page
    assert 'name="csrfmiddlewaretoken"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = sysadmin_client.post(_url("start", invalidation.pk), follow=True)
    assert "3 matching signatures will be invalidated" in response.content.decode()
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.COMPLETED
    assert invalidation.invalidated_count == 3
    assert Signature.objects.get(pk=keep.pk).state == SignatureState.VALIDATED
    assert AuditLog.objects.filter(action="invalidation.start", actor=sysadmin).count() == 1
    assert AuditLog.objects.filter(action="invalidation.complete", actor=None).count() == 1

    page = sysadmin_client.get(_url("change", invalidation.pk)).content.decode()
    assert "<strong>3</strong> of" in page and "(100%)" in page
    for button in ("Count matching signatures", "Start invalidation", "Cancel invalidation"):
        assert button not in page
    # Starting again is refused with a message, not an error page.
    response = sysadmin_client.post(_url("start", invalidation.pk), follow=True)
    assert response.status_code == 200
    assert "only a pending one can be started" in response.content.decode()


def test_sysadmin_cancels_through_the_admin(sysadmin_client, sysadmin, django_capture_on_commit_callbacks):
    petition = OpenPetitionFactory()
    for _ in range(3):
        sign(petition)
    invalidation = create(sysadmin, petition=petition)
    sysadmin_client.post(_url("count", invalidation.pk))
    with django_capture_on_commit_callbacks(execute=False):  # the worker hasn't picked it up yet
        sysadmin_client.post(_url("start", invalidation.pk))
    page = sysadmin_client.get(_url("change", invalidation.pk)).content.decode()
    assert 'http-equiv="refresh"' in page
    assert "Cancel invalidation" in page

    response = sysadmin_client.post(_url("cancel", invalidation.pk), follow=True)
    assert "Invalidation cancelled: 0 signatures were invalidated" in response.content.decode()
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.CANCELLED
    assert AuditLog.objects.filter(action="invalidation.cancel", actor=sysadmin).count() == 1
    # The queued task then finds it cancelled and does nothing.
    tasks.invalidate_signatures(invalidation.pk)
    assert Signature.objects.filter(state=SignatureState.VALIDATED).count() == 3


def test_the_change_page_is_read_only(sysadmin_client, sysadmin):
    invalidation = create(sysadmin, name="Robot*")
    response = sysadmin_client.get(_url("change", invalidation.pk))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert "Robot*" in response.content.decode()
    assert sysadmin_client.post(_url("change", invalidation.pk), _add_form(name="x")).status_code == 403
    assert sysadmin_client.post(_url("delete", invalidation.pk), {"post": "yes"}).status_code == 403
    assert Invalidation.objects.get().name == "Robot*"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Enter at least one criterion"),
        ({"summary": "", "name": "x"}, "Enter a summary"),
        ({"ip_address": "10.0.0.0/99"}, "Enter an IP address like 192.0.2.1"),
        ({"ip_address": "10.0.0.1/8"}, "did you mean 10.0.0.0/8?"),
        ({"domain": "someone@example.com"}, "Enter a domain without an @"),
        ({"petition": "999999999"}, "Select a valid choice"),
        ({"created_after_0": "not a date", "created_after_1": "10:00"}, "Enter a valid date"),
        (
            {
                "created_after_0": "2025-03-02",
                "created_after_1": "10:00",
                "created_before_0": "2025-03-01",
                "created_before_1": "10:00",
            },
            "must be later than",
        ),
    ],
)
def test_bad_input_gets_form_errors(sysadmin_client, fields, message):
    response = sysadmin_client.post(_url("add"), _add_form(**fields))
    assert response.status_code == 200
    errors = " ".join(
        [*response.context["adminform"].form.non_field_errors()]
        + [e for errs in response.context["adminform"].form.errors.values() for e in errs]
    )
    assert message in errors.replace("&#x27;", "'")
    assert message.split("“")[0] in response.content.decode().replace("&#x27;", "'")
    assert not Invalidation.objects.exists()


def test_the_list_shows_progress_in_a_fixed_number_of_queries(
    sysadmin_client, sysadmin, django_assert_num_queries
):
    petition = OpenPetitionFactory()
    for _ in range(4):
        sign(petition)
    running = create(sysadmin, petition=petition)
    invalidation_start(invalidation=running, actor=sysadmin)
    invalidation_run_batch(invalidation_id=running.pk, batch_size=1)
    create(sysadmin, name="Pending one")

    def load():
        response = sysadmin_client.get(_url("changelist"))
        assert response.status_code == 200
        return response.content.decode()

    # Session, user, groups (the Sysadmin check), the two counts, the sidebar's permissions (2) and site
    # settings check, and one for the page of rows: none per row.
    with django_assert_num_queries(9):
        page = load()
    assert "1 of 4 (25%)" in page
    assert "Not started" in page
    for n in range(10):
        create(sysadmin, name=f"x{n}")
    with django_assert_num_queries(9):
        load()
    filtered = sysadmin_client.get(_url("changelist"), {"state__exact": "running"})
    assert list(filtered.context["cl"].queryset) == [Invalidation.objects.get(pk=running.pk)]


def test_a_pending_invalidation_cancelled_from_the_admin_says_it_never_started(sysadmin_client, sysadmin):
    sign(name="Robot")
    invalidation = create(sysadmin, name="Robot")
    response = sysadmin_client.post(_url("cancel", invalidation.pk), follow=True)
    page = response.content.decode()
    assert "Cancelled before it started" in page
    assert "Cancel invalidation" not in page
    assert Signature.objects.get().state == SignatureState.VALIDATED
    assert "Not started" in sysadmin_client.get(_url("changelist")).content.decode()


# --- Resuming after a lost task -------------------------------------------------------------------------------


def test_a_started_invalidation_whose_task_was_lost_is_queued_again_once(
    sysadmin, django_capture_on_commit_callbacks
):
    from petitions.services.invalidations import INVALIDATION_STALL_AFTER, invalidations_resume

    petition = OpenPetitionFactory()
    SignatureFactory.create_batch(3, petition=petition, state=SignatureState.VALIDATED)
    invalidation = invalidation_create(actor=sysadmin, summary="Lost task", petition=petition)
    # The task queued on start is lost: the callbacks never run.
    with django_capture_on_commit_callbacks(execute=False):
        invalidation_start(invalidation=invalidation, actor=sysadmin)
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.ENQUEUED

    soon = invalidation.enqueued_at + INVALIDATION_STALL_AFTER / 2
    assert invalidations_resume(now=soon) == []
    later = invalidation.enqueued_at + INVALIDATION_STALL_AFTER * 2
    with django_capture_on_commit_callbacks(execute=True):  # Celery is eager in unit tests: the task runs
        assert invalidations_resume(now=later) == [invalidation.pk]
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.COMPLETED
    assert invalidation.invalidated_count == 3
    assert invalidations_resume(now=later) == []


def test_a_running_invalidation_with_recent_batches_is_left_alone(
    sysadmin, django_capture_on_commit_callbacks
):
    from petitions.services.invalidations import invalidations_resume

    petition = OpenPetitionFactory()
    SignatureFactory.create_batch(3, petition=petition, state=SignatureState.VALIDATED)
    invalidation = invalidation_create(actor=sysadmin, summary="Busy", petition=petition)
    with django_capture_on_commit_callbacks(execute=False):
        invalidation_start(invalidation=invalidation, actor=sysadmin)
    invalidation_run_batch(invalidation_id=invalidation.pk, batch_size=1)
    invalidation.refresh_from_db()
    assert invalidation.state == InvalidationState.RUNNING and invalidation.heartbeat_at is not None
    assert invalidations_resume(now=invalidation.heartbeat_at + timezone.timedelta(seconds=30)) == []


def test_the_resume_job_is_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["petitions-resume-invalidations"]
    assert entry["task"] == "petitions.tasks.resume_invalidations"
