"""Ada starts a petition: the standards page, each stage of the form, checking her answers, submitting once."""

import re

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from petitions.models import (
    Constituency,
    Parliament,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
    SiteSettings,
)
from petitions.selectors import petitions_similar_open
from petitions.services import email_canonicalise
from tests.conftest import SITE_NOTICES

from .factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

ANSWERS = {
    "uk-citizenship": {"uk_citizenship": "yes"},
    "action": {"action": "Protect hedgehogs from garden strimmers"},
    "background": {"background": "Hedgehog numbers have halved since 2000."},
    "additional-details": {"additional_details": "Strimmers injure hundreds of hedgehogs every summer."},
    "creator": {
        "name": "Ada Lovelace",
        "email": "Ada.Lovelace@Example.COM",
        "email_confirmation": "ada.lovelace@example.com",
        "country": "GB",
        "postcode": " sw1a1aa ",
    },
}
ORDER = ["uk-citizenship", "action", "background", "additional-details", "creator"]


def url(stage: str, *, change: bool = False) -> str:
    return f"/petitions/new/{stage}" + ("?change=1" if change else "")


def answer_until(client, stop: str | None = None, **overrides) -> None:
    """Post every stage's answers up to (not including) `stop`; `overrides` replace single fields."""
    for stage in ORDER:
        if stage == stop:
            return
        data = {**ANSWERS[stage]}
        data.update({k: v for k, v in overrides.items() if k in data})
        response = client.post(url(stage), data)
        assert response.status_code == 302, (stage, response.content.decode()[:3000])


def html(response) -> str:
    return response.content.decode()


def back_href(response) -> str:
    match = re.search(r'<a href="([^"]+)" class="govuk-back-link">Back</a>', html(response))
    assert match, "no back link"
    return match.group(1)


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", html(response), re.S).group(1).strip()


# --- The start page ---------------------------------------------------------------------------------


def test_start_page_explains_the_standards_and_links_to_the_form(client, django_assert_max_num_queries):
    SiteSettings.load()
    with django_assert_max_num_queries(3 + SITE_NOTICES):
        response = client.get("/petitions/start")
    page = html(response)
    assert response.status_code == 200
    assert 'id="standards"' in page
    assert "We'll reject your petition if" in page and "Freedom of Information request" in page
    assert "offensive, extreme or a joke" in page and "5 of them need to support it" in page
    assert 'href="/petitions/new"' in page


def test_new_goes_to_the_first_stage(client):
    response = client.get("/petitions/new")
    assert response.status_code == 302 and response["Location"] == url("uk-citizenship")


def test_unknown_stage_is_not_found(client):
    assert client.get("/petitions/new/nonsense").status_code == 404


# --- UK citizenship ----------------------------------------------------------------------------------


def test_citizenship_question_is_a_yes_no_radio_with_a_back_link_to_the_start_page(client):
    response = client.get(url("uk-citizenship"))
    page = html(response)
    assert "Are you a British citizen or UK resident?" in page
    assert 'type="radio" name="uk_citizenship" value="yes"' in page
    assert 'type="radio" name="uk_citizenship" value="no"' in page
    assert back_href(response) == "/petitions/start"


def test_citizenship_must_be_answered(client):
    response = client.post(url("uk-citizenship"), {})
    page = html(response)
    assert title(response).startswith("Error: ")
    assert '<a href="#id_uk_citizenship_0">Select yes if you are a British citizen or UK resident</a>' in page


def test_no_means_you_cannot_start_a_petition(client):
    response = client.post(url("uk-citizenship"), {"uk_citizenship": "no"})
    assert response["Location"] == url("not-eligible")
    page = client.get(response["Location"])
    assert "Sorry, you cannot start a petition" in html(page)
    assert "<form" not in html(page).split('id="main-content"')[1]
    assert back_href(page) == url("uk-citizenship")
    # ... and the later stages stay shut.
    assert client.get(url("action"))["Location"] == url("uk-citizenship")


def test_yes_moves_on_to_the_action(client):
    response = client.post(url("uk-citizenship"), {"uk_citizenship": "yes"})
    assert response["Location"] == url("action")


