"""The Django admin for staff: reference data, petitions, signatures, rejections, site settings, audit log.

Every edit made here is recorded in the AuditLog (AuditedAdminMixin). Lifecycle fields (states, the
dates they were reached, counts) are set by the services and tally jobs, so only sysadmins may edit
them here, as a repair tool; other staff edit a petition's text and classification.
"""

import contextlib
import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Count, DateTimeField, F, Q, When
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .admin_mixins import (
    HTTPS_URL_FIELDS,
    AuditedAdminMixin,
    PetitionIdSearchMixin,
    ReadOnlyAdminMixin,
    petition_link,
)
from .models import (
    IN_MODERATION_STATES,
    AuditLog,
    Constituency,
    ConstituencyPetitionJournal,
    Country,
    CountryPetitionJournal,
    Department,
    DissolutionNotification,
    EmailDomainRule,
    Parliament,
    Petition,
    PetitionHourlyCount,
    Region,
    Rejection,
    RejectionReason,
    ResponseState,
    Signature,
    SiteSettings,
    Topic,
)
from .services.moderation import (
    EMAILED_ACTIONS,
    MODERATION_ACTIONS,
    REJECTING_ACTIONS,
    NotAllowed,
    TransitionError,
    lock_message,
    user_display_name,
)

admin.site.site_header = "Petitions administration"
admin.site.site_title = "Petitions admin"
admin.site.index_title = "Site administration"


def _is_sysadmin(request) -> bool:
    return services.is_sysadmin(request.user)


# --- Reference data -------------------------------------------------------------------------------


@admin.register(Country)
class CountryAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "code", "start_date", "end_date")
    search_fields = ("name", "code")
    ordering = ("name",)


@admin.register(Region)
class RegionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "api_code", "gss_code", "nation")
    list_filter = ("nation",)
    search_fields = ("name", "gss_code")
    ordering = ("api_code",)


@admin.register(Constituency)
class ConstituencyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "gss_code", "region", "nation", "mp_name", "party")
    list_filter = ("nation", "region")
    list_select_related = ("region",)
    search_fields = ("name", "name_cy", "gss_code", "mp_name")
    ordering = ("name",)


@admin.register(Department)
class DepartmentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "acronym", "url")
    search_fields = ("name", "acronym")
    ordering = ("name",)
    formfield_overrides = HTTPS_URL_FIELDS


@admin.register(Topic)
class TopicAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "code")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}
    ordering = ("name",)


@admin.register(RejectionReason)
class RejectionReasonAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("title", "code", "hidden")
    list_filter = ("hidden",)
    search_fields = ("title", "code", "description")
    ordering = ("title",)


# --- Site settings (a singleton) ------------------------------------------------------------------


class SiteSettingsForm(forms.ModelForm):
    class Meta:
        model = SiteSettings
        fields = (
            "threshold_for_response",
            "threshold_for_debate",
            "petition_duration_months",
            "minimum_sponsors",
            "maximum_sponsors",
            "moderation_delay_threshold",
            "moderation_delay_message",
            "banner_message",
            "update_signature_counts",
            "signature_count_interval",
            "disable_collecting_signatures",
            "disable_petition_creation",
            "disable_notifications",
            "bulk_email_rate",
            "bulk_email_night_only",
            "bulk_email_night_starts",
            "bulk_email_night_ends",
            "feedback_email",
        )

    def clean(self):
        cleaned = super().clean()
        minimum, maximum = cleaned.get("minimum_sponsors"), cleaned.get("maximum_sponsors")
        if minimum is not None and maximum is not None and maximum < minimum:
            self.add_error("maximum_sponsors", "The maximum number of sponsors can't be below the minimum.")
        rate = cleaned.get("bulk_email_rate")
        if rate is not None and rate < 1:
            self.add_error(
                "bulk_email_rate", "Enter a rate of at least 1 email a second (pause bulk email instead)."
            )
        starts, ends = cleaned.get("bulk_email_night_starts"), cleaned.get("bulk_email_night_ends")
        if cleaned.get("bulk_email_night_only") and starts is not None and starts == ends:
            self.add_error(
                "bulk_email_night_ends",
                "The night window must end at a different hour from the one it starts at.",
            )
        return cleaned


