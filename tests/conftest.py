import pytest

#: Queries every public page makes for the site notices (staff banner, dissolution): petitions.context_processors.
SITE_NOTICES = 2


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the UK geography and rejection reasons once into the test database, as `make run` does."""
    from petitions.services import reference_data_load

    with django_db_blocker.unblock():
        reference_data_load()


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
