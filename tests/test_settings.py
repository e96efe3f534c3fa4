"""Production settings fail fast without their secrets, and pass Django's deployment checklist."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "k3y-" + "x9Qz!" * 12


def _run(*args, env_overrides):
    unset = {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _run(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_overrides={
            "SECRET_KEY": STRONG_KEY,
            "ALLOWED_HOSTS": "petitions.example.org",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = _run(
        "check", env_overrides={"ALLOWED_HOSTS": "x.example.org", "DATABASE_URL": "postgres://u@h:5432/d"}
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = _run("check", env_overrides={"SECRET_KEY": STRONG_KEY, "DATABASE_URL": "postgres://u@h:5432/d"})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_refuses_to_start_without_database_url():
    result = _run("check", env_overrides={"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "x.example.org"})
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_london_time_and_time_zone_support(settings):
    assert settings.TIME_ZONE == "Europe/London"
    assert settings.USE_TZ is True


def test_production_cookies_use_host_prefixes_and_the_csp_middleware_is_on():
    """__Host- cookies need Secure, path / and no Domain (docs/security.md); the CSP middleware runs everywhere."""
    script = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SESSION_COOKIE_DOMAIN, s.CSRF_COOKIE_DOMAIN, s.SESSION_COOKIE_PATH, s.CSRF_COOKIE_PATH,"
        " s.CSRF_COOKIE_HTTPONLY, 'csp.middleware.CSPMiddleware' in s.MIDDLEWARE)"
    )
    result = _run(
        "shell",
        "-c",
        script,
        env_overrides={
            "SECRET_KEY": STRONG_KEY,
            "ALLOWED_HOSTS": "petitions.example.org",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "__Host-sessionid", "__Host-csrftoken", "True", "True", "None", "None", "/", "/", "True", "True"
    ]  # fmt: skip
