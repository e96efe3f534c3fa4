"""Server-rendered SVG maps of the 650 Westminster constituencies (July 2024 boundaries).

Two layouts share one renderer:

- the hex cartogram, Open Innovations' HexJSON (`data/maps/uk-constituencies-2024.hexjson`): one hex per
  constituency keyed by GSS code, in "odd-r" offset coordinates with `r` increasing *upwards* (Orkney and
  Shetland is on row 0, Cornwall on row -44), so rows are flipped for SVG;
- the geographic map, the ONS "BUC" boundaries as quantised TopoJSON (`data/maps/pcon24-simplified.topo.json`),
  projected with a sinusoidal projection centred on 2°W (the central meridian of the British National Grid):
  equal-area, so big rural seats do not look bigger than they are, and close to the familiar shape of Britain.
  Coordinates are rounded to whole units (about 280 m) and written as relative path data, about 60 kB.

Both geometries are computed once per process; a request only joins the cached path data with fills and titles.
Names come from the HexJSON for both maps (the TopoJSON lacks the ŵ of Montgomeryshire and Glyndŵr).

No JavaScript and no inline `style` attributes (strict CSP): colours are SVG `fill` presentation attributes
and sizing comes from the `.app-hex-map` class in static/css/app.css.
"""

import json
import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.utils.html import escape

MAPS_DIR = Path(__file__).resolve().parent / "data" / "maps"
HEXJSON_PATH = MAPS_DIR / "uk-constituencies-2024.hexjson"
TOPOJSON_PATH = MAPS_DIR / "pcon24-simplified.topo.json"

#: What a map is coloured by: signatures, or signatures as a percentage of the constituency's electorate.
COUNT, SHARE = "count", "share"
MEASURES = (COUNT, SHARE)

#: Hexes with no signatures (GOV.UK light grey, darkened a little to show against white).
ZERO_COLOUR = "#e8e8e8"
#: Sequential scale, light to dark: tints of GOV.UK blue (#1d70b8) then GOV.UK dark blue.
PALETTE = ("#d2e2f1", "#a5c6e3", "#77a9d4", "#4a8dc6", "#1d70b8", "#003078")
STROKE_COLOUR = "#ffffff"
#: The outline of the constituency found from a postcode (GOV.UK text colour: contrasts with every fill).
HIGHLIGHT_COLOUR = "#0b0c0c"
HIGHLIGHT_CLASS = "app-map-highlight"

#: Circumradius of a hex in SVG user units.
HEX_SIZE = 10.0
_HEX_WIDTH = math.sqrt(3) * HEX_SIZE

#: Geographic map: SVG units per degree of latitude, and the projection's central meridian.
GEO_UNITS_PER_DEGREE = 400
GEO_CENTRAL_MERIDIAN = -2.0


@dataclass(frozen=True)
class LegendBin:
    """One colour of the map: values from `lower` to `upper`, and how many constituencies have one.

    Counts are whole numbers and both ends are inclusive. Shares (percentages) run from `lower` up to, but
    not including, the next bin's `lower`; the last share bin ends at the highest share, `upper`.
    """

    lower: float
    upper: float
    colour: str
    label: str
    constituencies: int = 0


def percent_text(value: float) -> str:
    """A percentage to two significant figures, never in exponent form: 17.0 -> "17", 1.712 -> "1.7",
    0.0123 -> "0.012", 0.00138 -> "0.0014", 0.0996 -> "0.1"."""
    text = f"{value:.2g}"
    if "e" not in text:  # the common case: from 0.0001 to 99
        return text
    rounded = float(text)
    if rounded <= 0:
        return "0"
    decimals = max(0, 1 - math.floor(math.log10(rounded)))
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def signature_noun(count: int) -> str:
    return "signature" if count == 1 else "signatures"


def shares_of_electorate(counts: dict[str, int], electorates: dict[str, int | None]) -> dict[str, float]:
    """Signatures as a percentage of the electorate, for constituencies with signatures and a known
    electorate (GSS code -> percentage)."""
    return {
        code: 100.0 * n / electorate
        for code, n in counts.items()
        if n and n > 0 and (electorate := electorates.get(code))
    }


@cache
def load_hexjson() -> dict:
    """The parsed HexJSON document (read once per process)."""
    with HEXJSON_PATH.open(encoding="utf-8") as f:
        return json.load(f)


