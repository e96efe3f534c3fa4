"""Public forms render GOV.UK Frontend markup; inherit from these rather than from Django's classes."""

import re
import time

from django import forms
from django.core import signing
from django.db.models import Q
from django.utils import timezone

from . import postcodes
from .forms_renderer import GovukFormRenderer
from .models import Constituency, Country, Nation
from .services.fraud import FormSignals

GOVUK_RENDERER = GovukFormRenderer()


class GovukForm(forms.Form):
    default_renderer = GOVUK_RENDERER


class GovukModelForm(forms.ModelForm):
    default_renderer = GOVUK_RENDERER


# --- Starting and signing petitions -----------------------------------------------------------------

#: Spreadsheet formula characters: text starting with one of these could run as a formula when staff export
#: signatures or petitions to CSV (e-petitions' `/\A[-=+@]/` guard).
FORMULA_PREFIXES = ("=", "+", "-", "@")
# A scheme ("http://", "ftp://"), "www." or a bare domain on a common top-level domain.
URL_RE = re.compile(
    r"[a-z][a-z0-9+.\-]*://|\bwww\.|\b[a-z0-9\-]+\.(?:com|org|net|uk|io|co|info|biz|xyz|ru|me|ly|online|site)\b",
    re.IGNORECASE,
)
UK = "GB"
UK_CITIZENSHIP_MESSAGE = (
    "You must be a British citizen or normally live in the UK to create or sign petitions"
)


def no_formula_start(label: str):
    def validate(value: str) -> None:
        if value and value.startswith(FORMULA_PREFIXES):
            raise forms.ValidationError(f"{label} can't start with =, +, - or @", code="formula")

    return validate


def _text_field(label: str, *, max_length: int, required: bool = True, textarea: bool = True, **kwargs):
    messages = {"max_length": f"{label} must be {max_length} characters or less"}
    if required:
        messages["required"] = f"{label} must be completed"
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        widget=forms.Textarea(attrs={"rows": kwargs.pop("rows", 3)}) if textarea else forms.TextInput,
        validators=[no_formula_start(label)],
        error_messages=messages,
        **kwargs,
    )


def countries_current():
    today = timezone.localdate()
    return Country.objects.filter(Q(end_date__isnull=True) | Q(end_date__gte=today)).filter(
        Q(start_date__isnull=True) | Q(start_date__lte=today)
    )


def northern_ireland_constituencies():
    return Constituency.objects.filter(nation=Nation.NORTHERN_IRELAND).order_by("name")


#: Seconds a process keeps the countries and constituencies that the signing forms look up. They change only
#: when the reference data is reloaded, which updates rows in place and keeps their ids.
REFERENCE_TTL = 60.0

_reference: tuple[float, dict[str, Country], dict[str, Constituency]] | None = None


def _reference_rows() -> tuple[float, dict[str, Country], dict[str, Constituency]]:
    global _reference
    cached = _reference
    if cached is None or cached[0] <= time.monotonic():
        cached = (
            time.monotonic() + REFERENCE_TTL,
            {country.code: country for country in Country.objects.all()},
            {constituency.gss_code: constituency for constituency in Constituency.objects.all()},
        )
        _reference = cached
    return cached


def reference_cache_clear() -> None:
    """Forget the cached countries and constituencies (tests reload the reference data)."""
    global _reference
    _reference = None


def current_country(code: str) -> Country | None:
    """The country with this code if signers may choose it today (as `countries_current()`), without a query."""
    country = _reference_rows()[1].get(code)
    today = timezone.localdate()
    if country is None or (country.end_date is not None and country.end_date < today):
        return None
    if country.start_date is not None and country.start_date > today:
        return None
    return country


def constituency_by_gss_code(gss_code: str) -> Constituency | None:
    return _reference_rows()[2].get(gss_code)


class CurrentCountryField(forms.ModelChoiceField):
    """A choice of `countries_current()`, checked against the cached countries instead of a query (the
    choices shown still come from the queryset)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        self.validate_no_null_characters(value)
        country = current_country(value.code if isinstance(value, Country) else str(value))
        if country is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
            )
        return country


def postcode_field(label: str = "Postcode") -> forms.CharField:
    """A UK postcode box for the lookup forms (constituency search, local petitions, the map)."""
    return forms.CharField(
        label=label,
        max_length=postcodes.MAX_RAW_LENGTH,
        help_text="For example, SW1A 1AA",
        error_messages={
            "required": "Enter a postcode",
            "max_length": postcodes.INVALID_MESSAGE,
            "null_characters_not_allowed": postcodes.INVALID_MESSAGE,
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "postal-code", "spellcheck": "false", "class": "govuk-input--width-10"}
        ),
    )


def gb_postcode_lookup(raw: str, *, northern_ireland: str, bfpo: str) -> postcodes.PostcodeLookup:
    """The offline lookup of a postcode, or a ValidationError for a malformed one, or for Northern Ireland and
    BFPO postcodes (no data / no constituency), with the calling page's own advice."""
    try:
        found = postcodes.lookup(raw)
    except postcodes.PostcodeError as error:
        raise forms.ValidationError(error.message, code=error.code) from None
    if found.method == "northern_ireland":
        raise forms.ValidationError(northern_ireland, code="northern_ireland")
    if found.method == "bfpo":
        raise forms.ValidationError(bfpo, code="bfpo")
    return found


