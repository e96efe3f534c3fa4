"""Templated email: subject from the first line, sent after commit, never to anonymised signers."""

import pytest
from django.utils import timezone

from petitions.emails import email_render
from petitions.models import Signature
from petitions.services import signature_email_on_commit, signature_email_send
from petitions.services.emails import MAX_EMAILS_PER_SIGNATURE

from .factories import PendingSignatureFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(tmp_path, settings):
    (tmp_path / "emails").mkdir()
    (tmp_path / "emails" / "hello.txt").write_text(
        "Hello {{ signature.name }}\n\nAbout {{ petition.action }} at {{ site_url }}.\n"
    )
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [tmp_path, *engine["DIRS"]]}]
    return "hello"


def test_render_takes_the_subject_from_the_first_line(template):
    signature = ValidatedSignatureFactory.build(name="Ada")
    subject, body, html = email_render(template, {"signature": signature, "petition": signature.petition})
    assert subject == "Hello Ada"
    assert body.startswith("About ") and "http://testserver" in body
    assert html is None


def test_send_sends_to_the_signature(template, mailoutbox):
    signature = ValidatedSignatureFactory()
    assert signature_email_send(signature_id=signature.pk, template=template, extra={})
    assert [m.to for m in mailoutbox] == [[signature.email]]


def test_the_cap_is_taken_when_an_email_is_queued_not_when_it_is_sent(
    template, mailoutbox, django_capture_on_commit_callbacks
):
    """A burst of duplicate attempts queued before the worker sends any still gets at most five emails."""
    signature = PendingSignatureFactory(email_count=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = [
            signature_email_on_commit(signature_id=signature.pk, template=template, capped=True)
            for _ in range(7)
        ]
    assert queued == [True] * 4 + [False] * 3
    assert len(callbacks) == 4
    assert Signature.objects.get(pk=signature.pk).email_count == MAX_EMAILS_PER_SIGNATURE


def test_uncapped_emails_do_not_use_the_cap(template, mailoutbox, django_capture_on_commit_callbacks):
    signature = ValidatedSignatureFactory(email_count=MAX_EMAILS_PER_SIGNATURE)
    with django_capture_on_commit_callbacks(execute=True):
        assert signature_email_on_commit(signature_id=signature.pk, template=template)
    assert len(mailoutbox) == 1


def test_anonymised_signers_get_nothing(template, mailoutbox):
    signature = ValidatedSignatureFactory(anonymized_at=timezone.now())
    assert not signature_email_send(signature_id=signature.pk, template=template, extra={})
    assert mailoutbox == []


def test_on_commit_sends_only_after_commit(template, mailoutbox, django_capture_on_commit_callbacks):
    signature = ValidatedSignatureFactory()
    with django_capture_on_commit_callbacks(execute=True):
        signature_email_on_commit(signature_id=signature.pk, template=template)
        assert mailoutbox == []
    assert len(mailoutbox) == 1
