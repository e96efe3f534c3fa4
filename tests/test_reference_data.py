"""The UK geography shipped in petitions/data/ loads completely and idempotently."""

import pytest

from petitions.models import Constituency, Country, Nation, Region, RejectionReason
from petitions.services import reference_data_load

pytestmark = pytest.mark.django_db


def test_650_constituencies_by_nation():
    assert Constituency.objects.count() == 650
    by_nation = {n: Constituency.objects.filter(nation=n).count() for n in Nation.values}
    assert by_nation == {
        Nation.ENGLAND: 543,
        Nation.WALES: 32,
        Nation.SCOTLAND: 57,
        Nation.NORTHERN_IRELAND: 18,
    }


def test_12_regions_with_the_api_letter_codes():
    assert Region.objects.count() == 12
    assert list(Region.objects.order_by("api_code").values_list("api_code", flat=True)) == list(
        "ABDEFGHJKLMN"
    )
    london = Region.objects.get(name="London")
    assert (london.gss_code, london.api_code, london.constituencies.count()) == ("E12000007", "H", 75)


def test_237_countries_and_the_uk_is_gb():
    assert Country.objects.count() == 237
    assert Country.objects.get(code="GB").name == "United Kingdom"


def test_constituencies_carry_welsh_names_mps_and_example_postcodes():
    aberafan = Constituency.objects.get(gss_code="W07000081")
    assert aberafan.name == "Aberafan Maesteg"
    assert aberafan.region.api_code == "L"
    assert aberafan.mp_name
    assert aberafan.party
    assert Constituency.objects.exclude(name_cy="").filter(nation=Nation.WALES).exists()
    assert not Constituency.objects.filter(example_postcode="").exists()


def test_rejection_reasons_are_the_reference_ten_with_four_hidden():
    assert RejectionReason.objects.count() == 10
    assert set(RejectionReason.objects.filter(hidden=True).values_list("code", flat=True)) == {
        "libellous",
        "offensive",
        "advert",
        "removed",
    }


def test_loading_again_changes_nothing():
    before = (Country.objects.count(), Region.objects.count(), Constituency.objects.count())
    assert reference_data_load() == {
        "countries": 237,
        "regions": 12,
        "constituencies": 650,
        "rejection_reasons": 10,
    }
    assert (Country.objects.count(), Region.objects.count(), Constituency.objects.count()) == before
