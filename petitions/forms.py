"""Public forms render GOV.UK Frontend markup; inherit from these rather than from Django's classes."""

from django import forms

from .forms_renderer import GovukFormRenderer

GOVUK_RENDERER = GovukFormRenderer()


class GovukForm(forms.Form):
    default_renderer = GOVUK_RENDERER


class GovukModelForm(forms.ModelForm):
    default_renderer = GOVUK_RENDERER
