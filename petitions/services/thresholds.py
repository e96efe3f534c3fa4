"""Threshold crossings: what happens when a petition's count reaches (or falls back below) the response and
debate thresholds. The tally calls this after commit for every petition whose count it changed.

Each crossing up emails the creator once (the conditional update that records it is won by one tally only);
Response editors and Debate editors hear about new crossings in a daily digest (`threshold_digests_send`).
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from ..models import PUBLISHED_STATES, DebateState, Petition, ResponseState, Signature, SiteSettings
from .emails import signature_email_on_commit


def _creator_email_on_commit(*, petition_id: int, template: str) -> None:
    creator_id = (
        Signature.objects.filter(petition_id=petition_id, creator=True).values_list("pk", flat=True).first()
    )
    if creator_id is not None:
        signature_email_on_commit(signature_id=creator_id, template=template)


def _state_move(field: str, old: str, new: str):
    return Case(When(**{field: old}, then=Value(new)), default=F(field))


@transaction.atomic
def petitions_thresholds_check(petition_ids: Iterable[int]) -> dict:
    """Set or revert the response and debate thresholds of these petitions from their cached counts.

    Reaching the response threshold sets `response_threshold_reached_at` and moves `response_state` pending →
    awaiting; reaching the debate threshold does the same for `debate_threshold_reached_at` / `debate_state`.
    Falling back below a threshold (invalidated signatures) clears the time and moves awaiting → pending.
    Only published (open or closed) petitions have thresholds. Returns the ids changed, per transition.
    """
    ids = list(petition_ids)
    if not ids:
        return {}
    site = SiteSettings.load()
    now = timezone.now()
    petitions = Petition.objects.filter(pk__in=ids, state__in=PUBLISHED_STATES)
    changed = {}
    for name, threshold, reached, state_field, pending, awaiting in (
        (
            "response",
            site.threshold_for_response,
            "response_threshold_reached_at",
            "response_state",
            ResponseState.PENDING,
            ResponseState.AWAITING,
        ),
        (
            "debate",
            site.threshold_for_debate,
            "debate_threshold_reached_at",
            "debate_state",
            DebateState.PENDING,
            DebateState.AWAITING,
        ),
    ):
        up = petitions.filter(signature_count__gte=threshold, **{f"{reached}__isnull": True})
        up_ids = []
        for petition_id in up.values_list("pk", flat=True):
            # One row at a time, conditionally: of two tallies seeing the same crossing, only one moves it.
            moved = Petition.objects.filter(pk=petition_id, **{f"{reached}__isnull": True}).update(
                **{reached: now, state_field: _state_move(state_field, pending, awaiting), "updated_at": now}
            )
            if moved:
                up_ids.append(petition_id)
                _creator_email_on_commit(petition_id=petition_id, template=f"threshold_{name}_creator")
        down = petitions.filter(signature_count__lt=threshold, **{f"{reached}__isnull": False})
        down_ids = list(down.values_list("pk", flat=True))
        if down_ids:
            Petition.objects.filter(pk__in=down_ids).update(
                **{reached: None, state_field: _state_move(state_field, awaiting, pending), "updated_at": now}
            )
        changed[f"{name}_reached"] = up_ids
        changed[f"{name}_reverted"] = down_ids
    return changed


# --- Daily digest for the editors ----------------------------------------------------------------------------

#: (kind, the group told, the field recording the crossing, the awaiting state, the state field)
DIGESTS = (
    (
        "response",
        "Response editors",
        "response_threshold_reached_at",
        ResponseState.AWAITING,
        "response_state",
    ),
    ("debate", "Debate editors", "debate_threshold_reached_at", DebateState.AWAITING, "debate_state"),
)


def _digest_recipients(group: str) -> list[str]:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(groups__name=group, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


@transaction.atomic
def threshold_digests_send(*, now=None) -> dict[str, int]:
    """Email Response editors and Debate editors the petitions that newly reached their threshold: everything
    awaiting them that crossed since the previous digest of that kind (or in the last day, the first time).

    Each digest is recorded as an audit row ("digest.response" / "digest.debate", with the window and the
    petition ids) before anything is sent, so running the job twice sends nothing twice; the emails go after
    commit. A digest with no petitions records nothing and sends nothing. Returns {kind: petitions listed}.
    """
    from django.conf import settings as django_settings

    from ..emails import email_send
    from ..models import AuditLog
    from .audit import audit_log_record

    now = now or timezone.now()
    site = SiteSettings.objects.select_for_update().get_or_create(pk=1)[0]  # serialises two runs at once
    sent = {}
    for kind, group, reached, awaiting, state_field in DIGESTS:
        last = AuditLog.objects.filter(action=f"digest.{kind}").order_by("-created_at").first()
        since = datetime.fromisoformat(last.details["until"]) if last is not None else now - timedelta(days=1)
        petitions = list(
            Petition.objects.filter(
                **{state_field: awaiting, f"{reached}__gte": since, f"{reached}__lt": now}
            )
            .order_by(reached, "pk")
            .only("pk", "action", "signature_count", reached)
        )
        sent[kind] = len(petitions)
        if not petitions:
            continue
        audit_log_record(
            actor=None,
            action=f"digest.{kind}",
            obj=site,
            details={
                "since": since.isoformat(),
                "until": now.isoformat(),
                "petitions": [p.pk for p in petitions],
            },
        )
        context = {
            "kind": kind,
            "petitions": petitions,
            "since": since,
            "site_url": django_settings.SITE_URL,
        }
        for address in _digest_recipients(group):
            transaction.on_commit(
                lambda address=address, context=context, kind=kind: email_send(
                    to=address, template=f"digest_{kind}_editors", context=context
                )
            )
    return sent
