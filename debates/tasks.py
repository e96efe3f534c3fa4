"""Celery tasks of the debates app (thin: the work is in services). Alert digests live in tasks_alerts."""

from .tasks_alerts import *  # noqa: F403 - registers the alert tasks with Celery's autodiscovery
