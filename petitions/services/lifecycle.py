"""The jobs that move petitions on with time: closing at the deadline, extending deadlines while signing is
paused, closing and stopping at the dissolution of Parliament, and anonymising signers six months later.

Every job may run twice at once (two beats, a manual run beside the scheduled one): each change is made under a
row lock with a re-check of the state it depends on, so a second run finds nothing left to do.
"""

from datetime import date, datetime

from django.db import transaction
from django.db.models import Case, CharField, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Concat, NullIf
from django.utils import timezone

from ..dates import add_local_days, months_before
from ..emails import email_send
from ..models import (
    TODO_LIST_STATES,
    Constituency,
    Country,
    DissolutionNotification,
    Parliament,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
    SiteSettings,
)
from .counting import petition_recount
from .emails import signature_email_on_commit

S = PetitionState

#: Signer data is kept for this long after a petition closes, is rejected or is stopped (reference §9.4).
ANONYMISE_AFTER_MONTHS = 6
ANONYMISE_BATCH_SIZE = 1000
#: The NHS "address not known" postcode, for UK signers whose constituency we don't know.
UNKNOWN_UK_POSTCODE = "ZZ99 3WZ"
#: A dissolution email lists this many petitions of each kind, then "and N more".
DISSOLUTION_EMAIL_LIST_LIMIT = 5
_CHUNK = 500


def _chunks(ids: list[int], size: int = _CHUNK):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- Closing at the deadline ----------------------------------------------------------------------


def petitions_close_expired(*, now: datetime) -> int:
    """Close every open petition whose deadline is before `now`, however many runs were missed.

    Returns how many petitions this run closed (a concurrent run's petitions are not counted).
    """
    ids = list(
        Petition.objects.open()
        .filter(deadline_at__lt=now)
        .order_by("deadline_at", "pk")
        .values_list("pk", flat=True)
    )
    return sum(petition_close(petition_id=petition_id, now=now) for petition_id in ids)


@transaction.atomic
def petition_close(*, petition_id: int, now: datetime) -> bool:
    """Close one open petition past its deadline, with `closed_at` = the deadline, and email its creator.

    SKIP LOCKED plus the state re-check in the locked query: if another run holds or has already closed the
    petition, this run does nothing, so there is one transition and one email.
    """
    petition = (
        Petition.objects.select_for_update(skip_locked=True)
        .filter(pk=petition_id, state=S.OPEN, deadline_at__lt=now)
        .first()
    )
    if petition is None:
        return False
    petition.state = S.CLOSED
    petition.closed_at = petition.deadline_at
    petition.save(update_fields=["state", "closed_at", "updated_at"])
    # The counts are caches refreshed every few minutes; the closing email quotes the exact final count.
    count = petition_recount(petition_id=petition.pk)
    creator_id = (
        Signature.objects.filter(petition_id=petition.pk, creator=True).values_list("pk", flat=True).first()
    )
    if creator_id is not None:
        signature_email_on_commit(
            signature_id=creator_id, template="petition_closed_creator", extra={"signature_count": count}
        )
    return True


# --- Pausing signing ------------------------------------------------------------------------------


@transaction.atomic
def petitions_extend_deadlines_while_paused(*, today: date) -> int:
    """While signing is paused, move every open petition's deadline one London day on, at most once per day.

    `SiteSettings.deadlines_extended_on`, read under a row lock, records the day it last happened.
    Returns how many petitions moved.
    """
    SiteSettings.load()
    site = SiteSettings.objects.select_for_update().get(pk=1)
    if not site.disable_collecting_signatures:
        return 0
    if site.deadlines_extended_on is not None and site.deadlines_extended_on >= today:
        return 0
    open_petitions = Petition.objects.open().exclude(deadline_at=None)
    deadlines = list(open_petitions.order_by("-deadline_at").values_list("deadline_at", flat=True).distinct())
    # One UPDATE per distinct deadline (a few hundred at most). Latest first, so a petition moved onto a later
    # deadline is never moved again by that deadline's own UPDATE.
    moved, touched = 0, timezone.now()
    for deadline in deadlines:
        moved += open_petitions.filter(deadline_at=deadline).update(
            deadline_at=add_local_days(deadline, 1), updated_at=touched
        )
    SiteSettings.objects.filter(pk=1).update(deadlines_extended_on=today)
    return moved


# --- Dissolution of Parliament --------------------------------------------------------------------


def _closed_at_dissolution(at: datetime, prefix: str = "") -> Q:
    """Petitions closed early by the dissolution at `at` (their own deadline was later)."""
    return Q(**{f"{prefix}state": S.CLOSED, f"{prefix}closed_at": at}) & (
        Q(**{f"{prefix}deadline_at__gt": at}) | Q(**{f"{prefix}deadline_at": None})
    )


