"""Grace supports Ada's petition from the link Ada forwarded: the link, the form, and reaching moderation."""

import re

import pytest
from django.core import mail

from petitions.models import (
    Constituency,
    Country,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
    SiteSettings,
)
from petitions.services import petition_create
from tests.conftest import SITE_NOTICES

from .factories import PetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

SPONSOR = {
    "uk_citizenship": "on",
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "email_confirmation": "grace@example.com",
    "country": "GB",
    "postcode": "m1 1ae",
    "notify_by_email": "on",
}


@pytest.fixture
def petition():
    return petition_create(
        action="Protect hedgehogs from garden strimmers",
        background="Hedgehog numbers have halved since 2000.",
        additional_details="",
        name="Ada Lovelace",
        email="ada@example.com",
        country=Country.objects.get(code="GB"),
        postcode="SW1A 1AA",
        constituency=Constituency.objects.get(gss_code="E14001172"),
        ip_address="127.0.0.1",
    )


def sponsor_url(petition, token=None) -> str:
    return f"/petitions/{petition.pk}/sponsors/new?token={petition.sponsor_token if token is None else token}"


def html(response) -> str:
    return response.content.decode()


def main(response) -> str:
    return html(response).split('id="main-content"')[1]


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", html(response), re.S).group(1).strip()


def confirm_link(message) -> str:
    return re.search(r"http://testserver(/signatures/\d+/confirm\?token=[\w-]+)", message.body).group(1)


def support(client, petition, n: int, captured, **extra):
    """Sponsor number `n` fills in the form and confirms from their email. Returns their signature.

    Each supporter signs from an address of their own: from one address, the burst rate limit would mark the
    fifth signature on the petition within a minute fraudulent (tests/test_fraud.py).
    """
    data = {**SPONSOR, "name": f"Supporter {n}", "email": f"s{n}@example.com",
            "email_confirmation": f"s{n}@example.com", **extra}  # fmt: skip
    with captured(execute=True):
        response = client.post(sponsor_url(petition), data, REMOTE_ADDR=f"192.0.2.{n}")
    assert response.status_code == 302, html(response)[:2000]
    message = next(m for m in reversed(mail.outbox) if m.to == [data["email"]])
    path, _, token = confirm_link(message).partition("?token=")
    with captured(execute=True):
        assert client.post(path, {"token": token}).status_code == 302
    return Signature.objects.get(petition=petition, email=data["email"])


def creator_emails():
    return [m for m in mail.outbox if m.to == ["ada@example.com"]]


# --- The link ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "wrong", "x" * 43])
def test_a_wrong_token_is_not_found(client, petition, token):
    response = client.get(sponsor_url(petition, token))
    assert response.status_code == 404
    assert "Page not found" in html(response)
    assert Signature.objects.get().state == SignatureState.PENDING


def test_no_token_at_all_is_not_found(client, petition):
    assert client.get(f"/petitions/{petition.pk}/sponsors/new").status_code == 404


def test_an_unknown_petition_is_not_found(client):
    assert client.get("/petitions/999999/sponsors/new?token=abc").status_code == 404


@pytest.mark.parametrize("state", [PetitionState.HIDDEN, PetitionState.DORMANT, PetitionState.STOPPED])
def test_hidden_dormant_and_stopped_petitions_are_not_found(client, petition, state):
    Petition.objects.filter(pk=petition.pk).update(state=state)
    assert client.get(sponsor_url(petition)).status_code == 404


def test_a_removed_petition_is_gone(client, petition):
    Petition.objects.filter(pk=petition.pk).update(state=PetitionState.REMOVED)
    assert client.get(sponsor_url(petition)).status_code == 410


@pytest.mark.parametrize("state", [PetitionState.OPEN, PetitionState.CLOSED, PetitionState.REJECTED])
def test_a_moderated_petition_sends_you_to_its_page(client, petition, state):
    Petition.objects.filter(pk=petition.pk).update(state=state)
    for method in (client.get, client.post):
        response = method(sponsor_url(petition))
        assert response.status_code == 302 and response["Location"] == f"/petitions/{petition.pk}"
    assert Signature.objects.count() == 1


