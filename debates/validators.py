"""Checks on parliamentary events, shared by the admin forms and the services.

Links: every link on an event (transcript, video, debate pack, evidence, more information, public engagement,
debate summary) must be https and point to a host in settings.PARLIAMENT_LINK_HOSTS, where "*.parliament.uk"
means any subdomain of parliament.uk (not parliament.uk itself, nor look-alikes such as evilparliament.uk or
parliament.uk.evil.com) and any other entry is an exact host name.

Events: a lead MP chosen from the constituencies or a lead typed as free text, not both; a call for evidence
needs its deadline; only debates have an outcome; "not debated" needs the reason.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import DEBATE_KINDS, EventKind, Outcome, ParliamentaryEvent

#: Every link field of ParliamentaryEvent.
LINK_FIELDS = (
    "evidence_url",
    "more_info_url",
    "transcript_url",
    "video_url",
    "debate_pack_url",
    "public_engagement_url",
    "debate_summary_url",
)
#: The links recorded with a debate's outcome.
OUTCOME_LINK_FIELDS = (
    "transcript_url",
    "video_url",
    "debate_pack_url",
    "public_engagement_url",
    "debate_summary_url",
)

HTTPS_MESSAGE = "Links must start with https://"


def link_hosts() -> list[str]:
    return [host.strip().lower() for host in settings.PARLIAMENT_LINK_HOSTS if host.strip()]


def host_allowed(host: str, patterns: list[str] | None = None) -> bool:
    """Whether `host` is one of `patterns` (default: settings.PARLIAMENT_LINK_HOSTS)."""
    host = (host or "").lower().rstrip(".")
    if not host:
        return False
    for pattern in link_hosts() if patterns is None else patterns:
        pattern = pattern.strip().lower()
        if pattern.startswith("*."):
            suffix = pattern[1:]  # ".parliament.uk": the dot stops "evilparliament.uk" matching
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == pattern:
            return True
    return False


def hosts_message() -> str:
    hosts = link_hosts()
    listed = hosts[0] if len(hosts) == 1 else f"{', '.join(hosts[:-1])} or {hosts[-1]}"
    return f"Links must point to a parliament or government site: {listed}."


def validate_parliament_link(value) -> None:
    """Raise ValidationError unless `value` is an https link to an allowed host. Blank is allowed."""
    if not value:
        return
    value = str(value).strip()
    if not value.lower().startswith("https://"):
        raise ValidationError(HTTPS_MESSAGE, code="https")
    # A backslash or a user name can make browsers and urlsplit disagree about the host
    # ("https://evil.example\\@www.parliament.uk"), so neither is accepted.
    if "\\" in value:
        raise ValidationError(hosts_message(), code="host")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValidationError("Enter a valid link.", code="invalid") from None
    if parts.username is not None or parts.password is not None or port not in (None, 443):
        raise ValidationError(hosts_message(), code="host")
    if not host_allowed(parts.hostname or ""):
        raise ValidationError(hosts_message(), code="host")


def event_errors(
    *,
    kind: str,
    lead_mp,
    lead_mp_name: str,
    evidence_deadline,
    outcome: str,
    outcome_reason: str,
) -> dict[str, list[str]]:
    """{field name: [messages]} for an event with these values ({} when it is fine)."""
    errors: dict[str, list[str]] = {}
    if lead_mp is not None and (lead_mp_name or "").strip():
        errors.setdefault("lead_mp_name", []).append(
            "Choose the lead MP from the list or type the lead's name, not both."
        )
    if kind == EventKind.CALL_FOR_EVIDENCE and evidence_deadline is None:
        errors.setdefault("evidence_deadline", []).append(
            "Enter the deadline: a call for evidence needs the date and time contributions close."
        )
    if outcome and kind and kind not in DEBATE_KINDS:
        errors.setdefault("kind", []).append(
            f"This event has an outcome ({Outcome(outcome).label.lower()}), so it must stay a debate: only "
            "debates have an outcome."
        )
    if outcome == Outcome.NOT_DEBATED and not (outcome_reason or "").strip():
        errors.setdefault("outcome_reason", []).append("Say why it was not debated.")
    return errors


def event_clean(event: ParliamentaryEvent) -> None:
    """Model-level checks, for `ParliamentaryEvent.clean()`: raise ValidationError with the event's errors."""
    errors = event_errors(
        kind=event.kind,
        lead_mp=event.lead_mp_id,
        lead_mp_name=event.lead_mp_name,
        evidence_deadline=event.evidence_deadline,
        outcome=event.outcome,
        outcome_reason=event.outcome_reason,
    )
    for name in LINK_FIELDS:
        try:
            validate_parliament_link(getattr(event, name))
        except ValidationError as error:
            errors.setdefault(name, []).extend(error.messages)
    if errors:
        raise ValidationError(errors)
