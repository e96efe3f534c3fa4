"""The maps of signatures by constituency (petitions/maps.py, petitions/map_data.py, /petitions/<id>/map)."""

import re
import statistics
import time
import xml.etree.ElementTree as ET

import pytest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from petitions import maps
from petitions.map_data import (
    BFPO_MESSAGE,
    NORTHERN_IRELAND_MESSAGE,
    Row,
    not_found_message,
    petition_map_context,
    table_rows_html,
)
from petitions.models import Constituency, ConstituencyPetitionJournal, Petition, PetitionState
from petitions.postcodes import INVALID_MESSAGE
from tests.conftest import SITE_NOTICES

SVG = "{http://www.w3.org/2000/svg}"
ABERAFAN_MAESTEG = "W07000081"
CITIES_OF_LONDON = "E14001172"  # SW1A 1AA


def _svg_root(html: str) -> ET.Element:
    """The map's <svg> element, parsed from a page or from the SVG itself."""
    start = html.index('<svg xmlns="http://www.w3.org/2000/svg" class="app-hex-map"')
    return ET.fromstring(html[start : html.index("</svg>", start) + len("</svg>")])  # noqa: S314 - our own output


def _shapes(svg: str) -> list[ET.Element]:
    return _svg_root(svg).findall(f"./{SVG}g/{SVG}path")


def _title(path: ET.Element) -> str:
    return path.find(f"{SVG}title").text


def _centre_y(path: ET.Element) -> float:
    # "M{cx} {top_y}l..." : the first point is the top vertex.
    return float(re.match(r"M(-?[\d.]+) (-?[\d.]+)", path.get("d")).group(2)) + maps.HEX_SIZE


def _by_code(svg: str, prefix: str = "app-hex-map") -> dict[str, ET.Element]:
    return {p.get("id").removeprefix(f"{prefix}-"): p for p in _shapes(svg)}


def _by_name(svg: str) -> dict[str, ET.Element]:
    return {_title(p).rsplit(":", 1)[0]: p for p in _shapes(svg)}


def _band_colour(bins: list[maps.LegendBin], value: float) -> str:
    """The colour a value should get, worked out from the legend as a reader would."""
    if value <= 0:
        return bins[0].colour
    coloured = bins[1:]
    for here, following in zip(coloured, coloured[1:], strict=False):
        if value < following.lower:
            return here.colour
    return coloured[-1].colour


HEXES = maps.load_hexjson()["hexes"]
CODES = list(HEXES)


# --- Hex map geometry -----------------------------------------------------------------------------------


def test_svg_is_xml_with_650_titled_hexes():
    svg = maps.hex_map_svg({}, title="Signatures by constituency")
    root = ET.fromstring(svg)  # noqa: S314
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title_id = root.get("aria-labelledby")
    title = root.find(f"{SVG}title")
    assert title.get("id") == title_id
    assert title.text == "Signatures by constituency"
    assert "style" not in svg  # strict CSP
    hexes = _shapes(svg)
    assert len(hexes) == 650
    assert set(_by_code(svg)) == set(HEXES)
    for path in hexes:
        assert _title(path).endswith(": 0 signatures")
        assert path.get("fill") == maps.ZERO_COLOUR
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    assert width > 0
    assert height > width  # Great Britain is taller than it is wide


def test_scotland_is_above_england_and_cornwall_at_the_bottom():
    svg = maps.hex_map_svg({}, title="Map")
    ys = {name: _centre_y(path) for name, path in _by_name(svg).items()}
    names = {code: h["n"] for code, h in HEXES.items()}
    scotland = statistics.mean(ys[n] for c, n in names.items() if c.startswith("S14"))
    england = statistics.mean(ys[n] for c, n in names.items() if c.startswith("E14"))
    assert scotland < england  # SVG y grows downwards
    assert ys["Orkney and Shetland"] == min(ys.values())
    cornwall = ys["St Ives"]
    assert cornwall > statistics.mean(ys.values())
    assert cornwall > max(ys[n] for c, n in names.items() if c.startswith("S14"))


# --- Colours and legend ----------------------------------------------------------------------------------