@admin.register(SiteSettings)
class SiteSettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Sysadmins only: the other groups have no site-settings permission (petitions.groups)."""

    form = SiteSettingsForm
    fieldsets = (
        ("Thresholds", {"fields": ("threshold_for_response", "threshold_for_debate")}),
        ("Petitions", {"fields": ("petition_duration_months", "minimum_sponsors", "maximum_sponsors")}),
        ("Moderation", {"fields": ("moderation_delay_threshold", "moderation_delay_message")}),
        ("Government responses", {"fields": ("response_overdue_months",)}),
        ("Messages", {"fields": ("banner_message",)}),
        (
            "Signature counting",
            {"fields": ("update_signature_counts", "signature_count_interval", "signature_count_updated_at")},
        ),
        (
            "Switches",
            {
                "fields": (
                    "disable_collecting_signatures",
                    "disable_petition_creation",
                )
            },
        ),
        (
            "Bulk email",
            {
                "description": "Emails to every signer of a petition (responses, debates). Sending resumes where "
                "it stopped when bulk email is switched back on or the night window opens.",
                "fields": (
                    "disable_notifications",
                    "bulk_email_rate",
                    "bulk_email_night_only",
                    ("bulk_email_night_starts", "bulk_email_night_ends"),
                ),
            },
        ),
        ("Contact", {"fields": ("feedback_email", "updated_at")}),
    )
    readonly_fields = ("signature_count_updated_at", "updated_at")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not SiteSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        """There is only one row: go straight to it (creating it with the defaults if need be)."""
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)  # raises PermissionDenied
        obj = SiteSettings.load()
        return HttpResponseRedirect(reverse("admin:petitions_sitesettings_change", args=[obj.pk]))


# --- Petitions ------------------------------------------------------------------------------------


class RejectionInline(admin.StackedInline):
    """Shown on the petition page, read-only: reject petitions through moderation (or the Rejection admin)."""

    model = Rejection
    fields = ("reason", "details", "created_at", "created_by")
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 1

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


_LIFECYCLE_FIELDS = (
    "state",
    "response_state",
    "debate_state",
    "opened_at",
    "deadline_at",
    "closed_at",
    "rejected_at",
    "stopped_at",
    "removed_at",
    "state_at_removal",
    "moderation_threshold_reached_at",
    "response_threshold_reached_at",
    "government_response_at",
    "debate_threshold_reached_at",
    "scheduled_debate_date",
    "debate_scheduled_on",
    "debate_outcome_at",
    "locked_by",
    "locked_at",
)


# --- Moderation queue (reference §1.5): buckets by days waiting since the moderation threshold -------

NEARLY_OVERDUE_DAYS = 11
OVERDUE_DAYS = 14


def _waiting_since():
    # Petitions flagged before reaching the threshold have no threshold time: they wait from creation.
    return Coalesce("moderation_threshold_reached_at", "created_at")


def _queue_buckets(now) -> dict[str, Q]:
    nearly_overdue = now - timedelta(days=NEARLY_OVERDUE_DAYS)
    overdue = now - timedelta(days=OVERDUE_DAYS)
    return {
        "recent": Q(waiting_since__gt=nearly_overdue),
        "nearly_overdue": Q(waiting_since__gt=overdue, waiting_since__lte=nearly_overdue),
        "overdue": Q(waiting_since__lte=overdue),
        "all": Q(),
    }


def moderation_queue_summary(now=None) -> dict:
    """The queue's size per bucket (one query) and whether it has reached the moderation-delay threshold."""
    buckets = _queue_buckets(now or timezone.now())
    counts = (
        Petition.objects.in_moderation()
        .annotate(waiting_since=_waiting_since())
        .aggregate(**{name: Count("pk", filter=condition) for name, condition in buckets.items()})
    )
    threshold = SiteSettings.load().moderation_delay_threshold
    return {**counts, "threshold": threshold, "delayed": counts["all"] >= threshold}


