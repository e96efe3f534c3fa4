from django.contrib import admin
from django.utils import timezone

from petitions.admin_mixins import HTTPS_URL_FIELDS, AuditedAdminMixin, PetitionIdSearchMixin, petition_link

from .models import Consultation, GovernmentResponse, ResponseStatus


@admin.register(GovernmentResponse)
class GovernmentResponseAdmin(AuditedAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    list_display = (
        "id",
        petition_link,
        "summary_short",
        "status",
        "responded_on",
        "department",
        "published_at",
    )
    list_display_links = ("id", "summary_short")
    list_filter = ("status", "department")
    list_select_related = ("department",)
    search_fields = ("summary", "details", "petition__action")
    date_hierarchy = "responded_on"
    ordering = ("-responded_on", "-id")
    autocomplete_fields = ("petition",)
    readonly_fields = ("published_at", "published_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("petition", "responded_on", "department", "summary", "details")}),
        ("Publication", {"fields": ("status", "published_at", "published_by")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Summary", ordering="summary")
    def summary_short(self, obj):
        return obj.summary if len(obj.summary) <= 80 else obj.summary[:79] + "…"

    def save_model(self, request, obj, form, change):
        # Record who published it and when; the petition's response state is the services' business.
        if obj.status == ResponseStatus.PUBLISHED and obj.published_at is None:
            obj.published_at = timezone.now()
            obj.published_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Consultation)
class ConsultationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("title", "department", "opens_at", "closes_at", "open_now")
    list_filter = ("department",)
    list_select_related = ("department",)
    search_fields = ("title", "summary")
    date_hierarchy = "closes_at"
    ordering = ("-closes_at",)
    autocomplete_fields = ("petitions", "responses")
    formfield_overrides = HTTPS_URL_FIELDS
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("title", "summary", "department", "url")}),
        ("Dates", {"fields": ("opens_at", "closes_at", "created_at", "updated_at")}),
        ("Linked to", {"fields": ("petitions", "responses")}),
    )

    @admin.display(description="Open", boolean=True)
    def open_now(self, obj):
        return obj.is_open()
