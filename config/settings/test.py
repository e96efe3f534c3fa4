"""Test settings: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set (CI), else SQLite and local queues."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import REDIS_URL, env, filesystem_broker_options

DEBUG = False
SECRET_KEY = "test-secret-key-only-used-by-the-test-suite-0123456789abcdef"  # noqa: S105
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Unit tests run tasks eagerly; the integration tests start a real worker and turn this off.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # A private queue folder, so tests never consume tasks from a `make run` on the same checkout.
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        Path(tempfile.mkdtemp(prefix="petitions-broker-"))
    )
SITE_URL = env("SITE_URL", default="http://testserver")
# Serve static files from the source folders; tests never run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
