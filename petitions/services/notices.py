"""Bulk email ("notices", issue 5): one email about a petition to every validated, subscribed signer and its
creator, when a government response, a debate date, a debate outcome or other parliamentary business is
published.

Lifecycle
- `notice_create` stores a pending Notice inside the staff action's own transaction (an outbox) and, after
  commit, tries to queue the `dispatch_notice` task. If Redis is down then, the row is still there and
  `notices_sweep` (every minute) queues it later.
- `notice_dispatch` (the task's body) runs `notice_fanout_chunk` (one NoticeDelivery row per recipient, by
  signature id, resuming from `fanout_cursor`) and `notice_send_batch` until nothing is left, for a time budget
  at most, then says when it should run again (at once, after a retry delay, at the night window).
- Staff pause, resume and cancel a notice between batches; "Pause bulk email" (SiteSettings.disable_notifications)
  holds every notice.

Exactly once: a sender takes a batch of deliveries with one short transaction (SELECT … FOR UPDATE SKIP LOCKED,
then state queued → sending with `claimed_at`: a lease), so no two senders ever hold the same delivery. It then
sends them one by one over one SMTP connection and records each as sent with its own committed UPDATE as soon as
the whole message is on its way, before reading the server's reply (a refusal is then recorded over it), so a
sent delivery is never picked again. A sender stops sending its claimed
rows after DELIVERY_SEND_WINDOW and puts the rest back; rows whose lease (DELIVERY_LEASE) ran out unrecorded
(their worker died) go back to the queue. The one residual window is a worker killed in the microseconds between
writing a message's final dot and writing that UPDATE: that single message is sent again once the lease runs
out (see notice_mail.NoticeMessages.send). To make even that duplicate harmless each message carries a Message-ID made from the notice
and signature ids, the same on both sends, which mail systems use to recognise a repeat.

Throttle: a counter per wall-clock second in the shared cache (Redis in production), taken a batch's worth of
tokens before its deliveries are claimed, so all workers together send at most SiteSettings.bulk_email_rate
emails in any clock second. Addresses are never logged: only notice, delivery and signature ids and SMTP reply codes.
"""

import functools
import logging
import re
import smtplib
import time
from datetime import datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone
from kombu.exceptions import KombuError

from ..emails import email_render
from ..models import (
    NOTICE_ACTIVE_STATES,
    NOTICE_OPEN_STATES,
    DeliveryState,
    Notice,
    NoticeDelivery,
    NoticeKind,
    NoticeState,
    Petition,
    Signature,
    SignatureState,
    SiteSettings,
)
from ..selectors import notice_recipients
from .audit import audit_log_record
from .emails import signature_email_headers, signature_unsubscribe_path
from .moderation import NotAllowed, TransitionError
from .notice_mail import NoticeMessages

logger = logging.getLogger(__name__)

CHANGE_NOTICE = "petitions.change_notice"

#: A temporary failure (4xx, a dropped connection) is retried this many times in all before the delivery fails.
MAX_ATTEMPTS = 8
#: Retry delays: 30 s, 1, 2, 4, 8… minutes, never more than an hour.
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600
#: A notice with no task run for this long has lost its task (Redis was down, a worker died): the sweeper
#: queues it again.
NOTICE_STALL_AFTER = timedelta(minutes=2)
#: Waiting for the night window, a notice's task re-queues itself at most this far ahead, so an ETA task never
#: outlives the Redis visibility timeout (6 hours) and is redelivered.
NIGHT_REQUEUE_MAX = timedelta(hours=1)
LONDON = ZoneInfo("Europe/London")
#: A sender claims a batch of deliveries (state sending) and must record each one within this lease; claimed
#: rows still unrecorded after it (the sender's worker died) go back to the queue.
DELIVERY_LEASE = timedelta(seconds=90)
#: A sender stops sending its claimed rows this long after claiming them and puts the rest back, so it never
#: sends one after its lease could have run out (one message's SMTP exchange is bounded by EMAIL_TIMEOUT).
DELIVERY_SEND_WINDOW = timedelta(seconds=30)

_ADDRESS_RE = re.compile(r"<?[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?")


class NoticeStateError(TransitionError):
    """The notice's state does not allow the action. The message is written for staff."""


# --- Creating one (the outbox) --------------------------------------------------------------------------------


