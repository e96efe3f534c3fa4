"""axe-core (WCAG 2.0, 2.1 and 2.2 A and AA rules) on every public HTML page, with realistic data in the database,
and on every public form in its error state, in Debian's Chromium. Each page is a test case of its own; each
form's error page must also be titled "Error: ..." and give the GOV.UK error summary the focus when it loads.

The cases share one data setup (tests/e2e/public_data.py) and one live server, made and committed once for the
module: emptying the database and reloading the geography after every case, as transactional tests do, would
take most of the time. The module fixture puts the database back as it found it at the end. Each
case runs in a test transaction of its own that the live server does not see, so the two cases that change a
site setting commit it outside that transaction and put it back. Each case gets a fresh browser context of the
session's browser, so cookies and sessions never leak from one case to the next."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from unittest import mock
from urllib.parse import urljoin, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.db import connection, connections
from django.urls import URLResolver, get_resolver, resolve
from playwright.sync_api import expect
from pytest_django.live_server_helper import LiveServer

from debates.alerts import alert_confirm_path, alert_unsubscribe_path
from tests.conftest import caches_clear
from tests.e2e.public_data import (
    PublicData,
    confirm_path,
    public_data_create,
    sponsor_path,
    unsubscribe_path,
    withdraw_path,
)

pytestmark = pytest.mark.django_db

AXE = Axe()
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}

Path = str | Callable[[PublicData], str]


@dataclass(frozen=True)
class Case:
    """A page to check. `route` is its URL name; `open(page, site_url, data)` takes the browser there."""

    id: str
    route: str
    open: Callable


def _path(path: Path, data: PublicData) -> str:
    return path(data) if callable(path) else path


def visit(path: Path):
    def go(page, url: str, data: PublicData):
        page.goto(url + _path(path, data))

    return go


def submit(path: Path, fill: dict | None = None):
    """Open a form and press its button as it is (empty), or after typing bad values into some fields."""

    def go(page, url: str, data: PublicData):
        page.goto(url + _path(path, data))
        for selector, value in (fill or {}).items():
            page.locator(selector).fill(value)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").first.click()

    return go


#: Answers to the start-a-petition stages before each one: (stage, form data).
START_ANSWERS = [
    ("uk-citizenship", {"uk_citizenship": "yes"}),
    ("action", {"action": "Fund more school nurses"}),  # like the open petition: "similar petitions" follows
    ("background", {"background": "Most schools have no nurse at all."}),
    ("additional-details", {"additional_details": ""}),
    (
        "creator",
        {
            "name": "Jo Leighton",
            "email": "jo.leighton@example.org",
            "email_confirmation": "jo.leighton@example.org",
            "country": "GB",
            "postcode": "SW1A 1AA",
        },
    ),
]


def start_stage(stage: str, *, errors: bool = False, northern_ireland: bool = False):
    """The start-a-petition stage `stage`, its earlier answers given (they live in the session: posted with the
    browser's cookies, to keep the case short); with `errors`, after pressing its button with nothing (or too
    much) filled in."""

    def go(page, url: str, data: PublicData):
        page.goto(url + "/petitions/new/uk-citizenship")
        token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
        for name, answers in START_ANSWERS:
            if name == stage:
                break
            if name == "creator" and northern_ireland:
                answers = {**answers, "postcode": "BT1 1AA"}
            response = page.request.post(
                f"{url}/petitions/new/{name}", form={**answers, "csrfmiddlewaretoken": token}
            )
            assert response.ok and f"/new/{name}" not in response.url, f"{name}: {response.url}"
        if stage != "uk-citizenship":
            page.goto(f"{url}/petitions/new/{stage}")
        assert page.url.endswith(f"/new/{stage}"), page.url
        if errors:
            if stage == "additional-details":
                page.locator("#id_additional_details").fill("x" * 801)
            with page.expect_navigation():
                page.locator("main form button[type=submit]").last.click()

    return go


def start_finished(page, url: str, data: PublicData):
    start_stage("check")(page, url, data)
    page.get_by_role("button", name="Create petition").click()
    page.wait_for_url("**/petitions/thank-you")


def bad_request(page, url: str, data: PublicData):
    # More query parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS: Django answers 400 with the site's 400 page.
    page.goto(url + "/petitions?" + "&".join(f"f{n}=1" for n in range(1100)))


def csrf_failure(page, url: str, data: PublicData):
    # A form posted after its CSRF cookie went (a browser that drops cookies): the site's 403 page.
    page.goto(url + f"/petitions/{data.open.pk}/signatures/new")
    page.context.clear_cookies()
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()


def handler_page(handler: str):
    """A page no request to the live server can bring up (the 500 page; the 403 page that no public view raises),
    rendered by its handler here and served to the browser at the live server's address, with its styles and
    scripts."""

    def go(page, url: str, data: PublicData):
        from django.test import RequestFactory

        from petitions import views

        response = getattr(views, handler)(RequestFactory().get("/"))
        page.route(
            f"{url}/{handler}",
            lambda route: route.fulfill(
                status=response.status_code, body=response.content, content_type=response["Content-Type"]
            ),
        )
        page.goto(f"{url}/{handler}")

    return go


def committed(write: Callable[[], object]) -> None:
    """Run `write` where the live server sees it: on a connection of its own (another thread), outside the
    test's transaction; with in-memory SQLite the server shares the test's connection, so in it."""
    if connection.vendor == "sqlite":
        write()
        return

    def run():
        try:
            write()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def paused(setting: str, then):
    """Staff paused signing or starting petitions; put back afterwards, as the cases share the database."""

    def go(page, url: str, data: PublicData):
        from petitions.models import SiteSettings

        committed(lambda: SiteSettings.objects.filter(pk=1).update(**{setting: True}))
        SiteSettings.cache_clear()
        try:
            then(page, url, data)
            page.locator("main").wait_for()
        finally:
            committed(lambda: SiteSettings.objects.filter(pk=1).update(**{setting: False}))
            SiteSettings.cache_clear()

    return go


def too_many_alerts(page, url: str, data: PublicData):
    """The page for a client that asked for too many alerts: the real limiter, with its limit lowered to none
    (tests/test_alerts.py does the same), for this case only."""
    from debates import alerts

    with mock.patch.object(alerts, "SUBSCRIBE_LIMIT", 0):
        submit(alert_new, {"#id_email": "mp.office@example.org"})(page, url, data)


def sign_path(d: PublicData) -> str:
    return f"/petitions/{d.open.pk}/signatures/new"


def alert_new(d: PublicData) -> str:
    return f"/constituencies/{d.constituency.gss_code}/alerts/new"


def petition_map(query: str = ""):
    return lambda d: f"/petitions/{d.open.pk}/map{query}"


PAGES = [
    Case("home", "petitions:home", visit("/")),
    Case("petitions-all", "petitions_browse:index", visit("/petitions")),
    Case("petitions-open", "petitions_browse:index", visit("/petitions?state=open")),
    Case("petitions-search-results", "petitions_browse:index", visit("/petitions?q=nurses")),
    Case(
        "petitions-no-results", "petitions_browse:index", visit("/petitions?q=zebra+crossings&state=closed")
    ),
    Case("petition-open", "petitions:detail", visit(lambda d: f"/petitions/{d.open.pk}")),
    Case(
        "petition-closed-responded-debated", "petitions:detail", visit(lambda d: f"/petitions/{d.closed.pk}")
    ),
    Case("petition-rejected", "petitions:detail", visit(lambda d: f"/petitions/{d.rejected.pk}")),
    Case("petition-removed-410", "petitions:detail", visit(lambda d: f"/petitions/{d.removed.pk}")),
    Case(
        "petition-gathering-support",
        "petitions:gathering_support",
        visit(lambda d: f"/petitions/{d.validated.pk}/gathering-support"),
    ),
    Case(
        "petition-moderation-info",
        "petitions:moderation_info",
        visit(lambda d: f"/petitions/{d.sponsored.pk}/moderation-info"),
    ),
    Case("map-hex", "petitions:map", visit(petition_map())),
    Case("map-geographic-share", "petitions:map", visit(petition_map("?view=geographic&measure=share"))),
    Case("map-hex-postcode-found", "petitions:map", visit(petition_map("?postcode=SW1A+1AA"))),
    Case(
        "map-geographic-postcode-found",
        "petitions:map",
        visit(petition_map("?view=geographic&postcode=SW1A+1AA")),
    ),
    Case("local-petitions", "petitions_browse:local", visit("/petitions/local")),
    Case("local-petitions-found", "petitions_browse:local", visit("/petitions/local?postcode=SW1A+1AA")),
    Case("data-sources", "petitions:data_sources", visit("/data-sources")),
    Case("help", "petitions:help", visit("/help")),
    Case("privacy", "petitions:privacy", visit("/privacy")),
    Case("cookies", "petitions:cookies", visit("/cookies")),
    Case("accessibility-statement", "petitions:accessibility", visit("/accessibility")),
    Case("consultations", "responses:consultations", visit("/consultations")),
    Case("debates", "debates_browse:list", visit("/debates")),
    Case(
        "debates-for-a-constituency",
        "debates_browse:list",
        visit(lambda d: f"/debates?constituency={d.constituency.gss_code}"),
    ),
    Case("debate-event", "debates_constituencies:event", visit(lambda d: f"/debates/{d.debate.pk}")),
    Case(
        "debate-event-with-constituency",
        "debates_constituencies:event",
        visit(lambda d: f"/debates/{d.debate.pk}?constituency={d.constituency.gss_code}"),
    ),
    Case("constituencies", "debates_constituencies:index", visit("/constituencies")),
    Case(
        "constituency",
        "debates_constituencies:detail",
        visit(lambda d: f"/constituencies/{d.constituency.gss_code}"),
    ),
    Case(
        "constituency-all-petitions",
        "debates_constituencies:detail",
        visit(lambda d: f"/constituencies/{d.constituency.gss_code}?state=all"),
    ),
    # Signing.
    Case("sign-form", "petitions:sign", visit(sign_path)),
    Case(
        "sign-check-your-email",
        "petitions:sign_thank_you",
        visit(lambda d: f"/petitions/{d.open.pk}/signatures/thank-you"),
    ),
    Case(
        "sign-closed-petition-410",
        "petitions:sign",
        visit(lambda d: f"/petitions/{d.closed.pk}/signatures/new"),
    ),
    Case("sign-paused", "petitions:sign", paused("disable_collecting_signatures", visit(sign_path))),
    Case("signature-confirm", "petitions:signature_confirm", visit(lambda d: confirm_path(d.pending))),
    Case("signature-confirmed", "petitions:signature_confirm", visit(lambda d: confirm_path(d.signer))),
    Case(
        "signature-unsubscribe",
        "petitions:signature_unsubscribe",
        visit(lambda d: unsubscribe_path(d.signer)),
    ),
    Case(
        "signature-unsubscribed",
        "petitions:signature_unsubscribe",
        visit(lambda d: unsubscribe_path(d.unsubscribed)),
    ),
    Case(
        "signature-unsubscribe-creator-403",
        "petitions:signature_unsubscribe",
        visit(lambda d: unsubscribe_path(d.creator)),
    ),
    Case("signature-withdraw", "petitions:signature_withdraw", visit(lambda d: withdraw_path(d.signer))),
    Case("signature-withdrawn", "petitions:signature_withdraw", visit(lambda d: withdraw_path(d.withdrawn))),
    Case(
        "signature-withdraw-refused-403",
        "petitions:signature_withdraw",
        visit(lambda d: withdraw_path(d.creator)),
    ),
    # Starting a petition and gathering supporters. (/petitions/new only redirects to the first stage.)
    Case("start", "petitions:start", visit("/petitions/start")),
    Case("start-paused", "petitions:start", paused("disable_petition_creation", visit("/petitions/start"))),
    Case("start-uk-citizenship", "petitions:new", visit("/petitions/new")),
    Case("start-not-eligible", "petitions:new_stage", visit("/petitions/new/not-eligible")),
    Case("start-action", "petitions:new_stage", start_stage("action")),
    Case("start-similar-petitions", "petitions:new_stage", start_stage("similar-petitions")),
    Case("start-background", "petitions:new_stage", start_stage("background")),
    Case("start-additional-details", "petitions:new_stage", start_stage("additional-details")),
    Case("start-creator", "petitions:new_stage", start_stage("creator")),
    Case("start-constituency", "petitions:new_stage", start_stage("constituency", northern_ireland=True)),
    Case("start-check", "petitions:new_stage", start_stage("check")),
    Case("start-thank-you", "petitions:thank_you", start_finished),
    Case("sponsor-form", "petitions:sponsor_new", visit(lambda d: sponsor_path(d.validated))),
    Case(
        "sponsor-thank-you",
        "petitions:sponsor_thank_you",
        visit(lambda d: sponsor_path(d.validated, "thank-you")),
    ),
    Case("sponsor-no-more-needed", "petitions:sponsor_new", visit(lambda d: sponsor_path(d.full))),
    # Constituency alerts.
    Case("alert-sign-up", "debates_alerts:new", visit(alert_new)),
    Case(
        "alert-check-email",
        "debates_alerts:check_email",
        visit(lambda d: f"/constituencies/{d.constituency.gss_code}/alerts/check-email"),
    ),
    Case("alert-confirm", "debates_alerts:confirm", visit(lambda d: alert_confirm_path(d.alert_pending))),
    Case("alert-confirmed", "debates_alerts:confirm", visit(lambda d: alert_confirm_path(d.alert_active))),
    Case(
        "alert-unsubscribe",
        "debates_alerts:unsubscribe",
        visit(lambda d: alert_unsubscribe_path(d.alert_active)),
    ),
    Case(
        "alert-unsubscribed",
        "debates_alerts:unsubscribe",
        visit(lambda d: alert_unsubscribe_path(d.alert_gone)),
    ),
    Case(
        "alert-link-invalid",
        "debates_alerts:confirm",
        visit(lambda d: f"/alerts/{d.alert_active.pk}/confirm?token=wrong"),
    ),
    Case("alert-too-many-429", "debates_alerts:new", too_many_alerts),
    # Error pages.
    Case("not-found-404", "", visit("/no-such-page")),
    Case("bad-request-400", "", bad_request),
    Case("csrf-failure-403", "", csrf_failure),
    Case("permission-denied-403", "", handler_page("permission_denied")),
    Case("server-error-500", "", handler_page("server_error")),
]

#: Every public form, sent empty or with bad values. Forms whose fields only offer valid choices (radios,
#: selects) get their bad values from an edited address, as anyone can send.
FORMS = [
    Case("sign-form-empty", "petitions:sign", submit(sign_path)),
    Case(
        "sign-form-bad-values",
        "petitions:sign",
        submit(
            sign_path,
            {
                "#id_name": "Sam",
                "#id_email": "not-an-email",
                "#id_email_confirmation": "x",
                "#id_postcode": "XYZ",
            },
        ),
    ),
    Case(
        "sign-form-northern-ireland-constituency",
        "petitions:sign",
        submit(
            sign_path,
            {
                "#id_name": "Sam Signer",
                "#id_email": "sam@example.org",
                "#id_email_confirmation": "sam@example.org",
                "#id_postcode": "BT1 1AA",
            },
        ),
    ),
    Case("sponsor-form-empty", "petitions:sponsor_new", submit(lambda d: sponsor_path(d.validated))),
    Case("start-uk-citizenship", "petitions:new_stage", start_stage("uk-citizenship", errors=True)),
    Case("start-action", "petitions:new_stage", start_stage("action", errors=True)),
    Case("start-background", "petitions:new_stage", start_stage("background", errors=True)),
    Case(
        "start-additional-details-too-long",
        "petitions:new_stage",
        start_stage("additional-details", errors=True),
    ),
    Case("start-creator", "petitions:new_stage", start_stage("creator", errors=True)),
    Case(
        "start-constituency",
        "petitions:new_stage",
        start_stage("constituency", errors=True, northern_ireland=True),
    ),
    Case("search-too-long", "petitions_browse:index", submit("/petitions", {"#id_q": "nurses " * 50})),
    Case(
        "search-unknown-topic-and-department",
        "petitions_browse:index",
        visit("/petitions?topic=x&department=y"),
    ),
    Case("local-petitions-empty", "petitions_browse:local", submit("/petitions/local")),
    Case(
        "local-petitions-bad-postcode",
        "petitions_browse:local",
        submit("/petitions/local", {"#id_postcode": "NOT A POSTCODE"}),
    ),
    Case("constituencies-empty", "debates_constituencies:index", submit("/constituencies")),
    Case(
        "constituencies-bad-postcode",
        "debates_constituencies:index",
        submit("/constituencies", {"#id_postcode": "ZZ99 9ZZ"}),
    ),
    Case(
        "constituencies-northern-ireland",
        "debates_constituencies:index",
        submit("/constituencies", {"#id_postcode": "BT1 1AA"}),
    ),
    Case("map-hex-bad-postcode", "petitions:map", submit(petition_map(), {"#id_postcode": "NOPE"})),
    Case(
        "map-geographic-bad-postcode",
        "petitions:map",
        submit(petition_map("?view=geographic"), {"#id_postcode": "NOPE"}),
    ),
    Case("alert-sign-up-empty", "debates_alerts:new", submit(alert_new)),
    Case("alert-sign-up-bad-email", "debates_alerts:new", submit(alert_new, {"#id_email": "nope"})),
    Case(
        "consultations-filter",
        "responses:consultations",
        visit("/consultations?status=someday&department=999999"),
    ),
    Case(
        "debates-filter-bad-dates",
        "debates_browse:list",
        submit("/debates", {"#id_from": "31/2/2024", "#id_to": "1/1/1800"}),
    ),
    Case(
        "debates-filter-everything-wrong",
        "debates_browse:list",
        visit(
            "/debates?text=" + "a" * 201 + "&type=nonsense&when=later&from=2024-03-21&to=2024-03-01"
            "&department=XYZ&petition_state=nonsense&min_signatures=lots&constituency=Z99&sort=random"
        ),
    ),
    Case(
        "debate-event-unknown-constituency",
        "debates_constituencies:event",
        visit(lambda d: f"/debates/{d.debate.pk}?constituency=Z99"),
    ),
]

#: Public routes that are not HTML pages.
NOT_HTML = (".json", ".csv", ".ics", ".atom", ".svg")
FORM_ROUTES = {case.route for case in FORMS}
#: Pages with a form that has no error state: the constituency page's open/all choice falls back to "open".
FORMS_WITHOUT_ERRORS = {"debates_constituencies:detail"}


def _violations_report(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} {violation['helpUrl']}")
        for node in violation["nodes"]:
            lines.append(
                f"    {', '.join(str(t) for t in node['target'])}: {node.get('failureSummary', '')!r}"
            )
            lines.append(f"        {node['html'][:300]}")
    return "\n".join(lines)


def assert_accessible(page):
    results = AXE.run(page, options=AXE_OPTIONS)
    violations = results.response["violations"]
    assert not violations, (
        f"{len(violations)} axe violations on {page.url}:\n{_violations_report(violations)}"
    )


#: Elements that stick out of the page at 320 CSS pixels wide (while their parent does not).
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll("body *")].filter((element) => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && element.parentElement.getBoundingClientRect().right <= width + 1;
  }).slice(0, 5).map((element) => element.outerHTML.slice(0, 160));
}"""


