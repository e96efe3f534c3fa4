"""Public pages: what each kind of petition and each bad request gets."""

import pytest
from django.test import Client

from petitions.models import Country, Petition, PetitionState, Signature, SignatureState

pytestmark = pytest.mark.django_db


def _petition(state, **extra):
    return Petition.objects.create(action=f"A {state} petition", background="Because.", state=state, **extra)


def test_home_page_has_the_generic_header_skip_link_and_data_attributions(client):
    html = client.get("/").content.decode()
    assert 'class="govuk-skip-link"' in html
    assert "govuk-generic-header" in html or "govuk-header" in html
    assert "GOV.UK" not in html.split("<main")[0]
    assert "Contains OS data © Crown copyright and database right 2023/2024" in html
    assert "Contains Royal Mail data © Royal Mail copyright and database right 2023" in html
    assert "Open Parliament Licence" in html


def test_data_sources_page_lists_the_licences(client):
    response = client.get("/data-sources")
    assert response.status_code == 200
    assert "Open Government Licence" in response.content.decode()


@pytest.mark.parametrize(
    ("state", "target"),
    [
        (PetitionState.PENDING, "gathering-support"),
        (PetitionState.VALIDATED, "gathering-support"),
        (PetitionState.SPONSORED, "moderation-info"),
        (PetitionState.FLAGGED, "moderation-info"),
    ],
)
def test_unpublished_petitions_show_an_interstitial_never_the_petition(client, state, target):
    petition = _petition(state)
    response = client.get(f"/petitions/{petition.pk}")
    assert response.status_code == 302 and response["Location"].endswith(f"/petitions/{petition.pk}/{target}")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Because." not in page.content.decode()


def test_gathering_support_says_how_many_supporters_are_needed(client):
    petition = _petition(PetitionState.VALIDATED)
    gb = Country.objects.get(code="GB")
    for i in range(2):
        Signature.objects.create(
            petition=petition, name=f"S {i}", email=f"s{i}@example.com", canonical_email=f"s{i}@example.com",
            country=gb, sponsor=True, state=SignatureState.VALIDATED,
        )  # fmt: skip
    html = client.get(f"/petitions/{petition.pk}/gathering-support").content.decode()
    assert "It needs 3 more supporters" in html


@pytest.mark.parametrize("state", [PetitionState.HIDDEN, PetitionState.DORMANT])
def test_hidden_and_dormant_petitions_are_not_found(client, state):
    response = client.get(f"/petitions/{_petition(state).pk}")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_removed_petition_is_gone(client):
    response = client.get(f"/petitions/{_petition(PetitionState.REMOVED).pk}")
    assert response.status_code == 410
    assert "removed" in response.content.decode()


def test_stopped_petition_redirects_home(client):
    response = client.get(f"/petitions/{_petition(PetitionState.STOPPED).pk}")
    assert response.status_code == 302 and response["Location"] == "/"


def test_unknown_petition_gets_a_readable_404(client):
    response = client.get("/petitions/999999999")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_map_of_an_unpublished_petition_is_not_found(client):
    assert client.get(f"/petitions/{_petition(PetitionState.SPONSORED).pk}/map").status_code == 404


@pytest.mark.parametrize("url", ["/petitions/1%00", "/?q=%00", "/petitions?q=a%00b", "/%00"])
def test_nul_bytes_get_a_400_page(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert "invalid characters" in response.content.decode()


def test_nul_byte_in_a_form_post_gets_a_400(client):
    response = client.post("/", {"name": "a\x00b"})
    assert response.status_code == 400


def test_post_to_a_read_only_page_is_refused_not_a_500(client):
    assert Client(enforce_csrf_checks=True).post("/").status_code == 403
    response = client.post("/")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert "Sorry, this page cannot do that" in response.content.decode()


def test_a_wrong_method_on_a_data_endpoint_is_explained_in_plain_text(client):
    response = client.delete("/petitions.json")
    assert response.status_code == 405
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "DELETE is not allowed here; use GET, HEAD.\n"


def test_csrf_failure_gets_the_styled_403_page():
    response = Client(enforce_csrf_checks=True).post("/petitions/1")
    assert response.status_code == 403
    assert "govuk-template" in response.content.decode()


def test_petition_hidden_after_being_published_is_gone(client):
    from django.utils import timezone

    petition = _petition(PetitionState.HIDDEN, opened_at=timezone.now())
    assert client.get(f"/petitions/{petition.pk}").status_code == 410


def test_staff_banner_and_dissolution_notice_show_on_every_public_page(client):
    from django.utils import timezone

    from petitions.models import Parliament, SiteSettings

    site = SiteSettings.load()
    site.banner_message = "The site will be down for maintenance on Sunday."
    site.save()
    Parliament.objects.create(name="2024–", dissolution_at=timezone.now() - timezone.timedelta(hours=1))
    html = client.get("/").content.decode()
    assert "The site will be down for maintenance on Sunday." in html
    assert "Parliament has been dissolved" in html


def test_every_footer_and_menu_link_opens_a_page(client):
    """The help page, privacy notice, cookies page and accessibility statement exist (they were 404s)."""
    import re

    home = client.get("/").content.decode()
    links = set(re.findall(r'class="govuk-(?:footer|service-navigation)__link" href="(/[^"]*)"', home))
    assert {"/help", "/privacy", "/cookies", "/accessibility", "/data-sources"} <= links
    for link in links:
        assert client.get(link).status_code == 200, link


def test_info_pages_say_what_the_site_actually_does(client, settings):
    from petitions.models import SiteSettings

    site = SiteSettings.load()
    site.threshold_for_response, site.threshold_for_debate = 12_000, 150_000
    site.save()
    help_page = client.get("/help").content.decode()
    assert "<title>How petitions work" in help_page
    assert "12,000 signatures" in help_page and "150,000 signatures" in help_page
    assert f"{site.minimum_sponsors} people have supported it" in help_page
    assert "Six months after a petition closes" in client.get("/privacy").content.decode()
    cookies = client.get("/cookies").content.decode()
    assert settings.SESSION_COOKIE_NAME in cookies and settings.CSRF_COOKIE_NAME in cookies
    assert "WCAG" in client.get("/accessibility").content.decode()
    assert client.post("/help").status_code == 405
