import logging
import smtplib
import time

from celery import shared_task
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.utils import timezone

from . import selectors, services

logger = logging.getLogger(__name__)


@shared_task
def petition_recount(petition_id: int) -> int:
    return services.petition_recount(petition_id=petition_id)


@shared_task
def verify_all_counts() -> int:
    """Nightly integrity check: the counts of every petition signed in the last two days are rebuilt from the
    rows; each one that had drifted gets a "counts.repair" audit row. Returns how many were repaired."""
    since = timezone.now() - timezone.timedelta(days=2)
    return sum(
        services.petition_counts_repair(petition_id=petition_id)
        for petition_id in selectors.petition_ids_signed_since(since)
    )


#: How long one tally task keeps taking full batches before leaving the rest to the next run.
TALLY_TIME_BUDGET = 3.0


@shared_task(ignore_result=True)
def tally_signatures() -> dict:
    """Every SIGNATURE_TALLY_INTERVAL seconds: add newly confirmed signatures to the counts (and subtract
    invalidated ones). Runs batches while they come back full, for a few seconds at most."""
    from .models import SiteSettings

    totals = {"added": 0, "subtracted": 0, "batches": 0}
    if not SiteSettings.load().update_signature_counts:
        return totals
    started = time.monotonic()
    while True:
        result = services.signatures_tally()
        totals["added"] += result["added"]
        totals["subtracted"] += result["subtracted"]
        totals["batches"] += 1
        if not result["full"] or time.monotonic() - started > TALLY_TIME_BUDGET:
            return totals


class EmailRefusedForNow(Exception):
    """The mail server answered 4xx: try again later. Carries the reply code alone, because Celery logs the
    exception and the server's own reply (or smtplib's) may quote the address."""


@shared_task(
    # Database errors too: the email is sent after the last query, so a retry never sends it twice, and a
    # confirmation lost to a PostgreSQL restart would leave its signature unconfirmable.
    autoretry_for=(
        smtplib.SMTPServerDisconnected,
        smtplib.SMTPConnectError,
        ConnectionError,
        TimeoutError,
        DatabaseOperationalError,
        DatabaseInterfaceError,
        EmailRefusedForNow,
    ),
    retry_backoff=True,
    max_retries=6,
)
def signature_email(signature_id: int, template: str, extra: dict | None = None) -> bool:
    """Send one templated email to a signature's address (the creator, a sponsor or a signer). A dropped
    connection, a timeout or a 4xx reply is retried with backoff; a 5xx is final, logged by id and code."""
    try:
        return services.signature_email_send(signature_id=signature_id, template=template, extra=extra or {})
    except smtplib.SMTPConnectError:
        raise  # the server, not this recipient: retried like a dropped connection
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as error:
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            code = max((reply[0] for reply in error.recipients.values()), default=0)
        else:
            code = error.smtp_code
        if 400 <= code < 500:
            raise EmailRefusedForNow(code) from None
        logger.warning("Signature %s: the %s email was refused (%s).", signature_id, template, code)
        return False


@shared_task
def close_petitions() -> int:
    """Just after midnight: close every open petition past its deadline (catching up on missed nights)."""
    now = timezone.now()
    # A night spent paused must move the deadlines on before anything closes, whichever job the beat runs first.
    services.petitions_extend_deadlines_while_paused(today=timezone.localdate(now))
    return services.petitions_close_expired(now=now)


@shared_task
def extend_deadlines_while_paused() -> int:
    """While signing is paused, every open deadline moves on one day per day (at most once a London day)."""
    return services.petitions_extend_deadlines_while_paused(today=timezone.localdate())


@shared_task
def process_dissolution() -> dict | None:
    """Every minute: once the current Parliament's dissolution time has passed, close and stop petitions."""
    from .models import Parliament

    parliament = Parliament.current()
    if parliament is None:
        return None
    return services.parliament_dissolve(parliament=parliament, now=timezone.now())


@shared_task(
    autoretry_for=(smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=6,
)
def dissolution_notification_send(notification_id: int) -> bool:
    """One dissolution email to one person; does nothing if it was already sent."""
    return services.dissolution_notification_deliver(notification_id=notification_id)


@shared_task
def anonymise_petitions() -> int:
    """Nightly: signers of petitions closed, rejected or stopped over six months ago lose their personal data."""
    return services.petitions_anonymise(now=timezone.now())


#: How long one invalidation task runs batches before re-queueing itself, so one long invalidation never holds a
#: worker and a cancel takes effect between batches.
INVALIDATION_TIME_BUDGET = 20.0
INVALIDATION_BATCH_SIZE = 1000


@shared_task(ignore_result=True)
def invalidate_signatures(invalidation_id: int) -> str | None:
    """Run a started invalidation's batches until it is completed or cancelled, or the time budget is used up
    (then queue itself again). Safe to run twice: batches hold the invalidation's row lock."""
    started = time.monotonic()
    while True:
        result = services.invalidation_run_batch(
            invalidation_id=invalidation_id, batch_size=INVALIDATION_BATCH_SIZE
        )
        if result["done"]:
            return result["state"]
        if time.monotonic() - started >= INVALIDATION_TIME_BUDGET:
            invalidate_signatures.delay(invalidation_id)
            return result["state"]


@shared_task
def resume_invalidations() -> list[int]:
    """Every few minutes: re-queue started invalidations whose task was lost (a flushed or restarted broker)."""
    return services.invalidations_resume()


@shared_task
def trending_report() -> int:
    """Hourly, a few minutes past: record the IP addresses and email domains that signed one petition most in
    the last full hour (admin: Trending items). Running it again for the same hour changes nothing."""
    return services.trending_items_record()


@shared_task
def threshold_digests() -> dict:
    """Every morning: tell Response editors and Debate editors which petitions newly await them."""
    return services.threshold_digests_send()


#: How long one notice task fans out and sends before queueing itself again, so a cancel or pause takes effect
#: and one notice never holds a worker for long.
NOTICE_TIME_BUDGET = 20.0
NOTICE_CHUNK_SIZE = 5000
NOTICE_BATCH_SIZE = 100


@shared_task(bind=True, ignore_result=True)
def dispatch_notice(self, notice_id: int) -> str | None:
    """Fan a notice out and send it, batch by batch, until it is done or held; then queue itself again when it
    should carry on (at once, after a retry delay, or when the night window opens). Safe to run twice at once:
    fan-out chunks hold the notice's lock and every email is claimed by one sender."""
    result = services.notice_dispatch(
        notice_id=notice_id,
        time_budget=NOTICE_TIME_BUDGET,
        chunk_size=NOTICE_CHUNK_SIZE,
        batch_size=NOTICE_BATCH_SIZE,
    )
    again_at = result["again_at"]
    if again_at is not None:
        # An eager (in-process) run cannot wait: a later time is left to the sweeper, which `dispatched_at`
        # already tells when to look again.
        if self.request.is_eager and again_at > timezone.now():
            return result["state"]
        services.notices.notice_queue(notice_id=notice_id, eta=again_at)
    return result["state"]


@shared_task(ignore_result=True)
def sweep_notices() -> list[int]:
    """Every minute: queue again the notices whose task never ran or was lost (Redis down at the staff action, a
    worker killed)."""
    return services.notices_sweep()
