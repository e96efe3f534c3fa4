"""Form renderer that makes a plain Django form render GOV.UK Frontend markup.

Public forms use it through `petitions.forms.GovukForm` (their `default_renderer`); the Django admin keeps
Django's own renderer. A widget template `django/forms/widgets/<name>.html` is looked up first as
`govuk/widgets/<name>.html`; `templates/govuk/form.html` and `templates/govuk/field.html` render the groups.
"""

from django.forms.boundfield import BoundField
from django.forms.renderers import TemplatesSetting
from django.forms.widgets import Textarea
from django.template import TemplateDoesNotExist

DJANGO_WIDGETS = "django/forms/widgets/"
GOVUK_WIDGETS = "govuk/widgets/"
# Django's templates for these only include input.html, which an include cannot redirect: map them directly.
INPUT_WIDGETS = {
    "text",
    "email",
    "number",
    "password",
    "url",
    "tel",
    "search",
    "color",
    "date",
    "datetime",
    "time",
    "hidden",
    "file",
}


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

    def get_template(self, template_name):
        if template_name.startswith(DJANGO_WIDGETS):
            name = template_name.removeprefix(DJANGO_WIDGETS).removesuffix(".html")
            try:
                return super().get_template(
                    f"{GOVUK_WIDGETS}{'input' if name in INPUT_WIDGETS else name}.html"
                )
            except TemplateDoesNotExist:
                pass
        return super().get_template(template_name)
