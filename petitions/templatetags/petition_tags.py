"""Formatting used across pages and emails: London-time dates in the petitions site's style, and safe Markdown."""

from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe

from ..markdown import markdown_html, markdown_text

register = template.Library()


def _london(value):
    if isinstance(value, datetime):
        return timezone.localtime(value) if timezone.is_aware(value) else value
    return value


@register.filter
def long_date(value) -> str:
    """9 March 2022"""
    if not value:
        return ""
    value = _london(value)
    return f"{value.day} {value:%B %Y}"


@register.filter
def day_date(value) -> str:
    """Friday 1 July 2022"""
    if not value:
        return ""
    value = _london(value)
    return f"{value:%A} {value.day} {value:%B %Y}"


@register.filter
def day_month(value) -> str:
    """Tuesday 21 March"""
    if not value:
        return ""
    value = _london(value)
    return f"{value:%A} {value.day} {value:%B}"


@register.filter
def clock_time(value) -> str:
    """11.45pm, 9am, midday, midnight (London time), as the petitions site writes times."""
    if not value:
        return ""
    value = _london(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return ""
    hour, minute = value.hour, value.minute
    if minute == 0 and hour == 12:
        return "midday"
    if minute == 0 and hour == 0:
        return "midnight"
    suffix = "am" if hour < 12 else "pm"
    h12 = hour % 12 or 12
    return f"{h12}{suffix}" if minute == 0 else f"{h12}.{minute:02d}{suffix}"


@register.filter(name="days_left")
def days_left_filter(deadline, now=None):
    """London calendar days from today to the deadline's day (0 on the last day); "" without a deadline."""
    from ..dates import days_left

    if not deadline:
        return ""
    return days_left(deadline, now or None)


@register.filter
def time_left(deadline, now=None) -> str:
    """Time left to sign, in London days: "12 days left", "Closes tomorrow at 11.59pm", "Closes today at 11.59pm"."""
    from ..dates import days_left

    if not deadline:
        return ""
    now = now or timezone.now()
    if deadline <= now:
        return "Closed to new signatures"
    days = days_left(deadline, now)
    if days == 0:
        return f"Closes today at {clock_time(deadline)}"
    if days == 1:
        return f"Closes tomorrow at {clock_time(deadline)}"
    return f"{days} days left"


@register.filter
def markdown(value) -> str:
    """Render staff-written Markdown, then sanitise it: no raw HTML, no script or javascript: links."""
    return mark_safe(markdown_html(value))  # noqa: S308 - sanitised by nh3 in markdown_html


@register.filter(name="markdown_text")
def markdown_text_filter(value) -> str:
    """The same Markdown as plain text (no markup), for text email."""
    return markdown_text(value)


@register.filter
def paragraphs(value) -> str:
    """Plain text with blank-line paragraphs, escaped (petition text is never Markdown)."""
    from django.utils.html import escape

    if not value:
        return ""
    parts = [p.strip() for p in str(value).replace("\r\n", "\n").split("\n\n") if p.strip()]
    return mark_safe(  # noqa: S308 - every part is escaped
        "".join('<p class="govuk-body">' + escape(p).replace("\n", "<br>") + "</p>" for p in parts)
    )


#: How many petitions each queue on the admin home page lists.
STAFF_QUEUE_LIMIT = 20


@register.simple_tag
def staff_queues(user) -> list[dict]:
    """The admin home page's queues, for staff who may see petitions: awaiting a government response and
    awaiting a debate decision, longest waiting first, with days waiting; responses waiting longer than the
    site's limit (SiteSettings.response_overdue_months) are flagged overdue."""
    from petitions import selectors
    from responses.selectors import response_overdue_cutoff

    if not user.has_perm("petitions.view_petition"):
        return []
    today = timezone.localdate()
    queues = []
    for title, rows, field, overdue_before in (
        (
            "Awaiting a government response",
            selectors.petitions_awaiting_response,
            "response_threshold_reached_at",
            response_overdue_cutoff(),
        ),
        (
            "Awaiting a debate decision",
            selectors.petitions_awaiting_debate,
            "debate_threshold_reached_at",
            None,
        ),
    ):
        petitions = list(rows(limit=STAFF_QUEUE_LIMIT + 1))
        queues.append(
            {
                "title": title,
                "more": len(petitions) > STAFF_QUEUE_LIMIT,
                "petitions": [
                    {
                        "petition": p,
                        "days": (today - timezone.localdate(getattr(p, field))).days,
                        "overdue": overdue_before is not None and getattr(p, field) < overdue_before,
                    }
                    for p in petitions[:STAFF_QUEUE_LIMIT]
                ],
            }
        )
    return queues


@register.filter
def consultation_state(consultation, now=None) -> str:
    """ "open", "upcoming" or "closed" at `now`, with the same bounds as the /consultations status filter."""
    now = now or timezone.now()
    if consultation.closes_at <= now:
        return "closed"
    if consultation.opens_at > now:
        return "upcoming"
    return "open"


@register.filter
def http_url(value) -> str:
    """The URL if it is http(s), else "": a staff-typed link never becomes a `javascript:` or `data:` href."""
    value = str(value or "").strip()
    return value if value.lower().startswith(("https://", "http://")) else ""


@register.filter
def parliament_link(url) -> str:
    """The URL if it is https on a host of PARLIAMENT_LINK_HOSTS, else "": links staff typed are checked again
    when shown, so a bad one already in the database never becomes a href."""
    from debates.constituency_selectors import parliament_link as checked

    return checked(url or "")