def assert_reflows(page):
    """WCAG 1.4.10 Reflow: at 320 CSS pixels wide (1280 pixels at 400% zoom) nothing makes the page scroll
    sideways; a wide table scrolls in its own box (.app-table-scroll)."""
    page.set_viewport_size({"width": 320, "height": 640})
    width, scroll_width = page.evaluate(
        "[document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    )
    assert scroll_width <= width, f"{page.url} scrolls sideways at 320px: {page.evaluate(OVERFLOWING)}"


@pytest.fixture(scope="module")
def public_site(django_db_setup, django_db_blocker):
    """(live server URL, data): one server and one data setup for every case of the module. The database is
    put back as it was before (what migrations seed, the geography), as tests that run after these expect."""
    from django.conf import settings

    from petitions.models import RateLimit, SiteSettings

    with django_db_blocker.unblock():
        before = connection.creation.serialize_db_to_string()
        data = public_data_create()
        # Both single rows exist and are committed now: no case's transaction creates one the server waits for.
        SiteSettings.load()
        RateLimit.load()
        server = LiveServer("localhost")
        site_url = settings.SITE_URL
        settings.SITE_URL = server.url
        try:
            yield server.url, data
        finally:
            settings.SITE_URL = site_url
            server.stop()
            call_command(
                "flush", verbosity=0, interactive=False, inhibit_post_migrate=True, reset_sequences=False
            )
            connection.creation.deserialize_db_from_string(before)
            caches_clear()


@pytest.fixture
def reference_data():
    """Overrides tests/e2e/conftest.py's, which asks for a transactional database: the geography loaded with
    the test database stays for every case."""


@pytest.fixture
def browser_address_allowed():
    """Overrides tests/e2e/conftest.py's: public_data_create allow-lists the browser's address once."""


@pytest.mark.parametrize("case", PAGES, ids=[case.id for case in PAGES])
def test_page_is_accessible(case: Case, page, public_site):
    site_url, data = public_site
    case.open(page, site_url, data)
    expect(page.locator("main")).to_be_visible()
    assert not page.title().startswith("Error:"), f"{page.url} is titled {page.title()!r}"
    assert_accessible(page)
    assert_reflows(page)
    # Every form with fields to fill in must have its error state checked too (in FORMS, by its action's route).
    for form in page.locator("main form").all():
        if form.locator(":is(input, select, textarea):visible").count():
            action = urlsplit(urljoin(page.url, form.get_attribute("action") or "")).path
            route = resolve(action).view_name
            assert route in FORM_ROUTES | FORMS_WITHOUT_ERRORS, (
                f"no FORMS case for the form {action} on {page.url}"
            )


@pytest.mark.parametrize("case", FORMS, ids=[case.id for case in FORMS])
def test_form_error_state_is_accessible(case: Case, page, public_site):
    site_url, data = public_site
    case.open(page, site_url, data)
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_have_count(1)
    assert page.title().startswith("Error:"), f"{page.url} is titled {page.title()!r}"
    # GOV.UK Frontend's ErrorSummary moves the focus to the summary once its JavaScript has run.
    expect(summary).to_be_focused()
    assert_accessible(page)
    assert_reflows(page)


def _public_routes(patterns=None, namespace=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if not str(pattern.pattern).startswith("admin/"):
                yield from _public_routes(pattern.url_patterns, pattern.namespace or namespace)
        elif not str(pattern.pattern).endswith(NOT_HTML):
            yield f"{namespace}:{pattern.name}"


def test_every_public_page_has_a_case():
    """A new public page fails here until PAGES has a case for it (and test_page_is_accessible asks for a FORMS
    case when it has a form)."""
    assert set(_public_routes()) - {case.route for case in PAGES} == set()


def test_axe_reports_violations(page):
    """The checker itself: a page with known faults fails it (so a pass above means something)."""
    page.set_content('<html><body><img src="x.png"><input type="text"><a href="/"></a></body></html>')
    results = AXE.run(page, options=AXE_OPTIONS)
    found = {violation["id"] for violation in results.response["violations"]}
    assert {"image-alt", "label", "link-name", "html-has-lang", "document-title"} <= found
