"""Reads for browsing and searching public petitions: `/petitions` (page, CSV, JSON), the home page and
`/petitions/local`.

Facets and their orders are petition.parliament.uk's (its `Browseable` concern, reference §5.2). Only public
petitions (open, closed, rejected) are ever listed, counted or matched. Search is PostgreSQL full text on
`Petition.search_vector` (kept by a trigger: action weight A, background B, additional details C), every word
required, the last one as a prefix ("vacc" finds "vaccines"), ranked with `ts_rank` (an action match before a
background match) and then by the facet's order; on SQLite every word must appear (case-insensitively) in
the action, background or additional details, ranked by where the words were found.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from .models import (
    VISIBLE_STATES,
    ConstituencyPetitionJournal,
    DebateState,
    Department,
    Petition,
    PetitionHourlyCount,
    PetitionState,
    ResponseState,
    Topic,
)

#: The public facets, in the reference's fixed order, with their labels.
FACETS: list[tuple[str, str]] = [
    ("all", "All petitions"),
    ("open", "Open petitions"),
    ("recent", "Recent petitions"),
    ("closed", "Closed petitions"),
    ("rejected", "Rejected petitions"),
    ("awaiting_response", "Awaiting a government response"),
    ("with_response", "Government responded"),
    ("awaiting_debate", "Awaiting a debate in Parliament"),
    ("debated", "Debated in Parliament"),
    ("not_debated", "Not debated in Parliament"),
]
FACET_SLUGS = tuple(slug for slug, _ in FACETS)
FACET_LABELS = dict(FACETS)
DEFAULT_FACET = "all"

#: Longer search terms are refused by the forms; `petitions_search` also never uses more than this many words,
#: nor more than WORD_MAX_LENGTH characters of one word, whoever calls it.
QUERY_MAX_LENGTH = 255
SEARCH_MAX_WORDS = 32
WORD_MAX_LENGTH = 100
# Letters and digits: nothing to_tsquery could read as an operator (& | ! ( ) : * < > ').
_WORD_RE = re.compile(r"[^\W_]+")

_MOST_POPULAR = (F("signature_count").desc(), F("created_at").desc(), F("pk").desc())

#: facet -> (condition on a public petition, order).
_FACET_RULES: dict[str, tuple[Q, tuple]] = {
    "all": (Q(), _MOST_POPULAR),
    "open": (Q(state=PetitionState.OPEN), _MOST_POPULAR),
    "recent": (Q(state=PetitionState.OPEN), (F("opened_at").desc(nulls_last=True), F("pk").desc())),
    "closed": (Q(state=PetitionState.CLOSED), _MOST_POPULAR),
    "rejected": (Q(state=PetitionState.REJECTED), (F("created_at").desc(), F("pk").desc())),
    "awaiting_response": (
        Q(response_state=ResponseState.AWAITING),
        (F("response_threshold_reached_at").asc(nulls_last=True), F("created_at").asc(), F("pk").asc()),
    ),
    "with_response": (
        Q(response_state=ResponseState.RESPONDED),
        (F("government_response_at").desc(nulls_last=True), F("pk").desc()),
    ),
    "awaiting_debate": (
        Q(debate_state__in=[DebateState.AWAITING, DebateState.SCHEDULED]),
        (
            F("scheduled_debate_date").asc(nulls_last=True),
            F("debate_threshold_reached_at").asc(nulls_first=True),
            F("pk").asc(),
        ),
    ),
    "debated": (
        Q(debate_state=DebateState.DEBATED),
        (
            F("scheduled_debate_date").desc(nulls_last=True),
            F("debate_outcome_at").desc(nulls_last=True),
            F("pk").desc(),
        ),
    ),
    "not_debated": (
        Q(debate_state=DebateState.NOT_DEBATED),
        (F("debate_outcome_at").desc(nulls_last=True), F("pk").desc()),
    ),
}


def facet_slug(value) -> str:
    """`value` if it is a public facet, else "all" (an unknown facet is not an error)."""
    return value if value in _FACET_RULES else DEFAULT_FACET


def facet_queryset(slug: str) -> QuerySet:
    """The public petitions of a facet in its order; an unknown facet gives every public petition."""
    condition, order = _FACET_RULES[facet_slug(slug)]
    return Petition.objects.visible().filter(condition).defer("search_vector").order_by(*order)


# --- Search ---------------------------------------------------------------------------------------------------


def search_words(q: str) -> list[str]:
    """The words of a query: runs of letters and digits (anything else separates them), at most
    SEARCH_MAX_WORDS, each cut to WORD_MAX_LENGTH characters."""
    return [word[:WORD_MAX_LENGTH] for word in _WORD_RE.findall(q or "")[:SEARCH_MAX_WORDS]]


def search_tsquery(words: list[str]) -> str:
    """`to_tsquery` text: every word required, the last one as a prefix (`climate & chang:*`)."""
    return " & ".join(words[:-1] + [f"{words[-1]}:*"])


def petitions_search(queryset: QuerySet, q: str) -> QuerySet:
    """`queryset` narrowed to the petitions matching `q`, best match first and then in the queryset's own
    order, with the relevance as `search_rank`. A blank query changes nothing; a query without any word (only
    punctuation) matches nothing."""
    if not (q or "").strip():
        return queryset
    words = search_words(q)
    if not words:
        return queryset.none()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank

        query = SearchQuery(search_tsquery(words), search_type="raw", config="english")
        matched = queryset.filter(search_vector=query).annotate(
            search_rank=SearchRank(F("search_vector"), query)
        )
    else:
        # Each word must be somewhere; a word in the action counts most, then the background, then the details.
        condition = Q()
        rank = Value(0)
        for word in words:
            condition &= (
                Q(action__icontains=word)
                | Q(background__icontains=word)
                | Q(additional_details__icontains=word)
            )
            rank = rank + Case(
                When(action__icontains=word, then=Value(4)),
                When(background__icontains=word, then=Value(2)),
                default=Value(1),
                output_field=IntegerField(),
            )
        matched = queryset.filter(condition).annotate(search_rank=rank)
    return matched.order_by(F("search_rank").desc(), *queryset.query.order_by)


# --- Browsing -------------------------------------------------------------------------------------------------


def _related_filter(model_through, field: str, value, key: str) -> Exists:
    """Petitions linked to `value` (an instance, a primary key, or a `key` text such as a topic code) through
    a many-to-many table, as a semi-join: never a duplicate row."""
    links = model_through.objects.filter(petition_id=OuterRef("pk"))
    if isinstance(value, str):
        links = links.filter(**{f"{field}__{key}": value})
    else:
        links = links.filter(**{field: value})
    return Exists(links)


def _narrowed(queryset: QuerySet, *, topic=None, department=None) -> QuerySet:
    if topic is not None:
        queryset = queryset.filter(_related_filter(Petition.topics.through, "topic", topic, "code"))
    if department is not None:
        queryset = queryset.filter(
            _related_filter(Petition.departments.through, "department", department, "acronym__iexact")
        )
    return queryset


def petitions_browse(*, state: str, q: str = "", topic=None, department=None) -> QuerySet:
    """Public petitions of the facet `state` (unknown: all) in the facet's order, or best match first when
    there is a query. `topic` and `department` are instances, primary keys, or a topic code / department
    acronym; `None` means any."""
    queryset = _narrowed(facet_queryset(state), topic=topic, department=department)
    return petitions_search(queryset, q)


def facet_counts(q: str = "", *, topic=None, department=None) -> dict[str, int]:
    """How many public petitions each facet holds under the same query and filters, in FACETS order: one
    query (a conditional count per facet)."""
    queryset = petitions_search(_narrowed(Petition.objects.visible(), topic=topic, department=department), q)
    if queryset.query.is_empty():
        return dict.fromkeys(FACET_SLUGS, 0)
    counts = queryset.order_by().aggregate(
        **{slug: Count("pk", filter=condition) for slug, (condition, _) in _FACET_RULES.items()}
    )
    return {slug: counts[slug] for slug in FACET_SLUGS}


def topics_listed() -> list[Topic]:
    return list(Topic.objects.order_by("name").only("id", "code", "name"))


def departments_listed() -> list[Department]:
    return list(Department.objects.order_by("name").only("id", "acronym", "name"))


# --- Local petitions ------------------------------------------------------------------------------------------


def petitions_popular_in_constituency(
    *, constituency, open_only: bool = True, limit: int = 50
) -> list[Petition]:
    """The petitions most signed in a constituency (from the tally's `ConstituencyPetitionJournal`), open ones
    or every public one, each with `constituency_signature_count`: one query."""
    states = (PetitionState.OPEN,) if open_only else VISIBLE_STATES
    journals = (
        ConstituencyPetitionJournal.objects.filter(
            constituency=constituency, signature_count__gt=0, petition__state__in=states
        )
        .select_related("petition")
        .only(
            "signature_count",
            "petition__id",
            "petition__action",
            "petition__state",
            "petition__signature_count",
            "petition__deadline_at",
            "petition__closed_at",
        )
        .order_by("-signature_count", "petition_id")[:limit]
    )
    petitions = []
    for journal in journals:
        journal.petition.constituency_signature_count = journal.signature_count
        petitions.append(journal.petition)
    return petitions


# --- Trending -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendingPetition:
    id: int
    action: str
    signature_count: int
    trending_count: int

    def get_absolute_url(self) -> str:
        return f"/petitions/{self.id}"


def petitions_trending(*, limit: int = 3, now: datetime | None = None) -> list[TrendingPetition]:
    """The open petitions that gained the most signatures in the 60 minutes before `now`, most first, from the
    tally's hourly rows (`PetitionHourlyCount`): this clock hour's gain plus the share of the previous hour's
    that falls inside the 60 minutes, that hour's gain taken as spread evenly over it (at 14:20, all of
    14:00–14:20 and 40/60 of 13:00–14:00). The same figures as `/trending.json`. One query on the
    (hour, signature_count) index, whatever the number of signatures."""
    now = now or timezone.now()
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    previous = hour - timedelta(hours=1)
    previous_weight = 60 - (now - hour) // timedelta(minutes=1)
    # Sixtieths of a signature, so the sum stays an integer on every database.
    score = Sum(
        Case(
            When(hour=hour, then=F("signature_count") * 60),
            default=F("signature_count") * previous_weight,
        )
    )
    rows = (
        PetitionHourlyCount.objects.filter(hour__in=[previous, hour], petition__state=PetitionState.OPEN)
        .values("petition_id", "petition__action", "petition__signature_count")
        .annotate(score=score)
        .filter(score__gte=30)
        .order_by("-score", "petition_id")[:limit]
    )
    return [
        TrendingPetition(
            id=row["petition_id"],
            action=row["petition__action"],
            signature_count=row["petition__signature_count"],
            trending_count=(row["score"] + 30) // 60,
        )
        for row in rows
    ]
