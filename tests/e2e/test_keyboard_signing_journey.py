"""The signing journey with the keyboard alone: Tab, Shift+Tab, Space, Enter and typing, never the mouse. Sam
goes from the home page to /petitions, searches, opens the petition, signs, confirms from the email and sees the
count go up once the tally has run on a real Celery worker. Every control on the way must be reachable in a
sensible order, with the focus where Sam can see it."""

import re

import pytest
from playwright.sync_api import expect

from petitions.models import SignatureState, SiteSettings
from petitions.tasks import tally_signatures
from tests.e2e.signing import SIGNER, open_petitions_create

CONFIRM_LINK = r"https?://\S+/signatures/\d+/confirm\?token=[\w-]+"
#: More presses than any page here needs to reach a control; reaching none within them is a keyboard trap.
MOST_PRESSES = 60


#: Whether the focused element shows it (WCAG 2.4.7): GOV.UK Frontend draws a yellow outline or box shadow on
#: it, or, for a checkbox or radio (whose input is transparent), on its label's box.
FOCUS_SHOWN = """element => {
  const drawn = (style) => style.boxShadow !== "none"
    || (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0 && style.outlineColor !== "rgba(0, 0, 0, 0)");
  if (element !== document.activeElement) return false;
  if (element.matches("input[type=checkbox], input[type=radio]")) {
    return drawn(getComputedStyle(element.labels[0], "::before"));
  }
  return drawn(getComputedStyle(element));
}"""


def assert_focus_shown(target):
    expect(target).to_be_visible()
    assert target.evaluate(FOCUS_SHOWN), f"{target} has the focus but does not show it"


def tab_to(page, target, *, key: str = "Tab") -> int:
    """Press Tab (or Shift+Tab) until `target` has the focus; how many presses it took."""
    for presses in range(1, MOST_PRESSES + 1):
        page.keyboard.press(key)
        if target.evaluate("element => element === document.activeElement"):
            assert_focus_shown(target)
            return presses
    focused = page.evaluate("document.activeElement && document.activeElement.outerHTML.slice(0, 200)")
    raise AssertionError(f"{key} never reached {target} on {page.url}; the focus ended on {focused}")


def tab_next(page, target, *, key: str = "Tab"):
    """One press of Tab (or Shift+Tab) moves the focus to `target`: the tab order follows the page's order."""
    page.keyboard.press(key)
    expect(target).to_be_focused()
    assert_focus_shown(target)


def press_and_wait(page, key: str):
    with page.expect_navigation():
        page.keyboard.press(key)


def skip_to_main(page):
    """From the top of a new page: the first Tab reaches the skip link, which takes the focus to <main>."""
    skip = page.get_by_role("link", name="Skip to main content")
    tab_next(page, skip)
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


@pytest.mark.django_db(transaction=True)
def test_citizen_signs_with_the_keyboard_alone(page, site_url, mailbox, celery_worker):
    petition = open_petitions_create()
    SiteSettings.objects.filter(pk=SiteSettings.load().pk).update(signature_count_interval=1)

    # --- From the home page's menu to "All petitions", then the search box through the skip link.
    page.goto(site_url + "/")
    tab_to(page, page.get_by_role("navigation", name="Menu").get_by_role("link", name="All petitions"))
    press_and_wait(page, "Enter")
    expect(page).to_have_url(re.compile(r"/petitions$"))
    skip_to_main(page)
    search = page.get_by_label("Search petitions")
    tab_next(page, search)
    page.keyboard.type("nurses")
    press_and_wait(page, "Enter")
    expect(page).to_have_url(re.compile(r"/petitions\?q=nurses"))

    # --- The result, then the petition's "Sign this petition" button.
    result = page.locator(".app-petition-list").get_by_role("link", name=petition.action)
    tab_to(page, result)
    press_and_wait(page, "Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(petition.action)
    count = page.locator(".app-signature-count")
    expect(count).to_have_text("1,234 signatures")
    tab_to(page, page.get_by_role("link", name="Sign this petition"))
    press_and_wait(page, "Enter")

    # --- The form, field by field in the order it shows them.
    skip_to_main(page)
    declaration = page.get_by_label("I am a British citizen or UK resident")
    tab_to(page, declaration)
    page.keyboard.press("Space")
    expect(declaration).to_be_checked()
    for label, text in (
        ("Full name", SIGNER["name"]),
        ("Email address", SIGNER["email"]),
        ("Confirm your email address", SIGNER["email"]),
    ):
        field = page.get_by_label(label, exact=True)
        tab_next(page, field)
        page.keyboard.type(text)
    tab_next(page, page.get_by_label("Where do you live?"))  # the United Kingdom already
    tab_next(page, page.get_by_label("UK postcode"))
    page.keyboard.type(SIGNER["postcode"])
    updates = page.get_by_label("Email me whenever there's an update about this petition")
    tab_next(page, updates)
    continue_button = page.get_by_role("button", name="Continue")
    tab_next(page, continue_button)
    # Sam changes their mind about updates: back one field, tick it, forward again.
    tab_next(page, updates, key="Shift+Tab")
    page.keyboard.press("Space")
    expect(updates).to_be_checked()
    tab_next(page, continue_button)
    press_and_wait(page, "Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    signature = petition.signatures.get()
    assert signature.state == SignatureState.PENDING and signature.notify_by_email

    # --- The link in the email opens a page with one button: Tab to it and press Enter.
    message = mailbox.wait_for(to=SIGNER["email"], subject_contains="confirm your email")
    page.goto(mailbox.link(message, CONFIRM_LINK))
    skip_to_main(page)
    tab_to(page, page.get_by_role("button", name="Confirm your signature"))
    press_and_wait(page, "Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("We've added your signature")
    signature.refresh_from_db()
    assert signature.state == SignatureState.VALIDATED

    # --- Back to the petition: the count goes up once the worker has run the tally.
    skip_to_main(page)
    tab_to(page, page.get_by_role("link", name="View the petition"))
    press_and_wait(page, "Enter")
    expect(count).to_have_text("1,234 signatures")
    tally_signatures.delay()
    expect(count).to_have_text("1,235 signatures", timeout=20_000)
