"""Form renderer that makes any plain Django form render GOV.UK Frontend markup.

settings.py::

    FORM_RENDERER = "petitions.forms_renderer.GovukFormRenderer"
    INSTALLED_APPS = [..., "django.forms", ...]   # Django's own form templates

With ``TemplatesSetting`` the form templates are looked up through the project's
TEMPLATES, so ``templates/django/forms/widgets/*.html`` (GOV.UK widgets) override
Django's, and ``templates/govuk/form.html`` / ``templates/govuk/field.html``
render the form groups.
"""

from django.forms.boundfield import BoundField
from django.forms.renderers import TemplatesSetting
from django.forms.widgets import Textarea


class GovukBoundField(BoundField):
    """BoundField whose ``aria-describedby`` uses GOV.UK Frontend's ids.

    Django 5.x points ``aria-describedby`` at ``<id>_helptext`` and
    ``<id>_error``; GOV.UK Frontend names them ``<id>-hint`` and ``<id>-error``
    (and ``<id>-info`` for a character count's message), in the order info,
    hint, error. The widget gets it (or the fieldset, for radios and checkbox
    groups: see templates/govuk/field.html).
    """

    @property
    def has_character_count(self):
        return isinstance(self.field.widget, Textarea) and bool(self.field.widget.attrs.get("maxlength"))

    @property
    def aria_describedby(self):
        # Keep an aria-describedby set on the widget by the form's author.
        if self.field.widget.attrs.get("aria-describedby"):
            return None
        ids = []
        if self.auto_id and not self.is_hidden:
            if self.has_character_count:
                ids.append(f"{self.auto_id}-info")
            if self.help_text:
                ids.append(f"{self.auto_id}-hint")
            if self.errors:
                ids.append(f"{self.auto_id}-error")
        return " ".join(ids)


class GovukFormRenderer(TemplatesSetting):
    form_template_name = "govuk/form.html"
    field_template_name = "govuk/field.html"
    # Django 5.2+: forms rendered with this renderer build GovukBoundFields.
    bound_field_class = GovukBoundField
