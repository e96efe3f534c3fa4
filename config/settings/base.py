"""Settings shared by every environment. Everything variable comes from the environment (docs/operations.md)."""

from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from kombu import Queue

from config.env import BASE_DIR, env


def filesystem_broker_options(folder: Path) -> dict:
    """Celery's filesystem transport: one folder is the queue, shared by every process on this machine."""
    (folder / "queue").mkdir(parents=True, exist_ok=True)
    (folder / "processed").mkdir(parents=True, exist_ok=True)
    (folder / "control").mkdir(parents=True, exist_ok=True)
    return {
        # Without this, kombu writes its exchange tables to ./control in the working directory.
        "control_folder": str(folder / "control"),
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }


VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "django_filters",
    "axes",
    "petitions",
    "responses",
    "debates",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that renders a page (the 400 for NUL bytes too), so every page gets its nonce.
    "csp.middleware.CSPMiddleware",
    "petitions.middleware.RejectBadRequestsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout flagged during the request into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "petitions.context_processors.site_notices",
            ],
            "builtins": ["petitions.templatetags.petition_tags"],
        },
    }
]

# --- Database: SQLite under var/ unless DATABASE_URL says otherwise.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: web, worker and beat share one file, so WAL and a write lock taken up front.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-131072;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: the Celery broker and the shared cache. Without it, Celery's filesystem broker and a local cache.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    # Longer than any countdown/eta we use, or Redis re-delivers the task early.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR / "broker")

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_TIMEZONE = "Europe/London"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The tally has a queue of its own, so that a backlog of emails never holds up the counts: a worker takes from
# its queues in turn. A worker started without -Q consumes both; a busy site may run one per queue
# (`-Q counts` and `-Q celery`).
CELERY_TASK_QUEUES = (Queue("celery", routing_key="celery"), Queue("counts", routing_key="counts"))
CELERY_TASK_ROUTES = {"petitions.tasks.tally_signatures": {"queue": "counts"}}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Seconds between signature tally runs (the tally turns confirmed signature rows into counts).
SIGNATURE_TALLY_INTERVAL = env.float("SIGNATURE_TALLY_INTERVAL", default=2.0)
CELERY_BEAT_SCHEDULE = {
    "petitions-tally-signatures": {
        "task": "petitions.tasks.tally_signatures",
        "schedule": SIGNATURE_TALLY_INTERVAL,
        # A run that could not start in time is superseded by the next one.
        "options": {"expires": SIGNATURE_TALLY_INTERVAL * 5},
    },
    "petitions-verify-counts-nightly": {
        "task": "petitions.tasks.verify_all_counts",
        "schedule": crontab(hour=2, minute=30),
    },
    # Just after midnight London time: every open petition past its deadline closes.
    "petitions-close": {
        "task": "petitions.tasks.close_petitions",
        "schedule": crontab(hour=0, minute=1),
    },
    # While signing is paused, every open deadline moves on a day per day paused.
    "petitions-extend-deadlines-while-paused": {
        "task": "petitions.tasks.extend_deadlines_while_paused",
        "schedule": crontab(hour=0, minute=5),
    },
    # Checked every minute so petitions close and stop at the moment Parliament dissolves.
    "petitions-dissolution": {
        "task": "petitions.tasks.process_dissolution",
        "schedule": 60,
    },
    "petitions-anonymise": {
        "task": "petitions.tasks.anonymise_petitions",
        "schedule": crontab(hour=3, minute=0),
    },
    # Each morning: Response editors and Debate editors hear which petitions newly await them.
    "petitions-threshold-digests": {
        "task": "petitions.tasks.threshold_digests",
        "schedule": crontab(hour=8, minute=0),
    },
    # Started invalidations whose task was lost (a flushed or restarted broker) are queued again.
    "petitions-resume-invalidations": {
        "task": "petitions.tasks.resume_invalidations",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    # Five minutes past each hour, for the hour before: trending IP addresses and email domains per petition.
    "petitions-trending-report": {
        "task": "petitions.tasks.trending_report",
        "schedule": crontab(minute=5),
    },
    # Bulk email notices whose task never ran (Redis down at the staff action) or was lost are queued again.
    "petitions-sweep-notices": {
        "task": "petitions.tasks.sweep_notices",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # Ten past midnight (London): scheduled debates whose time has passed, with no outcome yet, become debated.
    "debates-mark-past-debates-debated": {
        "task": "debates.tasks.mark_past_debates_debated",
        "schedule": crontab(hour=0, minute=10),
    },
    # Constituency alerts: queue the week's digests on Monday morning; send (and retry, and pick up expired
    # leases and digests held by the pause switch or the night window) every 5 minutes.
    "debates-alert-digests-queue": {
        "task": "debates.tasks_alerts.queue_alert_digests",
        "schedule": crontab(hour=7, minute=0, day_of_week="mon"),
    },
    "debates-alert-digests-send": {
        "task": "debates.tasks_alerts.send_alert_digests",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
}

# --- Email. EMAIL_URL is e.g. smtp://user:pass@host:587 or smtp+tls://…; consolemail:// prints to stdout.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# Seconds an SMTP operation may block: bounds one message's send, which the bulk email lease relies on.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Hosts that links on parliamentary events (transcripts, videos, debate packs...) may point to, https only.
# "*.example" allows any subdomain of example (not example itself).
PARLIAMENT_LINK_HOSTS = env.list(
    "PARLIAMENT_LINK_HOSTS",
    default=[
        "*.parliament.uk",
        "parliamentlive.tv",
        "www.youtube.com",
        "youtu.be",
        "*.gov.uk",
        "ukparliament.shorthandstories.com",
    ],
)
# Tasks sending one notice side by side (each claims its own batches of recipients; see petitions.services.notices).
NOTICE_SENDERS = env.int("NOTICE_SENDERS", default=2)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Petitions <no-reply@petitions.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Staff login: django-axes locks a username out from one address after repeated failures.
# AxesStandaloneBackend only checks lockouts, so it needs `request`: tests log in with `force_login`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
# The client address is REMOTE_ADDR; X-Forwarded-For is believed only for the last TRUSTED_PROXY_COUNT
# hops, added by our own proxies (0: not at all), so a client cannot pick its address (docs/decisions.md).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "petitions.client_ip.client_ip_address"
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# No script reads the CSRF cookie: the admin's preview script takes the token from its form's hidden field.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "petitions.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4.0; docs/security.md): scripts only from our own origin or carrying the
# request's nonce (`nonce="{{ request.csp_nonce }}"` on every <script>), no inline styles, no framing, no
# plugins, forms post only to us. Changing it: keep templates free of inline style/event attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
