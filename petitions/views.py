from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from . import selectors
from .models import COLLECTING_SPONSORS_STATES, IN_MODERATION_STATES, PetitionState, SiteSettings


@require_safe
def home(request):
    return render(
        request,
        "petitions/home.html",
        {
            "counts": selectors.home_counts(),
            "popular": selectors.petitions_popular_open(),
            "responded": selectors.petitions_recent_with_response(),
            "site": SiteSettings.load(),
        },
    )


@require_safe
def petition_detail(request, petition_id: int):
    petition = selectors.petition_get_for_show(petition_id=petition_id)
    if petition is None or petition.state in (PetitionState.HIDDEN, PetitionState.DORMANT):
        raise Http404("No such petition")
    if petition.state == PetitionState.REMOVED:
        return render(request, "410.html", {"petition": petition}, status=410)
    if petition.state in COLLECTING_SPONSORS_STATES:
        return redirect("petitions:gathering_support", petition_id=petition.pk)
    if petition.state in IN_MODERATION_STATES:
        return redirect("petitions:moderation_info", petition_id=petition.pk)
    if petition.state == PetitionState.STOPPED:
        return redirect("petitions:home")
    site = SiteSettings.load()
    return render(
        request,
        "petitions/detail.html",
        {
            "petition": petition,
            "site": site,
            "timeline": selectors.petition_timeline(petition=petition),
            "regions": selectors.petition_signatures_by_region(petition=petition),
            "top_constituencies": selectors.petition_top_constituencies(petition=petition),
            "top_countries": selectors.petition_top_countries(petition=petition),
            "now": timezone.now(),
        },
    )


def _unpublished(request, petition_id: int, states, template: str):
    petition = selectors.petition_get_for_show(petition_id=petition_id)
    if petition is None or petition.state in (
        PetitionState.HIDDEN,
        PetitionState.DORMANT,
        PetitionState.REMOVED,
    ):
        raise Http404("No such petition")
    if petition.state not in states:
        return redirect(petition.get_absolute_url())
    site = SiteSettings.load()
    sponsors = petition.signatures.filter(sponsor=True, state="validated").count()
    return render(
        request,
        template,
        {"petition": petition, "site": site, "sponsors_needed": max(site.minimum_sponsors - sponsors, 0)},
    )


@require_safe
def gathering_support(request, petition_id: int):
    return _unpublished(request, petition_id, COLLECTING_SPONSORS_STATES, "petitions/gathering_support.html")


@require_safe
def moderation_info(request, petition_id: int):
    return _unpublished(request, petition_id, IN_MODERATION_STATES, "petitions/moderation_info.html")


@require_safe
def petition_map(request, petition_id: int):
    from .map_data import petition_map_context

    petition = selectors.petition_get_for_show(petition_id=petition_id)
    if petition is None or petition.state not in (PetitionState.OPEN, PetitionState.CLOSED):
        raise Http404("No such petition")
    return render(request, "petitions/map.html", petition_map_context(petition=petition))


@require_safe
def data_sources(request):
    return render(request, "pages/data_sources.html")


def csrf_failure(request, reason=""):
    return render(request, "403_csrf.html", status=403)


def bad_request(request, exception=None):
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None):
    return render(request, "403.html", status=403)


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


def server_error(request):
    return render(request, "500.html", status=500)
