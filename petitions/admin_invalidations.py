"""The Invalidations admin (Sysadmins only): define an invalidation, count what it matches, start it, watch its
progress, cancel it. Every button is a POST to one of the services, which each leave an audit row."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse

from . import services
from .admin_mixins import ObjectButtonsAdminMixin
from .models import INVALIDATION_ACTIVE_STATES, Invalidation, InvalidationState
from .selectors import invalidation_percent_completed
from .services import INVALIDATION_CRITERIA, InvalidationStateError, NotAllowed


class InvalidationForm(forms.ModelForm):
    """The add form: the criteria are checked (and normalised) by the same rules the service applies."""

    class Meta:
        model = Invalidation
        fields = ("summary", "details", *INVALIDATION_CRITERIA)
        widgets = {"details": forms.Textarea(attrs={"rows": 5, "cols": 80})}
        error_messages = {"summary": {"required": "Enter a summary: why these signatures are invalidated."}}

    def clean(self):
        cleaned = super().clean()
        if any(field in self.errors for field in INVALIDATION_CRITERIA):
            return cleaned
        try:
            cleaned.update(services.invalidation_criteria_clean(cleaned))
        except ValidationError as error:
            for field, field_messages in error.message_dict.items():
                for message in field_messages:
                    self.add_error(None if field == "__all__" else field, message)
        return cleaned


_CRITERIA_DESCRIPTION = (
    "Signatures that are pending or validated and match every criterion filled in are invalidated. "
    "Name, email and domain are case-insensitive and * matches anything (e.g. *@example.com, *.example.com). "
    "Spaces in a postcode don't matter. The IP address may be a range (CIDR), like 192.0.2.0/24."
)


@admin.register(Invalidation)
class InvalidationAdmin(ObjectButtonsAdminMixin, admin.ModelAdmin):
    """View-only once created: the criteria of a started invalidation must not change under it. The audit rows
    come from the services (create, count, start, cancel, complete)."""

    form = InvalidationForm
    list_display = (
        "summary",
        "state",
        "matching_count",
        "invalidated_count",
        "progress",
        "created_by",
        "created_at",
        "started_at",
        "completed_at",
        "cancelled_at",
    )
    list_filter = ("state",)
    list_select_related = ("created_by",)
    search_fields = ("summary",)
    ordering = ("-created_at",)
    list_per_page = 50
    raw_id_fields = ("petition",)
    autocomplete_fields = ("constituency", "country")
    readonly_fields = (
        "state",
        "progress",
        "matching_count",
        "counted_at",
        "invalidated_count",
        "created_by",
        "created_at",
        "enqueued_at",
        "started_at",
        "completed_at",
        "cancelled_at",
    )
    _criteria_fieldsets = (
        (None, {"fields": ("summary", "details")}),
        (
            "Criteria",
            {
                "description": _CRITERIA_DESCRIPTION,
                "fields": (
                    "petition",
                    "name",
                    "postcode",
                    "ip_address",
                    "email",
                    "domain",
                    "constituency",
                    "country",
                    "created_after",
                    "created_before",
                ),
            },
        ),
    )
    _progress_fieldset = (
        "Progress",
        {
            "fields": (
                "state",
                "progress",
                ("matching_count", "counted_at"),
                "invalidated_count",
                ("created_by", "created_at"),
                "enqueued_at",
                "started_at",
                "completed_at",
                "cancelled_at",
            )
        },
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self._criteria_fieldsets
        return (*self._criteria_fieldsets, self._progress_fieldset)

    # --- Sysadmins only; nothing is edited or deleted once created.

    def has_module_permission(self, request):
        return services.is_sysadmin(request.user)

    def has_view_permission(self, request, obj=None):
        return services.is_sysadmin(request.user)

    def has_add_permission(self, request):
        return services.is_sysadmin(request.user)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Progress")
    def progress(self, obj):
        if obj.enqueued_at is None:
            return "Not started"
        percent = invalidation_percent_completed(invalidation=obj)
        if obj.matching_count is None:
            return f"{percent}%"
        return f"{obj.invalidated_count:,} of {obj.matching_count:,} ({percent}%)"

    # --- Adding goes through the service (validation, created_by, audit row).

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = services.invalidation_create(
            actor=request.user,
            summary=data["summary"],
            details=data.get("details", ""),
            **{field: data.get(field) for field in INVALIDATION_CRITERIA},
        )
        obj.pk, obj.created_by, obj.created_at = created.pk, created.created_by, created.created_at

    def response_add(self, request, obj, post_url_continue=None):
        messages.success(
            request, "Invalidation created. Count the signatures it matches, then start it when you're sure."
        )
        return HttpResponseRedirect(reverse("admin:petitions_invalidation_change", args=[obj.pk]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(show_save_and_add_another=False, show_save_and_continue=False)
        if obj is not None:
            context.update(
                can_count=obj.state == InvalidationState.PENDING,
                can_start=obj.state == InvalidationState.PENDING and obj.matching_count is not None,
                can_cancel=obj.state in INVALIDATION_ACTIVE_STATES,
                in_progress=obj.state in (InvalidationState.ENQUEUED, InvalidationState.RUNNING),
                percent_completed=invalidation_percent_completed(invalidation=obj),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- The buttons: POSTs to /admin/petitions/invalidation/<id>/{count,start,cancel}/

    object_buttons = {"count": "_count", "start": "_start", "cancel": "_cancel"}
    button_errors = (InvalidationStateError, NotAllowed)

    def button_allowed(self, request) -> bool:
        return services.is_sysadmin(request.user)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _count(invalidation, actor) -> str:
    n = services.invalidation_count(invalidation=invalidation, actor=actor)
    return f"{_plural(n, 'signature matches', 'signatures match')}."


def _start(invalidation, actor) -> str:
    n = services.invalidation_start(invalidation=invalidation, actor=actor).matching_count
    return (
        f"Invalidation started: {_plural(n, 'matching signature', 'matching signatures')} will be invalidated "
        "in the background. Counts drop within seconds of each batch."
    )


def _cancel(invalidation, actor) -> str:
    n = services.invalidation_cancel(invalidation=invalidation, actor=actor).invalidated_count
    return (
        f"Invalidation cancelled: {_plural(n, 'signature was', 'signatures were')} invalidated before it "
        "stopped."
    )