@cache
def load_topojson() -> dict:
    """The parsed TopoJSON document (read once per process)."""
    with TOPOJSON_PATH.open(encoding="utf-8") as f:
        return json.load(f)


@dataclass(frozen=True)
class _Layout:
    shapes: tuple[tuple[str, str, str], ...]  # (gss_code, escaped name, path data), in drawing order
    view_box: str
    width: float
    height: float
    #: Where to draw the locator ring around a highlighted shape (geographic map only: a hex is big enough).
    centres: dict[str, tuple[float, float]] = field(default_factory=dict)


_W, _S = _HEX_WIDTH / 2, HEX_SIZE
#: From the top vertex, clockwise: right side, bottom, left side.
_HEX_OUTLINE = f"l{_W:.2f} {_S / 2:g}v{_S:g}l{-_W:.2f} {_S / 2:g}l{-_W:.2f} {-_S / 2:g}v{-_S:g}z"


def _hex_path(cx: float, cy: float) -> str:
    """A pointy-top hexagon around (cx, cy), as compact relative path data starting at the top vertex."""
    return f"M{cx:.2f} {cy - HEX_SIZE:.2f}{_HEX_OUTLINE}"


def _hex_layout(doc: dict) -> _Layout:
    layout = doc.get("layout", "odd-r")
    if layout not in ("odd-r", "even-r"):
        raise ValueError(f"Unsupported HexJSON layout {layout!r}: only pointy-top (odd-r, even-r) layouts")
    shifted_parity = 1 if layout == "odd-r" else 0
    placed = []
    for code, h in doc["hexes"].items():
        q, r = int(h["q"]), int(h["r"])
        # Python's `r & 1` is the row parity for negative rows too (-43 & 1 == 1).
        x = _HEX_WIDTH * (q + (0.5 if (r & 1) == shifted_parity else 0.0))
        y = -1.5 * HEX_SIZE * r  # HexJSON rows go up the page; SVG y goes down.
        placed.append((y, x, code, h.get("n", code)))
    if not placed:
        return _Layout((), "0 0 0 0", 0.0, 0.0)
    pad = HEX_SIZE * 0.5
    min_x = min(p[1] for p in placed) - _HEX_WIDTH / 2 - pad
    max_x = max(p[1] for p in placed) + _HEX_WIDTH / 2 + pad
    min_y = min(p[0] for p in placed) - HEX_SIZE - pad
    max_y = max(p[0] for p in placed) + HEX_SIZE + pad
    width, height = max_x - min_x, max_y - min_y
    placed.sort()  # top to bottom, left to right: a sensible order for anything reading the hexes
    shapes = tuple((code, escape(name), _hex_path(x, y)) for y, x, code, name in placed)
    return _Layout(shapes, f"{min_x:.2f} {min_y:.2f} {width:.2f} {height:.2f}", width, height)


def _topo_arcs(topo: dict) -> list[list[tuple[int, int]]]:
    """Every arc as projected points rounded to whole SVG units, consecutive duplicates dropped.

    Rounding each arc once, before rings are assembled, keeps shared borders identical in both neighbours
    (no slivers), and dropping a duplicate is symmetric, so an arc read backwards has the same points.
    """
    transform = topo.get("transform")
    (kx, ky), (tx, ty) = (transform["scale"], transform["translate"]) if transform else ((1, 1), (0, 0))
    s, lon0, to_rad = GEO_UNITS_PER_DEGREE, GEO_CENTRAL_MERIDIAN, math.pi / 180
    arcs = []
    for arc in topo["arcs"]:
        points: list[tuple[int, int]] = []
        qx = qy = 0
        for i, position in enumerate(arc):
            if transform:  # quantised: delta-encoded integers
                qx, qy = qx + position[0], qy + position[1]
            else:
                qx, qy = position[0], position[1]
            lon, lat = qx * kx + tx, qy * ky + ty
            point = (round((lon - lon0) * math.cos(lat * to_rad) * s), round(-lat * s))
            if i == 0 or point != points[-1]:
                points.append(point)
        arcs.append(points)
    return arcs


def _ring_points(ring: list[int], arcs: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    points: list[tuple[int, int]] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points and arc and arc[0] == points[-1] else arc)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    return points


