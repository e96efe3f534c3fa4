"""Tests for petitions.postcodes. No database and no Django settings are needed."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from petitions import postcodes
from petitions.postcodes import (
    INVALID_MESSAGE,
    PostcodeError,
    PostcodeLookup,
    is_northern_ireland,
    lookup,
    normalise,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def exceptions() -> dict[str, str]:
    return {row["postcode"]: row["pcon24cd"] for row in read_rows(postcodes.EXCEPTIONS_CSV)}


@pytest.fixture(scope="module")
def sectors() -> dict[str, str]:
    return {row["sector"]: row["pcon24cd"] for row in read_rows(postcodes.SECTORS_CSV)}


@pytest.fixture(scope="module")
def districts() -> dict[str, str]:
    return {row["district"]: row["pcon24cd"] for row in read_rows(postcodes.DISTRICTS_CSV)}


# --- normalise ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SW1A 1AA", "SW1A 1AA"),
        ("sw1a1aa ", "SW1A 1AA"),
        ("  ec1a-1bb", "EC1A 1BB"),
        ("S W 1 A 1 A A", "SW1A 1AA"),
        ("\tm1  1ae\n", "M1 1AE"),
        ("b33 8th", "B33 8TH"),
        ("cr2 6xh", "CR2 6XH"),
        ("dn55 1pt", "DN55 1PT"),
        ("W1A 0AX", "W1A 0AX"),
        ("AB10 1HT", "AB10 1HT"),
        ("BT1 1AA", "BT1 1AA"),
        ("BFPO 1234", "BFPO 1234"),
        ("bfpo1", "BFPO 1"),
        ("BFPO C/O 123", "BFPO 123"),
        ("bfpo c/o 1234", "BFPO 1234"),
        ("BFP 56", "BFPO 56"),
        ("GIR 0AA", "GIR 0AA"),
        ("gir0aa", "GIR 0AA"),
    ],
)
def test_normalise_valid(raw: str, expected: str) -> None:
    assert normalise(raw) == expected
    assert normalise(expected) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "-",
        "NOT A POSTCODE",
        "SW1A",
        "1AA",
        "SW1A 1A",
        "SW1A 1AAA",
        "\x00SW1A1AA",
        "SW1A\x001AA",
        "A" * 200,
        "SW1A 1AA" * 25,
        "Q1 1AA",  # Q never starts a postcode
        "V1 1AA",
        "X1 1AA",
        "AI1 1AA",  # I, J and Z are never second
        "AZ1 1AA",
        "W1I 1AA",  # letter not allowed in an A9A outward code
        "EC1Z 1AA",  # nor in an AA9A one
        "SW1A 1CA",  # C, I, K, M, O and V never appear in the inward code
        "SW1A 1AO",
        "SW1A AAA",
        "BFPO",
        "BFPO 12345",
        "BFPO C/O 12345",
        "GIR 0AB",
        "ſW1A 1AA",  # long s upper-cases to "S": non-ASCII must not sneak through
        "SW1A 1AA\N{LATIN SMALL LETTER E WITH ACUTE}",
        "ＳＷ１Ａ １ＡＡ",  # full-width
        "SW1A 1AA SW1A 1AA",
    ],
)
def test_normalise_invalid(raw: str) -> None:
    with pytest.raises(PostcodeError) as excinfo:
        normalise(raw)
    assert str(excinfo.value) == INVALID_MESSAGE == "Enter a real UK postcode, like SW1A 1AA"


@pytest.mark.parametrize(
    ("raw", "code"),
    [("", "empty"), ("  ", "empty"), ("--", "empty"), ("x" * 200, "too_long"), ("SW1A 1AA XYZW", "too_long")],
)
def test_error_codes(raw: str, code: str) -> None:
    with pytest.raises(PostcodeError) as excinfo:
        normalise(raw)
    assert excinfo.value.code == code


def test_postcode_error_is_a_value_error() -> None:
    assert issubclass(PostcodeError, ValueError)


@given(st.text())
def test_normalise_only_raises_postcode_error(raw: str) -> None:
    try:
        result = normalise(raw)
    except PostcodeError:
        return
    assert normalise(result) == result


# Text close to postcodes, so that many examples get past validation.
postcode_like = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgirtbfpo0123456789 -/\t", max_size=14)


@given(postcode_like)
def test_normalise_postcode_like_text_is_idempotent(raw: str) -> None:
    try:
        result = normalise(raw)
    except PostcodeError:
        return
    assert normalise(result) == result
    assert result == result.strip().upper()


@given(
    st.from_regex(
        r"[A-PR-UWYZ]([0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
        r" [0-9][ABD-HJLNP-UW-Z]{2}",
        fullmatch=True,
    )
)
def test_normalise_accepts_well_formed_postcodes(postcode: str) -> None:
    assert normalise(postcode) == postcode
    assert normalise(postcode.lower().replace(" ", "")) == postcode


def test_every_postcode_in_the_data_is_well_formed(
    sectors: dict[str, str], districts: dict[str, str]
) -> None:
    for sector in sectors:
        assert normalise(f"{sector}AA") == f"{sector}AA"
    for district in districts:
        assert normalise(f"{district} 1AA") == f"{district} 1AA"
    for row in read_rows(postcodes.EXAMPLES_CSV):
        assert normalise(row["postcode"]) == row["postcode"]


def test_is_northern_ireland() -> None:
    assert is_northern_ireland("BT1 1AA")
    assert is_northern_ireland("bt486de")
    assert not is_northern_ireland("SW1A 1AA")
    assert not is_northern_ireland("B1 1AA")
    assert not is_northern_ireland("BFPO 1234")
    with pytest.raises(PostcodeError):
        is_northern_ireland("BT")


# --- lookup ---------------------------------------------------------------------------------------------


def test_lookup_exact(exceptions: dict[str, str], sectors: dict[str, str]) -> None:
    # AB10 1HT is listed individually because it differs from the rest of sector AB10 1.
    assert exceptions["AB10 1HT"] != sectors["AB10 1"]
    assert lookup("ab101ht") == PostcodeLookup("AB10 1HT", exceptions["AB10 1HT"], "exact")


def test_every_exception_is_found_exactly(exceptions: dict[str, str]) -> None:
    for postcode, code in exceptions.items():
        assert lookup(postcode) == PostcodeLookup(postcode, code, "exact")


def test_lookup_sector(exceptions: dict[str, str], sectors: dict[str, str]) -> None:
    sector, code = next(iter(sectors.items()))
    postcode = next(
        p for p in (f"{sector}{letters}" for letters in ("AA", "AB", "ZZ", "ZY")) if p not in exceptions
    )
    assert lookup(postcode) == PostcodeLookup(postcode, code, "sector")


def test_lookup_district_fallback(
    exceptions: dict[str, str], sectors: dict[str, str], districts: dict[str, str]
) -> None:
    # A sector the data does not have (e.g. created after it was built), in a district that it does have.
    district, sector = next(
        (district, f"{district} {digit}")
        for district in districts
        for digit in "0123456789"
        if f"{district} {digit}" not in sectors
    )
    postcode = f"{sector}AA"
    assert postcode not in exceptions
    assert lookup(postcode) == PostcodeLookup(postcode, districts[district], "district")


def test_lookup_northern_ireland() -> None:
    assert lookup("BT1 1AA") == PostcodeLookup("BT1 1AA", None, "northern_ireland")
    assert lookup("bt16 1xz").method == "northern_ireland"


def test_lookup_bfpo() -> None:
    assert lookup("bfpo 1234") == PostcodeLookup("BFPO 1234", None, "bfpo")
    assert lookup("BFPO C/O 12") == PostcodeLookup("BFPO 12", None, "bfpo")


def test_lookup_unknown() -> None:
    assert lookup("GIR 0AA") == PostcodeLookup("GIR 0AA", None, "none")
    assert lookup("YY1 1AA") == PostcodeLookup("YY1 1AA", None, "none")


def test_lookup_rejects_malformed() -> None:
    with pytest.raises(PostcodeError, match=INVALID_MESSAGE):
        lookup("NOT A POSTCODE")


def test_lookup_result_is_frozen() -> None:
    result = lookup("SW1A 1AA")
    with pytest.raises(AttributeError):
        result.gss_code = "E14000001"  # type: ignore[misc]


def test_tables_are_loaded_once() -> None:
    assert postcodes.load_tables() is postcodes.load_tables()


def test_module_does_not_import_django() -> None:
    code = "import sys, petitions.postcodes; sys.exit('django' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


# --- the key test: agreement with e-petitions' example postcodes ----------------------------------------


def test_example_postcodes_match_their_constituency() -> None:
    live_rows = [row for row in read_rows(postcodes.EXAMPLES_CSV) if row["in_codepoint_open_2023"] == "yes"]
    matched = sum(lookup(row["postcode"]).gss_code == row["pcon24cd"] for row in live_rows)
    share = matched / len(live_rows)
    print(f"postcode match share: {matched}/{len(live_rows)} = {share:.2%}")

    result = postcodes.example_match_share()
    assert (result.matched, result.total) == (matched, len(live_rows))
    assert len(live_rows) == 435
    assert share >= 0.99
