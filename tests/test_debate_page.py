"""The petition page's debates: the debate banners and every parliamentary event in the timeline, in the seed's
phrasing, with https-only links and harmless Markdown."""

import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from debates.models import EventKind, OtherBusiness, Outcome, ParliamentaryEvent
from petitions.models import Constituency, DebateState
from tests.factories import ClosedPetitionFactory

pytestmark = pytest.mark.django_db

WINTER_NOON = datetime(2023, 3, 21, 12, 0, tzinfo=UTC)  # midday GMT
SUMMER_1145PM = datetime(2022, 7, 1, 22, 45, tzinfo=UTC)  # 11.45pm BST


def _page(client, petition) -> str:
    response = client.get(f"/petitions/{petition.pk}")
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def _event(petition, **fields) -> ParliamentaryEvent:
    fields.setdefault("kind", EventKind.WESTMINSTER_HALL_DEBATE)
    fields.setdefault("title", "MPs debate the petition")
    event = ParliamentaryEvent.objects.create(**fields)
    event.petitions.add(petition)
    return event


def _section(html: str, event) -> str:
    """The event's own section of the page."""
    start = html.index(f'<section class="app-petition-event" id="event-{event.pk}"')
    return html[start : html.index("</section>", start)]


def _banner(html: str) -> str:
    start = html.index('<div class="govuk-inset-text app-debate-banner">')
    return html[start : html.index("</div>", start)]


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


# --- Banners ---------------------------------------------------------------------------------------


@time_machine.travel(datetime(2023, 2, 20, 12, 0, tzinfo=UTC), tick=False)
def test_scheduled_banner_gives_the_day_and_the_debate_pack(client):
    petition = ClosedPetitionFactory(
        debate_state=DebateState.SCHEDULED, scheduled_debate_date=date(2023, 3, 6)
    )
    debate = _event(
        petition,
        starts_at=datetime(2023, 3, 6, 16, 30, tzinfo=UTC),
        debate_pack_url="https://commonslibrary.parliament.uk/research-briefings/cdp-2023-0051/",
        public_engagement_url="https://committees.parliament.uk/publications/3333/",
    )
    # Another event on the same petition, on another day, is not the scheduled debate.
    _event(
        petition,
        title="An earlier debate",
        starts_at=datetime(2022, 11, 1, 16, 30, tzinfo=UTC),
        debate_pack_url="https://commonslibrary.parliament.uk/older-pack/",
    )
    banner = _banner(_page(client, petition))
    assert "<strong>Parliament will debate this petition on Monday 6 March 2023.</strong>" in banner
    assert (
        f'<a class="govuk-link" href="{debate.debate_pack_url}">Read the research for this debate (debate pack)</a>'
    ) in banner
    assert f'href="{debate.public_engagement_url}"' in banner
    assert "older-pack" not in banner
    assert "Watch the debate" not in banner


def test_scheduled_banner_without_a_date_or_links(client):
    petition = ClosedPetitionFactory(debate_state=DebateState.SCHEDULED, scheduled_debate_date=None)
    banner = _banner(_page(client, petition))
    assert "Parliament will debate this petition." in banner
    assert "<a " not in banner


@time_machine.travel(datetime(2023, 3, 10, 12, 0, tzinfo=UTC), tick=False)
def test_debated_banner_links_to_the_video_and_the_transcript(client):
    petition = ClosedPetitionFactory(debate_state=DebateState.DEBATED, scheduled_debate_date=date(2023, 3, 6))
    debate = _event(
        petition,
        starts_at=datetime(2023, 3, 6, 16, 30, tzinfo=UTC),
        outcome=Outcome.DEBATED,
        video_url="https://parliamentlive.tv/event/index/1234",
        transcript_url="https://hansard.parliament.uk/commons/2023-03-06/debates/1234/Send",
        overview="MPs spoke about **teacher training**.",
    )
    banner = _banner(_page(client, petition))
    assert "<strong>Parliament debated this petition on Monday 6 March 2023.</strong>" in banner
    assert f'<a class="govuk-link" href="{debate.video_url}">Watch the debate</a>' in banner
    assert f'<a class="govuk-link" href="{debate.transcript_url}">Read the transcript</a>' in banner
    assert f'href="#event-{debate.pk}-overview">What was said in the debate</a>' in banner


