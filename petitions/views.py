import contextlib
import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from . import selectors, services
from .api import api_cache_headers, api_datetime
from .client_ip import client_ip_address
from .forms import (
    ActionForm,
    AdditionalDetailsForm,
    BackgroundForm,
    ConstituencyForm,
    CreatorForm,
    SignatureForm,
    UkCitizenshipForm,
)
from .models import (
    COLLECTING_SPONSORS_STATES,
    IN_MODERATION_STATES,
    VISIBLE_STATES,
    DebateState,
    Parliament,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
    SiteSettings,
)

logger = logging.getLogger(__name__)


@require_safe
def home(request):
    from .browse import petitions_trending

    return render(
        request,
        "petitions/home.html",
        {
            "counts": selectors.home_counts(),
            "trending": petitions_trending(limit=3),
            "popular": selectors.petitions_popular_open(),
            "responded": selectors.petitions_recent_with_response(),
            "site": SiteSettings.load(),
        },
    )


@require_safe
def petition_detail(request, petition_id: int):
    petition = selectors.petition_get_for_show(petition_id=petition_id)
    if petition is None or petition.state == PetitionState.DORMANT:
        raise Http404("No such petition")
    # A hidden petition that was once public is gone (410); one never published was never there (404).
    if petition.state == PetitionState.HIDDEN and petition.opened_at is None:
        raise Http404("No such petition")
    if petition.state in (PetitionState.REMOVED, PetitionState.HIDDEN):
        return render(request, "410.html", {"petition": petition}, status=410)
    if petition.state in COLLECTING_SPONSORS_STATES:
        return redirect("petitions:gathering_support", petition_id=petition.pk)
    if petition.state in IN_MODERATION_STATES:
        return redirect("petitions:moderation_info", petition_id=petition.pk)
    if petition.state == PetitionState.STOPPED:
        return redirect("petitions:home")
    from .history import petition_history_chart

    site = SiteSettings.load()
    now = timezone.now()
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
            # One query: the hourly tallies (none for a petition that never opened).
            "history": petition_history_chart(petition=petition, now=now),
            "now": now,
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
    """Signatures by constituency on a map (hex or geographic, count or share of the electorate, a postcode's
    constituency highlighted), all chosen by GET parameters: see petitions/map_data.py."""
    from .map_data import petition_map_context

    petition = Petition.objects.filter(
        pk=petition_id, state__in=(PetitionState.OPEN, PetitionState.CLOSED)
    ).first()
    if petition is None:
        raise Http404("No such petition")
    return render(request, "petitions/map.html", petition_map_context(petition=petition, query=request.GET))


COUNT_JSON_FIELDS = (
    "signature_count",
    "response_threshold_reached_at",
    "government_response_at",
    "debate_threshold_reached_at",
    "scheduled_debate_date",
    "debate_outcome_at",
    "debate_state",
)


@require_safe
def petition_count_json(request, petition_id: int):
    """The live count (petition.parliament.uk's `count.json`), polled by the petition page. Cached publicly
    for one tally interval; readable from any origin."""
    interval = SiteSettings.load().signature_count_interval
    row = Petition.objects.filter(pk=petition_id, state__in=VISIBLE_STATES).values(*COUNT_JSON_FIELDS).first()
    if row is None:
        response = JsonResponse({"error": "Not found"}, status=404)
    else:
        response = JsonResponse(
            {
                "signature_count": row["signature_count"],
                "response_threshold_reached_at": api_datetime(row["response_threshold_reached_at"]),
                "government_response_at": api_datetime(row["government_response_at"]),
                "debate_threshold_reached_at": api_datetime(row["debate_threshold_reached_at"]),
                "scheduled_debate_date": (
                    row["scheduled_debate_date"].isoformat() if row["scheduled_debate_date"] else None
                ),
                "debate_outcome_at": api_datetime(row["debate_outcome_at"]),
                "debated": row["debate_state"] == DebateState.DEBATED,
            }
        )
        return api_cache_headers(response, interval=interval)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def data_sources(request):
    return render(request, "pages/data_sources.html")


