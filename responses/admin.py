"""The admin for government responses and consultations.

Response editors (and Sysadmins) write responses; Reviewers read them; other staff do not see them. Every save
goes through `responses.services.government_response_save` (a numbered revision and an audit row); the status
changes only through the "Publish", "Publish and email signers" and "Unpublish" buttons (POSTs to the publish
services). The change page lists the revisions, each viewable (read-only) in the revisions admin.
"""

from functools import partial

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from petitions.admin_mixins import (
    HTTPS_URL_FIELDS,
    AuditedAdminMixin,
    ObjectButtonsAdminMixin,
    PetitionIdSearchMixin,
    ReadOnlyAdminMixin,
    petition_link,
)
from petitions.markdown import markdown_html
from petitions.models import NOTICE_OPEN_STATES, Notice, NoticeKind
from petitions.services import TransitionError

from . import admin_views, services
from .forms import GovernmentResponseForm, SafeAutocompleteSelect
from .models import Consultation, GovernmentResponse, GovernmentResponseRevision, ResponseStatus

CHANGE_RESPONSE = "responses.change_governmentresponse"
VIEW_REVISION = "responses.view_governmentresponserevision"

#: How the history names the fields a revision changed.
FIELD_LABELS = {
    "petition": "petition",
    "department": "department",
    "responded_on": "date responded",
    "summary": "summary",
    "details": "details",
    "status": "status",
}


def changed_fields_text(revision: GovernmentResponseRevision) -> str:
    if revision.number == 1 and "status" not in revision.changed_fields:
        return "created"
    names = [FIELD_LABELS.get(name, name) for name in revision.changed_fields]
    return ", ".join(names) if names else "nothing changed"


def _rendered(markdown: str):
    # markdown_html sanitises (nh3): no raw HTML, scripts or javascript: links survive it.
    return format_html('<div class="response-preview">{}</div>', mark_safe(markdown_html(markdown)))  # noqa: S308


