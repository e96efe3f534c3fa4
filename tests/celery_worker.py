"""A real Celery worker for integration tests (on Redis when REDIS_URL is set, as in CI): the `real_worker`
fixture, and `wait_for` to poll for what the worker does."""

import time

import pytest
from celery import signals
from celery.contrib.testing import tasks as _testing_tasks  # noqa: F401 - registers celery.ping for start_worker
from celery.contrib.testing.worker import start_worker
from django.db import connections

from config.celery import app


def _close_worker_connections(**kwargs):
    connections.close_all()


@pytest.fixture
def real_worker():
    """A worker thread in this process for the test's duration; tasks are queued, not run eagerly."""
    # The worker's thread ends with the test: close its database connections after each task, or they linger
    # and keep the test database from being dropped.
    signals.task_postrun.connect(_close_worker_connections)
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        app.conf.task_always_eager = True
        signals.task_postrun.disconnect(_close_worker_connections)


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