INFO_PAGES = {"help", "privacy", "cookies", "accessibility"}


@require_safe
def info_page(request, page: str):
    """The help page, privacy notice, cookies page and accessibility statement the footer links to."""
    if page not in INFO_PAGES:
        raise Http404
    context = {
        "site": SiteSettings.cached(),
        "nav_section": "help" if page == "help" else "",
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
    }
    return render(request, f"pages/{page}.html", context)


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


def _client_ip(request) -> str | None:
    return client_ip_address(request)


# --- Starting a petition ------------------------------------------------------------------------------
# The answers live in the session between stages (`CREATE_KEY`); each stage is its own page at
# /petitions/new/<stage>: GET shows it, POST validates it and moves on. "?change=1" (from the check page's
# Change links) comes back to the check page instead.

CREATE_KEY = "petition_create"
CREATED_KEY = "petition_created"
CREATE_STAGES = (
    "uk-citizenship",
    "action",
    "similar-petitions",
    "background",
    "additional-details",
    "creator",
    "constituency",
    "check",
)
CREATOR_FIELDS = ("name", "email", "email_confirmation", "country", "postcode")


def _stage_url(stage: str, *, change: bool = False) -> str:
    url = reverse("petitions:new_stage", args=[stage])
    return f"{url}?change=1" if change else url


def _answers(request) -> dict:
    return dict(request.session.get(CREATE_KEY) or {})


def _save_answers(request, answers: dict) -> None:
    request.session[CREATE_KEY] = answers


def _first_missing_stage(answers: dict) -> str | None:
    """The first stage the person has not completed yet, or None when every answer is in."""
    if answers.get("uk_citizenship") != "yes":
        return "uk-citizenship"
    if not answers.get("action"):
        return "action"
    if not answers.get("background"):
        return "background"
    if "additional_details" not in answers:
        return "additional-details"
    if not answers.get("name"):
        return "creator"
    if answers.get("northern_ireland") and not answers.get("constituency"):
        return "constituency"
    return None


def _creation_closed(request, reason: str):
    parliament = Parliament.current() if reason == "dissolved" else None
    return render(request, "petitions/start/closed.html", {"reason": reason, "parliament": parliament})


def _next_after(request, answers: dict, stage: str):
    if request.GET.get("change") == "1":
        missing = _first_missing_stage(answers)
        return redirect(_stage_url(missing, change=True) if missing else _stage_url("check"))
    return redirect(_stage_url(stage))


def _back_url(request, stage: str) -> str:
    return _stage_url("check") if request.GET.get("change") == "1" else _stage_url(stage)


@require_safe
def petition_start(request):
    site = SiteSettings.load()
    reason = selectors.petition_creation_closed_reason(site=site)
    if reason:
        return _creation_closed(request, reason)
    return render(request, "petitions/start/start.html", {"site": site, "nav_section": "start"})


@require_safe
def petition_new(request):
    return redirect(_stage_url(CREATE_STAGES[0]))


@require_http_methods(["GET", "HEAD", "POST"])
def petition_new_stage(request, stage: str):
    if stage == "not-eligible":
        return render(
            request,
            "petitions/start/not_eligible.html",
            {"back_url": _stage_url("uk-citizenship"), "nav_section": "start"},
        )
    if stage not in CREATE_STAGES:
        raise Http404("No such stage")
    reason = selectors.petition_creation_closed_reason()
    if reason:
        return _creation_closed(request, reason)
    answers = _answers(request)
    if stage == "check" and request.method == "POST" and not answers and CREATED_KEY in request.session:
        # Pressed "Create petition" twice: the first press made it.
        return redirect("petitions:thank_you")
    missing = _first_missing_stage(answers)
    if missing is not None and CREATE_STAGES.index(missing) < CREATE_STAGES.index(stage):
        return redirect(_stage_url(missing))
    handler = {
        "uk-citizenship": _stage_uk_citizenship,
        "action": _stage_action,
        "similar-petitions": _stage_similar_petitions,
        "background": _stage_background,
        "additional-details": _stage_additional_details,
        "creator": _stage_creator,
        "constituency": _stage_constituency,
        "check": _stage_check,
    }[stage]
    return handler(request, answers)