class ModerationQueueFilter(admin.SimpleListFilter):
    """Petitions in moderation, by how long they have waited; the list is then ordered oldest first."""

    title = "Moderation"
    parameter_name = "moderation"

    def lookups(self, request, model_admin):
        return (
            ("recent", f"0–{NEARLY_OVERDUE_DAYS} days"),
            ("nearly_overdue", f"{NEARLY_OVERDUE_DAYS}–{OVERDUE_DAYS} days"),
            ("overdue", f"over {OVERDUE_DAYS} days"),
            ("all", "whole queue"),
        )

    def queryset(self, request, queryset):
        condition = _queue_buckets(timezone.now()).get(self.value())
        if condition is None:
            return queryset
        return queryset.filter(condition, state__in=IN_MODERATION_STATES)


class RejectionReasonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.title} (hidden)" if obj.hidden else obj.title


class ModerationForm(forms.Form):
    """The moderation page's form. Every action is accepted here; the service decides what is allowed."""

    action = forms.ChoiceField(
        label="Decision",
        choices=list(MODERATION_ACTIONS.items()),
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what to do with this petition."},
    )
    reason = RejectionReasonChoiceField(
        queryset=RejectionReason.objects.order_by("title"),
        to_field_name="code",
        required=False,
        label="Rejection reason",
        empty_label="Choose a reason",
        help_text="For Reject and Take down. A hidden reason hides the petition from the public.",
    )
    details = forms.CharField(
        label="Rejection details",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="Optional, up to 4,000 characters. Shown with a rejected petition and in the emails.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") in REJECTING_ACTIONS and not cleaned.get("reason"):
            self.add_error("reason", "Choose a rejection reason.")
        return cleaned


def _is_response_autocomplete(request) -> bool:
    """The petition autocomplete of the government response form."""
    match = getattr(request, "resolver_match", None)
    return (
        match is not None
        and match.url_name == "autocomplete"
        and request.GET.get("app_label") == "responses"
        and request.GET.get("model_name") == "governmentresponse"
    )


_DONE = {
    "publish": "Petition published.",
    "reject": "Petition rejected.",
    "flag": "Petition flagged.",
    "dormant": "Petition marked as dormant.",
    "restore": "Petition restored to the moderation queue.",
    "take_down": "Petition taken down.",
    "remove": "Petition removed from the site.",
}


