"""Public pages for MPs' offices: an event with its petitions' signatures from a chosen constituency, the list of
constituencies with a postcode search, and one constituency's petitions and upcoming debates (page and JSON)."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from petitions.api import api_cache_headers, api_datetime, api_json_response, mp_display_name
from petitions.models import SiteSettings

from . import constituency_selectors as selectors
from .forms_constituencies import ConstituencyPetitionsForm, EventConstituencyForm, PostcodeSearchForm

PETITIONS_PER_PAGE = 50


@require_safe
def event_detail(request, event_id: int):
    event = selectors.event_get_for_page(event_id=event_id)
    if event is None:
        raise Http404("No such event")
    form = EventConstituencyForm(request.GET or None, groups=selectors.constituencies_by_region())
    constituency = form.chosen
    now = timezone.now()
    return render(
        request,
        "debates/event.html",
        {
            "event": event,
            "form": form,
            "constituency": constituency,
            "petitions": selectors.event_public_petitions(event=event, constituency=constituency),
            "links": selectors.event_links(event),
            "evidence_url": selectors.parliament_link(event.evidence_url),
            "now": now,
            "nav_section": "debates",
        },
    )


@require_safe
def constituency_index(request):
    form = PostcodeSearchForm(request.GET if "postcode" in request.GET else None)
    if form.is_bound and form.is_valid():
        return redirect("debates_constituencies:detail", gss_code=form.constituency_code)
    return render(
        request,
        "constituencies/index.html",
        {"form": form, "groups": selectors.constituencies_by_region(), "nav_section": "debates"},
    )


def _constituency_or_redirect(request, gss_code: str, url_name: str):
    """(constituency, None), or (None, a redirect to the upper-case code). Unknown codes are a 404."""
    constituency = selectors.constituency_get(gss_code=gss_code)
    if constituency is None:
        raise Http404("No such constituency")
    if constituency.gss_code != gss_code:
        url = reverse(url_name, kwargs={"gss_code": constituency.gss_code})
        query = request.META.get("QUERY_STRING", "")
        return None, redirect(f"{url}?{query}" if query else url, permanent=True)
    return constituency, None


def _ranking_page(request, constituency):
    form = ConstituencyPetitionsForm(request.GET)
    ranking = selectors.constituency_petition_ranking(constituency=constituency, open_only=form.open_only)
    page = Paginator(ranking, PETITIONS_PER_PAGE).get_page(request.GET.get("page"))
    return form, page, selectors.ranking_rows(page)


@require_safe
def constituency_detail(request, gss_code: str):
    constituency, response = _constituency_or_redirect(request, gss_code, "debates_constituencies:detail")
    if response is not None:
        return response
    form, page, rows = _ranking_page(request, constituency)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "constituencies/detail.html",
        {
            "constituency": constituency,
            "party_colour": selectors.party_colour(constituency),
            "form": form,
            "page_obj": page,
            "rows": rows,
            "base_query": query.urlencode(),
            "upcoming": selectors.constituency_upcoming_events(constituency=constituency, now=timezone.now()),
            "upcoming_petitions": selectors.UPCOMING_PETITIONS,
            "nav_section": "debates",
        },
    )


def _page_url(constituency, state: str, number: int) -> str:
    url = settings.SITE_URL + reverse(
        "debates_constituencies:detail_json", kwargs={"gss_code": constituency.gss_code}
    )
    return f"{url}?state={state}&page={number}"


@require_safe
def constituency_detail_json(request, gss_code: str):
    """The constituency page as JSON, with the same `state` and `page` parameters (an invalid `state` means
    open petitions, as on the page). Publicly cacheable for one tally interval."""
    constituency, response = _constituency_or_redirect(
        request, gss_code, "debates_constituencies:detail_json"
    )
    if response is not None:
        return response
    form, page, rows = _ranking_page(request, constituency)
    upcoming = selectors.constituency_upcoming_events(constituency=constituency, now=timezone.now())
    site_url = settings.SITE_URL
    links = {"self": _page_url(constituency, form.chosen_state, page.number)}
    links["prev"] = (
        _page_url(constituency, form.chosen_state, page.previous_page_number())
        if page.has_previous()
        else None
    )
    links["next"] = (
        _page_url(constituency, form.chosen_state, page.next_page_number()) if page.has_next() else None
    )
    document = {
        "links": links,
        "data": {
            "type": "constituency",
            "id": constituency.gss_code,
            "attributes": {
                "name": constituency.name,
                "ons_code": constituency.gss_code,
                "region": constituency.region.name,
                "mp": mp_display_name(constituency.mp_name),
                "party": constituency.party or None,
                "petitions": [
                    {
                        "id": row.petition.pk,
                        "action": row.petition.action,
                        "state": row.petition.state,
                        "signature_count": row.petition.signature_count,
                        "constituency_signature_count": row.constituency_signature_count,
                        "url": site_url + row.petition.get_absolute_url(),
                    }
                    for row in rows
                ],
                "upcoming_debates": [
                    {
                        "id": item.event.pk,
                        "kind": item.event.kind,
                        "title": item.event.title,
                        "starts_at": api_datetime(item.event.starts_at),
                        "place": item.event.place,
                        "url": site_url + reverse("debates_constituencies:event", args=[item.event.pk]),
                        "petition_ids": [petition.pk for petition in item.petitions],
                    }
                    for item in upcoming
                ],
            },
        },
    }
    return api_cache_headers(
        api_json_response(document), interval=SiteSettings.cached().signature_count_interval
    )
