"""The bytes of a notice's emails, built once per batch instead of once per recipient.

Every recipient of a notice gets the same email but for their name, their unsubscribe link and the Message-ID.
Django's EmailMultiAlternatives rebuilds everything per message: two template renders, header sanitising and
RFC 2047 folding of the (non-ASCII: “quoted”) subject, which alone is quadratic in Python's email package, and
the MIME generator. That was most of the sender's CPU (docs/performance.md). Here a batch renders each variant
(creator or signer) once with placeholders, checks that the placeholders give exactly what a direct render
gives for a real recipient, and then fills in each recipient's parts into prebuilt bytes.

Whatever this path can't build the same way Django would (a variant whose check fails, a non-ASCII or unusual
address, a line over 998 bytes, a connection that isn't SMTP such as the test suite's locmem backend) goes
through Django's own message instead: `NoticeMessages.raw` returns None for it.
"""

import contextlib
import re
import secrets
import smtplib
from email.charset import Charset
from email.header import Header
from email.utils import formatdate
from types import SimpleNamespace

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address
from django.utils.html import escape

#: Addresses whose sanitised form is the address itself (what nearly every signer has).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: RFC 5322's hard limit on a line, without its CRLF.
_MAX_LINE = 998
_HEADER_SAFE = re.compile(r"[\x21-\x7e][\x20-\x7e]*")
#: SMTP's dot-stuffing (RFC 5321 4.5.2), as smtplib does it.
_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


def _placeholder(label: str) -> str:
    return f"zq{label}{secrets.token_hex(6)}qz"


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _header_line(name: str, value: str) -> str:
    return f"{name}: {value}\r\n"


def _subject_header(subject: str) -> str:
    """The Subject line as Django's message would carry it: RFC 2047 encoded when it isn't ASCII."""
    if subject.isascii() and len(subject) + 9 <= 78:
        return _header_line("Subject", subject)
    encoded = Header(subject, Charset("utf-8"), header_name="Subject").encode(linesep="\r\n")
    return f"Subject: {encoded}\r\n"


class _Variant:
    """One rendered variant of the email (for the creator, or for signers) with its placeholders."""

    def __init__(self, subject_line: str, text: str, html: str | None, marks: dict):
        self.subject_line = subject_line
        self.text = _crlf(text)
        self.html = _crlf(html) if html is not None else None
        self.marks = marks

    def bodies(self, signature) -> tuple[str, str | None]:
        name, pk, token = signature.name, str(signature.pk), signature.unsubscribe_token
        m = self.marks
        text = self.text.replace(m["name"], name).replace(m["pk"], pk).replace(m["token"], token)
        html = None
        if self.html is not None:
            html = (
                self.html.replace(m["name"], escape(name))
                .replace(m["pk"], escape(pk))
                .replace(m["token"], escape(token))
            )
        return text, html


class NoticeMessages:
    """Builds one batch's messages. `render(signature)` must be notice_email_render for that signature."""

    def __init__(self, *, render, from_email: str, connection):
        self.render = render
        self.from_email = from_email
        self.smtp = isinstance(connection, EmailBackend)
        self.envelope_from = sanitize_address(from_email, settings.DEFAULT_CHARSET) if self.smtp else ""
        self.from_line = _header_line("From", from_email) if _HEADER_SAFE.fullmatch(from_email) else None
        self.variants: dict[bool, _Variant | None] = {}

    def _variant(self, signature) -> _Variant | None:
        key = bool(signature.creator)
        if key not in self.variants:
            self.variants[key] = self._variant_build(signature)
        return self.variants[key]

    def _variant_build(self, signature) -> _Variant | None:
        marks = {"name": _placeholder("n"), "pk": _placeholder("i"), "token": _placeholder("t")}
        stand_in = SimpleNamespace(
            pk=marks["pk"],
            id=marks["pk"],
            name=marks["name"],
            unsubscribe_token=marks["token"],
            creator=signature.creator,
        )
        subject, text, html = self.render(stand_in)
        if any(mark in subject for mark in marks.values()):
            return None  # a subject that differs per person: Django builds each one
        variant = _Variant(_subject_header(subject), text, html, marks)
        # The placeholders must give exactly what a direct render gives, or this variant goes Django's way.
        real_subject, real_text, real_html = self.render(signature)
        if real_subject != subject or variant.bodies(signature) != (
            _crlf(real_text),
            _crlf(real_html) if real_html is not None else None,
        ):
            return None
        return variant

    def raw(self, *, signature, headers: dict) -> bytes | None:
        """The message's bytes for `signature` (To, then `headers` such as Message-ID and List-Unsubscribe), or
        None when Django must build this one."""
        if not self.smtp or self.from_line is None or not _PLAIN_ADDRESS.fullmatch(signature.email):
            return None
        if "\r" in signature.name or "\n" in signature.name:
            return None
        if not all(_HEADER_SAFE.fullmatch(value) for value in headers.values()):
            return None
        variant = self._variant(signature)
        if variant is None:
            return None
        text, html = variant.bodies(signature)
        parts = [_part(text, "plain")]
        if html is not None:
            parts.append(_part(html, "html"))
        if any(part is None for part in parts):
            return None
        boundary = "===============" + secrets.token_hex(10) + "=="
        head = [
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n',
            "MIME-Version: 1.0\r\n",
            variant.subject_line,
            self.from_line,
            _header_line("To", signature.email),
            _header_line("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)),
            *(_header_line(name, value) for name, value in headers.items()),
            "\r\n",
        ]
        body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
        return ("".join(head) + body).encode("utf-8")

    def send(self, *, connection, signature, raw: bytes, before_reply) -> None:
        """Send prebuilt bytes over the batch's open SMTP connection, calling `before_reply()` once the whole
        message, final dot included, is on its way and before the server's reply is read.

        The caller records the delivery as sent there. A worker killed after the server accepted a message but
        before that record was written would send it again after its lease: recording before the reply instead
        of after leaves that window at the few microseconds between two writes, rather than the server's
        processing time plus a round trip (and the commit's wait overlaps the server's work). A refusal after
        the data (rare) raises as smtplib's `sendmail` would, and the caller records that over it.
        """
        connection.open()
        smtp = connection.connection
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(self.envelope_from)
        if code != 250:
            _reset(smtp)
            raise smtplib.SMTPSenderRefused(code, reply, self.envelope_from)
        code, reply = smtp.rcpt(signature.email)
        if code not in (250, 251):
            _reset(smtp)
            raise smtplib.SMTPRecipientsRefused({signature.email: (code, reply)})
        code, reply = smtp.docmd("data")
        if code != 354:
            _reset(smtp)
            raise smtplib.SMTPDataError(code, reply)
        data = _DOT_AT_LINE_START.sub(b"..", raw)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        smtp.send(data + b".\r\n")
        before_reply()
        code, reply = smtp.getreply()
        if code != 250:
            _reset(smtp)
            raise smtplib.SMTPDataError(code, reply)


def _reset(smtp) -> None:
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


def _part(body: str, subtype: str) -> str | None:
    """One text part, encoded as Django's SafeMIMEText encodes UTF-8 text: 7bit or 8bit, never wrapped."""
    encoded = body.encode("utf-8")
    if any(len(line) > _MAX_LINE for line in encoded.split(b"\r\n")):
        return None  # Django would switch to quoted-printable: let it
    transfer = "7bit" if body.isascii() else "8bit"
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\n"
        f"Content-Transfer-Encoding: {transfer}\r\n\r\n{body}"
    )
