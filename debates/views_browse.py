"""`/debates`: every parliamentary event, filtered and sorted (debates/filters.py), and the same rows as CSV
and JSON.

The page shows 25 events a page. The downloads hold every matching row, in the page's order, up to
EXPORT_LIMIT (5,000) rows: past that, the JSON says `"truncated": true` and both stop at the limit. Invalid
filters are listed on the page (and left out of the results); the downloads answer 400 with the same messages.
Only public petitions (open, closed, rejected) are ever shown, counted or matched.
"""

import csv

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from petitions.api import api_datetime, api_json_response
from petitions.markdown import markdown_text
from petitions.templatetags.petition_tags import clock_time, day_date

from .filters import LONDON, EventFilter
from .selectors import constituency_signature_counts, events_browsed

EVENTS_PER_PAGE = 25
EXPORT_LIMIT = 5_000
#: Seconds browsers and proxies may keep a download.
DOWNLOAD_MAX_AGE = 300
#: Spreadsheet programs run a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EVENT_LINK_FIELDS = (
    "more_info_url",
    "evidence_url",
    "transcript_url",
    "video_url",
    "debate_pack_url",
    "public_engagement_url",
    "debate_summary_url",
)


def event_path(event_id: int) -> str:
    """The event's own page (built by the constituencies module); its fixed path until that URL exists."""
    try:
        return reverse("debates_constituencies:event", args=[event_id])
    except NoReverseMatch:
        return f"/debates/{event_id}"


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def starts_at_text(event) -> str:
    """Tuesday 21 March 2023 at 2.30pm (London time), as the petitions site writes it."""
    return f"{day_date(event.starts_at)} at {clock_time(event.starts_at)}"


def public_link(url: str) -> str:
    """Staff-entered links are validated as https on allowed hosts when saved; never emit anything else."""
    return url if url.lower().startswith("https://") else ""


def query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def filter_errors_response(events: EventFilter, *, as_json: bool) -> HttpResponse:
    """400 with every invalid filter's message, for the downloads (the page shows them on its form)."""
    errors = events.error_list()
    if as_json:
        response = api_json_response(
            {"errors": [{"parameter": name, "detail": text} for name, text in errors]}
        )
    else:
        body = "There is a problem with the filters:\n" + "".join(
            f"- {name}: {text}\n" for name, text in errors
        )
        response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response.status_code = 400
    response["Access-Control-Allow-Origin"] = "*"
    return response


def download_headers(response: HttpResponse, *, filename: str | None = None) -> HttpResponse:
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = f"public, max-age={DOWNLOAD_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def exported(events: EventFilter) -> tuple[list, bool]:
    """The filtered events in order, at most EXPORT_LIMIT, and whether there were more (two queries)."""
    rows = list(events.qs[: EXPORT_LIMIT + 1])
    return rows[:EXPORT_LIMIT], len(rows) > EXPORT_LIMIT


# --- The page ------------------------------------------------------------------------------------------------------


@require_safe
def event_list(request):
    now = timezone.now()
    events = EventFilter(request.GET, queryset=events_browsed(), now=now)
    page = Paginator(events.qs, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page)
    constituency = events.chosen_constituency
    counts = {}
    if constituency is not None and rows:
        counts = constituency_signature_counts(
            constituency=constituency, petition_ids=[p.pk for e in rows for p in e.public_petitions]
        )
    for event in rows:
        event.page_url = event_path(event.pk)
        for petition in event.public_petitions:
            petition.constituency_signature_count = counts.get(petition.pk, 0)
    base_query = query_without_page(request)
    # The downloads leave out the filters the page left out, so they hold the rows the page lists.
    valid_query = request.GET.copy()
    for name in ("page", *events.form.errors):
        valid_query.pop(name, None)
    suffix = f"?{valid_query.urlencode()}" if valid_query else ""
    return render(
        request,
        "debates/list.html",
        {
            "form": events.form,
            "page_obj": page,
            "events": rows,
            "constituency": constituency,
            "base_query": base_query,
            "downloads": {
                "csv": reverse("debates_browse:list_csv") + suffix,
                "json": reverse("debates_browse:list_json") + suffix,
                "ics": reverse("debates_browse:calendar") + suffix,
                "atom": reverse("debates_browse:feed"),
            },
            "export_limit": EXPORT_LIMIT,
            "nav_section": "debates",
        },
    )


