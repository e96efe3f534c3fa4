"""Public pages for constituency alerts: subscribe, confirm, unsubscribe. Links carry a token, never an address;
GETs only show a page with one button, so mail scanners that fetch links change nothing."""

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from petitions.client_ip import client_ip_address
from petitions.models import Constituency

from . import alerts
from .forms_alerts import AlertSubscribeForm
from .models import AlertState


def _constituency(gss_code: str) -> Constituency:
    constituency = Constituency.objects.filter(gss_code=gss_code.upper()).first()
    if constituency is None:
        raise Http404("No such constituency")
    return constituency


def _link_invalid(request):
    return render(request, "alerts/link_invalid.html", status=404)


@require_http_methods(["GET", "HEAD", "POST"])
def alert_new(request, gss_code: str):
    constituency = _constituency(gss_code)
    if request.method == "POST":
        form = AlertSubscribeForm(request.POST)
        if form.is_valid():
            if not alerts.alert_subscribe_rate_take(ip_address=client_ip_address(request)):
                return render(request, "alerts/too_many.html", {"constituency": constituency}, status=429)
            alerts.alert_subscribe(constituency=constituency, email=form.cleaned_data["email"])
            # The same page whether the address is new, pending, subscribed or capped: nobody learns which.
            return redirect("debates_alerts:check_email", gss_code=constituency.gss_code)
    else:
        form = AlertSubscribeForm()
    return render(request, "alerts/new.html", {"constituency": constituency, "form": form})


@require_safe
def alert_check_email(request, gss_code: str):
    return render(request, "alerts/check_email.html", {"constituency": _constituency(gss_code)})


@require_http_methods(["GET", "HEAD", "POST"])
def alert_confirm(request, alert_id: int):
    """GET shows one "Confirm" button; only its POST confirms."""
    token = (request.POST.get("token") if request.method == "POST" else None) or request.GET.get("token")
    if request.method == "POST":
        try:
            alert = alerts.alert_confirm(alert_id=alert_id, token=token)
        except alerts.AlertLinkInvalid:
            return _link_invalid(request)
        return redirect(f"{reverse('debates_alerts:confirm', args=[alert.pk])}?token={token}")
    try:
        alert = alerts.alert_for_link(alert_id=alert_id, token=token, kind="confirm")
    except alerts.AlertLinkInvalid:
        return _link_invalid(request)
    context = {"alert": alert, "constituency": alert.constituency, "token": token}
    if alert.state == AlertState.ACTIVE:
        return render(request, "alerts/confirmed.html", context)
    return render(request, "alerts/confirm.html", context)


# No CSRF check: the 256-bit token in the URL alone authorises unsubscribing, no cookie or session is involved,
# so a forged cross-site POST would need the token, which only the subscriber's mailbox has. And RFC 8058
# one-click POSTs (body "List-Unsubscribe=One-Click") come from mail providers, with no cookie or CSRF token.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def alert_unsubscribe(request, alert_id: int):
    """GET shows one "Unsubscribe" button. Its POST, or a mail provider's one-click POST to the URL in the
    List-Unsubscribe header, stops the alert."""
    token = request.GET.get("token") or request.POST.get("token")
    try:
        if request.method == "POST":
            alert = alerts.alert_unsubscribe(alert_id=alert_id, token=token)
        else:
            alert = alerts.alert_for_link(alert_id=alert_id, token=token, kind="unsubscribe")
    except alerts.AlertLinkInvalid:
        return _link_invalid(request)
    context = {"alert": alert, "constituency": alert.constituency, "token": alert.unsubscribe_token}
    if alert.state == AlertState.UNSUBSCRIBED:
        return render(request, "alerts/unsubscribed.html", context)
    return render(request, "alerts/unsubscribe.html", context)