def _render_stage(request, stage: str, context: dict):
    return render(
        request,
        f"petitions/start/{stage.replace('-', '_')}.html",
        {"stage": stage, "nav_section": "start", "change": request.GET.get("change") == "1", **context},
    )


def _text_stage(request, answers, *, stage, form_class, field, back, next_stage):
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            answers[field] = form.cleaned_data[field]
            _save_answers(request, answers)
            return _next_after(request, answers, next_stage)
    else:
        form = form_class(initial={field: answers.get(field, "")})
    return _render_stage(request, stage, {"form": form, "back_url": _back_url(request, back)})


def _stage_uk_citizenship(request, answers):
    if request.method == "POST":
        form = UkCitizenshipForm(request.POST)
        if form.is_valid():
            request.session.pop(CREATED_KEY, None)
            answers["uk_citizenship"] = form.cleaned_data["uk_citizenship"]
            # Identifies this petition-in-progress, so that two presses of "Create petition" make one.
            answers.setdefault("nonce", secrets.token_urlsafe(16))
            _save_answers(request, answers)
            if answers["uk_citizenship"] != "yes":
                return redirect(_stage_url("not-eligible"))
            return _next_after(request, answers, "action")
    else:
        form = UkCitizenshipForm(initial={"uk_citizenship": answers.get("uk_citizenship")})
    back = _stage_url("check") if request.GET.get("change") == "1" else reverse("petitions:start")
    return _render_stage(request, "uk-citizenship", {"form": form, "back_url": back})


def _stage_action(request, answers):
    if request.method == "POST":
        form = ActionForm(request.POST)
        if form.is_valid():
            answers["action"] = form.cleaned_data["action"]
            answers["similar_ids"] = [p.pk for p in selectors.petitions_similar_open(text=answers["action"])]
            _save_answers(request, answers)
            if request.GET.get("change") == "1":
                return _next_after(request, answers, "check")
            return redirect(_stage_url("similar-petitions" if answers["similar_ids"] else "background"))
    else:
        form = ActionForm(initial={"action": answers.get("action", "")})
    return _render_stage(request, "action", {"form": form, "back_url": _back_url(request, "uk-citizenship")})


def _similar_petitions(answers) -> list[Petition]:
    ids = answers.get("similar_ids") or []
    found = {p.pk: p for p in Petition.objects.open().filter(pk__in=ids)}
    return [found[pk] for pk in ids if pk in found]


def _stage_similar_petitions(request, answers):
    if request.method == "POST":
        return redirect(_stage_url("background"))
    petitions = _similar_petitions(answers)
    if not petitions:
        return redirect(_stage_url("background"))
    return _render_stage(
        request, "similar-petitions", {"petitions": petitions, "back_url": _stage_url("action")}
    )


def _stage_background(request, answers):
    back = "similar-petitions" if answers.get("similar_ids") else "action"
    return _text_stage(
        request,
        answers,
        stage="background",
        form_class=BackgroundForm,
        field="background",
        back=back,
        next_stage="additional-details",
    )


def _stage_additional_details(request, answers):
    return _text_stage(
        request,
        answers,
        stage="additional-details",
        form_class=AdditionalDetailsForm,
        field="additional_details",
        back="background",
        next_stage="creator",
    )


