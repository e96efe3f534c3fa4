"""No Docker engine runs here, so the compose file is checked by reading it."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Variables read by Django or Celery themselves rather than through config/env.py.
FRAMEWORK_VARIABLES = {"DJANGO_SETTINGS_MODULE"}


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _variables_the_settings_read() -> set[str]:
    names = set()
    pattern = re.compile(r"\benv(?:\.\w+)?\(\s*\"([A-Z_][A-Z0-9_]*)\"")
    for path in (ROOT / "config").rglob("*.py"):
        names |= set(pattern.findall(path.read_text()))
    return names


def test_compose_has_every_service_of_the_production_shape():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "mailcatcher", "web", "worker", "counts", "beat"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "gunicorn config.wsgi" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    for name in ("web", "worker", "counts", "beat"):
        assert services[name]["restart"] == "unless-stopped", name  # docs/reliability.md: workers can exit


def test_app_services_are_wired_by_environment_to_postgres_redis_and_the_mail_catcher():
    services = _compose()["services"]
    for name in ("web", "worker", "counts", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["EMAIL_URL"] == "smtp://mailcatcher:1025"
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert set(services[name]["depends_on"]) == {"postgres", "redis"}


def test_every_variable_compose_sets_is_one_the_settings_read():
    read = _variables_the_settings_read() | FRAMEWORK_VARIABLES
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL", "SITE_URL"} <= read
    for name in ("web", "worker", "counts", "beat"):
        unknown = set(_compose()["services"][name]["environment"]) - read
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"


def _queues(command: list[str]) -> set[str]:
    return set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else {"*"}


def test_every_celery_queue_has_a_worker_and_the_tally_has_its_own():
    """A queue nobody consumes silently stops its tasks: counts would freeze. The tally's queue has a worker of
    its own, so a notice keeping the email worker busy cannot delay threshold detection."""
    from django.conf import settings

    services = _compose()["services"]
    workers = {
        name: _queues(service["command"])
        for name, service in services.items()
        if service.get("command", [])[:4] == ["celery", "-A", "config", "worker"]
    }
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {"celery"}
    for queue in routed:
        assert any(queue in queues or "*" in queues for queues in workers.values()), queue
    assert workers["counts"] == {"counts"}
    run_all = (ROOT / "scripts" / "run-all.sh").read_text()
    assert re.search(r"celery\" -A config worker -Q counts ", run_all)
    assert re.search(r"celery\" -A config worker -Q celery ", run_all)
