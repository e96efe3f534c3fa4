"""Public forms render GOV.UK Frontend markup with linked errors; the admin keeps Django's widgets."""

import pytest
from django import forms
from django.contrib.auth.models import User

from petitions.forms import GovukForm


class ExampleForm(GovukForm):
    name = forms.CharField(label="Full name", max_length=255, help_text="Your full name, including surname")
    background = forms.CharField(label="Background", max_length=300, widget=forms.Textarea)
    uk_citizenship = forms.ChoiceField(
        label="Are you a British citizen or UK resident?",
        choices=[("1", "Yes"), ("0", "No")],
        widget=forms.RadioSelect,
    )
    notify_by_email = forms.BooleanField(label="Email me updates", required=False)


def test_fields_render_as_govuk_components_with_hint_ids():
    html = str(ExampleForm())
    assert 'class="govuk-form-group' in html
    assert 'class="govuk-label"' in html and 'for="id_name"' in html
    assert 'class="govuk-input' in html and 'aria-describedby="id_name-hint"' in html
    assert 'id="id_name-hint"' in html
    assert "govuk-textarea" in html and "govuk-character-count" in html
    assert "govuk-radios__input" in html and "govuk-fieldset__legend" in html
    assert "govuk-checkboxes__input" in html


def test_errors_are_linked_to_their_fields():
    form = ExampleForm(data={"name": "", "background": "x" * 301, "uk_citizenship": "maybe"})
    assert not form.is_valid()
    html = str(form)
    assert 'id="id_name-error"' in html and "govuk-input--error" in html
    assert "govuk-form-group--error" in html
    assert '<span class="govuk-visually-hidden">Error:</span>' in html


@pytest.mark.django_db
def test_admin_forms_keep_djangos_own_widgets(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    html = client.get("/admin/petitions/topic/add/").content.decode()
    assert 'name="name"' in html
    assert "govuk-input" not in html