@pytest.mark.parametrize("stage", ["action", "background", "additional-details", "creator", "check"])
def test_later_stages_cannot_be_skipped_to(client, stage):
    assert client.get(url(stage))["Location"] == url("uk-citizenship")


def test_a_stage_sends_you_back_to_the_first_unanswered_one(client):
    answer_until(client, "background")
    assert client.get(url("creator"))["Location"] == url("background")
    assert client.get(url("check"))["Location"] == url("background")


# --- Petition text: every rule, with its message -------------------------------------------------------

TEXT_RULES = [
    ("action", "", "Action must be completed"),
    ("action", "   ", "Action must be completed"),
    ("action", "x" * 81, "Action must be 80 characters or less"),
    ("background", "", "Background must be completed"),
    ("background", "x" * 301, "Background must be 300 characters or less"),
    ("additional-details", "x" * 801, "Additional details must be 800 characters or less"),
]
FORMULA_FIELDS = [
    ("action", "action", "Action"),
    ("background", "background", "Background"),
    ("additional-details", "additional_details", "Additional details"),
]


def _field(stage: str) -> str:
    return stage.replace("-", "_")


@pytest.mark.parametrize(("stage", "value", "message"), TEXT_RULES)
def test_petition_text_rules(client, stage, value, message):
    answer_until(client, stage)
    response = client.post(url(stage), {_field(stage): value})
    page = html(response)
    assert response.status_code == 200
    assert title(response).startswith("Error: ")
    assert f'<a href="#id_{_field(stage)}">{message}</a>' in page
    assert f'id="id_{_field(stage)}-error"' in page


@pytest.mark.parametrize(("stage", "field", "label"), FORMULA_FIELDS)
@pytest.mark.parametrize("prefix", ["=", "+", "-", "@"])
def test_petition_text_cannot_start_like_a_spreadsheet_formula(client, stage, field, label, prefix):
    answer_until(client, stage)
    response = client.post(url(stage), {field: f"{prefix}HYPERLINK(1)"})
    assert f'<a href="#id_{field}">{label} can&#x27;t start with =, +, - or @</a>' in html(response)


def test_exactly_the_maximum_lengths_are_accepted_and_whitespace_is_stripped(client):
    answer_until(client, "action")
    assert client.post(url("action"), {"action": "  " + "a" * 80 + "  "}).status_code == 302
    assert client.post(url("background"), {"background": "b" * 300}).status_code == 302
    assert client.post(url("additional-details"), {"additional_details": "c" * 800}).status_code == 302
    assert client.session["petition_create"]["action"] == "a" * 80


def test_additional_details_are_optional(client):
    answer_until(client, "additional-details")
    response = client.post(url("additional-details"), {"additional_details": "  "})
    assert response["Location"] == url("creator")
    assert client.session["petition_create"]["additional_details"] == ""


# --- Your details: every rule, with its message --------------------------------------------------------

CREATOR_RULES = [
    ({"name": ""}, "name", "Name must be completed"),
    ({"name": "x" * 256}, "name", "Name must be 255 characters or less"),
    ({"name": "Ada https://spam.example"}, "name", "Name can&#x27;t contain a web address"),
    ({"name": "Ada www.spam.io"}, "name", "Name can&#x27;t contain a web address"),
    ({"name": "spam.com"}, "name", "Name can&#x27;t contain a web address"),
    ({"name": "=cmd|' /C calc'!A0"}, "name", "Name can&#x27;t start with =, +, - or @"),
    ({"name": "@Ada"}, "name", "Name can&#x27;t start with =, +, - or @"),
    ({"email": "", "email_confirmation": ""}, "email", "Email must be completed"),
    ({"email": "not-an-email", "email_confirmation": "not-an-email"}, "email",
     "Enter an email address in the correct format, like name@example.com"),
    ({"email": "-ada@example.com", "email_confirmation": "-ada@example.com"}, "email",
     "Email can&#x27;t start with =, +, - or @"),
    ({"email_confirmation": ""}, "email_confirmation", "Confirm your email address"),
    ({"email_confirmation": "ada@example.org"}, "email_confirmation", "Email addresses must match"),
    ({"country": ""}, "country", "Country must be completed"),
    ({"country": "XX"}, "country", "Select a country from the list"),
    ({"postcode": ""}, "postcode", "Postcode must be completed"),
    ({"postcode": "Q1 1AA"}, "postcode", "Enter a real UK postcode, like SW1A 1AA"),
    ({"postcode": "x" * 40}, "postcode", "Enter a real UK postcode, like SW1A 1AA"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "message"), CREATOR_RULES)