def test_fills_follow_the_bins():
    counts = {code: 10 + i % 50 for i, code in enumerate(CODES)}
    busiest, empty = CODES[0], CODES[1]
    counts[busiest] = 100_000
    counts[empty] = 0
    svg = maps.hex_map_svg(counts, title="Map")
    by_code = _by_code(svg)
    assert by_code[busiest].get("fill") == maps.PALETTE[-1]
    assert _title(by_code[busiest]) == f"{HEXES[busiest]['n']}: 100,000 signatures"
    assert by_code[empty].get("fill") == maps.ZERO_COLOUR
    used = {p.get("fill") for p in _shapes(svg)}
    assert used == {maps.ZERO_COLOUR, *maps.PALETTE}  # a spread of counts uses every colour
    bins = maps.legend(counts)
    for code, path in by_code.items():
        assert path.get("fill") == _band_colour(bins, counts[code]), code


def test_chosen_counts_land_in_their_bands():
    # 100 constituencies at 1..100 signatures: bands start at the 1/6, 2/6... quantiles (17, 34, 51, 67, 84).
    counts = {code: i + 1 for i, code in enumerate(CODES[:100])}
    bins = maps.legend(counts)
    bands = [(b.lower, b.upper) for b in bins]
    assert bands == [(0, 0), (1, 16), (17, 33), (34, 50), (51, 66), (67, 83), (84, 100)]
    assert [b.label for b in bins][:3] == ["No signatures", "1 to 16", "17 to 33"]
    assert [b.constituencies for b in bins] == [550, 16, 17, 17, 16, 17, 17]
    by_code = _by_code(maps.hex_map_svg(counts, title="Map"))
    chosen = {
        1: maps.PALETTE[0],
        16: maps.PALETTE[0],
        17: maps.PALETTE[1],
        50: maps.PALETTE[2],
        100: maps.PALETTE[5],
    }
    for count, colour in chosen.items():
        assert by_code[CODES[count - 1]].get("fill") == colour
    assert by_code[CODES[100]].get("fill") == maps.ZERO_COLOUR


def test_legend_bins_are_ascending_and_cover_the_counts():
    counts = {code: (i * 37) % 1000 for i, code in enumerate(CODES)}
    bins = maps.legend(counts)
    assert bins[0].label == "No signatures"
    assert bins[0].colour == maps.ZERO_COLOUR
    assert [b.colour for b in bins[1:]] == list(maps.PALETTE)
    for lower, upper in zip(bins, bins[1:], strict=False):
        assert lower.upper < upper.lower
        assert upper.lower <= upper.upper
        assert upper.lower == lower.upper + 1
    assert bins[1].lower == 1
    assert bins[-1].upper == max(counts.values())
    assert sum(b.constituencies for b in bins) == 650


def test_legend_with_few_distinct_values_still_ends_darkest():
    code = CODES[0]
    assert maps.legend({}) == [maps.LegendBin(0, 0, maps.ZERO_COLOUR, "No signatures", 650)]
    bins = maps.legend({code: 1})
    assert [(b.lower, b.upper, b.colour) for b in bins[1:]] == [(1, 1, maps.PALETTE[-1])]
    assert bins[1].label == "1"
    svg = maps.hex_map_svg({code: 1}, title="Map")
    assert "1 signature<" in svg
    # Every constituency on the same count: one band, never an empty one below it.
    same = maps.legend(dict.fromkeys(CODES, 5))
    assert [(b.lower, b.upper, b.label) for b in same[1:]] == [(1, 5, "1 to 5")]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (17.0, "17"),
        (1.712, "1.7"),
        (0.0123, "0.012"),
        (0.00138, "0.0014"),
        (0.0996, "0.1"),
        (250.4, "250"),
        (0, "0"),
    ],
)
def test_percent_text(value, text):
    assert maps.percent_text(value) == text


def test_share_mode_colours_by_share_of_the_electorate_not_count():
    big, small = CODES[0], CODES[1]
    counts = {big: 1000, small: 100}
    electorates = {big: 100_000, small: 1_000}  # 1% and 10%
    shares = maps.shares_of_electorate(counts, electorates)
    assert shares == {big: 1.0, small: 10.0}
    by_count = _by_code(maps.hex_map_svg(counts, title="Map", electorates=electorates))
    by_share = _by_code(maps.hex_map_svg(counts, title="Map", electorates=electorates, measure=maps.SHARE))
    assert by_count[big].get("fill") == maps.PALETTE[-1]
    assert by_count[small].get("fill") == maps.PALETTE[0]
    assert by_share[small].get("fill") == maps.PALETTE[-1]
    assert by_share[big].get("fill") == maps.PALETTE[0]
    assert _title(by_share[big]) == f"{HEXES[big]['n']}: 1,000 signatures (1% of the electorate)"
    assert _title(by_share[small]) == _title(by_count[small])  # titles give both, whatever the colours
    assert _title(by_share[CODES[2]]) == f"{HEXES[CODES[2]]['n']}: 0 signatures"