def _stopped_at_dissolution(at: datetime, prefix: str = "") -> Q:
    return Q(**{f"{prefix}state": S.STOPPED, f"{prefix}stopped_at": at})


@transaction.atomic
def parliament_dissolve(*, parliament: Parliament, now: datetime) -> dict | None:
    """Once `dissolution_at` has passed: close open petitions early, stop unpublished ones, and tell people.

    Open petitions whose deadline is after the dissolution close with `closed_at = dissolution_at`;
    pending, validated, sponsored, flagged and dormant ones become `stopped` with `stopped_at = dissolution_at`.
    Then one `DissolutionNotification` per person (canonical email): subscribed signers of the petitions closed
    early, and the creators of every petition closed or stopped. After commit one email per person is queued.
    Does nothing before the dissolution or once done (`dissolution_processed_at`), so the minutely beat may call it.
    """
    parliament = Parliament.objects.select_for_update().filter(pk=parliament.pk).first()
    if (
        parliament is None
        or parliament.dissolution_processed_at is not None
        or not parliament.is_dissolved(now)
    ):
        return None
    at = parliament.dissolution_at

    closing = list(
        Petition.objects.select_for_update()
        .filter(Q(state=S.OPEN) & (Q(deadline_at__gt=at) | Q(deadline_at=None)))
        .values_list("pk", flat=True)
    )
    stopping = list(
        Petition.objects.select_for_update().filter(state__in=TODO_LIST_STATES).values_list("pk", flat=True)
    )
    for ids in _chunks(closing):
        Petition.objects.filter(pk__in=ids, state=S.OPEN).update(state=S.CLOSED, closed_at=at, updated_at=now)
    for ids in _chunks(stopping):
        Petition.objects.filter(pk__in=ids, state__in=TODO_LIST_STATES).update(
            state=S.STOPPED, stopped_at=at, updated_at=now
        )

    closed_early = _closed_at_dissolution(at, "petition__")
    stopped = _stopped_at_dissolution(at, "petition__")
    people = (
        Signature.objects.filter(state=SignatureState.VALIDATED, anonymized_at=None)
        .filter(Q(notify_by_email=True) & closed_early | Q(creator=True) & (closed_early | stopped))
        .order_by("canonical_email")
        .values_list("canonical_email", flat=True)
        .distinct()
    )
    last = ""
    while emails := list(people.filter(canonical_email__gt=last)[:1000]):
        DissolutionNotification.objects.bulk_create(
            [DissolutionNotification(parliament=parliament, canonical_email=email) for email in emails],
            ignore_conflicts=True,
        )
        last = emails[-1]

    Parliament.objects.filter(pk=parliament.pk).update(dissolution_processed_at=now)
    parliament_id = parliament.pk
    transaction.on_commit(lambda: dissolution_notifications_enqueue(parliament_id=parliament_id))
    return {
        "closed": len(closing),
        "stopped": len(stopping),
        "notifications": DissolutionNotification.objects.filter(parliament_id=parliament_id).count(),
    }


def dissolution_notifications_enqueue(*, parliament_id: int) -> int:
    """Queue one delivery task per unsent notification, then record that the emails have gone out."""
    from ..tasks import dissolution_notification_send

    queued, last_id = 0, 0
    unsent = DissolutionNotification.objects.filter(parliament_id=parliament_id, sent_at=None).order_by("pk")
    while ids := list(unsent.filter(pk__gt=last_id).values_list("pk", flat=True)[:1000]):
        for notification_id in ids:
            dissolution_notification_send.delay(notification_id)
        queued += len(ids)
        last_id = ids[-1]
    Parliament.objects.filter(pk=parliament_id).update(dissolution_emails_sent_at=timezone.now())
    return queued


