import smtplib

from celery import shared_task
from django.utils import timezone

from . import selectors, services


@shared_task
def petition_recount(petition_id: int) -> int:
    return services.petition_recount(petition_id=petition_id)


@shared_task
def recount_recently_signed() -> int:
    """Watchdog: rebuild counts of petitions signed since their counts were last checked."""
    ids = selectors.petition_ids_needing_recount()
    for petition_id in ids:
        services.petition_recount(petition_id=petition_id)
    return len(ids)


@shared_task
def verify_all_counts() -> int:
    """Nightly integrity check: every open or recently closed petition's counts rebuilt from its rows."""
    since = timezone.now() - timezone.timedelta(days=2)
    ids = selectors.petition_ids_signed_since(since)
    for petition_id in ids:
        services.petition_recount(petition_id=petition_id)
    return len(ids)


@shared_task(
    autoretry_for=(smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=6,
)
def signature_email(signature_id: int, template: str, extra: dict | None = None) -> bool:
    """Send one templated email to a signature's address (the creator, a sponsor or a signer)."""
    return services.signature_email_send(signature_id=signature_id, template=template, extra=extra or {})
