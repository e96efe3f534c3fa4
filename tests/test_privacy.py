"""A signer's email, postcode and IP address never appear on a public page, in JSON or CSV, or in a URL.

Grace signs through the real forms from a distinctive address; then every public URL the site has is fetched
(each route in the URLconf, outside /admin/) and none of her personal data may appear in the response. (Log
lines are checked for every test by tests/privacy_plugin.py.)
"""

import re

import pytest
from django.core import mail
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from debates.models import ConstituencyAlert, EventKind, ParliamentaryEvent
from petitions.models import Signature, SignatureState
from petitions.services import signatures_tally

from .factories import OpenPetitionFactory

pytestmark = pytest.mark.django_db

IP = "203.0.113.77"
EMAIL = "Grace.Private+petition@example.org"
# Not SW1A 1AA: pages may rightly show that one as an example of a postcode.
POSTCODE = "LS1 4DY"
SECRETS = [EMAIL, EMAIL.lower(), "grace.private", "example.org", POSTCODE, "LS14DY", "ls1 4dy", IP]
SIGNER = {
    "uk_citizenship": "on",
    "name": "Grace Private",
    "email": EMAIL,
    "email_confirmation": EMAIL,
    "country": "GB",
    "postcode": "ls14dy",
    "notify_by_email": "on",
}


def public_routes(resolver=None, prefix=""):
    """(route, name) for every URL pattern outside the admin."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith("admin/"):
                continue
            yield from public_routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.name


def fill(route: str, values: dict) -> str | None:
    """The route with its parameters filled in, or None if it takes one we have no value for."""
    missing = []

    def value(match):
        name = match.group(1).split(":")[-1]
        if name not in values:
            missing.append(name)
            return ""
        return str(values[name])

    path = re.sub(r"<([^>]+)>", value, route)
    return None if missing else "/" + path


def assert_private(text: str, where: str):
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), f"{secret!r} appears in {where}"


@pytest.fixture
def signed(client, django_capture_on_commit_callbacks):
    petition = OpenPetitionFactory(
        action="Keep the night sky dark", background="Light pollution hides stars."
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/petitions/{petition.pk}/signatures/new", SIGNER, REMOTE_ADDR=IP, HTTP_X_FORWARDED_FOR=IP
        )
    assert response.status_code == 302
    signature = Signature.objects.get(petition=petition)
    assert (signature.ip_address, signature.postcode) == (IP, POSTCODE)
    link = re.search(r"http://testserver(/signatures/\d+/confirm\?token=[\w-]+)", mail.outbox[0].body).group(
        1
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(link, {"token": link.split("token=")[1]}, REMOTE_ADDR=IP)
    signature.refresh_from_db()
    assert signature.state == SignatureState.VALIDATED
    signatures_tally()
    # A second attempt from the same address: the "already signed" email, and the same pages.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/petitions/{petition.pk}/signatures/new", SIGNER, REMOTE_ADDR=IP)
    return petition, signature


def test_no_public_page_shows_a_signers_email_postcode_or_ip(client, signed):
    petition, signature = signed
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE, title="MPs debate the night sky", starts_at=timezone.now()
    )
    event.petitions.add(petition)
    # Grace also subscribed to her constituency's alerts with the same address.
    alert = ConstituencyAlert.objects.create(
        email=EMAIL, constituency=signature.constituency, confirm_token="c" * 43, unsubscribe_token="u" * 43
    )
    values = {
        "petition_id": petition.pk,
        "signature_id": signature.pk,
        "stage": "action",
        "gss_code": signature.constituency.gss_code,
        "event_id": event.pk,
        "alert_id": alert.pk,
    }
    fetched = []
    for route, name in public_routes():
        path = fill(route, values)
        if path is None:
            continue
        for query in ("", f"?token={signature.confirm_token}", f"?token={signature.unsubscribe_token}"):
            response = client.get(path + query)
            assert response.status_code < 500, path
            body = response.content.decode(errors="replace")
            assert_private(body, f"{path} ({name})")
            headers = {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}
            assert_private(str(headers), f"the headers of {path}")
            fetched.append(path)
    # The crawl really covered the petition's pages, its JSON and the signer's own pages.
    for expected in (
        f"/petitions/{petition.pk}",
        f"/petitions/{petition.pk}/count.json",
        f"/petitions/{petition.pk}.json",
        "/consultations",
        f"/petitions/{petition.pk}/map",
        f"/signatures/{signature.pk}/confirm",
        f"/signatures/{signature.pk}/unsubscribe",
        f"/signatures/{signature.pk}/withdraw",
        f"/constituencies/{signature.constituency.gss_code}",
        f"/constituencies/{signature.constituency.gss_code}.json",
        f"/debates/{event.pk}",
        "/debates.csv",
        "/debates.ics",
        f"/alerts/{alert.pk}/unsubscribe",
    ):
        assert expected in fetched


def test_json_and_csv_routes_are_all_covered_by_the_crawl():
    """Any JSON or CSV route the site adds is fetched by the crawl above, as long as it takes only known ids."""
    data_routes = [route for route, _ in public_routes() if route.endswith((".json", ".csv"))]
    assert data_routes, "the site has JSON routes"
    for route in data_routes:
        values = {"petition_id": 1, "signature_id": 1, "stage": "action", "gss_code": "E1", "event_id": 1}
        assert fill(route, values) is not None, route


def test_emails_never_put_an_address_in_a_url(signed):
    for message in mail.outbox:
        urls = re.findall(r"https?://\S+", message.body)
        urls += re.findall(r"<(https?://[^>]+)>", message.extra_headers.get("List-Unsubscribe", ""))
        assert urls
        for url in urls:
            assert "@" not in url and "%40" not in url, url
