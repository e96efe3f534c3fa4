"""`/petitions/<id>/constituencies.csv`: a petition's signatures by constituency, from the tallies."""

import csv
import io

import pytest

from petitions.models import Constituency, ConstituencyPetitionJournal, PetitionState
from tests.factories import OpenPetitionFactory, PetitionFactory

pytestmark = pytest.mark.django_db


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_lists_constituencies_with_signatures_from_the_tallies(client, django_assert_num_queries):
    petition = OpenPetitionFactory(signature_count=30)
    first, second, third = Constituency.objects.order_by("gss_code")[:3]
    ConstituencyPetitionJournal.objects.create(petition=petition, constituency=second, signature_count=20)
    ConstituencyPetitionJournal.objects.create(petition=petition, constituency=first, signature_count=10)
    ConstituencyPetitionJournal.objects.create(petition=petition, constituency=third, signature_count=0)
    with django_assert_num_queries(2):
        response = client.get(f"/petitions/{petition.pk}/constituencies.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"petition-{petition.pk}-constituencies.csv" in response["Content-Disposition"]
    rows = _rows(response)
    assert rows[0] == ["Constituency", "ONS code", "MP", "Region", "Signatures"]
    assert [(r[1], r[4]) for r in rows[1:]] == [(first.gss_code, "10"), (second.gss_code, "20")]
    assert rows[1][0] == first.name and rows[1][3] == first.region.name
    assert rows[1][2] == (f"{first.mp_name} MP" if first.mp_name else "")


def test_a_cell_a_spreadsheet_would_run_is_escaped(client):
    petition = OpenPetitionFactory()
    constituency = Constituency.objects.order_by("gss_code").first()
    Constituency.objects.filter(pk=constituency.pk).update(mp_name='=HYPERLINK("http://evil.example")')
    ConstituencyPetitionJournal.objects.create(
        petition=petition, constituency=constituency, signature_count=5
    )
    rows = _rows(client.get(f"/petitions/{petition.pk}/constituencies.csv"))
    assert rows[1][2].startswith("'=HYPERLINK")


@pytest.mark.parametrize(
    ("state", "opened", "status"),
    [
        (PetitionState.PENDING, False, 404),
        (PetitionState.HIDDEN, False, 404),
        (PetitionState.REMOVED, True, 410),
    ],
)
def test_petitions_the_public_cannot_see_are_not_listed(client, state, opened, status):
    from django.utils import timezone

    petition = PetitionFactory(state=state, opened_at=timezone.now() if opened else None)
    assert client.get(f"/petitions/{petition.pk}/constituencies.csv").status_code == status
    assert client.get("/petitions/999999/constituencies.csv").status_code == 404


def test_the_map_page_links_to_it(client):
    petition = OpenPetitionFactory()
    constituency = Constituency.objects.order_by("gss_code").first()
    ConstituencyPetitionJournal.objects.create(
        petition=petition, constituency=constituency, signature_count=5
    )
    page = client.get(f"/petitions/{petition.pk}/map").content.decode()
    assert f"/petitions/{petition.pk}/constituencies.csv" in page