@admin.register(GovernmentResponse)
class GovernmentResponseAdmin(
    AuditedAdminMixin, ObjectButtonsAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin
):
    """AuditedAdminMixin records deletions (Sysadmins); saves are audited by the save service."""

    form = GovernmentResponseForm
    list_display = (
        "id",
        petition_link,
        "summary_short",
        "status",
        "responded_on",
        "department",
        "published_at",
        "text_updated_at",
    )
    list_display_links = ("id", "summary_short")
    list_filter = ("status", "department")
    list_select_related = ("department",)
    search_fields = ("summary", "details", "petition__action")
    search_help_text = "A petition number, or words from the response or the petition's title."
    date_hierarchy = "responded_on"
    ordering = ("-responded_on", "-id")
    list_per_page = 50
    autocomplete_fields = ("petition",)
    readonly_fields = (
        "details_preview",
        "status",
        "published_at",
        "published_by",
        "text_updated_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            None,
            {"fields": ("petition", "department", "responded_on", "summary", "details", "details_preview")},
        ),
        (
            "Publication",
            {
                "description": "Changed only with the buttons at the top of the page.",
                "fields": ("status", "published_at", "published_by", "text_updated_at"),
            },
        ),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    # --- Who may do what: the model permissions, and the role the services check

    def has_add_permission(self, request):
        return super().has_add_permission(request) and services.is_response_editor(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and services.is_response_editor(request.user)

    def has_delete_permission(self, request, obj=None):
        # A published response is unpublished first, so the petition's response state follows.
        published = obj is not None and obj.status == ResponseStatus.PUBLISHED
        return super().has_delete_permission(request, obj) and not published

    def get_deleted_objects(self, objs, request):
        """A response's revisions go with it, though nobody may delete a revision on its own."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(GovernmentResponseRevision._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def get_actions(self, request):
        # "Delete selected" would bypass the published check above.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        # A response belongs to its petition: moving it would leave the first petition "responded".
        return ("petition", *fields) if obj is not None else fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "petition":
            kwargs["widget"] = SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- Columns and read-only fields

    @admin.display(description="Summary", ordering="summary")
    def summary_short(self, obj):
        return obj.summary if len(obj.summary) <= 80 else obj.summary[:79] + "…"

    @admin.display(description="Preview")
    def details_preview(self, obj):
        """The details as the petition page shows them; static/js/response_preview.js keeps it live."""
        details = obj.details if obj is not None else ""
        return format_html(
            '<div class="response-preview" data-markdown-preview-output="details" aria-live="polite">{}</div>',
            mark_safe(markdown_html(details)),  # noqa: S308 - sanitised by markdown_html
        )

    # --- Saving: one revision and one audit row per save

    def save_model(self, request, obj, form, change):
        services.government_response_save(response=obj, actor=request.user, changed_fields=form.changed_data)

    # --- The change page: publication buttons and the history of revisions

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            can_act = self.button_allowed(request)
            published = obj.status == ResponseStatus.PUBLISHED
            revisions = list(obj.revisions.select_related("created_by").order_by("-number"))
            show_revision = request.user.has_perm(VIEW_REVISION)
            for revision in revisions:
                revision.changed_text = changed_fields_text(revision)
                revision.url = (
                    reverse("admin:responses_governmentresponserevision_change", args=[revision.pk])
                    if show_revision
                    else ""
                )
            context.update(
                can_publish=can_act and not published,
                can_unpublish=can_act and published,
                response_published=published,
                signers_emailed=services.signers_already_emailed(obj),
                revisions=revisions,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- URLs: the Markdown preview, and the buttons (POSTs to .../<id>/publish/ and so on)

    object_buttons = {
        "publish": "_publish",
        "publish_and_email": "_publish_and_email",
        "unpublish": "_unpublish",
    }
    button_errors = (TransitionError,)

    def button_allowed(self, request) -> bool:
        return request.user.has_perm(CHANGE_RESPONSE) and services.is_response_editor(request.user)

    def get_urls(self):
        preview = path(
            "preview/",
            self.admin_site.admin_view(partial(admin_views.markdown_preview, model_admin=self)),
            name=f"{self.opts.app_label}_{self.opts.model_name}_preview",
        )
        return [preview, *super().get_urls()]


def _publish(response, actor) -> str:
    services.government_response_publish(response=response, actor=actor, email_signers=False)
    return (
        "Response published: the petition page shows it and the petition is now “Government responded”. "
        "Signers were not emailed."
    )


def _publish_and_email(response, actor) -> str:
    already = services.signers_already_emailed(response)
    notice = services.government_response_publish(response=response, actor=actor, email_signers=True)
    if already:
        return (
            "Response published. Signers were already emailed about this response "
            f"(bulk email {notice.pk}), so nobody is emailed again."
        )
    return (
        "Response published, and the petition's creator and the signers who asked for updates will be "
        f"emailed (bulk email {notice.pk})."
    )


def _unpublish(response, actor) -> str:
    services.government_response_unpublish(response=response, actor=actor)
    message = "Response unpublished: it is a draft again, and no longer on the petition page."
    sending = Notice.objects.filter(
        kind=NoticeKind.RESPONSE_PUBLISHED,
        source_type=GovernmentResponse._meta.label_lower,
        source_id=str(response.pk),
        state__in=NOTICE_OPEN_STATES,
    ).first()
    if sending is not None:
        message += (
            f" The bulk email about it (bulk email {sending.pk}) is still open: pause or cancel it there."
        )
    return message


@admin.register(GovernmentResponseRevision)
class GovernmentResponseRevisionAdmin(ReadOnlyAdminMixin, PetitionIdSearchMixin, admin.ModelAdmin):
    """Read-only for everyone: revisions are recorded by the response services."""

    petition_id_lookup = "response__petition_id"
    list_display = ("id", "response_link", "number", "status", "created_at", "created_by", "changes")
    list_display_links = ("id", "number")
    list_filter = ("status",)
    list_select_related = ("response", "created_by")
    search_fields = ("summary", "details")
    search_help_text = "A petition number, or words from the response."
    ordering = ("-created_at", "-id")
    list_per_page = 50
    show_full_result_count = False
    fields = (
        "response_link",
        "number",
        "status",
        "created_at",
        "created_by",
        "changes",
        "responded_on",
        "department_name",
        "summary",
        "details",
        "details_rendered",
    )
    readonly_fields = fields

    @admin.display(description="Response", ordering="response_id")
    def response_link(self, obj):
        url = reverse("admin:responses_governmentresponse_change", args=[obj.response_id])
        return format_html(
            '<a href="{}">Response {} (petition {})</a>', url, obj.response_id, obj.response.petition_id
        )

    @admin.display(description="Changed")
    def changes(self, obj):
        return changed_fields_text(obj)

    @admin.display(description="Details, as shown")
    def details_rendered(self, obj):
        return _rendered(obj.details)


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
        (None, {"fields": ("title", "summary", "details", "department", "url")}),
        ("Dates", {"fields": ("opens_at", "closes_at", "created_at", "updated_at")}),
        ("Linked to", {"fields": ("petitions", "responses")}),
    )

    @admin.display(description="Open", boolean=True)
    def open_now(self, obj):
        return obj.is_open()
