"""Grace signs an open petition: the form, the confirmation email, and the duplicate rules."""

import re
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from petitions.forms import SignatureForm
from petitions.models import Country, PetitionState, Signature, SignatureState, SiteSettings
from petitions.services import signature_create
from petitions.services.emails import MAX_EMAILS_PER_SIGNATURE
from tests.conftest import SITE_NOTICES

from .factories import OpenPetitionFactory, PendingSignatureFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

SIGNER = {
    "uk_citizenship": "on",
    "name": "Grace Hopper",
    "email": "Grace.Hopper+petitions@gmail.com",
    "email_confirmation": "Grace.Hopper+petitions@gmail.com",
    "country": "GB",
    "postcode": "m1 1ae",
    "notify_by_email": "on",
}
PRIVATE = ["Grace.Hopper", "gracehopper@gmail.com", "M1 1AE", "m1 1ae", "127.0.0.1"]


@pytest.fixture
def petition():
    return OpenPetitionFactory(
        action="Protect hedgehogs from garden strimmers",
        background="Hedgehog numbers have halved since 2000.",
        deadline_at=timezone.now() + timedelta(days=90),
        signature_count=7,
    )


def sign_url(petition) -> str:
    return f"/petitions/{petition.pk}/signatures/new"


def thank_you_url(petition) -> str:
    return f"/petitions/{petition.pk}/signatures/thank-you"


def html(response) -> str:
    return response.content.decode()


def main(response) -> str:
    return html(response).split('id="main-content"')[1]


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", html(response), re.S).group(1).strip()


def confirm_link(message) -> str:
    return re.search(r"http://testserver(/signatures/\d+/confirm\?token=[\w-]+)", message.body).group(1)


def sign(client, petition, captured, **change):
    with captured(execute=True):
        return client.post(sign_url(petition), {**SIGNER, **change})


def create(petition, captured, *, name="Grace Hopper", email="grace@example.com", postcode="M1 1AE"):
    with captured(execute=True):
        return signature_create(
            petition=petition,
            name=name,
            email=email,
            country=Country.objects.get(code="GB"),
            postcode=postcode,
            constituency=None,
            notify_by_email=False,
            ip_address="127.0.0.1",
        )


# --- The form ----------------------------------------------------------------------------------------


def test_the_open_petition_page_links_to_the_form(client, petition):
    page = html(client.get(f"/petitions/{petition.pk}"))
    assert (
        f'<a href="/petitions/{petition.pk}/signatures/new" class="govuk-button">Sign this petition</a>'
        in page
    )


def test_a_closed_petition_page_has_no_sign_button(client):
    closed = OpenPetitionFactory(state=PetitionState.CLOSED, closed_at=timezone.now())
    assert "Sign this petition" not in html(client.get(f"/petitions/{closed.pk}"))


def test_the_form_is_the_signature_form(client, petition):
    response = client.get(sign_url(petition))
    assert response.status_code == 200
    assert isinstance(response.context["form"], SignatureForm)
    page = html(response)
    assert title(response).startswith("Sign this petition")
    assert "Protect hedgehogs from garden strimmers" in page and "Hedgehog numbers have halved" in page
    assert 'type="checkbox" name="uk_citizenship"' in page
    for field in ["name", "email", "email_confirmation", "postcode"]:
        assert f'name="{field}"' in page
    assert '<option value="GB" selected>United Kingdom</option>' in page
    assert 'type="checkbox" name="notify_by_email"' in page
    assert f'action="/petitions/{petition.pk}/signatures/new"' in page
    assert 'method="post" novalidate' in page and "csrfmiddlewaretoken" in page


