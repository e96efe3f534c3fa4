from django.contrib import admin

from petitions.admin_mixins import HTTPS_URL_FIELDS, AuditedAdminMixin, PetitionIdSearchMixin, petition_link

from . import admin_alerts  # noqa: F401 - registers the alert models
from .models import OtherBusiness, ParliamentaryEvent


@admin.register(ParliamentaryEvent)
class ParliamentaryEventAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("title", "kind", "starts_at", "lead", "department", "outcome")
    list_filter = ("kind", "outcome", "department")
    list_select_related = ("lead_mp", "department")
    search_fields = ("title", "summary", "place", "lead_mp_name", "lead_mp__mp_name", "lead_mp__name")
    date_hierarchy = "starts_at"
    ordering = ("-starts_at",)
    autocomplete_fields = ("petitions", "lead_mp")
    formfield_overrides = HTTPS_URL_FIELDS
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("kind", "title", "starts_at", "place", "summary", "petitions")}),
        ("Who", {"fields": ("lead_mp", "lead_mp_name", "department")}),
        ("Evidence", {"fields": ("evidence_deadline", "evidence_url")}),
        ("Links", {"fields": ("more_info_url", "transcript_url", "video_url", "debate_pack_url")}),
        ("Outcome", {"fields": ("outcome", "outcome_reason")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Lead")
    def lead(self, obj):
        return obj.lead


@admin.register(OtherBusiness)
class OtherBusinessAdmin(AuditedAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    list_display = ("subject", petition_link, "occurred_on", "created_at")
    search_fields = ("subject", "body")
    date_hierarchy = "occurred_on"
    ordering = ("-occurred_on", "-created_at")
    raw_id_fields = ("petition",)
    readonly_fields = ("created_at", "updated_at")
