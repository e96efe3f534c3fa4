"""Reads for the event page (/debates/<id>) and the constituency pages (/constituencies, /constituencies/<code>).

Per-constituency figures come from `ConstituencyPetitionJournal`, the tally's cache of validated signatures, never
from signature rows, so every page here is a fixed number of queries whatever its size.
"""

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import groupby
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from petitions.models import (
    VISIBLE_STATES,
    Constituency,
    ConstituencyPetitionJournal,
    Petition,
    PetitionState,
    Region,
)

from .models import ParliamentaryEvent

#: Larger ids cannot be looked up (primary keys are 64-bit integers): they are simply not found.
MAX_ID = 2**63 - 1
#: A GSS code as the ONS writes them (E14001063), in any case; anything else is not looked up at all.
GSS_CODE_RE = re.compile(r"[A-Za-z][0-9]{8}")
HEX_COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")
#: Upcoming debates on a constituency page are those on the constituency's most signed public petitions.
UPCOMING_PETITIONS = 50

#: The links an event may carry, in the order the event page lists them, with their text.
EVENT_LINKS = (
    ("video_url", "Watch the debate"),
    ("transcript_url", "Read the transcript"),
    ("debate_pack_url", "Read the research for this debate (debate pack)"),
    ("public_engagement_url", "Read what people told MPs before the debate (public engagement)"),
    ("debate_summary_url", "Read a summary of the debate"),
    ("more_info_url", "Find out more"),
)


# --- Formatting helpers ---------------------------------------------------------------------------------------