def test_share_legend():
    electorates = dict.fromkeys(CODES, 70_000)
    counts = {code: 7 * (i + 1) for i, code in enumerate(CODES[:600])}  # 0.01% .. 6%
    counts[CODES[600]] = 3  # no electorate figure: no share, no colour
    del electorates[CODES[600]]
    shares = maps.shares_of_electorate(counts, electorates)
    bins = maps.share_legend(shares)
    assert bins[0].label == "No signatures"
    assert bins[0].constituencies == 50  # grey: 49 without signatures and 1 without an electorate figure
    assert [b.colour for b in bins[1:]] == list(maps.PALETTE)
    assert bins[1].label == "Under 1%"
    assert bins[2].label == "1% to under 2%"
    assert bins[-1].label == "5% or more"
    assert bins[-1].upper == pytest.approx(6.0)
    assert sum(b.constituencies for b in bins[1:]) == 600
    by_code = _by_code(maps.hex_map_svg(counts, title="Map", electorates=electorates, measure=maps.SHARE))
    for code, path in by_code.items():
        assert path.get("fill") == _band_colour(bins, shares.get(code, 0)), code
    assert by_code[CODES[600]].get("fill") == maps.ZERO_COLOUR
    assert _title(by_code[CODES[600]]).endswith(": 3 signatures")
    assert maps.share_legend({CODES[0]: 0.5})[1].label == "Up to 0.5%"


def test_names_and_title_are_escaped(monkeypatch):
    doc = {
        "layout": "odd-r",
        "hexes": {
            "E14000001": {"n": "<script>alert(1)</script> & Co", "q": 0, "r": 0},
            "E14000002": {"n": 'Quote"d', "q": 1, "r": -1},
        },
    }
    monkeypatch.setattr(maps, "load_hexjson", lambda: doc)
    svg = maps.hex_map_svg({"E14000001": 5}, title="<b>Title</b>")
    assert "<script>" not in svg
    assert "<b>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co: 5 signatures" in svg
    hexes = _shapes(svg)
    assert len(hexes) == 2
    titles = sorted(_title(p) for p in hexes)
    assert titles == ["<script>alert(1)</script> & Co: 5 signatures", 'Quote"d: 0 signatures']


def test_highlight_is_outlined_and_drawn_last():
    code = CODES[10]
    svg = maps.hex_map_svg({code: 3}, title="Map", highlight=code)
    shapes = _shapes(svg)
    assert len(shapes) == 650
    last = shapes[-1]
    assert last.get("id") == f"app-hex-map-{code}"
    assert last.get("class") == maps.HIGHLIGHT_CLASS
    assert last.get("stroke") == maps.HIGHLIGHT_COLOUR
    assert float(last.get("stroke-width")) > float(_svg_root(svg).find(f"{SVG}g").get("stroke-width"))
    assert last.get("fill") == maps.PALETTE[-1]
    assert sum(1 for p in shapes if p.get("class")) == 1
    assert maps.hex_map_svg({}, title="Map", highlight="not a code").count(maps.HIGHLIGHT_CLASS) == 0


def test_render_is_fast():
    counts = {code: i for i, code in enumerate(CODES)}
    for render in (maps.hex_map_svg, maps.geo_map_svg):
        render(counts, title="Warm up")
        start = time.perf_counter()
        for _ in range(10):
            render(counts, title="Map", measure=maps.SHARE, electorates=dict.fromkeys(CODES, 70_000))
        assert (time.perf_counter() - start) / 10 < 0.05


# --- Geographic map -------------------------------------------------------------------------------------


