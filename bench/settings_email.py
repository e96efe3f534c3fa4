"""Settings for the bulk email benchmark: the signing benchmark's (production's, with bench overrides), with
email really sent over SMTP to the benchmark's own aiosmtpd server on BENCH_SMTP_PORT (set by bench_email.py)."""

import os

from bench.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ["BENCH_SMTP_PORT"])
EMAIL_USE_TLS = False
EMAIL_USE_SSL = False
EMAIL_HOST_USER = ""
EMAIL_HOST_PASSWORD = ""
EMAIL_TIMEOUT = 10
