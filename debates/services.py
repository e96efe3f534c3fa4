"""Writes for parliamentary business: scheduling a debate, recording its outcome, publishing other business,
and the nightly job that turns past scheduled debates into debated ones.

Each staff function is one transaction that takes the acting staff user, checks their role (Debate editors and
Sysadmins), writes an audit row and, with `email_signers`, stores the bulk email (a Notice per petition) in the
same transaction, so the emails and the change commit or roll back together. Signers are never emailed twice
about the same event or item: a petition whose signers were emailed (or are being emailed) about it already is
skipped; a cancelled email does not count.

A refused action raises `DebateTransitionError` (or `NotAllowed` for the role), a `TransitionError` whose
message is written for staff; the admin shows it as an error message.

Dates: a scheduled petition's `scheduled_debate_date` is the London date of the event's `starts_at`, and
`debate_scheduled_on` the London date it was first scheduled. `debate_outcome_at` (on the petitions) and
`outcome_at` (on the event) are when the outcome was recorded — by staff, or by the nightly job — not when the
debate took place, which is the event's `starts_at`: as in e-petitions, where the outcome's creation time is the
petition's `debate_outcome_at`. Recording the same outcome again (to add links or an overview) keeps them.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from petitions.groups import DEBATE_EDITORS
from petitions.models import DebateState, Notice, NoticeKind, NoticeState, Petition, PetitionState
from petitions.services import NotAllowed, TransitionError, audit_log_record, is_sysadmin, notice_create
from petitions.services.moderation import staff_group_names
from petitions.templatetags.petition_tags import clock_time, day_date

from .models import DEBATE_KINDS, OtherBusiness, Outcome, ParliamentaryEvent
from .validators import OUTCOME_LINK_FIELDS, validate_parliament_link

#: Petitions in these states can be scheduled for a debate and given an outcome.
DEBATABLE_STATES = (PetitionState.OPEN, PetitionState.CLOSED)
#: Events the nightly job handles per transaction.
MARK_DEBATED_BATCH = 100


class DebateTransitionError(TransitionError):
    """The event does not allow the action (an outcome on a statement, scheduling without petitions...)."""


@dataclass(frozen=True)
class SignersEmail:
    """The bulk email to one petition's signers about an event or item."""

    petition_id: int
    notice: Notice
    #: False: the signers were emailed (or are being emailed) about it already, by this notice.
    new: bool


def is_debate_editor(user) -> bool:
    """May schedule debates, record outcomes and publish other business: a Debate editor or a Sysadmin."""
    active = user is not None and getattr(user, "is_authenticated", False) and user.is_active
    return active and (is_sysadmin(user) or DEBATE_EDITORS in staff_group_names(user))


def _require_editor(actor, doing: str) -> None:
    if not is_debate_editor(actor):
        raise NotAllowed(f"Only debate editors and sysadmins can {doing}.")


def _locked(event: ParliamentaryEvent) -> ParliamentaryEvent:
    return ParliamentaryEvent.objects.select_for_update(of=("self",)).get(pk=event.pk)


def _sync(event: ParliamentaryEvent, row: ParliamentaryEvent) -> ParliamentaryEvent:
    """Bring the caller's instance up to date with the row the service changed."""
    if event is not row:
        for field in (
            "outcome",
            "outcome_reason",
            "overview",
            "outcome_at",
            "updated_at",
            *OUTCOME_LINK_FIELDS,
        ):
            setattr(event, field, getattr(row, field))
    return event


def kind_name(event: ParliamentaryEvent) -> str:
    label = str(event.get_kind_display())
    return label[:1].lower() + label[1:]


def _require_debate(event: ParliamentaryEvent, doing: str) -> None:
    if event.kind not in DEBATE_KINDS:
        raise DebateTransitionError(f"Only debates can {doing}: this is a {kind_name(event)}.")


def _debatable(petitions: list[Petition]) -> None:
    if not petitions:
        raise DebateTransitionError("Link the petitions this debate is about first.")
    refused = [p for p in petitions if p.state not in DEBATABLE_STATES]
    if refused:
        listed = "; ".join(f"petition {p.pk} is {p.get_state_display().lower()}" for p in refused)
        raise DebateTransitionError(
            f"Only open or closed petitions can be debated: {listed}. Remove {'it' if len(refused) == 1 else 'them'} "
            "from the debate first."
        )


def signers_emailed(*, kind: str, source, petition_ids) -> dict[int, Notice]:
    """{petition id: the notice} for the petitions whose signers were emailed, or are being emailed, about
    `source` (cancelled notices do not count)."""
    notices = (
        Notice.objects.filter(
            kind=kind,
            source_type=source._meta.label_lower,
            source_id=str(source.pk),
            petition_id__in=list(petition_ids),
        )
        .exclude(state=NoticeState.CANCELLED)
        .order_by("created_at", "pk")
    )
    found: dict[int, Notice] = {}
    for notice in notices:
        found.setdefault(notice.petition_id, notice)
    return found