@transaction.atomic
def dissolution_notification_deliver(*, notification_id: int) -> bool:
    """Send one person one email listing their petitions closed or stopped by the dissolution.

    Creators get the creator version (their own petitions first, then any they signed); everyone else the signer
    version. The notification row is locked while sending and marked sent, so a repeated task sends nothing.
    """
    notification = DissolutionNotification.objects.select_for_update().filter(pk=notification_id).first()
    if notification is None or notification.sent_at is not None:
        return False
    parliament = Parliament.objects.get(pk=notification.parliament_id)
    at = parliament.dissolution_at
    mine = Signature.objects.filter(
        canonical_email=notification.canonical_email, state=SignatureState.VALIDATED, anonymized_at=None
    )
    most_signed_first = ("-signature_count", "pk")
    created = Petition.objects.filter(
        _closed_at_dissolution(at) | _stopped_at_dissolution(at),
        pk__in=mine.filter(creator=True).values("petition_id"),
    ).order_by(*most_signed_first)
    signed = (
        Petition.objects.filter(
            _closed_at_dissolution(at),
            pk__in=mine.filter(creator=False, notify_by_email=True).values("petition_id"),
        )
        .exclude(pk__in=created.values("pk"))
        .order_by(*most_signed_first)
    )
    created_count, signed_count = created.count(), signed.count()
    # The address and name they gave most recently on the petitions the email is about.
    recipient = (
        (
            mine.filter(creator=True, petition__in=created)
            if created_count
            else mine.filter(petition__in=signed)
        )
        .order_by("-validated_at", "-pk")
        .first()
    )
    if recipient is not None:
        limit = DISSOLUTION_EMAIL_LIST_LIMIT
        context = {
            "name": recipient.name,
            "parliament": parliament,
            "dissolution_at": at,
            "message": parliament.dissolution_message,
            "created": list(created[:limit]),
            "created_more": max(created_count - limit, 0),
            "signed": list(signed[:limit]),
            "signed_more": max(signed_count - limit, 0),
            "site": SiteSettings.load(),
        }
        template = "dissolution_creator" if created_count else "dissolution_signer"
        email_send(to=recipient.email, template=template, context=context)
        Signature.objects.filter(pk=recipient.pk).update(email_count=F("email_count") + 1)
    notification.sent_at = timezone.now()
    notification.save(update_fields=["sent_at"])
    return recipient is not None


# --- Anonymisation --------------------------------------------------------------------------------


def _petitions_due_for_anonymisation(*, now: datetime):
    cutoff = months_before(now, ANONYMISE_AFTER_MONTHS)
    return Petition.objects.filter(do_not_anonymize=False, anonymized_at=None).filter(
        Q(state=S.CLOSED, closed_at__lt=cutoff)
        | Q(state__in=(S.REJECTED, S.HIDDEN), rejected_at__lt=cutoff)
        | Q(state=S.STOPPED, stopped_at__lt=cutoff)
    )


def petitions_anonymise(*, now: datetime) -> int:
    """Anonymise the signers of every petition closed, rejected or stopped more than six months before `now`.

    Petitions marked `do_not_anonymize` are left alone. Returns how many petitions were finished.
    """
    ids = list(_petitions_due_for_anonymisation(now=now).order_by("pk").values_list("pk", flat=True))
    return sum(petition_anonymise(petition_id=petition_id, now=now) for petition_id in ids)


def petition_anonymise(*, petition_id: int, now: datetime, batch_size: int = ANONYMISE_BATCH_SIZE) -> bool:
    """Replace one petition's signers' personal data, `batch_size` rows per transaction, then mark the petition.

    Counts and journals are untouched: the country and constituency of each row stay, so a recount agrees.
    """
    while _signatures_anonymise_batch(petition_id=petition_id, now=now, batch_size=batch_size):
        pass
    with transaction.atomic():
        petition = (
            Petition.objects.select_for_update()
            .filter(pk=petition_id, anonymized_at=None, do_not_anonymize=False)
            .first()
        )
        # Rows another run holds (SKIP LOCKED) are still to do: that run, or the next, marks the petition.
        if petition is None or Signature.objects.filter(petition_id=petition_id, anonymized_at=None).exists():
            return False
        Petition.objects.filter(pk=petition_id).update(anonymized_at=now, updated_at=timezone.now())
    return True


@transaction.atomic
def _signatures_anonymise_batch(*, petition_id: int, now: datetime, batch_size: int) -> int:
    ids = list(
        Signature.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(petition_id=petition_id, anonymized_at=None, petition__do_not_anonymize=False)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    if not ids:
        return 0
    return Signature.objects.filter(pk__in=ids).update(**_anonymised_signature_fields(now))


def _anonymised_signature_fields(now: datetime) -> dict:
    """Bulk-UPDATE expressions (SQLite and PostgreSQL alike) for a signature without personal data."""
    pk = Cast("pk", output_field=CharField())
    email = Concat(Value("signature-"), pk, Value("@anonymised.invalid"), output_field=CharField())
    example_postcode = Subquery(
        Constituency.objects.filter(pk=OuterRef("constituency_id")).values("example_postcode")[:1]
    )
    uk_id = Country.objects.filter(code="GB").values_list("pk", flat=True).first()
    return {
        "name": Concat(Value("Signature "), pk, output_field=CharField()),
        "email": email,
        "canonical_email": email,
        "postcode": Case(
            When(
                constituency_id__isnull=False,
                then=Coalesce(NullIf(example_postcode, Value("")), Value(UNKNOWN_UK_POSTCODE)),
            ),
            When(country_id=uk_id, then=Value(UNKNOWN_UK_POSTCODE)),
            default=Value(""),
            output_field=CharField(),
        ),
        "ip_address": None,
        "validated_ip": None,
        "anonymized_at": now,
        "updated_at": now,
    }
