"""Signer self-service from email links: unsubscribing (also RFC 8058 one-click) and withdrawing a signature."""

import re

import pytest
from django.conf import settings
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from petitions.models import (
    ConstituencyPetitionJournal,
    CountryPetitionJournal,
    PetitionState,
    Signature,
    SignatureState,
)
from petitions.services import (
    SignatureTokenInvalid,
    SignatureUnsubscribeRefused,
    SignatureWithdrawRefused,
    petition_recount,
    signature_email_send,
    signature_unsubscribe,
    signature_withdraw,
    signatures_tally,
)

from .factories import (
    ClosedPetitionFactory,
    FraudulentSignatureFactory,
    InvalidatedSignatureFactory,
    OpenPetitionFactory,
    PendingSignatureFactory,
    PetitionFactory,
    ValidatedSignatureFactory,
)

pytestmark = pytest.mark.django_db

EMAIL = "zoe.private@example.org"
URL = re.compile(r"https?://[^\s>]+")


@pytest.fixture
def petition():
    return OpenPetitionFactory(deadline_at=timezone.now() + timezone.timedelta(days=30))


@pytest.fixture
def signer(petition):
    return ValidatedSignatureFactory(petition=petition, email=EMAIL, notify_by_email=True)


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def unsubscribe_url(signature, token=None) -> str:
    token = signature.unsubscribe_token if token is None else token
    return f"/signatures/{signature.pk}/unsubscribe?token={token}"


def withdraw_url(signature, token=None) -> str:
    return f"/signatures/{signature.pk}/withdraw?token={signature.confirm_token if token is None else token}"


def main(response, signature=None) -> str:
    """The page's main content, checked to carry none of the signer's personal data."""
    page = response.content.decode()
    if signature is not None:
        assert signature.email not in page
        assert signature.postcode and signature.postcode not in page
        assert signature.postcode.replace(" ", "") not in page
    return page.split('id="main-content"')[1]


def counts(petition) -> tuple[int, int, int]:
    """(petition count, sum of its constituency journals, sum of its country journals)."""
    petition.refresh_from_db()

    def total(model):
        return model.objects.filter(petition=petition).aggregate(n=Sum("signature_count"))["n"] or 0

    return petition.signature_count, total(ConstituencyPetitionJournal), total(CountryPetitionJournal)


def fresh(signature) -> Signature:
    return Signature.objects.get(pk=signature.pk)


# --- Unsubscribing ---------------------------------------------------------------------------------------


def test_unsubscribe_get_shows_one_button_that_posts_and_changes_nothing(client, signer):
    response = client.get(unsubscribe_url(signer))
    page = main(response, signer)
    assert response.status_code == 200
    assert page.count("<button") == 1 and ">Unsubscribe</button>" in page
    assert f'<form method="post" novalidate action="{unsubscribe_url(signer)}">' in page
    assert client.head(unsubscribe_url(signer)).status_code == 200
    signer = fresh(signer)
    assert signer.notify_by_email and signer.unsubscribed_at is None


def test_unsubscribe_post_unsubscribes(client, signer):
    response = client.post(unsubscribe_url(signer))
    assert response.status_code == 200
    assert "You've been unsubscribed" in main(response, signer)
    signer = fresh(signer)
    assert not signer.notify_by_email and signer.unsubscribed_at is not None
    assert signer.state == SignatureState.VALIDATED  # the signature still counts


def test_unsubscribing_twice_changes_nothing(client, signer):
    client.post(unsubscribe_url(signer))
    first = fresh(signer).unsubscribed_at
    response = client.post(unsubscribe_url(signer))
    assert response.status_code == 200 and "You've been unsubscribed" in main(response, signer)
    assert fresh(signer).unsubscribed_at == first
    # Opening the link again says so, with no button.
    page = main(client.get(unsubscribe_url(signer)), signer)
    assert "You've been unsubscribed" in page and "<button" not in page