def notice_create(*, petition: Petition, kind: str, source=None, actor=None) -> Notice:
    """Store a notice to every subscribed signer of `petition` (and its creator). Call it INSIDE the staff
    action's transaction: the notice commits or rolls back with it. An open notice of the same kind about the
    same source is returned as it is, so pressing "Save and email" twice emails nobody twice."""
    if kind not in NoticeKind.values:
        raise ValueError(f"Unknown notice kind {kind!r}.")
    source_type = source._meta.label_lower if source is not None else ""
    source_id = str(source.pk) if source is not None else ""
    with transaction.atomic():
        existing = (
            Notice.objects.select_for_update()
            .filter(
                petition=petition,
                kind=kind,
                source_type=source_type,
                source_id=source_id,
                state__in=NOTICE_OPEN_STATES,
            )
            .first()
        )
        if existing is not None:
            return existing
        notice = Notice.objects.create(
            petition=petition,
            kind=kind,
            source_type=source_type,
            source_id=source_id,
            created_by=actor if actor is not None and actor.is_authenticated else None,
        )
        audit_log_record(
            actor=actor,
            action="notice.create",
            obj=notice,
            details={"kind": kind, "petition": petition.pk, "source": f"{source_type} {source_id}".strip()},
        )
        transaction.on_commit(lambda: notice_queue(notice_id=notice.pk, senders=_senders()))
    return notice


def notice_queue(*, notice_id: int, eta: datetime | None = None, senders: int = 1) -> bool:
    """Queue `senders` runs of the notice's task (each then queues itself again until the notice is done: that
    many send side by side, see NOTICE_SENDERS). A broker that is down is logged, not raised: the notice row is
    the record of the work, and `notices_sweep` queues it once the broker is back."""
    from ..tasks import dispatch_notice

    try:
        for _ in range(max(1, senders)):
            if eta is None:
                dispatch_notice.delay(notice_id)
            else:
                dispatch_notice.apply_async((notice_id,), eta=eta)
    except (
        KombuError,
        OSError,
    ) as error:  # the broker is unreachable (kombu wraps redis errors); swept later
        logger.warning(
            "Notice %s: could not queue its task (%s); the sweeper will.", notice_id, type(error).__name__
        )
        return False
    return True


def _senders() -> int:
    return getattr(settings, "NOTICE_SENDERS", 2)


# --- Fan-out: one delivery row per recipient -------------------------------------------------------------------


@transaction.atomic
def notice_fanout_chunk(*, notice_id: int, chunk_size: int = 5000) -> dict:
    """Queue the next `chunk_size` recipients (by signature id, after `fanout_cursor`) in one transaction that
    holds the notice's row lock, so chunks never overlap and a crash rolls a chunk back whole, cursor included.

    Returns {"state", "queued" (new this chunk), "done" (every recipient is queued, or nothing to do)}."""
    notice = Notice.objects.select_for_update().filter(pk=notice_id).first()
    if notice is None:
        return {"state": None, "queued": 0, "done": True}
    if notice.state not in NOTICE_ACTIVE_STATES or notice.fanout_done_at is not None:
        return {"state": notice.state, "queued": 0, "done": True}
    now = timezone.now()
    update_fields = ["fanout_cursor", "total"]
    if notice.state == NoticeState.PENDING:
        notice.state = NoticeState.RUNNING
        notice.started_at = now
        update_fields += ["state", "started_at"]
    chunk = (
        notice_recipients(notice=notice)
        .filter(pk__gt=notice.fanout_cursor)
        .order_by("pk")
        .values_list("pk", flat=True)[:chunk_size]
    )
    if connection.vendor == "postgresql":
        found, last_id, queued = _fanout_insert_select(notice_id=notice.pk, chunk=chunk)
    else:
        ids = list(chunk)
        found, last_id, queued = len(ids), (ids[-1] if ids else None), 0
        if ids:
            # Under the notice's lock nothing else inserts for it, so rows that exist already are the only
            # conflicts.
            existing = NoticeDelivery.objects.filter(notice=notice, signature_id__in=ids).count()
            NoticeDelivery.objects.bulk_create(
                [NoticeDelivery(notice=notice, signature_id=pk) for pk in ids], ignore_conflicts=True
            )
            queued = len(ids) - existing
    if found:
        notice.total += queued
        notice.fanout_cursor = last_id
    done = found < chunk_size
    if done:
        notice.fanout_done_at = now
        update_fields.append("fanout_done_at")
    notice.save(update_fields=update_fields)
    return {"state": notice.state, "queued": queued, "done": done}


