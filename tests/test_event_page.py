"""/debates/<id>: one parliamentary event, its public petitions and, for a chosen constituency, that
constituency's signatures on each and their share of the petition's total."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db.models import Count

from debates.constituency_selectors import parliament_link
from debates.models import EventKind, Outcome, ParliamentaryEvent
from petitions.models import (
    Constituency,
    Department,
    Nation,
    PetitionState,
    Signature,
    SignatureState,
    SiteSettings,
)
from petitions.services import signatures_tally
from tests.conftest import SITE_NOTICES
from tests.factories import (
    ClosedPetitionFactory,
    OpenPetitionFactory,
    PetitionFactory,
    ValidatedSignatureFactory,
)

pytestmark = pytest.mark.django_db

#: Before the seed's deadline: midday on Tuesday 21 March 2023 (GMT) and its debate on Wednesday 22 March.
BEFORE = datetime(2023, 3, 15, 9, 0, tzinfo=UTC)
DEADLINE = datetime(2023, 3, 21, 12, 0, tzinfo=UTC)
DEBATE = datetime(2023, 3, 22, 16, 30, tzinfo=UTC)

ROW = re.compile(r'data-petition="(\d+)">(.*?)</tr>', re.S)


def _page(client, event, query: str = ""):
    response = client.get(f"/debates/{event.pk}{query}")
    return response, re.sub(r"\s+", " ", response.content.decode())


def _rows(html: str) -> dict[int, dict[str, str]]:
    rows = {}
    for pk, cells in ROW.findall(html):
        rows[int(pk)] = dict(re.findall(r"data-([a-z-]+)>([^<]*)<", cells))
    return rows


def _event(**fields) -> ParliamentaryEvent:
    fields.setdefault("kind", EventKind.WESTMINSTER_HALL_DEBATE)
    fields.setdefault("title", "Share your experiences: SEND workforce")
    fields.setdefault("starts_at", DEBATE)
    petitions = fields.pop("petitions", ())
    event = ParliamentaryEvent.objects.create(**fields)
    event.petitions.add(*petitions)
    return event


def _constituencies(n: int) -> list[Constituency]:
    return list(Constituency.objects.exclude(nation=Nation.NORTHERN_IRELAND).order_by("gss_code")[:n])


# --- The event ------------------------------------------------------------------------------------------------------


@time_machine.travel(BEFORE, tick=False)
def test_the_event_in_the_seed_style(client):
    lead = _constituencies(1)[0]
    Constituency.objects.filter(pk=lead.pk).update(mp_name="Geraint Davies")
    department = Department.objects.create(acronym="DFE", name="Department for Education")
    event = _event(
        place="Westminster Hall",
        lead_mp=lead,
        department=department,
        summary="To inform the debate, he would like to hear about **your experiences**.",
        evidence_deadline=DEADLINE,
        evidence_url="https://committees.parliament.uk/send-workforce",
        debate_pack_url="https://commonslibrary.parliament.uk/research-briefings/cdp-2023-0057/",
    )
    response, html = _page(client, event)
    assert response.status_code == 200
    assert "Westminster Hall debate" in html and "Share your experiences: SEND workforce" in html
    assert "4.30pm on Wednesday 22 March 2023" in html
    assert "Westminster Hall" in html and "Department for Education" in html
    assert "Geraint Davies MP" in html and f'href="/constituencies/{lead.gss_code}"' in html
    assert "he would like to hear about <strong>your experiences</strong>." in html
    assert (
        '<a class="govuk-link" href="https://committees.parliament.uk/send-workforce">Share your experiences</a>'
        " by midday on Tuesday 21 March." in html
    )
    assert 'href="https://commonslibrary.parliament.uk/research-briefings/cdp-2023-0057/"' in html
    assert "No public petitions are linked" in html


def test_after_the_deadline_and_the_outcome(client):
    event = _event(
        evidence_deadline=DEADLINE,
        outcome=Outcome.DEBATED,
        overview="MPs discussed the *specialist workforce*.",
        transcript_url="https://hansard.parliament.uk/commons/2023-03-22/debates/1",
        video_url="https://parliamentlive.tv/Event/Index/abc",
    )
    _response, html = _page(client, event)
    assert "Contributions closed at midday on Tuesday 21 March 2023." in html
    assert "Debated on Wednesday 22 March 2023" in html
    assert "MPs discussed the <em>specialist workforce</em>." in html
    assert "Watch the debate" in html and "Read the transcript" in html
    not_debated = _event(outcome=Outcome.NOT_DEBATED, outcome_reason="Parliament was <dissolved>.")
    _response, html = _page(client, not_debated)
    assert "Not debated" in html and "Parliament was &lt;dissolved&gt;." in html


def test_only_https_links_on_allowed_hosts_are_shown(client, settings):
    settings.PARLIAMENT_LINK_HOSTS = ["*.parliament.uk", "parliamentlive.tv"]
    event = _event(
        summary="[Click me](javascript:alert(1))\n\n<script>alert(2)</script>",
        transcript_url="http://hansard.parliament.uk/insecure",
        video_url="https://parliamentlive.tv.evil.example/x",
        debate_pack_url="javascript:alert(3)",
        public_engagement_url="https://evil.example@parliament.uk.evil.example/",
        debate_summary_url="https://parliament.uk/bare-domain-is-not-a-subdomain",
        more_info_url="https://www.parliament.uk/fine",
        evidence_deadline=DEADLINE,
        evidence_url="https://evil.example/share",
    )
    _response, html = _page(client, event)
    assert "javascript:" not in html and "<script>alert" not in html
    for hidden in ("insecure", "evil.example", "bare-domain"):
        assert hidden not in html
    assert 'href="https://www.parliament.uk/fine"' in html


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://www.parliament.uk/x", True),
        ("HTTPS://Hansard.Parliament.UK/x", True),
        ("https://parliamentlive.tv/x", True),
        ("https://parliamentlive.tv:443/x", True),
        ("https://parliamentlive.tv:8443/x", False),
        ("https://sub.parliamentlive.tv/x", False),
        ("https://parliament.uk/x", False),
        ("https://evilparliament.uk/x", False),
        ("http://www.parliament.uk/x", False),
        ("https://user@www.parliament.uk/x", False),
        ("https://evil.example\\@www.parliament.uk/x", False),
        ("https://www.parliament.uk/x y", False),
        ("https://[::1/x", False),
        ("//www.parliament.uk/x", False),
        ("", False),
    ],
)
def test_parliament_link(settings, url, shown):
    settings.PARLIAMENT_LINK_HOSTS = ["*.parliament.uk", "parliamentlive.tv"]
    assert parliament_link(url) == (url if shown else "")


def test_an_unknown_event_is_the_404_page(client):
    for url in ("/debates/999999", f"/debates/{2**64}", "/debates/abc"):
        response = client.get(url)
        assert response.status_code == 404 and "Page not found" in response.content.decode()


# --- Its petitions and a constituency's share ---------------------------------------------------------------------------


@pytest.fixture
def signed():
    """An event on three public petitions and a hidden one, signed in two constituencies."""
    here, there = _constituencies(2)
    big, small, unsigned_here = OpenPetitionFactory(), ClosedPetitionFactory(), OpenPetitionFactory()
    hidden = PetitionFactory(state=PetitionState.HIDDEN)
    for petition, counts in ((big, (1, 2)), (small, (2, 1)), (unsigned_here, (0, 1)), (hidden, (3, 0))):
        ValidatedSignatureFactory.create_batch(counts[0], petition=petition, constituency=here)
        ValidatedSignatureFactory.create_batch(counts[1], petition=petition, constituency=there)
    ValidatedSignatureFactory.create_batch(2, petition=big, constituency=None, postcode="")  # from abroad
    signatures_tally()
    event = _event(petitions=[small, big, unsigned_here, hidden])
    return {
        "event": event,
        "here": here,
        "there": there,
        "petitions": [big, small, unsigned_here],
        "hidden": hidden,
    }


def test_its_public_petitions_with_their_totals(client, signed):
    big, small, unsigned_here = signed["petitions"]
    _response, html = _page(client, signed["event"])
    rows = _rows(html)
    assert list(rows) == [big.pk, small.pk, unsigned_here.pk]  # most signed first
    assert {pk: row["total"] for pk, row in rows.items()} == {
        big.pk: "5",
        small.pk: "3",
        unsigned_here.pk: "1",
    }
    assert signed["hidden"].action not in html
    assert "constituency-count" not in html  # no constituency chosen
    assert 'name="constituency"' in html and html.count("<option") == Constituency.objects.count() + 1


def test_a_constituency_share_equals_the_signature_rows(client, signed):
    here = signed["here"]
    _response, html = _page(client, signed["event"], f"?constituency={here.gss_code}")
    rows = _rows(html)
    validated = Signature.objects.filter(state=SignatureState.VALIDATED)
    totals = dict(validated.values("petition_id").annotate(n=Count("pk")).values_list("petition_id", "n"))
    local = dict(
        validated.filter(constituency=here)
        .values("petition_id")
        .annotate(n=Count("pk"))
        .values_list("petition_id", "n")
    )
    for petition in signed["petitions"]:
        row = rows[petition.pk]
        assert int(row["total"]) == totals[petition.pk]
        assert int(row["constituency-count"]) == local.get(petition.pk, 0)
    big, small, unsigned_here = signed["petitions"]
    assert [rows[p.pk]["share"] for p in (big, small, unsigned_here)] == ["20.0%", "66.7%", "0.0%"]
    assert f"From {here.name}" in html
    assert f'<option value="{here.gss_code}" selected>' in html


def test_a_lower_case_code_works_too(client, signed):
    _response, html = _page(client, signed["event"], f"?constituency={signed['there'].gss_code.lower()}")
    big, small, _unsigned_here = signed["petitions"]
    rows = _rows(html)
    assert (rows[big.pk]["constituency-count"], rows[big.pk]["share"]) == ("2", "40.0%")
    assert (rows[small.pk]["constituency-count"], rows[small.pk]["share"]) == ("1", "33.3%")


@pytest.mark.parametrize("code", ["E99999999", "nonsense", "E14001063" * 20, "<script>"])
def test_an_unknown_constituency_gets_a_clear_message(client, signed, code):
    response = client.get(f"/debates/{signed['event'].pk}", {"constituency": code})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Error: " in html and "Choose a constituency from the list" in html
    assert "<script>" not in html.split("<main", 1)[1]
    assert len(_rows(html)) == 3 and "constituency-count" not in html


def test_an_empty_choice_shows_no_constituency(client, signed):
    response, html = _page(client, signed["event"], "?constituency=")
    assert response.status_code == 200 and "Error:" not in html and "constituency-count" not in html


def test_nul_bytes_get_the_readable_400_page(client, signed):
    response, html = _page(client, signed["event"], "?constituency=E1400%0010")
    assert response.status_code == 400 and "Sorry, there is a problem with your request" in html


def test_fixed_number_of_queries_whatever_the_number_of_petitions(client, django_assert_num_queries):
    here = _constituencies(1)[0]
    SiteSettings.load()
    event = _event(petitions=[OpenPetitionFactory()])
    # The event (with its lead and department), the constituencies for the choice, its petitions with counts.
    expected = 3 + SITE_NOTICES
    for query in ("", f"?constituency={here.gss_code}", "?constituency=nonsense"):
        with django_assert_num_queries(expected):
            assert len(_rows(_page(client, event, query)[1])) == 1
    for _n in range(25):
        petition = OpenPetitionFactory()
        ValidatedSignatureFactory(petition=petition, constituency=here)
        event.petitions.add(petition)
    signatures_tally()
    for query in ("", f"?constituency={here.gss_code}"):
        with django_assert_num_queries(expected):
            assert len(_rows(_page(client, event, query)[1])) == 26


def test_no_signer_email_or_postcode_on_the_page(client, signed):
    _response, html = _page(client, signed["event"], f"?constituency={signed['here'].gss_code}")
    signers = Signature.objects.all()
    for value in set(signers.values_list("email", flat=True)) | set(
        signers.exclude(postcode="").values_list("postcode", flat=True)
    ):
        assert value not in html
