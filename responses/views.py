"""Public pages of the responses app."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from .filters import ConsultationFilter, consultations_listed, linked_petitions

CONSULTATIONS_PER_PAGE = 20


@require_safe
def consultation_list(request):
    now = timezone.now()
    consultations = ConsultationFilter(request.GET, queryset=consultations_listed(now=now), now=now)
    # An invalid filter is shown as an error and left out; the valid ones still apply.
    page = Paginator(consultations.qs, CONSULTATIONS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(consultation, linked_petitions(consultation)) for consultation in page]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "responses/consultation_list.html",
        {
            "form": consultations.form,
            "page_obj": page,
            "rows": rows,
            "base_query": query.urlencode(),
            "now": now,
        },
    )