def _email_signers(*, kind: str, source, petitions: list[Petition], actor) -> list[SignersEmail]:
    """Inside the caller's transaction: one notice per petition, none where there is one already."""
    already = signers_emailed(kind=kind, source=source, petition_ids=[p.pk for p in petitions])
    emails = []
    for petition in petitions:
        if petition.pk in already:
            emails.append(SignersEmail(petition.pk, already[petition.pk], new=False))
        else:
            notice = notice_create(petition=petition, kind=kind, source=source, actor=actor)
            emails.append(SignersEmail(petition.pk, notice, new=True))
    return emails


def _emails_details(emails: list[SignersEmail]) -> dict:
    return {
        "notices": [email.notice.pk for email in emails if email.new],
        "already_emailed": [email.petition_id for email in emails if not email.new],
    }


# --- Scheduling ------------------------------------------------------------------------------------------------


@transaction.atomic
def event_schedule_debate(
    *, event: ParliamentaryEvent, petitions, actor, email_signers: bool = False
) -> list[SignersEmail]:
    """Schedule the debate for `petitions` (linking them to the event): each becomes "Debate scheduled" for the
    London date of the event. With `email_signers`, each petition's signers are emailed (once).

    Pressed again after the event's date changed, it moves the petitions to the new date. Returns the emails
    (empty without `email_signers`)."""
    _require_editor(actor, "schedule debates")
    row = _locked(event)
    _require_debate(row, "be scheduled")
    if row.outcome:
        raise DebateTransitionError(
            f"This debate already has an outcome ({row.get_outcome_display().lower()}): it can't be scheduled."
        )
    now = timezone.now()
    if row.starts_at <= now:
        raise DebateTransitionError(
            f"This debate was on {day_date(row.starts_at)} at {clock_time(row.starts_at)}: record its outcome "
            "instead, or correct its date first."
        )
    ids = {p.pk for p in petitions}
    chosen = list(Petition.objects.filter(pk__in=ids).order_by("pk"))
    _debatable(chosen)
    row.petitions.add(*chosen)
    date = timezone.localdate(row.starts_at)
    Petition.objects.filter(pk__in=ids).update(
        debate_state=DebateState.SCHEDULED,
        scheduled_debate_date=date,
        debate_scheduled_on=Coalesce("debate_scheduled_on", timezone.localdate(now)),
        updated_at=now,
    )
    emails = []
    if email_signers:
        emails = _email_signers(kind=NoticeKind.DEBATE_SCHEDULED, source=row, petitions=chosen, actor=actor)
    audit_log_record(
        actor=actor,
        action="event.schedule_debate",
        obj=row,
        details={
            "petitions": sorted(ids),
            "date": date.isoformat(),
            "email_signers": email_signers,
            **_emails_details(emails),
        },
    )
    return emails


# --- Outcomes --------------------------------------------------------------------------------------------------


def _links_clean(links: dict) -> dict:
    unknown = set(links) - set(OUTCOME_LINK_FIELDS)
    if unknown:
        raise ValueError(f"Not an outcome link: {sorted(unknown)}")
    cleaned = {}
    for name, value in links.items():
        value = (value or "").strip()
        try:
            validate_parliament_link(value)
        except ValidationError as error:
            label = ParliamentaryEvent._meta.get_field(name).verbose_name
            raise DebateTransitionError(
                f"{label[:1].upper()}{label[1:]}: {' '.join(error.messages)}"
            ) from None
        cleaned[name] = value
    return cleaned


