"""Shared admin behaviour: every staff edit made through the Django admin leaves an AuditLog row.

The admin's add, change and delete views already run inside `transaction.atomic`, so the audit row commits
or rolls back together with the change it records. Only field *names* are recorded, never values, so the
log holds no personal data (signers' emails, for instance).
"""

import re
from importlib import import_module

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from .services import audit_log_record

#: `formfield_overrides` for admins with URL fields: a scheme-less URL typed by staff means https
#: (Django 6's default; it silences Django 5.2's deprecation warning).
HTTPS_URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class AuditedAdminMixin:
    """Put first in the bases: `class FooAdmin(AuditedAdminMixin, admin.ModelAdmin)`."""

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_log_record(
                actor=request.user,
                action="admin.change" if change else "admin.add",
                obj=obj,
                details={"fields": list(form.changed_data)},
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            # Recorded first: after deletion the instance has no pk.
            audit_log_record(actor=request.user, action="admin.delete", obj=obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        """The "delete selected" action."""
        with transaction.atomic():
            for obj in queryset.iterator(chunk_size=500):
                audit_log_record(actor=request.user, action="admin.delete", obj=obj)
            super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        """Inline rows: audit additions, changes and deletions like top-level objects."""
        with transaction.atomic():
            for inline_form in formset.deleted_forms:
                if inline_form.instance.pk is not None:
                    audit_log_record(actor=request.user, action="admin.delete", obj=inline_form.instance)
            super().save_formset(request, form, formset, change)
            added = {id(obj) for obj in formset.new_objects}
            for inline_form in formset.forms:
                if id(inline_form.instance) in added:
                    audit_log_record(
                        actor=request.user,
                        action="admin.add",
                        obj=inline_form.instance,
                        details={"fields": list(inline_form.changed_data)},
                    )
            for obj, fields in formset.changed_objects:
                audit_log_record(
                    actor=request.user, action="admin.change", obj=obj, details={"fields": fields}
                )


class PetitionIdSearchMixin:
    """A search term that is a whole number finds by petition id (exactly, using the index) instead of
    running the text search: like e-petitions' admin, where a numeric `q` jumps straight to that petition."""

    petition_id_lookup = "petition_id"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if _PETITION_ID.fullmatch(term):
            return queryset.filter(**{self.petition_id_lookup: int(term)}), False
        return super().get_search_results(request, queryset, search_term)


_PETITION_ID = re.compile(r"[0-9]{1,18}")


@admin.display(description="Petition", ordering="petition_id")
def petition_link(obj):
    """A list_display column: the petition id, linked to the petition's admin page."""
    url = reverse("admin:petitions_petition_change", args=[obj.petition_id])
    return format_html('<a href="{}">{}</a>', url, obj.petition_id)


class ReadOnlyAdminMixin:
    """For records nobody edits by hand: caches, logs and sent-email records."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ObjectButtonsAdminMixin:
    """POST-only buttons on an object's change page, at `<id>/<action>/` (URL name
    `<app>_<model>_<action>`). `object_buttons` maps each action to a function `(obj, user) -> message`, called
    by name at request time; `button_errors` are refusals shown as error messages; `button_allowed(request)`
    says who may press them (403 otherwise). Every press ends back on the change page."""

    object_buttons: dict[str, str] = {}
    button_errors: tuple[type[Exception], ...] = ()

    def button_allowed(self, request) -> bool:
        raise NotImplementedError

    def get_urls(self):
        def url(action):
            def view(request, object_id):
                return self._button(request, object_id, action)

            return path(
                f"<path:object_id>/{action}/",
                self.admin_site.admin_view(view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_{action}",
            )

        return [*(url(action) for action in self.object_buttons), *super().get_urls()]

    def _button(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.button_allowed(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        press = getattr(import_module(type(self).__module__), self.object_buttons[action])
        try:
            messages.success(request, press(obj, request.user))
        except self.button_errors as error:
            messages.error(request, str(error))
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        )
