"""The bulk email admin: the notices staff actions queue (a response published, a debate scheduled...), their
progress, and the buttons to send oneself a preview, pause, resume or cancel one. Every button is a POST to one
of the services, which check the permission and each leave an audit row.

Response and Debate editors see and steer notices (view + change permission); Sysadmins may also delete one
and read the per-recipient delivery records, which never show an address."""

from django.contrib import admin
from django.db.models import Count
from django.template.defaultfilters import pluralize
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from . import selectors, services
from .admin_mixins import (
    AuditedAdminMixin,
    ObjectButtonsAdminMixin,
    PetitionIdSearchMixin,
    ReadOnlyAdminMixin,
)
from .models import (
    NOTICE_ACTIVE_STATES,
    NOTICE_OPEN_STATES,
    Notice,
    NoticeDelivery,
    NoticeState,
    SiteSettings,
)
from .services import NotAllowed, NoticeStateError

CHANGE_NOTICE = "petitions.change_notice"


def _can_steer(user) -> bool:
    return user.is_active and user.has_perm(CHANGE_NOTICE)


def _progress_text(progress: dict) -> str:
    text = f"{progress['sent']:,} of {progress['total']:,} sent"
    if progress["failed"]:
        text += f", {progress['failed']:,} failed"
    return text


@admin.register(Notice)
class NoticeAdmin(AuditedAdminMixin, ObjectButtonsAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    """Read-only: notices are created by the staff action they announce and move on through the services.
    (AuditedAdminMixin records the Sysadmins' deletions.)"""

    list_display = (
        "id",
        "petition_column",
        "kind",
        "state",
        "progress",
        "percent",
        "created_at",
        "created_by",
    )
    list_display_links = ("id",)
    list_filter = ("state", "kind")
    list_select_related = ("petition", "created_by")
    search_fields = ("petition__action",)
    search_help_text = "A petition number, or words from its title."
    ordering = ("-created_at", "-id")
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("petition_column", "kind", "source", "created_by", "created_at")}),
        (
            "Timeline",
            {
                "fields": (
                    "state",
                    "preview_sent_at",
                    "dispatched_at",
                    "fanout_done_at",
                    "started_at",
                    "paused_at",
                    "completed_at",
                    "cancelled_at",
                )
            },
        ),
    )
    readonly_fields = (
        "petition_column",
        "kind",
        "source",
        "created_by",
        "created_at",
        "state",
        "preview_sent_at",
        "dispatched_at",
        "fanout_done_at",
        "started_at",
        "paused_at",
        "completed_at",
        "cancelled_at",
    )

    # --- View for editors and Sysadmins (model permissions); nothing is edited here; only Sysadmins delete.

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return services.is_sysadmin(request.user) and super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        """A summary, not Django's list of every related row: a notice may have a delivery per signer. The
        deliveries go with their notice (one DELETE), though their own admin is read-only."""
        objs = list(objs)
        deliveries = dict(
            NoticeDelivery.objects.filter(notice__in=objs)
            .values("notice_id")
            .annotate(n=Count("pk"))
            .values_list("notice_id", "n")
        )
        summary = []
        for notice in objs:
            n = deliveries.get(notice.pk, 0)
            summary += [str(notice), [f"{n:,} delivery record{pluralize(n)}"]]
        model_count = {
            Notice._meta.verbose_name_plural: len(objs),
            NoticeDelivery._meta.verbose_name_plural: sum(deliveries.values()),
        }
        perms_needed = set() if self.has_delete_permission(request) else {Notice._meta.verbose_name}
        return summary, model_count, perms_needed, []

    # --- Columns

    @admin.display(description="Petition", ordering="petition_id")
    def petition_column(self, obj):
        url = reverse("admin:petitions_petition_change", args=[obj.petition_id])
        action = Truncator(obj.petition.action).chars(60)
        return format_html('<a href="{}">{}</a>: {}', url, obj.petition_id, action)

    @admin.display(description="Progress")
    def progress(self, obj):
        return _progress_text(selectors.notice_progress(notice=obj))

    @admin.display(description="Done")
    def percent(self, obj):
        return f"{selectors.notice_progress(notice=obj)['percent']}%"

    @admin.display(description="About")
    def source(self, obj):
        if not obj.source_type:
            return "-"
        label = f"{obj.source_type} {obj.source_id}"
        try:
            url = reverse(f"admin:{obj.source_type.replace('.', '_')}_change", args=[obj.source_id])
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    # --- The change page: the progress block and the buttons

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            can_steer = _can_steer(request.user)
            site = SiteSettings.load()
            context.update(
                progress=selectors.notice_progress(notice=obj),
                in_progress=obj.state in NOTICE_ACTIVE_STATES,
                can_preview=can_steer,
                can_pause=can_steer and obj.state in NOTICE_ACTIVE_STATES,
                can_resume=can_steer and obj.state == NoticeState.PAUSED,
                can_cancel=can_steer and obj.state in NOTICE_OPEN_STATES,
                bulk_email_paused=site.disable_notifications,
                site_settings=site,
                deliveries_url=(
                    reverse("admin:petitions_noticedelivery_changelist") + f"?notice__id__exact={obj.pk}"
                    if services.is_sysadmin(request.user)
                    else None
                ),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- The buttons: POSTs to /admin/petitions/notice/<id>/{preview,pause,resume,cancel}/

    object_buttons = {"preview": "_preview", "pause": "_pause", "resume": "_resume", "cancel": "_cancel"}
    button_errors = (NoticeStateError, NotAllowed)

    def button_allowed(self, request) -> bool:
        return _can_steer(request.user)


def _preview(notice, actor) -> str:
    services.notice_preview_send(notice=notice, actor=actor)
    return f"Preview sent to {actor.email} (only to you)."


def _pause(notice, actor) -> str:
    notice = services.notice_pause(notice=notice, actor=actor)
    progress = selectors.notice_progress(notice=notice)
    return f"Paused: {_progress_text(progress)}. Nothing more is sent until you resume it."


def _resume(notice, actor) -> str:
    services.notice_resume(notice=notice, actor=actor)
    return "Resumed: the remaining emails are being sent."


def _cancel(notice, actor) -> str:
    notice = services.notice_cancel(notice=notice, actor=actor)
    progress = selectors.notice_progress(notice=notice)
    return f"Cancelled: {_progress_text(progress)}. No more will be sent."


@admin.register(NoticeDelivery)
class NoticeDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Sysadmins only, read-only: one row per recipient of a notice. The signature is shown by id and never
    by address; `error` holds the SMTP reply without the address."""

    list_display = (
        "id",
        "notice_link",
        "signature_id",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "error",
    )
    list_filter = ("state",)
    search_fields = ("=notice__id",)
    search_help_text = "A notice number."
    ordering = ("-id",)
    list_per_page = 100
    show_full_result_count = False
    fields = ("notice_link", "signature_link", "state", "attempts", "next_attempt_at", "sent_at", "error")
    readonly_fields = fields

    def has_module_permission(self, request):
        return services.is_sysadmin(request.user)

    def has_view_permission(self, request, obj=None):
        return services.is_sysadmin(request.user)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isascii() and term.isdigit() and len(term) <= 18:
            return queryset.filter(notice_id=int(term)), False
        return queryset.none(), False

    @admin.display(description="Notice", ordering="notice_id")
    def notice_link(self, obj):
        url = reverse("admin:petitions_notice_change", args=[obj.notice_id])
        return format_html('<a href="{}">{}</a>', url, obj.notice_id)

    @admin.display(description="Signature")
    def signature_link(self, obj):
        url = reverse("admin:petitions_signature_change", args=[obj.signature_id])
        return format_html('<a href="{}">Signature {}</a>', url, obj.signature_id)
