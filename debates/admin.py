"""The admin's staff workflow for parliamentary business: Debate editors and Sysadmins change it, Reviewers read
it, other staff do not see it.

Events and other business are edited with the usual forms (links checked against settings.PARLIAMENT_LINK_HOSTS);
the workflow's steps go through debates.services, each with its audit row:
- "Schedule debate" / "Schedule and email signers" (POST buttons on an event's page): its petitions become
  "Debate scheduled" for the event's date;
- "Record outcome: debated" / "Record outcome: not debated": a form page (overview and links, or the reason;
  "Email signers"), then its petitions become "Debated" / "Not debated";
- other business is published when saved; "Publish and email signers" (a POST button) emails its signers.
The petition and lead MP autocompletes use their own endpoint: petitions awaiting a debate decision first, MPs
shown by name.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, DateTimeField, F, OuterRef, Subquery, When
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from petitions.admin_mixins import (
    HTTPS_URL_FIELDS,
    AuditedAdminMixin,
    ObjectButtonsAdminMixin,
    PetitionIdSearchMixin,
    petition_link,
)
from petitions.models import Constituency, DebateState, NoticeKind, Petition
from petitions.services import TransitionError
from petitions.templatetags.petition_tags import clock_time, day_date

from . import admin_alerts  # noqa: F401 - registers the alert models
from .forms import (
    DebatedForm,
    EventAutocompleteSelect,
    EventAutocompleteSelectMultiple,
    NotDebatedForm,
    OtherBusinessForm,
    ParliamentaryEventForm,
    lead_mp_label,
)
from .models import DEBATE_KINDS, OtherBusiness, Outcome, ParliamentaryEvent
from .services import (
    SignersEmail,
    event_record_outcome,
    event_schedule_debate,
    is_debate_editor,
    kind_name,
    other_business_publish,
    signers_emailed,
)

CHANGE_EVENT = "debates.change_parliamentaryevent"
CHANGE_BUSINESS = "debates.change_otherbusiness"

#: The autocompletes this admin serves: (app label, model name, field name) of the form field.
AUTOCOMPLETE_SOURCES = {
    ("debates", "parliamentaryevent", "petitions"),
    ("debates", "parliamentaryevent", "lead_mp"),
    ("debates", "otherbusiness", "petition"),
}


class EventAutocompleteView(AutocompleteJsonView):
    """Django's autocomplete, for the debates forms: petitions awaiting a debate decision first (the longest
    waiting first), each with its debate state and signatures; MPs by name, with their constituency."""

    def process_request(self, request):
        source = (request.GET.get("app_label"), request.GET.get("model_name"), request.GET.get("field_name"))
        if source not in AUTOCOMPLETE_SOURCES:
            raise PermissionDenied
        return super().process_request(request)

    def has_perm(self, request, obj=None):
        # For the people who fill in these forms only, though other staff may see petitions elsewhere.
        return super().has_perm(request, obj) and is_debate_editor(request.user)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.source_field.remote_field.model is Petition:
            awaiting_since = Case(
                When(debate_state=DebateState.AWAITING, then=F("debate_threshold_reached_at")),
                output_field=DateTimeField(),
            )
            queryset = queryset.order_by(awaiting_since.asc(nulls_last=True), "-created_at", "-pk")
        return queryset

    def serialize_result(self, obj, to_field_name):
        if isinstance(obj, Petition):
            text = (
                f"{obj.pk}: {obj.action} ({obj.get_debate_state_display().lower()}, "
                f"{obj.signature_count:,} signature{'' if obj.signature_count == 1 else 's'})"
            )
        elif isinstance(obj, Constituency):
            text = lead_mp_label(obj)
        else:
            text = str(obj)
        return {"id": str(getattr(obj, to_field_name)), "text": text}


class DebateEditorsAdminMixin:
    """Model permissions, and the role the services check: Debate editors and Sysadmins change things."""

    def has_add_permission(self, request):
        return super().has_add_permission(request) and is_debate_editor(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and is_debate_editor(request.user)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and is_debate_editor(request.user)

    def button_allowed(self, request) -> bool:
        return request.user.has_perm(self.change_permission) and is_debate_editor(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("petition", "lead_mp"):
            kwargs["widget"] = EventAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "petitions":
            kwargs["widget"] = EventAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def _emails_message(emails: list[SignersEmail]) -> str:
    if not emails:
        return "Signers were not emailed."
    new = [email for email in emails if email.new]
    old = [email for email in emails if not email.new]
    parts = []
    if new:
        numbers = ", ".join(str(email.notice.pk) for email in new)
        parts.append(
            f"The creator and the signers who asked for updates will be emailed (bulk email {numbers})."
            if len(new) == 1
            else f"The creators and the signers who asked for updates will be emailed (bulk emails {numbers})."
        )
    if old:
        petitions = ", ".join(str(email.petition_id) for email in old)
        parts.append(
            f"The signers of petition{'' if len(old) == 1 else 's'} {petitions} were already emailed about "
            "this, so they are not emailed again."
        )
    return " ".join(parts)


def _petitions_text(count: int) -> str:
    return "1 petition is" if count == 1 else f"{count} petitions are"


# --- Parliamentary events --------------------------------------------------------------------------------------


@admin.register(ParliamentaryEvent)
class ParliamentaryEventAdmin(
    AuditedAdminMixin, DebateEditorsAdminMixin, ObjectButtonsAdminMixin, admin.ModelAdmin
):
    change_permission = CHANGE_EVENT
    form = ParliamentaryEventForm
    list_display = ("title", "kind", "starts_at", "lead", "department", "petition_count", "outcome")
    list_filter = ("kind", "outcome", "department")
    list_select_related = ("lead_mp", "department")
    search_fields = ("title", "summary", "place", "lead_mp_name", "lead_mp__mp_name", "lead_mp__name")
    date_hierarchy = "starts_at"
    ordering = ("-starts_at",)
    list_per_page = 50
    formfield_overrides = HTTPS_URL_FIELDS
    readonly_fields = ("outcome", "outcome_reason", "outcome_at", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("kind", "title", "starts_at", "place", "summary", "petitions")}),
        ("Who", {"fields": ("lead_mp", "lead_mp_name", "department")}),
        (
            "Call for evidence or experiences",
            {"fields": ("evidence_deadline", "evidence_url")},
        ),
        (
            "Links",
            {
                "description": "https links to a parliament or government site only.",
                "fields": (
                    "more_info_url",
                    "video_url",
                    "transcript_url",
                    "debate_pack_url",
                    "public_engagement_url",
                    "debate_summary_url",
                ),
            },
        ),
        (
            "Outcome",
            {
                "description": "Debates only. The outcome is recorded with the buttons at the top of the page.",
                "fields": ("outcome", "outcome_reason", "outcome_at", "overview"),
            },
        ),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # A subquery, not a join with GROUP BY, so the changelist's counts and date drill-down stay plain.
        links = (
            ParliamentaryEvent.petitions.through.objects.filter(parliamentaryevent_id=OuterRef("pk"))
            .order_by()
            .values("parliamentaryevent_id")
            .annotate(count=Count("*"))
            .values("count")
        )
        return super().get_queryset(request).annotate(petition_count=Coalesce(Subquery(links), 0))

    def has_delete_permission(self, request, obj=None):
        # A debate with an outcome is the record of what Parliament did about its petitions.
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.outcome)

    def get_actions(self, request):
        # "Delete selected" would bypass the outcome check above.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="Lead")
    def lead(self, obj):
        return obj.lead

    @admin.display(description="Petitions", ordering="petition_count")
    def petition_count(self, obj):
        return obj.petition_count

    # --- The change page: the debate's state, its petitions and the workflow's buttons

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            can_act = self.button_allowed(request)
            is_debate = obj.kind in DEBATE_KINDS
            petitions = list(
                obj.petitions.order_by("pk").only(
                    "pk", "action", "state", "debate_state", "scheduled_debate_date", "signature_count"
                )
            )
            emailed = {}
            for kind in (NoticeKind.DEBATE_SCHEDULED, NoticeKind.DEBATE_OUTCOME):
                for petition_id in signers_emailed(
                    kind=kind, source=obj, petition_ids=[p.pk for p in petitions]
                ):
                    emailed.setdefault(petition_id, []).append(kind.label.lower())
            for petition in petitions:
                petition.emailed = emailed.get(petition.pk, [])
                petition.admin_url = reverse("admin:petitions_petition_change", args=[petition.pk])
            past = obj.starts_at <= timezone.now()
            context.update(
                is_debate=is_debate,
                event_petitions=petitions,
                event_past=past,
                can_schedule=can_act and is_debate and bool(petitions) and not obj.outcome and not past,
                can_record_debated=can_act and is_debate and bool(petitions) and past,
                can_record_not_debated=can_act and is_debate and bool(petitions),
                can_act=can_act,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- URLs: the autocomplete, the outcome pages and the buttons (POSTs to .../<id>/schedule/ and so on)

    object_buttons = {"schedule": "_schedule", "schedule_and_email": "_schedule_and_email"}
    button_errors = (TransitionError,)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "autocomplete/",
                self.admin_site.admin_view(EventAutocompleteView.as_view(admin_site=self.admin_site)),
                name=f"{info}_autocomplete",
            ),
            path(
                "<path:object_id>/outcome/<str:outcome>/",
                self.admin_site.admin_view(self.outcome_view),
                name=f"{info}_outcome",
            ),
            *super().get_urls(),
        ]

    def outcome_view(self, request, object_id, outcome):
        """Record outcome: debated (overview, links) or not debated (the reason), and perhaps email signers."""
        if outcome not in Outcome.values:
            raise Http404("No such outcome.")
        if not self.button_allowed(request):
            raise PermissionDenied
        event = self.get_object(request, unquote(object_id))
        if event is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        change_url = reverse("admin:debates_parliamentaryevent_change", args=[event.pk])
        if event.kind not in DEBATE_KINDS:
            messages.error(request, f"Only debates have an outcome: this is a {kind_name(event)}.")
            return HttpResponseRedirect(change_url)
        form_class = DebatedForm if outcome == Outcome.DEBATED else NotDebatedForm
        if request.method == "POST":
            form = form_class(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    emails = event_record_outcome(
                        event=event,
                        outcome=outcome,
                        actor=request.user,
                        reason=data.get("reason", ""),
                        overview=data.get("overview", ""),
                        links=form.links() if outcome == Outcome.DEBATED else {},
                        email_signers=data["email_signers"],
                    )
                except TransitionError as error:
                    form.add_error(None, str(error))
                else:
                    count = event.petitions.count()
                    state = "“Debated”" if outcome == Outcome.DEBATED else "“Not debated”"
                    messages.success(
                        request,
                        f"Outcome recorded: {event.get_outcome_display().lower()}. {_petitions_text(count)} now "
                        f"{state}. {_emails_message(emails)}",
                    )
                    return HttpResponseRedirect(change_url)
        else:
            form = form_class(initial=form_class.initial_for(event))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Record outcome: {Outcome(outcome).label.lower()}",
            "subtitle": None,
            "opts": self.opts,
            "original": event,
            "outcome": outcome,
            "form": form,
            "petitions": list(event.petitions.order_by("pk").only("pk", "action", "debate_state")),
            "change_url": change_url,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/debates/parliamentaryevent/outcome.html", context)


def _schedule_message(event, emails) -> str:
    count = event.petitions.count()
    when = f"{day_date(event.starts_at)} at {clock_time(event.starts_at)}"
    return f"Debate scheduled for {when}: {_petitions_text(count)} now “Debate scheduled”. {_emails_message(emails)}"


def _schedule(event, actor) -> str:
    emails = event_schedule_debate(
        event=event, petitions=event.petitions.all(), actor=actor, email_signers=False
    )
    return _schedule_message(event, emails)


def _schedule_and_email(event, actor) -> str:
    emails = event_schedule_debate(
        event=event, petitions=event.petitions.all(), actor=actor, email_signers=True
    )
    return _schedule_message(event, emails)


# --- Other parliamentary business ------------------------------------------------------------------------------


@admin.register(OtherBusiness)
class OtherBusinessAdmin(
    AuditedAdminMixin,
    DebateEditorsAdminMixin,
    ObjectButtonsAdminMixin,
    PetitionIdSearchMixin,
    admin.ModelAdmin,
):
    """Saved, an item is on its petition's page; "Publish and email signers" also emails the signers, once.
    AuditedAdminMixin records deletions; saves are audited by the publish service."""

    change_permission = CHANGE_BUSINESS
    form = OtherBusinessForm
    list_display = ("subject", petition_link, "occurred_on", "created_at")
    list_display_links = ("subject",)
    search_fields = ("subject", "body")
    search_help_text = "A petition number, or words from the subject or the text."
    date_hierarchy = "occurred_on"
    ordering = ("-occurred_on", "-created_at")
    list_per_page = 50
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("petition", "subject", "body", "occurred_on")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def save_model(self, request, obj, form, change):
        other_business_publish(
            item=obj, actor=request.user, email_signers=False, changed_fields=form.changed_data
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            emailed = signers_emailed(
                kind=NoticeKind.OTHER_BUSINESS, source=obj, petition_ids=[obj.petition_id]
            )
            context.update(
                can_publish_and_email=self.button_allowed(request) and not emailed,
                signers_emailed=bool(emailed),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    object_buttons = {"publish_and_email": "_publish_business_and_email"}
    button_errors = (TransitionError,)


def _publish_business_and_email(item, actor) -> str:
    email = other_business_publish(item=item, actor=actor, email_signers=True)
    return f"Published on the petition page. {_emails_message([email])}"