@time_machine.travel(datetime(2023, 3, 10, 12, 0, tzinfo=UTC), tick=False)
def test_debated_without_a_date_takes_the_links_of_the_debated_debate(client):
    petition = ClosedPetitionFactory(debate_state=DebateState.DEBATED, scheduled_debate_date=None)
    _event(
        petition,
        starts_at=datetime(2023, 3, 6, 16, 30, tzinfo=UTC),
        outcome=Outcome.DEBATED,
        video_url="https://www.youtube.com/watch?v=abc",
    )
    _event(
        petition,
        kind=EventKind.MINISTERIAL_STATEMENT,
        starts_at=datetime(2023, 3, 7, 12, 30, tzinfo=UTC),
        video_url="https://parliamentlive.tv/statement",
    )
    banner = _banner(_page(client, petition))
    assert "<strong>Parliament debated this petition.</strong>" in banner
    assert _hrefs(banner) == ["https://www.youtube.com/watch?v=abc"]


@pytest.mark.parametrize(
    "bad_url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "http://parliamentlive.tv/event/index/1234",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/",
        "https://evil.example/watch",  # https, but not a host of PARLIAMENT_LINK_HOSTS
        "https://parliament.uk.evil.example/",
    ],
)
@time_machine.travel(datetime(2023, 3, 10, 12, 0, tzinfo=UTC), tick=False)
def test_links_are_shown_only_when_https_even_if_a_bad_one_is_stored(client, bad_url):
    petition = ClosedPetitionFactory(debate_state=DebateState.DEBATED, scheduled_debate_date=date(2023, 3, 6))
    url_fields = (
        "video_url",
        "transcript_url",
        "debate_pack_url",
        "public_engagement_url",
        "debate_summary_url",
        "more_info_url",
        "evidence_url",
    )
    # objects.create does not validate: this is a URL that got past (or round) the admin's checks.
    event = _event(
        petition,
        starts_at=datetime(2023, 3, 6, 16, 30, tzinfo=UTC),
        outcome=Outcome.DEBATED,
        **dict.fromkeys(url_fields, bad_url),
    )
    html = _page(client, petition)
    for href in _hrefs(_banner(html)) + _hrefs(_section(html, event)):
        assert href.startswith(("https://", "#")), href
    for label in (
        "Watch the debate",
        "Read the transcript",
        "debate pack",
        "public engagement",
        "Find out more",
    ):
        assert label not in html
    assert "javascript:" not in html.lower()


def test_not_debated_banner_gives_the_reason(client):
    petition = ClosedPetitionFactory(debate_state=DebateState.NOT_DEBATED)
    _event(
        petition,
        starts_at=datetime(2023, 3, 6, 16, 30, tzinfo=UTC),
        outcome=Outcome.NOT_DEBATED,
        outcome_reason="The Petitions Committee decided not to debate this petition because <b>it was debated</b> "
        "in January.",
    )
    banner = _banner(_page(client, petition))
    assert "<strong>This petition was not debated</strong>" in banner
    assert "because &lt;b&gt;it was debated&lt;/b&gt; in January." in banner


def test_pending_petition_has_no_debate_banner(client):
    petition = ClosedPetitionFactory(debate_state=DebateState.PENDING)
    _event(
        petition, starts_at=datetime(2023, 3, 6, 16, 30, tzinfo=UTC), video_url="https://parliamentlive.tv/x"
    )
    html = _page(client, petition)
    assert "app-debate-banner" not in html and "debate this petition" not in html


# --- The timeline's phrasing -------------------------------------------------------------------------