@transaction.atomic
def event_record_outcome(
    *,
    event: ParliamentaryEvent,
    outcome: str,
    actor,
    reason: str = "",
    overview: str = "",
    links: dict | None = None,
    email_signers: bool = False,
) -> list[SignersEmail]:
    """Record that the debate took place (`debated`: its petitions become "Debated", with the overview and the
    given links) or did not (`not_debated`, with the reason: its petitions become "Not debated"). `links` maps
    OUTCOME_LINK_FIELDS to links (blank clears one); links not given are kept.

    Recording an outcome again corrects it (adding the transcript once published, say); `outcome_at` and the
    petitions' `debate_outcome_at` keep the first recording unless the outcome itself changes. With
    `email_signers`, each petition's signers are emailed once about the outcome. Returns the emails."""
    _require_editor(actor, "record debate outcomes")
    if outcome not in Outcome.values:
        raise DebateTransitionError("Choose whether the petitions were debated or not.")
    row = _locked(event)
    _require_debate(row, "have an outcome")
    chosen = list(row.petitions.order_by("pk"))
    _debatable(chosen)
    now = timezone.now()
    reason = (reason or "").strip()
    if outcome == Outcome.DEBATED and row.starts_at > now:
        raise DebateTransitionError(
            f"This debate is on {day_date(row.starts_at)} at {clock_time(row.starts_at)}: record that it was "
            "debated once it has taken place."
        )
    if outcome == Outcome.NOT_DEBATED and not reason:
        raise DebateTransitionError("Say why it was not debated.")
    cleaned_links = _links_clean(links or {})

    changed = row.outcome != outcome
    row.outcome = outcome
    if changed or row.outcome_at is None:
        row.outcome_at = now
    row.outcome_reason = reason if outcome == Outcome.NOT_DEBATED else ""
    row.overview = (overview or "").strip() if outcome == Outcome.DEBATED else ""
    for name, value in cleaned_links.items():
        setattr(row, name, value)
    row.save(
        update_fields=["outcome", "outcome_at", "outcome_reason", "overview", *cleaned_links, "updated_at"]
    )

    ids = [p.pk for p in chosen]
    if outcome == Outcome.DEBATED:
        Petition.objects.filter(pk__in=ids).update(
            debate_state=DebateState.DEBATED,
            scheduled_debate_date=timezone.localdate(row.starts_at),
            debate_outcome_at=row.outcome_at,
            updated_at=now,
        )
    else:
        Petition.objects.filter(pk__in=ids).update(
            debate_state=DebateState.NOT_DEBATED, debate_outcome_at=row.outcome_at, updated_at=now
        )
    emails = []
    if email_signers:
        emails = _email_signers(kind=NoticeKind.DEBATE_OUTCOME, source=row, petitions=chosen, actor=actor)
    audit_log_record(
        actor=actor,
        action="event.record_outcome",
        obj=row,
        details={
            "outcome": outcome,
            "petitions": ids,
            "links": sorted(cleaned_links),
            "email_signers": email_signers,
            **_emails_details(emails),
        },
    )
    _sync(event, row)
    return emails


def _past_scheduled(now, today):
    """Debate-kind events with no outcome, whose time has passed, with a petition scheduled for a past date."""
    scheduled = Petition.objects.filter(
        parliamentary_events=OuterRef("pk"),
        debate_state=DebateState.SCHEDULED,
        scheduled_debate_date__lte=today,
    )
    return ParliamentaryEvent.objects.filter(
        Exists(scheduled), kind__in=DEBATE_KINDS, outcome="", starts_at__lte=now
    )


def events_mark_debated(now=None) -> list[int]:
    """The nightly job: every scheduled debate whose time has passed and that has no outcome is recorded as
    debated (`outcome_at` now), and its scheduled petitions as "Debated" (`debate_outcome_at` now), with an audit
    row per event (no actor). Staff add the links and overview later with "Record outcome: debated".

    Idempotent, and safe to run twice at once: each batch of events is locked with SKIP LOCKED, so a second run
    skips the events the first is handling, and an event that has an outcome no longer matches.
    Returns the ids of the events it marked."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    marked: list[int] = []
    while True:
        with transaction.atomic():
            batch = list(
                _past_scheduled(now, today)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("starts_at", "pk")[:MARK_DEBATED_BATCH]
            )
            if not batch:
                break
            for event in batch:
                event.outcome, event.outcome_at = Outcome.DEBATED, now
                event.save(update_fields=["outcome", "outcome_at", "updated_at"])
                ids = list(
                    Petition.objects.filter(
                        parliamentary_events=event,
                        debate_state=DebateState.SCHEDULED,
                        scheduled_debate_date__lte=today,
                    )
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                Petition.objects.filter(pk__in=ids).update(
                    debate_state=DebateState.DEBATED, debate_outcome_at=now, updated_at=now
                )
                audit_log_record(
                    actor=None, action="event.mark_debated", obj=event, details={"petitions": ids}
                )
                marked.append(event.pk)
    return marked


# --- Other parliamentary business ------------------------------------------------------------------------------


@transaction.atomic
def other_business_publish(
    *, item: OtherBusiness, actor, email_signers: bool = False, changed_fields=None
) -> SignersEmail | None:
    """Publish other parliamentary business on its petition's page: a new item is saved (it shows on the page
    once saved); an existing one is saved again only if `changed_fields` names fields. With `email_signers`, the
    petition's signers are emailed about it, once. Returns that email (None without `email_signers`)."""
    _require_editor(actor, "publish other parliamentary business")
    petition = Petition.objects.get(pk=item.petition_id)
    if email_signers and petition.state not in DEBATABLE_STATES:
        raise DebateTransitionError(
            f"Only the signers of an open or closed petition can be emailed: petition {petition.pk} is "
            f"{petition.get_state_display().lower()}."
        )
    created = item.pk is None
    changed = list(dict.fromkeys(changed_fields or []))
    if created or changed:
        item.save()
    email = None
    if email_signers:
        (email,) = _email_signers(
            kind=NoticeKind.OTHER_BUSINESS, source=item, petitions=[petition], actor=actor
        )
    audit_log_record(
        actor=actor,
        action="other_business.publish",
        obj=item,
        details={
            "created": created,
            "fields": changed,
            "petition": item.petition_id,
            "email_signers": email_signers,
            **_emails_details([email] if email else []),
        },
    )
    return email