def _ring_path(points: list[tuple[int, int]]) -> str:
    (x0, y0), deltas = points[0], []
    px, py = x0, y0
    for x, y in points[1:]:
        deltas.append(f"{x - px} {y - py}")
        px, py = x, y
    # A minus sign separates numbers in path data, so the space before it can go.
    return f"M{x0} {y0}l{' '.join(deltas)}z".replace(" -", "-")


def _geo_layout(topo: dict, names: dict[str, str]) -> _Layout:
    arcs = _topo_arcs(topo)
    obj = topo["objects"]["constituencies"]
    placed = []
    for geometry in obj["geometries"]:
        code = geometry["properties"]["PCON24CD"]
        if geometry["type"] == "Polygon":
            polygons = [geometry["arcs"]]
        elif geometry["type"] == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        rings = [points for polygon in polygons for ring in polygon if (points := _ring_points(ring, arcs))]
        drawable = [points for points in rings if len(points) >= 3] or rings[:1]
        if not drawable:
            continue
        largest = max(drawable, key=len)
        xs, ys = [p[0] for p in largest], [p[1] for p in largest]
        centre = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
        name = names.get(code) or geometry["properties"].get("PCON24NM", code)
        placed.append((centre[1], centre[0], code, name, "".join(_ring_path(p) for p in drawable)))
    if not placed:
        return _Layout((), "0 0 0 0", 0.0, 0.0)
    all_points = [p for arc in arcs for p in arc]
    pad = GEO_UNITS_PER_DEGREE * 0.05
    min_x = min(p[0] for p in all_points) - pad
    min_y = min(p[1] for p in all_points) - pad
    width = max(p[0] for p in all_points) + pad - min_x
    height = max(p[1] for p in all_points) + pad - min_y
    placed.sort()  # north to south, like the hexes
    shapes = tuple((code, escape(name), d) for _, _, code, name, d in placed)
    centres = {code: (x, y) for y, x, code, _, _ in placed}
    return _Layout(shapes, f"{min_x:g} {min_y:g} {width:g} {height:g}", width, height, centres)


_layout_cache: dict[str, tuple[tuple[int, ...], _Layout]] = {}


def _cached(key: str, sources: tuple[dict, ...], build: Callable[[], _Layout]) -> _Layout:
    """The layout built from `sources`, computed once per process (again only if a source document changes,
    which only tests do)."""
    ids = tuple(id(source) for source in sources)
    cached = _layout_cache.get(key)
    if cached is None or cached[0] != ids:
        cached = _layout_cache[key] = (ids, build())
    return cached[1]


def _current_layout() -> _Layout:
    """The hex geometry of the current HexJSON document."""
    doc = load_hexjson()
    return _cached("hex", (doc,), lambda: _hex_layout(doc))


def _current_geo_layout() -> _Layout:
    """The projected boundaries of the current TopoJSON document, named from the HexJSON."""
    topo, hexjson = load_topojson(), load_hexjson()
    names = {code: h.get("n", code) for code, h in hexjson["hexes"].items()}
    return _cached("geo", (topo, hexjson), lambda: _geo_layout(topo, names))


def geo_map_size() -> int:
    """Characters of path data in the geographic map (a measure of the page weight it adds)."""
    return sum(len(d) for _, _, d in _current_geo_layout().shapes)


def _nice(value: float) -> float:
    """`value` rounded to two significant figures, for readable legend boundaries."""
    if value <= 0:
        return 0.0
    return float(f"{value:.2g}")


def _spread(m: int) -> list[str]:
    """`m` colours spread across the palette, the last always the darkest."""
    k = len(PALETTE)
    return [PALETTE[-1]] if m == 1 else [PALETTE[round(j * (k - 1) / (m - 1))] for j in range(m)]


