"""A notice's emails built once per batch (petitions/services/notice_mail.py) carry exactly what Django's own
message would: the same headers and the same decoded text and HTML; and whatever the fast path can't build the
same way goes through Django instead."""

import email
import email.policy

import pytest
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import transaction

from petitions.models import NoticeKind, SiteSettings
from petitions.services import notice_create, notice_email_render, notice_send_batch
from petitions.services.notice_mail import NoticeMessages
from petitions.services.notices import _notice_headers, _notice_message, notice_fanout_chunk, notice_source
from tests.factories import OpenPetitionFactory, ValidatedSignatureFactory
from tests.notices_smtp import smtp_server_start
from tests.test_notices import _sources

pytestmark = pytest.mark.django_db

NAMES = [
    "Ann Smith",
    "Zoë “Q” O'Brien & <b>co</b>",
    "Ñandú Łukasz 山田 " + "x" * 150,
]
COMPARED_HEADERS = [
    "Subject",
    "From",
    "To",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
]


@pytest.fixture
def petition():
    # Curly quotes and a long action make the subject non-ASCII and folded, the expensive case.
    return OpenPetitionFactory(action="Make “curly quotes” and £ signs fine in a subject line of some length")


def _notice(petition, kind):
    with transaction.atomic():
        notice = notice_create(petition=petition, kind=kind, source=_sources(petition)[kind])
    notice.refresh_from_db()
    return notice


def _builder(notice, connection):
    source = notice_source(notice=notice)
    return NoticeMessages(
        render=lambda signature: notice_email_render(notice=notice, signature=signature, source=source),
        from_email="Petitions <no-reply@petitions.example.org>",
        connection=connection,
    ), source


def _parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def _assert_same(fast, django):
    for name in COMPARED_HEADERS:
        if name == "Content-Type":
            assert fast.get_content_type() == django.get_content_type()
        else:
            # Django's refolding starts a long header (the encoded subject, List-Unsubscribe) on a continuation
            # line, which decodes with a leading space; ours starts on the header's own line.
            assert fast[name] == (django[name] and django[name].lstrip()), name
    fast_parts = [
        (p.get_content_type(), p.get_content_charset(), p["Content-Transfer-Encoding"], p.get_content())
        for p in fast.iter_parts()
    ]
    django_parts = [
        (p.get_content_type(), p.get_content_charset(), p["Content-Transfer-Encoding"], p.get_content())
        for p in django.iter_parts()
    ]
    assert fast_parts == django_parts


@pytest.mark.parametrize("kind", NoticeKind.values)
def test_the_prebuilt_message_is_the_message_django_would_build(petition, kind, settings):
    settings.DEFAULT_FROM_EMAIL = "Petitions <no-reply@petitions.example.org>"
    creator = ValidatedSignatureFactory(petition=petition, creator=True, name="Cara Creator")
    signers = [ValidatedSignatureFactory(petition=petition, notify_by_email=True, name=n) for n in NAMES]
    notice = _notice(petition, kind)
    connection = SmtpBackend(host="127.0.0.1", port=1)  # never opened here
    messages, source = _builder(notice, connection)
    for signature in [*signers, creator]:
        headers = _notice_headers(notice=notice, signature=signature)
        raw = messages.raw(signature=signature, headers=headers)
        assert raw is not None, f"{kind}: the fast path refused {signature.name!r}"
        django = _notice_message(notice=notice, signature=signature, source=source, connection=connection)
        _assert_same(_parse(raw), _parse(django.message().as_bytes(linesep="\r\n")))
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_each_recipient_gets_their_own_name_and_unsubscribe_link(petition, settings):
    a = ValidatedSignatureFactory(petition=petition, notify_by_email=True, name="Ann <Amp> & Co")
    b = ValidatedSignatureFactory(petition=petition, notify_by_email=True, name="Bob Brown")
    notice = _notice(petition, NoticeKind.OTHER_BUSINESS)
    messages, _ = _builder(notice, SmtpBackend(host="127.0.0.1", port=1))
    parsed = {
        s.pk: _parse(messages.raw(signature=s, headers=_notice_headers(notice=notice, signature=s)))
        for s in (a, b)
    }
    text_a = parsed[a.pk].get_body(("plain",)).get_content()
    html_a = parsed[a.pk].get_body(("html",)).get_content()
    assert "Dear Ann <Amp> & Co," in text_a and "Dear Ann &lt;Amp&gt; &amp; Co," in html_a
    assert f"/signatures/{a.pk}/unsubscribe?token={a.unsubscribe_token}" in text_a
    assert f"/signatures/{a.pk}/unsubscribe?token={a.unsubscribe_token}" in html_a
    assert "Bob" not in text_a and b.unsubscribe_token not in text_a
    assert parsed[b.pk]["List-Unsubscribe"] == (
        f"<{settings.SITE_URL}/signatures/{b.pk}/unsubscribe?token={b.unsubscribe_token}>"
    )


