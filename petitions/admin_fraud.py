"""Sysadmin screens for fraud: the rate limits (one row), the allow and block lists, and the hourly trending
report. Nobody else may see them, even with the model permissions. See petitions/services/fraud.py."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from .admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin, petition_link
from .models import RateLimit, SigningListEntry, TrendingItem, TrendingKind
from .services.fraud import signing_list_value_clean, signing_rules_clear
from .services.moderation import is_sysadmin


class SysadminOnlyMixin:
    """Put before the other admin bases: every permission also needs the Sysadmins group (or a superuser)."""

    def has_view_permission(self, request, obj=None):
        return is_sysadmin(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return is_sysadmin(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_sysadmin(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_sysadmin(request.user) and super().has_delete_permission(request, obj)


class RulesChangedMixin:
    """Signing reads the rules through a cache: forget it in this process once a change commits (other
    processes pick the change up within `SIGNING_RULES_TTL` seconds)."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(signing_rules_clear)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(signing_rules_clear)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        transaction.on_commit(signing_rules_clear)


# --- Rate limits (a singleton) ------------------------------------------------------------------------

AT_LEAST_ONE = (
    "burst_rate",
    "burst_period",
    "sustained_rate",
    "sustained_period",
    "domain_rate",
    "domain_period",
)


class RateLimitForm(forms.ModelForm):
    class Meta:
        model = RateLimit
        fields = (
            "enabled",
            "burst_rate",
            "burst_period",
            "sustained_rate",
            "sustained_period",
            "domain_rate",
            "domain_period",
            "minimum_fill_seconds",
            "trending_threshold",
        )

    def clean(self):
        cleaned = super().clean()
        for field in AT_LEAST_ONE:
            if cleaned.get(field) == 0:
                self.add_error(field, "Must be at least 1.")
        burst, sustained = cleaned.get("burst_rate"), cleaned.get("sustained_rate")
        if burst is not None and sustained is not None and sustained < burst:
            self.add_error("sustained_rate", "The sustained rate can't be below the burst rate.")
        burst, sustained = cleaned.get("burst_period"), cleaned.get("sustained_period")
        if burst is not None and sustained is not None and sustained < burst:
            self.add_error("sustained_period", "The sustained period can't be shorter than the burst period.")
        return cleaned


@admin.register(RateLimit)
class RateLimitAdmin(SysadminOnlyMixin, RulesChangedMixin, AuditedAdminMixin, admin.ModelAdmin):
    form = RateLimitForm
    fieldsets = (
        (None, {"fields": ("enabled",)}),
        (
            "Per IP address, per petition",
            {
                "fields": ("burst_rate", "burst_period", "sustained_rate", "sustained_period"),
                "description": "Signatures beyond these are accepted silently and marked fraudulent. IP "
                "addresses on the allow list are exempt.",
            },
        ),
        (
            "Per email domain, per petition",
            {
                "fields": ("domain_rate", "domain_period"),
                "description": "Domains (and IP addresses) on the allow list are exempt.",
            },
        ),
        ("Bots", {"fields": ("minimum_fill_seconds",), "description": "0 switches the check off."}),
        ("Hourly trending report", {"fields": ("trending_threshold",)}),
        (None, {"fields": ("updated_at",)}),
    )
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request):
        # The one row is made on first use (`RateLimit.load()`); no query here, on every admin page's sidebar.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        """There is only one row: go straight to it (creating it with the defaults if need be)."""
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)  # raises PermissionDenied
        obj = RateLimit.load()
        return HttpResponseRedirect(reverse("admin:petitions_ratelimit_change", args=[obj.pk]))


# --- Allow and block lists ----------------------------------------------------------------------------


class SigningListEntryForm(forms.ModelForm):
    class Meta:
        model = SigningListEntry
        fields = ("action", "kind", "value", "note")
        help_texts = {
            "value": "An IP address or CIDR range (192.0.2.0/24, 2001:db8::/32); a domain (example.com, "
            "*.example.com: one level of subdomain, **.example.com: any depth); or an email address "
            "(blocked in all its spellings, e.g. with dots or a +tag at gmail.com)."
        }

    def clean(self):
        cleaned = super().clean()
        kind, value = cleaned.get("kind"), cleaned.get("value")
        if kind and value:
            try:
                cleaned["value"] = signing_list_value_clean(kind, value)
            except ValidationError as error:
                self.add_error("value", error)
        return cleaned


@admin.register(SigningListEntry)
class SigningListEntryAdmin(SysadminOnlyMixin, RulesChangedMixin, AuditedAdminMixin, admin.ModelAdmin):
    form = SigningListEntryForm
    list_display = ("value", "action", "kind", "note", "created_at", "created_by")
    list_filter = ("action", "kind")
    search_fields = ("value", "note")
    list_select_related = ("created_by",)
    readonly_fields = ("created_at", "created_by")
    fields = ("action", "kind", "value", "note", "created_at", "created_by")
    ordering = ("action", "kind", "value")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# --- The trending report --------------------------------------------------------------------------------


class HourFilter(admin.SimpleListFilter):
    """The hours of the last week that have a report, newest first."""

    title = "hour"
    parameter_name = "hour"

    def lookups(self, request, model_admin):
        since = timezone.now() - timedelta(days=7)
        hours = (
            TrendingItem.objects.filter(starts_at__gte=since)
            .values_list("starts_at", flat=True)
            .distinct()
            .order_by("-starts_at")[:168]
        )
        return [(str(int(hour.timestamp())), f"{timezone.localtime(hour):%d %b %Y %H:%M}") for hour in hours]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            hour = datetime.fromtimestamp(int(value), tz=UTC)
        except (ValueError, OverflowError, OSError):
            return queryset.none()
        return queryset.filter(starts_at=hour)


@admin.register(TrendingItem)
class TrendingItemAdmin(SysadminOnlyMixin, ReadOnlyAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """Filled in hourly by the `trending_report` task; read-only."""

    list_display = (
        "starts_at",
        petition_link,
        "kind",
        "value",
        "signature_count",
        "fraudulent_count",
        "signatures",
    )
    list_display_links = None
    list_filter = ("kind", HourFilter)
    search_fields = ("value",)
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="Signatures")
    def signatures(self, obj):
        field = "ip_address" if obj.kind == TrendingKind.IP else "email_domain"
        query = urlencode(
            {
                "petition": obj.petition_id,
                field: obj.value,
                "created_at__gte": obj.starts_at.isoformat(),
                "created_at__lt": (obj.starts_at + timedelta(hours=1)).isoformat(),
            }
        )
        url = f"{reverse('admin:petitions_signature_changelist')}?{query}"
        return format_html('<a href="{}">Signatures in that hour</a>', url)