def _stage_creator(request, answers):
    change = request.GET.get("change") == "1"
    if request.method == "POST":
        form = CreatorForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            answers.update(
                name=data["name"],
                email=data["email"],
                email_confirmation=data["email"],
                country=data["country"].code,
                postcode=data["postcode"],
                northern_ireland=form.is_northern_ireland,
            )
            if not form.is_northern_ireland:
                answers.pop("constituency", None)
            _save_answers(request, answers)
            if form.is_northern_ireland:
                return redirect(_stage_url("constituency", change=change))
            return _next_after(request, answers, "check")
    else:
        form = CreatorForm(initial={k: answers[k] for k in CREATOR_FIELDS if k in answers})
    return _render_stage(
        request, "creator", {"form": form, "back_url": _back_url(request, "additional-details")}
    )


def _stage_constituency(request, answers):
    if not answers.get("northern_ireland"):
        return redirect(_stage_url("check"))
    if request.method == "POST":
        form = ConstituencyForm(request.POST)
        if form.is_valid():
            answers["constituency"] = form.cleaned_data["constituency"].gss_code
            _save_answers(request, answers)
            return _next_after(request, answers, "check")
    else:
        form = ConstituencyForm(initial={"constituency": answers.get("constituency")})
    return _render_stage(
        request,
        "constituency",
        {"form": form, "back_url": _stage_url("creator", change=request.GET.get("change") == "1")},
    )


def _checked_answers(answers: dict) -> tuple[dict | None, str | None]:
    """Every answer validated again, as `petition_create` takes them; or (None, the stage to fix)."""
    checks = (
        ("action", ActionForm, ("action",)),
        ("background", BackgroundForm, ("background",)),
        ("additional-details", AdditionalDetailsForm, ("additional_details",)),
        ("creator", CreatorForm, CREATOR_FIELDS),
    )
    cleaned: dict = {}
    for stage, form_class, fields in checks:
        form = form_class(data={f: answers.get(f, "") for f in fields})
        if not form.is_valid():
            return None, stage
        cleaned.update(form.cleaned_data)
    if answers.get("northern_ireland"):
        form = ConstituencyForm(data={"constituency": answers.get("constituency", "")})
        if not form.is_valid():
            return None, "constituency"
        cleaned["constituency"] = form.cleaned_data["constituency"]
    cleaned.pop("email_confirmation", None)
    return cleaned, None


def _cache_lock_take(key: str) -> bool:
    """True unless another request holds `key`. With the cache (Redis) down, creating the petition matters more
    than the double-click guard: go ahead without it."""
    try:
        return cache.add(key, 1, timeout=3600)
    except Exception:  # noqa: BLE001 - any cache backend's connection error
        logger.warning("The cache is unreachable; creating a petition without the double-submit lock.")
        return True


def _stage_check(request, answers):
    cleaned, broken = _checked_answers(answers)
    if cleaned is None:
        return redirect(_stage_url(broken))
    if request.method == "POST":
        lock = f"petition-create:{answers.get('nonce') or request.session.session_key}"
        # Two presses at once: the session cannot tell, the cache can (`add` is atomic).
        if not _cache_lock_take(lock):
            return redirect("petitions:thank_you")
        try:
            petition = services.petition_create(**cleaned, ip_address=_client_ip(request))
        except Exception:
            with contextlib.suppress(Exception):
                cache.delete(lock)
            raise
        request.session.pop(CREATE_KEY, None)
        request.session[CREATED_KEY] = petition.pk
        return redirect("petitions:thank_you")
    rows = [
        ("Action", cleaned["action"], "action"),
        ("Background", cleaned["background"], "background"),
        ("Additional details", cleaned["additional_details"], "additional-details"),
        ("Name", cleaned["name"], "creator"),
        ("Email address", cleaned["email"], "creator"),
        ("Where you live", cleaned["country"].name, "creator"),
    ]
    if cleaned["postcode"]:
        rows.append(("Postcode", cleaned["postcode"], "creator"))
    if answers.get("northern_ireland"):
        rows.append(("Constituency", cleaned["constituency"].name, "constituency"))
    back = "constituency" if answers.get("northern_ireland") else "creator"
    return _render_stage(
        request,
        "check",
        {
            "rows": [
                {"label": label, "value": value, "change_url": _stage_url(stage, change=True)}
                for label, value, stage in rows
            ],
            "back_url": _stage_url(back),
            "site": SiteSettings.load(),
        },
    )