def test_what_the_fast_path_cannot_build_the_same_way_goes_through_django(petition):
    plain = ValidatedSignatureFactory(petition=petition, notify_by_email=True, name="Ann Smith")
    unicode_address = ValidatedSignatureFactory(
        petition=petition, notify_by_email=True, email="zoë@exämple.org"
    )
    notice = _notice(petition, NoticeKind.RESPONSE_PUBLISHED)
    source = notice_source(notice=notice)
    smtp = SmtpBackend(host="127.0.0.1", port=1)

    def headers(s):
        return _notice_headers(notice=notice, signature=s)

    def render(signature):
        return notice_email_render(notice=notice, signature=signature, source=source)

    # Not an SMTP connection (the unit tests' locmem backend).
    messages = NoticeMessages(
        render=render, from_email="no-reply@petitions.example.org", connection=LocmemBackend()
    )
    assert messages.raw(signature=plain, headers=headers(plain)) is None
    # An address Django would have to encode.
    messages = NoticeMessages(render=render, from_email="no-reply@petitions.example.org", connection=smtp)
    assert messages.raw(signature=unicode_address, headers=headers(unicode_address)) is None
    assert messages.raw(signature=plain, headers=headers(plain)) is not None

    # A template that puts the name in the subject, or transforms it: the placeholder check fails.
    def name_in_subject(signature):
        subject, text, html = render(signature)
        return f"{subject} for {signature.name}", text, html

    def name_shouted(signature):
        subject, text, html = render(signature)
        return subject, text.replace(str(signature.name), str(signature.name).upper()), html

    for odd in (name_in_subject, name_shouted):
        messages = NoticeMessages(render=odd, from_email="no-reply@petitions.example.org", connection=smtp)
        assert messages.raw(signature=plain, headers=headers(plain)) is None, odd.__name__


@pytest.mark.django_db(transaction=True)
def test_over_real_smtp_every_signer_gets_the_message_django_would_have_sent(settings):
    from petitions.services import reference_data_load

    reference_data_load()
    controller, mailbox = smtp_server_start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        site = SiteSettings.load()
        site.bulk_email_rate = 10_000
        site.save()
        petition = OpenPetitionFactory(action="Make “curly quotes” fine")
        creator = ValidatedSignatureFactory(petition=petition, creator=True, name="Cara Creator")
        signers = [ValidatedSignatureFactory(petition=petition, notify_by_email=True, name=n) for n in NAMES]
        # The commit runs the notice's task (eager Celery in the test settings): fan-out and sending over SMTP.
        notice = _notice(petition, NoticeKind.DEBATE_SCHEDULED)
        assert mailbox.wait_for_count(4, timeout=10)
        assert notice_send_batch(notice_id=notice.pk)["sent"] == 0
        received = dict(mailbox.messages)
        source = notice_source(notice=notice)
        for signature in [*signers, creator]:
            django = _notice_message(notice=notice, signature=signature, source=source, connection=None)
            _assert_same(received[signature.email], _parse(django.message().as_bytes(linesep="\r\n")))
    finally:
        controller.stop()


class _RefusingHandler:
    """Accepts every message but answers DATA for `refuse` addresses with the given reply."""

    def __init__(self, refuse: dict):
        self.refuse, self.accepted = refuse, []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.refuse:
                return self.refuse[rcpt]
        self.accepted.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.mark.parametrize(
    ("reply", "state", "failed_on_signature"),
    [("550 5.7.1 Message rejected as spam", "failed", True), ("451 4.3.0 Try again later", "queued", False)],
)
def test_a_refusal_after_the_data_overrides_the_sent_recorded_before_the_reply(
    petition, settings, reply, state, failed_on_signature
):
    """The fast path records "sent" as soon as the message is on its way; a server that then refuses it gets
    the refusal recorded instead: failed for a 5xx, queued for a retry for a 4xx. The others are sent."""
    import logging

    from aiosmtpd.controller import Controller

    from petitions.models import NoticeDelivery
    from tests.notices_smtp import free_port

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    refused = ValidatedSignatureFactory(petition=petition, notify_by_email=True, email="refused@example.com")
    others = ValidatedSignatureFactory.create_batch(3, petition=petition, notify_by_email=True)
    handler = _RefusingHandler({"refused@example.com": reply})
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        site = SiteSettings.load()
        site.bulk_email_rate = 10_000
        site.save()
        notice = _notice(petition, NoticeKind.OTHER_BUSINESS)
        notice_fanout_chunk(notice_id=notice.pk)
        result = notice_send_batch(notice_id=notice.pk)
    finally:
        controller.stop()
    assert result["sent"] == 3
    assert sorted(handler.accepted) == sorted(s.email for s in others)
    delivery = NoticeDelivery.objects.get(notice=notice, signature=refused)
    assert (delivery.state, delivery.sent_at) == (state, None)
    assert delivery.error.startswith(reply[:3]) and "refused@" not in delivery.error
    refused.refresh_from_db()
    assert (refused.email_failed_at is not None) is failed_on_signature
    assert set(
        NoticeDelivery.objects.filter(notice=notice)
        .exclude(signature=refused)
        .values_list("state", flat=True)
    ) == {"sent"}
