"""Constituency alerts (issue 7): anyone, typically an MP's office, subscribes an email address to a
constituency and gets a weekly digest: petitions that passed 100 and 1,000 signatures from it, government
responses and debates on petitions its constituents signed. Services (writes) and reads in one module.

Subscribing is double opt-in: `alert_subscribe` stores a pending alert and emails a confirmation link, whose
page has a button that POSTs (mail scanners fetch links; they do not press buttons). The same "check your
email" page follows whatever the address's state, so nobody learns who is subscribed; confirmation and "you're
already subscribed" emails share a cap of MAX_ALERT_EMAILS per alert, for ever, so the form cannot be used to
mail-bomb an address. Unsubscribing is one click (RFC 8058) on every digest. Links carry a 256-bit token, never
the address, and tokens are compared in constant time.

Digests: `alerts_digests_queue` (Monday morning) stores one AlertDigest per active alert and week, its content
fixed then (petitions newly past a threshold are added to `alert.reported` in the same transaction, so each
crossing is reported once). `alerts_digests_send` sends them with the bulk email engine's parts
(petitions.services.notices): its per-second throttle shared with notices, a claim (SELECT … FOR UPDATE SKIP
LOCKED, state sending, a lease of DELIVERY_LEASE) so no two senders hold the same digest, one SMTP connection a
batch, each digest recorded sent by its own committed UPDATE, temporary failures retried with the same backoff,
permanent ones recorded; "Pause bulk email" and the night window hold them. The Message-ID is made from the
digest's id, so the one possible duplicate (a worker killed between the server's acceptance and the UPDATE)
is recognisable as one. Logs carry alert and digest ids, never an address.
"""

import hashlib
import hmac
import logging
import secrets
import smtplib
import time
from datetime import date, datetime, timedelta
from datetime import time as clock

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, models, transaction
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from petitions.emails import email_render, email_send
from petitions.models import (
    PUBLISHED_STATES,
    Constituency,
    ConstituencyPetitionJournal,
    Petition,
    SiteSettings,
)
from petitions.services.notices import (
    DELIVERY_LEASE,
    DELIVERY_SEND_WINDOW,
    LONDON,
    MAX_ATTEMPTS,
    _classify,
    _message_domain,
    _Outcome,
    _retry_delay,
    batch_outcome_add,
    notice_night_window_wait,
    notice_rate_take,
)
from responses.models import GovernmentResponse, ResponseStatus

from .models import DEBATE_KINDS, AlertDigest, AlertState, ConstituencyAlert, ParliamentaryEvent

logger = logging.getLogger(__name__)

#: Confirmation and "already subscribed" emails one alert may ever get (the anti-mail-bombing cap).
MAX_ALERT_EMAILS = 5
#: Subscription requests one client address may make per SUBSCRIBE_WINDOW seconds. Generous: the offices on the
#: parliamentary estate may share an address.
SUBSCRIBE_LIMIT = 20
SUBSCRIBE_WINDOW = 3600
#: Signatures from the constituency a petition passes to be reported (each once per alert), highest first.
THRESHOLDS = (1000, 100)
#: Petitions listed per threshold in one digest; the rest are counted ("and 12 more") and reported too.
DIGEST_LIST_MAX = 50
#: Debates starting within this long after the week's start are listed as coming up, however long ago they were
#: scheduled; ones scheduled during the past week are listed whatever their date.
UPCOMING_REMINDER = timedelta(days=7)
#: The sending task keeps taking batches for this long, then leaves the rest to its next run.
SEND_TIME_BUDGET = 20.0


class DigestState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class AlertLinkInvalid(Exception):
    """No alert with that id, or the token is not its token."""


# --- Tokens and links ------------------------------------------------------------------------------------------


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _tokens_match(expected: str, given: str | None) -> bool:
    return secrets.compare_digest(expected.encode(), (given or "").encode())


def alert_confirm_path(alert: ConstituencyAlert) -> str:
    return f"/alerts/{alert.pk}/confirm?token={alert.confirm_token}"


def alert_unsubscribe_path(alert: ConstituencyAlert) -> str:
    """The unsubscribe link's path; the same URL takes RFC 8058 one-click POSTs."""
    return f"/alerts/{alert.pk}/unsubscribe?token={alert.unsubscribe_token}"