def test_creator_rules(client, change, field, message):
    answer_until(client, "creator")
    response = client.post(url("creator"), {**ANSWERS["creator"], **change})
    page = html(response)
    assert response.status_code == 200
    assert title(response).startswith("Error: ")
    assert f'<a href="#id_{field}">{message}</a>' in page
    assert f'id="id_{field}-error"' in page


def test_name_may_contain_dots_and_hyphens(client):
    answer_until(client, "creator")
    response = client.post(url("creator"), {**ANSWERS["creator"], "name": "J.R. Smith-Jones"})
    assert response.status_code == 302


def test_country_select_lists_current_countries_with_the_uk_chosen(client):
    answer_until(client, "creator")
    page = html(client.get(url("creator")))
    assert '<option value="GB" selected>United Kingdom</option>' in page
    assert page.count("<option") > 200


def test_outside_the_uk_no_postcode_is_needed_or_kept(client):
    answer_until(client, "creator")
    response = client.post(url("creator"), {**ANSWERS["creator"], "country": "FR", "postcode": "75001"})
    assert response["Location"] == url("check")
    assert client.session["petition_create"]["postcode"] == ""


def test_postcode_is_normalised_and_email_domain_lower_cased(client):
    answer_until(client)
    answers = client.session["petition_create"]
    assert answers["postcode"] == "SW1A 1AA"
    assert answers["email"] == "Ada.Lovelace@example.com"


def test_northern_ireland_postcode_asks_for_the_constituency(client):
    answer_until(client, "creator")
    response = client.post(url("creator"), {**ANSWERS["creator"], "postcode": "bt1 1aa"})
    assert response["Location"] == url("constituency")
    assert client.get(url("check"))["Location"] == url("constituency")

    page = client.get(url("constituency"))
    assert back_href(page) == url("creator")
    assert html(page).count('type="radio" name="constituency"') == 18

    missing = client.post(url("constituency"), {})
    assert title(missing).startswith("Error: ")
    assert '<a href="#id_constituency_0">Select your constituency in Northern Ireland</a>' in html(missing)
    not_ni = Constituency.objects.exclude(nation="northern_ireland").first()
    wrong = client.post(url("constituency"), {"constituency": not_ni.gss_code})
    assert "Select your constituency from the list" in html(wrong)

    belfast = Constituency.objects.get(name="Belfast East")
    assert client.post(url("constituency"), {"constituency": belfast.gss_code})["Location"] == url("check")
    check = client.get(url("check"))
    assert "Belfast East" in html(check) and "BT1 1AA" in html(check)
    assert back_href(check) == url("constituency")


# --- Back links and kept answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "back"),
    [
        ("action", url("uk-citizenship")),
        ("background", url("action")),
        ("additional-details", url("background")),
        ("creator", url("additional-details")),
        ("check", url("creator")),
    ],
)
def test_each_stage_links_back_to_the_one_before(client, stage, back):
    answer_until(client, None if stage == "check" else stage)
    response = client.get(url(stage))
    assert response.status_code == 200
    assert back_href(response) == back


def test_answers_are_kept_between_stages(client):
    answer_until(client)
    assert "Protect hedgehogs from garden strimmers" in html(client.get(url("action")))
    assert "Hedgehog numbers have halved since 2000." in html(client.get(url("background")))
    assert "Strimmers injure hundreds" in html(client.get(url("additional-details")))
    creator = html(client.get(url("creator")))
    assert 'value="Ada Lovelace"' in creator and 'value="SW1A 1AA"' in creator
    assert 'value="yes" required id="id_uk_citizenship_0" checked' in html(client.get(url("uk-citizenship")))