def share_percent(part: int, total: int) -> str:
    """`part` as a share of `total` with one decimal, rounded half up ("33.3%"); "" without a total."""
    if not total:
        return ""
    share = (Decimal(part) * 100 / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{share}%"


def party_colour(constituency: Constituency) -> str:
    """The party's colour if it is a plain #rrggbb value (it ends up in an SVG attribute), else ""."""
    value = constituency.party_colour or ""
    return value if HEX_COLOUR_RE.fullmatch(value) else ""


def _host_allowed(host: str) -> bool:
    for pattern in settings.PARLIAMENT_LINK_HOSTS:
        pattern = pattern.strip().lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def parliament_link(url: str) -> str:
    """The URL if it is https on a host of `PARLIAMENT_LINK_HOSTS`, else "". Re-checked when shown, so a link
    that got into the database some other way (or whose host has since left the list) never becomes a href."""
    url = (url or "").strip()
    # A backslash or control character is read differently by browsers and by urlsplit: never a link.
    if not url or "\\" in url or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return ""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme.lower() != "https" or parts.username is not None or parts.password is not None:
        return ""
    if port not in (None, 443) or not _host_allowed(host):
        return ""
    return url


def event_links(event: ParliamentaryEvent) -> list[tuple[str, str]]:
    """(text, url) for each of the event's links that may be shown."""
    links = []
    for name, text in EVENT_LINKS:
        if url := parliament_link(getattr(event, name)):
            links.append((text, url))
    return links


# --- Constituencies ---------------------------------------------------------------------------------------------


def gss_code_shaped(value: str) -> bool:
    return bool(GSS_CODE_RE.fullmatch(value or ""))


def constituency_get(*, gss_code: str) -> Constituency | None:
    """The constituency with this code (upper case), with its region; None for anything else (no query for
    a value that is not shaped like a GSS code)."""
    if not gss_code_shaped(gss_code):
        return None
    return Constituency.objects.select_related("region").filter(gss_code=gss_code.upper()).first()


def constituency_exists(*, gss_code: str) -> bool:
    return gss_code_shaped(gss_code) and Constituency.objects.filter(gss_code=gss_code.upper()).exists()


@dataclass
class RegionGroup:
    region: Region
    constituencies: list[Constituency] = field(default_factory=list)


def constituencies_by_region() -> list[RegionGroup]:
    """Every constituency, grouped by region (in the API's A–N order: English regions, then Wales, Scotland
    and Northern Ireland) and by name within each: one query."""
    rows = (
        Constituency.objects.select_related("region")
        .only("gss_code", "name", "region__name", "region__api_code", "region__gss_code", "region__nation")
        .order_by("region__api_code", "name")
    )
    return [
        RegionGroup(region=region, constituencies=list(group))
        for region, group in groupby(rows, key=lambda c: c.region)
    ]


# --- Constituency pages: the ranking and upcoming debates ---------------------------------------------------------


def _ranked(queryset: QuerySet) -> QuerySet:
    # The index (constituency, -signature_count) gives the order; the petition id only breaks ties.
    return queryset.order_by("-signature_count", "petition_id")


def constituency_petition_ranking(*, constituency: Constituency, open_only: bool) -> QuerySet:
    """The petitions with signatures from the constituency, most signed from there first: open ones, or every
    public one (open, closed, rejected). Rows are `ConstituencyPetitionJournal`s with their petition joined."""
    states = (PetitionState.OPEN,) if open_only else VISIBLE_STATES
    return _ranked(
        ConstituencyPetitionJournal.objects.filter(
            constituency=constituency, signature_count__gt=0, petition__state__in=states
        )
        .select_related("petition")
        .only(
            "signature_count",
            "petition",
            "petition__id",
            "petition__action",
            "petition__state",
            "petition__signature_count",
        )
    )


@dataclass
class RankedPetition:
    petition: Petition
    constituency_signature_count: int
    share: str


def ranking_rows(journals) -> list[RankedPetition]:
    return [
        RankedPetition(
            petition=journal.petition,
            constituency_signature_count=journal.signature_count,
            share=share_percent(journal.signature_count, journal.petition.signature_count),
        )
        for journal in journals
    ]


@dataclass
class UpcomingEvent:
    event: ParliamentaryEvent
    petitions: list[Petition]


def constituency_upcoming_events(*, constituency: Constituency, now) -> list[UpcomingEvent]:
    """Events starting at or after `now` on any of the constituency's `UPCOMING_PETITIONS` most signed public
    petitions (whatever the page's open/all filter: a closed petition is often debated after it closes), soonest
    first, each with those of its petitions that are in that top list. One query."""
    top = _ranked(
        ConstituencyPetitionJournal.objects.filter(
            constituency=constituency, signature_count__gt=0, petition__state__in=VISIBLE_STATES
        )
    ).values("petition_id")[:UPCOMING_PETITIONS]
    links = (
        ParliamentaryEvent.petitions.through.objects.filter(
            parliamentaryevent__starts_at__gte=now, petition_id__in=top
        )
        .select_related("parliamentaryevent", "petition")
        .only(
            "parliamentaryevent__id",
            "parliamentaryevent__kind",
            "parliamentaryevent__title",
            "parliamentaryevent__starts_at",
            "parliamentaryevent__place",
            "petition__id",
            "petition__action",
            "petition__signature_count",
        )
        .order_by(
            "parliamentaryevent__starts_at",
            "parliamentaryevent_id",
            "-petition__signature_count",
            "petition_id",
        )
    )
    return [
        UpcomingEvent(event=event, petitions=[link.petition for link in group])
        for event, group in groupby(links, key=lambda link: link.parliamentaryevent)
    ]


# --- The event page ---------------------------------------------------------------------------------------------


def event_get_for_page(*, event_id: int) -> ParliamentaryEvent | None:
    if event_id > MAX_ID:
        return None
    return ParliamentaryEvent.objects.select_related("lead_mp", "department").filter(pk=event_id).first()


def event_public_petitions(
    *, event: ParliamentaryEvent, constituency: Constituency | None = None
) -> list[Petition]:
    """The event's public petitions, most signed first. With a constituency, each carries
    `constituency_signature_count` (0 when none signed from there) and `constituency_share`. One query."""
    petitions = (
        Petition.objects.visible()
        .filter(parliamentary_events=event)
        .only("id", "action", "state", "signature_count")
    )
    if constituency is not None:
        journal = ConstituencyPetitionJournal.objects.filter(
            petition=OuterRef("pk"), constituency=constituency
        )
        petitions = petitions.annotate(
            constituency_signature_count=Coalesce(Subquery(journal.values("signature_count")[:1]), Value(0))
        )
    petitions = list(petitions.order_by("-signature_count", "pk"))
    if constituency is not None:
        for petition in petitions:
            petition.constituency_share = share_percent(
                petition.constituency_signature_count, petition.signature_count
            )
    return petitions
