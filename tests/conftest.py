import pytest

# Every test also checks that nothing it logged carries personal data; `real_worker` is a real Celery worker.
pytest_plugins = ["tests.privacy_plugin", "tests.celery_worker"]

#: Queries every public page makes for the site notices (staff banner, dissolution): petitions.context_processors.
SITE_NOTICES = 2


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the UK geography and rejection reasons once into the test database, as `make run` does."""
    from petitions.services import reference_data_load

    with django_db_blocker.unblock():
        reference_data_load()


@pytest.fixture(autouse=True)
def signing_at_human_speed(request):
    """Test clients post the signing forms at once and without the form's signed timestamp: switch the
    time-to-fill check off (tests/test_fraud.py switches it back on). Also forget the signing path's
    in-process caches (rules, site settings, email domain rules, reference data), so each test sees the
    rows it sets up."""
    caches_clear()
    if request.node.get_closest_marker("django_db") or "_django_db_helper" in request.fixturenames:
        request.getfixturevalue("_django_db_helper")
        from petitions.models import RateLimit

        RateLimit.objects.update_or_create(pk=1, defaults={"minimum_fill_seconds": 0})
    yield
    caches_clear()


def caches_clear() -> None:
    from petitions.canonical import email_domain_rules_clear
    from petitions.forms import reference_cache_clear
    from petitions.models import SiteSettings
    from petitions.services import signing_rules_clear

    signing_rules_clear()
    SiteSettings.cache_clear()
    email_domain_rules_clear()
    reference_cache_clear()


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return True
    return bool({"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config, items):
    """Run transactional tests last: they empty every table when they finish, reference data included.

    Each transactional test loads the reference data it needs itself (see tests/e2e/conftest.py).
    """
    items.sort(key=_is_transactional)
