"""Confirming a signature from its email: GET shows a button, only the POST confirms, once."""

import threading

import pytest
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from petitions.models import (
    ConstituencyPetitionJournal,
    Country,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
    SiteSettings,
)
from petitions.services import signature_confirm, signature_create, signatures_tally
from tests.conftest import SITE_NOTICES

from .factories import (
    OpenPetitionFactory,
    PendingSignatureFactory,
    PetitionFactory,
    ValidatedSignatureFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def petition():
    petition = PetitionFactory(state=PetitionState.PENDING)
    PendingSignatureFactory(petition=petition, creator=True, name="Ada Lovelace", email="ada@example.com")
    return petition


@pytest.fixture
def sponsor(petition):
    return signature_create(
        petition=petition,
        sponsor=True,
        name="Grace Hopper",
        email="grace@example.com",
        country=Country.objects.get(code="GB"),
        postcode="M1 1AE",
        constituency=None,
        notify_by_email=False,
        ip_address="192.0.2.1",
    )


def confirm_url(signature, token=None) -> str:
    return f"/signatures/{signature.pk}/confirm?token={signature.confirm_token if token is None else token}"


def html(response) -> str:
    return response.content.decode()


def main(response) -> str:
    return html(response).split('id="main-content"')[1]


def state_of(signature) -> tuple:
    signature.refresh_from_db()
    return signature.state, signature.validated_at


# --- GET never confirms ------------------------------------------------------------------------------


def test_get_shows_one_confirm_button_that_posts(client, sponsor):
    response = client.get(confirm_url(sponsor))
    page = main(response)
    assert response.status_code == 200
    assert page.count("<button") == 1 and "Confirm your signature" in page
    assert f'<form method="post" novalidate action="/signatures/{sponsor.pk}/confirm">' in page
    assert f'name="token" value="{sponsor.confirm_token}"' in page
    assert "grace@example.com" not in page and "M1 1AE" not in page and "192.0.2.1" not in page


def test_get_and_head_do_not_confirm(client, sponsor, petition):
    client.get(confirm_url(sponsor))
    client.get(confirm_url(sponsor))
    client.head(confirm_url(sponsor))
    assert state_of(sponsor) == (SignatureState.PENDING, None)
    petition.refresh_from_db()
    assert petition.state == PetitionState.PENDING and petition.signature_count == 0


# --- POST confirms, once -----------------------------------------------------------------------------


def test_post_confirms_and_shows_the_confirmed_page(client, sponsor, petition):
    response = client.post(f"/signatures/{sponsor.pk}/confirm", {"token": sponsor.confirm_token})
    assert response.status_code == 302 and response["Location"] == confirm_url(sponsor)
    sponsor.refresh_from_db()
    assert sponsor.state == SignatureState.VALIDATED
    assert sponsor.validated_at is not None and sponsor.validated_ip == "127.0.0.1"

    page = main(client.get(response["Location"]))
    assert "Thanks for your support" in page and "<button" not in page
    assert "The petition needs 4 more supporters" in page


def test_the_token_may_also_come_in_the_query_string(client, sponsor):
    client.post(confirm_url(sponsor))
    assert sponsor.__class__.objects.get(pk=sponsor.pk).state == SignatureState.VALIDATED


def test_confirming_twice_changes_nothing(
    client, sponsor, petition, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(confirm_url(sponsor), {"token": sponsor.confirm_token})
    first = state_of(sponsor)
    emails = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(confirm_url(sponsor), {"token": sponsor.confirm_token})
    assert response.status_code == 302
    assert "Thanks for your support" in html(client.get(response["Location"]))
    assert state_of(sponsor) == first
    assert len(mailoutbox) == emails
    petition.refresh_from_db()
    assert petition.signature_count == 2


@pytest.mark.parametrize("token", ["", "wrong", "x" * 43])
def test_a_wrong_token_is_not_found_and_changes_nothing(client, sponsor, petition, token):
    for response in (
        client.get(confirm_url(sponsor, token)),
        client.post(f"/signatures/{sponsor.pk}/confirm", {"token": token}),
    ):
        assert response.status_code == 404
        assert "Page not found" in html(response)
    assert state_of(sponsor) == (SignatureState.PENDING, None)
    petition.refresh_from_db()
    assert petition.state == PetitionState.PENDING


def test_another_signatures_token_does_not_work(client, sponsor, petition):
    creator = petition.creator
    response = client.post(f"/signatures/{sponsor.pk}/confirm", {"token": creator.confirm_token})
    assert response.status_code == 404
    assert state_of(sponsor) == (SignatureState.PENDING, None)


def test_an_unknown_signature_is_not_found(client):
    assert client.get("/signatures/999999/confirm?token=abc").status_code == 404


def test_service_rejects_a_wrong_token(sponsor):
    from petitions.services import SignatureTokenInvalid

    with pytest.raises(SignatureTokenInvalid):
        signature_confirm(signature=sponsor, token="nope", ip_address=None)
    assert state_of(sponsor) == (SignatureState.PENDING, None)


# --- What confirming does to the petition ----------------------------------------------------------------


def test_a_sponsor_confirming_proves_the_creator_and_validates_the_petition(client, sponsor, petition):
    client.post(confirm_url(sponsor), {"token": sponsor.confirm_token})
    creator = petition.creator
    assert creator.state == SignatureState.VALIDATED
    assert creator.validated_at < Signature.objects.get(pk=sponsor.pk).validated_at
    petition.refresh_from_db()
    assert petition.state == PetitionState.VALIDATED and petition.signature_count == 2


def test_the_creator_confirming_their_own_signature_validates_the_petition(client, petition):
    creator = petition.creator
    client.post(confirm_url(creator), {"token": creator.confirm_token})
    petition.refresh_from_db()
    assert petition.state == PetitionState.VALIDATED and petition.signature_count == 1
    assert state_of(creator)[0] == SignatureState.VALIDATED


def test_a_signer_of_an_open_petition_counts_only_once_confirmed(client):
    petition = OpenPetitionFactory()
    signer = PendingSignatureFactory(petition=petition)
    client.get(confirm_url(signer))
    petition.refresh_from_db()
    assert petition.signature_count == 0

    response = client.post(confirm_url(signer), {"token": signer.confirm_token})
    page = main(client.get(response["Location"]))
    assert "We've added your signature" in page and "supporter" not in page
    petition.refresh_from_db()
    assert petition.signature_count == 0  # confirming writes only the signature row; the tally counts it
    signatures_tally()
    petition.refresh_from_db()
    assert petition.signature_count == 1
    assert ConstituencyPetitionJournal.objects.get(petition=petition).signature_count == 1
    assert petition.state == PetitionState.OPEN


def test_a_closed_petition_takes_confirmations_for_24_hours(client):
    petition = OpenPetitionFactory(
        state=PetitionState.CLOSED, closed_at=timezone.now() - timezone.timedelta(hours=23)
    )
    signer = PendingSignatureFactory(petition=petition)
    client.post(confirm_url(signer), {"token": signer.confirm_token})
    assert state_of(signer)[0] == SignatureState.VALIDATED


def test_a_petition_closed_over_24_hours_ago_refuses(client):
    petition = OpenPetitionFactory(
        state=PetitionState.CLOSED, closed_at=timezone.now() - timezone.timedelta(hours=25)
    )
    signer = PendingSignatureFactory(petition=petition)
    for response in (
        client.get(confirm_url(signer)),
        client.post(confirm_url(signer), {"token": signer.confirm_token}),
    ):
        assert response.status_code == 410
        assert "You can no longer sign this petition" in html(response)
        assert "<form" not in main(response)
    assert state_of(signer) == (SignatureState.PENDING, None)


@pytest.mark.parametrize(
    "state",
    [
        PetitionState.REJECTED,
        PetitionState.HIDDEN,
        PetitionState.REMOVED,
        PetitionState.STOPPED,
        PetitionState.DORMANT,
    ],
)
def test_rejected_hidden_and_removed_petitions_refuse(client, sponsor, petition, state):
    Petition.objects.filter(pk=petition.pk).update(state=state)
    response = client.post(confirm_url(sponsor), {"token": sponsor.confirm_token})
    assert response.status_code == 410
    assert "You can no longer sign this petition" in html(response)
    assert state_of(sponsor) == (SignatureState.PENDING, None)
    assert client.get(confirm_url(sponsor)).status_code == 410


def test_paused_signing_refuses_confirmations(client, sponsor):
    site = SiteSettings.load()
    site.disable_collecting_signatures = True
    site.save()
    response = client.post(confirm_url(sponsor), {"token": sponsor.confirm_token})
    assert "Signing petitions is paused" in html(response)
    assert state_of(sponsor) == (SignatureState.PENDING, None)


def test_confirm_page_uses_a_bounded_number_of_queries(client, sponsor, django_assert_max_num_queries):
    SiteSettings.load()
    with django_assert_max_num_queries(2 + SITE_NOTICES):
        assert client.get(confirm_url(sponsor)).status_code == 200
    # 27: the sponsor's recount also rebuilds the petition's hourly history (two statements).
    with django_assert_max_num_queries(27):
        client.post(confirm_url(sponsor), {"token": sponsor.confirm_token})
    with django_assert_max_num_queries(3 + SITE_NOTICES):
        assert client.get(confirm_url(sponsor)).status_code == 200


# --- Two sponsors confirming at once ----------------------------------------------------------------------


@pytest.fixture
def reference_data_restored(django_db_blocker):
    """A transactional test empties every table when it ends; put the shared reference data back afterwards."""
    yield
    from petitions.services import reference_data_load

    with django_db_blocker.unblock():
        reference_data_load()


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite has no row locks; its IMMEDIATE transactions serialise writers instead. Needs PostgreSQL.",
)
@pytest.mark.django_db(transaction=True)
def test_two_sponsors_confirming_at_once_move_the_petition_once(reference_data_restored, mailoutbox):
    gb, _ = Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})
    petition = PetitionFactory(state=PetitionState.VALIDATED)
    ValidatedSignatureFactory(
        petition=petition, creator=True, email="ada@example.com", country=gb, constituency=None
    )
    ValidatedSignatureFactory.create_batch(4, petition=petition, sponsor=True, country=gb, constituency=None)
    pending = PendingSignatureFactory.create_batch(
        2, petition=petition, sponsor=True, country=gb, constituency=None
    )

    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(signature):
        try:
            start.wait(timeout=10)
            signature_confirm(signature=signature, token=signature.confirm_token, ip_address=None)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(s,)) for s in pending]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    petition.refresh_from_db()
    assert petition.state == PetitionState.SPONSORED
    assert petition.signature_count == 7
    to_creator = [m for m in mail.outbox if m.to == ["ada@example.com"]]
    assert [m.subject.split(":")[0] for m in to_creator] == ["Your petition has 5 supporters"]
