import logging
import smtplib

from django.conf import settings
from django.db import transaction
from django.db.models import F
from kombu.exceptions import KombuError

from ..emails import email_send
from ..models import Signature, SiteSettings

logger = logging.getLogger(__name__)

#: The anti-mail-bombing cap: no signature's address gets more confirmation or duplicate emails than this.
MAX_EMAILS_PER_SIGNATURE = 5

#: Sent even after the signer unsubscribed: the link that confirms a signature is the only way to confirm it.
UNSUBSCRIBE_EXEMPT_TEMPLATES = frozenset({"signature_confirm", "sponsor_confirm"})


def signature_unsubscribe_path(signature: Signature) -> str:
    """The unsubscribe link's path (`views.signature_unsubscribe`); the same URL takes one-click POSTs."""
    return f"/signatures/{signature.pk}/unsubscribe?token={signature.unsubscribe_token}"


def signature_email_headers(signature: Signature) -> dict:
    """RFC 2369 and RFC 8058 one-click unsubscribe headers for an email to a signer, or none for the creator
    (who cannot unsubscribe from emails about their own petition). The URL carries the token, never the
    address."""
    if signature.creator:
        return {}
    return {
        "List-Unsubscribe": f"<{settings.SITE_URL}{signature_unsubscribe_path(signature)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def signature_email_send(*, signature_id: int, template: str, extra: dict) -> bool:
    """Send `template` to the signature's address now. Anonymised or deleted signatures get nothing, and a
    signer who unsubscribed gets nothing but confirmation links."""
    try:
        # get(), not filter().first(): no ORDER BY to build, on the worker's busiest query.
        signature = Signature.objects.select_related("petition").get(pk=signature_id)
    except Signature.DoesNotExist:
        return False
    if signature.anonymized_at is not None:
        return False
    if signature.unsubscribed_at is not None and template not in UNSUBSCRIBE_EXEMPT_TEMPLATES:
        return False
    context = {"signature": signature, "petition": signature.petition, "site": SiteSettings.cached(), **extra}
    email_send(
        to=signature.email, template=template, context=context, headers=signature_email_headers(signature)
    )
    return True


def signature_email_on_commit(
    *, signature_id: int, template: str, extra: dict | None = None, capped: bool = False
) -> bool:
    """Queue an email to a signature once the current transaction commits (nothing is sent if it rolls back).

    A `capped` email (a confirmation link or a "you have already signed") takes one of the signature's
    `MAX_EMAILS_PER_SIGNATURE` now, in this transaction, so a burst of requests queued before any is sent
    cannot exceed the cap. Returns False, queueing nothing, when the cap is used up.
    """
    if capped:
        reserved = Signature.objects.filter(pk=signature_id, email_count__lt=MAX_EMAILS_PER_SIGNATURE).update(
            email_count=F("email_count") + 1
        )
        if not reserved:
            return False
    transaction.on_commit(lambda: _signature_email_queue(signature_id, template, extra or {}))
    return True


def _signature_email_queue(signature_id: int, template: str, extra: dict) -> None:
    """Queue the email task; with the broker (Redis) down, send the email from this process instead. The
    signature is committed by now, and its confirmation link is the only way to confirm it: a lost email would
    lose the signature. Logs ids and error types only, never the address."""
    from ..tasks import signature_email

    try:
        signature_email.delay(signature_id, template, extra)
        return
    except KombuError as error:  # the broker is unreachable (kombu wraps redis errors)
        logger.warning(
            "Signature %s: could not queue the %s email (%s); sending it now.",
            signature_id,
            template,
            type(error).__name__,
        )
    try:
        signature_email_send(signature_id=signature_id, template=template, extra=extra)
    except (smtplib.SMTPException, OSError) as error:
        logger.warning(
            "Signature %s: the %s email failed (%s).", signature_id, template, type(error).__name__
        )
