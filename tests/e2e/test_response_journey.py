"""A Response editor publishes a government response in the admin, with its full text in Markdown; a signer who
asked for updates gets it by email (through the bulk email engine, a real Celery worker and a real SMTP server)
and anyone sees it on the petition page."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.sync_api import expect

from petitions.groups import RESPONSE_EDITORS, staff_groups_ensure
from petitions.models import Department, Petition, ResponseState
from responses.models import GovernmentResponse, ResponseStatus
from tests.factories import OpenPetitionFactory, ValidatedSignatureFactory

SIGNER_EMAIL = "sam.signer@example.org"
SUMMARY = "Every teacher already shows they understand the needs of pupils with SEND to qualify."
DETAILS = "The quality of teaching is key.\n\n## Reforms to teacher training\n\n- Initial teacher training\n- The Early Career Framework"


@pytest.mark.django_db(transaction=True)
def test_response_editor_publishes_and_signers_hear(page, site_url, mailbox, celery_worker):
    now = timezone.now()
    petition = OpenPetitionFactory(
        action="Make SEND training mandatory for all teaching staff",
        signature_count=10_512,
        response_state=ResponseState.AWAITING,
        response_threshold_reached_at=now - timedelta(days=20),
    )
    ValidatedSignatureFactory(petition=petition, name="Jo Creator", email="jo@example.org", creator=True)
    ValidatedSignatureFactory(petition=petition, name="Sam Signer", email=SIGNER_EMAIL, notify_by_email=True)
    ValidatedSignatureFactory(petition=petition, name="Quiet Signer", email="quiet@example.org")
    department, _ = Department.objects.get_or_create(
        name="Department for Education", defaults={"acronym": "DfE"}
    )

    staff_groups_ensure()
    editor = User.objects.create_user("rita", password="a-long-editor-password", is_staff=True)
    editor.groups.add(Group.objects.get(name=RESPONSE_EDITORS))
    page.goto(site_url + "/admin/login/")
    page.locator("#id_username").fill("rita")
    page.locator("#id_password").fill("a-long-editor-password")
    page.get_by_role("button", name="Log in").click()

    # --- Rita writes the response: the petition comes from the autocomplete, awaiting ones first.
    page.goto(site_url + "/admin/responses/governmentresponse/add/")
    page.locator(".field-petition .select2-selection").click()
    page.locator(".select2-search__field").fill(str(petition.pk))
    page.locator(".select2-results__option", has_text="Make SEND training").click()
    page.locator("#id_department").select_option(label="Department for Education")
    page.locator("#id_responded_on").fill(timezone.localdate().strftime("%Y-%m-%d"))
    page.locator("#id_summary").fill(SUMMARY)
    page.locator("#id_details").fill(DETAILS)
    # The live preview shows the Markdown as the page will.
    expect(
        page.locator("[data-markdown-preview-output] h3, [data-markdown-preview-output] h4").first
    ).to_have_text("Reforms to teacher training")
    page.get_by_role("button", name="Save and continue editing").click()
    response = GovernmentResponse.objects.get(petition=petition)
    assert response.status == ResponseStatus.DRAFT

    # A draft is not public.
    public = page.context.new_page()
    public.goto(f"{site_url}/petitions/{petition.pk}")
    expect(public.locator("main")).not_to_contain_text(SUMMARY)

    # --- Publish and email signers.
    page.get_by_role("button", name="Publish and email signers").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile("published", re.IGNORECASE))

    message = mailbox.wait_for(to=SIGNER_EMAIL, subject_contains="responded")
    text = mailbox.body(message)
    assert SUMMARY in text
    assert "Reforms to teacher training" in text and "##" not in text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Reforms to teacher training" in html
    assert message["List-Unsubscribe"]
    mailbox.wait_for(to="jo@example.org", subject_contains="responded")

    petition.refresh_from_db()
    assert petition.response_state == ResponseState.RESPONDED and petition.government_response_at is not None

    # --- The petition page shows it, the full text behind "Read the response in full".
    public.goto(f"{site_url}/petitions/{petition.pk}")
    main = public.locator("main")
    expect(main.get_by_role("heading", name="Government responded").first).to_be_visible()
    expect(main).to_contain_text(SUMMARY)
    expect(main).to_contain_text("Department for Education")
    public.get_by_text("Read the response in full").click()
    expect(main.get_by_text("Reforms to teacher training")).to_be_visible()

    # Nobody who did not ask for updates was emailed.
    assert not [m for m in mailbox.messages if "quiet@example.org" in m["To"]]
    assert Petition.objects.get(pk=petition.pk).government_response.status == ResponseStatus.PUBLISHED
