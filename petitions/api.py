"""The public JSON API in petition.parliament.uk's format (docs/api.md).

`/petitions/<id>.json` is built from the petition row and the per-country and per-constituency tallies, never
from the signature rows, in a fixed number of queries. The format follows the real documents in
`../shared/data/petitions/` plus the keys today's e-petitions adds where this site holds the data
(`closing_date`, `debate_scheduled_on`, `other_parliamentary_business[].occurred_on`). Nothing about signers
is exposed; the creator's name only while the petition is open, as the reference does.

`/petitions.json` lists what the `/petitions` page lists (its form and `petitions.browse`), with the same
attributes, reading the creators and debate outcomes of a whole page at once (`petition_api_extras`);
`/constituencies.json` and `/trending.json` follow the reference's shapes; `/api/openapi.json` describes them all
(`petitions/openapi.py`)."""

import datetime
import json
import re
from dataclasses import dataclass
from itertools import groupby
from typing import NamedTuple
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from .browse import departments_listed, petitions_browse, petitions_trending, topics_listed
from .forms_browse import PetitionSearchForm
from .markdown import markdown_text
from .models import (
    PUBLISHED_STATES,
    VISIBLE_STATES,
    Constituency,
    ConstituencyPetitionJournal,
    CountryPetitionJournal,
    Petition,
    PetitionState,
    Signature,
    SiteSettings,
)
from .openapi import openapi_document

#: Larger ids cannot be looked up (the primary key is a 64-bit integer): they are simply not found.
MAX_ID = 2**63 - 1

# Escaped as Rails does, so a document pasted into an HTML page cannot open a tag or end a script.
_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


# --- Formats and headers, shared by every JSON endpoint -----------------------------------------------------


