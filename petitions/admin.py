"""The Django admin for staff: reference data, petitions, signatures, rejections, site settings, audit log.

Every edit made here is recorded in the AuditLog (AuditedAdminMixin). Lifecycle fields (states, the
dates they were reached, counts) are set by the services and tally jobs, so only sysadmins may edit
them here, as a repair tool; other staff edit a petition's text and classification.
"""

import json

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from .admin_mixins import HTTPS_URL_FIELDS, AuditedAdminMixin, PetitionIdSearchMixin, petition_link
from .models import (
    AuditLog,
    Constituency,
    ConstituencyPetitionJournal,
    Country,
    CountryPetitionJournal,
    Department,
    DissolutionNotification,
    Parliament,
    Petition,
    Region,
    Rejection,
    RejectionReason,
    Signature,
    SiteSettings,
    Topic,
)

admin.site.site_header = "Petitions administration"
admin.site.site_title = "Petitions admin"
admin.site.index_title = "Site administration"


def _is_sysadmin(request) -> bool:
    # Deleting petitions is a Sysadmins-only permission (petitions.groups), so it marks the role.
    return request.user.is_superuser or request.user.has_perm("petitions.delete_petition")


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


@admin.register(SiteSettings)
class SiteSettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    fieldsets = (
        ("Thresholds", {"fields": ("threshold_for_response", "threshold_for_debate")}),
        ("Petitions", {"fields": ("petition_duration_months", "minimum_sponsors", "maximum_sponsors")}),
        ("Moderation", {"fields": ("moderation_delay_threshold", "moderation_delay_message")}),
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
                    "disable_notifications",
                )
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
        "created_at",
    )
    list_display_links = ("id", "action")
    list_filter = ("state", "response_state", "debate_state", "topics", "departments")
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
        ("Moderation", {"fields": ("moderated_by", "moderation_lag", "locked_by", "locked_at")}),
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


@admin.register(Signature)
class SignatureAdmin(AuditedAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    """Up to millions of rows: no full count, no date drill-down, ordered by the primary key.

    The list never shows email addresses (staff can still search by one, exactly).
    """

    list_display = ("id", "name", petition_link, "state", "constituency", "created_at")
    list_display_links = ("id", "name")
    list_filter = ("state", "creator", "sponsor", "notify_by_email")
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


class _JournalAdmin(PetitionIdSearchMixin, admin.ModelAdmin):
    """Journals are caches of the signature rows, rebuilt by `petition_recount`: read-only here."""

    list_display_links = None
    show_full_result_count = False
    ordering = ("-id",)
    raw_id_fields = ("petition",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(Rejection)
class RejectionAdmin(AuditedAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    list_display = ("id", petition_link, "reason", "created_at", "created_by")
    list_filter = ("reason",)
    list_select_related = ("reason", "created_by")
    search_fields = ("details",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    raw_id_fields = ("petition",)
    readonly_fields = ("created_at", "created_by")

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# --- Audit log (read-only for everyone) -----------------------------------------------------------


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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


@admin.register(DissolutionNotification)
class DissolutionNotificationAdmin(admin.ModelAdmin):
    """Read-only: one row per person told about a dissolution."""

    list_display = ("id", "parliament", "sent_at")
    list_filter = ("parliament",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