@time_machine.travel(datetime(2023, 3, 1, 9, 0, tzinfo=UTC), tick=False)
def test_call_for_experiences_before_a_winter_deadline_at_midday(client):
    petition = ClosedPetitionFactory()
    event = _event(
        petition,
        title="Share your experiences: SEND workforce",
        starts_at=datetime(2023, 3, 22, 9, 30, tzinfo=UTC),
        place="Westminster Hall",
        lead_mp_name="Geraint Davies MP",
        evidence_deadline=WINTER_NOON,
        evidence_url="https://committees.parliament.uk/committee/326/petitions-committee/",
    )
    section = _section(_page(client, petition), event)
    assert (
        '<p class="govuk-caption-m">Westminster Hall debate, Wednesday 22 March 2023 at 9.30am, Westminster Hall. '
        "Led by Geraint Davies MP</p>"
    ) in section
    assert "On Wednesday 22 March, Geraint Davies MP will lead a debate in Westminster Hall." in section
    assert (
        f'<a class="govuk-link" href="{event.evidence_url}">Share your experiences</a> with Geraint Davies MP '
        "by midday on Tuesday 21 March."
    ) in section
    assert "Videos of the debate, the transcript of what was said in it" in section
    assert "What are Westminster Hall debates?" in section


@time_machine.travel(datetime(2022, 6, 1, 9, 0, tzinfo=UTC), tick=False)
def test_call_for_evidence_before_a_summer_deadline_at_1145pm(client):
    petition = ClosedPetitionFactory()
    event = _event(
        petition,
        kind=EventKind.CALL_FOR_EVIDENCE,
        title="Tell MPs about SEND support",
        starts_at=datetime(2022, 5, 20, 8, 0, tzinfo=UTC),
        evidence_deadline=SUMMER_1145PM,
        evidence_url="https://committees.parliament.uk/call-for-evidence/1/",
    )
    section = _section(_page(client, petition), event)
    assert (
        "MPs would like to hear about people’s experiences. Your contribution may be quoted directly."
        in section
    )
    assert (
        f'<a class="govuk-link" href="{event.evidence_url}">Share your experiences</a> by 11.45pm on Friday 1 July.'
    ) in section
    assert "What is a call for evidence?" in section
    # The link sits in the deadline sentence, not again in the list of links.
    assert section.count(event.evidence_url) == 1


@time_machine.travel(datetime(2023, 4, 1, 9, 0, tzinfo=UTC), tick=False)
def test_after_the_deadline_the_page_says_contributions_closed(client):
    petition = ClosedPetitionFactory()
    event = _event(
        petition,
        kind=EventKind.CALL_FOR_EVIDENCE,
        starts_at=datetime(2023, 3, 1, 9, 0, tzinfo=UTC),
        evidence_deadline=WINTER_NOON,
        evidence_url="https://committees.parliament.uk/call-for-evidence/1/",
    )
    section = _section(_page(client, petition), event)
    assert "Contributions closed at midday on Tuesday 21 March 2023." in section
    assert "MPs asked to hear about people’s experiences." in section
    assert "Share your experiences" not in section


@time_machine.travel(datetime(2022, 4, 1, 9, 0, tzinfo=UTC), tick=False)
def test_ministerial_statement_phrasing_past_and_upcoming(client):
    petition = ClosedPetitionFactory()
    past = _event(
        petition,
        kind=EventKind.MINISTERIAL_STATEMENT,
        title="MPs questions Secretary of State for Education about the review",
        starts_at=datetime(2022, 3, 29, 11, 45, tzinfo=UTC),
        place="House of Commons Chamber",
        lead_mp_name="Nadhim Zahawi MP",
        transcript_url="https://hansard.parliament.uk/commons/2022-03-29/debates/1/SendReview",
    )
    upcoming = _event(
        petition, kind=EventKind.MINISTERIAL_STATEMENT, starts_at=datetime(2022, 4, 5, 11, 30, tzinfo=UTC)
    )
    html = _page(client, petition)
    section = _section(html, past)
    assert (
        "Ministerial statement, Tuesday 29 March 2022 at 12.45pm, House of Commons Chamber</p>" in section
    )  # 11.45 UTC is 12.45pm BST
    assert (
        "On Tuesday 29 March, Nadhim Zahawi MP made a statement to the House of Commons, "
        "and was questioned about this by MPs."
    ) in section
    assert f'<a class="govuk-link" href="{past.transcript_url}">Read the transcript</a>' in section
    assert "What are Ministerial statements?" in section
    assert (
        "On Tuesday 5 April, a Government Minister will make a statement to the House of Commons and answer "
        "questions from MPs."
    ) in _section(html, upcoming)