def api_datetime(value: datetime.datetime | None) -> str | None:
    """UTC, ISO-8601 with milliseconds (`2022-03-09T12:34:56.789Z`), as e-petitions' `api_date_format`."""
    if value is None:
        return None
    value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def api_date(value: datetime.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def api_cache_headers(response: HttpResponse, *, interval: int) -> HttpResponse:
    """Publicly cacheable for one tally interval, stale for two more while revalidating and for five while the
    site errors (as petition.parliament.uk's `Petition#cache_control`), readable from any origin."""
    response["Cache-Control"] = (
        f"public, max-age={interval}, stale-while-revalidate={2 * interval}, stale-if-error={5 * interval}"
    )
    response["Access-Control-Allow-Origin"] = "*"
    return response


def api_json_response(document: dict) -> HttpResponse:
    body = json.dumps(document, ensure_ascii=False).translate(_JSON_ESCAPES)
    return HttpResponse(body.encode(), content_type="application/json; charset=utf-8")


def api_errors_response(errors: list[dict]) -> HttpResponse:
    """400 listing each invalid parameter with its message (`{"errors": [{"parameter", "detail"}]}`, as
    `/debates.json`), readable from any origin and never cached."""
    response = api_json_response({"errors": errors})
    response.status_code = 400
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response


# --- Reads -------------------------------------------------------------------------------------------------------


def petition_get_for_api(*, petition_id: int) -> Petition | None:
    """The petition with its rejection, government response, departments and topics (three queries)."""
    if petition_id > MAX_ID:
        return None
    return (
        Petition.objects.select_related("rejection__reason", "government_response")
        .prefetch_related("departments", "topics")
        .filter(pk=petition_id)
        .first()
    )


def petition_api_status(petition: Petition | None) -> int:
    """200 for a petition the public sees (open, closed, rejected); 410 for one that was public and has been
    removed or hidden since, as the petition page answers; 404 for everything else (not yet published,
    stopped, dormant, hidden before publication, no such petition)."""
    if petition is None:
        return 404
    if petition.state in VISIBLE_STATES:
        return 200
    if petition.state == PetitionState.REMOVED:
        return 410
    if petition.state == PetitionState.HIDDEN and petition.opened_at is not None:
        return 410
    return 404


@dataclass(frozen=True)
class PetitionApiExtras:
    """What a petition's attributes need beyond its row and joined relations: read for a whole page at once."""

    creator_name: str | None = None
    debate_event: object | None = None


def petition_creator_names_for_api(*, petition_ids: list[int]) -> dict[int, str]:
    """The creators' names, by petition (one query; none for no ids)."""
    if not petition_ids:
        return {}
    rows = (
        Signature.objects.filter(petition_id__in=petition_ids, creator=True)
        .order_by("-pk")
        .values_list("petition_id", "name")
    )
    # Ordered newest first so that the oldest creator row wins, as `.first()` by primary key did.
    return dict(rows)


def petition_debate_outcomes_for_api(*, petition_ids: list[int]) -> dict:
    """Each petition's latest debate with an outcome (debated or not) among its parliamentary events, by
    petition (one query; none for no ids)."""
    from debates.models import DEBATE_KINDS, ParliamentaryEvent

    if not petition_ids:
        return {}
    links = (
        ParliamentaryEvent.petitions.through.objects.filter(
            petition_id__in=petition_ids, parliamentaryevent__kind__in=DEBATE_KINDS
        )
        .exclude(parliamentaryevent__outcome="")
        .select_related("parliamentaryevent")
        .order_by("petition_id", "-parliamentaryevent__starts_at", "-parliamentaryevent__pk")
    )
    outcomes = {}
    for link in links:
        outcomes.setdefault(link.petition_id, link.parliamentaryevent)
    return outcomes


def petition_api_extras(petitions: list[Petition]) -> dict[int, PetitionApiExtras]:
    """Creator names (open petitions only: nobody else's is shown) and debate outcomes for many petitions in at
    most two queries, so a page of 50 costs what one petition does."""
    ids = [p.pk for p in petitions]
    creators = petition_creator_names_for_api(
        petition_ids=[p.pk for p in petitions if p.state == PetitionState.OPEN]
    )
    debates = petition_debate_outcomes_for_api(petition_ids=ids)
    return {pk: PetitionApiExtras(creator_name=creators.get(pk), debate_event=debates.get(pk)) for pk in ids}


def petition_country_tallies_for_api(*, petition: Petition) -> list[CountryPetitionJournal]:
    return list(
        CountryPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .select_related("country")
        .order_by("country__name", "country__code")
    )


class ConstituencyTally(NamedTuple):
    name: str
    gss_code: str
    mp_name: str
    region_code: str
    region_name: str
    signature_count: int


def petition_constituency_tallies_for_api(*, petition: Petition) -> list[ConstituencyTally]:
    # Plain tuples: 650 model instances with their constituency and region cost ten times as much to build.
    rows = (
        ConstituencyPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .order_by("constituency__gss_code")
        .values_list(
            "constituency__name",
            "constituency__gss_code",
            "constituency__mp_name",
            "constituency__region__api_code",
            "constituency__region__name",
            "signature_count",
        )
    )
    return [ConstituencyTally(*row) for row in rows]


def petition_other_business_for_api(*, petition: Petition) -> list:
    from debates.selectors import other_business_for_petition

    return list(other_business_for_petition(petition=petition))


# --- Serialisation -----------------------------------------------------------------------------------------------


def published_government_response(petition: Petition):
    """The petition's government response if it is published (a draft is nobody's business yet), else None.
    Reads the response `petition_get_for_api` joined in: no query."""
    from responses.models import GovernmentResponse, ResponseStatus

    try:
        response = petition.government_response
    except GovernmentResponse.DoesNotExist:
        return None
    return response if response.status == ResponseStatus.PUBLISHED else None


def government_response_attributes(response) -> dict | None:
    if response is None:
        return None
    published_at = response.published_at or response.created_at
    return {
        "responded_on": api_date(response.responded_on),
        "summary": response.summary,
        "details": markdown_text(response.details),
        # When the public first saw it, and when its public text last changed: never drafting times.
        "created_at": api_datetime(published_at),
        "updated_at": api_datetime(response.text_updated_at or published_at),
    }


def debate_attributes(event) -> dict | None:
    """e-petitions' `debate` object from a debate event with an outcome. `public_engagement_url` and
    `debate_summary_url` are left out: this site does not record them (nor do the reference's documents)."""
    if event is None:
        return None
    from debates.models import Outcome

    debated = event.outcome == Outcome.DEBATED
    return {
        "debated_on": api_date(timezone.localdate(event.starts_at)) if debated else None,
        "transcript_url": event.transcript_url,
        "video_url": event.video_url,
        "debate_pack_url": event.debate_pack_url,
        "overview": markdown_text(event.summary) if debated else event.outcome_reason,
    }


def mp_display_name(name: str) -> str | None:
    if not name:
        return None
    return name if name.endswith(" MP") else f"{name} MP"


def signatures_by_region(constituency_tallies: list[ConstituencyTally]) -> list[dict]:
    """Regions (letter codes A–N, as the reference) summed from the constituency tallies: no query."""
    by_region = sorted(constituency_tallies, key=lambda t: t.region_code)
    return [
        {
            "name": group[0].region_name,
            "ons_code": code,
            "signature_count": sum(t.signature_count for t in group),
        }
        for code, group in (
            (code, list(rows)) for code, rows in groupby(by_region, key=lambda t: t.region_code)
        )
    ]


def petition_attributes(
    petition: Petition, *, petition_page: bool, extras: PetitionApiExtras | None = None
) -> dict:
    """The `attributes` of e-petitions' petition object. `petition_page` adds the signature breakdowns and other
    parliamentary business, for published petitions on their own document (not in lists). `extras` comes from
    `petition_api_extras` for a list; without it they are read for this petition alone."""
    if extras is None:
        extras = petition_api_extras([petition])[petition.pk]
    response = published_government_response(petition)
    rejection = getattr(petition, "rejection", None)
    is_open = petition.state == PetitionState.OPEN
    attributes = {
        "action": petition.action,
        "background": petition.background,
        "additional_details": petition.additional_details,
        "committee_note": petition.committee_note,
        "state": petition.state,
        "signature_count": petition.signature_count,
    }
    if is_open:
        attributes["closing_date"] = api_date(
            timezone.localdate(petition.deadline_at) if petition.deadline_at else None
        )
    attributes |= {
        "created_at": api_datetime(petition.created_at),
        "updated_at": api_datetime(petition.updated_at),
        "rejected_at": api_datetime(petition.rejected_at),
        "opened_at": api_datetime(petition.opened_at),
        "closed_at": api_datetime(petition.closed_at),
        "moderation_threshold_reached_at": api_datetime(petition.moderation_threshold_reached_at),
        "response_threshold_reached_at": api_datetime(petition.response_threshold_reached_at),
        "government_response_at": api_datetime(petition.government_response_at) if response else None,
        "debate_threshold_reached_at": api_datetime(petition.debate_threshold_reached_at),
        "debate_scheduled_on": api_date(petition.debate_scheduled_on),
        "scheduled_debate_date": api_date(petition.scheduled_debate_date),
        "debate_outcome_at": api_datetime(petition.debate_outcome_at),
        "creator_name": extras.creator_name if is_open else None,
        "rejection": {"code": rejection.reason.code, "details": rejection.details} if rejection else None,
        "government_response": government_response_attributes(response),
        "debate": debate_attributes(extras.debate_event),
        "departments": [
            {"acronym": d.acronym, "name": d.name, "url": d.url} for d in petition.departments.all()
        ],
        "topics": sorted(t.code for t in petition.topics.all()),
    }
    if petition_page and petition.state in PUBLISHED_STATES:
        countries = petition_country_tallies_for_api(petition=petition)
        constituencies = petition_constituency_tallies_for_api(petition=petition)
        attributes |= {
            "signatures_by_country": [
                {"name": j.country.name, "code": j.country.code, "signature_count": j.signature_count}
                for j in countries
            ],
            "signatures_by_constituency": [
                {
                    "name": t.name,
                    "ons_code": t.gss_code,
                    "mp": mp_display_name(t.mp_name),
                    "signature_count": t.signature_count,
                }
                for t in constituencies
            ],
            "signatures_by_region": signatures_by_region(constituencies),
            "other_parliamentary_business": [
                {
                    "subject": item.subject,
                    "body": markdown_text(item.body),
                    "occurred_on": api_date(item.occurred_on),
                    "created_at": api_datetime(item.created_at),
                    "updated_at": api_datetime(item.updated_at),
                }
                for item in petition_other_business_for_api(petition=petition)
            ],
        }
    return attributes


def petition_document(petition: Petition) -> dict:
    """The whole `/petitions/<id>.json` document."""
    url = settings.SITE_URL + reverse("petitions:detail_json", args=[petition.pk])
    return {
        "links": {"self": url},
        "data": {
            "type": "petition",
            "id": petition.pk,
            "attributes": petition_attributes(petition, petition_page=True),
        },
    }


# --- Views -------------------------------------------------------------------------------------------------------


@require_safe
def petition_json(request, petition_id: int):
    """`/petitions/<id>.json`: one petition in petition.parliament.uk's format. A petition the public cannot see
    gets the site's readable 404 page, or 410 if it was public and has been taken down."""
    petition = petition_get_for_api(petition_id=petition_id)
    status = petition_api_status(petition)
    if status == 410:
        return render(request, "410.html", {"petition": petition}, status=410)
    if status != 200:
        raise Http404("No such petition")
    response = api_json_response(petition_document(petition))
    return api_cache_headers(response, interval=SiteSettings.cached().signature_count_interval)


# --- Lists: /petitions.json, /constituencies.json, /trending.json -------------------------------------------------

#: Petitions per page of `/petitions.json`, and the most `count` may ask for (the reference clamps it to 50 too).
LIST_PAGE_SIZE = 50
#: The reference's highest page number; larger ones are read as this one.
LIST_MAX_PAGE = 99_999
#: Petitions in `/trending.json`, as the reference.
TRENDING_LIMIT = 10
#: The 2024 constituencies (the only ones this site holds) took effect at the general election of 4 July 2024.
CONSTITUENCIES_START_DATE = datetime.date(2024, 7, 4)
#: Constituencies and MPs change rarely: cached for a minute, as the reference does.
CONSTITUENCIES_CACHE_SECONDS = 60

_LEADING_DIGITS = re.compile(r"\s*\+?(\d{1,9})")


def leading_integer(value: str | None) -> int | None:
    """The number a parameter starts with, as Ruby's `to_i` reads it (`"2abc"` is 2), or None if it has none."""
    match = _LEADING_DIGITS.match(value or "")
    return int(match.group(1)) if match else None


def petition_list_form(params) -> PetitionSearchForm:
    """The `/petitions` page's own form, so the JSON reads `q`, `state`, `topic` and `department` exactly as the
    page does (two queries: the topics and departments it checks values against)."""
    return PetitionSearchForm(params, topics=topics_listed(), departments=departments_listed())


@dataclass(frozen=True)
class PetitionListQuery:
    """What `/petitions.json` lists: the page's valid filters, and the page and its size read leniently as the
    reference does (a page that is not a number is 1; `count` is clamped to 1–50)."""

    filters: dict
    page: int = 1
    count: int | None = None

    @classmethod
    def from_params(cls, params, *, form: PetitionSearchForm) -> "PetitionListQuery":
        count = params.get("count")
        if count is not None:
            number = leading_integer(count)
            count = LIST_PAGE_SIZE if number is None else min(max(number, 1), LIST_PAGE_SIZE)
        return cls(
            filters=form.valid_params(),
            page=min(max(leading_integer(params.get("page")) or 1, 1), LIST_MAX_PAGE),
            count=count,
        )

    @property
    def page_size(self) -> int:
        return self.count or LIST_PAGE_SIZE

    def url(self, page: int) -> str:
        """This list's URL at another page, built as the reference's `petitions_url(:json, params)`: parameters
        in alphabetical order, `state` left out when `all`, `page` when 1, `count` unless it was given."""
        params = dict(self.filters)
        if page > 1:
            params["page"] = page
        if self.count is not None:
            params["count"] = self.count
        query = urlencode(sorted(params.items()))
        return settings.SITE_URL + reverse("petitions_api:list") + (f"?{query}" if query else "")


def petitions_for_list_api(form: PetitionSearchForm):
    """The petitions of the `/petitions` page for its form, with everything their attributes read joined or
    prefetched: a fixed number of queries whatever the page size."""
    return (
        petitions_browse(
            state=form.facet, q=form.query, topic=form.chosen_topic, department=form.chosen_department
        )
        .select_related("rejection__reason", "government_response")
        .prefetch_related("departments", "topics")
    )


def petition_list_document(form: PetitionSearchForm, query: PetitionListQuery, *, self_url: str) -> dict:
    """The whole `/petitions.json` document (reference §6.1)."""
    petitions = petitions_for_list_api(form)
    total = petitions.count()
    last_page = max(1, -(-total // query.page_size))
    start = (query.page - 1) * query.page_size
    page = list(petitions[start : start + query.page_size]) if start < total else []
    extras = petition_api_extras(page)
    return {
        "links": {
            "self": self_url,
            "first": query.url(1),
            "last": query.url(last_page),
            "next": query.url(query.page + 1) if query.page < last_page else None,
            "prev": query.url(query.page - 1) if query.page > 1 else None,
        },
        "data": [
            {
                "type": "petition",
                "id": petition.pk,
                "links": {"self": settings.SITE_URL + reverse("petitions:detail_json", args=[petition.pk])},
                "attributes": petition_attributes(petition, petition_page=False, extras=extras[petition.pk]),
            }
            for petition in page
        ],
    }


def constituencies_document() -> dict:
    """`/constituencies.json`: every constituency keyed by its ONS (GSS) code, as the reference."""
    rows = Constituency.objects.order_by("gss_code").values_list("gss_code", "name", "mp_name", "party")
    start_date = api_date(CONSTITUENCIES_START_DATE)
    return {
        code: {
            "mp": mp_display_name(mp_name),
            "party": party or None,
            "constituency": name,
            "ons_code": code,
            "start_date": start_date,
            "end_date": None,
        }
        for code, name, mp_name, party in rows
    }


def trending_document(*, now: datetime.datetime) -> dict:
    """`/trending.json` as the reference: `data` items with `type`, `id`, `links.self` and `attributes` {action,
    signature_count (in the last hour)}, `links.self`, and `meta.updated_at` (the time, to the minute)."""
    now = now.replace(second=0, microsecond=0)
    return {
        "data": [
            {
                "type": "petition",
                "id": item.id,
                "links": {"self": settings.SITE_URL + reverse("petitions:detail_json", args=[item.id])},
                "attributes": {"action": item.action, "signature_count": item.trending_count},
            }
            for item in petitions_trending(limit=TRENDING_LIMIT, now=now)
        ],
        "links": {"self": settings.SITE_URL + reverse("petitions_api:trending")},
        "meta": {"updated_at": api_datetime(now)},
    }


@require_safe
def petition_list_json(request):
    """`/petitions.json`: the `/petitions` page's list (same `q`, `state`, `topic` and `department`), 50 a page,
    in petition.parliament.uk's format. Never redirects: a numeric `q` is searched like any other text, and a
    page past the end has no petitions. A value the page would refuse (search terms over 255 characters, a
    topic or department not on its lists) is a 400 with the page's messages."""
    form = petition_list_form(request.GET)
    if not form.is_valid():
        return api_errors_response(
            [
                {"parameter": name, "detail": str(error)}
                for name, errors in form.errors.items()
                for error in errors
            ]
        )
    query = PetitionListQuery.from_params(request.GET, form=form)
    document = petition_list_document(form, query, self_url=settings.SITE_URL + request.get_full_path())
    response = api_json_response(document)
    return api_cache_headers(response, interval=SiteSettings.cached().signature_count_interval)


@require_safe
def constituencies_json(request):
    response = api_json_response(constituencies_document())
    return api_cache_headers(response, interval=CONSTITUENCIES_CACHE_SECONDS)


@require_safe
def trending_json(request):
    response = api_json_response(trending_document(now=timezone.now()))
    return api_cache_headers(response, interval=SiteSettings.cached().signature_count_interval)


@require_safe
def openapi_json(request):
    """`/api/openapi.json`: the OpenAPI 3.1 description of every public JSON endpoint."""
    response = api_json_response(openapi_document())
    return api_cache_headers(response, interval=CONSTITUENCIES_CACHE_SECONDS)