@require_safe
def petition_thank_you(request):
    if CREATED_KEY not in request.session:
        return redirect("petitions:start")
    return render(
        request, "petitions/start/thank_you.html", {"site": SiteSettings.load(), "nav_section": "start"}
    )


# --- Supporters (sponsors) -------------------------------------------------------------------------------


def _sponsor_petition(request, petition_id: int):
    """(petition, None) when the supporters' link is good, else (None, the response to give)."""
    petition = Petition.objects.filter(pk=petition_id).first()
    if petition is None or petition.state in (
        PetitionState.HIDDEN,
        PetitionState.DORMANT,
        PetitionState.STOPPED,
    ):
        raise Http404("No such petition")
    if petition.state == PetitionState.REMOVED:
        return None, render(request, "410.html", {"petition": petition}, status=410)
    if not services.signing.tokens_match(petition.sponsor_token, request.GET.get("token")):
        raise Http404("No such petition")
    if petition.state in VISIBLE_STATES:
        return None, redirect(petition.get_absolute_url())
    return petition, None


@require_http_methods(["GET", "HEAD", "POST"])
def sponsor_new(request, petition_id: int):
    petition, response = _sponsor_petition(request, petition_id)
    if response is not None:
        return response
    site = SiteSettings.load()
    if site.disable_collecting_signatures:
        return render(request, "signatures/paused.html", {"petition": petition})
    # Only the creator was sent this link, so opening it proves their email address.
    if services.petition_creator_validate(petition=petition):
        petition.refresh_from_db(fields=["state"])
    sponsors = selectors.petition_validated_sponsor_count(petition=petition)
    context = {"petition": petition, "site": site, "token": petition.sponsor_token}
    if sponsors >= site.maximum_sponsors:
        return render(request, "petitions/sponsors/no_more_needed.html", context)
    if request.method == "POST":
        form = SignatureForm(request.POST)
        if form.is_valid():
            services.signature_create(
                petition=petition, **form.signer_details(), ip_address=_client_ip(request), sponsor=True
            )
            return redirect(
                f"{reverse('petitions:sponsor_thank_you', args=[petition.pk])}?token={petition.sponsor_token}"
            )
    else:
        form = SignatureForm()
    context.update(form=form, sponsors_needed=max(site.minimum_sponsors - sponsors, 0))
    return render(request, "petitions/sponsors/new.html", context)


@require_safe
def sponsor_thank_you(request, petition_id: int):
    petition, response = _sponsor_petition(request, petition_id)
    if response is not None:
        return response
    return render(request, "petitions/sponsors/thank_you.html", {"petition": petition})