def test_an_empty_form_lists_every_missing_answer(client, petition):
    response = client.post(sign_url(petition), {"country": "GB"})
    page = html(response)
    assert response.status_code == 200
    assert title(response).startswith("Error: ")
    for field, message in [
        (
            "uk_citizenship",
            "You must be a British citizen or normally live in the UK to create or sign petitions",
        ),
        ("name", "Name must be completed"),
        ("email", "Email must be completed"),
        ("email_confirmation", "Confirm your email address"),
        ("postcode", "Postcode must be completed"),
    ]:
        assert f'<a href="#id_{field}">{message}</a>' in page
        assert f'id="id_{field}-error"' in page
    assert not Signature.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": "Grace http://spam.example"}, "name", "Name can&#x27;t contain a web address"),
        ({"name": "=Grace"}, "name", "Name can&#x27;t start with =, +, - or @"),
        ({"name": "G" * 256}, "name", "Name must be 255 characters or less"),
        ({"email": "@grace@example.com", "email_confirmation": "@grace@example.com"}, "email",
         "Enter an email address in the correct format, like name@example.com"),
        ({"email_confirmation": "grace@example.org"}, "email_confirmation", "Email addresses must match"),
        ({"postcode": "ZZ"}, "postcode", "Enter a real UK postcode, like SW1A 1AA"),
        ({"country": "ZZZ"}, "country", "Select a country from the list"),
        ({"postcode": "BT16 1XZ"}, "constituency", "Select your constituency in Northern Ireland"),
    ],
)  # fmt: skip
def test_signature_form_rules(client, petition, change, field, message):
    response = client.post(sign_url(petition), {**SIGNER, **change})
    assert response.status_code == 200
    assert f'<a href="#id_{field}">{message}</a>' in html(response)
    assert not Signature.objects.exists()


# --- Signing ----------------------------------------------------------------------------------------


