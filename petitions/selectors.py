"""Reads. Views and tasks get their data from here."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from .models import (
    ConstituencyPetitionJournal,
    CountryPetitionJournal,
    DebateState,
    Petition,
    PetitionState,
    Region,
    ResponseState,
    Signature,
    SignatureState,
)


def petition_ids_signed_since(since: datetime) -> list[int]:
    return list(
        Signature.objects.filter(state=SignatureState.VALIDATED, validated_at__gt=since)
        .values_list("petition_id", flat=True)
        .distinct()
        .order_by()
    )


def petition_get_for_show(*, petition_id: int) -> Petition | None:
    return (
        Petition.objects.select_related("rejection__reason")
        .prefetch_related("departments", "topics")
        .filter(pk=petition_id)
        .first()
    )


@dataclass
class TimelineEntry:
    """One thing that happened to a petition, for the petition page (sorted by `at`)."""

    kind: str
    at: datetime
    obj: object = None
    extra: dict = field(default_factory=dict)


def petition_timeline(*, petition: Petition) -> list[TimelineEntry]:
    """Government response, consultations, parliamentary events and other business, in date order."""
    from debates.selectors import events_for_petition, other_business_for_petition
    from responses.selectors import consultations_for_petition, government_response_published_for

    def start_of(day) -> datetime:
        return timezone.make_aware(datetime.combine(day, datetime.min.time()))

    entries: list[TimelineEntry] = []
    response = government_response_published_for(petition=petition)
    if response:
        entries.append(TimelineEntry("government_response", start_of(response.responded_on), response))
    entries += [
        TimelineEntry("consultation", c.opens_at, c) for c in consultations_for_petition(petition=petition)
    ]
    entries += [TimelineEntry("event", e.starts_at, e) for e in events_for_petition(petition=petition)]
    entries += [
        TimelineEntry("other_business", start_of(item.occurred_on), item)
        for item in other_business_for_petition(petition=petition)
    ]
    entries.sort(key=lambda e: e.at)
    return entries


def petition_signatures_by_region(*, petition: Petition) -> list[dict]:
    counts = dict(
        ConstituencyPetitionJournal.objects.filter(petition=petition)
        .values_list("constituency__region_id")
        .annotate(n=Sum("signature_count"))
        .order_by()
    )
    return [
        {"name": r.name, "ons_code": r.api_code, "signature_count": counts.get(r.pk, 0)}
        for r in Region.objects.order_by("api_code")
    ]


def petition_top_constituencies(*, petition: Petition, limit: int = 10) -> QuerySet:
    return (
        ConstituencyPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .select_related("constituency")
        .order_by("-signature_count", "constituency__name")[:limit]
    )


def petition_top_countries(*, petition: Petition, limit: int = 10) -> QuerySet:
    return (
        CountryPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .select_related("country")
        .order_by("-signature_count", "country__name")[:limit]
    )


def home_counts() -> dict[str, int]:
    """Public petitions in each facet of `/petitions` (open, awaiting_response, with_response, awaiting_debate,
    debated, not_debated...): one query."""
    from .browse import facet_counts

    return facet_counts()


def petitions_popular_open(*, limit: int = 5) -> QuerySet:
    return (
        Petition.objects.open()
        .only("id", "action", "signature_count")
        .order_by("-signature_count", "-opened_at")[:limit]
    )


def petitions_recent_with_response(*, limit: int = 3) -> QuerySet:
    return (
        Petition.objects.visible()
        .filter(response_state=ResponseState.RESPONDED)
        .order_by(F("government_response_at").desc(nulls_last=True))[:limit]
    )


# --- Starting a petition and gathering sponsors ---------------------------------------------------

import re  # noqa: E402

from django.db import connection  # noqa: E402
from django.db.models import Case, Value, When  # noqa: E402

from .models import Parliament, SiteSettings  # noqa: E402

# Words too common in petitions to say two of them are alike.
_SIMILAR_STOP_WORDS_TEXT = """
    a about above after again against all also am among an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its just make me more most my no nor not now of off on once only
    or other our out over own please same she should so some such than that the their them then there these
    they this those through to too under until up us very was we were what when where which while who whom why
    will with would you your government parliament petition uk british ask asking call calling stop start
    want need must new