def test_geographic_map_has_650_named_shapes_coloured_like_the_hexes():
    counts = {code: (i * 37) % 1000 for i, code in enumerate(CODES)}
    geo = maps.geo_map_svg(counts, title="Map", id_prefix="geo")
    shapes = _by_code(geo, "geo")
    assert len(_shapes(geo)) == 650
    assert set(shapes) == set(HEXES)
    hexes = _by_code(maps.hex_map_svg(counts, title="Map"))
    for code, path in shapes.items():
        assert path.get("fill") == hexes[code].get("fill")
        assert _title(path) == _title(hexes[code])  # names from the HexJSON for both maps
        assert re.fullmatch(r"(?:M-?\d+(?: |(?=-))-?\d+l-?\d+(?:(?: |(?=-))-?\d+)*z)+", path.get("d")), code
    assert _title(shapes["W07000102"]).startswith("Montgomeryshire and Glyndŵr:")
    assert "style" not in geo


def test_geographic_map_is_the_right_way_up_and_small():
    geo = maps.geo_map_svg({}, title="Map")
    root = _svg_root(geo)
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    assert height > 1.5 * width

    shapes = _by_code(geo, "app-geo-map")

    def start(code: str) -> tuple[int, int]:
        x, y = re.match(r"M(-?\d+) ?(-?\d+)", shapes[code].get("d")).groups()
        return int(x), int(y)

    orkney, western_isles, aldershot, st_ives = (
        start(c) for c in ("S14000051", "S14000027", "E14001063", "E14001511")
    )
    assert orkney[1] < aldershot[1] < st_ives[1]  # north at the top
    assert western_isles[0] < orkney[0] and st_ives[0] < aldershot[0]  # west on the left
    assert maps.geo_map_size() < 80_000  # path data, characters
    assert len(geo) < 150_000


def test_geographic_geometry_is_computed_once():
    first = maps._current_geo_layout()
    assert maps._current_geo_layout() is first


def test_geographic_highlight_has_outline_and_ring():
    svg = maps.geo_map_svg({}, title="Map", highlight=CITIES_OF_LONDON)
    assert _shapes(svg)[-1].get("id") == f"app-geo-map-{CITIES_OF_LONDON}"
    assert _shapes(svg)[-1].get("class") == maps.HIGHLIGHT_CLASS
    assert len(_svg_root(svg).findall(f"{SVG}circle")) == 1
    assert _svg_root(maps.geo_map_svg({}, title="Map")).find(f"{SVG}circle") is None


# --- Reference data -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reference_data_loaded_with_electorates():
    assert Constituency.objects.count() == 650
    codes = set(Constituency.objects.values_list("gss_code", flat=True))
    assert codes == set(HEXES)
    assert Constituency.objects.get(gss_code=ABERAFAN_MAESTEG).electorate == 72_580
    assert not Constituency.objects.filter(electorate=None).exists()
    assert Constituency.objects.get(name="Aberdeen North").electorate == 75_925


# --- The page -------------------------------------------------------------------------------------------


@pytest.fixture
def petition_with_journals():
    petition = Petition.objects.create(
        action="Fund <em>libraries</em>", background="Test", state=PetitionState.OPEN, signature_count=1234
    )
    constituencies = list(Constituency.objects.select_related("region").order_by("gss_code")[:5])
    for n, constituency in zip([500, 20, 700, 0, 14], constituencies, strict=True):
        ConstituencyPetitionJournal.objects.create(
            petition=petition, constituency=constituency, signature_count=n
        )
    return petition, constituencies


@pytest.mark.django_db
def test_petition_map_context(petition_with_journals, django_assert_num_queries):
    petition, constituencies = petition_with_journals
    with django_assert_num_queries(1):
        context = petition_map_context(petition=petition)
    assert context["petition"] == petition
    assert (context["view"], context["measure"], context["sort"]) == ("hex", "count", "signatures")
    assert isinstance(context["svg"], SafeString)
    assert "&lt;em&gt;libraries&lt;/em&gt;" in context["svg"]
    rows = context["rows"]
    assert [r.signature_count for r in rows] == [700, 500, 20, 14]  # no zero rows
    first = constituencies[2]
    assert (rows[0].gss_code, rows[0].name, rows[0].mp_name, rows[0].party, rows[0].region) == (
        first.gss_code,
        first.name,
        first.mp_name,
        first.party,
        first.region.name,
    )
    assert rows[0].electorate == first.electorate
    assert rows[0].share_text == maps.percent_text(70_000 / first.electorate)
    assert context["legend"][0].label == "No signatures"
    assert len(_shapes(context["svg"])) == 650
    assert _by_code(context["svg"])[first.gss_code].get("fill") == maps.PALETTE[-1]
    assert context["highlight"] is None


