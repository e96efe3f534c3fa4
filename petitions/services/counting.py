"""Signature counts are caches of the signature rows.

Signing and confirming write only the signature's own row. `signatures_tally` (a Celery job every couple of
seconds) turns rows into counts: a validated row with `counted_at` null is added, a row with `counted_at` set
that is no longer validated is subtracted, and `counted_at` records which rows the caches include. So the
invariant is: `Petition.signature_count` == the petition's rows with `counted_at` set (likewise per journal).
`petition_recount` rebuilds everything from the rows and keeps `counted_at` in step.

The tally also keeps the petition's signature history, `PetitionHourlyCount`, in the same transaction: per UTC
hour, the signatures counted minus those uncounted, each in the hour of its `validated_at` (subtractions too, not
the hour they were noticed). So the history is itself a cache of the rows, the counted rows grouped by the hour
they were validated, which `petitions_history_rebuild` recomputes exactly. An invalidation of yesterday's
fraud lowers yesterday's hours (the history always adds up to the count), and the current hour (trending) is not
dragged negative by clean-ups of old signatures.

Both take the petition row lock first. The tally skips petitions locked by anyone else (another tally, a
recount, a sponsor confirming) and signature rows locked by a confirmation still in flight; whatever it skips
the next run picks up, so every row is counted exactly once.
"""

import datetime
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, DateTimeField, F, Max, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Trunc
from django.utils import timezone

from ..models import (
    ConstituencyPetitionJournal,
    CountryPetitionJournal,
    Petition,
    PetitionHourlyCount,
    Signature,
    SignatureState,
    SiteSettings,
)
from .audit import audit_log_record

TO_COUNT = Q(state=SignatureState.VALIDATED, counted_at__isnull=True)
TO_UNCOUNT = Q(counted_at__isnull=False) & ~Q(state=SignatureState.VALIDATED)

_CHUNK = 900


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _hour(value: datetime.datetime) -> datetime.datetime:
    return value.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


def _history_rebuild(petition_ids: list[int]) -> None:
    """Replace the petitions' hourly rows with their counted rows grouped by the UTC hour of `validated_at`, in
    two statements whatever the number of rows (INSERT … SELECT). The caller holds the petition locks."""
    if not petition_ids:
        return
    table = PetitionHourlyCount._meta.db_table
    for chunk in _chunks(sorted(petition_ids)):
        PetitionHourlyCount.objects.filter(petition_id__in=chunk).delete()
        grouped = (
            Signature.objects.filter(petition_id__in=chunk, counted_at__isnull=False)
            .annotate(
                hour=Trunc(
                    Coalesce("validated_at", "counted_at"),
                    "hour",
                    output_field=DateTimeField(),
                    tzinfo=datetime.UTC,
                )
            )
            .values_list("petition_id", "hour")
            .annotate(n=Count("id"))
            .order_by()
        )
        select, params = grouped.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table} (petition_id, hour, signature_count) {select}", params)  # noqa: S608


def _hourly_apply(deltas: dict) -> None:
    """Add {(petition id, hour): delta} to the hourly rows: one upsert statement per run (more only past the
    database's parameter limit: SQLite's 999, or 21,845 keys on PostgreSQL, above what a 10,000-row run makes)."""
    items = sorted((key, delta) for key, delta in deltas.items() if delta)
    if not items:
        return
    table = PetitionHourlyCount._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    size = (connection.features.max_query_params or 65_535) // 3
    with connection.cursor() as cursor:
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            params = [p for (petition_id, hour), delta in chunk for p in (petition_id, adapt(hour), delta)]
            cursor.execute(
                f"INSERT INTO {table} (petition_id, hour, signature_count) VALUES {values} "  # noqa: S608
                f"ON CONFLICT (petition_id, hour) DO UPDATE "
                f"SET signature_count = {table}.signature_count + EXCLUDED.signature_count",
                params,
            )


