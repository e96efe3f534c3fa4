"""Server-rendered SVG hex map of the 650 Westminster constituencies (July 2024 boundaries).

The layout is Open Innovations' HexJSON (`data/maps/uk-constituencies-2024.hexjson`, MIT licence):
one hex per constituency keyed by GSS code, in "odd-r" offset coordinates with `r` increasing
*upwards* (Orkney and Shetland is on row 0, Cornwall on row -44), so rows are flipped for SVG.

No JavaScript and no inline `style` attributes (strict CSP): colours are SVG `fill` presentation
attributes and sizing comes from the `.app-hex-map` class in static/css/app.css.
"""

import json
import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.utils.html import escape

HEXJSON_PATH = Path(__file__).resolve().parent / "data" / "maps" / "uk-constituencies-2024.hexjson"

#: Hexes with no signatures (GOV.UK light grey, darkened a little to show against white).
ZERO_COLOUR = "#e8e8e8"
#: Sequential scale, light to dark: tints of GOV.UK blue (#1d70b8) then GOV.UK dark blue.
PALETTE = ("#d2e2f1", "#a5c6e3", "#77a9d4", "#4a8dc6", "#1d70b8", "#003078")
STROKE_COLOUR = "#ffffff"

#: Circumradius of a hex in SVG user units.
HEX_SIZE = 10.0
_HEX_WIDTH = math.sqrt(3) * HEX_SIZE


@dataclass(frozen=True)
class LegendBin:
    """One colour of the map: constituencies with `lower` to `upper` signatures (inclusive)."""

    lower: int
    upper: int
    colour: str

    @property
    def label(self) -> str:
        if self.upper == 0:
            return "No signatures"
        if self.lower == self.upper:
            return f"{self.lower:,}"
        return f"{self.lower:,} to {self.upper:,}"


@cache
def load_hexjson() -> dict:
    """The parsed HexJSON document (read once per process)."""
    with HEXJSON_PATH.open(encoding="utf-8") as f:
        return json.load(f)


@dataclass(frozen=True)
class _Layout:
    hexes: tuple[tuple[str, str, str], ...]  # (gss_code, escaped name, path data), in drawing order
    view_box: str
    width: float
    height: float


_W, _S = _HEX_WIDTH / 2, HEX_SIZE
#: From the top vertex, clockwise: right side, bottom, left side.
_HEX_OUTLINE = f"l{_W:.2f} {_S / 2:g}v{_S:g}l{-_W:.2f} {_S / 2:g}l{-_W:.2f} {-_S / 2:g}v{-_S:g}z"


def _hex_path(cx: float, cy: float) -> str:
    """A pointy-top hexagon around (cx, cy), as compact relative path data starting at the top vertex."""
    return f"M{cx:.2f} {cy - HEX_SIZE:.2f}{_HEX_OUTLINE}"


def _layout(doc: dict) -> _Layout:
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
    hexes = tuple((code, escape(name), _hex_path(x, y)) for y, x, code, name in placed)
    return _Layout(hexes, f"{min_x:.2f} {min_y:.2f} {width:.2f} {height:.2f}", width, height)


_layout_cache: tuple[dict, _Layout] | None = None


def _current_layout() -> _Layout:
    """The geometry of the current HexJSON document, computed once per document."""
    global _layout_cache
    doc = load_hexjson()
    cached = _layout_cache
    if cached is None or cached[0] is not doc:
        cached = _layout_cache = (doc, _layout(doc))
    return cached[1]


def _nice(value: float) -> int:
    """`value` rounded to two significant figures (at least 1), for readable legend boundaries."""
    if value < 100:
        return max(1, round(value))
    magnitude = 10 ** (int(math.log10(value)) - 1)
    return int(round(value / magnitude) * magnitude)


def legend(counts: dict[str, int]) -> list[LegendBin]:
    """The map's colour bins, ascending, starting with the "No signatures" bin.

    Binning: quantiles of the constituencies with at least one signature, so each colour covers
    about the same number of hexes whatever the petition's size (a log or linear scale leaves most
    of the map one colour because signatures follow population), with boundaries rounded to two
    significant figures. Fewer distinct values give fewer bins, spread across the palette so the
    highest count is always the darkest colour.
    """
    codes = load_hexjson()["hexes"]
    values = sorted(v for code, v in counts.items() if v > 0 and code in codes)
    bins = [LegendBin(0, 0, ZERO_COLOUR)]
    if not values:
        return bins
    n, k = len(values), len(PALETTE)
    lowers = [1]
    for i in range(1, k):
        candidate = _nice(values[(i * n) // k])
        if candidate > lowers[-1] and candidate <= values[-1]:
            lowers.append(candidate)
    m = len(lowers)
    colours = [PALETTE[-1]] if m == 1 else [PALETTE[round(j * (k - 1) / (m - 1))] for j in range(m)]
    for j, lower in enumerate(lowers):
        upper = lowers[j + 1] - 1 if j + 1 < m else values[-1]
        bins.append(LegendBin(lower, upper, colours[j]))
    return bins


def _colour_for(bins: list[LegendBin]) -> Callable[[int], str]:
    lowers = [b.lower for b in bins[1:]]
    colours = [b.colour for b in bins[1:]]

    def colour(count: int) -> str:
        if count <= 0 or not lowers:
            return ZERO_COLOUR
        return colours[max(0, bisect_right(lowers, count) - 1)]

    return colour


def hex_map_svg(
    counts: dict[str, int],
    *,
    title: str,
    id_prefix: str = "app-hex-map",
    bins: list[LegendBin] | None = None,
) -> str:
    """A complete `<svg>` hex map, one `<path>` per constituency coloured by `counts` (GSS code -> count).

    `title` labels the image (`role="img"`, `aria-labelledby`); each hex has a `<title>`
    "Name: N signatures" for hover tooltips. Pass `bins` (from `legend(counts)`) to reuse them.
    Codes not on the map are ignored; constituencies missing from `counts` have 0.
    """
    layout = _current_layout()
    colour = _colour_for(legend(counts) if bins is None else bins)
    title_id = f"{id_prefix}-title"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="app-hex-map" viewBox="{layout.view_box}"'
        f' width="{layout.width:.0f}" height="{layout.height:.0f}" role="img"'
        f' aria-labelledby="{escape(title_id)}" focusable="false">'
        f'<title id="{escape(title_id)}">{escape(title)}</title>'
        f'<g stroke="{STROKE_COLOUR}" stroke-width="{HEX_SIZE * 0.12:g}" stroke-linejoin="round">'
    ]
    append = parts.append
    get = counts.get
    for code, name, d in layout.hexes:
        n = get(code, 0) or 0
        noun = "signature" if n == 1 else "signatures"
        append(f'<path d="{d}" fill="{colour(n)}"><title>{name}: {n:,} {noun}</title></path>')
    append("</g></svg>")
    return "".join(parts)
