"""Templated email: subject from the first line, sent after commit, never to anonymised signers."""

import pytest
from django.utils import timezone

from petitions.emails import email_render
from petitions.models import Signature
from petitions.services import signature_email_on_commit, signature_email_send

from .factories import ValidatedSignatureFactory

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


def test_send_counts_the_email(template, mailoutbox):
    signature = ValidatedSignatureFactory()
    assert signature_email_send(signature_id=signature.pk, template=template, extra={})
    assert [m.to for m in mailoutbox] == [[signature.email]]
    assert Signature.objects.get(pk=signature.pk).email_count == 1


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
