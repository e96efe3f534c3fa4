"""Settings for the signing benchmark: production's, with what a load test on one machine needs on top.

bench_signing.py sets SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL, SITE_URL, VAR_DIR, TRUSTED_PROXY_COUNT
and SIGNATURE_TALLY_INTERVAL in the environment of gunicorn, the Celery worker and beat.
"""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# The worker renders and "sends" every email; none is delivered.
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"

# No collectstatic run for a benchmark: the measured requests (sign and confirm POSTs) render no page.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
