import pytest


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the UK geography and rejection reasons once into the test database, as `make run` does."""
    from petitions.services import reference_data_load

    with django_db_blocker.unblock():
        reference_data_load()
