"""Threshold crossings: what happens when a petition's count reaches (or falls back below) the response and
debate thresholds. The tally calls this after commit for every petition whose count it changed.

Issue 5 adds the emails and admin alerts on crossing; for now this only records the crossing.
"""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from ..models import PUBLISHED_STATES, DebateState, Petition, ResponseState, SiteSettings


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
        up_ids = list(up.values_list("pk", flat=True))
        if up_ids:
            Petition.objects.filter(pk__in=up_ids).update(
                **{reached: now, state_field: _state_move(state_field, pending, awaiting), "updated_at": now}
            )
        down = petitions.filter(signature_count__lt=threshold, **{f"{reached}__isnull": False})
        down_ids = list(down.values_list("pk", flat=True))
        if down_ids:
            Petition.objects.filter(pk__in=down_ids).update(
                **{reached: None, state_field: _state_move(state_field, awaiting, pending), "updated_at": now}
            )
        changed[f"{name}_reached"] = up_ids
        changed[f"{name}_reverted"] = down_ids
    return changed