# --- CSV ----------------------------------------------------------------------------------------------------------

CSV_HEADER = [
    "id",
    "url",
    "type",
    "title",
    "date",
    "time",
    "starts_at",
    "place",
    "lead",
    "department",
    "outcome",
    "petition_ids",
    "petitions",
    "signature_counts",
]


def csv_safe(value) -> str:
    """The cell as text, with a ' in front if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_row(event) -> list[str]:
    local = timezone.localtime(event.starts_at, LONDON)
    petitions = event.public_petitions
    return [
        csv_safe(cell)
        for cell in (
            event.pk,
            absolute(event_path(event.pk)),
            event.get_kind_display(),
            event.title,
            local.date().isoformat(),
            local.strftime("%H:%M"),
            api_datetime(event.starts_at),
            event.place,
            event.lead,
            event.department.name if event.department else "",
            event.get_outcome_display() if event.outcome else "",
            "\n".join(str(p.pk) for p in petitions),
            "\n".join(p.action for p in petitions),
            "\n".join(str(p.signature_count) for p in petitions),
        )
    ]


@require_safe
def event_list_csv(request):
    """The filtered events as CSV: one row each, petitions as line-separated lists in three aligned cells."""
    events = EventFilter(request.GET, queryset=events_browsed())
    if not events.is_valid():
        return filter_errors_response(events, as_json=False)
    rows, _truncated = exported(events)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response.write("\ufeff")  # so Excel reads the file as UTF-8
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_row(event) for event in rows)
    return download_headers(response, filename=f"debates-{timezone.localdate():%Y-%m-%d}.csv")


# --- JSON ---------------------------------------------------------------------------------------------------------


def event_data(event) -> dict:
    """One event in the API's style: type, id, links, attributes."""
    url = absolute(event_path(event.pk))
    department = event.department
    return {
        "type": "debate",
        "id": event.pk,
        "links": {"self": url},
        "attributes": {
            "kind": event.kind,
            "kind_name": event.get_kind_display(),
            "title": event.title,
            "summary": markdown_text(event.summary),
            "starts_at": api_datetime(event.starts_at),
            "place": event.place,
            "lead": event.lead or None,
            "department": {"acronym": department.acronym, "name": department.name} if department else None,
            "evidence_deadline": api_datetime(event.evidence_deadline),
            "outcome": event.outcome or None,
            "outcome_reason": event.outcome_reason if event.outcome == "not_debated" else None,
            "outcome_at": api_datetime(event.outcome_at),
            "links": {field: public_link(getattr(event, field)) for field in EVENT_LINK_FIELDS},
            "petitions": [
                {
                    "id": petition.pk,
                    "action": petition.action,
                    "signature_count": petition.signature_count,
                    "url": absolute(petition.get_absolute_url()),
                }
                for petition in event.public_petitions
            ],
        },
    }


@require_safe
def event_list_json(request):
    """The filtered events as JSON, in the order of the page, all pages up to EXPORT_LIMIT."""
    events = EventFilter(request.GET, queryset=events_browsed())
    if not events.is_valid():
        return filter_errors_response(events, as_json=True)
    rows, truncated = exported(events)
    query = query_without_page(request)
    document = {
        "links": {"self": absolute(reverse("debates_browse:list_json")) + (f"?{query}" if query else "")},
        "meta": {"count": len(rows), "limit": EXPORT_LIMIT, "truncated": truncated},
        "data": [event_data(event) for event in rows],
    }
    return download_headers(api_json_response(document))
