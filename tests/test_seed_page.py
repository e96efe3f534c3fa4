"""`load_demo_data` gives a newcomer the real seed petition page and petitions in every public state."""

import re

import pytest
from django.db.models import Sum

from debates.models import ParliamentaryEvent
from petitions.demo import demo_data_load
from petitions.models import (
    ConstituencyPetitionJournal,
    CountryPetitionJournal,
    Department,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
    Topic,
)
from responses.models import Consultation

SEED_ACTION = "Make SEND training mandatory for all teaching staff"

# Every part of ../shared/seed/petition-page.txt, in the order the page shows them.
SEED_PARTS_IN_ORDER = [
    "Closed petition",
    SEED_ACTION,
    "Before the launch of the Institute of Teaching and the publication of the SEND Review",
    "More details",
    "Failing to require SEND training could result in more children with SEND excluded from education",
    "There are over 400,000 children and young people in England with an educational health care plan",
    "This petition is closed",
    "All petitions run for 6 months",
    "28,782",
    "signatures",
    "Show on a map",
    "Government responded",
    "This response was given on 9 March 2022",
    "To achieve Qualified Teacher Status, all teachers must already demonstrate",
    "Read the response in full",
    "The quality of teaching is key to ensuring that pupils with special educational needs",
    "Reforms to teacher training",
    "Further support for the workforce",
    "Department for Education",
    "Share your views on Government&#x27;s plans to improve support for children and young people with SEND",
    "It wants to hear from:",
    "Local and national system leaders",
    "You can respond until 11.45pm on Friday 1 July 2022.",
    "What changes is the Government planning to make?",
    "MPs questions Secretary of State for Education about the review",
    "On Tuesday 29 March, the Government Minister responsible for education, Nadhim Zahawi MP",
    "MPs discuss SEND and alternative provision improvement plan",
    "Claire Coutinho MP",
    "Expand school and college mental health support teams.",
    "What are Ministerial statements?",
    "Share your experiences: SEND workforce",
    "On Wednesday 22 March, Geraint Davies MP will lead a debate",
    "share your experiences with him by midday on Tuesday 21 March",
    "What are Westminster Hall debates?",
    "MPs hear from disabled people on National Disability Strategy",
    "Women and Equalities Committee",
    "SEND provision and funding debated by MPs",
    "On Thursday 11 January, Sir David Davis MP led a Backbench Business debate",
    "This debate was a debate on a substantive motion.",
    "What are Backbench Business debates?",
    "Get involved in the work of the UK Parliament",
]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo data, loaded once for this module (it is 250,000 rows) and removed afterwards."""
    with django_db_blocker.unblock():
        try:
            yield demo_data_load()
        finally:
            _remove_demo_data()


def _remove_demo_data():
    Consultation.objects.all().delete()
    ParliamentaryEvent.objects.all().delete()
    Petition.objects.all().delete()
    Department.objects.all().delete()
    Topic.objects.all().delete()


@pytest.fixture
def seed(demo, db):
    return Petition.objects.get(action=SEED_ACTION)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def test_seed_page_shows_every_part_of_the_real_page_in_order(client, seed):
    response = client.get(f"/petitions/{seed.pk}")
    assert response.status_code == 200
    html = _text(response.content.decode())
    position = 0
    for part in SEED_PARTS_IN_ORDER:
        found = html.find(part, position)
        assert found >= 0, f"missing or out of order: {part!r}"
        position = found + len(part)


def test_seed_timeline_is_in_date_order(seed):
    from petitions.selectors import petition_timeline

    entries = petition_timeline(petition=seed)
    assert [e.kind for e in entries] == ["government_response", "consultation"] + ["event"] * 5
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_seed_count_is_28782_real_signature_rows(seed):
    assert seed.signature_count == 28_782
    assert seed.signatures.filter(state=SignatureState.VALIDATED).count() == 28_782
    assert seed.signatures.filter(creator=True).count() == 1
    assert seed.signatures.filter(sponsor=True).count() == 5


def test_every_demo_count_agrees_with_its_rows(demo, db):
    for petition in Petition.objects.all():
        validated = Signature.objects.filter(petition=petition, state=SignatureState.VALIDATED)
        assert petition.signature_count == validated.count()
        by_constituency = ConstituencyPetitionJournal.objects.filter(petition=petition).aggregate(
            n=Sum("signature_count")
        )
        assert (by_constituency["n"] or 0) == validated.exclude(constituency=None).count()
        by_country = CountryPetitionJournal.objects.filter(petition=petition).aggregate(
            n=Sum("signature_count")
        )
        assert (by_country["n"] or 0) == validated.count()


def test_demo_has_petitions_in_every_public_state(demo, db):
    open_spread = Petition.objects.filter(state=PetitionState.OPEN, response_state="pending").get()
    assert ConstituencyPetitionJournal.objects.filter(petition=open_spread).count() > 300
    awaiting_response = Petition.objects.get(state=PetitionState.OPEN, response_state="awaiting")
    assert awaiting_response.signature_count >= 10_000 and awaiting_response.response_threshold_reached_at
    awaiting_debate = Petition.objects.get(debate_state="awaiting")
    assert awaiting_debate.signature_count >= 100_000 and awaiting_debate.debate_threshold_reached_at
    debated = Petition.objects.get(debate_state="debated")
    assert debated.parliamentary_events.filter(outcome="debated").exists()
    rejected = Petition.objects.get(state=PetitionState.REJECTED)
    assert rejected.rejection.reason.code == "duplicate"
    assert Petition.objects.filter(state=PetitionState.SPONSORED).exists()
    assert Petition.objects.filter(state=PetitionState.VALIDATED).exists()


def test_loading_again_creates_nothing(demo, db):
    before = (Petition.objects.count(), Signature.objects.count())
    assert demo_data_load()["created"] == 0
    assert (Petition.objects.count(), Signature.objects.count()) == before


def test_every_demo_petition_page_renders(client, demo, django_assert_max_num_queries):
    for petition in Petition.objects.all():
        with django_assert_max_num_queries(20):
            response = client.get(f"/petitions/{petition.pk}", follow=True)
        assert response.status_code == 200, petition.state
        assert petition.action.replace("'", "&#x27;") in response.content.decode()


def test_rejected_petition_says_why(client, demo, db):
    rejected = Petition.objects.get(state=PetitionState.REJECTED)
    html = client.get(f"/petitions/{rejected.pk}").content.decode()
    assert "This petition was rejected" in html and "Duplicate petition" in html


def test_home_page_lists_popular_petitions_and_counts(client, demo, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = client.get("/")
    html = _text(response.content.decode())
    assert "Lower the voting age to 16" in html
    assert "Awaiting a government response" in html


def test_signer_personal_data_never_appears_on_public_pages(client, seed):
    html = client.get(f"/petitions/{seed.pk}").content.decode()
    html += client.get(f"/petitions/{seed.pk}/map").content.decode()
    for signature in seed.signatures.all()[:200]:
        assert signature.email not in html
        assert f">{signature.name}<" not in html
    assert "@example.com" not in html