def _fanout_insert_select(*, notice_id: int, chunk) -> tuple[int, int | None, int]:
    """PostgreSQL: one INSERT … SELECT for the whole chunk, rather than a model instance per recipient (a
    200,000-signer notice spent its first 20 seconds fanning out that way). Returns (recipients in the chunk,
    the last one's signature id, delivery rows added)."""
    select_sql, params = chunk.query.sql_with_params()
    table = NoticeDelivery._meta.db_table
    sql = (
        f"WITH chunk(id) AS ({select_sql}), added AS ("  # noqa: S608 - our own table and ORM-built SQL
        f"  INSERT INTO {table} (notice_id, signature_id, state, attempts, error)"
        "   SELECT %s, id, %s, 0, '' FROM chunk"
        "   ON CONFLICT (notice_id, signature_id) DO NOTHING RETURNING 1"
        ") SELECT (SELECT count(*) FROM chunk), (SELECT max(id) FROM chunk), (SELECT count(*) FROM added)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, notice_id, DeliveryState.QUEUED])
        found, last_id, added = cursor.fetchone()
    return found, last_id, added


# --- Sending ---------------------------------------------------------------------------------------------------


def notice_night_window_wait(*, site: SiteSettings, now: datetime | None = None) -> datetime | None:
    """None while sending is allowed now; else when the night window (London time) next opens."""
    if not site.bulk_email_night_only:
        return None
    starts, ends = site.bulk_email_night_starts, site.bulk_email_night_ends
    if starts == ends:  # an empty window would hold the email for ever: treat it as "all day"
        return None
    local = timezone.localtime(now or timezone.now(), LONDON)
    hour = local.hour
    inside = starts <= hour < ends if starts < ends else (hour >= starts or hour < ends)
    if inside:
        return None
    opens = local.replace(hour=starts, minute=0, second=0, microsecond=0)
    if opens <= local:
        opens = (local + timedelta(days=1)).replace(hour=starts, minute=0, second=0, microsecond=0)
    # Arithmetic on a zoneinfo datetime is on the wall clock, so 00:00 stays 00:00 across a clock change.
    return opens


def _throttle_key(second: int) -> str:
    return f"notices:rate:{second}"


def notice_rate_take(*, rate: int, wanted: int = 1, now: float | None = None) -> int:
    """Take up to `wanted` send tokens for the current wall-clock second from a counter shared by every worker
    (the cache: Redis in production). Returns how many were granted (0 when this second's `rate` is used up)."""
    if rate <= 0 or wanted <= 0:
        return 0
    second = int(now if now is not None else timezone.now().timestamp())
    key = _throttle_key(second)
    cache.add(key, 0, timeout=5)
    try:
        used = cache.incr(key, wanted)
    except ValueError:  # expired between add and incr: start the second's count again
        cache.add(key, 0, timeout=5)
        used = cache.incr(key, wanted)
    before = used - wanted
    return max(0, min(wanted, rate - before))


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def _smtp_reply(code, text) -> str:
    """The SMTP reply as stored and shown: code and text, with any address in it blanked."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = _ADDRESS_RE.sub("<address>", str(text or "")).strip()
    return f"{code} {text}".strip()[:200]


class _Outcome:
    SENT = "sent"
    TEMPORARY = "temporary"  # this recipient, now: retry later
    PERMANENT = "permanent"
    CONNECTION = "connection"  # the mail server, not the recipient: retry later, stop the batch


def _classify(error: Exception) -> tuple[str, str]:
    """(outcome, SMTP reply without the address) for an error sending one message."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = list(error.recipients.values())
        code, text = replies[0] if replies else (0, "")
        outcome = _Outcome.PERMANENT if replies and all(c >= 500 for c, _ in replies) else _Outcome.TEMPORARY
        return outcome, _smtp_reply(code, text)
    if isinstance(
        error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | smtplib.SMTPSenderRefused
    ):
        # The server, or our sender address, not this recipient.
        return _Outcome.CONNECTION, _smtp_reply("", type(error).__name__)
    if isinstance(error, smtplib.SMTPResponseException):
        outcome = _Outcome.PERMANENT if 500 <= error.smtp_code < 600 else _Outcome.TEMPORARY
        return outcome, _smtp_reply(error.smtp_code, error.smtp_error)
    # Connection refused, timeouts, a reset: the server, not this recipient.
    return _Outcome.CONNECTION, _smtp_reply("", type(error).__name__)


def notice_source(*, notice: Notice):
    """The object the notice is about (a GovernmentResponse, ParliamentaryEvent, OtherBusiness), or None."""
    if not notice.source_type or not notice.source_id:
        return None
    try:
        model = apps.get_model(notice.source_type)
    except (LookupError, ValueError):
        return None
    return model._default_manager.filter(pk=notice.source_id).first()


def notice_email_render(*, notice: Notice, signature: Signature, source=None, preview: bool = False):
    """(subject, text, html) of the notice's email to one signature, from templates/emails/notice_<kind>.*
    `source` saves a query per email when the caller has it already."""
    if source is None:
        source = notice_source(notice=notice)
    unsubscribe_url = ""
    if signature.pk and not signature.creator:
        unsubscribe_url = f"{settings.SITE_URL}{signature_unsubscribe_path(signature)}"
    context = {
        "notice": notice,
        "petition": notice.petition,
        "signature": signature,
        "source": source,
        "site": SiteSettings.cached(),
        "petition_url": f"{settings.SITE_URL}{notice.petition.get_absolute_url()}",
        "unsubscribe_url": unsubscribe_url,
        "preview": preview,
    }
    subject, text, html = email_render(f"notice_{notice.kind}", context)
    return subject, text, html


def _message_domain() -> str:
    return _domain_of(settings.DEFAULT_FROM_EMAIL)


@functools.lru_cache(maxsize=4)
def _domain_of(from_email: str) -> str:
    address = parseaddr(from_email)[1]
    return address.rpartition("@")[2] or "petitions.localhost"


def _notice_headers(*, notice, signature) -> dict:
    return {
        **signature_email_headers(signature),
        # The same on a re-send, so a repeat after a crash is recognisable as one.
        "Message-ID": f"<notice.{notice.pk}.{signature.pk}@{_message_domain()}>",
    }


def _notice_message(*, notice, signature, source, connection) -> EmailMultiAlternatives:
    subject, text, html = notice_email_render(notice=notice, signature=signature, source=source)
    headers = _notice_headers(notice=notice, signature=signature)
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, [signature.email], headers=headers, connection=connection
    )
    message.attach_alternative(html, "text/html")
    return message


