"""Bad input on the signing path: each gets a clear answer (a form error, or a 4xx page a person can read), never
a 500, and no signature and no count changes.

What each gets:
- a field that breaks a rule: the form again, 200, with the message in the error summary (tests/test_signing.py
  checks each rule's exact wording; here every rule is checked to leave the counts alone);
- NUL bytes anywhere in the form: 400 "Bad request" page;
- a body over DATA_UPLOAD_MAX_MEMORY_SIZE, or thousands of fields: 400 page;
- no CSRF token: the styled 403 page;
- a wrong, empty, over-long or NUL-carrying token, or another signature's token, on confirm: 404 page;
- a reused token (confirming again): the confirmed page, and the count does not move;
- an unknown signature or petition id: 404 page.
"""

import pytest
from django.test import Client
from django.utils import timezone

from petitions.models import Signature, SignatureState
from petitions.services import signatures_tally

from .factories import OpenPetitionFactory, PendingSignatureFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

SIGNER = {
    "uk_citizenship": "on",
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "email_confirmation": "grace@example.com",
    "country": "GB",
    "postcode": "M1 1AE",
}


@pytest.fixture
def petition():
    petition = OpenPetitionFactory(deadline_at=timezone.now() + timezone.timedelta(days=30))
    ValidatedSignatureFactory.create_batch(3, petition=petition)
    signatures_tally()
    petition.refresh_from_db()
    assert petition.signature_count == 3
    return petition


def snapshot(petition):
    signatures_tally()
    petition.refresh_from_db()
    return (
        petition.signature_count,
        sorted(Signature.objects.filter(petition=petition).values_list("pk", "state")),
        sorted(petition.constituency_journals.values_list("constituency_id", "signature_count")),
        sorted(petition.country_journals.values_list("country_id", "signature_count")),
    )


def readable(response) -> str:
    page = response.content.decode()
    assert "<h1" in page and "</html>" in page, "a full page a person can read"
    return page


FIELD_RULES = [
    {"uk_citizenship": ""},
    {"name": ""},
    {"name": "Grace http://spam.example"},
    {"name": "=Grace"},
    {"name": "+Grace"},
    {"name": "-Grace"},
    {"name": "@Grace"},
    {"name": "G" * 256},
    {"email": ""},
    {"email": "not an email", "email_confirmation": "not an email"},
    {"email": "@grace@example.com", "email_confirmation": "@grace@example.com"},
    {"email": "g" * 250 + "@example.com", "email_confirmation": "g" * 250 + "@example.com"},
    {"email_confirmation": "grace@example.org"},
    {"email_confirmation": ""},
    {"country": ""},
    {"country": "ZZZ"},
    {"country": "GB" * 100},
    {"postcode": ""},
    {"postcode": "ZZ"},
    {"postcode": "M1 1AE" * 20},
    {"postcode": "BT16 1XZ"},
    {"postcode": "BT16 1XZ", "constituency": "not-a-constituency"},
]


@pytest.mark.parametrize(
    "change", FIELD_RULES, ids=[",".join(c) + f"-{i}" for i, c in enumerate(FIELD_RULES)]
)
def test_every_field_rule_gets_a_form_error_and_changes_nothing(client, petition, change):
    before = snapshot(petition)
    response = client.post(f"/petitions/{petition.pk}/signatures/new", {**SIGNER, **change})
    assert response.status_code == 200
    page = readable(response)
    assert "govuk-error-summary" in page
    assert snapshot(petition) == before


@pytest.mark.parametrize(
    "field", ["name", "email", "email_confirmation", "postcode", "country", "uk_citizenship"]
)
def test_nul_bytes_in_any_field_are_a_bad_request(client, petition, field):
    before = snapshot(petition)
    response = client.post(f"/petitions/{petition.pk}/signatures/new", {**SIGNER, field: "a\x00b"})
    assert response.status_code == 400
    readable(response)
    assert snapshot(petition) == before


def test_an_oversize_body_is_a_bad_request(client, petition, settings):
    before = snapshot(petition)
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post(f"/petitions/{petition.pk}/signatures/new", {**SIGNER, "name": big})
    assert response.status_code == 400
    readable(response)
    assert snapshot(petition) == before


def test_thousands_of_fields_are_a_bad_request(client, petition):
    before = snapshot(petition)
    fields = {f"f{i}": "x" for i in range(5000)}
    response = client.post(f"/petitions/{petition.pk}/signatures/new", {**SIGNER, **fields})
    assert response.status_code == 400
    readable(response)
    assert snapshot(petition) == before


def test_signing_without_a_csrf_token_gets_the_styled_403(petition):
    before = snapshot(petition)
    response = Client(enforce_csrf_checks=True).post(f"/petitions/{petition.pk}/signatures/new", SIGNER)
    assert response.status_code == 403
    assert "Sorry, there is a problem with the service" in readable(response)
    assert snapshot(petition) == before


def test_confirming_without_a_csrf_token_gets_the_styled_403(petition):
    signature = PendingSignatureFactory(petition=petition)
    before = snapshot(petition)
    response = Client(enforce_csrf_checks=True).post(
        f"/signatures/{signature.pk}/confirm", {"token": signature.confirm_token}
    )
    assert response.status_code == 403
    assert "Sorry, there is a problem with the service" in readable(response)
    assert snapshot(petition) == before
    signature.refresh_from_db()
    assert signature.state == SignatureState.PENDING


@pytest.mark.parametrize(
    "token",
    ["", "wrong", "x" * 10_000, "a\x00b", "%00", "' OR 1=1 --"],
    ids=["empty", "wrong", "long", "nul", "pct", "sql"],
)
def test_a_bad_confirmation_token_is_not_found_and_changes_nothing(client, petition, token):
    signature = PendingSignatureFactory(petition=petition)
    before = snapshot(petition)
    get = client.get(f"/signatures/{signature.pk}/confirm", {"token": token})
    post = client.post(f"/signatures/{signature.pk}/confirm", {"token": token})
    assert get.status_code in (400, 404) and post.status_code in (400, 404)
    readable(get), readable(post)
    assert snapshot(petition) == before


def test_another_signatures_token_is_not_found(client, petition):
    mine, theirs = PendingSignatureFactory.create_batch(2, petition=petition)
    before = snapshot(petition)
    response = client.post(f"/signatures/{mine.pk}/confirm", {"token": theirs.confirm_token})
    assert response.status_code == 404
    readable(response)
    assert snapshot(petition) == before


def test_a_reused_token_confirms_once(client, petition):
    signature = PendingSignatureFactory(petition=petition)
    for _ in range(3):
        response = client.post(f"/signatures/{signature.pk}/confirm", {"token": signature.confirm_token})
        assert response.status_code == 302
        assert "signature" in readable(client.get(response["Location"])).lower()
    count, *_ = snapshot(petition)
    assert count == 4


@pytest.mark.parametrize(
    "path",
    [
        "/signatures/999999/confirm?token=abc",
        "/signatures/999999/unsubscribe?token=abc",
        "/signatures/999999/withdraw?token=abc",
        "/petitions/999999/signatures/new",
        "/petitions/999999/count.json",
    ],
)
def test_unknown_ids_are_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404
    if not path.endswith(".json"):
        readable(response)