def _recount(*, petition_id: int, check: bool = False) -> tuple[int, int | None, int, int | None] | None:
    """Rebuild one petition's counts. Returns (cached count before, rows counted before if `check`, count
    after, the history's total before if `check` and it had drifted from the rows counted, else None).

    The history is rebuilt when this recount changes which rows are counted (the tally would have recorded
    them) or, if `check`, when the count or the history's total had drifted.
    """
    petition = Petition.objects.select_for_update().filter(pk=petition_id).values("signature_count").first()
    if petition is None:
        return None
    rows = Signature.objects.filter(petition_id=petition_id)
    counted_before = history_before = None
    if check:
        counted_before = rows.filter(counted_at__isnull=False).count()
        history_before = (
            PetitionHourlyCount.objects.filter(petition_id=petition_id).aggregate(n=Sum("signature_count"))[
                "n"
            ]
            or 0
        )
    now = timezone.now()
    changed = rows.filter(TO_COUNT).update(counted_at=now)
    changed += rows.filter(TO_UNCOUNT).update(counted_at=None)
    history_drifted = check and history_before != counted_before
    if changed or history_drifted or (check and petition["signature_count"] != counted_before):
        _history_rebuild([petition_id])
    # Count what is marked counted, not what is validated: a confirmation committing between these statements
    # is then left to the tally, never counted twice or lost.
    counted = rows.filter(counted_at__isnull=False)
    totals = counted.aggregate(n=Count("id"), last=Max("validated_at"))

    ConstituencyPetitionJournal.objects.filter(petition_id=petition_id).delete()
    ConstituencyPetitionJournal.objects.bulk_create(
        ConstituencyPetitionJournal(
            petition_id=petition_id,
            constituency_id=row["constituency_id"],
            signature_count=row["n"],
            last_signed_at=row["last"],
        )
        for row in counted.exclude(constituency_id=None)
        .values("constituency_id")
        .annotate(n=Count("id"), last=Max("validated_at"))
        .order_by()
    )
    CountryPetitionJournal.objects.filter(petition_id=petition_id).delete()
    CountryPetitionJournal.objects.bulk_create(
        CountryPetitionJournal(
            petition_id=petition_id,
            country_id=row["country_id"],
            signature_count=row["n"],
            last_signed_at=row["last"],
        )
        for row in counted.values("country_id").annotate(n=Count("id"), last=Max("validated_at")).order_by()
    )
    Petition.objects.filter(pk=petition_id).update(
        signature_count=totals["n"],
        last_signed_at=totals["last"],
        signature_count_validated_at=now,
        updated_at=now,
    )
    return (
        petition["signature_count"],
        counted_before,
        totals["n"],
        history_before if history_drifted else None,
    )


@transaction.atomic
def petition_recount(*, petition_id: int) -> int:
    """Rebuild a petition's signature count and its constituency and country journals from the signature rows,
    and mark exactly the validated rows as counted (rebuilding the hourly history if that changed anything).

    The rows are the source of truth and the counts are caches of them, so this is always safe to run, also
    while the tally runs (both hold the petition row lock).
    """
    result = _recount(petition_id=petition_id)
    return 0 if result is None else result[2]


@transaction.atomic
def petition_counts_repair(*, petition_id: int) -> bool:
    """The nightly check: rebuild a petition's counts and, if its cached count or its history's total had
    drifted from the rows it claims to count, rebuild the history too and record the repair in the audit log
    (no actor: the system did it; `history_before` only when the history had drifted). Returns True if so.
    """
    result = _recount(petition_id=petition_id, check=True)
    if result is None:
        return False
    cached, counted_before, after, history_before = result
    if cached == counted_before and history_before is None:
        return False
    details = {"before": cached, "after": after}
    if history_before is not None:
        details["history_before"] = history_before
    audit_log_record(
        actor=None, action="counts.repair", obj=Petition.objects.get(pk=petition_id), details=details
    )
    return True


@transaction.atomic
def petitions_history_rebuild(*, petition_ids: list[int] | None = None) -> int:
    """Recompute the hourly history of the given petitions (all with any counted signature if None) from their
    counted signature rows, grouped by the UTC hour of `validated_at`: what the tally's upserts add up to.
    Takes the petition locks first, as the tally does. Returns how many petitions were rebuilt."""
    petitions = Petition.objects.select_for_update().order_by("pk")
    if petition_ids is None:
        petitions = petitions.filter(signature_count__gt=0)
    else:
        petitions = petitions.filter(pk__in=petition_ids)
    locked = list(petitions.values_list("pk", flat=True))
    _history_rebuild(locked)
    return len(locked)


def petition_history_rebuild(*, petition_id: int) -> bool:
    return petitions_history_rebuild(petition_ids=[petition_id]) == 1


def _journal_apply(model, key: str, petition_id: int, deltas: dict) -> None:
    """Add `deltas` {key id: [added, subtracted, last validated_at]} to one petition's journal rows."""
    missing = [k for k, (added, _, _) in deltas.items() if added]
    if missing:
        model.objects.bulk_create(
            [model(petition_id=petition_id, **{f"{key}_id": k}, signature_count=0) for k in missing],
            ignore_conflicts=True,
        )
    for k in sorted(deltas):
        added, subtracted, last = deltas[k]
        changes = {"signature_count": Greatest(F("signature_count") + Value(added - subtracted), Value(0))}
        if last is not None:
            changes["last_signed_at"] = _later(last)
        model.objects.filter(petition_id=petition_id, **{f"{key}_id": k}).update(**changes)


