"""Data for a petition's "Show on a map" page (templates/petitions/map.html).

Everything is chosen with GET parameters, so the page works without JavaScript: `view` (hex, geographic),
`measure` (count, share: signatures as a percentage of the electorate), `sort` for the table (signatures,
share, name) and `postcode` to highlight the constituency it is in. Unknown values fall back to the defaults;
a bad postcode is a form error.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode

from django import forms
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from . import maps
from .forms import GovukForm, gb_postcode_lookup, postcode_field
from .models import ConstituencyPetitionJournal, Petition

HEX, GEOGRAPHIC = "hex", "geographic"
VIEWS = ((HEX, "Hex map"), (GEOGRAPHIC, "Geographic map"))
MEASURES = ((maps.COUNT, "Number of signatures"), (maps.SHARE, "Share of the electorate"))
BY_SIGNATURES, BY_SHARE, BY_NAME = "signatures", "share", "name"
SORTS = (BY_SIGNATURES, BY_SHARE, BY_NAME)
DEFAULTS = {"view": HEX, "measure": maps.COUNT, "sort": BY_SIGNATURES}

NORTHERN_IRELAND_MESSAGE = (
    "We do not have postcode data for Northern Ireland. Find your constituency in the table below the map"
)
BFPO_MESSAGE = "British Forces Post Office (BFPO) addresses are not in a UK constituency"


def not_found_message(postcode: str) -> str:
    return f"We could not find a constituency for {postcode}. Check the postcode and try again"


class MapPostcodeForm(GovukForm):
    """The postcode whose constituency the map highlights. After `is_valid()`, `cleaned_data["postcode"]` is
    the normalised postcode and `gss_code` its constituency."""

    postcode = postcode_field("Find a constituency by postcode")

    gss_code: str | None = None

    def clean_postcode(self) -> str:
        found = gb_postcode_lookup(
            self.cleaned_data["postcode"], northern_ireland=NORTHERN_IRELAND_MESSAGE, bfpo=BFPO_MESSAGE
        )
        if found.gss_code is None or found.gss_code not in maps.load_hexjson()["hexes"]:
            raise forms.ValidationError(not_found_message(found.postcode), code="not_found")
        self.gss_code = found.gss_code
        return found.postcode


@dataclass
class Row:
    """A constituency with signatures, for the table. Texts are formatted here rather than with template
    filters: the table can have 650 rows."""

    gss_code: str
    name: str
    mp_name: str
    party: str
    region: str
    signature_count: int
    electorate: int | None
    url: str = ""
    #: Signatures as a percentage of the electorate, None without an electorate figure.
    share: float | None = field(init=False)
    #: "1.7" (per cent), or "" without an electorate figure.
    share_text: str = field(init=False)
    signature_count_text: str = field(init=False)
    electorate_text: str = field(init=False)

    def __post_init__(self):
        self.share = 100.0 * self.signature_count / self.electorate if self.electorate else None
        self.share_text = maps.percent_text(self.share) if self.share is not None else ""
        self.signature_count_text = f"{self.signature_count:,}"
        self.electorate_text = f"{self.electorate:,}" if self.electorate else ""


_ROW_HTML = (
    '<tr class="govuk-table__row">'
    '<th scope="row" class="govuk-table__header"><a class="govuk-link" href="{url}">{name}</a>{tag}</th>'
    '<td class="govuk-table__cell">{mp}{party}</td>'
    '<td class="govuk-table__cell">{region}</td>'
    '<td class="govuk-table__cell govuk-table__cell--numeric app-tabular-numbers">{count}</td>'
    '<td class="govuk-table__cell govuk-table__cell--numeric app-tabular-numbers">{electorate}</td>'
    '<td class="govuk-table__cell govuk-table__cell--numeric app-tabular-numbers">{share}</td>'
    "</tr>\n"
)


def table_rows_html(rows: list[Row], *, highlight: dict | None = None) -> SafeString:
    """The table's `<tr>`s. Built here rather than in a template loop (or with format_html), which take tens
    of milliseconds for 650 rows; every value is escaped with html.escape."""
    marked = highlight["gss_code"] if highlight else None
    tag = (
        f' <strong class="govuk-tag govuk-tag--grey">{escape(highlight["postcode"])}</strong>'
        if marked
        else ""
    )
    return mark_safe(  # noqa: S308 - every value is escaped
        "".join(
            _ROW_HTML.format(
                url=escape(row.url),
                name=escape(row.name),
                tag=tag if row.gss_code == marked else "",
                mp=escape(row.mp_name or "No MP"),
                party=f'<br><span class="govuk-body-s">{escape(row.party)}</span>' if row.party else "",
                region=escape(row.region),
                count=row.signature_count_text,
                electorate=row.electorate_text or "Not known",
                share=f"{row.share_text}%" if row.share_text else "Not known",
            )
            for row in rows
        )
    )


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    current: bool
    key: str = ""


def _choice(query: Mapping, name: str, allowed) -> str:
    value = query.get(name)
    return value if value in allowed else DEFAULTS[name]


def _sorted(rows: list[Row], sort: str) -> list[Row]:
    if sort == BY_NAME:
        return sorted(rows, key=lambda r: r.name)
    if sort == BY_SHARE:
        return sorted(rows, key=lambda r: (r.share is None, -(r.share or 0), r.name))
    return rows  # the query's order: most signatures first


def petition_map_context(*, petition: Petition, query: Mapping | None = None) -> dict:
    """Template context for the map page of `petition`, from the page's GET parameters `query`. One query.

    `rows` lists every constituency with signatures (the accessible alternative to the map), most
    signatures first unless `sort` says otherwise. `svg` is the chosen map; `legend` its colour bins.
    """
    query = query if query is not None else {}
    view = _choice(query, "view", dict(VIEWS))
    measure = _choice(query, "measure", dict(MEASURES))
    sort = _choice(query, "sort", SORTS)
    form = MapPostcodeForm(query if "postcode" in query else None)
    highlight_code = form.gss_code if form.is_bound and form.is_valid() else None

    journals = (
        ConstituencyPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .order_by("-signature_count", "constituency__name")
        .values_list(
            "constituency__gss_code",
            "constituency__name",
            "constituency__mp_name",
            "constituency__party",
            "constituency__region__name",
            "signature_count",
            "constituency__electorate",
        )
    )
    # One reverse() for the table's links rather than one per row (GSS codes are letters and digits).
    placeholder = "GSSCODE"
    constituency_url = reverse("debates_constituencies:detail", args=[placeholder])
    rows = [Row(*values, url=constituency_url.replace(placeholder, values[0])) for values in journals]
    counts = {row.gss_code: row.signature_count for row in rows}
    electorates = {row.gss_code: row.electorate for row in rows}
    if measure == maps.SHARE:
        bins = maps.share_legend(maps.shares_of_electorate(counts, electorates))
    else:
        bins = maps.legend(counts)

    what = " as a share of the electorate" if measure == maps.SHARE else ""
    kind = "Hex map" if view == HEX else "Map"
    title = (
        f"{kind} of signatures by constituency{what} for the petition \u201c{petition.action}\u201d."
        " The table below lists the same figures."
    )
    render_svg = maps.geo_map_svg if view == GEOGRAPHIC else maps.hex_map_svg
    # The renderers escape every name and the title itself, so the markup is safe.
    svg: SafeString = mark_safe(  # noqa: S308
        render_svg(
            counts, title=title, bins=bins, electorates=electorates, measure=measure, highlight=highlight_code
        )
    )

    # Links keep the other choices; defaults are left out to keep addresses short.
    state = {"view": view, "measure": measure, "sort": sort}
    if highlight_code:
        state["postcode"] = form.cleaned_data["postcode"]

    path = reverse("petitions:map", args=[petition.pk])

    def url(**changes: str) -> str:
        params = urlencode({k: v for k, v in {**state, **changes}.items() if v and DEFAULTS.get(k) != v})
        return f"{path}?{params}" if params else path

    highlight = None
    if highlight_code:
        row = next((r for r in rows if r.gss_code == highlight_code), None)
        highlight = {
            "postcode": form.cleaned_data["postcode"],
            "gss_code": highlight_code,
            "name": maps.load_hexjson()["hexes"][highlight_code].get("n", highlight_code),
            "signature_count": row.signature_count if row else 0,
            "share_text": row.share_text if row else "",
        }

    sorted_rows = _sorted(rows, sort)
    return {
        "petition": petition,
        "view": view,
        "measure": measure,
        "sort": sort,
        "views": [Link(label, url(view=key), key == view, key) for key, label in VIEWS],
        "measures": [Link(label, url(measure=key), key == measure, key) for key, label in MEASURES],
        "sorts": {key: Link(key, url(sort=key) + "#constituency-table", key == sort, key) for key in SORTS},
        "hidden_fields": {k: v for k, v in state.items() if k != "postcode" and DEFAULTS.get(k) != v},
        "form": form,
        "highlight": highlight,
        "svg": svg,
        "legend": bins,
        "rows": sorted_rows,
        "rows_html": table_rows_html(sorted_rows, highlight=highlight),
        "missing_electorates": sum(1 for row in rows if not row.electorate),
    }
