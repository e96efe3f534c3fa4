import secrets
import time

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


def new_token() -> str:
    """An unguessable URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


# --- Reference data -------------------------------------------------------------------------------


class Nation(models.TextChoices):
    ENGLAND = "england", "England"
    WALES = "wales", "Wales"
    SCOTLAND = "scotland", "Scotland"
    NORTHERN_IRELAND = "northern_ireland", "Northern Ireland"


class Country(models.Model):
    """A country or territory a signer may live in (the e-petitions location list; UK is GB)."""

    code = models.CharField(max_length=3, unique=True)
    name = models.CharField(max_length=100)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "countries"

    def __str__(self):
        return self.name


class Region(models.Model):
    """One of the 9 English regions or the 3 other nations, with the letter the petitions API uses."""

    gss_code = models.CharField("GSS code", max_length=9, unique=True)
    name = models.CharField(max_length=100)
    api_code = models.CharField("API code", max_length=1, unique=True)
    nation = models.CharField(max_length=20, choices=Nation.choices)

    class Meta:
        ordering = ["api_code"]

    def __str__(self):
        return self.name


class Constituency(models.Model):
    """A 2024 Westminster constituency and its current MP."""

    gss_code = models.CharField("GSS code", max_length=9, unique=True)
    name = models.CharField(max_length=100)
    name_cy = models.CharField("Welsh name", max_length=100, blank=True)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="constituencies")
    nation = models.CharField(max_length=20, choices=Nation.choices)
    mp_name = models.CharField("MP", max_length=100, blank=True)
    mp_id = models.PositiveIntegerField("Parliament member id", null=True, blank=True)
    party = models.CharField(max_length=100, blank=True)
    party_colour = models.CharField(max_length=7, blank=True)
    example_postcode = models.CharField(max_length=8, blank=True)
    electorate = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Registered electors at the 2024 general election (House of Commons Library).",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "constituencies"

    def __str__(self):
        return self.name


class Department(models.Model):
    acronym = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200, unique=True)
    url = models.URLField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Topic(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SiteSettings(models.Model):
    """The site-wide knobs staff change in the admin. Exactly one row (pk=1); read it with `SiteSettings.load()`."""

    threshold_for_response = models.PositiveIntegerField(default=10_000)
    threshold_for_debate = models.PositiveIntegerField(default=100_000)
    petition_duration_months = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    minimum_sponsors = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    maximum_sponsors = models.PositiveSmallIntegerField(default=20)
    moderation_delay_threshold = models.PositiveIntegerField(
        default=500,
        help_text="Creators are told moderation may take longer when the queue reaches this size.",
    )
    moderation_delay_message = models.TextField(max_length=500, blank=True)
    signature_count_interval = models.PositiveSmallIntegerField(
        default=5, help_text="Seconds between signature tally runs; also the API's cache max-age."
    )
    signature_count_updated_at = models.DateTimeField(null=True, blank=True)
    update_signature_counts = models.BooleanField(default=True)
    disable_collecting_signatures = models.BooleanField(
        "Pause signing", default=False, help_text="Stops new signatures and confirmations site-wide."
    )
    disable_petition_creation = models.BooleanField("Pause new petitions", default=False)
    disable_notifications = models.BooleanField("Pause bulk email", default=False)
    bulk_email_rate = models.PositiveIntegerField(
        "bulk email rate",
        default=200,
        help_text="Emails a second, at most, across all workers (providers limit it).",
    )
    bulk_email_night_only = models.BooleanField(
        "send bulk email at night only",
        default=False,
        help_text="Hold bulk email until the night window (London time), as petition.parliament.uk does.",
    )
    bulk_email_night_starts = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(23)], help_text="Hour the night window opens (0-23)."
    )
    bulk_email_night_ends = models.PositiveSmallIntegerField(
        default=4, validators=[MaxValueValidator(23)], help_text="Hour the night window closes (0-23)."
    )
    response_overdue_months = models.PositiveSmallIntegerField(
        "response overdue after (months)",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text="A petition awaiting a government response longer than this is flagged as overdue.",
    )
    feedback_email = models.EmailField(default="petitionscommittee@parliament.uk")
    banner_message = models.CharField(
        max_length=500, blank=True, help_text="Shown at the top of every public page while set."
    )
    deadlines_extended_on = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="Last day open deadlines were moved on while signing was paused.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site settings"
        verbose_name_plural = "site settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="site_settings_singleton")]

    def __str__(self):
        return "Site settings"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)
        SiteSettings.cache_clear()

    @classmethod
    def load(cls) -> "SiteSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    #: Seconds `cached()` keeps the row in a process: a change made elsewhere reaches every process within this.
    CACHE_TTL = 5.0
    _cached: "tuple[float, SiteSettings] | None" = None

    @classmethod
    def cached(cls) -> "SiteSettings":
        """`load()` at most once per `CACHE_TTL` per process, for the signing path: read it, never save it."""
        cached = cls._cached
        if cached is None or cached[0] <= time.monotonic():
            cached = (time.monotonic() + cls.CACHE_TTL, cls.load())
            cls._cached = cached
        return cached[1]

    @classmethod
    def cache_clear(cls) -> None:
        cls._cached = None


class Parliament(models.Model):
    """A Parliament. Recording its dissolution closes open petitions early and stops unpublished ones."""

    name = models.CharField(max_length=100, help_text="For example 2024–")
    opened_at = models.DateTimeField(default=timezone.now)
    dissolution_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When Parliament dissolves: open petitions close, unpublished ones stop.",
    )
    dissolution_message = models.TextField(
        max_length=600, blank=True, help_text="Shown on the site and in the emails to signers and creators."
    )
    dissolution_processed_at = models.DateTimeField(null=True, blank=True, editable=False)
    dissolution_emails_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self):
        return self.name

    @classmethod
    def current(cls) -> "Parliament | None":
        return cls.objects.order_by("-opened_at").first()

    def is_dissolved(self, now=None) -> bool:
        return self.dissolution_at is not None and self.dissolution_at <= (now or timezone.now())


class DissolutionNotification(models.Model):
    """One per person (canonical email) per dissolution, so nobody gets one email per petition."""

    parliament = models.ForeignKey(Parliament, on_delete=models.CASCADE, related_name="notifications")
    canonical_email = models.CharField(max_length=254)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["parliament", "canonical_email"], name="one_dissolution_email_per_person"
            )
        ]

    def __str__(self):
        return f"Dissolution notice {self.pk}"


# --- Petitions ------------------------------------------------------------------------------------


class PetitionState(models.TextChoices):
    PENDING = "pending", "Pending (creator's email not confirmed)"
    VALIDATED = "validated", "Gathering support"
    SPONSORED = "sponsored", "Awaiting moderation"
    FLAGGED = "flagged", "Flagged"
    DORMANT = "dormant", "Dormant"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"
    HIDDEN = "hidden", "Hidden"
    STOPPED = "stopped", "Stopped"
    REMOVED = "removed", "Removed"


S = PetitionState
#: Shown in the public lists and on the petition page.
VISIBLE_STATES = (S.OPEN, S.CLOSED, S.REJECTED)
PUBLISHED_STATES = (S.OPEN, S.CLOSED)
MODERATED_STATES = (S.OPEN, S.CLOSED, S.HIDDEN, S.REJECTED)
COLLECTING_SPONSORS_STATES = (S.PENDING, S.VALIDATED)
IN_MODERATION_STATES = (S.SPONSORED, S.FLAGGED)
TODO_LIST_STATES = (S.PENDING, S.VALIDATED, S.SPONSORED, S.FLAGGED, S.DORMANT)
RESTORABLE_STATES = (S.FLAGGED, S.DORMANT, S.REJECTED, S.HIDDEN)
REJECTABLE_STATES = (S.PENDING, S.VALIDATED, S.SPONSORED, S.FLAGGED, S.DORMANT)
FLAGGABLE_STATES = (S.PENDING, S.VALIDATED, S.SPONSORED)
#: `/petitions/<id>` answers for these (unpublished ones with an interstitial page); removed ones get 410.
SHOW_STATES = (S.PENDING, S.VALIDATED, S.SPONSORED, S.FLAGGED, S.OPEN, S.CLOSED, S.REJECTED, S.STOPPED)


class ResponseState(models.TextChoices):
    PENDING = "pending", "Below the response threshold"
    AWAITING = "awaiting", "Awaiting a government response"
    RESPONDED = "responded", "Government responded"


class DebateState(models.TextChoices):
    PENDING = "pending", "Below the debate threshold"
    AWAITING = "awaiting", "Awaiting a debate decision"
    SCHEDULED = "scheduled", "Debate scheduled"
    DEBATED = "debated", "Debated"
    NOT_DEBATED = "not_debated", "Not debated"


class PetitionQuerySet(models.QuerySet):
    def visible(self):
        return self.filter(state__in=VISIBLE_STATES)

    def published(self):
        return self.filter(state__in=PUBLISHED_STATES)

    def open(self):
        return self.filter(state=S.OPEN)

    def in_moderation(self):
        return self.filter(state__in=IN_MODERATION_STATES)

    def collecting_sponsors(self):
        return self.filter(state__in=COLLECTING_SPONSORS_STATES)


class Petition(models.Model):
    action = models.CharField(max_length=80)
    background = models.CharField(max_length=300)
    additional_details = models.TextField(max_length=800, blank=True)
    committee_note = models.TextField(
        blank=True, help_text="A note from the Petitions Committee, shown publicly."
    )

    state = models.CharField(max_length=20, choices=PetitionState.choices, default=S.PENDING, db_index=True)
    response_state = models.CharField(
        max_length=20, choices=ResponseState.choices, default=ResponseState.PENDING, db_index=True
    )
    debate_state = models.CharField(
        max_length=20, choices=DebateState.choices, default=DebateState.PENDING, db_index=True
    )

    departments = models.ManyToManyField(Department, blank=True, related_name="petitions")
    topics = models.ManyToManyField(Topic, blank=True, related_name="petitions")

    sponsor_token = models.CharField(max_length=64, default=new_token, unique=True, editable=False)
    signature_count = models.PositiveIntegerField(default=0)
    last_signed_at = models.DateTimeField(null=True, blank=True)
    signature_count_validated_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="End of the day, London time, the petition duration after opening."
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    state_at_removal = models.CharField(max_length=20, choices=PetitionState.choices, blank=True)
    moderation_threshold_reached_at = models.DateTimeField(null=True, blank=True)
    response_threshold_reached_at = models.DateTimeField(null=True, blank=True)
    government_response_at = models.DateTimeField(null=True, blank=True)
    debate_threshold_reached_at = models.DateTimeField(null=True, blank=True)
    scheduled_debate_date = models.DateField(null=True, blank=True)
    debate_scheduled_on = models.DateField(null=True, blank=True)
    debate_outcome_at = models.DateTimeField(null=True, blank=True)

    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderation_lag = models.PositiveIntegerField(null=True, blank=True, help_text="Days spent in moderation.")
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    special_consideration = models.BooleanField(default=False)
    do_not_anonymize = models.BooleanField(default=False)
    anonymized_at = models.DateTimeField(null=True, blank=True)

    objects = PetitionQuerySet.as_manager()

    #: PostgreSQL full text of action (weight A), background (B) and additional details (C), kept by a trigger
    #: (migration 0010); null elsewhere (SQLite searches with LIKE).
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "-signature_count", "-created_at"], name="petition_state_count"),
            models.Index(fields=["state", "-opened_at"], name="petition_state_opened"),
        ]

    def __str__(self):
        return f"{self.pk}: {self.action}"

    def get_absolute_url(self):
        return f"/petitions/{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state == S.OPEN

    @property
    def is_visible(self) -> bool:
        return self.state in VISIBLE_STATES

    @property
    def creator(self):
        return self.signatures.filter(creator=True).first()


class SignatureState(models.TextChoices):
    PENDING = "pending", "Pending"
    VALIDATED = "validated", "Validated"
    FRAUDULENT = "fraudulent", "Fraudulent"
    INVALIDATED = "invalidated", "Invalidated"
    WITHDRAWN = "withdrawn", "Withdrawn"


#: Signatures an invalidation may still take away (pending ones too, so they cannot be stored up for later).
INVALIDATABLE_SIGNATURE_STATES = (SignatureState.PENDING, SignatureState.VALIDATED)


class FraudReason(models.TextChoices):
    """Why a signature was silently marked fraudulent when it was made."""

    BLOCKED_IP = "blocked_ip", "Blocked IP address"
    BLOCKED_DOMAIN = "blocked_domain", "Blocked email domain"
    BLOCKED_EMAIL = "blocked_email", "Blocked email address"
    IP_BURST = "ip_burst", "Too many from one IP address (burst)"
    IP_SUSTAINED = "ip_sustained", "Too many from one IP address (sustained)"
    DOMAIN_RATE = "domain_rate", "Too many from one email domain"
    HONEYPOT = "honeypot", "Filled in the hidden field"
    TOO_FAST = "too_fast", "Form filled in too fast"


class Signature(models.Model):
    """One person's signature. Only validated ones count; the tally job turns rows into counts."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="signatures")
    name = models.CharField(max_length=255)
    email = models.EmailField(max_length=254)
    canonical_email = models.CharField(max_length=254, db_index=True)
    postcode = models.CharField(max_length=10, blank=True)
    country = models.ForeignKey(Country, on_delete=models.PROTECT, related_name="+")
    constituency = models.ForeignKey(
        Constituency, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    email_domain = models.CharField(
        max_length=253, blank=True, help_text="The canonical address's domain (rate limits, trending)."
    )
    state = models.CharField(max_length=20, choices=SignatureState.choices, default=SignatureState.PENDING)
    fraud_reason = models.CharField(max_length=20, choices=FraudReason.choices, blank=True)
    creator = models.BooleanField(default=False)
    sponsor = models.BooleanField(default=False)
    notify_by_email = models.BooleanField(default=False)

    confirm_token = models.CharField(max_length=64, default=new_token, unique=True, editable=False)
    unsubscribe_token = models.CharField(max_length=64, default=new_token, unique=True, editable=False)

    ip_address = models.GenericIPAddressField(null=True, blank=True)
    validated_ip = models.GenericIPAddressField(null=True, blank=True)
    email_count = models.PositiveSmallIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    counted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the tally job added this signature to the counts (null: not counted).",
    )
    invalidated_at = models.DateTimeField(null=True, blank=True)
    invalidation = models.ForeignKey(
        "Invalidation", null=True, blank=True, on_delete=models.SET_NULL, related_name="signatures"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    email_failed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a bulk email to this address last failed permanently."
    )
    email_failure = models.CharField(max_length=200, blank=True, help_text="The SMTP reply (no address).")
    anonymized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Rate limits: recent signatures on a petition from one IP address, or one email domain.
            models.Index(fields=["petition", "ip_address", "created_at"], name="signature_petition_ip"),
            models.Index(fields=["petition", "email_domain", "created_at"], name="signature_petition_domain"),
            models.Index(fields=["created_at"], name="signature_created"),
            # The tally job's work lists: validated but not counted, and counted but no longer valid.
            models.Index(
                fields=["petition"],
                condition=Q(state="validated", counted_at__isnull=True),
                name="signature_to_count",
            ),
            models.Index(
                fields=["petition"],
                condition=Q(counted_at__isnull=False) & ~Q(state="validated"),
                name="signature_to_uncount",
            ),
            models.Index(fields=["petition", "state"], name="signature_petition_state"),
            models.Index(fields=["state", "validated_at"], name="signature_state_validated"),
            models.Index(fields=["petition", "canonical_email"], name="signature_petition_canonical"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["petition"], condition=Q(creator=True), name="one_creator_per_petition"
            ),
            models.UniqueConstraint(
                fields=["petition", "canonical_email", "name"], name="signature_unique_person"
            ),
        ]

    def __str__(self):
        return f"Signature {self.pk} on petition {self.petition_id}"

    def save(self, *args, **kwargs):
        if self.canonical_email and not self.email_domain:
            self.email_domain = self.canonical_email.rpartition("@")[2]
        super().save(*args, **kwargs)


