"""Celery tasks for constituency alerts (weekly digests). Thin: the work is in debates.alerts.

Beat runs `queue_alert_digests` on Monday mornings and `send_alert_digests` every few minutes (it sends what is
due: new digests, retries, digests held by the night window or "Pause bulk email", and any a dead worker left
claimed once their lease runs out)."""

import smtplib

from celery import shared_task

from . import alerts

__all__ = ["alert_email", "queue_alert_digests", "send_alert_digests"]


@shared_task(
    autoretry_for=(smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=6,
)
def alert_email(alert_id: int, template: str) -> bool:
    """A confirmation link or a "you're already subscribed" email to one alert's address."""
    return alerts.alert_email_send(alert_id=alert_id, template=template)


@shared_task
def queue_alert_digests() -> dict:
    """Monday 07:00 London: this week's digest for every active alert (idempotent), then start sending."""
    result = alerts.alerts_digests_queue()
    if result["queued"]:
        send_alert_digests.delay()
    return result


@shared_task
def send_alert_digests() -> dict:
    """Send the due digests for a while; when the time budget ran out with more due, run again at once."""
    result = alerts.alerts_digests_run()
    if result["more"]:
        send_alert_digests.apply_async(countdown=1)
    return result
