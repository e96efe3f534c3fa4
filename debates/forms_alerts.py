"""The public form that subscribes an email address to a constituency's weekly alert."""

from django import forms

from petitions.forms import GovukForm, no_formula_start


class AlertSubscribeForm(GovukForm):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        help_text="We'll send a link to this address. The alerts start once you've pressed the button it leads to.",
        validators=[no_formula_start("Email")],
        error_messages={
            "required": "Enter your email address",
            "invalid": "Enter an email address in the correct format, like name@example.com",
            "max_length": "Email must be 254 characters or less",
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