def test_each_stage_has_one_h1_and_a_titled_page(client):
    answer_until(client)
    for stage in [*ORDER, "check"]:
        response = client.get(url(stage))
        assert html(response).count("<h1") == 1, stage
        assert title(response).endswith("Start a petition - Petitions - UK Parliament"), stage


# --- Similar petitions ------------------------------------------------------------------------------


def test_similar_open_petitions_are_offered_to_sign_instead(client):
    similar = OpenPetitionFactory(action="Protect hedgehogs and their habitats", background="Hedgehogs.")
    ClosedPetitionFactory(action="Protect hedgehogs from badgers")
    PetitionFactory(action="Protect hedgehogs in gardens", state=PetitionState.SPONSORED)
    OpenPetitionFactory(action="Lower the voting age to 16")
    ValidatedSignatureFactory(petition=similar, email="someone@example.org", postcode="M1 1AE")
    answer_until(client, "background")
    assert client.session["petition_create"]["similar_ids"] == [similar.pk]

    response = client.get(url("similar-petitions"))
    page = html(response)
    assert response.status_code == 200
    assert f'href="/petitions/{similar.pk}"' in page
    assert "Protect hedgehogs from badgers" not in page and "in gardens" not in page
    assert "Lower the voting age" not in page
    assert "someone@example.org" not in page and "M1 1AE" not in page
    assert back_href(response) == url("action")
    assert client.post(url("similar-petitions"))["Location"] == url("background")
    assert back_href(client.get(url("background"))) == url("similar-petitions")


def test_the_action_post_goes_to_similar_petitions_when_there_are_some(client):
    OpenPetitionFactory(action="Ban strimmers in gardens at night")
    answer_until(client, "action")
    response = client.post(url("action"), {"action": "Ban garden strimmers"})
    assert response["Location"] == url("similar-petitions")


def test_at_most_five_similar_petitions_best_first(client):
    best = OpenPetitionFactory(action="Protect hedgehogs from garden strimmers now")
    for i in range(7):
        OpenPetitionFactory(action=f"Protect hedgehogs everywhere {i}", background="Nature.")
    answer_until(client, "background")
    ids = client.session["petition_create"]["similar_ids"]
    assert len(ids) == 5 and ids[0] == best.pk


@pytest.mark.parametrize("text", ["", "Do it to them now", "against the", "!!! ??? ---"])
def test_text_without_distinctive_words_finds_nothing(text):
    OpenPetitionFactory(action="Do it to them now, against the odds")
    assert petitions_similar_open(text=text) == []


def test_similar_search_ignores_common_words_and_case():
    wanted = OpenPetitionFactory(action="Fund more HEDGEHOG tunnels")
    OpenPetitionFactory(action="Government must do something")
    assert petitions_similar_open(text="The government should protect hedgehog habitats") == [wanted]


def test_no_similar_petitions_skips_straight_to_background(client):
    OpenPetitionFactory(action="Lower the voting age to 16")
    answer_until(client, "action")
    response = client.post(url("action"), ANSWERS["action"])
    assert response["Location"] == url("background")
    assert client.get(url("similar-petitions"))["Location"] == url("background")
    assert back_href(client.get(url("background"))) == url("action")


# --- Check your answers -----------------------------------------------------------------------------


def test_check_page_summarises_the_answers_with_change_links(client):
    answer_until(client)
    response = client.get(url("check"))
    page = html(response)
    assert 'class="govuk-summary-list"' in page
    for text in ["Protect hedgehogs from garden strimmers", "Hedgehog numbers have halved", "Ada Lovelace",
                 "Ada.Lovelace@example.com", "United Kingdom", "SW1A 1AA"]:  # fmt: skip
        assert text in page
    for stage in ["action", "background", "additional-details", "creator"]:
        assert f'href="{url(stage, change=True)}"' in page
    assert "Create petition" in page


def test_change_link_returns_to_the_check_page(client):
    answer_until(client)
    response = client.get(url("background", change=True))
    assert back_href(response) == url("check")
    assert 'action="/petitions/new/background?change=1"' in html(response)
    response = client.post(url("background", change=True), {"background": "Changed my mind."})
    assert response["Location"] == url("check")
    assert "Changed my mind." in html(client.get(url("check")))