@pytest.mark.parametrize("multipart", [False, True])
def test_a_one_click_post_without_a_csrf_token_unsubscribes(csrf_client, signer, multipart):
    """RFC 8058: the mail provider POSTs "List-Unsubscribe=One-Click" to the header's URL, with no cookies."""
    if multipart:
        response = csrf_client.post(unsubscribe_url(signer), {"List-Unsubscribe": "One-Click"})
    else:
        response = csrf_client.post(
            unsubscribe_url(signer),
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 200
    assert fresh(signer).unsubscribed_at is not None


@pytest.mark.parametrize("token", ["", "wrong", "x" * 43])
def test_unsubscribe_with_a_wrong_token_is_not_found_and_changes_nothing(client, signer, token):
    for response in (client.get(unsubscribe_url(signer, token)), client.post(unsubscribe_url(signer, token))):
        assert response.status_code == 404
        assert "Page not found" in main(response, signer)
    assert client.post(f"/signatures/{signer.pk}/unsubscribe").status_code == 404
    assert fresh(signer).unsubscribed_at is None


def test_unsubscribe_tokens_are_not_interchangeable(client, signer, petition):
    other = ValidatedSignatureFactory(petition=petition)
    assert client.post(unsubscribe_url(signer, other.unsubscribe_token)).status_code == 404
    # The confirmation token withdraws; it does not unsubscribe.
    assert client.post(unsubscribe_url(signer, signer.confirm_token)).status_code == 404
    assert client.post(f"/signatures/{other.pk + 1000}/unsubscribe?token=x").status_code == 404
    assert fresh(signer).unsubscribed_at is None and fresh(other).unsubscribed_at is None


def test_the_creator_cannot_unsubscribe(client, petition):
    creator = ValidatedSignatureFactory(petition=petition, creator=True, notify_by_email=True, email=EMAIL)
    for response in (client.get(unsubscribe_url(creator)), client.post(unsubscribe_url(creator))):
        assert response.status_code == 403
        page = main(response, creator)
        assert "You can't unsubscribe from emails about your own petition" in page and "<button" not in page
    assert fresh(creator).notify_by_email and fresh(creator).unsubscribed_at is None
    with pytest.raises(SignatureUnsubscribeRefused):
        signature_unsubscribe(signature=creator, token=creator.unsubscribe_token)


def test_unsubscribe_service_checks_the_token(signer):
    with pytest.raises(SignatureTokenInvalid):
        signature_unsubscribe(signature=signer, token=signer.confirm_token)
    with pytest.raises(SignatureTokenInvalid):
        signature_unsubscribe(signature=signer, token=None)
    assert fresh(signer).unsubscribed_at is None


def test_signers_of_closed_petitions_can_still_unsubscribe(client):
    signer = ValidatedSignatureFactory(petition=ClosedPetitionFactory(), notify_by_email=True)
    assert client.post(unsubscribe_url(signer)).status_code == 200
    assert fresh(signer).unsubscribed_at is not None


# --- Unsubscribe links and headers in emails -------------------------------------------------------------


def _urls(message) -> list[str]:
    return URL.findall(message.body) + URL.findall(message.extra_headers.get("List-Unsubscribe", ""))


def _assert_unsubscribable(message, signature):
    expected = (
        f"{settings.SITE_URL}/signatures/{signature.pk}/unsubscribe?token={signature.unsubscribe_token}"
    )
    headers = message.message()
    assert headers["List-Unsubscribe"] == f"<{expected}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The last thing before the sign-off.
    assert f"To stop getting emails about this petition, unsubscribe:\n{expected}\n\nThanks," in message.body
    for url in _urls(message):
        assert "@" not in url and "%40" not in url.lower() and "email" not in url.lower()


@pytest.mark.parametrize("sponsor", [False, True])
def test_the_confirmation_email_has_the_unsubscribe_headers_and_links(mailoutbox, petition, sponsor):
    if sponsor:
        petition = PetitionFactory(state=PetitionState.VALIDATED)
    signature = PendingSignatureFactory(petition=petition, email=EMAIL, sponsor=sponsor)
    template = "sponsor_confirm" if sponsor else "signature_confirm"
    assert signature_email_send(signature_id=signature.pk, template=template, extra={})
    [message] = mailoutbox
    _assert_unsubscribable(message, signature)
    withdraw = f"{settings.SITE_URL}/signatures/{signature.pk}/withdraw?token={signature.confirm_token}"
    noun = "support" if sponsor else "signature"
    assert f"If you change your mind, you can remove your {noun}:\n{withdraw}\n" in message.body


@pytest.mark.parametrize(
    "template", ["signature_duplicate", "petition_published_sponsor", "petition_rejected_sponsor"]
)
def test_other_signer_emails_have_the_unsubscribe_headers_and_link(mailoutbox, template):
    petition = OpenPetitionFactory()
    if template == "petition_rejected_sponsor":
        petition = PetitionFactory(state=PetitionState.REJECTED)
    signature = ValidatedSignatureFactory(
        petition=petition, email=EMAIL, sponsor=template != "signature_duplicate"
    )
    assert signature_email_send(signature_id=signature.pk, template=template, extra={})
    [message] = mailoutbox
    _assert_unsubscribable(message, signature)
    assert "/withdraw" not in message.body  # only the confirmation email, which proves the address, has it


def test_the_header_url_works_as_a_one_click_unsubscribe(mailoutbox, csrf_client, signer):
    signature_email_send(signature_id=signer.pk, template="signature_duplicate", extra={})
    url = mailoutbox[0].message()["List-Unsubscribe"].strip("<>").removeprefix(settings.SITE_URL)
    response = csrf_client.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and fresh(signer).unsubscribed_at is not None


def test_creator_emails_have_no_unsubscribe_header_or_link(mailoutbox, petition):
    creator = ValidatedSignatureFactory(petition=petition, creator=True, email=EMAIL)
    assert signature_email_send(signature_id=creator.pk, template="petition_published_creator", extra={})
    [message] = mailoutbox
    assert "List-Unsubscribe" not in message.message()
    assert "unsubscribe" not in message.body.lower()


def test_an_unsubscribed_signer_gets_only_confirmation_links(client, mailoutbox):
    petition = PetitionFactory(state=PetitionState.VALIDATED)
    sponsor = PendingSignatureFactory(petition=petition, sponsor=True, notify_by_email=True)
    client.post(unsubscribe_url(sponsor))
    assert signature_email_send(signature_id=sponsor.pk, template="sponsor_confirm", extra={})
    assert not signature_email_send(signature_id=sponsor.pk, template="petition_published_sponsor", extra={})
    assert [m.subject for m in mailoutbox] == ["Please confirm your email address"]


# --- Withdrawing -----------------------------------------------------------------------------------------


def test_withdraw_get_shows_one_button_that_posts_and_changes_nothing(client, signer, petition):
    signatures_tally()
    response = client.get(withdraw_url(signer))
    page = main(response, signer)
    assert response.status_code == 200
    assert "Remove your signature" in page and petition.action in page
    assert page.count("<button") == 1 and "Remove my signature" in page
    assert f'<form method="post" novalidate action="/signatures/{signer.pk}/withdraw">' in page
    assert f'name="token" value="{signer.confirm_token}"' in page
    assert client.head(withdraw_url(signer)).status_code == 200
    signatures_tally()
    assert fresh(signer).state == SignatureState.VALIDATED and fresh(signer).withdrawn_at is None
    assert counts(petition) == (1, 1, 1)


def test_withdrawing_a_validated_signature_takes_it_out_of_the_counts(client, signer, petition):
    ValidatedSignatureFactory(petition=petition)
    signatures_tally()
    assert counts(petition) == (2, 2, 2)

    response = client.post(withdraw_url(signer), {"token": signer.confirm_token})
    assert response.status_code == 200
    assert "Your signature has been removed" in main(response, signer)
    signer = fresh(signer)
    assert signer.state == SignatureState.WITHDRAWN and signer.withdrawn_at is not None
    assert not signer.notify_by_email
    # Withdrawing writes only the signature row; the tally takes it out of the petition and its journals.
    assert counts(petition) == (2, 2, 2)
    signatures_tally()
    assert counts(petition) == (1, 1, 1)
    assert petition_recount(petition_id=petition.pk) == 1


def test_withdrawing_twice_drops_the_count_once(client, signer, petition):
    ValidatedSignatureFactory(petition=petition)
    signatures_tally()
    client.post(withdraw_url(signer), {"token": signer.confirm_token})
    first = fresh(signer).withdrawn_at
    signatures_tally()
    response = client.post(withdraw_url(signer), {"token": signer.confirm_token})
    assert response.status_code == 200 and "Your signature has been removed" in main(response, signer)
    signatures_tally()
    assert counts(petition) == (1, 1, 1)
    assert fresh(signer).withdrawn_at == first
    page = main(client.get(withdraw_url(signer)), signer)
    assert "Your signature has been removed" in page and "<button" not in page


def test_a_withdrawn_signature_stays_withdrawn_after_the_petition_closes(client, signer, petition):
    client.post(withdraw_url(signer), {"token": signer.confirm_token})
    petition.state, petition.closed_at = PetitionState.CLOSED, timezone.now()
    petition.save()
    response = client.post(withdraw_url(signer), {"token": signer.confirm_token})
    assert response.status_code == 200 and "Your signature has been removed" in main(response, signer)


def test_a_withdrawn_pending_signature_cannot_then_be_confirmed(client, petition):
    signature = PendingSignatureFactory(petition=petition, email=EMAIL)
    client.post(withdraw_url(signature), {"token": signature.confirm_token})
    assert fresh(signature).state == SignatureState.WITHDRAWN

    confirm = f"/signatures/{signature.pk}/confirm?token={signature.confirm_token}"
    response = client.post(confirm, {"token": signature.confirm_token}, follow=True)
    page = main(response, signature)
    assert "Your signature has been removed" in page and "We've added your signature" not in page
    assert fresh(signature).state == SignatureState.WITHDRAWN and fresh(signature).validated_at is None
    signatures_tally()
    assert counts(petition) == (0, 0, 0)


def test_the_creator_cannot_withdraw(client, petition):
    creator = ValidatedSignatureFactory(petition=petition, creator=True, email=EMAIL)
    signatures_tally()
    for response in (client.get(withdraw_url(creator)), client.post(withdraw_url(creator))):
        assert response.status_code == 403
        page = main(response, creator)
        assert "You can't remove your signature from your own petition" in page and "<button" not in page
    assert fresh(creator).state == SignatureState.VALIDATED and fresh(creator).withdrawn_at is None
    with pytest.raises(SignatureWithdrawRefused) as refused:
        signature_withdraw(signature=creator, token=creator.confirm_token)
    assert refused.value.reason == "creator"
    signatures_tally()
    assert counts(petition) == (1, 1, 1)


@pytest.mark.parametrize("past_deadline", [False, True])
def test_a_closed_petition_refuses_withdrawals(client, past_deadline):
    if past_deadline:  # still open, but the closing job has not run yet
        petition = OpenPetitionFactory(deadline_at=timezone.now() - timezone.timedelta(minutes=1))
    else:
        petition = ClosedPetitionFactory()
    signature = ValidatedSignatureFactory(petition=petition, email=EMAIL)
    for response in (client.get(withdraw_url(signature)), client.post(withdraw_url(signature))):
        assert response.status_code == 410
        page = main(response, signature)
        assert "You can no longer remove your signature" in page and "<button" not in page
    assert fresh(signature).state == SignatureState.VALIDATED and fresh(signature).withdrawn_at is None


@pytest.mark.parametrize("state", [PetitionState.REJECTED, PetitionState.HIDDEN, PetitionState.STOPPED])
def test_rejected_hidden_and_stopped_petitions_refuse_withdrawals(client, state):
    signature = ValidatedSignatureFactory(petition=PetitionFactory(state=state), sponsor=True)
    assert client.post(withdraw_url(signature)).status_code == 410
    assert fresh(signature).withdrawn_at is None


def test_a_sponsor_may_withdraw_while_the_petition_gathers_support(client):
    petition = PetitionFactory(state=PetitionState.VALIDATED)
    ValidatedSignatureFactory(petition=petition, creator=True)
    sponsors = [ValidatedSignatureFactory(petition=petition, sponsor=True) for _ in range(2)]
    petition_recount(petition_id=petition.pk)
    assert counts(petition)[0] == 3

    page = main(client.get(withdraw_url(sponsors[0])), sponsors[0])
    assert "Remove my support" in page
    response = client.post(withdraw_url(sponsors[0]), {"token": sponsors[0].confirm_token})
    assert "Your support has been removed" in main(response, sponsors[0])
    # The sponsor count drives moderation, so it is rebuilt at once rather than at the next tally.
    assert counts(petition) == (2, 2, 2)
    petition.refresh_from_db()
    assert petition.state == PetitionState.VALIDATED
    assert fresh(sponsors[0]).state == SignatureState.WITHDRAWN
    page = main(client.get(f"/petitions/{petition.pk}/gathering-support"))
    assert "It needs 4 more supporters" in page  # the default minimum is 5; one of two confirmed has left


def test_a_petition_in_moderation_refuses_sponsor_withdrawals(client):
    petition = PetitionFactory(state=PetitionState.SPONSORED)
    sponsor = ValidatedSignatureFactory(petition=petition, sponsor=True, email=EMAIL)
    response = client.post(withdraw_url(sponsor))
    assert response.status_code == 409
    assert "we're checking it" in main(response, sponsor)
    assert fresh(sponsor).state == SignatureState.VALIDATED


@pytest.mark.parametrize("token", ["", "wrong", "x" * 43])
def test_withdraw_with_a_wrong_token_is_not_found_and_changes_nothing(client, signer, token):
    for response in (client.get(withdraw_url(signer, token)), client.post(withdraw_url(signer, token))):
        assert response.status_code == 404
        assert "Page not found" in main(response, signer)
    assert client.post(f"/signatures/{signer.pk}/withdraw", {"token": token}).status_code == 404
    # The unsubscribe token, which every signer email carries, cannot withdraw.
    assert client.post(withdraw_url(signer, signer.unsubscribe_token)).status_code == 404
    assert client.get(f"/signatures/{signer.pk + 1000}/withdraw?token=x").status_code == 404
    assert fresh(signer).state == SignatureState.VALIDATED and fresh(signer).withdrawn_at is None


def test_withdraw_service_checks_the_token(signer):
    with pytest.raises(SignatureTokenInvalid):
        signature_withdraw(signature=signer, token=signer.unsubscribe_token)
    assert fresh(signer).withdrawn_at is None


def test_a_withdraw_post_without_a_csrf_token_gets_the_styled_403(csrf_client, signer):
    response = csrf_client.post(withdraw_url(signer), {"token": signer.confirm_token})
    assert response.status_code == 403
    assert "We could not check that the form you sent came from this website" in main(response, signer)
    assert fresh(signer).state == SignatureState.VALIDATED and fresh(signer).withdrawn_at is None


def test_the_withdraw_form_works_with_csrf_checks(csrf_client, signer):
    """The GET page's form carries the CSRF token the POST needs."""
    page = csrf_client.get(withdraw_url(signer)).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = csrf_client.post(
        withdraw_url(signer), {"token": signer.confirm_token, "csrfmiddlewaretoken": csrf}
    )
    assert response.status_code == 200 and fresh(signer).state == SignatureState.WITHDRAWN


@pytest.mark.parametrize(
    ("factory", "state"),
    [
        (FraudulentSignatureFactory, SignatureState.FRAUDULENT),
        (InvalidatedSignatureFactory, SignatureState.INVALIDATED),
    ],
)
def test_withdrawing_a_fraudulent_or_invalidated_signature_looks_the_same_but_keeps_its_state(
    client, petition, factory, state
):
    honest = ValidatedSignatureFactory(petition=petition, name="Same Name", postcode="SW1A 1AA")
    other = factory(
        petition=petition, name="Same Name", email=EMAIL, postcode="SW1A 1AA", notify_by_email=True
    )

    def normalised(response, signature) -> tuple[int, str]:
        page = main(response, signature).replace(signature.confirm_token, "T")
        page = page.replace(f"/signatures/{signature.pk}/", "/signatures/N/")
        page = re.sub(r' nonce="[^"]*"', "", page)  # the CSP nonce is new on every response
        return response.status_code, re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)

    def pages(signature):
        return [
            normalised(client.get(withdraw_url(signature)), signature),
            normalised(client.post(withdraw_url(signature), {"token": signature.confirm_token}), signature),
            normalised(client.get(withdraw_url(signature)), signature),
            normalised(
                client.get(f"/signatures/{signature.pk}/confirm?token={signature.confirm_token}"), signature
            ),
        ]

    honest_pages = pages(honest)
    assert [status for status, _ in honest_pages] == [200, 200, 200, 200]
    assert pages(other) == honest_pages
    other = fresh(other)
    assert other.state == state
    assert other.withdrawn_at is not None and not other.notify_by_email
    signatures_tally()
    assert counts(petition) == (0, 0, 0)


def test_no_self_service_page_shows_the_signers_details(client, petition):
    """Every page either link leads to, for a signer with distinctive details: none shows them."""
    signature = ValidatedSignatureFactory(petition=petition, email=EMAIL, name="Quentin Privacy")
    creator = ValidatedSignatureFactory(petition=petition, creator=True, email="creator.private@example.org")
    closed = ValidatedSignatureFactory(petition=ClosedPetitionFactory(), email="closed.private@example.org")
    responses = [
        (signature, client.get(unsubscribe_url(signature))),
        (signature, client.post(unsubscribe_url(signature))),
        (signature, client.get(withdraw_url(signature))),
        (signature, client.post(withdraw_url(signature), {"token": signature.confirm_token})),
        (creator, client.get(unsubscribe_url(creator))),
        (creator, client.get(withdraw_url(creator))),
        (closed, client.get(withdraw_url(closed))),
        (signature, client.get(withdraw_url(signature, "wrong"))),
    ]
    for owner, response in responses:
        page = main(response, owner)
        assert owner.name not in page