@pytest.mark.django_db
def test_map_template_renders(petition_with_journals):
    petition, constituencies = petition_with_journals
    html = render_to_string("petitions/map.html", petition_map_context(petition=petition))
    assert "Fund &lt;em&gt;libraries&lt;/em&gt;" in html
    assert f'href="{petition.get_absolute_url()}"' in html
    assert "1,234" in html
    assert html.count('<tr class="govuk-table__row">') == 1 + 4
    assert html.index(constituencies[2].name) < html.index(constituencies[0].name)
    assert 'class="app-hex-map"' in html
    assert "style=" not in html.split("<main", 1)[1].split("</main>", 1)[0]
    assert 'href="/data-sources"' in html
    assert "Hex map layout © Open Innovations" in html
    assert "Open Parliament Licence" in html


@pytest.mark.django_db
def test_map_page(client, petition_with_journals):
    petition, constituencies = petition_with_journals
    response = client.get(f"/petitions/{petition.pk}/map")
    assert response.status_code == 200
    assert response.templates[0].name == "petitions/map.html"
    html = response.content.decode()
    root = _svg_root(html)
    assert len(root.findall(f"./{SVG}g/{SVG}path")) == 650
    assert constituencies[2].name in html
    url = f"/petitions/{petition.pk}/map"
    # Tabs and the colour switch are plain links; the current one is marked.
    assert f'<a class="govuk-tabs__tab" href="{url}" aria-current="page">Hex map</a>' in html
    assert f'<a class="govuk-tabs__tab" href="{url}?view=geographic">Geographic map</a>' in html
    assert f'href="{url}?measure=share">Share of the electorate</a>' in html
    assert f'href="/constituencies/{constituencies[2].gss_code}"' in html
    petition.state = PetitionState.PENDING
    petition.save()
    assert client.get(url).status_code == 404
    assert client.get("/petitions/999999/map").status_code == 404


@pytest.mark.django_db
def test_map_page_colours_follow_the_tallies(client):
    petition = Petition.objects.create(action="Tallied", background="Test", state=PetitionState.CLOSED)
    constituencies = list(Constituency.objects.order_by("gss_code"))
    counts = {}
    for i, constituency in enumerate(constituencies[:300]):
        counts[constituency.gss_code] = (i * 53) % 400 + 1
    ConstituencyPetitionJournal.objects.bulk_create(
        ConstituencyPetitionJournal(petition=petition, constituency=c, signature_count=counts[c.gss_code])
        for c in constituencies[:300]
    )
    html = client.get(f"/petitions/{petition.pk}/map").content.decode()
    bins = maps.legend(counts)
    shapes = _by_code(html)
    assert len(shapes) == 650
    names = {c.gss_code: c.name for c in constituencies}
    for code, path in shapes.items():
        n = counts.get(code, 0)
        assert path.get("fill") == _band_colour(bins, n)
        assert _title(path).startswith(f"{names[code]}: {n:,} signature")
    for b in bins:
        assert b.label in html  # the key lists every band


@pytest.mark.django_db
def test_share_of_electorate_mode_uses_the_electorate(client):
    petition = Petition.objects.create(action="Share", background="Test", state=PetitionState.OPEN)
    aberafan = Constituency.objects.get(gss_code=ABERAFAN_MAESTEG)
    bigger = Constituency.objects.exclude(gss_code=ABERAFAN_MAESTEG).order_by("-electorate").first()
    ConstituencyPetitionJournal.objects.create(
        petition=petition, constituency=aberafan, signature_count=7_258
    )
    ConstituencyPetitionJournal.objects.create(petition=petition, constituency=bigger, signature_count=8_000)
    url = f"/petitions/{petition.pk}/map"

    html = client.get(url, {"measure": "share"}).content.decode()
    shapes = _by_code(html)
    assert _title(shapes[ABERAFAN_MAESTEG]) == "Aberafan Maesteg: 7,258 signatures (10% of the electorate)"
    # By share Aberafan Maesteg (10%) is darker than the bigger seat with more signatures.
    assert shapes[ABERAFAN_MAESTEG].get("fill") == maps.PALETTE[-1]
    assert shapes[bigger.gss_code].get("fill") == maps.PALETTE[0]
    assert "Key: share of the electorate who signed" in html
    assert "72,580" in html  # the table's electorate column
    assert '<strong aria-current="true">Share of the electorate</strong>' in html
    by_count = _by_code(client.get(url).content.decode())
    assert by_count[ABERAFAN_MAESTEG].get("fill") == maps.PALETTE[0]
    assert by_count[bigger.gss_code].get("fill") == maps.PALETTE[-1]


