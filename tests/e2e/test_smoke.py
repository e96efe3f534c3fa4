"""The browser sees the site as a person would: the home page and a petition page, in Chromium."""

import re

import pytest
from playwright.sync_api import expect

from petitions.services import petition_recount
from tests.factories import OpenPetitionFactory, ValidatedSignatureFactory


@pytest.mark.django_db(transaction=True)
def test_a_person_opens_the_home_page_and_a_petition(page, live_server):
    petition = OpenPetitionFactory(action="Plant a million trees")
    ValidatedSignatureFactory.create_batch(3, petition=petition)
    petition_recount(petition_id=petition.pk)

    page.goto(live_server.url + "/")
    expect(page).to_have_title("Petitions - UK Parliament")
    page.get_by_role("link", name="Plant a million trees").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Plant a million trees")
    expect(page.locator(".app-signature-count")).to_contain_text("3")
    # GOV.UK Frontend's JavaScript ran (it marks the body), so static files and CSP-free scripts load.
    expect(page.locator("body")).to_have_class(re.compile("govuk-frontend-supported"))