class EmailDomainRule(models.Model):
    """How addresses at a domain are made canonical, so one person cannot sign twice with variants of one address."""

    domain = models.CharField(max_length=253, unique=True, help_text="For example gmail.com")
    strip_dots = models.BooleanField(default=False, help_text="Ignore dots before the @ (gmail.com does).")
    strip_plus_tags = models.BooleanField(default=True, help_text="Ignore +tags before the @.")
    alias_of = models.CharField(
        max_length=253, blank=True, help_text="Treat this domain as another (googlemail.com is gmail.com)."
    )

    class Meta:
        ordering = ["domain"]

    def __str__(self):
        return self.domain


class ConstituencyPetitionJournal(models.Model):
    """Validated signatures on one petition from one constituency: a cache of the signature rows."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="constituency_journals")
    constituency = models.ForeignKey(Constituency, on_delete=models.CASCADE, related_name="+")
    signature_count = models.PositiveIntegerField(default=0)
    last_signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["petition", "constituency"], name="constituency_journal_unique")
        ]
        # Petitions ranked by signatures from one constituency (constituency pages, the debates filter).
        indexes = [
            models.Index(fields=["constituency", "-signature_count"], name="constituency_journal_rank")
        ]

    def __str__(self):
        return f"Petition {self.petition_id}, constituency {self.constituency_id}: {self.signature_count}"


class CountryPetitionJournal(models.Model):
    """Validated signatures on one petition from one country: a cache of the signature rows."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="country_journals")
    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="+")
    signature_count = models.PositiveIntegerField(default=0)
    last_signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["petition", "country"], name="country_journal_unique")]

    def __str__(self):
        return f"Petition {self.petition_id}, country {self.country_id}: {self.signature_count}"