@pytest.mark.django_db
def test_table_sorts_by_get_parameter(client, petition_with_journals):
    petition, constituencies = petition_with_journals
    url = f"/petitions/{petition.pk}/map"
    with_signatures = [c for c in constituencies if c != constituencies[3]]

    def order(params) -> list[str]:
        html = client.get(url, params).content.decode()
        table = html.split('id="constituency-table"', 1)[1]
        return [c.name for c in sorted(with_signatures, key=lambda c: table.index(f">{c.name}<"))]

    by_count = [constituencies[i].name for i in (2, 0, 1, 4)]
    assert order({}) == by_count
    assert order({"sort": "name"}) == sorted(c.name for c in with_signatures)
    shares = {c.name: n / c.electorate for c, n in zip(constituencies, [500, 20, 700, 0, 14], strict=True)}
    assert order({"sort": "share"}) == sorted(shares, key=lambda name: -shares[name])[:4]
    assert order({"sort": "nonsense"}) == by_count
    html = client.get(url, {"sort": "name", "view": "geographic"}).content.decode()
    assert 'aria-sort="ascending"' in html
    assert f'href="{url}?view=geographic&amp;sort=share#constituency-table"' in html


@pytest.mark.django_db
def test_geographic_view(client, petition_with_journals):
    petition, constituencies = petition_with_journals
    html = client.get(
        f"/petitions/{petition.pk}/map", {"view": "geographic", "measure": "share"}
    ).content.decode()
    shapes = _by_code(html, "app-geo-map")
    assert len(_shapes(html)) == 650
    assert shapes[constituencies[2].gss_code].get("fill") != maps.ZERO_COLOUR
    assert shapes[constituencies[3].gss_code].get("fill") == maps.ZERO_COLOUR
    assert 'aria-current="page">Geographic map</a>' in html
    assert "Each shape is one constituency" in html
    # The other choices are kept when switching.
    assert f'href="/petitions/{petition.pk}/map?measure=share" aria-current' not in html
    assert f'<a class="govuk-tabs__tab" href="/petitions/{petition.pk}/map?measure=share">Hex map</a>' in html


@pytest.mark.django_db
@pytest.mark.parametrize("view", ["hex", "geographic"])
def test_postcode_highlight_without_javascript(client, view):
    petition = Petition.objects.create(action="Highlight", background="Test", state=PetitionState.OPEN)
    westminster = Constituency.objects.get(gss_code=CITIES_OF_LONDON)
    ConstituencyPetitionJournal.objects.create(
        petition=petition, constituency=westminster, signature_count=123
    )
    url = f"/petitions/{petition.pk}/map"
    response = client.get(url, {"postcode": "sw1a1aa", "view": view})
    assert response.status_code == 200
    html = response.content.decode()
    note = f'SW1A 1AA is in <a class="govuk-link" href="/constituencies/{CITIES_OF_LONDON}">{westminster.name}</a>'
    assert note in html
    assert ": 123 signatures (" in html.split(note, 1)[1].split("</p>", 1)[0]
    shapes = _shapes(html)
    highlighted = [p for p in shapes if p.get("class") == maps.HIGHLIGHT_CLASS]
    assert [p.get("id").rsplit("-", 1)[1] for p in highlighted] == [CITIES_OF_LONDON]
    assert highlighted[0].get("stroke") == maps.HIGHLIGHT_COLOUR
    # The postcode travels with the tabs, so the highlight stays when switching view or colours.
    assert "postcode=SW1A+1AA" in html
    assert 'value="sw1a1aa"' in html  # the box keeps what was typed
    assert "There is a problem" not in html