# --- Confirming a signature -----------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def signature_confirm(request, signature_id: int):
    """GET shows one "Confirm" button; only its POST confirms, so mail scanners that fetch links don't."""
    token = (request.POST.get("token") if request.method == "POST" else None) or request.GET.get("token")
    if request.method == "POST":
        # The busiest request after signing: only the columns it needs, and get() (no ORDER BY to build).
        try:
            signature = Signature.objects.only("confirm_token", "petition_id").get(pk=signature_id)
        except Signature.DoesNotExist:
            raise Http404("No such signature") from None
        if not services.signing.tokens_match(signature.confirm_token, token):
            raise Http404("No such signature")
        try:
            services.signature_confirm(signature=signature, token=token, ip_address=_client_ip(request))
        except services.SignatureTokenInvalid as error:
            raise Http404("No such signature") from error
        except services.SignatureNotConfirmable as error:
            petition = Petition.objects.get(pk=signature.petition_id)
            return _confirmation_refused(request, petition, error.reason)
        return redirect(f"{reverse('petitions:signature_confirm', args=[signature.pk])}?token={token}")
    signature = Signature.objects.select_related("petition").filter(pk=signature_id).first()
    if signature is None or not services.signing.tokens_match(signature.confirm_token, token):
        raise Http404("No such signature")
    petition = signature.petition
    reason = selectors.signature_confirm_refusal_reason(petition=petition)
    if reason is not None:
        return _confirmation_refused(request, petition, reason)
    if signature.withdrawn_at is not None:
        # Confirming a withdrawn signature changes nothing; say so rather than "We've added your signature".
        return render(request, "signatures/withdrawn.html", {"signature": signature, "petition": petition})
    # A fraudulent signature shows the button until its owner has pressed it, then "confirmed": like any other.
    if signature.state == SignatureState.PENDING or (
        signature.state == SignatureState.FRAUDULENT and signature.validated_at is None
    ):
        return render(
            request, "signatures/confirm.html", {"signature": signature, "petition": petition, "token": token}
        )
    context = {"signature": signature, "petition": petition, "sponsors_needed": None}
    if signature.sponsor and petition.state in COLLECTING_SPONSORS_STATES:
        site = SiteSettings.load()
        sponsors = selectors.petition_validated_sponsor_count(petition=petition)
        context["sponsors_needed"] = max(site.minimum_sponsors - sponsors, 0)
    return render(request, "signatures/confirmed.html", context)


def _confirmation_refused(request, petition, reason: str):
    if reason == "paused":
        return render(request, "signatures/paused.html", {"petition": petition})
    return render(request, "signatures/closed.html", {"petition": petition}, status=410)


# --- Signing an open petition ----------------------------------------------------------------------------


#: What signing and its pages need of the petition: fewer columns make the busiest query cheaper to build.
SIGNING_PETITION_FIELDS = ("state", "opened_at", "deadline_at", "action", "background", "additional_details")


def _signable_petition(request, petition_id: int):
    """(petition, None) when the petition takes signatures now, else (None, the response to give)."""
    try:
        petition = Petition.objects.only(*SIGNING_PETITION_FIELDS).get(pk=petition_id)
    except Petition.DoesNotExist:
        raise Http404("No such petition") from None
    if petition.state not in (
        *VISIBLE_STATES,
        PetitionState.REMOVED,
        PetitionState.HIDDEN,
    ):
        raise Http404("No such petition")
    if petition.state in (PetitionState.REMOVED, PetitionState.HIDDEN):
        if petition.opened_at is None:
            raise Http404("No such petition")
        return None, render(request, "410.html", {"petition": petition}, status=410)
    # An open petition past its deadline is closed, even before the closing job has run.
    if petition.state != PetitionState.OPEN or (
        petition.deadline_at is not None and petition.deadline_at <= timezone.now()
    ):
        return None, render(request, "signatures/closed.html", {"petition": petition}, status=410)
    if SiteSettings.cached().disable_collecting_signatures:
        return None, render(request, "signatures/paused.html", {"petition": petition})
    return petition, None


@require_http_methods(["GET", "HEAD", "POST"])
def signature_new(request, petition_id: int):
    petition, response = _signable_petition(request, petition_id)
    if response is not None:
        return response
    if request.method == "POST":
        form = SignatureForm(request.POST)
        if form.is_valid():
            # The same redirect whether or not the address has signed before: nobody can learn who signed.
            services.signature_create(
                petition=petition, **form.signer_details(), ip_address=_client_ip(request)
            )
            return redirect("petitions:sign_thank_you", petition_id=petition.pk)
    else:
        form = SignatureForm()
    return render(request, "signatures/new.html", {"petition": petition, "form": form})


@require_safe
def signature_thank_you(request, petition_id: int):
    petition = Petition.objects.filter(pk=petition_id, state__in=VISIBLE_STATES).first()
    if petition is None:
        raise Http404("No such petition")
    return render(request, "signatures/thank_you.html", {"petition": petition})