class RejectionReason(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField()
    hidden = models.BooleanField(default=False, help_text="Petitions rejected for this reason are not shown.")

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title


class Rejection(models.Model):
    petition = models.OneToOneField(Petition, on_delete=models.CASCADE, related_name="rejection")
    reason = models.ForeignKey(RejectionReason, on_delete=models.PROTECT, related_name="rejections")
    details = models.TextField(max_length=4000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"{self.petition_id}: {self.reason.code}"


class AuditLog(models.Model):
    """Every staff action: who did what to which object, and when."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object_repr}"


# --- Fraud: rate limits, allow and block lists, trending report, invalidations -----------------------------


class RateLimit(models.Model):
    """The signing rate limits (one row, edited by Sysadmins). Over-limit signatures are accepted silently and
    marked fraudulent: never counted, never confirmable."""

    enabled = models.BooleanField(default=True, help_text="Untick to switch every rate limit off.")
    burst_rate = models.PositiveIntegerField(
        default=5, help_text="Signatures one IP address may make on one petition within the burst period."
    )
    burst_period = models.PositiveIntegerField("burst period (seconds)", default=60)
    sustained_rate = models.PositiveIntegerField(
        default=20,
        help_text="Signatures one IP address may make on one petition within the sustained period.",
    )
    sustained_period = models.PositiveIntegerField("sustained period (seconds)", default=600)
    domain_rate = models.PositiveIntegerField(
        default=100,
        help_text="Signatures from one email domain on one petition within the domain period "
        "(domains on the allow list are exempt).",
    )
    domain_period = models.PositiveIntegerField("domain period (seconds)", default=300)
    minimum_fill_seconds = models.PositiveSmallIntegerField(
        default=2, help_text="A form sent back sooner than this after it was shown is treated as a bot."
    )
    trending_threshold = models.PositiveIntegerField(
        default=100, help_text="The hourly report lists IPs and domains with at least this many signatures."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "rate limits"
        verbose_name_plural = "rate limits"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="rate_limit_singleton"),
            models.CheckConstraint(
                condition=Q(sustained_rate__gte=F("burst_rate")) & Q(sustained_period__gte=F("burst_period")),
                name="rate_limit_sustained_covers_burst",
            ),
        ]

    def __str__(self):
        return "Rate limits"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "RateLimit":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class SigningListKind(models.TextChoices):
    IP = "ip", "IP address or range (CIDR)"
    DOMAIN = "domain", "Email domain (globs: *.example.com, **.example.com)"
    EMAIL = "email", "Email address"


class SigningListAction(models.TextChoices):
    ALLOW = "allow", "Allow (exempt from rate limits)"
    BLOCK = "block", "Block (always fraudulent)"


class SigningListEntry(models.Model):
    """One entry of the allow or block lists that signing checks (edited by Sysadmins)."""

    action = models.CharField(max_length=10, choices=SigningListAction.choices)
    kind = models.CharField(max_length=10, choices=SigningListKind.choices)
    value = models.CharField(max_length=254)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["action", "kind", "value"]
        verbose_name = "allow or block list entry"
        verbose_name_plural = "allow and block lists"
        constraints = [
            models.UniqueConstraint(fields=["action", "kind", "value"], name="signing_list_entry_unique")
        ]

    def __str__(self):
        return f"{self.get_action_display().split(' ')[0]} {self.kind} {self.value}"


class TrendingKind(models.TextChoices):
    IP = "ip", "IP address"
    DOMAIN = "domain", "Email domain"


class TrendingItem(models.Model):
    """The hourly report: an IP address or email domain that made many signatures on a petition in one hour."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="trending_items")
    kind = models.CharField(max_length=10, choices=TrendingKind.choices)
    value = models.CharField(max_length=253)
    starts_at = models.DateTimeField(help_text="The start of the hour.")
    signature_count = models.PositiveIntegerField()
    fraudulent_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-starts_at", "-signature_count"]
        constraints = [
            models.UniqueConstraint(
                fields=["petition", "kind", "value", "starts_at"], name="trending_item_unique"
            )
        ]

    def __str__(self):
        return f"{self.value} on petition {self.petition_id}: {self.signature_count}"


class InvalidationState(models.TextChoices):
    PENDING = "pending", "Pending"
    ENQUEUED = "enqueued", "Enqueued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


#: Invalidations that may still be started or cancelled.
INVALIDATION_ACTIVE_STATES = (
    InvalidationState.PENDING,
    InvalidationState.ENQUEUED,
    InvalidationState.RUNNING,
)


class Invalidation(models.Model):
    """A Sysadmin's request to invalidate every signature matching some criteria (at least one), in batches."""

    summary = models.CharField(max_length=255)
    details = models.TextField(max_length=10_000, blank=True)
    petition = models.ForeignKey(Petition, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255, blank=True, help_text="Case-insensitive; * matches anything.")
    postcode = models.CharField(max_length=10, blank=True)
    ip_address = models.CharField(
        "IP address", max_length=50, blank=True, help_text="An address or a range (CIDR), e.g. 192.0.2.0/24."
    )
    email = models.CharField(max_length=254, blank=True, help_text="Canonical address; * matches anything.")
    domain = models.CharField(
        max_length=253, blank=True, help_text="For example example.com or *.example.com."
    )
    constituency = models.ForeignKey(
        Constituency, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    country = models.ForeignKey(Country, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_after = models.DateTimeField(null=True, blank=True, help_text="Signed at or after this time.")
    created_before = models.DateTimeField(null=True, blank=True, help_text="Signed before this time.")

    state = models.CharField(
        max_length=20, choices=InvalidationState.choices, default=InvalidationState.PENDING, db_index=True
    )
    matching_count = models.PositiveIntegerField(null=True, blank=True)
    counted_at = models.DateTimeField(null=True, blank=True)
    invalidated_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When a batch last ran (the resume job looks at it)."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.summary


# --- Bulk email: notices to every signer (the outbox) ----------------------------------------------------------


class NoticeKind(models.TextChoices):
    RESPONSE_PUBLISHED = "response_published", "Government response published"
    DEBATE_SCHEDULED = "debate_scheduled", "Debate scheduled"
    DEBATE_OUTCOME = "debate_outcome", "Debate outcome recorded"
    OTHER_BUSINESS = "other_business", "Other parliamentary business published"


class NoticeState(models.TextChoices):
    PENDING = "pending", "Pending"  # stored with the staff action; not yet picked up
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


#: Notices the sweeper and the workers still move on (a paused one waits for "resume").
NOTICE_ACTIVE_STATES = (NoticeState.PENDING, NoticeState.RUNNING)
#: Notices staff may still pause, resume or cancel.
NOTICE_OPEN_STATES = (NoticeState.PENDING, NoticeState.RUNNING, NoticeState.PAUSED)


class Notice(models.Model):
    """One bulk email about a petition to every subscribed, validated signer and its creator.

    Created in the same transaction as the staff action that causes it (an outbox), so nothing is lost if Redis
    or a worker is down then; the fan-out makes one NoticeDelivery per recipient, in signature id order,
    resuming from `fanout_cursor`; senders claim deliveries and record each one sent."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=30, choices=NoticeKind.choices)
    # What the notice is about (a government response, a debate, other business): "app_label.model" and its pk.
    source_type = models.CharField(max_length=100, blank=True)
    source_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(
        max_length=20, choices=NoticeState.choices, default=NoticeState.PENDING, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last picked it up.")
    fanout_cursor = models.BigIntegerField(
        default=0, help_text="Recipients up to this signature id are queued."
    )
    fanout_done_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Recipients queued so far.")
    sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    preview_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()}: petition {self.petition_id}"


class DeliveryState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"  # claimed by a sender (a lease: back to queued if not recorded in time)
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"  # permanently (5xx), recorded against the signature too
    SKIPPED = "skipped", "Skipped"  # unsubscribed or anonymised by the time it was its turn


class NoticeDelivery(models.Model):
    """One recipient of one notice: the record that makes a retry never send twice."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    signature = models.ForeignKey(Signature, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Not before (temporary failures)."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sender claimed it (state sending)."
    )
    error = models.CharField(max_length=200, blank=True, help_text="The last SMTP reply (no address).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "signature"], name="notice_delivery_unique"),
        ]
        indexes = [
            models.Index(
                fields=["notice", "signature"], condition=Q(state="queued"), name="notice_delivery_queued"
            ),
            models.Index(
                fields=["notice", "claimed_at"], condition=Q(state="sending"), name="notice_delivery_sending"
            ),
        ]

    def __str__(self):
        return f"Notice {self.notice_id} to signature {self.signature_id}: {self.state}"


class PetitionHourlyCount(models.Model):
    """Signatures a petition gained (or, after invalidations, lost) in one clock hour (UTC), written by the tally
    in the same transaction as the count: the petition's signature history, and the hour's trending figure."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="hourly_counts")
    hour = models.DateTimeField(help_text="The start of the hour, UTC.")
    signature_count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["petition", "hour"], name="petition_hourly_count_unique")
        ]
        indexes = [models.Index(fields=["hour", "-signature_count"], name="petition_hourly_trending")]

    def __str__(self):
        return f"Petition {self.petition_id}, {self.hour:%Y-%m-%d %H}:00: {self.signature_count}"
