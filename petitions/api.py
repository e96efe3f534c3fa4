"""The public JSON API in petition.parliament.uk's format (docs/api.md).

`/petitions/<id>.json` is built from the petition row and the per-country and per-constituency tallies, never
from the signature rows, in a fixed number of queries. The format follows the real documents in
`../shared/data/petitions/` plus the keys today's e-petitions adds where this site holds the data
(`closing_date`, `debate_scheduled_on`, `other_parliamentary_business[].occurred_on`). Nothing about signers
is exposed; the creator's name only while the petition is open, as the reference does.
"""

import datetime
import json
from itertools import groupby

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from .markdown import markdown_text
from .models import (
    PUBLISHED_STATES,
    VISIBLE_STATES,
    ConstituencyPetitionJournal,
    CountryPetitionJournal,
    Petition,
    PetitionState,
    Signature,
    SiteSettings,
)

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
    """Publicly cacheable for one tally interval (stale for two more while revalidating), readable from any
    origin."""
    response["Cache-Control"] = f"public, max-age={interval}, stale-while-revalidate={2 * interval}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def api_json_response(document: dict) -> HttpResponse:
    body = json.dumps(document, ensure_ascii=False).translate(_JSON_ESCAPES)
    return HttpResponse(body.encode(), content_type="application/json; charset=utf-8")


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


def petition_creator_name_for_api(*, petition: Petition) -> str | None:
    return Signature.objects.filter(petition=petition, creator=True).values_list("name", flat=True).first()


def petition_debate_outcome_for_api(*, petition: Petition):
    """The latest debate with an outcome (debated or not) among the petition's parliamentary events."""
    from debates.models import DEBATE_KINDS, ParliamentaryEvent

    return (
        ParliamentaryEvent.objects.filter(petitions=petition, kind__in=DEBATE_KINDS)
        .exclude(outcome="")
        .order_by("-starts_at", "-pk")
        .first()
    )


def petition_country_tallies_for_api(*, petition: Petition) -> list[CountryPetitionJournal]:
    return list(
        CountryPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .select_related("country")
        .order_by("country__name", "country__code")
    )


def petition_constituency_tallies_for_api(*, petition: Petition) -> list[ConstituencyPetitionJournal]:
    return list(
        ConstituencyPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .select_related("constituency__region")
        .order_by("constituency__gss_code")
    )


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


def signatures_by_region(constituency_tallies: list[ConstituencyPetitionJournal]) -> list[dict]:
    """Regions (letter codes A–N, as the reference) summed from the constituency tallies: no query."""
    by_region = sorted(constituency_tallies, key=lambda j: j.constituency.region.api_code)
    return [
        {
            "name": region.name,
            "ons_code": region.api_code,
            "signature_count": sum(j.signature_count for j in group),
        }
        for region, group in groupby(by_region, key=lambda j: j.constituency.region)
    ]


def petition_attributes(petition: Petition, *, petition_page: bool) -> dict:
    """The `attributes` of e-petitions' petition object. `petition_page` adds the signature breakdowns and other
    parliamentary business, for published petitions on their own document (not in lists)."""
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
        "creator_name": petition_creator_name_for_api(petition=petition) if is_open else None,
        "rejection": {"code": rejection.reason.code, "details": rejection.details} if rejection else None,
        "government_response": government_response_attributes(response),
        "debate": debate_attributes(petition_debate_outcome_for_api(petition=petition)),
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
                    "name": j.constituency.name,
                    "ons_code": j.constituency.gss_code,
                    "mp": mp_display_name(j.constituency.mp_name),
                    "signature_count": j.signature_count,
                }
                for j in constituencies
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
