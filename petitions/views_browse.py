"""`/petitions` (browse and search), `/petitions.csv` (the same rows) and `/petitions/local` (the petitions most
signed in a postcode's constituency). The reads are in petitions/browse.py.

The page shows 50 petitions a page, in a fixed number of queries whatever their number: the site notices, the
topics and departments (the filter choices), the facet counts (one query, which also gives the page count) and
the page's rows. Invalid filters are listed in a GOV.UK error summary and left out; an unknown facet is "all".
Search terms that are only a number open the public petition with that number, if there is one.

The CSV holds every matching petition in the page's order, up to CSV_LIMIT rows, with the reference's columns
(Petition, URL, State, Signatures Count); each cell that a spreadsheet would run as a formula gets a ' in front.
"""

import csv

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from . import browse
from .forms_browse import LocalPetitionsForm, PetitionSearchForm
from .models import Petition

PETITIONS_PER_PAGE = 50
#: The CSV stops after this many rows (the page says so next to the link).
CSV_LIMIT = 10_000
CSV_FILENAME = "filtered-petitions.csv"
CSV_HEADER = ["Petition", "URL", "State", "Signatures Count"]
#: Seconds browsers and proxies may keep a download.
DOWNLOAD_MAX_AGE = 300
#: Spreadsheet programs run a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Petition numbers are 64-bit: a longer run of digits is searched for as text, never looked up.
PETITION_NUMBER_MAX_DIGITS = 18
LOCAL_LIMIT = 50

#: What the list needs of each petition (never the long texts or the search vector).
LIST_FIELDS = (
    "id",
    "action",
    "state",
    "signature_count",
    "created_at",
    "opened_at",
    "deadline_at",
    "closed_at",
    "rejected_at",
    "response_state",
    "debate_state",
    "response_threshold_reached_at",
    "government_response_at",
    "debate_threshold_reached_at",
    "scheduled_debate_date",
    "debate_outcome_at",
)


class CountedPaginator(Paginator):
    """A paginator told its count (the facet count already read), so it makes no count query."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self.count = count


def _search_form(request) -> PetitionSearchForm:
    return PetitionSearchForm(
        request.GET, topics=browse.topics_listed(), departments=browse.departments_listed()
    )


def _browsed(form: PetitionSearchForm):
    return browse.petitions_browse(
        state=form.facet, q=form.query, topic=form.chosen_topic, department=form.chosen_department
    )


def _petition_number(query: str) -> int | None:
    if query.isascii() and query.isdigit() and len(query) <= PETITION_NUMBER_MAX_DIGITS:
        return int(query)
    return None


def _url(name: str, params: dict) -> str:
    return reverse(name) + (f"?{urlencode(params)}" if params else "")


@require_safe
def petition_index(request):
    form = _search_form(request)
    form.is_valid()
    number = _petition_number(form.query)
    if number is not None and Petition.objects.visible().filter(pk=number).exists():
        return redirect("petitions:detail", petition_id=number)
    facet = form.facet
    params = form.valid_params()
    counts = browse.facet_counts(form.query, topic=form.chosen_topic, department=form.chosen_department)
    petitions = _browsed(form).only(*LIST_FIELDS)
    page = CountedPaginator(petitions, PETITIONS_PER_PAGE, count=counts[facet]).get_page(
        request.GET.get("page")
    )
    others = {key: value for key, value in params.items() if key != "state"}
    facets = [
        {
            "slug": slug,
            "label": label,
            "count": counts[slug],
            "url": _url(
                "petitions_browse:index",
                others if slug == browse.DEFAULT_FACET else {**others, "state": slug},
            ),
            "current": slug == facet,
        }
        for slug, label in browse.FACETS
    ]
    return render(
        request,
        "petitions/index.html",
        {
            "form": form,
            "facet": facet,
            "facet_label": browse.FACET_LABELS[facet],
            "facets": facets,
            "query": form.query,
            "page_obj": page,
            "petitions": list(page),
            "base_query": urlencode(params),
            "csv_url": _url("petitions_browse:csv", params),
            "json_url": _url("petitions_api:list", params),
            "csv_limit": CSV_LIMIT,
            "now": timezone.now(),
            "nav_section": "petitions",
        },
    )


# --- CSV ---------------------------------------------------------------------------------------------------------


def csv_safe(value) -> str:
    """The cell as text, with a ' in front if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value):
        return value


@require_safe
def petition_index_csv(request):
    form = _search_form(request)
    if not form.is_valid():
        body = "There is a problem with the filters:\n" + "".join(
            f"- {name}: {error}\n" for name, errors in form.errors.items() for error in errors
        )
        return HttpResponse(body, status=400, content_type="text/plain; charset=utf-8")
    rows = _browsed(form).values_list("id", "action", "state", "signature_count")[:CSV_LIMIT]
    writer = csv.writer(_Echo())
    lines = [writer.writerow(CSV_HEADER)]
    for petition_id, action, state, signature_count in rows:
        url = f"{settings.SITE_URL}/petitions/{petition_id}"
        lines.append(writer.writerow([csv_safe(cell) for cell in (action, url, state, signature_count)]))
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{CSV_FILENAME}"'
    response["Cache-Control"] = f"public, max-age={DOWNLOAD_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


CONSTITUENCY_CSV_HEADER = ["Constituency", "ONS code", "MP", "Region", "Signatures"]


@require_safe
def petition_constituencies_csv(request, petition_id: int):
    """`/petitions/<id>/constituencies.csv`: the petition's signatures by constituency, from the tallies (only
    constituencies with signatures, by ONS code), for a petition the public can see; 404 / 410 as its JSON."""
    from .api import petition_api_status, petition_constituency_tallies_for_api

    petition = Petition.objects.filter(pk=petition_id).only("id", "state", "opened_at").first()
    status = petition_api_status(petition)
    if status == 410:
        return render(request, "410.html", {"petition": petition}, status=410)
    if status != 200:
        raise Http404("No such petition")
    writer = csv.writer(_Echo())
    lines = [writer.writerow(CONSTITUENCY_CSV_HEADER)]
    for tally in petition_constituency_tallies_for_api(petition=petition):
        mp = f"{tally.mp_name} MP" if tally.mp_name else ""
        cells = (tally.name, tally.gss_code, mp, tally.region_name, tally.signature_count)
        lines.append(writer.writerow([csv_safe(cell) for cell in cells]))
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="petition-{petition.pk}-constituencies.csv"'
    response["Cache-Control"] = f"public, max-age={DOWNLOAD_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


# --- Local petitions ---------------------------------------------------------------------------------------------


@require_safe
def local_petitions(request):
    form = LocalPetitionsForm(request.GET if "postcode" in request.GET else None)
    constituency = form.constituency if form.is_bound and form.is_valid() else None
    petitions = []
    if constituency is not None:
        petitions = browse.petitions_popular_in_constituency(
            constituency=constituency, open_only=form.open_only, limit=LOCAL_LIMIT
        )
    return render(
        request,
        "petitions/local.html",
        {
            "form": form,
            "constituency": constituency,
            "petitions": petitions,
            "open_only": form.open_only,
            "postcode": form.cleaned_data["postcode"] if constituency is not None else "",
            "limit": LOCAL_LIMIT,
            "nav_section": "petitions",
        },
    )
