"""Sam finds a petition by searching /petitions, signs it, confirms the signature from the email (through a real
SMTP server) and sees the count on the petition page go up by one once the tally job has run on a real Celery
worker: all in a real browser."""

import re

import pytest
from playwright.sync_api import expect

from petitions.models import Petition, SignatureState, SiteSettings
from petitions.tasks import tally_signatures
from tests.e2e.signing import SIGNER, open_petitions_create

CONFIRM_LINK = r"https?://\S+/signatures/\d+/confirm\?token=[\w-]+"


@pytest.mark.django_db(transaction=True)
def test_citizen_searches_signs_confirms_and_is_counted(page, site_url, mailbox, celery_worker):
    petition = open_petitions_create()
    # The page polls count.json once per tally interval: one second, so the new count shows quickly.
    SiteSettings.objects.filter(pk=SiteSettings.load().pk).update(signature_count_interval=1)

    # --- Search for it and open it.
    page.goto(site_url + "/petitions")
    page.get_by_label("Search petitions").fill("nurses")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/petitions\?q=nurses"))
    results = page.locator(".app-petition-list")
    expect(results.get_by_role("link")).to_have_count(1)
    results.get_by_role("link", name=petition.action).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(petition.action)
    count = page.locator(".app-signature-count")
    expect(count).to_have_text("1,234 signatures")

    # --- Sign it.
    page.get_by_role("link", name="Sign this petition").click()
    page.get_by_label("I am a British citizen or UK resident").check()
    page.get_by_label("Full name").fill(SIGNER["name"])
    page.get_by_label("Email address", exact=True).fill(SIGNER["email"])
    page.get_by_label("Confirm your email address").fill(SIGNER["email"])
    expect(page.get_by_label("Where do you live?")).to_have_value("GB")
    page.get_by_label("UK postcode").fill(SIGNER["postcode"])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    signature = petition.signatures.get()
    assert signature.state == SignatureState.PENDING

    # --- Confirm it from the email: the link shows a button, and only the button confirms.
    message = mailbox.wait_for(to=SIGNER["email"], subject_contains="confirm your email")
    page.goto(mailbox.link(message, CONFIRM_LINK))
    expect(page.get_by_role("heading", level=1)).to_have_text(petition.action)
    signature.refresh_from_db()
    assert signature.state == SignatureState.PENDING
    page.get_by_role("button", name="Confirm your signature").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("We've added your signature")
    signature.refresh_from_db()
    assert signature.state == SignatureState.VALIDATED

    # --- Back on the petition page, the count is the tally's: unchanged until the tally job has run.
    page.get_by_role("link", name="View the petition").click()
    expect(count).to_have_text("1,234 signatures")
    assert Petition.objects.get(pk=petition.pk).signature_count == 1_234
    # Beat sends this every 2 seconds in production; the worker runs it, and the page's polling shows it.
    tally_signatures.delay()
    expect(count).to_have_text("1,235 signatures", timeout=20_000)
    assert Petition.objects.get(pk=petition.pk).signature_count == 1_235
    page.reload()
    expect(count).to_have_text("1,235 signatures")