# --- Signer self-service: unsubscribing and withdrawing ------------------------------------------------------
# Both links carry a token and nothing else (never an address). GET only shows a page with one button, so mail
# scanners that fetch links change nothing; the POST acts, idempotently.

#: Status codes for a withdrawal the service refuses.
WITHDRAW_REFUSAL_STATUS = {"creator": 403, "in_moderation": 409, "closed": 410}


def _signature_from_link(request, signature_id: int, token_field: str) -> tuple[Signature, str]:
    """The signature an email link names and its token (from the query string, or a form's hidden field).
    An unknown id and a wrong token both give the same 404."""
    token = request.GET.get("token") or request.POST.get("token")
    signature = Signature.objects.select_related("petition").filter(pk=signature_id).first()
    if signature is None or not services.signing.tokens_match(getattr(signature, token_field), token):
        raise Http404("No such signature")
    return signature, token


def _unsubscribe_creator_refused(request, petition):
    return render(request, "signatures/unsubscribe_creator.html", {"petition": petition}, status=403)


# No CSRF check: the 256-bit token in the URL alone authorises unsubscribing, no cookie or session is involved,
# so a forged cross-site POST would need the token, which only the signer's mailbox has. And RFC 8058 one-click
# POSTs (body "List-Unsubscribe=One-Click") come from mail providers, with no cookie or CSRF token at all.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def signature_unsubscribe(request, signature_id: int):
    """GET shows one "Unsubscribe" button. Its POST, or a mail client's one-click POST to the URL in the
    List-Unsubscribe header, unsubscribes the signature from emails about its petition."""
    signature, token = _signature_from_link(request, signature_id, "unsubscribe_token")
    petition = signature.petition
    if request.method == "POST":
        try:
            services.signature_unsubscribe(signature=signature, token=token)
        except services.SignatureTokenInvalid as error:
            raise Http404("No such signature") from error
        except services.SignatureUnsubscribeRefused:
            return _unsubscribe_creator_refused(request, petition)
        return render(request, "signatures/unsubscribed.html", {"signature": signature, "petition": petition})
    if signature.creator:
        return _unsubscribe_creator_refused(request, petition)
    if signature.unsubscribed_at is not None:
        return render(request, "signatures/unsubscribed.html", {"signature": signature, "petition": petition})
    return render(
        request,
        "signatures/unsubscribe.html",
        {"signature": signature, "petition": petition, "token": signature.unsubscribe_token},
    )


def _withdraw_refused(request, signature, petition, reason: str):
    return render(
        request,
        "signatures/withdraw_refused.html",
        {"signature": signature, "petition": petition, "reason": reason},
        status=WITHDRAW_REFUSAL_STATUS[reason],
    )


@require_http_methods(["GET", "HEAD", "POST"])
def signature_withdraw(request, signature_id: int):
    """GET shows one "Remove my signature" button; its POST withdraws the signature. The link is in the
    confirmation email, so the token is the confirmation token. The pages are the same whatever the
    signature's state, so a silently banned signer learns nothing."""
    signature, token = _signature_from_link(request, signature_id, "confirm_token")
    petition = signature.petition
    if request.method == "POST":
        try:
            services.signature_withdraw(signature=signature, token=token)
        except services.SignatureTokenInvalid as error:
            raise Http404("No such signature") from error
        except services.SignatureWithdrawRefused as error:
            return _withdraw_refused(request, signature, petition, error.reason)
        return render(request, "signatures/withdrawn.html", {"signature": signature, "petition": petition})
    if signature.withdrawn_at is not None:
        return render(request, "signatures/withdrawn.html", {"signature": signature, "petition": petition})
    reason = services.signature_withdraw_refusal_reason(signature=signature, petition=petition)
    if reason is not None:
        return _withdraw_refused(request, signature, petition, reason)
    return render(
        request,
        "signatures/withdraw.html",
        {"signature": signature, "petition": petition, "token": signature.confirm_token},
    )