@pytest.mark.django_db
def test_postcode_of_a_constituency_without_signatures(client, petition_with_journals):
    petition, _ = petition_with_journals
    html = client.get(f"/petitions/{petition.pk}/map", {"postcode": "SA13 1AA"}).content.decode()
    assert ">Aberafan Maesteg</a>: 0 signatures." in html
    assert _by_code(html)[ABERAFAN_MAESTEG].get("class") == maps.HIGHLIGHT_CLASS


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("postcode", "message"),
    [
        ("", "Enter a postcode"),
        ("   ", "Enter a postcode"),
        ("not a postcode", INVALID_MESSAGE),
        ("Q1 1AA", INVALID_MESSAGE),
        ("BT1 1AA", NORTHERN_IRELAND_MESSAGE),
        ("BFPO 1234", BFPO_MESSAGE),
        ("GIR 0AA", not_found_message("GIR 0AA")),
        ("SW1A 1AA" * 1300, INVALID_MESSAGE),
    ],
)
def test_bad_postcodes_are_form_errors(client, petition_with_journals, postcode, message):
    petition, _ = petition_with_journals
    response = client.get(f"/petitions/{petition.pk}/map", {"postcode": postcode, "view": "geographic"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "There is a problem" in html
    assert "<title>Error: " in html
    assert f'<a href="#id_postcode">{message}</a>' in html
    assert 'class="govuk-error-message"' in html
    assert maps.HIGHLIGHT_CLASS not in html
    assert len(_shapes(html)) == 650  # the map is still shown
    assert 'name="view" value="geographic"' in html  # the form keeps the view


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"view": "satellite"},
        {"measure": "<script>"},
        {"sort": "x" * 10_000},
        {"view": ["hex", "geographic"]},
    ],
)
def test_unknown_choices_fall_back_to_the_defaults(client, petition_with_journals, params):
    petition, _ = petition_with_journals
    response = client.get(f"/petitions/{petition.pk}/map", params)
    assert response.status_code == 200
    html = response.content.decode()
    assert len(_by_code(html)) == 650
    assert "<script>" not in html.split("<main", 1)[1]


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{}, {"view": "geographic", "measure": "share", "postcode": "SW1A 1AA"}])
def test_query_count_is_fixed(client, django_assert_num_queries, params):
    def petition_with(n: int) -> Petition:
        petition = Petition.objects.create(action=f"{n} seats", background="Test", state=PetitionState.OPEN)
        ConstituencyPetitionJournal.objects.bulk_create(
            ConstituencyPetitionJournal(petition=petition, constituency=c, signature_count=i + 1)
            for i, c in enumerate(Constituency.objects.order_by("gss_code")[:n])
        )
        return petition

    small, full = petition_with(3), petition_with(650)
    client.get(f"/petitions/{small.pk}/map")  # creates the site settings row once
    for petition in (small, full):
        # The petition and its tallies (with constituencies and regions), plus the site notices.
        with django_assert_num_queries(2 + SITE_NOTICES):
            response = client.get(f"/petitions/{petition.pk}/map", params)
        assert response.status_code == 200
    assert response.content.decode().count('<tr class="govuk-table__row">') == 1 + 650


@pytest.mark.django_db
def test_data_sources_page_lists_the_map_files(client):
    html = client.get("/data-sources").content.decode()
    assert "HoC-GE2024-results-by-constituency.csv" in html
    assert "House of Commons Library" in html
    assert "public/uk-constituencies.topo.json" in html
    assert "fedecarbo/uk-petitions-dashboard" in html
    topo_row = html.split("public/uk-constituencies.topo.json", 1)[1].split("</tr>", 1)[0]
    assert "Open Government Licence v3.0" in topo_row


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{"postcode": "SW1A\x001AA"}, {"view": "\x00"}])
def test_nul_bytes_get_a_readable_400(client, petition_with_journals, params):
    petition, _ = petition_with_journals
    response = client.get(f"/petitions/{petition.pk}/map", params)
    assert response.status_code == 400
    assert "Your request contained invalid characters." in response.content.decode()


def test_table_rows_escape_every_value():
    row = Row("E14000001", "<b>Name</b>", 'M"P', "<i>Party</i>", "R&R", 5, 1000, '/c/"x"')
    html = table_rows_html([row], highlight={"gss_code": "E14000001", "postcode": "<SW1A 1AA>"})
    assert "<b>" not in html and "<i>" not in html and "<SW1A" not in html
    assert "&lt;b&gt;Name&lt;/b&gt;" in html
    assert "M&quot;P" in html and "R&amp;R" in html and 'href="/c/&quot;x&quot;"' in html
    assert "&lt;SW1A 1AA&gt;</strong>" in html
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html)
    assert cells[3:] == ["5", "1,000", "0.5%"]
    unknown = table_rows_html([Row("E14000002", "N", "", "", "R", 3, None)])
    assert "No MP" in unknown and unknown.count("Not known") == 2