"""
SIMILAR_STOP_WORDS = frozenset(_SIMILAR_STOP_WORDS_TEXT.split())
_WORD_RE = re.compile(r"[a-z0-9]+")


def similar_search_words(text: str, *, limit: int = 20) -> list[str]:
    """The distinctive words of `text`, lower-cased, in order, without duplicates."""
    words: list[str] = []
    for word in _WORD_RE.findall(text.lower()):
        if len(word) >= 3 and word not in SIMILAR_STOP_WORDS and word not in words:
            words.append(word)
    return words[:limit]


def petitions_similar_open(*, text: str, limit: int = 5) -> list[Petition]:
    """Up to `limit` open petitions about the same thing as `text` (a proposed action), best match first.

    PostgreSQL ranks a full-text match of any distinctive word against the action (weight A) and background
    (weight B); elsewhere (SQLite) petitions sharing the most distinctive words come first.
    """
    words = similar_search_words(text)
    if not words:
        return []
    petitions = Petition.objects.open()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = SearchVector("action", weight="A", config="english") + SearchVector(
            "background", weight="B", config="english"
        )
        # Any one distinctive word is enough to match ("a or b or c"); the rank puts the closest first.
        query = SearchQuery(" or ".join(words), search_type="websearch", config="english")
        return list(
            petitions.annotate(rank=SearchRank(vector, query))
            .filter(rank__gt=0)
            .order_by("-rank", "-signature_count", "-pk")[:limit]
        )
    matches = Q()
    score = Value(0)
    for word in words:
        matches |= Q(action__icontains=word) | Q(background__icontains=word)
        score = (
            score
            + Case(When(action__icontains=word, then=Value(2)), default=Value(0))
            + Case(When(background__icontains=word, then=Value(1)), default=Value(0))
        )
    return list(
        petitions.filter(matches).annotate(score=score).order_by("-score", "-signature_count", "-pk")[:limit]
    )


def moderation_delay_in_effect() -> bool:
    """True when the moderation queue is long enough that creators are told checks may take weeks."""
    return Petition.objects.in_moderation().count() >= SiteSettings.load().moderation_delay_threshold


def petition_creation_closed_reason(*, site: SiteSettings | None = None) -> str | None:
    """Why no petition can be started now: "paused" by staff, "dissolved" Parliament, or None."""
    if (site or SiteSettings.load()).disable_petition_creation:
        return "paused"
    parliament = Parliament.current()
    if parliament is not None and parliament.is_dissolved():
        return "dissolved"
    return None


def petition_validated_sponsor_count(*, petition: Petition) -> int:
    return petition.signatures.filter(sponsor=True, state=SignatureState.VALIDATED).count()


#: Confirmations are taken until this long after a petition closes (e-petitions' `closed_for_signing?`).
CONFIRMATION_GRACE = timezone.timedelta(hours=24)
_NEVER_CONFIRMABLE = (
    PetitionState.REJECTED,
    PetitionState.HIDDEN,
    PetitionState.REMOVED,
    PetitionState.STOPPED,
    PetitionState.DORMANT,
)


def signature_confirm_refusal_reason(*, petition: Petition, now: datetime | None = None) -> str | None:
    """Why a signature on `petition` cannot be confirmed now: "paused" (staff paused signing), "closed", or
    None when it can."""
    if SiteSettings.cached().disable_collecting_signatures:
        return "paused"
    if petition.state in _NEVER_CONFIRMABLE:
        return "closed"
    if petition.state == PetitionState.CLOSED:
        now = now or timezone.now()
        if petition.closed_at is None or petition.closed_at + CONFIRMATION_GRACE < now:
            return "closed"
    return None


# --- Invalidations --------------------------------------------------------------------------------

import ipaddress  # noqa: E402
from functools import lru_cache  # noqa: E402

from django.db.models import Lookup  # noqa: E402
from django.db.models.functions import Replace, Upper  # noqa: E402

from .models import INVALIDATABLE_SIGNATURE_STATES, InvalidationState  # noqa: E402


@lru_cache(maxsize=64)
def _ip_network(network: str):
    return ipaddress.ip_network(network, strict=False)


def _ip_within(address, network) -> int:
    """SQLite's stand-in for PostgreSQL's `inet <<= inet` (the column is text there)."""
    if not address or not network:
        return 0
    try:
        return int(ipaddress.ip_address(address) in _ip_network(network))
    except ValueError:
        return 0


class IPWithin(Lookup):
    """`IPWithin(F("ip_address"), "192.0.2.0/24")`: the address is in the range (CIDR), or equal to it.

    On PostgreSQL the column is `inet` and `<<=` does it in SQL (and can use a btree index on the column). On
    SQLite the column is text, so a Python function registered on the connection compares row by row: fine
    for development, slower on big tables.
    """

    lookup_name = "ip_within"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} <<= ({rhs})::inet", [*lhs_params, *rhs_params]

    def as_sqlite(self, compiler, connection):
        connection.ensure_connection()
        connection.connection.create_function("petitions_ip_within", 2, _ip_within, deterministic=True)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"petitions_ip_within({lhs}, {rhs})", [*lhs_params, *rhs_params]


def _wildcard_regex(pattern: str) -> str:
    """`*` matches any run of characters; everything else literally; anchored at both ends."""
    return "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"


def _text_match(field: str, value: str) -> Q:
    if "*" in value:
        return Q(**{f"{field}__iregex": _wildcard_regex(value)})
    return Q(**{f"{field}__iexact": value})


def invalidation_signatures(*, invalidation) -> QuerySet:
    """The signatures an invalidation matches: pending or validated ones meeting every criterion it has.

    Criteria are as stored by `invalidation_criteria_clean` (already normalised). An invalidation without any
    criterion matches nothing, never everything.
    """
    inv = invalidation
    conditions = []
    if inv.petition_id is not None:
        conditions.append(Q(petition_id=inv.petition_id))
    if inv.name:
        conditions.append(_text_match("name", inv.name))
    if inv.email:
        conditions.append(_text_match("canonical_email", inv.email))
    if inv.domain:
        conditions.append(_text_match("email_domain", inv.domain))
    if inv.ip_address:
        if "/" in inv.ip_address:
            conditions.append(Q(IPWithin(F("ip_address"), inv.ip_address)))
        else:
            conditions.append(Q(ip_address=inv.ip_address))
    if inv.constituency_id is not None:
        conditions.append(Q(constituency_id=inv.constituency_id))
    if inv.country_id is not None:
        conditions.append(Q(country_id=inv.country_id))
    if inv.created_after is not None:
        conditions.append(Q(created_at__gte=inv.created_after))
    if inv.created_before is not None:
        conditions.append(Q(created_at__lt=inv.created_before))
    signatures = Signature.objects.filter(state__in=INVALIDATABLE_SIGNATURE_STATES)
    if inv.postcode:
        compact = inv.postcode.replace(" ", "").upper()
        signatures = signatures.alias(
            postcode_compact=Replace(Upper("postcode"), Value(" "), Value(""))
        ).filter(postcode_compact=compact)
    elif not conditions:
        return Signature.objects.none()
    return signatures.filter(*conditions)


def invalidation_percent_completed(*, invalidation) -> int:
    """How far a started invalidation has got, 0–100, against the count taken when it started."""
    if invalidation.state == InvalidationState.COMPLETED:
        return 100
    if not invalidation.matching_count:
        return 0
    # Signatures made after the start may match too, so the count can be overtaken before completion.
    return min(99, invalidation.invalidated_count * 100 // invalidation.matching_count)


# --- Staff queues ---------------------------------------------------------------------------------------------


def petitions_awaiting_response(*, limit: int = 20) -> QuerySet:
    """Petitions past the response threshold with no government response yet, longest waiting first."""
    return (
        Petition.objects.filter(
            response_state=ResponseState.AWAITING, response_threshold_reached_at__isnull=False
        )
        .order_by("response_threshold_reached_at", "pk")
        .only("pk", "action", "signature_count", "response_threshold_reached_at")[:limit]
    )


def petitions_awaiting_debate(*, limit: int = 20) -> QuerySet:
    """Petitions past the debate threshold awaiting a debate decision, longest waiting first."""
    return (
        Petition.objects.filter(debate_state=DebateState.AWAITING, debate_threshold_reached_at__isnull=False)
        .order_by("debate_threshold_reached_at", "pk")
        .only("pk", "action", "signature_count", "debate_threshold_reached_at")[:limit]
    )


# --- Bulk email (notices) --------------------------------------------------------------------------------------


def notice_recipients(*, notice) -> QuerySet:
    """Who a notice goes to: the petition's validated, not anonymised signatures that asked for email, and its
    creator's whatever their choice (the creator cannot unsubscribe from news of their own petition)."""
    return Signature.objects.filter(
        Q(notify_by_email=True) | Q(creator=True),
        petition_id=notice.petition_id,
        state=SignatureState.VALIDATED,
        anonymized_at__isnull=True,
    )


def notice_progress(*, notice) -> dict:
    """A notice's progress from its counters (no query): total queued so far, sent, failed, skipped, still
    queued, and the percentage dealt with (100 once completed)."""
    from .models import NoticeState

    total = notice.total
    done = notice.sent_count + notice.failed_count + notice.skipped_count
    if notice.state == NoticeState.COMPLETED or (total == 0 and notice.fanout_done_at is not None):
        percent = 100
    else:
        percent = min(99, done * 100 // total) if total else 0
    return {
        "state": notice.state,
        "total": total,
        "sent": notice.sent_count,
        "failed": notice.failed_count,
        "skipped": notice.skipped_count,
        "queued": max(0, total - done),
        "percent": percent,
        "fanout_done": notice.fanout_done_at is not None,
    }