@admin.register(Petition)
class PetitionAdmin(AuditedAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    petition_id_lookup = "pk"
    list_display = (
        "id",
        "action",
        "state",
        "response_state",
        "debate_state",
        "signature_count",
        "days_waiting",
        "lock_holder",
        "created_at",
    )
    list_display_links = ("id", "action")
    list_select_related = ("locked_by",)
    list_filter = (ModerationQueueFilter, "state", "response_state", "debate_state", "topics", "departments")
    search_fields = ("action", "background")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
    filter_horizontal = ("departments", "topics")
    raw_id_fields = ("locked_by",)
    inlines = (RejectionInline,)
    fieldsets = (
        (None, {"fields": ("action", "background", "additional_details", "committee_note")}),
        ("Classification", {"fields": ("departments", "topics")}),
        ("Flags", {"fields": ("special_consideration", "do_not_anonymize")}),
        ("State", {"fields": ("state", "response_state", "debate_state", "state_at_removal")}),
        ("Signatures", {"fields": ("signature_count", "last_signed_at", "signature_count_validated_at")}),
        (
            "Moderation",
            {"fields": ("lock_status", "moderated_by", "moderation_lag", "locked_by", "locked_at")},
        ),
        (
            "Dates",
            {
                "classes": ("collapse",),
                "fields": (
                    "created_at",
                    "updated_at",
                    "opened_at",
                    "deadline_at",
                    "closed_at",
                    "rejected_at",
                    "stopped_at",
                    "removed_at",
                    "moderation_threshold_reached_at",
                    "response_threshold_reached_at",
                    "government_response_at",
                    "debate_threshold_reached_at",
                    "scheduled_debate_date",
                    "debate_scheduled_on",
                    "debate_outcome_at",
                    "anonymized_at",
                ),
            },
        ),
    )
    readonly_fields = (
        "lock_status",
        "signature_count",
        "last_signed_at",
        "signature_count_validated_at",
        "moderated_by",
        "moderation_lag",
        "created_at",
        "updated_at",
        "anonymized_at",
    )

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if _is_sysadmin(request) else (*fields, *_LIFECYCLE_FIELDS)

    def get_queryset(self, request):
        # As ModelAdmin.get_queryset, with the annotation in place before the ordering may use it.
        queryset = self.model._default_manager.get_queryset().annotate(waiting_since=_waiting_since())
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_ordering(self, request):
        if request.GET.get(ModerationQueueFilter.parameter_name) in _queue_buckets(timezone.now()):
            return ("waiting_since", "pk")  # the moderation queue: oldest first
        return super().get_ordering(request)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if _is_response_autocomplete(request):
            # Choosing a response's petition: those awaiting a response first, the longest waiting first.
            awaiting_since = Case(
                When(response_state=ResponseState.AWAITING, then=F("response_threshold_reached_at")),
                output_field=DateTimeField(),
            )
            queryset = queryset.order_by(awaiting_since.asc(nulls_last=True), "-created_at", "-pk")
        return queryset, may_have_duplicates

    @admin.display(description="Days waiting", ordering="waiting_since")
    def days_waiting(self, obj):
        since = getattr(obj, "waiting_since", None)
        if obj.state not in IN_MODERATION_STATES or since is None:
            return None
        return (timezone.now() - since).days

    @admin.display(description="Locked by")
    def lock_holder(self, obj):
        holder = services.petition_lock_holder(obj)
        return user_display_name(holder) if holder is not None else None

    @admin.display(description="Edit lock")
    def lock_status(self, obj):
        if obj is None or obj.pk is None or services.petition_lock_holder(obj) is None:
            return "Nobody is moderating this petition."
        return lock_message(obj)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "moderation_queue": moderation_queue_summary()}
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_moderate"] = obj is not None and services.is_moderator(request.user)
        if obj is not None and services.petition_lock_holder(obj) is not None:
            context["lock_message"] = lock_message(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- The moderation page: /admin/petitions/petition/<id>/moderate/

    def get_urls(self):
        moderate = path(
            "<path:object_id>/moderate/",
            self.admin_site.admin_view(self.moderate_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_moderate",
        )
        return [moderate, *super().get_urls()]

    def moderate_view(self, request, object_id):
        """Opening the page takes the edit lock; the form runs one moderation service."""
        if not services.is_moderator(request.user):
            raise PermissionDenied
        petition = self.get_object(request, unquote(object_id))
        if petition is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        change_url = reverse("admin:petitions_petition_change", args=[petition.pk])

        form = ModerationForm()
        if request.method == "POST" and "_take_over" in request.POST:
            services.petition_lock(petition=petition, actor=request.user, force=True)
            messages.success(request, "You are now moderating this petition.")
            return HttpResponseRedirect(request.path)
        if request.method == "POST" and "_release" in request.POST:
            if services.petition_unlock(petition=petition, actor=request.user):
                messages.info(request, "You are no longer moderating this petition.")
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            form = ModerationForm(request.POST)
            if form.is_valid():
                action, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
                email = "_save_and_email" in request.POST and action in EMAILED_ACTIONS
                try:
                    services.petition_moderate(
                        petition=petition,
                        actor=request.user,
                        action=action,
                        reason_code=reason.code if reason else "",
                        details=form.cleaned_data["details"],
                        email=email,
                    )
                except TransitionError as error:
                    messages.error(request, str(error))
                    petition.refresh_from_db()
                else:
                    done = _DONE[action]
                    if action == "publish" and petition.state == "closed":
                        done = "Petition published; it is closed, as its deadline had already passed."
                    elif action in REJECTING_ACTIONS and petition.state == "hidden":
                        done = done.removesuffix(".") + " and hidden."
                    if email:
                        done += " The creator and sponsors will be emailed."
                    messages.success(request, done)
                    return HttpResponseRedirect(change_url)
        else:
            # Someone else may hold the lock: then the page says who, and offers to take over.
            with contextlib.suppress(TransitionError):
                services.petition_lock(petition=petition, actor=request.user)

        holder = services.petition_lock_holder(petition)
        locked_by_other = holder is not None and holder.pk != request.user.pk
        refusals = services.moderation_actions(petition=petition, actor=request.user)
        form.fields["action"].choices = [
            (action, label) for action, label in MODERATION_ACTIONS.items() if refusals[action] is None
        ]
        notes = [
            str(error)
            for action, error in refusals.items()
            if isinstance(error, NotAllowed) or (action == "publish" and petition.state == "pending")
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Moderate petition {petition.pk}",
            "subtitle": None,
            "opts": self.opts,
            "original": petition,
            "form": form,
            "lock_message": lock_message(petition) if locked_by_other else "",
            "notes": notes,
            "rejection": Rejection.objects.select_related("reason").filter(petition=petition).first(),
            "days_waiting": self.days_waiting(
                Petition.objects.annotate(waiting_since=_waiting_since()).get(pk=petition.pk)
            ),
            "change_url": change_url,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/petitions/petition/moderate.html", context)


@admin.register(Signature)
class SignatureAdmin(AuditedAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    """Up to millions of rows: no full count, no date drill-down, ordered by the primary key.

    The list never shows email addresses (staff can still search by one, exactly).
    """

    list_display = ("id", "name", petition_link, "state", "fraud_reason", "constituency", "created_at")
    list_display_links = ("id", "name")
    list_filter = ("state", "fraud_reason", "creator", "sponsor", "notify_by_email")
    list_select_related = ("constituency",)
    search_fields = ("=email", "=canonical_email", "name", "=postcode")
    search_help_text = (
        "A number finds a petition's signatures; otherwise exact email or postcode, or part of a name."
    )
    show_full_result_count = False
    ordering = ("-id",)
    list_per_page = 50
    raw_id_fields = ("petition",)
    autocomplete_fields = ("country", "constituency")
    readonly_fields = (
        "email_count",
        "created_at",
        "updated_at",
        "validated_at",
        "invalidated_at",
        "anonymized_at",
    )
    fieldsets = (
        (None, {"fields": ("petition", "name", "email", "canonical_email", "state")}),
        ("Location", {"fields": ("postcode", "country", "constituency")}),
        ("Role", {"fields": ("creator", "sponsor", "notify_by_email")}),
        ("Tracking", {"fields": ("ip_address", "validated_ip", "email_count")}),
        (
            "Dates",
            {"fields": ("created_at", "updated_at", "validated_at", "invalidated_at", "anonymized_at")},
        ),
    )


class _JournalAdmin(ReadOnlyAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    """Journals are caches of the signature rows, rebuilt by `petition_recount`: read-only here."""

    list_display_links = None
    show_full_result_count = False
    ordering = ("-id",)
    raw_id_fields = ("petition",)


@admin.register(ConstituencyPetitionJournal)
class ConstituencyPetitionJournalAdmin(_JournalAdmin):
    list_display = ("id", petition_link, "constituency", "signature_count", "last_signed_at")
    list_display_links = ("id",)
    list_select_related = ("constituency",)
    search_fields = ("constituency__name", "=constituency__gss_code")


@admin.register(CountryPetitionJournal)
class CountryPetitionJournalAdmin(_JournalAdmin):
    list_display = ("id", petition_link, "country", "signature_count", "last_signed_at")
    list_display_links = ("id",)
    list_select_related = ("country",)
    search_fields = ("country__name", "=country__code")


@admin.register(PetitionHourlyCount)
class PetitionHourlyCountAdmin(_JournalAdmin):
    list_display = ("id", petition_link, "hour", "signature_count")
    list_display_links = ("id",)
    date_hierarchy = "hour"


class RejectionAdminForm(forms.ModelForm):
    """Checks, before saving, that the moderation rules allow this rejection (see RejectionAdmin)."""

    actor = None  # set per request by RejectionAdmin.get_form

    class Meta:
        model = Rejection
        fields = ("petition", "reason", "details")

    def clean(self):
        cleaned = super().clean()
        petition = cleaned.get("petition") or (self.instance.petition if self.instance.pk else None)
        if petition is not None and cleaned.get("reason") is not None:
            action = "take_down" if petition.state == "open" else "reject"
            try:
                services.moderation_check(action=action, petition=petition, actor=self.actor)
            except TransitionError as error:
                raise ValidationError(str(error)) from error
        return cleaned


@admin.register(Rejection)
class RejectionAdmin(AuditedAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    """Adding or changing a rejection here rejects the petition (or takes it down) through the moderation
    services, so its state, dates and audit row follow, exactly as from the moderation page."""

    form = RejectionAdminForm
    list_display = ("id", petition_link, "reason", "created_at", "created_by")
    list_filter = ("reason",)
    list_select_related = ("reason", "created_by")
    search_fields = ("details",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    raw_id_fields = ("petition",)
    readonly_fields = ("created_at", "created_by")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "petition") if obj is not None else fields

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except TransitionError as error:  # the petition changed between the form check and the save
            messages.error(request, str(error))
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        petition = obj.petition
        reject = services.petition_take_down if petition.state == "open" else services.petition_reject
        reject(petition=petition, actor=request.user, reason_code=obj.reason.code, details=obj.details)
        saved = Rejection.objects.get(petition=petition)
        obj.pk, obj.created_at, obj.created_by = saved.pk, saved.created_at, saved.created_by


# --- Audit log (read-only for everyone) -----------------------------------------------------------


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "object_link")
    list_filter = ("action", "object_type")
    list_select_related = ("actor",)
    search_fields = ("action", "=object_id", "object_repr", "actor__username")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    list_per_page = 100
    fields = ("created_at", "actor", "action", "object_type", "object_id", "object_link", "details_json")
    readonly_fields = fields

    @admin.display(description="Object")
    def object_link(self, obj):
        label = obj.object_repr or f"{obj.object_type} {obj.object_id}"
        app_label, _, model_name = obj.object_type.partition(".")
        try:
            url = reverse(f"admin:{app_label}_{model_name}_change", args=[obj.object_id])
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="Details")
    def details_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.details, indent=2, sort_keys=True, default=str))


@admin.register(Parliament)
class ParliamentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "opened_at",
        "dissolution_at",
        "dissolution_processed_at",
        "dissolution_emails_sent_at",
    )
    readonly_fields = ("dissolution_processed_at", "dissolution_emails_sent_at", "created_at")
    ordering = ("-opened_at",)

    def get_readonly_fields(self, request, obj=None):
        # Once processed, changing the date would change nothing: petitions are already closed and stopped.
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "dissolution_at") if obj is not None and obj.dissolution_processed_at else fields


@admin.register(DissolutionNotification)
class DissolutionNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: one row per person told about a dissolution."""

    list_display = ("id", "parliament", "sent_at")
    list_filter = ("parliament",)
    show_full_result_count = False


@admin.register(EmailDomainRule)
class EmailDomainRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("domain", "strip_dots", "strip_plus_tags", "alias_of")
    search_fields = ("domain", "alias_of")


from . import admin_fraud  # noqa: E402, F401, I001 - registers the rate limit, list and trending admins
from . import admin_invalidations  # noqa: E402, F401 - registers the Invalidation admin
from . import admin_notices  # noqa: E402, F401 - registers the Notice and NoticeDelivery admins