class UkCitizenshipForm(GovukForm):
    uk_citizenship = forms.ChoiceField(
        label="Are you a British citizen or UK resident?",
        choices=[("yes", "Yes"), ("no", "No")],
        widget=forms.RadioSelect(attrs={"class": "govuk-radios--inline"}),
        error_messages={"required": "Select yes if you are a British citizen or UK resident"},
        help_text="Only British citizens and UK residents can start or sign petitions.",
    )


class ActionForm(GovukForm):
    action = _text_field(
        "Action",
        max_length=80,
        rows=2,
        help_text="Write a short, clear title for your petition: the action you want the UK Government or "
        "Parliament to take.",
    )


class BackgroundForm(GovukForm):
    background = _text_field(
        "Background",
        max_length=300,
        rows=5,
        help_text="Explain what your petition is about and why it matters. There is space on the next page "
        "for more details.",
    )


class AdditionalDetailsForm(GovukForm):
    additional_details = _text_field(
        "Additional details",
        max_length=800,
        required=False,
        rows=8,
        help_text="Anything else that explains your petition. Don't include personal information or "
        "anything that could identify someone else.",
    )


class SignerDetailsForm(GovukForm):
    """Name, email (twice), country and postcode: what creators, sponsors and signers all give.

    After `is_valid()`, `cleaned_data` has `country` (a Country), `postcode` ("" outside the UK) and
    `constituency` (a Constituency or None; for Northern Ireland, the one the person picked).
    """

    name = forms.CharField(
        label="Full name",
        max_length=255,
        help_text="Your full name, including your surname",
        validators=[no_formula_start("Name")],
        error_messages={
            "required": "Name must be completed",
            "max_length": "Name must be 255 characters or less",
        },
        widget=forms.TextInput(attrs={"autocomplete": "name", "spellcheck": "false"}),
    )
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        help_text="We'll use this to send you a link to confirm your email address",
        validators=[no_formula_start("Email")],
        error_messages={
            "required": "Email must be completed",
            "invalid": "Enter an email address in the correct format, like name@example.com",
            "max_length": "Email must be 254 characters or less",
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    email_confirmation = forms.CharField(
        label="Confirm your email address",
        max_length=254,
        error_messages={
            "required": "Confirm your email address",
            "max_length": "Email must be 254 characters or less",
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    country = CurrentCountryField(
        label="Where do you live?",
        queryset=Country.objects.none(),
        to_field_name="code",
        empty_label=None,
        initial=UK,
        error_messages={
            "required": "Country must be completed",
            "invalid_choice": "Select a country from the list",
        },
    )
    postcode = forms.CharField(
        label="UK postcode",
        max_length=postcodes.MAX_RAW_LENGTH,
        required=False,
        help_text="Leave blank if you live outside the UK",
        error_messages={"max_length": postcodes.INVALID_MESSAGE},
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "class": "govuk-input--width-10"}),
    )
    #: Shown only once a Northern Ireland postcode has been entered (see `__init__`).
    constituency = forms.ModelChoiceField(
        label="Which constituency do you live in?",
        queryset=Constituency.objects.none(),
        to_field_name="gss_code",
        required=False,
        empty_label="Choose your constituency",
        help_text="We don't have postcode data for Northern Ireland, so please choose your constituency",
        error_messages={"invalid_choice": "Select your constituency from the list"},
    )
    #: Creators choose their Northern Ireland constituency on a page of its own.
    ask_constituency_inline = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].queryset = countries_current()
        self.fields["constituency"].queryset = northern_ireland_constituencies()
        if not (self.ask_constituency_inline and self._posted_northern_ireland_postcode()):
            del self.fields["constituency"]

    def _posted_northern_ireland_postcode(self) -> bool:
        if not self.is_bound or self.data.get(self.add_prefix("country"), UK) != UK:
            return False
        try:
            return postcodes.is_northern_ireland(self.data.get(self.add_prefix("postcode")) or "")
        except postcodes.PostcodeError:
            return False

    def clean_name(self):
        name = self.cleaned_data["name"]
        if URL_RE.search(name):
            raise forms.ValidationError("Name can't contain a web address", code="has_uri")
        return name

    def clean_email(self):
        # Only the domain is case-insensitive; the mailbox part is kept as typed (e-petitions does the same).
        local, _, domain = self.cleaned_data["email"].rpartition("@")
        return f"{local}@{domain.lower()}"

    def clean(self):
        data = super().clean()
        email, confirmation = data.get("email"), data.get("email_confirmation")
        if (
            email
            and confirmation is not None
            and "email_confirmation" not in self.errors
            and confirmation.strip().lower() != email.lower()
        ):
            self.add_error("email_confirmation", "Email addresses must match")
        country = data.get("country")
        data["constituency"] = data.get("constituency") if "constituency" in self.fields else None
        if country is None:
            return data
        if country.code != UK:
            # A postcode is only asked for in the UK; anything typed for elsewhere is not kept.
            data["postcode"] = ""
            data["constituency"] = None
            return data
        raw = data.get("postcode", "")
        if "postcode" in self.errors:
            return data
        if not raw:
            self.add_error("postcode", "Postcode must be completed")
            return data
        try:
            found = postcodes.lookup(raw)
        except postcodes.PostcodeError as error:
            self.add_error("postcode", forms.ValidationError(error.message, code=error.code))
            return data
        data["postcode"] = found.postcode
        self.postcode_lookup = found
        if found.method == "northern_ireland":
            if "constituency" in self.fields and data["constituency"] is None:
                self.add_error("constituency", "Select your constituency in Northern Ireland")
        else:
            data["constituency"] = constituency_by_gss_code(found.gss_code) if found.gss_code else None
        return data

    @property
    def is_northern_ireland(self) -> bool:
        found = getattr(self, "postcode_lookup", None)
        return found is not None and found.method == "northern_ireland"


