"""The hex map of signatures by constituency (petitions/maps.py, petitions/map_data.py)."""

import re
import statistics
import time
import xml.etree.ElementTree as ET

import pytest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from petitions import maps
from petitions.map_data import petition_map_context
from petitions.models import Constituency, ConstituencyPetitionJournal, Petition, PetitionState

SVG = "{http://www.w3.org/2000/svg}"


def _hexes(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    return root.findall(f"./{SVG}g/{SVG}path")


def _centre_y(path: ET.Element) -> float:
    # "M{cx} {top_y}l..." : the first point is the top vertex.
    return float(re.match(r"M(-?[\d.]+) (-?[\d.]+)", path.get("d")).group(2)) + maps.HEX_SIZE


def _by_title(svg: str) -> dict[str, ET.Element]:
    return {p.find(f"{SVG}title").text.rsplit(":", 1)[0]: p for p in _hexes(svg)}


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
    hexes = _hexes(svg)
    assert len(hexes) == 650
    for path in hexes:
        assert path.find(f"{SVG}title").text.endswith(": 0 signatures")
        assert path.get("fill") == maps.ZERO_COLOUR
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    assert width > 0
    assert height > width  # Great Britain is taller than it is wide


def test_scotland_is_above_england_and_cornwall_at_the_bottom():
    doc = maps.load_hexjson()["hexes"]
    svg = maps.hex_map_svg({}, title="Map")
    ys = {}
    for path in _hexes(svg):
        ys[path.find(f"{SVG}title").text.rsplit(":", 1)[0]] = _centre_y(path)
    names = {code: h["n"] for code, h in doc.items()}
    scotland = statistics.mean(ys[n] for c, n in names.items() if c.startswith("S14"))
    england = statistics.mean(ys[n] for c, n in names.items() if c.startswith("E14"))
    assert scotland < england  # SVG y grows downwards
    assert ys["Orkney and Shetland"] == min(ys.values())
    cornwall = ys["St Ives"]
    assert cornwall > statistics.mean(ys.values())
    assert cornwall > max(ys[n] for c, n in names.items() if c.startswith("S14"))


@pytest.mark.django_db
def test_reference_data_loaded():
    assert Constituency.objects.count() == 650
    codes = set(Constituency.objects.values_list("gss_code", flat=True))
    assert codes == set(maps.load_hexjson()["hexes"])


def test_fills_follow_the_bins():
    codes = list(maps.load_hexjson()["hexes"])
    counts = {code: 10 + i % 50 for i, code in enumerate(codes)}
    busiest, empty = codes[0], codes[1]
    counts[busiest] = 100_000
    counts[empty] = 0
    svg = maps.hex_map_svg(counts, title="Map")
    by_name = _by_title(svg)
    hexes = maps.load_hexjson()["hexes"]
    busy_hex = by_name[hexes[busiest]["n"]]
    assert busy_hex.get("fill") == maps.PALETTE[-1]
    assert busy_hex.find(f"{SVG}title").text == f"{hexes[busiest]['n']}: 100,000 signatures"
    assert by_name[hexes[empty]["n"]].get("fill") == maps.ZERO_COLOUR
    used = {p.get("fill") for p in _hexes(svg)}
    assert used == {maps.ZERO_COLOUR, *maps.PALETTE}  # a spread of counts uses every colour


def test_legend_bins_are_ascending_and_cover_the_counts():
    codes = list(maps.load_hexjson()["hexes"])
    counts = {code: (i * 37) % 1000 for i, code in enumerate(codes)}
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


def test_legend_with_few_distinct_values_still_ends_darkest():
    code = next(iter(maps.load_hexjson()["hexes"]))
    assert maps.legend({}) == [maps.LegendBin(0, 0, maps.ZERO_COLOUR)]
    bins = maps.legend({code: 1})
    assert [(b.lower, b.upper, b.colour) for b in bins[1:]] == [(1, 1, maps.PALETTE[-1])]
    assert bins[1].label == "1"
    svg = maps.hex_map_svg({code: 1}, title="Map")
    assert "1 signature<" in svg


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
    hexes = _hexes(svg)
    assert len(hexes) == 2
    titles = sorted(p.find(f"{SVG}title").text for p in hexes)
    assert titles == ["<script>alert(1)</script> & Co: 5 signatures", 'Quote"d: 0 signatures']


def test_render_is_fast():
    counts = {code: i for i, code in enumerate(maps.load_hexjson()["hexes"])}
    maps.hex_map_svg(counts, title="Warm up")
    start = time.perf_counter()
    for _ in range(10):
        maps.hex_map_svg(counts, title="Map")
    assert (time.perf_counter() - start) / 10 < 0.05


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
def test_petition_map_context(petition_with_journals, django_assert_max_num_queries):
    petition, constituencies = petition_with_journals
    with django_assert_max_num_queries(3):
        context = petition_map_context(petition=petition)
    assert context["petition"] == petition
    assert isinstance(context["svg"], SafeString)
    assert "&lt;em&gt;libraries&lt;/em&gt;" in context["svg"]
    rows = context["rows"]
    assert [r["signature_count"] for r in rows] == [700, 500, 20, 14]  # no zero rows
    first = constituencies[2]
    assert rows[0] == {
        "gss_code": first.gss_code,
        "name": first.name,
        "mp_name": first.mp_name,
        "party": first.party,
        "region": first.region.name,
        "signature_count": 700,
    }
    assert context["legend"][0].label == "No signatures"
    assert len(_hexes(context["svg"])) == 650
    assert _by_title(context["svg"])[first.name].get("fill") == maps.PALETTE[-1]


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


@pytest.mark.django_db
def test_map_page(client, petition_with_journals):
    petition, constituencies = petition_with_journals
    response = client.get(f"/petitions/{petition.pk}/map")
    assert response.status_code == 200
    assert response.templates[0].name == "petitions/map.html"
    html = response.content.decode()
    assert html.count("<path ") >= 650
    assert constituencies[2].name in html
    petition.state = PetitionState.PENDING
    petition.save()
    assert client.get(f"/petitions/{petition.pk}/map").status_code == 404