def _quantile_lowers(values: list[float], first: float, nice: Callable[[float], float]) -> list[float]:
    """Lower bounds of up to len(PALETTE) bins: quantiles of `values` (sorted, positive), rounded by `nice`,
    strictly increasing, each above the smallest value (so the first bin is never empty) and at most the
    largest (so the last is not either)."""
    n, k = len(values), len(PALETTE)
    lowers = [first]
    for i in range(1, k):
        candidate = nice(values[(i * n) // k])
        if candidate > lowers[-1] and candidate > values[0] and candidate <= values[-1]:
            lowers.append(candidate)
    return lowers


def _bin_sizes(values: list[float], lowers: list[float]) -> list[int]:
    sizes = [0] * len(lowers)
    for value in values:
        sizes[max(0, bisect_right(lowers, value) - 1)] += 1
    return sizes


def _zero_bin(values: list, total: int) -> LegendBin:
    return LegendBin(0, 0, ZERO_COLOUR, "No signatures", max(0, total - len(values)))


def legend(counts: dict[str, int]) -> list[LegendBin]:
    """The colour bins of a map of signature counts, ascending, starting with the "No signatures" bin.

    Binning: quantiles of the constituencies with at least one signature, so each colour covers about the
    same number of hexes whatever the petition's size (a log or linear scale leaves most of the map one
    colour because signatures follow population), with boundaries rounded to two significant figures.
    Fewer distinct values give fewer bins, spread across the palette so the highest count is always the
    darkest colour.
    """
    codes = load_hexjson()["hexes"]
    values = sorted(v for code, v in counts.items() if v > 0 and code in codes)
    bins = [_zero_bin(values, len(codes))]
    if not values:
        return bins
    lowers = [int(v) for v in _quantile_lowers(values, 1, lambda v: max(1, int(_nice(v))))]
    sizes = _bin_sizes(values, lowers)
    for j, (lower, colour) in enumerate(zip(lowers, _spread(len(lowers)), strict=True)):
        upper = lowers[j + 1] - 1 if j + 1 < len(lowers) else values[-1]
        label = f"{lower:,}" if lower == upper else f"{lower:,} to {upper:,}"
        bins.append(LegendBin(lower, upper, colour, label, sizes[j]))
    return bins


def share_legend(shares: dict[str, float]) -> list[LegendBin]:
    """The colour bins of a map of shares of the electorate (percentages), like `legend`.

    The first coloured bin starts just above 0 ("Under 0.012%"); the others run from their lower bound up
    to the next one, and the last includes the highest share.
    """
    codes = load_hexjson()["hexes"]
    values = sorted(v for code, v in shares.items() if v > 0 and code in codes)
    bins = [_zero_bin(values, len(codes))]
    if not values:
        return bins
    lowers = _quantile_lowers(values, 0.0, _nice)
    sizes = _bin_sizes(values, lowers)
    m = len(lowers)
    for j, (lower, colour) in enumerate(zip(lowers, _spread(m), strict=True)):
        if m == 1:
            label = f"Up to {percent_text(values[-1])}%"
        elif j == 0:
            label = f"Under {percent_text(lowers[1])}%"
        elif j + 1 < m:
            label = f"{percent_text(lower)}% to under {percent_text(lowers[j + 1])}%"
        else:
            label = f"{percent_text(lower)}% or more"
        upper = lowers[j + 1] if j + 1 < m else values[-1]
        bins.append(LegendBin(lower, upper, colour, label, sizes[j]))
    return bins


def _colour_for(bins: list[LegendBin]) -> Callable[[float], str]:
    lowers = [b.lower for b in bins[1:]]
    colours = [b.colour for b in bins[1:]]

    def colour(value: float) -> str:
        if value <= 0 or not lowers:
            return ZERO_COLOUR
        return colours[max(0, bisect_right(lowers, value) - 1)]

    return colour


def shape_title(name: str, count: int, electorate: int | None) -> str:
    """ "Aldershot: 1,234 signatures (1.7% of the electorate)" (the share only when there are signatures
    and a known electorate). `name` is used as given: escape it for markup."""
    text = f"{name}: {count:,} {signature_noun(count)}"
    if count > 0 and electorate:
        text += f" ({percent_text(100.0 * count / electorate)}% of the electorate)"
    return text


def _map_svg(
    layout: _Layout,
    counts: dict[str, int],
    *,
    title: str,
    id_prefix: str,
    bins: list[LegendBin] | None,
    electorates: dict[str, int | None] | None,
    measure: str,
    highlight: str | None,
    stroke_width: float,
    highlight_width: float,
    ring_radius: float | None,
    width: float,
    height: float,
) -> str:
    if measure not in MEASURES:
        raise ValueError(f"Unknown measure {measure!r}")
    electorates = electorates or {}
    if measure == SHARE:
        values: dict[str, float] = shares_of_electorate(counts, electorates)
        colour = _colour_for(share_legend(values) if bins is None else bins)
    else:
        values = counts
        colour = _colour_for(legend(counts) if bins is None else bins)
    title_id = escape(f"{id_prefix}-title")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="app-hex-map" viewBox="{layout.view_box}"'
        f' width="{width:.0f}" height="{height:.0f}" role="img"'
        f' aria-labelledby="{title_id}" focusable="false">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<g stroke="{STROKE_COLOUR}" stroke-width="{stroke_width:g}" stroke-linejoin="round" fill-rule="evenodd">'
    ]
    append = parts.append
    last = ""
    id_base = escape(id_prefix)
    for code, name, d in layout.shapes:
        n = counts.get(code, 0) or 0
        fill = colour(values.get(code, 0) or 0)
        label = shape_title(name, n, electorates.get(code))
        if code == highlight:
            # Drawn last, so no neighbour covers its outline.
            last = (
                f'<path id="{id_base}-{code}" class="{HIGHLIGHT_CLASS}" d="{d}" fill="{fill}"'
                f' stroke="{HIGHLIGHT_COLOUR}" stroke-width="{highlight_width:g}"><title>{label}</title></path>'
            )
        else:
            append(f'<path id="{id_base}-{code}" d="{d}" fill="{fill}"><title>{label}</title></path>')
    append(last)
    append("</g>")
    if last and ring_radius and highlight in layout.centres:
        x, y = layout.centres[highlight]
        append(
            f'<circle cx="{x:g}" cy="{y:g}" r="{ring_radius:g}" fill="none" stroke="{HIGHLIGHT_COLOUR}"'
            f' stroke-width="{highlight_width:g}" aria-hidden="true"/>'
        )
    append("</svg>")
    return "".join(parts)


def hex_map_svg(
    counts: dict[str, int],
    *,
    title: str,
    id_prefix: str = "app-hex-map",
    bins: list[LegendBin] | None = None,
    electorates: dict[str, int | None] | None = None,
    measure: str = COUNT,
    highlight: str | None = None,
) -> str:
    """A complete `<svg>` hex map, one `<path>` per constituency coloured by `counts` (GSS code -> count).

    `measure` SHARE colours by signatures as a percentage of `electorates` (GSS code -> electors) instead.
    `title` labels the image (`role="img"`, `aria-labelledby`); each hex has the id `<id_prefix>-<GSS code>`
    and a `<title>` like "Aldershot: 1,234 signatures (1.7% of the electorate)" for hover tooltips. Pass
    `bins` (from `legend` or `share_legend`, matching `measure`) to reuse them. `highlight` (a GSS code) gets
    a thick dark outline. Codes not on the map are ignored; constituencies missing from `counts` have 0.
    """
    layout = _current_layout()
    return _map_svg(
        layout,
        counts,
        title=title,
        id_prefix=id_prefix,
        bins=bins,
        electorates=electorates,
        measure=measure,
        highlight=highlight,
        stroke_width=HEX_SIZE * 0.12,
        highlight_width=HEX_SIZE * 0.35,
        ring_radius=None,
        width=layout.width,
        height=layout.height,
    )


def geo_map_svg(
    counts: dict[str, int],
    *,
    title: str,
    id_prefix: str = "app-geo-map",
    bins: list[LegendBin] | None = None,
    electorates: dict[str, int | None] | None = None,
    measure: str = COUNT,
    highlight: str | None = None,
) -> str:
    """The same as `hex_map_svg`, drawn on the constituency boundaries. A highlighted constituency also gets
    a ring around it, since many city seats are only a few pixels across."""
    layout = _current_geo_layout()
    unit = GEO_UNITS_PER_DEGREE / 100  # about 280 m
    return _map_svg(
        layout,
        counts,
        title=title,
        id_prefix=id_prefix,
        bins=bins,
        electorates=electorates,
        measure=measure,
        highlight=highlight,
        stroke_width=unit * 0.3,
        highlight_width=unit * 1.5,
        ring_radius=unit * 12,
        # The intrinsic size is about that of the hex map; CSS scales both to the column.
        width=layout.width / 4,
        height=layout.height / 4,
    )
