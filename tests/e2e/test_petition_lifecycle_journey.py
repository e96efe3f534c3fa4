"""Jo starts a petition, five friends support it by email, a moderator publishes it: all in a real browser,
with every email going through a real SMTP server and every task through a real Celery worker."""

import re

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from petitions.groups import MODERATORS, staff_groups_ensure
from petitions.models import Petition, PetitionState

CREATOR_EMAIL = "jo.leighton@example.org"
SPONSORS = [(f"Supporter {n} Example", f"supporter{n}@example.org") for n in range(1, 6)]


def _fill_signer_details(page, name, email, postcode="SW1A 1AA"):
    page.get_by_label("Full name").fill(name) if page.get_by_label(
        "Full name"
    ).count() else page.get_by_label("Name").fill(name)
    page.locator("#id_email").fill(email)
    page.locator("#id_email_confirmation").fill(email)
    page.locator("#id_country").select_option("GB")
    page.locator("#id_postcode").fill(postcode)


@pytest.mark.django_db(transaction=True)
def test_start_gather_five_sponsors_and_publish(page, site_url, mailbox, celery_worker):
    # --- Jo starts a petition, stage by stage.
    page.goto(site_url + "/petitions/start")
    page.locator("main").get_by_role("button", name="Start a petition").click()
    page.get_by_label("Yes").check()
    page.get_by_role("button", name="Continue").click()
    page.locator("#id_action").fill("Make SEND training mandatory for all teaching staff")
    page.get_by_role("button", name="Continue").click()
    if "/similar-petitions" in page.url:
        page.get_by_role("button", name="Continue with my petition").click()
    page.locator("#id_background").fill("Every teacher should be trained to support children with SEND.")
    page.get_by_role("button", name="Continue").click()
    page.locator("#id_additional_details").fill("Over a million children need SEN support.")
    page.get_by_role("button", name="Continue").click()
    _fill_signer_details(page, "Jo Leighton", CREATOR_EMAIL)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Make SEND training mandatory for all teaching staff")).to_be_visible()
    page.get_by_role("button", name="Create petition").click()
    expect(page).to_have_url(re.compile(r"/petitions/thank-you$"))

    # --- The sponsor link arrives by email; opening it proves Jo's address.
    message = mailbox.wait_for(to=CREATOR_EMAIL, subject_contains="supporters")
    sponsor_link = mailbox.link(message, r"https?://\S+/petitions/\d+/sponsors/new\?token=[\w-]+")
    petition = Petition.objects.get()
    assert petition.state == PetitionState.PENDING

    for name, email in SPONSORS:
        page.goto(sponsor_link)
        page.locator("#id_uk_citizenship").check()
        _fill_signer_details(page, name, email)
        page.get_by_role("button", name="Continue").click()
        confirm = mailbox.wait_for(to=email, subject_contains="confirm your email")
        page.goto(mailbox.link(confirm, r"https?://\S+/signatures/\d+/confirm\?token=[\w-]+"))
        # Opening the link alone confirms nothing (mail scanners prefetch links): the button does.
        page.get_by_role("button", name="Confirm your signature").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(
            re.compile("thank|confirmed", re.IGNORECASE)
        )

    mailbox.wait_for(to=CREATOR_EMAIL, subject_contains="has 5 supporters")
    petition.refresh_from_db()
    assert petition.state == PetitionState.SPONSORED
    page.goto(f"{site_url}/petitions/{petition.pk}")
    expect(page).to_have_url(re.compile(r"/moderation-info$"))

    # --- A moderator publishes it in the admin and emails the creator and sponsors.
    staff_groups_ensure()
    moderator = User.objects.create_user("mo", password="a-long-moderator-password", is_staff=True)
    moderator.groups.add(Group.objects.get(name=MODERATORS))
    page.goto(site_url + "/admin/login/")
    page.locator("#id_username").fill("mo")
    page.locator("#id_password").fill("a-long-moderator-password")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{site_url}/admin/petitions/petition/{petition.pk}/moderate/")
    page.get_by_label("Publish").check()
    page.get_by_role("button", name="Save and email").click()
    expect(page.locator(".messagelist")).to_contain_text("published")

    mailbox.wait_for(to=CREATOR_EMAIL, subject_contains="We published your petition")
    mailbox.wait_for(to=SPONSORS[0][1], subject_contains="published")

    # --- The petition is open, with its deadline, for everyone.
    page.goto(f"{site_url}/petitions/{petition.pk}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Make SEND training mandatory for all teaching staff"
    )
    expect(page.get_by_text("Deadline")).to_be_visible()
    expect(page.locator(".app-signature-count")).to_contain_text("6")
    petition.refresh_from_db()
    assert petition.state == PetitionState.OPEN and petition.deadline_at is not None