def _skip_reason(signature: Signature) -> str:
    if signature.anonymized_at is not None:
        return "anonymised"
    if signature.state != SignatureState.VALIDATED:
        return signature.state
    if not signature.creator and (not signature.notify_by_email or signature.unsubscribed_at is not None):
        return "unsubscribed"
    return ""


def _due(now) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def notice_leases_expire(*, notice_id: int, now: datetime | None = None) -> int:
    """Put back in the queue the deliveries a sender claimed more than DELIVERY_LEASE ago without recording
    them (its worker died). Returns how many."""
    now = now or timezone.now()
    return NoticeDelivery.objects.filter(
        notice_id=notice_id, state=DeliveryState.SENDING, claimed_at__lt=now - DELIVERY_LEASE
    ).update(state=DeliveryState.QUEUED, claimed_at=None)


def notice_deliveries_claim(*, notice_id: int, limit: int, now: datetime | None = None) -> list[int]:
    """Claim up to `limit` due deliveries (lowest signature ids first) for this sender: one short transaction
    that moves them from queued to sending. SKIP LOCKED lets several senders claim side by side."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            NoticeDelivery.objects.select_for_update(skip_locked=True)
            .filter(_due(now), notice_id=notice_id, state=DeliveryState.QUEUED)
            .order_by("signature_id")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            NoticeDelivery.objects.filter(pk__in=ids).update(state=DeliveryState.SENDING, claimed_at=now)
    return ids


def notice_send_batch(*, notice_id: int, batch_size: int = 100) -> dict:
    """Send up to `batch_size` of the notice's due deliveries over one SMTP connection (see the module's note
    on exactly-once): take that many throttle tokens, claim as many deliveries, then send them one by one, each
    recorded as sent by its own committed UPDATE as soon as the server has accepted it.

    Returns {"state", "sent", "failed", "skipped", "retrying", "claimed" (deliveries dealt with),
    "held" ("" or why nothing may be sent now: "paused" for the site switch or a rate of 0, "night", "throttled",
    "connection" for a mail server that is down), "wait_until" (a datetime, when "held" says when to come back)}.
    """
    result = {
        "state": None,
        "sent": 0,
        "failed": 0,
        "skipped": 0,
        "retrying": 0,
        "claimed": 0,
        "held": "",
        "wait_until": None,
    }
    notice = Notice.objects.select_related("petition").filter(pk=notice_id).first()
    if notice is None:
        return result
    result["state"] = notice.state
    if notice.state not in NOTICE_ACTIVE_STATES:
        return result
    site = SiteSettings.load()
    if site.disable_notifications or site.bulk_email_rate == 0:  # a rate of 0 a second holds it too
        result["held"] = "paused"
        return result
    opens = notice_night_window_wait(site=site)
    if opens is not None:
        result["held"], result["wait_until"] = "night", opens
        return result

    notice_leases_expire(notice_id=notice_id)
    now = timezone.now()
    granted = notice_rate_take(rate=site.bulk_email_rate, wanted=batch_size)
    if not granted:
        if not NoticeDelivery.objects.filter(
            _due(now), notice_id=notice_id, state=DeliveryState.QUEUED
        ).exists():
            return result  # nothing to send anyway
        result["held"] = "throttled"
        result["wait_until"] = datetime.fromtimestamp(int(now.timestamp()) + 1, tz=now.tzinfo)
        return result
    ids = notice_deliveries_claim(notice_id=notice_id, limit=granted, now=now)
    if not ids:
        return result
    claimed_at = time.monotonic()
    deliveries = list(
        NoticeDelivery.objects.filter(pk__in=ids).select_related("signature").order_by("signature_id")
    )
    source = notice_source(notice=notice)
    connection = get_connection()
    messages = NoticeMessages(
        render=lambda signature: notice_email_render(notice=notice, signature=signature, source=source),
        from_email=settings.DEFAULT_FROM_EMAIL,
        connection=connection,
    )
    skipped: list[int] = []
    unsent = list(deliveries)
    try:
        while unsent:
            if time.monotonic() - claimed_at > DELIVERY_SEND_WINDOW.total_seconds():
                break  # well inside the lease: what is left goes back to the queue below
            delivery = unsent.pop(0)
            signature = delivery.signature
            if _skip_reason(signature):
                skipped.append(delivery.pk)
                result["claimed"] += 1
                result["skipped"] += 1
                continue
            kind, wait_until = _deliver(
                notice=notice,
                delivery=delivery,
                signature=signature,
                source=source,
                connection=connection,
                messages=messages,
            )
            result["claimed"] += 1
            if batch_outcome_add(result, kind, wait_until):
                break
        if (
            not result["held"]
            and not unsent
            and len(ids) == granted < batch_size
            and NoticeDelivery.objects.filter(
                _due(now), notice_id=notice_id, state=DeliveryState.QUEUED
            ).exists()
        ):
            # The rate, not the queue, cut this batch short: the caller waits for the next second.
            result["held"] = "throttled"
            result["wait_until"] = datetime.fromtimestamp(int(now.timestamp()) + 1, tz=now.tzinfo)
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - the messages are recorded; a failing QUIT changes nothing
            logger.warning("Notice %s: closing the SMTP connection failed.", notice_id)
        if skipped:
            NoticeDelivery.objects.filter(pk__in=skipped, state=DeliveryState.SENDING).update(
                state=DeliveryState.SKIPPED, claimed_at=None
            )
        if unsent:
            # Not tried: back to the queue as they were.
            NoticeDelivery.objects.filter(pk__in=[d.pk for d in unsent], state=DeliveryState.SENDING).update(
                state=DeliveryState.QUEUED, claimed_at=None
            )
        if result["sent"] or result["failed"] or result["skipped"]:
            # Progress for the admin, one UPDATE a batch; notice_complete recounts them from the deliveries.
            Notice.objects.filter(pk=notice_id).update(
                sent_count=F("sent_count") + result["sent"],
                failed_count=F("failed_count") + result["failed"],
                skipped_count=F("skipped_count") + result["skipped"],
            )
    return result


def batch_outcome_add(result: dict, kind: str, wait_until) -> bool:
    """Count one send's outcome into a batch's result (notices and alert digests alike). True when the batch
    must stop: the mail server is down or dropped us, and the rest would fail the same way."""
    if kind == _Outcome.SENT:
        result["sent"] += 1
    elif kind in (_Outcome.PERMANENT, "gave_up"):
        result["failed"] += 1
    else:
        result["retrying"] += 1
    if kind in (_Outcome.CONNECTION, "gave_up"):
        result["held"], result["wait_until"] = "connection", wait_until
        return True
    return False


def _deliver(*, notice, delivery, signature, source, connection, messages):
    """Send one claimed delivery and record what happened at once (autocommit): sent, failed, or queued again
    for a retry. Returns (what happened, when to come back)."""
    now = timezone.now()
    recorded = []

    def record_sent():
        _mark_sent(delivery_id=delivery.pk, attempts=delivery.attempts + 1, now=now)
        recorded.append(True)

    try:
        connection.open()  # opens the batch's one connection the first time, then does nothing
        raw = messages.raw(signature=signature, headers=_notice_headers(notice=notice, signature=signature))
        if raw is None:
            _notice_message(notice=notice, signature=signature, source=source, connection=connection).send()
        else:
            messages.send(connection=connection, signature=signature, raw=raw, before_reply=record_sent)
    except (smtplib.SMTPException, OSError) as error:
        kind, reply = _classify(error)  # recorded below, over a "sent" written before the reply
    else:
        kind, reply = _Outcome.SENT, ""
        if recorded:
            return kind, None
    return _record(delivery=delivery, signature=signature, kind=kind, reply=reply, now=now)


def _mark_sent(*, delivery_id: int, attempts: int, now) -> None:
    """The one statement each sent email costs (autocommit): plain SQL, as it runs once per email."""
    table = NoticeDelivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, sent_at = %s, attempts = %s, error = '', claimed_at = NULL "  # noqa: S608
            "WHERE id = %s",
            [DeliveryState.SENT, now, attempts, delivery_id],
        )


def _record(*, delivery, signature, kind, reply, now):
    attempts = delivery.attempts + 1
    if kind == _Outcome.SENT:
        _mark_sent(delivery_id=delivery.pk, attempts=attempts, now=now)
        return kind, None
    deliveries = NoticeDelivery.objects.filter(pk=delivery.pk)
    if kind == _Outcome.PERMANENT:
        with transaction.atomic():
            deliveries.update(
                state=DeliveryState.FAILED, attempts=attempts, error=reply, claimed_at=None, sent_at=None
            )
            Signature.objects.filter(pk=signature.pk).update(
                email_failed_at=now, email_failure=reply, updated_at=now
            )
        logger.warning(
            "Notice %s, signature %s: permanent failure %s", delivery.notice_id, signature.pk, reply[:3]
        )
        return kind, None
    retry_at = now + _retry_delay(attempts)
    if attempts >= MAX_ATTEMPTS:
        deliveries.update(
            state=DeliveryState.FAILED,
            attempts=attempts,
            error=reply,
            next_attempt_at=None,
            claimed_at=None,
            sent_at=None,
        )
        logger.warning(
            "Notice %s, signature %s: gave up after %s temporary failures",
            delivery.notice_id,
            signature.pk,
            MAX_ATTEMPTS,
        )
        return ("gave_up" if kind == _Outcome.CONNECTION else _Outcome.PERMANENT), retry_at
    deliveries.update(
        state=DeliveryState.QUEUED,
        attempts=attempts,
        error=reply,
        next_attempt_at=retry_at,
        claimed_at=None,
        sent_at=None,
    )
    logger.info(
        "Notice %s, signature %s: temporary failure, retrying later", delivery.notice_id, signature.pk
    )
    return kind, retry_at


# --- The task's loop, completion and the sweeper ---------------------------------------------------------------


@transaction.atomic
def notice_complete(*, notice_id: int) -> bool:
    """Mark the notice completed if every recipient is queued and none is still queued. Returns whether it
    is (now) completed."""
    notice = Notice.objects.select_for_update().filter(pk=notice_id).first()
    if notice is None or notice.state not in NOTICE_ACTIVE_STATES:
        return notice is not None and notice.state == NoticeState.COMPLETED
    if (
        notice.fanout_done_at is None
        or notice.deliveries.filter(state__in=(DeliveryState.QUEUED, DeliveryState.SENDING)).exists()
    ):
        return False
    # The counters move a batch at a time; a worker killed mid-batch leaves them short, so recount them here.
    counts = dict(notice.deliveries.values_list("state").annotate(n=Count("pk")).order_by())
    notice.sent_count = counts.get(DeliveryState.SENT, 0)
    notice.failed_count = counts.get(DeliveryState.FAILED, 0)
    notice.skipped_count = counts.get(DeliveryState.SKIPPED, 0)
    notice.state = NoticeState.COMPLETED
    notice.completed_at = timezone.now()
    notice.save(update_fields=["state", "completed_at", "sent_count", "failed_count", "skipped_count"])
    audit_log_record(
        actor=None,
        action="notice.complete",
        obj=notice,
        details={
            "total": notice.total,
            "sent": notice.sent_count,
            "failed": notice.failed_count,
            "skipped": notice.skipped_count,
        },
    )
    return True


def notice_dispatch(
    *, notice_id: int, time_budget: float = 20.0, chunk_size: int = 5000, batch_size: int = 100, sleep=None
) -> dict:
    """The `dispatch_notice` task's body: fan-out chunks and send batches until the notice is done, stopped or
    held, or `time_budget` seconds have passed.

    Returns {"state", "done" (nothing more to run: completed, cancelled, paused or gone), "again_at" (a datetime:
    when the task should run again; None when done or when only the sweeper should bring it back, as while
    "Pause bulk email" is on)}. Every run and every deferral is written to `dispatched_at`, which the sweeper
    reads: a deferral writes the time it is due, so the sweeper leaves a waiting notice alone until then."""
    sleep = sleep or time.sleep
    started = time.monotonic()
    while True:
        now = timezone.now()
        Notice.objects.filter(pk=notice_id).update(dispatched_at=now)
        notice = Notice.objects.filter(pk=notice_id).only("state", "fanout_done_at").first()
        if notice is None:
            return {"state": None, "done": True, "again_at": None}
        if notice.state not in NOTICE_ACTIVE_STATES:
            return {"state": notice.state, "done": True, "again_at": None}
        if notice.fanout_done_at is None:
            notice_fanout_chunk(notice_id=notice_id, chunk_size=chunk_size)
        batch = notice_send_batch(notice_id=notice_id, batch_size=batch_size)
        held = batch["held"]
        if held == "paused":
            return {"state": batch["state"], "done": False, "again_at": None}
        if held == "throttled":
            wait = (batch["wait_until"] - timezone.now()).total_seconds()
            if time.monotonic() - started + wait < time_budget:
                sleep(max(0.0, wait))
                continue
            return _defer(notice_id, batch["wait_until"], batch["state"])
        if held in ("night", "connection"):
            again_at = batch["wait_until"]
            if held == "night":
                again_at = min(again_at, timezone.now() + NIGHT_REQUEUE_MAX)
            return _defer(notice_id, again_at, batch["state"])
        # Nothing was due: finished, or waiting for retries; with recipients still to queue, the loop goes on.
        if (
            not batch["claimed"]
            and Notice.objects.filter(pk=notice_id, fanout_done_at__isnull=False).exists()
        ):
            if notice_complete(notice_id=notice_id):
                return {"state": NoticeState.COMPLETED, "done": True, "again_at": None}
            # Only deliveries waiting to retry, or claimed by another sender: come back when one is due, or when
            # the other sender's lease would run out (if it died).
            waiting = NoticeDelivery.objects.filter(notice_id=notice_id).aggregate(
                retry_at=Min("next_attempt_at", filter=Q(state=DeliveryState.QUEUED)),
                claimed_at=Min("claimed_at", filter=Q(state=DeliveryState.SENDING)),
            )
            candidates = [waiting["retry_at"]]
            if waiting["claimed_at"] is not None:
                candidates.append(waiting["claimed_at"] + DELIVERY_LEASE + timedelta(seconds=1))
            next_at = min((c for c in candidates if c is not None), default=None)
            again_at = max(next_at or timezone.now(), timezone.now() + timedelta(seconds=1))
            return _defer(notice_id, again_at, batch["state"])
        if time.monotonic() - started >= time_budget:
            return _defer(notice_id, timezone.now(), batch["state"])


def _defer(notice_id: int, again_at: datetime, state) -> dict:
    Notice.objects.filter(pk=notice_id).update(dispatched_at=max(again_at, timezone.now()))
    return {"state": state, "done": False, "again_at": again_at}


@transaction.atomic
def notices_sweep(now=None) -> list[int]:
    """Every minute: queue the task of each active notice no task has run for `NOTICE_STALL_AFTER` (one created
    while Redis was down, or whose task was lost with a worker). Marks them as just seen, so one stall is queued
    once. A second task for a notice whose first was only slow is harmless: fan-out chunks hold the notice's
    lock and each delivery is claimed by one sender. Nothing while "Pause bulk email" is on. Returns the ids."""
    if SiteSettings.load().disable_notifications:
        return []
    now = now or timezone.now()
    stalled = list(
        Notice.objects.select_for_update(skip_locked=True)
        .filter(state__in=NOTICE_ACTIVE_STATES)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - NOTICE_STALL_AFTER))
        .values_list("pk", flat=True)
    )
    if stalled:
        Notice.objects.filter(pk__in=stalled).update(dispatched_at=now)
        for pk in stalled:
            transaction.on_commit(lambda pk=pk: notice_queue(notice_id=pk, senders=_senders()))
    return stalled


# --- Staff controls --------------------------------------------------------------------------------------------


def _require_change(actor) -> None:
    if not (actor is not None and actor.is_active and actor.has_perm(CHANGE_NOTICE)):
        raise NotAllowed("Only staff who may change notices can do that.")


def _locked(notice: Notice) -> Notice:
    return Notice.objects.select_for_update().get(pk=notice.pk)


@transaction.atomic
def notice_pause(*, notice: Notice, actor) -> Notice:
    """Stop sending after the batch in progress. Resume carries on where it stopped."""
    _require_change(actor)
    notice = _locked(notice)
    if notice.state not in NOTICE_ACTIVE_STATES:
        raise NoticeStateError(f"Only a pending or running notice can be paused; this one is {notice.state}.")
    previous = notice.state
    notice.state, notice.paused_at = NoticeState.PAUSED, timezone.now()
    notice.save(update_fields=["state", "paused_at"])
    audit_log_record(
        actor=actor, action="notice.pause", obj=notice, details={"from": previous, "sent": notice.sent_count}
    )
    return notice


@transaction.atomic
def notice_resume(*, notice: Notice, actor) -> Notice:
    """Carry on sending a paused notice (its task is queued on commit)."""
    _require_change(actor)
    notice = _locked(notice)
    if notice.state != NoticeState.PAUSED:
        raise NoticeStateError(f"Only a paused notice can be resumed; this one is {notice.state}.")
    notice.state = NoticeState.RUNNING if notice.started_at else NoticeState.PENDING
    notice.paused_at = None
    notice.dispatched_at = timezone.now()
    notice.save(update_fields=["state", "paused_at", "dispatched_at"])
    audit_log_record(actor=actor, action="notice.resume", obj=notice, details={"sent": notice.sent_count})
    transaction.on_commit(lambda: notice_queue(notice_id=notice.pk, senders=_senders()))
    return notice


@transaction.atomic
def notice_cancel(*, notice: Notice, actor) -> Notice:
    """Send no more of it. Deliveries not sent yet stay queued, as the record of who did not get it."""
    _require_change(actor)
    notice = _locked(notice)
    if notice.state not in NOTICE_OPEN_STATES:
        raise NoticeStateError(f"This notice is already {notice.state}.")
    notice.state, notice.cancelled_at = NoticeState.CANCELLED, timezone.now()
    notice.save(update_fields=["state", "cancelled_at"])
    audit_log_record(
        actor=actor,
        action="notice.cancel",
        obj=notice,
        details={"sent": notice.sent_count, "total": notice.total},
    )
    return notice


#: The made-up signer a preview is addressed to (never saved).
PREVIEW_SIGNER_NAME = "Sam Signer"


def notice_preview_send(*, notice: Notice, actor) -> Notice:
    """Email the staff member (only them) the signer version of the notice, subject prefixed "[Preview]", made
    out to a made-up signer so no real unsubscribe link leaves the site. Raises NoticeStateError if the mail
    server refuses it."""
    _require_change(actor)
    if not actor.email:
        raise NotAllowed("Your account has no email address to send the preview to.")
    notice = Notice.objects.select_related("petition").get(pk=notice.pk)
    signer = Signature(petition=notice.petition, name=PREVIEW_SIGNER_NAME, state=SignatureState.VALIDATED)
    subject, text, html = notice_email_render(notice=notice, signature=signer, preview=True)
    message = EmailMultiAlternatives(f"[Preview] {subject}", text, settings.DEFAULT_FROM_EMAIL, [actor.email])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        _, reply = _classify(error)
        raise NoticeStateError(f"The preview could not be sent: the mail server said {reply}.") from None
    with transaction.atomic():
        notice = _locked(notice)
        notice.preview_sent_at = timezone.now()
        notice.save(update_fields=["preview_sent_at"])
        audit_log_record(actor=actor, action="notice.preview", obj=notice, details={"kind": notice.kind})
    return notice
