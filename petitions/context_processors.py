"""Site-wide notices for every page: the staff banner and the dissolution of Parliament.

Both are lazy, so pages that never show them (the admin) never query for them.
"""

from django.utils.functional import SimpleLazyObject

from .models import Parliament, SiteSettings


def _announced_dissolution() -> Parliament | None:
    parliament = Parliament.current()
    return parliament if parliament is not None and parliament.dissolution_at is not None else None


def site_notices(request) -> dict:
    return {
        "site_banner": SimpleLazyObject(lambda: SiteSettings.load().banner_message),
        "dissolution": SimpleLazyObject(_announced_dissolution),
    }