def test_opening_the_link_proves_the_creators_email(client, petition):
    assert client.get(sponsor_url(petition)).status_code == 200
    creator = Signature.objects.get(creator=True)
    petition.refresh_from_db()
    assert creator.state == SignatureState.VALIDATED and creator.validated_at is not None
    assert petition.state == PetitionState.VALIDATED
    assert petition.signature_count == 1

    validated_at = creator.validated_at
    client.get(sponsor_url(petition))
    creator.refresh_from_db()
    assert creator.validated_at == validated_at


def test_a_wrong_token_proves_nothing(client, petition):
    client.get(sponsor_url(petition, "wrong"))
    petition.refresh_from_db()
    assert petition.state == PetitionState.PENDING


# --- The form ---------------------------------------------------------------------------------------


def test_the_form_is_the_signature_form(client, petition):
    page = html(client.get(sponsor_url(petition)))
    assert "Protect hedgehogs from garden strimmers" in page and "Hedgehog numbers have halved" in page
    assert 'type="checkbox" name="uk_citizenship"' in page
    assert "I am a British citizen or UK resident" in page
    for field in ["name", "email", "email_confirmation", "postcode"]:
        assert f'name="{field}"' in page
    assert '<option value="GB" selected>United Kingdom</option>' in page
    assert 'type="checkbox" name="notify_by_email"' in page
    assert 'name="constituency"' not in page
    assert "This petition needs 5 more supporters" in page
    assert f'action="/petitions/{petition.pk}/sponsors/new?token={petition.sponsor_token}"' in page


def test_the_page_shows_nobody_elses_details(client, petition):
    ValidatedSignatureFactory(petition=petition, sponsor=True, email="other@example.org", postcode="M1 1AE")
    page = html(client.get(sponsor_url(petition)))
    for private in [
        "ada@example.com",
        "SW1A 1AA",
        "Ada Lovelace",
        "other@example.org",
        "M1 1AE",
        "127.0.0.1",
    ]:
        assert private not in page


EMPTY_FORM_ERRORS = [
    (
        "uk_citizenship",
        "You must be a British citizen or normally live in the UK to create or sign petitions",
    ),
    ("name", "Name must be completed"),
    ("email", "Email must be completed"),
    ("email_confirmation", "Confirm your email address"),
    ("postcode", "Postcode must be completed"),
]


def test_an_empty_form_lists_every_missing_answer(client, petition):
    response = client.post(sponsor_url(petition), {"country": "GB"})
    page = html(response)
    assert response.status_code == 200
    assert title(response).startswith("Error: ")
    assert 'class="govuk-error-summary"' in page
    for field, message in EMPTY_FORM_ERRORS:
        assert f'<a href="#id_{field}">{message}</a>' in page
        assert f'id="id_{field}-error"' in page
    assert Signature.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": "Grace http://spam.example"}, "name", "Name can&#x27;t contain a web address"),
        ({"name": "+Grace"}, "name", "Name can&#x27;t start with =, +, - or @"),
        ({"email_confirmation": "grace@example.org"}, "email_confirmation", "Email addresses must match"),
        ({"email": "grace@", "email_confirmation": "grace@"}, "email",
         "Enter an email address in the correct format, like name@example.com"),
        ({"postcode": "ZZ"}, "postcode", "Enter a real UK postcode, like SW1A 1AA"),
        ({"country": "ZZZ"}, "country", "Select a country from the list"),
    ],
)  # fmt: skip
def test_signature_form_rules(client, petition, change, field, message):
    response = client.post(sponsor_url(petition), {**SPONSOR, **change})
    assert f'<a href="#id_{field}">{message}</a>' in html(response)
    assert Signature.objects.count() == 1


def test_northern_ireland_supporters_choose_their_constituency(client, petition):
    response = client.post(sponsor_url(petition), {**SPONSOR, "postcode": "BT16 1XZ"})
    page = html(response)
    assert response.status_code == 200 and title(response).startswith("Error: ")
    assert '<a href="#id_constituency">Select your constituency in Northern Ireland</a>' in page
    assert page.count('<option value="N05') == 18
    belfast = Constituency.objects.get(name="Belfast East")
    response = client.post(
        sponsor_url(petition), {**SPONSOR, "postcode": "BT16 1XZ", "constituency": belfast.gss_code}
    )
    assert response.status_code == 302
    sponsor = Signature.objects.get(sponsor=True)
    assert sponsor.constituency == belfast and sponsor.postcode == "BT16 1XZ"


