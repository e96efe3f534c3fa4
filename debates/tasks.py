"""Celery tasks of the debates app (thin: the work is in services). Alert digests live in tasks_alerts."""

from celery import shared_task

from .tasks_alerts import *  # noqa: F403 - registers the alert tasks with Celery's autodiscovery


@shared_task
def mark_past_debates_debated() -> list[int]:
    """Nightly: scheduled debates whose time has passed, with no outcome yet, are recorded as debated."""
    from .services import events_mark_debated

    return events_mark_debated()