class CreatorForm(SignerDetailsForm):
    ask_constituency_inline = False


class ConstituencyForm(GovukForm):
    constituency = forms.ModelChoiceField(
        label="Which constituency do you live in?",
        queryset=Constituency.objects.none(),
        to_field_name="gss_code",
        widget=forms.RadioSelect,
        empty_label=None,
        help_text="Your postcode is in Northern Ireland. We don't have postcode data for Northern Ireland, "
        "so please choose your constituency.",
        error_messages={
            "required": "Select your constituency in Northern Ireland",
            "invalid_choice": "Select your constituency from the list",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["constituency"].queryset = northern_ireland_constituencies()


#: Salt of the signed timestamp on the signing form (when it was shown).
FORM_SHOWN_SALT = "petitions.forms.SignatureForm.shown_at"


class HoneypotInput(forms.TextInput):
    """A text box nobody sees or can reach (hidden from screen readers too): only bots fill it in."""

    template_name = "signatures/honeypot_widget.html"

    @property
    def is_hidden(self):
        # Rendered with the hidden fields, after the visible ones, in its own hidden wrapper.
        return True


def form_shown_stamp(now: float | None = None) -> str:
    """A signed timestamp of when the form was shown (`now` in seconds since the epoch)."""
    signer = signing.TimestampSigner(salt=FORM_SHOWN_SALT)
    if now is None:
        return signer.sign("shown")
    # TimestampSigner.sign takes no time: build the same token for a given one (tests use this).
    value = f"shown{signer.sep}{signing.b62_encode(int(now))}"
    return f"{value}{signer.sep}{signer.signature(value)}"


def form_fill_seconds(stamp: str, *, now: float | None = None) -> float | None:
    """Seconds since `stamp` was made, or None when it is missing or was tampered with."""
    signer = signing.TimestampSigner(salt=FORM_SHOWN_SALT)
    try:
        signer.unsign(stamp)
        shown = signing.b62_decode(stamp.rsplit(signer.sep, 2)[1])
    except (signing.BadSignature, ValueError, IndexError):
        return None
    return (time.time() if now is None else now) - shown


class SignatureForm(SignerDetailsForm):
    """The form sponsors and signers fill in: the declaration, their details and the opt-in.

    Two more fields feed the fraud checks, never shown as errors: `website`, a honeypot, and `shown_at`, a
    signed timestamp of when the form was shown (the time it took to fill in).
    """

    uk_citizenship = forms.BooleanField(
        label="I am a British citizen or UK resident",
        error_messages={"required": UK_CITIZENSHIP_MESSAGE},
    )
    notify_by_email = forms.BooleanField(
        label="Email me whenever there's an update about this petition", required=False
    )
    website = forms.CharField(
        label="Website",
        required=False,
        widget=HoneypotInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    shown_at = forms.CharField(required=False, widget=forms.HiddenInput)
    field_order = [
        "uk_citizenship",
        "name",
        "email",
        "email_confirmation",
        "country",
        "postcode",
        "constituency",
        "notify_by_email",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A form shown again with errors keeps the time it was first shown (the posted value).
        self.fields["shown_at"].initial = form_shown_stamp()

    def fraud_signals(self):
        """The honeypot and time-to-fill signals (after `is_valid()`)."""
        return FormSignals(
            honeypot=bool(self.cleaned_data.get("website", "").strip()),
            fill_seconds=form_fill_seconds(self.cleaned_data.get("shown_at") or ""),
        )

    def signer_details(self) -> dict:
        """The cleaned answers as the signing services take them (after `is_valid()`), with the form's fraud
        signals."""
        data = self.cleaned_data
        fields = ("name", "email", "country", "postcode", "constituency", "notify_by_email")
        return {**{field: data[field] for field in fields}, "signals": self.fraud_signals()}