def test_supporting_makes_a_pending_sponsor_and_emails_the_confirmation_link(
    client, petition, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(sponsor_url(petition), SPONSOR)
    assert (
        response["Location"] == f"/petitions/{petition.pk}/sponsors/thank-you?token={petition.sponsor_token}"
    )
    sponsor = Signature.objects.get(sponsor=True)
    assert sponsor.state == SignatureState.PENDING and sponsor.validated_at is None
    assert (sponsor.name, sponsor.email, sponsor.canonical_email) == (
        "Grace Hopper",
        "grace@example.com",
        "grace@example.com",
    )
    assert sponsor.postcode == "M1 1AE" and sponsor.constituency.gss_code == "E14001352"
    assert sponsor.notify_by_email is True and sponsor.creator is False
    assert sponsor.ip_address == "127.0.0.1"

    [message] = mailoutbox
    assert message.to == ["grace@example.com"]
    assert message.subject == "Please confirm your email address"
    assert f"http://testserver/signatures/{sponsor.pk}/confirm?token={sponsor.confirm_token}" in message.body
    assert "Protect hedgehogs from garden strimmers" in message.body
    assert message.body.rstrip().endswith("UK Government and Parliament")

    petition.refresh_from_db()
    assert petition.signature_count == 1  # the creator only: Grace has not confirmed yet

    thanks = client.get(response["Location"])
    assert thanks.status_code == 200 and "Check your email" in html(thanks)
    assert "grace@example.com" not in html(thanks) and "M1 1AE" not in html(thanks)


def test_email_updates_are_opt_in(client, petition):
    client.post(sponsor_url(petition), {**SPONSOR, "notify_by_email": ""})
    assert Signature.objects.get(sponsor=True).notify_by_email is False


def test_supporting_twice_resends_the_link_and_makes_no_second_row(
    client, petition, mailoutbox, django_capture_on_commit_callbacks
):
    for _ in range(7):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(sponsor_url(petition), SPONSOR).status_code == 302
    assert Signature.objects.filter(sponsor=True).count() == 1
    assert len(mailoutbox) == 5  # the cap on emails to one address


def test_the_creator_cannot_count_as_their_own_supporter(client, petition):
    client.post(sponsor_url(petition), {**SPONSOR, "name": "Ada Lovelace", "email": "ada@example.com",
                                        "email_confirmation": "ada@example.com"})  # fmt: skip
    assert Signature.objects.filter(petition=petition).count() == 1


def test_paused_signing_shows_a_page_and_takes_nothing(client, petition):
    site = SiteSettings.load()
    site.disable_collecting_signatures = True
    site.save()
    response = client.get(sponsor_url(petition))
    assert "Signing petitions is paused" in html(response) and "<form" not in main(response)
    client.post(sponsor_url(petition), SPONSOR)
    assert Signature.objects.count() == 1


# --- Reaching moderation ------------------------------------------------------------------------------


def test_five_supporters_send_the_petition_to_moderation(
    client, petition, mailoutbox, django_capture_on_commit_callbacks
):
    for n in range(1, 5):
        support(client, petition, n, django_capture_on_commit_callbacks)
        petition.refresh_from_db()
        assert petition.state == PetitionState.VALIDATED
        assert petition.signature_count == n + 1
        assert f"You have {n} supporter{'s' if n > 1 else ''} so far" in creator_emails()[-1].body
    assert [m.subject for m in creator_emails()] == [
        "Someone supported your petition: “Protect hedgehogs from garden strimmers”"
    ] * 4
    assert "It needs 1 more supporter " in html(client.get(f"/petitions/{petition.pk}/gathering-support"))

    support(client, petition, 5, django_capture_on_commit_callbacks)
    petition.refresh_from_db()
    assert petition.state == PetitionState.SPONSORED
    assert petition.moderation_threshold_reached_at is not None
    assert petition.signature_count == 6
    message = creator_emails()[-1]
    assert message.subject == "Your petition has 5 supporters: “Protect hedgehogs from garden strimmers”"
    assert "This usually takes a week or less" in message.body
    assert len(creator_emails()) == 5
    assert client.get(f"/petitions/{petition.pk}")["Location"] == f"/petitions/{petition.pk}/moderation-info"


def test_the_fifth_supporter_triggers_the_delay_email_when_the_queue_is_long(
    client, petition, mailoutbox, django_capture_on_commit_callbacks
):
    site = SiteSettings.load()
    site.moderation_delay_threshold = 2
    site.moderation_delay_message = "We're checking a lot of petitions about hedgehogs."
    site.save()
    PetitionFactory.create_batch(2, state=PetitionState.SPONSORED)
    client.get(sponsor_url(petition))
    ValidatedSignatureFactory.create_batch(4, petition=petition, sponsor=True)
    support(client, petition, 5, django_capture_on_commit_callbacks)
    petition.refresh_from_db()
    assert petition.state == PetitionState.SPONSORED
    message = creator_emails()[-1]
    assert "it may take a number of weeks" in message.body
    assert "We're checking a lot of petitions about hedgehogs." in message.body


def test_supporters_after_the_fifth_are_taken_without_emailing_the_creator(
    client, petition, mailoutbox, django_capture_on_commit_callbacks
):
    client.get(sponsor_url(petition))
    ValidatedSignatureFactory.create_batch(5, petition=petition, sponsor=True)
    Petition.objects.filter(pk=petition.pk).update(state=PetitionState.SPONSORED)
    assert "This petition has enough supporters" in html(client.get(sponsor_url(petition)))
    sponsor = support(client, petition, 6, django_capture_on_commit_callbacks)
    assert sponsor.state == SignatureState.VALIDATED
    assert creator_emails() == []
    petition.refresh_from_db()
    assert petition.state == PetitionState.SPONSORED and petition.signature_count == 7


def test_gathering_support_page_counts_confirmed_supporters_only(
    client, petition, django_capture_on_commit_callbacks
):
    support(client, petition, 1, django_capture_on_commit_callbacks)
    support(client, petition, 2, django_capture_on_commit_callbacks)
    client.post(sponsor_url(petition), {**SPONSOR, "name": "Unconfirmed", "email": "u@example.com",
                                        "email_confirmation": "u@example.com"})  # fmt: skip
    page = html(client.get(f"/petitions/{petition.pk}/gathering-support"))
    assert "It needs 3 more supporters" in page
    assert "s1@example.com" not in page and "Supporter 1" not in page


def test_twenty_supporters_is_enough(client, petition):
    client.get(sponsor_url(petition))
    ValidatedSignatureFactory.create_batch(20, petition=petition, sponsor=True)
    Petition.objects.filter(pk=petition.pk).update(state=PetitionState.SPONSORED)
    response = client.get(sponsor_url(petition))
    assert response.status_code == 200
    assert "No more supporters are needed" in html(response)
    assert "<form" not in main(response)
    response = client.post(sponsor_url(petition), SPONSOR)
    assert "No more supporters are needed" in html(response)
    assert Signature.objects.filter(petition=petition).count() == 21


# --- Query counts -------------------------------------------------------------------------------------


def test_the_supporters_page_uses_a_bounded_number_of_queries(
    client, petition, django_assert_max_num_queries
):
    client.get(sponsor_url(petition))
    ValidatedSignatureFactory.create_batch(3, petition=petition, sponsor=True)
    with django_assert_max_num_queries(10 + SITE_NOTICES):
        assert client.get(sponsor_url(petition)).status_code == 200
    ValidatedSignatureFactory.create_batch(12, petition=petition, sponsor=True)
    with django_assert_max_num_queries(10 + SITE_NOTICES):
        assert client.get(sponsor_url(petition)).status_code == 200
    # The first signing in a process (and every few seconds after) also reads the rate limits and lists.
    with django_assert_max_num_queries(21):
        assert client.post(sponsor_url(petition), SPONSOR).status_code == 302