def _later(when):
    return Greatest(Coalesce(F("last_signed_at"), Value(when)), Value(when), output_field=DateTimeField())


@transaction.atomic
def _tally_batch(*, limit: int) -> dict:
    candidates = set(
        Signature.objects.filter(TO_COUNT).values_list("petition_id", flat=True).order_by()[:limit]
    )
    candidates |= set(
        Signature.objects.filter(TO_UNCOUNT).values_list("petition_id", flat=True).order_by()[:limit]
    )
    if not candidates:
        return {"added": 0, "subtracted": 0, "petition_ids": []}
    petition_ids = list(
        Petition.objects.select_for_update(skip_locked=True)
        .filter(pk__in=candidates)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    fields = ("pk", "petition_id", "constituency_id", "country_id", "validated_at", "counted_at")
    to_add = list(
        Signature.objects.select_for_update(skip_locked=True)
        .filter(TO_COUNT, petition_id__in=petition_ids)
        .order_by()
        .values_list(*fields)[:limit]
    )
    to_subtract = list(
        Signature.objects.select_for_update(skip_locked=True)
        .filter(TO_UNCOUNT, petition_id__in=petition_ids)
        .order_by()
        .values_list(*fields)[:limit]
    )

    # {petition: [added, subtracted, last]} and {petition: {constituency or country: [added, subtracted, last]}}
    petitions: dict = defaultdict(lambda: [0, 0, None])
    constituencies: dict = defaultdict(lambda: defaultdict(lambda: [0, 0, None]))
    countries: dict = defaultdict(lambda: defaultdict(lambda: [0, 0, None]))
    # {(petition, UTC hour of validated_at): added - subtracted}. A row counted without a validated_at (none
    # should be) goes in the hour it was counted, as the rebuild puts it.
    hours: dict = defaultdict(int)
    now = timezone.now()
    for rows, index in ((to_add, 0), (to_subtract, 1)):
        for _, petition_id, constituency_id, country_id, validated_at, counted_at in rows:
            hours[petition_id, _hour(validated_at or counted_at or now)] += -1 if index else 1
            targets = [petitions[petition_id], countries[petition_id][country_id]]
            if constituency_id is not None:
                targets.append(constituencies[petition_id][constituency_id])
            for target in targets:
                target[index] += 1
                if (
                    index == 0
                    and validated_at is not None
                    and (target[2] is None or validated_at > target[2])
                ):
                    target[2] = validated_at

    for petition_id in sorted(petitions):
        _journal_apply(ConstituencyPetitionJournal, "constituency", petition_id, constituencies[petition_id])
        _journal_apply(CountryPetitionJournal, "country", petition_id, countries[petition_id])
        added, subtracted, last = petitions[petition_id]
        changes = {
            "signature_count": Greatest(F("signature_count") + Value(added - subtracted), Value(0)),
            "updated_at": now,
        }
        if last is not None:
            changes["last_signed_at"] = _later(last)
        Petition.objects.filter(pk=petition_id).update(**changes)
    _hourly_apply(hours)
    for chunk in _chunks([row[0] for row in to_add]):
        Signature.objects.filter(pk__in=chunk).update(counted_at=now)
    for chunk in _chunks([row[0] for row in to_subtract]):
        Signature.objects.filter(pk__in=chunk).update(counted_at=None)
    return {
        "added": len(to_add),
        "subtracted": len(to_subtract),
        "petition_ids": sorted(petitions),
        "full": len(to_add) >= limit or len(to_subtract) >= limit,
    }


def signatures_tally(*, limit: int = 10_000) -> dict:
    """Add newly validated signatures to the counts and subtract invalidated ones, in one transaction.

    Claims up to `limit` rows of each kind with `SELECT … FOR UPDATE SKIP LOCKED` (on SQLite the IMMEDIATE
    transaction serialises runs instead), so concurrent runs never count a row twice. After commit, the touched
    petitions go to `petitions_thresholds_check`. Returns {"added", "subtracted", "petition_ids", "full"}; "full"
    means a batch hit the limit and there is probably more to do.
    """
    from .thresholds import petitions_thresholds_check

    result = _tally_batch(limit=limit)
    if result["petition_ids"]:
        petitions_thresholds_check(result["petition_ids"])
    SiteSettings.objects.filter(pk=1).update(signature_count_updated_at=timezone.now())
    result.setdefault("full", False)
    return result
