"""Staff page: how long petitions wait for a government response, per department and petition by petition."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.utils import timezone

from . import selectors

#: Awaiting petitions listed per page.
PER_PAGE = 100


def response_timeliness_view(request):
    """Response editors, reviewers and sysadmins (anyone who may view government responses)."""
    if not request.user.has_perm("responses.view_governmentresponse"):
        raise PermissionDenied
    now = timezone.now()
    report = selectors.response_timeliness(now=now)
    page = Paginator(selectors.awaiting_response_petitions(), PER_PAGE).get_page(request.GET.get("page"))
    context = {
        **admin.site.each_context(request),
        "title": "Response timeliness",
        "subtitle": None,
        "report": report,
        "page": page,
        "awaiting": selectors.awaiting_response_rows(page.object_list, cutoff=report.cutoff, now=now),
        "can_view_settings": request.user.has_perm("petitions.view_sitesettings"),
    }
    return TemplateResponse(request, "admin/responses/timeliness.html", context)
