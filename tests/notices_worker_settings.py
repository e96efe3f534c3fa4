"""Settings for the Celery worker subprocess that tests/test_notices_integration.py starts and kills: the test
settings (the test database and Redis come from DATABASE_URL and REDIS_URL), tasks really queued, and email
over SMTP to the test's server on NOTICES_SMTP_PORT."""

from config.settings.test import *  # noqa: F403
from config.settings.test import env

CELERY_TASK_ALWAYS_EAGER = False
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = env.int("NOTICES_SMTP_PORT")
EMAIL_USE_TLS = False
EMAIL_HOST_USER = ""
EMAIL_HOST_PASSWORD = ""
EMAIL_TIMEOUT = 10