def test_signing_makes_a_pending_signature_that_is_not_counted(
    client, petition, django_capture_on_commit_callbacks
):
    response = sign(client, petition, django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"] == thank_you_url(petition)

    signature = Signature.objects.get()
    assert signature.state == SignatureState.PENDING
    assert signature.counted_at is None and signature.validated_at is None
    assert not signature.creator and not signature.sponsor
    assert signature.name == "Grace Hopper"
    assert signature.email == "Grace.Hopper+petitions@gmail.com"
    assert signature.canonical_email == "gracehopper@gmail.com"
    assert signature.postcode == "M1 1AE" and signature.constituency.gss_code == "E14001352"
    assert signature.notify_by_email and signature.ip_address == "127.0.0.1"
    petition.refresh_from_db()
    assert petition.signature_count == 7

    [message] = mail.outbox
    assert message.to == ["Grace.Hopper+petitions@gmail.com"]
    assert message.subject.startswith("Please confirm your email address")
    assert confirm_link(message) == f"/signatures/{signature.pk}/confirm?token={signature.confirm_token}"
    assert "Protect hedgehogs from garden strimmers" in message.body
    signature.refresh_from_db()
    assert signature.email_count == 1


def test_the_email_waits_for_the_commit(client, petition, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(sign_url(petition), SIGNER)
    assert mail.outbox == [] and len(callbacks) == 1


def test_the_link_in_the_email_confirms_the_signature(client, petition, django_capture_on_commit_callbacks):
    sign(client, petition, django_capture_on_commit_callbacks)
    path, _, token = confirm_link(mail.outbox[0]).partition("?token=")
    assert "Confirm" in html(client.get(f"{path}?token={token}"))
    assert Signature.objects.get().state == SignatureState.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(path, {"token": token}).status_code == 302
    assert Signature.objects.get().state == SignatureState.VALIDATED


def test_the_thank_you_page_shows_no_personal_details(client, petition, django_capture_on_commit_callbacks):
    response = sign(client, petition, django_capture_on_commit_callbacks)
    page = html(client.get(response["Location"]))
    assert "Check your email" in page and "Protect hedgehogs from garden strimmers" in page
    for private in PRIVATE:
        assert private not in page
    for private in PRIVATE:
        assert private not in html(client.get(f"/petitions/{petition.pk}"))
        assert private not in html(client.get(sign_url(petition)))


def test_a_repeat_signing_looks_exactly_like_a_first(petition, django_capture_on_commit_callbacks):
    responses = []
    for _ in range(2):
        client = Client()
        response = sign(client, petition, django_capture_on_commit_callbacks)
        page = client.get(response["Location"])
        # The CSP nonce is new on every response.
        content = re.sub(rb' nonce="[^"]*"', b"", page.content)
        responses.append((response.status_code, response["Location"], page.status_code, content))
    assert responses[0] == responses[1]
    assert Signature.objects.count() == 1
    assert len(mail.outbox) == 2


# --- Duplicates -------------------------------------------------------------------------------------


def test_one_more_person_in_the_household_may_use_the_address(petition, django_capture_on_commit_callbacks):
    first = create(petition, django_capture_on_commit_callbacks, name="Grace Hopper")
    second = create(
        petition, django_capture_on_commit_callbacks, name="Vincent Hopper", email="GRACE@example.com"
    )
    assert first is not None and second is not None
    assert create(petition, django_capture_on_commit_callbacks, name="Walter Hopper") is None
    assert Signature.objects.count() == 2


@pytest.mark.parametrize(
    "attempt",
    [
        {"name": "grace  hopper"},  # the same person, however the name is typed
        {"name": "Grace Hopper", "email": "grace@EXAMPLE.com"},
        {"name": "Vincent Hopper", "postcode": "SW1A 1AA"},  # a different household
    ],
)
def test_duplicates_add_nothing(petition, django_capture_on_commit_callbacks, attempt):
    create(petition, django_capture_on_commit_callbacks)
    assert create(petition, django_capture_on_commit_callbacks, **attempt) is None
    assert Signature.objects.count() == 1


def test_the_same_postcode_written_differently_is_the_same_household(
    petition, django_capture_on_commit_callbacks
):
    create(petition, django_capture_on_commit_callbacks, postcode="M1 1AE")
    assert create(petition, django_capture_on_commit_callbacks, name="Vincent Hopper", postcode="m11ae")


def test_gmail_variants_are_one_address(petition, django_capture_on_commit_callbacks):
    create(petition, django_capture_on_commit_callbacks, email="grace.hopper@gmail.com")
    assert create(petition, django_capture_on_commit_callbacks, email="GraceHopper+x@googlemail.com") is None
    assert Signature.objects.count() == 1


def test_a_duplicate_of_a_pending_signature_gets_the_confirmation_again(
    petition, django_capture_on_commit_callbacks
):
    signature = create(petition, django_capture_on_commit_callbacks)
    create(petition, django_capture_on_commit_callbacks)
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Please confirm your email address"] * 2
    assert confirm_link(mail.outbox[0]) == confirm_link(mail.outbox[1])
    signature.refresh_from_db()
    assert signature.email_count == 2


def test_a_duplicate_of_a_confirmed_signature_is_told_they_already_signed(
    client, petition, django_capture_on_commit_callbacks
):
    ValidatedSignatureFactory(
        petition=petition, name="Grace Hopper", email="grace.hopper@gmail.com",
        canonical_email="gracehopper@gmail.com", postcode="M1 1AE",
    )  # fmt: skip
    response = sign(client, petition, django_capture_on_commit_callbacks)
    assert response["Location"] == thank_you_url(petition)
    [message] = mail.outbox
    assert message.to == ["grace.hopper@gmail.com"]
    assert message.subject.startswith("You've already signed this petition")
    assert "/confirm" not in message.body
    assert Signature.objects.count() == 1


def test_no_signature_gets_more_than_five_emails(client, petition, django_capture_on_commit_callbacks):
    for _ in range(MAX_EMAILS_PER_SIGNATURE + 3):
        response = sign(client, petition, django_capture_on_commit_callbacks)
        assert response["Location"] == thank_you_url(petition)
    assert len(mail.outbox) == MAX_EMAILS_PER_SIGNATURE == 5
    assert Signature.objects.get().email_count == 5


def test_the_cap_counts_earlier_emails_too(petition, django_capture_on_commit_callbacks):
    PendingSignatureFactory(petition=petition, name="Grace Hopper", email="grace@example.com", email_count=5)
    assert create(petition, django_capture_on_commit_callbacks) is None
    assert mail.outbox == []


# --- When signing is refused --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"state": PetitionState.CLOSED, "closed_at": timezone.now()},
        {"state": PetitionState.REJECTED},
        {"deadline_at": timezone.now() - timedelta(minutes=1)},
    ],
)
def test_closed_and_rejected_petitions_cannot_be_signed(client, petition, change):
    for field, value in change.items():
        setattr(petition, field, value)
    petition.save()
    for method in (client.get, client.post):
        response = method(sign_url(petition), SIGNER)
        assert response.status_code == 410
        assert "You can no longer sign this petition" in html(response)
    assert not Signature.objects.exists()