@time_machine.travel(datetime(2024, 1, 20, 9, 0, tzinfo=UTC), tick=False)
def test_debate_led_by_a_constituency_mp_with_outcome_and_overview(client):
    constituency = Constituency.objects.order_by("gss_code").first()
    constituency.mp_name = "Sir David Davis"
    constituency.save(update_fields=["mp_name"])
    petition = ClosedPetitionFactory()
    event = _event(
        petition,
        kind=EventKind.BACKBENCH_BUSINESS_DEBATE,
        title="SEND provision and funding debated by MPs",
        starts_at=datetime(2024, 1, 11, 13, 30, tzinfo=UTC),
        place="House of Commons Chamber",
        lead_mp=constituency,
        outcome=Outcome.DEBATED,
        video_url="https://parliamentlive.tv/event/index/5678",
        overview="## Speeches\n\nMPs quoted **people who signed**.\n\n- one\n- two",
    )
    section = _section(_page(client, petition), event)
    assert "Led by Sir David Davis MP</p>" in section
    assert (
        "On Thursday 11 January, Sir David Davis MP led a Backbench Business debate in Parliament." in section
    )
    assert f'<h3 class="govuk-heading-m" id="event-{event.pk}-overview">What was said</h3>' in section
    assert '<h3 class="govuk-heading-m">Speeches</h3>' in section
    assert "MPs quoted <strong>people who signed</strong>." in section
    assert '<ul class="govuk-list govuk-list--bullet">' in section
    assert f'<a class="govuk-link" href="{event.video_url}">Watch the debate</a>' in section
    assert "What are Backbench Business debates?" in section
    assert "will lead" not in section


@time_machine.travel(datetime(2023, 4, 1, 9, 0, tzinfo=UTC), tick=False)
def test_debate_that_did_not_take_place(client):
    petition = ClosedPetitionFactory()
    event = _event(
        petition,
        kind=EventKind.CHAMBER_DEBATE,
        starts_at=datetime(2023, 3, 16, 14, 0, tzinfo=UTC),
        lead_mp_name="Jane Smith MP",
        outcome=Outcome.NOT_DEBATED,
        outcome_reason="The House rose early.",
    )
    section = _section(_page(client, petition), event)
    assert (
        "A debate in the House of Commons Chamber was planned for Thursday 16 March, led by Jane Smith MP."
        in section
    )
    assert "<strong>This debate did not take place.</strong>" in section
    assert "The House rose early." in section
    assert "What are debates in the Chamber?" in section


@time_machine.travel(datetime(2023, 6, 1, 9, 0, tzinfo=UTC), tick=False)
def test_select_committee_session_and_report_phrasing(client):
    petition = ClosedPetitionFactory()
    session = _event(
        petition,
        kind=EventKind.SELECT_COMMITTEE_SESSION,
        title="MPs hear from disabled people on National Disability Strategy",
        starts_at=datetime(2023, 4, 26, 8, 30, tzinfo=UTC),
        place="Committee Room 15",
        lead_mp_name="Women and Equalities Committee",
        more_info_url="https://committees.parliament.uk/committee/328/women-and-equalities-committee/",
    )
    report = _event(
        petition,
        kind=EventKind.COMMITTEE_REPORT,
        starts_at=datetime(2023, 7, 4, 23, 1, tzinfo=UTC),
        lead_mp_name="The Education Committee",
    )
    html = _page(client, petition)
    section = _section(html, session)
    assert (
        "Select committee evidence session, Wednesday 26 April 2023 at 9.30am, Committee Room 15</p>"
        in section
    )
    assert (
        "On Wednesday 26 April, the Women and Equalities Committee heard evidence in Committee Room 15."
        in section
    )
    assert f'<a class="govuk-link" href="{session.more_info_url}">Find out more</a>' in section
    assert "What are select committees?" in section
    # 11.01pm UTC on 4 July is 12.01am on Wednesday 5 July in London.
    report_section = _section(html, report)
    assert "Wednesday 5 July 2023 at 12.01am" in report_section
    assert "On Wednesday 5 July, The Education Committee will publish a report." in report_section


