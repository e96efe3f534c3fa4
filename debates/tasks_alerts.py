"""Celery tasks for constituency alerts (weekly digests)."""