def test_changing_to_a_northern_ireland_postcode_goes_by_the_constituency(client):
    answer_until(client)
    response = client.post(url("creator", change=True), {**ANSWERS["creator"], "postcode": "BT16 1XZ"})
    assert response["Location"] == url("constituency", change=True)
    belfast = Constituency.objects.get(name="Belfast East")
    response = client.post(url("constituency", change=True), {"constituency": belfast.gss_code})
    assert response["Location"] == url("check")


# --- Submitting --------------------------------------------------------------------------------------


def test_submit_creates_one_pending_petition_its_creator_and_one_email(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    answer_until(client)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("check"))
    assert response["Location"] == "/petitions/thank-you"

    petition = Petition.objects.get()
    assert petition.state == PetitionState.PENDING
    assert petition.action == "Protect hedgehogs from garden strimmers"
    assert petition.additional_details.startswith("Strimmers injure")
    creator = Signature.objects.get()
    assert (creator.petition, creator.creator, creator.sponsor) == (petition, True, False)
    assert creator.state == SignatureState.PENDING and creator.validated_at is None
    assert creator.name == "Ada Lovelace" and creator.email == "Ada.Lovelace@example.com"
    assert creator.canonical_email == "ada.lovelace@example.com"
    assert creator.postcode == "SW1A 1AA" and creator.country.code == "GB"
    assert creator.constituency.gss_code == "E14001172"
    assert creator.ip_address == "127.0.0.1"
    assert petition.signature_count == 0

    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["Ada.Lovelace@example.com"]
    assert email.subject == "Your petition needs 5 supporters: “Protect hedgehogs from garden strimmers”"
    link = f"http://testserver/petitions/{petition.pk}/sponsors/new?token={petition.sponsor_token}"
    assert link in email.body
    assert "Dear Ada Lovelace" in email.body and "Hedgehog numbers have halved" in email.body
    assert "&#x27;" not in email.body and "&quot;" not in email.body
    assert email.body.rstrip().endswith("UK Government and Parliament")

    assert "petition_create" not in client.session
    thanks = client.get("/petitions/thank-you")
    assert thanks.status_code == 200
    assert "We've emailed you" in html(thanks)
    assert "Ada" not in html(thanks) and "SW1A" not in html(thanks)


def test_submitting_twice_makes_one_petition(client, mailoutbox, django_capture_on_commit_callbacks):
    answer_until(client)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url("check"))
        second = client.post(url("check"))
    assert first["Location"] == second["Location"] == "/petitions/thank-you"
    assert Petition.objects.count() == 1 and Signature.objects.count() == 1
    assert len(mailoutbox) == 1


def test_two_presses_at_once_make_one_petition(client):
    """The session cannot see a press still being handled; the cache lock keyed on the journey can."""
    answer_until(client)
    nonce = client.session["petition_create"]["nonce"]
    cache.add(f"petition-create:{nonce}", 1)  # the other press got here first
    try:
        assert client.post(url("check"))["Location"] == "/petitions/thank-you"
        assert Petition.objects.count() == 0
    finally:
        cache.delete(f"petition-create:{nonce}")


def test_with_the_cache_down_the_petition_is_still_created(client, settings, mailoutbox, caplog):
    """Redis (the cache) unreachable at the last step: the petition is created without the double-submit lock,
    and a warning says so, rather than a 500 losing the creator's answers."""
    from tests.notices_smtp import free_port

    answer_until(client)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        }
    }
    response = client.post(url("check"))
    assert response["Location"] == "/petitions/thank-you"
    assert Petition.objects.count() == 1
    assert "without the double-submit lock" in caplog.text


def test_a_new_journey_after_submitting_starts_afresh(client):
    answer_until(client)
    client.post(url("check"))
    assert client.get(url("check"))["Location"] == url("uk-citizenship")
    answer_until(client, None, action="Plant more hedgerows")
    client.post(url("check"))
    assert Petition.objects.count() == 2


def test_thank_you_page_without_a_petition_goes_to_the_start(client):
    assert client.get("/petitions/thank-you")["Location"] == "/petitions/start"