def alert_email_headers(alert: ConstituencyAlert) -> dict:
    """RFC 2369 and RFC 8058 one-click unsubscribe headers: the URL carries the token, never the address."""
    return {
        "List-Unsubscribe": f"<{settings.SITE_URL}{alert_unsubscribe_path(alert)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def alert_for_link(*, alert_id: int, token: str | None, kind: str) -> ConstituencyAlert:
    """The alert an email link names, if `token` is its `kind` ("confirm" or "unsubscribe") token. Raises
    AlertLinkInvalid for an unknown id and a wrong token alike."""
    alert = ConstituencyAlert.objects.select_related("constituency").filter(pk=alert_id).first()
    if alert is None or not _tokens_match(getattr(alert, f"{kind}_token"), token):
        raise AlertLinkInvalid
    return alert


# --- Subscribing, confirming, unsubscribing --------------------------------------------------------------------


def alert_email_normalise(email: str) -> str:
    # Lower case whole: one mailbox typed two ways must find one alert (the unique key is email + constituency).
    return email.strip().lower()


def alert_subscribe_rate_take(*, ip_address: str | None, now: float | None = None) -> bool:
    """Count one subscription request from this client address; False once it has made SUBSCRIBE_LIMIT in the
    current window. The cache key holds a keyed hash of the address, not the address."""
    digest = hmac.new(settings.SECRET_KEY.encode(), (ip_address or "unknown").encode(), hashlib.sha256)
    window = int((now if now is not None else time.time()) // SUBSCRIBE_WINDOW)
    key = f"alerts:subscribe:{digest.hexdigest()[:32]}:{window}"
    cache.add(key, 0, timeout=SUBSCRIBE_WINDOW + 60)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 0, timeout=SUBSCRIBE_WINDOW + 60)
        used = cache.incr(key)
    return used <= SUBSCRIBE_LIMIT


def alert_subscribe(*, constituency: Constituency, email: str) -> str:
    """Subscribe `email` to the constituency's weekly digest, pending until the address is confirmed.

    A new address gets a confirmation link; a pending one (or one that unsubscribed) gets it again; an active
    one gets a "you're already subscribed" email. Every one of those takes one of the alert's MAX_ALERT_EMAILS,
    under the alert's row lock, so a burst of requests cannot exceed the cap. Returns what happened ("created",
    "resent", "already", "capped") for tests and logs; callers show the same page whatever it is.
    """
    email = alert_email_normalise(email)
    with transaction.atomic():
        alert = (
            ConstituencyAlert.objects.select_for_update()
            .filter(constituency=constituency, email=email)
            .first()
        )
        if alert is None:
            try:
                with transaction.atomic():
                    alert = ConstituencyAlert.objects.create(
                        email=email,
                        constituency=constituency,
                        confirm_token=_new_token(),
                        unsubscribe_token=_new_token(),
                        confirmation_emails=1,
                    )
            except IntegrityError:  # a request for the same address created it meanwhile
                alert = ConstituencyAlert.objects.select_for_update().get(
                    constituency=constituency, email=email
                )
            else:
                _alert_email_on_commit(alert.pk, "alert_confirm")
                logger.info("Alert %s created (constituency %s)", alert.pk, constituency.gss_code)
                return "created"
        if alert.confirmation_emails >= MAX_ALERT_EMAILS:
            logger.info("Alert %s: email cap reached, nothing sent", alert.pk)
            return "capped"
        alert.confirmation_emails += 1
        fields = ["confirmation_emails"]
        if alert.state == AlertState.ACTIVE:
            template, outcome = "alert_already_subscribed", "already"
        else:
            if alert.state == AlertState.UNSUBSCRIBED:
                alert.state = AlertState.PENDING
                alert.confirm_token = _new_token()
                fields += ["state", "confirm_token"]
            template, outcome = "alert_confirm", "resent"
        alert.save(update_fields=fields)
        _alert_email_on_commit(alert.pk, template)
    logger.info("Alert %s: %s", alert.pk, outcome)
    return outcome


def _alert_email_on_commit(alert_id: int, template: str) -> None:
    from .tasks_alerts import alert_email

    transaction.on_commit(lambda: alert_email.delay(alert_id, template))


def alert_email_send(*, alert_id: int, template: str) -> bool:
    """Send a confirmation ("alert_confirm") or "already subscribed" email now, if the alert is still in the
    state it was sent for (a link to confirm an alert confirmed meanwhile would only confuse)."""
    wanted = {"alert_confirm": AlertState.PENDING, "alert_already_subscribed": AlertState.ACTIVE}
    if template not in wanted:
        raise ValueError(f"Unknown alert email {template!r}.")
    alert = ConstituencyAlert.objects.select_related("constituency").filter(pk=alert_id).first()
    if alert is None or alert.state != wanted[template]:
        return False
    context = {
        "alert": alert,
        "constituency": alert.constituency,
        "confirm_url": f"{settings.SITE_URL}{alert_confirm_path(alert)}",
        "unsubscribe_url": f"{settings.SITE_URL}{alert_unsubscribe_path(alert)}",
        "constituency_url": f"{settings.SITE_URL}/constituencies/{alert.constituency.gss_code}",
    }
    headers = alert_email_headers(alert) if alert.state == AlertState.ACTIVE else {}
    email_send(to=alert.email, template=template, context=context, headers=headers)
    return True


def alert_confirm(*, alert_id: int, token: str | None) -> ConstituencyAlert:
    """Activate a pending alert (idempotent: an active one stays as it is). Raises AlertLinkInvalid."""
    with transaction.atomic():
        alert = ConstituencyAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None or not _tokens_match(alert.confirm_token, token):
            raise AlertLinkInvalid
        if alert.state == AlertState.PENDING:
            alert.state = AlertState.ACTIVE
            alert.confirmed_at = timezone.now()
            alert.unsubscribed_at = None
            alert.save(update_fields=["state", "confirmed_at", "unsubscribed_at"])
            logger.info("Alert %s confirmed", alert.pk)
    return alert


def alert_unsubscribe(*, alert_id: int, token: str | None) -> ConstituencyAlert:
    """Stop the alert (idempotent). Its confirmation link stops working (a new one is made if the address
    subscribes again), and digests queued for it are skipped. Raises AlertLinkInvalid."""
    with transaction.atomic():
        alert = ConstituencyAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None or not _tokens_match(alert.unsubscribe_token, token):
            raise AlertLinkInvalid
        if alert.state != AlertState.UNSUBSCRIBED:
            alert.state = AlertState.UNSUBSCRIBED
            alert.unsubscribed_at = timezone.now()
            alert.confirm_token = _new_token()
            alert.save(update_fields=["state", "unsubscribed_at", "confirm_token"])
            AlertDigest.objects.filter(alert=alert, state=DigestState.QUEUED).update(
                state=DigestState.SKIPPED, error="unsubscribed"
            )
            logger.info("Alert %s unsubscribed", alert.pk)
    return alert


# --- Digest content --------------------------------------------------------------------------------------------


def digest_week(now: datetime | None = None) -> date:
    """The Monday (London) of the week `now` falls in: the week a digest queued then is for."""
    today = timezone.localtime(now or timezone.now(), LONDON).date()
    return today - timedelta(days=today.weekday())


def digest_period(week: date) -> tuple[datetime, datetime]:
    """The past week a digest reports on: from the Monday before `week` to `week`, midnight London time (the
    same wall-clock midnight across a clock change). Consecutive weeks' periods meet without a gap."""
    end = datetime.combine(week, clock.min, tzinfo=LONDON)
    start = datetime.combine(week - timedelta(days=7), clock.min, tzinfo=LONDON)
    return start, end


def _local_count(constituency_id: int, petition_ref: str = "pk"):
    """Signatures from the constituency on the outer query's petition (its journal row)."""
    return Subquery(
        ConstituencyPetitionJournal.objects.filter(
            petition=OuterRef(petition_ref), constituency_id=constituency_id
        ).values("signature_count")[:1]
    )


def _signed_from(constituency_id: int):
    """Ids of public petitions with at least one signature from the constituency (its journal rows)."""
    return ConstituencyPetitionJournal.objects.filter(
        constituency_id=constituency_id, signature_count__gte=1, petition__state__in=PUBLISHED_STATES
    ).values("petition_id")


def _constituency_week(constituency: Constituency, week: date) -> dict:
    """What every alert on the constituency shares this week: the petitions past the lowest threshold, the
    responses published and the debates to mention. Computed once per constituency when queueing."""
    start, end = digest_period(week)
    past = list(
        ConstituencyPetitionJournal.objects.filter(
            constituency=constituency,
            signature_count__gte=min(THRESHOLDS),
            petition__state__in=PUBLISHED_STATES,
        )
        .order_by("-signature_count", "petition_id")
        .values_list("petition_id", "signature_count", "petition__action", "petition__signature_count")
    )
    responses = [
        {
            "petition_id": response.petition_id,
            "action": response.petition.action,
            "summary": response.summary,
            "published_at": response.published_at.isoformat(),
            "count": response.local or 0,
        }
        for response in GovernmentResponse.objects.filter(
            status=ResponseStatus.PUBLISHED,
            published_at__gte=start,
            published_at__lt=end,
            petition_id__in=_signed_from(constituency.pk),
        )
        .select_related("petition")
        .annotate(local=_local_count(constituency.pk, "petition_id"))
        .order_by("published_at", "pk")
    ]
    linked = (
        Petition.objects.filter(state__in=PUBLISHED_STATES)
        .annotate(local=_local_count(constituency.pk))
        .filter(local__gte=1)
        .only("action", "signature_count")
        .order_by("-local", "pk")
    )
    events = (
        ParliamentaryEvent.objects.filter(
            kind__in=DEBATE_KINDS,
            pk__in=ParliamentaryEvent.objects.filter(petitions__in=_signed_from(constituency.pk)).values(
                "pk"
            ),
        )
        .filter(
            Q(starts_at__gte=start, starts_at__lt=end)  # held (or not) in the past week
            | Q(starts_at__gte=end, starts_at__lt=end + UPCOMING_REMINDER)  # coming up this week
            | Q(starts_at__gte=end, created_at__gte=start, created_at__lt=end)  # newly scheduled
        )
        .prefetch_related(Prefetch("petitions", queryset=linked, to_attr="constituency_petitions"))
        .order_by("starts_at", "pk")
    )
    upcoming, held = [], []
    for event in events:
        item = {
            "id": event.pk,
            "kind": event.kind,
            "kind_label": event.get_kind_display(),
            "title": event.title,
            "starts_at": event.starts_at.isoformat(),
            "place": event.place,
            "outcome": event.outcome,
            "outcome_reason": event.outcome_reason,
            "video_url": event.video_url,
            "transcript_url": event.transcript_url,
            "petitions": [
                {"id": p.pk, "action": p.action, "count": p.local, "total": p.signature_count}
                for p in event.constituency_petitions
            ],
        }
        (held if event.starts_at < end else upcoming).append(item)
    return {"past": past, "responses": responses, "upcoming": upcoming, "held": held}


def alert_digest_content(alert: ConstituencyAlert, week: date, *, shared: dict | None = None) -> dict:
    """What the alert's digest for `week` says (JSON-ready): petitions that passed each threshold from the
    constituency and were not reported to this alert before, responses published in the past week and debates
    (held in the past week, coming up this week, or scheduled during the past week) on petitions with at least
    one signature from it. `new_reported` lists the petition ids to add to `alert.reported`.

    `shared` caches the per-constituency part across the alerts of one queueing run."""
    constituency = alert.constituency
    key = (constituency.pk, week)
    if shared is not None and key in shared:
        common = shared[key]
    else:
        common = _constituency_week(constituency, week)
        if shared is not None:
            shared[key] = common
    reported = {str(t): set((alert.reported or {}).get(str(t), [])) for t in THRESHOLDS}
    crossed: dict[str, list] = {str(t): [] for t in THRESHOLDS}
    new_reported: dict[str, list] = {str(t): [] for t in THRESHOLDS}
    for petition_id, count, action, total in common["past"]:
        passed = [str(t) for t in THRESHOLDS if count >= t]  # highest first
        new = [key for key in passed if petition_id not in reported[key]]
        for key in new:
            new_reported[key].append(petition_id)
        if new and new[0] == passed[0]:  # listed once, under the highest threshold it passed
            crossed[passed[0]].append({"id": petition_id, "action": action, "count": count, "total": total})
    start, end = digest_period(week)
    content = {
        "constituency": {
            "gss_code": constituency.gss_code,
            "name": constituency.name,
            "mp_name": constituency.mp_name,
            "party": constituency.party,
        },
        "week": week.isoformat(),
        "period": [start.isoformat(), end.isoformat()],
        "responses": common["responses"],
        "upcoming": common["upcoming"],
        "held": common["held"],
        "new_reported": new_reported,
    }
    for threshold in THRESHOLDS:
        items = crossed[str(threshold)]
        content[f"passed_{threshold}"] = items[:DIGEST_LIST_MAX]
        content[f"passed_{threshold}_more"] = max(0, len(items) - DIGEST_LIST_MAX)
    return content


def alert_digest_is_empty(content: dict) -> bool:
    sections = [f"passed_{t}" for t in THRESHOLDS] + ["responses", "upcoming", "held"]
    return not any(content.get(section) for section in sections)


# --- Queueing the week's digests -------------------------------------------------------------------------------


def alerts_digests_queue(*, now: datetime | None = None) -> dict:
    """Store this week's digest for every active alert that has none yet (so running it twice adds nothing):
    its content fixed now, and the petitions it reports added to `alert.reported` in the same transaction.
    An empty digest is stored as skipped (sent to nobody). Returns {"week", "queued", "skipped"}."""
    now = now or timezone.now()
    week = digest_week(now)
    result = {"week": week.isoformat(), "queued": 0, "skipped": 0}
    rows = list(
        ConstituencyAlert.objects.filter(state=AlertState.ACTIVE)
        .exclude(digests__week=week)
        .order_by("constituency_id", "pk")
        .values_list("pk", "constituency_id")
    )
    shared: dict = {}
    for alert_id, constituency_id in rows:
        if shared and (constituency_id, week) not in shared:
            shared.clear()  # in constituency order: the previous one's part is not needed again
        try:
            with transaction.atomic():
                state = _digest_queue_one(alert_id=alert_id, week=week, shared=shared)
        except IntegrityError:  # another run queued it meanwhile
            continue
        if state is not None:
            result[state] += 1
    logger.info(
        "Alert digests for the week of %s: %s queued, %s empty", week, result["queued"], result["skipped"]
    )
    return result


def _digest_queue_one(*, alert_id: int, week: date, shared: dict) -> str | None:
    alert = (
        ConstituencyAlert.objects.select_for_update()
        .select_related("constituency")
        .filter(pk=alert_id, state=AlertState.ACTIVE)
        .first()
    )
    if alert is None or AlertDigest.objects.filter(alert=alert, week=week).exists():
        return None
    content = alert_digest_content(alert, week, shared=shared)
    empty = alert_digest_is_empty(content)
    AlertDigest.objects.create(
        alert=alert,
        week=week,
        content=content,
        state=DigestState.SKIPPED if empty else DigestState.QUEUED,
        error="empty" if empty else "",
    )
    if any(content["new_reported"].values()):
        reported = dict(alert.reported or {})
        for threshold, ids in content["new_reported"].items():
            reported[threshold] = sorted({*reported.get(threshold, []), *ids})
        alert.reported = reported
        alert.save(update_fields=["reported"])
    return "skipped" if empty else "queued"


# --- Sending ---------------------------------------------------------------------------------------------------


def _due(now) -> Q:
    return Q(state=DigestState.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def alert_digest_leases_expire(*, now: datetime | None = None) -> int:
    """Put back in the queue the digests a sender claimed more than DELIVERY_LEASE ago without recording them
    (its worker died). Returns how many."""
    now = now or timezone.now()
    return AlertDigest.objects.filter(state=DigestState.SENDING, claimed_at__lt=now - DELIVERY_LEASE).update(
        state=DigestState.QUEUED, claimed_at=None
    )


def alert_digests_claim(*, limit: int, now: datetime | None = None) -> list[int]:
    """Claim up to `limit` due digests for this sender: one short transaction moving them from queued to
    sending. SKIP LOCKED lets several senders claim side by side."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            AlertDigest.objects.select_for_update(skip_locked=True)
            .filter(_due(now))
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            AlertDigest.objects.filter(pk__in=ids).update(state=DigestState.SENDING, claimed_at=now)
    return ids


def _content_for_email(content: dict) -> dict:
    """The stored content with its dates turned back into datetimes, for the templates' date filters."""
    context = dict(content)
    context["week_date"] = parse_date(content.get("week") or "")
    for section in ("upcoming", "held"):
        context[section] = [
            {**item, "starts_at": parse_datetime(item["starts_at"])} for item in content.get(section, [])
        ]
    context["responses"] = [
        {**item, "published_at": parse_datetime(item["published_at"])}
        for item in content.get("responses", [])
    ]
    return context


def alert_digest_email_render(*, digest: AlertDigest) -> tuple[str, str, str | None]:
    """(subject, text, html) of a digest, from templates/emails/alert_digest.*"""
    alert = digest.alert
    gss_code = alert.constituency.gss_code
    context = {
        "alert": alert,
        "constituency": alert.constituency,
        "digest": digest,
        "content": _content_for_email(digest.content),
        "unsubscribe_url": f"{settings.SITE_URL}{alert_unsubscribe_path(alert)}",
        "constituency_url": f"{settings.SITE_URL}/constituencies/{gss_code}",
        "debates_url": f"{settings.SITE_URL}/debates?constituency={gss_code}",
    }
    return email_render("alert_digest", context)


def _digest_message(*, digest: AlertDigest, connection) -> EmailMultiAlternatives:
    subject, text, html = alert_digest_email_render(digest=digest)
    headers = {
        **alert_email_headers(digest.alert),
        # The same on a re-send, so a repeat after a crash is recognisable as one.
        "Message-ID": f"<alert-digest.{digest.pk}@{_message_domain()}>",
    }
    message = EmailMultiAlternatives(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [digest.alert.email],
        headers=headers,
        connection=connection,
    )
    if html:
        message.attach_alternative(html, "text/html")
    return message


def alerts_digests_send(*, batch_size: int = 100) -> dict:
    """Send up to `batch_size` due digests over one SMTP connection: take that many throttle tokens (shared
    with notices), claim as many digests, send them one by one, each recorded by its own committed UPDATE.

    Returns {"sent", "failed", "skipped", "retrying", "claimed", "held" ("" or why nothing may be sent now:
    "paused", "night", "throttled", "connection"), "wait_until" (a datetime when "held" says when to retry)}."""
    result = {
        "sent": 0,
        "failed": 0,
        "skipped": 0,
        "retrying": 0,
        "claimed": 0,
        "held": "",
        "wait_until": None,
    }
    site = SiteSettings.load()
    if site.disable_notifications or site.bulk_email_rate == 0:
        result["held"] = "paused"
        return result
    opens = notice_night_window_wait(site=site)
    if opens is not None:
        result["held"], result["wait_until"] = "night", opens
        return result
    alert_digest_leases_expire()
    now = timezone.now()
    # Only as many tokens as there are digests to send: unused ones would be taken from notices.
    due = len(AlertDigest.objects.filter(_due(now)).values_list("pk", flat=True)[:batch_size])
    if not due:
        return result
    granted = notice_rate_take(rate=site.bulk_email_rate, wanted=due)
    if not granted:
        result["held"] = "throttled"
        result["wait_until"] = datetime.fromtimestamp(int(now.timestamp()) + 1, tz=now.tzinfo)
        return result
    ids = alert_digests_claim(limit=granted, now=now)
    if not ids:
        return result
    claimed_at = time.monotonic()
    unsent = list(AlertDigest.objects.filter(pk__in=ids).select_related("alert__constituency").order_by("pk"))
    connection = get_connection()
    skipped: list[int] = []
    try:
        while unsent:
            if time.monotonic() - claimed_at > DELIVERY_SEND_WINDOW.total_seconds():
                break  # well inside the lease: the rest goes back to the queue below
            digest = unsent.pop(0)
            result["claimed"] += 1
            if digest.alert.state != AlertState.ACTIVE:
                skipped.append(digest.pk)
                result["skipped"] += 1
                continue
            kind, wait_until = _deliver(digest=digest, connection=connection)
            if batch_outcome_add(result, kind, wait_until):
                break
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - the messages are recorded; a failing QUIT changes nothing
            logger.warning("Alert digests: closing the SMTP connection failed.")
        if skipped:
            AlertDigest.objects.filter(pk__in=skipped, state=DigestState.SENDING).update(
                state=DigestState.SKIPPED, claimed_at=None, error="unsubscribed"
            )
        if unsent:
            AlertDigest.objects.filter(pk__in=[d.pk for d in unsent], state=DigestState.SENDING).update(
                state=DigestState.QUEUED, claimed_at=None
            )
    if not result["held"] and granted < due:
        result["held"] = "throttled"
        result["wait_until"] = datetime.fromtimestamp(int(now.timestamp()) + 1, tz=now.tzinfo)
    return result


def _deliver(*, digest: AlertDigest, connection):
    """Send one claimed digest and record what happened at once (autocommit)."""
    now = timezone.now()
    try:
        connection.open()  # opens the batch's one connection the first time, then does nothing
        _digest_message(digest=digest, connection=connection).send()
    except (smtplib.SMTPException, OSError) as error:
        kind, reply = _classify(error)
    else:
        kind, reply = _Outcome.SENT, ""
    return _record(digest=digest, kind=kind, reply=reply, now=now)


def _record(*, digest: AlertDigest, kind: str, reply: str, now: datetime):
    rows = AlertDigest.objects.filter(pk=digest.pk)
    attempts = digest.attempts + 1
    if kind == _Outcome.SENT:
        rows.update(state=DigestState.SENT, sent_at=now, attempts=attempts, error="", claimed_at=None)
        ConstituencyAlert.objects.filter(pk=digest.alert_id).update(last_digest_at=now)
        return kind, None
    if kind == _Outcome.PERMANENT:
        rows.update(state=DigestState.FAILED, attempts=attempts, error=reply, claimed_at=None)
        logger.warning("Alert digest %s: permanent failure %s", digest.pk, reply[:3])
        return kind, None
    retry_at = now + _retry_delay(attempts)
    if attempts >= MAX_ATTEMPTS:
        rows.update(
            state=DigestState.FAILED, attempts=attempts, error=reply, next_attempt_at=None, claimed_at=None
        )
        logger.warning("Alert digest %s: gave up after %s temporary failures", digest.pk, MAX_ATTEMPTS)
        return ("gave_up" if kind == _Outcome.CONNECTION else _Outcome.PERMANENT), retry_at
    rows.update(
        state=DigestState.QUEUED, attempts=attempts, error=reply, next_attempt_at=retry_at, claimed_at=None
    )
    logger.info("Alert digest %s: temporary failure, retrying later", digest.pk)
    return kind, retry_at


def alerts_digests_run(*, time_budget: float = SEND_TIME_BUDGET, batch_size: int = 100, sleep=None) -> dict:
    """The sending task's body: batches until nothing is due or sending is held, for `time_budget` seconds at
    most (waiting out the throttle's second in between). Returns the totals and "more" (digests are due now
    but the budget ran out: run again at once). Retries, the night window and a paused switch are left to the
    periodic run."""
    sleep = sleep or time.sleep
    started = time.monotonic()
    totals = {"sent": 0, "failed": 0, "skipped": 0, "retrying": 0, "held": "", "more": False}
    while True:
        batch = alerts_digests_send(batch_size=batch_size)
        for key in ("sent", "failed", "skipped", "retrying"):
            totals[key] += batch[key]
        totals["held"] = batch["held"]
        out_of_time = time.monotonic() - started >= time_budget
        if batch["held"] == "throttled":
            wait = max(0.0, (batch["wait_until"] - timezone.now()).total_seconds())
            if time.monotonic() - started + wait >= time_budget:
                totals["more"] = True
                return totals
            sleep(wait)
            continue
        if batch["held"] or not batch["claimed"]:
            return totals
        if out_of_time:
            totals["more"] = True
            return totals
