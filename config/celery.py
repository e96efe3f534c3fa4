import os

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("petitions", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fix-up closes the database connection around every task unless told to reuse it; a new
# PostgreSQL connection per confirmation email cost more than the email. Reuse it, and let Django drop a
# connection that is broken or older than CONN_MAX_AGE, as it does between web requests.
app.conf.CELERY_DB_REUSE_MAX = 1000


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(sender=None, **kwargs):
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
