"""Offline UK postcode -> 2024 Westminster constituency (PCON24) lookup.

Pure Python on purpose (no Django import), so it can be used from forms, management commands, Celery tasks
and benchmarks alike. The data lives in ``petitions/data/postcodes/`` (see ``../shared/data/SOURCES.md``
for its derivation) and is loaded lazily, once per process:

1. ``derived-postcode-exceptions-pcon24.csv``: GB postcodes whose constituency differs from the majority of
   their sector. Together with the sector table this is a postcode-level lookup.
2. ``derived-postcode-sector-to-pcon24.csv``: majority constituency per sector ("AB10 1").
3. ``derived-postcode-district-to-pcon24.csv``: majority constituency per district ("AB10"), a last resort
   for sectors created after the data was built.

Northern Ireland (BT) is not covered by Code-Point Open, so NI signers must pick their constituency.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

DATA_DIR = Path(__file__).resolve().parent / "data" / "postcodes"
EXCEPTIONS_CSV = DATA_DIR / "derived-postcode-exceptions-pcon24.csv"
SECTORS_CSV = DATA_DIR / "derived-postcode-sector-to-pcon24.csv"
DISTRICTS_CSV = DATA_DIR / "derived-postcode-district-to-pcon24.csv"
EXAMPLES_CSV = DATA_DIR / "example-postcode-per-constituency-2024.csv"

INVALID_MESSAGE = "Enter a real UK postcode, like SW1A 1AA"

# Anything longer than this (after trimming the ends) is not a postcode someone typed; reject it before
# doing any further work on it.
MAX_RAW_LENGTH = 32
# "BFPOCO1234" is the longest compact form we accept.
MAX_COMPACT_LENGTH = 10

# Royal Mail's positional rules on top of the basic shape: Q, V and X never start a postcode; I, J and Z are
# never second; the letter of an A9A outward code is one of ABCDEFGHJKPSTUW and that of AA9A one of
# ABEHMNPRVWXY. The inward code never uses C, I, K, M, O or V. These rules are what reject e.g. "Q1 1AA".
_STANDARD_RE = re.compile(
    r"(?P<outward>"
    r"[A-PR-UWYZ][0-9][0-9]?"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?"
    r"|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]"
    r")"
    r"(?P<inward>[0-9][ABD-HJLNP-UW-Z]{2})"
)
# As accepted by e-petitions (BFPO?(C/O)?[0-9]{1,4}); the "/" of "C/O" has already been stripped.
_BFPO_RE = re.compile(r"BFPO?(?:CO)?(?P<number>[0-9]{1,4})")
_GIROBANK = "GIR0AA"
_NOT_ALPHANUMERIC_RE = re.compile(r"[\W_]+")

Method = Literal["exact", "sector", "district", "northern_ireland", "bfpo", "none"]


class PostcodeError(ValueError):
    """The input is not a UK postcode. ``str(error)`` is safe to show to the person who typed it."""

    def __init__(self, message: str = INVALID_MESSAGE, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        # Machine-readable reason ("empty", "too_long", "invalid"), e.g. for Django's ValidationError code.
        self.code = code


def normalise(raw: str) -> str:
    """Return the canonical form of a UK postcode ("SW1A 1AA", "BFPO 1234", "GIR 0AA").

    Whitespace and punctuation are ignored and case does not matter. Raises PostcodeError for anything that
    is not shaped like a UK postcode; it never raises anything else for a str.
    """
    text = raw.strip()
    if not text:
        raise PostcodeError(code="empty")
    if len(text) > MAX_RAW_LENGTH:
        raise PostcodeError(code="too_long")
    if "\x00" in text:
        raise PostcodeError()

    compact = _NOT_ALPHANUMERIC_RE.sub("", text)
    # Checked before upper-casing: "ı".upper() == "I" and "ſ".upper() == "S" would otherwise sneak through.
    if not compact.isascii():
        raise PostcodeError()
    compact = compact.upper()
    if not compact:
        raise PostcodeError(code="empty")
    if len(compact) > MAX_COMPACT_LENGTH:
        raise PostcodeError(code="too_long")

    if match := _STANDARD_RE.fullmatch(compact):
        return f"{match['outward']} {match['inward']}"
    if match := _BFPO_RE.fullmatch(compact):
        return f"BFPO {match['number']}"
    if compact == _GIROBANK:
        return "GIR 0AA"
    raise PostcodeError()


def is_northern_ireland(postcode: str) -> bool:
    """True for BT postcodes. Accepts raw input; raises PostcodeError if it is not a postcode at all."""
    # No other valid canonical form starts with "BT" (BFPO is "BF...", and in "BT1 1AA" T can only be the
    # second letter of the area).
    return normalise(postcode).startswith("BT")


@dataclass(frozen=True)
class PostcodeLookup:
    """Where a postcode was placed.

    ``method`` says how: "exact" (listed individually), "sector" or "district" (majority constituency of the
    sector or district), "northern_ireland" (no data: ask the signer to choose one of the 18 NI
    constituencies), "bfpo" (British Forces Post Office: no constituency) or "none" (a well-formed postcode
    we know nothing about, e.g. GIR 0AA or a non-geographic district).
    """

    postcode: str
    gss_code: str | None
    method: Method


@dataclass(frozen=True)
class PostcodeTables:
    exceptions: dict[str, str]
    sectors: dict[str, str]
    districts: dict[str, str]


def _read_pairs(path: Path, key_column: str) -> Iterator[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        key_index, code_index = header.index(key_column), header.index("pcon24cd")
        for row in reader:
            # Only 650 distinct codes: interning makes the 120k values share them.
            yield row[key_index], sys.intern(row[code_index])


@cache
def load_tables() -> PostcodeTables:
    """Read the three CSV files once per process. Call it at start-up to pay the cost up front."""
    return PostcodeTables(
        exceptions=dict(_read_pairs(EXCEPTIONS_CSV, "postcode")),
        sectors=dict(_read_pairs(SECTORS_CSV, "sector")),
        districts=dict(_read_pairs(DISTRICTS_CSV, "district")),
    )


def lookup(raw: str) -> PostcodeLookup:
    """Normalise ``raw`` and find its 2024 constituency. Raises PostcodeError for malformed input."""
    postcode = normalise(raw)
    if postcode.startswith("BFPO"):
        return PostcodeLookup(postcode, None, "bfpo")
    if postcode.startswith("BT"):
        return PostcodeLookup(postcode, None, "northern_ireland")

    tables = load_tables()
    if (code := tables.exceptions.get(postcode)) is not None:
        return PostcodeLookup(postcode, code, "exact")
    # The canonical form always ends in a three-character inward code: "SW1A 1AA" -> sector "SW1A 1".
    if (code := tables.sectors.get(postcode[:-2])) is not None:
        return PostcodeLookup(postcode, code, "sector")
    if (code := tables.districts.get(postcode[:-4])) is not None:
        return PostcodeLookup(postcode, code, "district")
    return PostcodeLookup(postcode, None, "none")


@dataclass(frozen=True)
class MatchShare:
    matched: int
    total: int
    mismatches: tuple[tuple[str, str, str | None], ...]  # (postcode, expected, got)

    @property
    def share(self) -> float:
        return self.matched / self.total if self.total else 0.0


def example_match_share() -> MatchShare:
    """Check ``lookup`` against e-petitions' example postcode per constituency.

    Only rows whose postcode is live in Code-Point Open 2023 count: the others are terminated or old-format
    postcodes, and NI is not in the data at all.
    """
    mismatches = []
    total = 0
    with EXAMPLES_CSV.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["in_codepoint_open_2023"] != "yes":
                continue
            total += 1
            got = lookup(row["postcode"]).gss_code
            if got != row["pcon24cd"]:
                mismatches.append((row["postcode"], row["pcon24cd"], got))
    return MatchShare(matched=total - len(mismatches), total=total, mismatches=tuple(mismatches))