@time_machine.travel(datetime(2023, 6, 1, 9, 0, tzinfo=UTC), tick=False)
def test_a_staff_summary_replaces_the_written_sentence(client):
    petition = ClosedPetitionFactory()
    event = _event(
        petition,
        kind=EventKind.MINISTERIAL_STATEMENT,
        starts_at=datetime(2023, 3, 6, 15, 30, tzinfo=UTC),
        lead_mp_name="Claire Coutinho MP",
        summary="On Monday 6 March the Minister, Claire Coutinho MP, made a statement.\n\n- Invest in internships.",
    )
    section = _section(_page(client, petition), event)
    assert (
        '<p class="govuk-body">On Monday 6 March the Minister, Claire Coutinho MP, made a statement.</p>'
        in section
    )
    assert "<li>Invest in internships.</li>" in section
    assert "was questioned about this by MPs" not in section


@time_machine.travel(datetime(2024, 6, 1, 9, 0, tzinfo=UTC), tick=False)
def test_every_event_and_other_business_in_date_order(client):
    petition = ClosedPetitionFactory()
    later = _event(petition, title="Third: the debate", starts_at=datetime(2024, 1, 11, 13, 30, tzinfo=UTC))
    earlier = _event(
        petition,
        kind=EventKind.MINISTERIAL_STATEMENT,
        title="First: the statement",
        starts_at=datetime(2022, 3, 29, 11, 45, tzinfo=UTC),
    )
    OtherBusiness.objects.create(
        petition=petition,
        subject="Second: the committee asks for views",
        body="Thank you to the **4,200** people who took part.",
        occurred_on=date(2023, 5, 20),
    )
    html = _page(client, petition)
    positions = [
        html.index(title) for title in ("First: the statement", "Second: the committee", "Third: the debate")
    ]
    assert positions == sorted(positions)
    assert "Other parliamentary business, Saturday 20 May 2023" in html
    assert "Thank you to the <strong>4,200</strong> people who took part." in html
    assert _section(html, earlier) and _section(html, later)


@time_machine.travel(datetime(2024, 6, 1, 9, 0, tzinfo=UTC), tick=False)
def test_malicious_markdown_is_harmless(client):
    petition = ClosedPetitionFactory(debate_state=DebateState.NOT_DEBATED)
    attack = (
        "<script>alert('x')</script>\n\n"
        '<img src=x onerror="alert(1)">\n\n'
        "[click me](javascript:alert(1))\n\n"
        '<a href="javascript:alert(2)" onclick="alert(3)">raw link</a>\n\n'
        "[fine](https://www.parliament.uk/)"
    )
    event = _event(
        petition,
        title="<script>alert('title')</script>",
        starts_at=datetime(2024, 1, 11, 13, 30, tzinfo=UTC),
        place="<b>Westminster Hall</b>",
        lead_mp_name="<i>Someone</i>",
        summary=attack,
        overview=attack,
        outcome=Outcome.NOT_DEBATED,
        outcome_reason="<script>alert('reason')</script>",
    )
    OtherBusiness.objects.create(petition=petition, subject="<script>x</script>", body=attack)
    html = _page(client, petition)
    lowered = html.lower()
    assert "<script>alert" not in lowered
    assert "javascript:" not in lowered
    assert "onerror" not in lowered and "onclick" not in lowered
    assert "<img" not in lowered
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Westminster Hall&lt;/b&gt;" in html
    assert (
        '<a class="govuk-link" href="https://www.parliament.uk/" rel="noopener noreferrer">fine</a>' in html
    )
    assert _section(html, event)


def test_events_cost_no_extra_queries_each(client):
    petition = ClosedPetitionFactory(debate_state=DebateState.DEBATED, scheduled_debate_date=date(2023, 3, 6))
    constituency = Constituency.objects.order_by("gss_code").first()

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            _page(client, petition)
        return len(context)

    _event(
        petition, starts_at=datetime(2023, 3, 6, 16, 30, tzinfo=UTC), lead_mp=constituency, outcome="debated"
    )
    queries()  # the first request fills the site's caches
    one = queries()
    for day in range(1, 6):
        _event(petition, starts_at=datetime(2023, 4, day, 16, 30, tzinfo=UTC), lead_mp=constituency)
        OtherBusiness.objects.create(petition=petition, subject=f"Business {day}", body="Body")
    assert queries() == one
