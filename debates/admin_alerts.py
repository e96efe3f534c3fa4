"""Admin for constituency alerts and their digests: read-only records (subscribers change their alerts through
the emailed links; the weekly job makes the digests). Only Sysadmins see alerts, which hold addresses: a list
never shows one, a search finds one by the exact address (to answer a subscriber), and the tokens that would
let staff act for the subscriber are never shown."""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from petitions.admin_mixins import ReadOnlyAdminMixin

from .models import AlertDigest, ConstituencyAlert


@admin.register(ConstituencyAlert)
class ConstituencyAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "constituency", "state", "created_at", "confirmed_at", "last_digest_at")
    list_filter = ("state",)
    list_select_related = ("constituency",)
    search_fields = ("=email", "constituency__name", "=constituency__gss_code")
    search_help_text = "An exact email address, or a constituency's name or GSS code."
    ordering = ("-id",)
    list_per_page = 100
    show_full_result_count = False
    fields = (
        "email",
        "constituency",
        "state",
        "confirmation_emails",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "last_digest_at",
        "reported_summary",
        "digests_link",
    )
    readonly_fields = fields

    @admin.display(description="Petitions reported")
    def reported_summary(self, obj):
        reported = obj.reported or {}
        return ", ".join(f"{len(reported.get(t, []))} past {t}" for t in ("100", "1000"))

    @admin.display(description="Digests")
    def digests_link(self, obj):
        url = reverse("admin:debates_alertdigest_changelist")
        return format_html('<a href="{}?q={}">Digests for this alert</a>', url, obj.pk)


@admin.register(AlertDigest)
class AlertDigestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """One row per alert and week: whether it was sent, retried, failed (the SMTP reply, without the address)
    or skipped (nothing to report, or unsubscribed). Never the address."""

    list_display = ("id", "alert_link", "constituency", "week", "state", "attempts", "sent_at", "error")
    list_filter = ("state", "week")
    list_select_related = ("alert__constituency",)
    search_fields = ("=alert__id",)
    search_help_text = "An alert number."
    ordering = ("-week", "-id")
    list_per_page = 100
    show_full_result_count = False
    fields = (
        "alert_link",
        "constituency",
        "week",
        "state",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "sent_at",
        "error",
        "created_at",
        "content_json",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isascii() and term.isdigit() and len(term) <= 18:
            return queryset.filter(alert_id=int(term)), False
        return queryset.none(), False

    @admin.display(description="Alert", ordering="alert_id")
    def alert_link(self, obj):
        url = reverse("admin:debates_constituencyalert_change", args=[obj.alert_id])
        return format_html('<a href="{}">{}</a>', url, obj.alert_id)

    @admin.display(description="Constituency")
    def constituency(self, obj):
        return obj.alert.constituency

    @admin.display(description="Content")
    def content_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.content, indent=2, ensure_ascii=False))