@pytest.mark.parametrize(
    "state", [PetitionState.PENDING, PetitionState.SPONSORED, PetitionState.DORMANT, PetitionState.STOPPED]
)
def test_unpublished_petitions_are_not_found(client, petition, state):
    petition.state = state
    petition.save()
    assert client.get(sign_url(petition)).status_code == 404
    assert client.post(sign_url(petition), SIGNER).status_code == 404
    assert client.get(thank_you_url(petition)).status_code == 404
    assert client.get("/petitions/999999/signatures/new").status_code == 404


def test_removed_petitions_are_gone(client, petition):
    petition.state = PetitionState.REMOVED
    petition.save()
    assert client.post(sign_url(petition), SIGNER).status_code == 410
    assert not Signature.objects.exists()


def test_paused_signing(client, petition, django_capture_on_commit_callbacks):
    site = SiteSettings.load()
    site.disable_collecting_signatures = True
    site.save()
    for method in (client.get, client.post):
        response = method(sign_url(petition), SIGNER)
        assert response.status_code == 200
        assert "Signing petitions is paused" in html(response)
    assert not Signature.objects.exists()


def test_nul_bytes_are_a_bad_request(client, petition):
    response = client.post(sign_url(petition), {**SIGNER, "name": "Grace\x00Hopper"})
    assert response.status_code == 400
    assert not Signature.objects.exists()


def test_a_post_without_the_csrf_token_is_refused_with_the_styled_page(petition):
    response = Client(enforce_csrf_checks=True).post(sign_url(petition), SIGNER)
    assert response.status_code == 403
    assert "Sorry, there is a problem with the service" in html(response)
    assert not Signature.objects.exists()


def test_get_head_and_post_only(client, petition):
    assert client.put(sign_url(petition)).status_code == 405
    assert client.post(thank_you_url(petition)).status_code == 405


def test_the_sign_page_uses_a_bounded_number_of_queries(
    client, petition, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    SiteSettings.load()  # created on first use
    with django_assert_max_num_queries(4 + SITE_NOTICES):
        client.get(sign_url(petition))
    # The first signing in a process (and every few seconds after) also reads the rate limits and lists, the
    # email domain rules and the reference data (countries, constituencies).
    with django_assert_max_num_queries(15):
        sign(client, petition, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(7):
        sign(client, petition, django_capture_on_commit_callbacks)


# --- Racing --------------------------------------------------------------------------------------------


@pytest.fixture
def reference_data_restored(django_db_blocker):
    yield
    from petitions.services import reference_data_load

    with django_db_blocker.unblock():
        reference_data_load()


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite has no row locks; its IMMEDIATE transactions serialise writers instead. Needs PostgreSQL.",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("names", [("Grace Hopper", "Grace Hopper"), ("Grace Hopper", "Vincent Hopper")])
def test_two_racing_signings_by_one_address_leave_one_row(reference_data_restored, mailoutbox, names):
    from petitions.services import reference_data_load

    reference_data_load()
    gb = Country.objects.get(code="GB")
    petition = OpenPetitionFactory(deadline_at=timezone.now() + timedelta(days=90))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(name, postcode):
        try:
            start.wait(timeout=10)
            signature_create(
                petition=petition, name=name, email="grace@example.com", country=gb,
                postcode=postcode, constituency=None, notify_by_email=False, ip_address=None,
            )  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    # Different postcodes: the second is a duplicate whichever name it has.
    threads = [
        threading.Thread(target=run, args=(name, postcode))
        for name, postcode in zip(names, ("M1 1AE", "SW1A 1AA"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert Signature.objects.filter(petition=petition).count() == 1