def test_northern_ireland_creator_gets_the_chosen_constituency(client):
    answer_until(client, "creator")
    client.post(url("creator"), {**ANSWERS["creator"], "postcode": "BT16 1XZ"})
    belfast = Constituency.objects.get(name="Belfast East")
    client.post(url("constituency"), {"constituency": belfast.gss_code})
    client.post(url("check"))
    creator = Signature.objects.get()
    assert creator.constituency == belfast and creator.postcode == "BT16 1XZ"


def test_creator_abroad_has_no_postcode_or_constituency(client):
    answer_until(client, "creator")
    client.post(url("creator"), {**ANSWERS["creator"], "country": "FR", "postcode": ""})
    client.post(url("check"))
    creator = Signature.objects.get()
    assert creator.country.code == "FR" and creator.postcode == "" and creator.constituency is None


def test_gather_sponsors_email_warns_of_delays_when_the_queue_is_long(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    site = SiteSettings.load()
    site.moderation_delay_threshold = 1
    site.save()
    PetitionFactory(state=PetitionState.SPONSORED)
    answer_until(client)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("check"))
    assert "it may take a number of weeks" in mailoutbox[0].body


# --- Refusing new petitions --------------------------------------------------------------------------


def _pause():
    site = SiteSettings.load()
    site.disable_petition_creation = True
    site.save()


def _dissolve():
    Parliament.objects.create(
        name="2024–",
        opened_at=timezone.now() - timezone.timedelta(days=900),
        dissolution_at=timezone.now() - timezone.timedelta(hours=1),
        dissolution_message="The election is on 7 May.",
    )


@pytest.mark.parametrize("close", [_pause, _dissolve])
@pytest.mark.parametrize("path", ["/petitions/start", url("uk-citizenship"), url("action"), url("check")])
def test_creation_is_refused_while_paused_or_dissolved(client, close, path):
    close()
    response = client.get(path)
    page = html(response)
    assert response.status_code == 200
    assert "You cannot start a petition at the moment" in page
    assert "<form" not in page.split('id="main-content"')[1]


def test_submit_is_refused_once_paused(client):
    answer_until(client)
    _pause()
    response = client.post(url("check"))
    assert "You cannot start a petition at the moment" in html(response)
    assert Petition.objects.count() == 0


def test_dissolution_page_shows_the_message(client):
    _dissolve()
    assert "The election is on 7 May." in html(client.get("/petitions/start"))


def test_a_future_dissolution_does_not_refuse(client):
    Parliament.objects.create(name="2024–", dissolution_at=timezone.now() + timezone.timedelta(days=3))
    assert "Start your petition" in html(client.get("/petitions/start"))


# --- Bad requests ------------------------------------------------------------------------------------


def test_nul_bytes_are_a_bad_request(client):
    answer_until(client, "action")
    response = client.post(url("action"), {"action": "Ban\x00this"})
    assert response.status_code == 400
    assert "Ban" not in client.session["petition_create"].get("action", "")


def test_oversize_post_is_a_bad_request_not_an_error(client):
    answer_until(client, "action")
    response = client.post(url("action"), {"action": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    assert response.status_code == 400
    assert "Sorry, there is a problem with your request" in html(response)


def test_get_and_post_only(client):
    assert client.put(url("action")).status_code == 405


# --- Query counts -------------------------------------------------------------------------------------


def test_stage_pages_use_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    answer_until(client)
    SiteSettings.load()
    for stage in ORDER:
        with django_assert_max_num_queries(5 + SITE_NOTICES):
            assert client.get(url(stage)).status_code == 200
    with django_assert_max_num_queries(6 + SITE_NOTICES):
        assert client.get(url("check")).status_code == 200


def test_submit_uses_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    answer_until(client)
    with django_assert_max_num_queries(16):
        client.post(url("check"))


# --- Email canonicalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("Ada@Example.com", "ada@example.com"),
        ("a.d.a+petitions@gmail.com", "ada@gmail.com"),
        ("John.Smith+petitions@GoogleMail.com", "johnsmith@gmail.com"),
        ("first.last+tag@example.com", "first.last+tag@example.com"),
        ("  ada@example.com ", "ada@example.com"),
    ],
)
def test_email_canonicalise(email, canonical):
    assert email_canonicalise(email) == canonical
