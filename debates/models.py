from django.db import models
from django.utils import timezone

from petitions.models import Constituency, Department, Petition


class EventKind(models.TextChoices):
    WESTMINSTER_HALL_DEBATE = "westminster_hall_debate", "Westminster Hall debate"
    BACKBENCH_BUSINESS_DEBATE = "backbench_business_debate", "Backbench Business debate"
    CHAMBER_DEBATE = "chamber_debate", "Chamber debate"
    MINISTERIAL_STATEMENT = "ministerial_statement", "Ministerial statement"
    SELECT_COMMITTEE_SESSION = "select_committee_session", "Select committee evidence session"
    COMMITTEE_REPORT = "committee_report", "Committee report"
    CALL_FOR_EVIDENCE = "call_for_evidence", "Call for evidence"


#: Kinds that are debates, so they can have an outcome and set a petition's debate state.
DEBATE_KINDS = (
    EventKind.WESTMINSTER_HALL_DEBATE,
    EventKind.BACKBENCH_BUSINESS_DEBATE,
    EventKind.CHAMBER_DEBATE,
)


class Outcome(models.TextChoices):
    DEBATED = "debated", "Debated"
    NOT_DEBATED = "not_debated", "Not debated"


class ParliamentaryEvent(models.Model):
    """Something Parliament did about one or more petitions: a debate, statement, committee session…"""

    kind = models.CharField(max_length=40, choices=EventKind.choices)
    title = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    place = models.CharField(max_length=200, blank=True)
    summary = models.TextField(blank=True, help_text="Markdown.")
    lead_mp = models.ForeignKey(
        Constituency,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The constituency whose MP leads it.",
    )
    lead_mp_name = models.CharField(
        "Lead (free text)",
        max_length=200,
        blank=True,
        help_text="For ministers, or an MP no longer in office.",
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    evidence_deadline = models.DateTimeField(
        null=True, blank=True, help_text="For calls for evidence: when contributions close."
    )
    evidence_url = models.URLField(max_length=500, blank=True)
    more_info_url = models.URLField(max_length=500, blank=True)
    transcript_url = models.URLField(max_length=500, blank=True)
    video_url = models.URLField(max_length=500, blank=True)
    debate_pack_url = models.URLField(max_length=500, blank=True)
    public_engagement_url = models.URLField(max_length=500, blank=True)
    debate_summary_url = models.URLField(max_length=500, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    outcome_reason = models.TextField(blank=True, help_text="Why it was not debated.")
    overview = models.TextField(blank=True, help_text="Markdown: what was said, once debated.")
    outcome_at = models.DateTimeField(null=True, blank=True, help_text="When the outcome was recorded.")
    petitions = models.ManyToManyField(Petition, blank=True, related_name="parliamentary_events")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["kind", "starts_at"], name="event_kind_starts")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.title}"

    def clean(self):
        from .validators import event_clean

        event_clean(self)

    @property
    def lead(self) -> str:
        if self.lead_mp_name:
            return self.lead_mp_name
        return f"{self.lead_mp.mp_name} MP" if self.lead_mp and self.lead_mp.mp_name else ""


class OtherBusiness(models.Model):
    """'Other parliamentary business' on a petition: a note staff publish (and may email signers)."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="other_business")
    subject = models.CharField(max_length=150)
    body = models.TextField(max_length=6000, help_text="Markdown.")
    occurred_on = models.DateField(default=timezone.localdate)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["occurred_on", "created_at"]
        verbose_name = "other parliamentary business"
        verbose_name_plural = "other parliamentary business"

    def __str__(self):
        return self.subject


class AlertState(models.TextChoices):
    PENDING = "pending", "Waiting for the address to be confirmed"
    ACTIVE = "active", "Confirmed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class ConstituencyAlert(models.Model):
    """An email address (typically an MP's office) subscribed to a weekly digest about one constituency:
    double opt-in, one-click unsubscribe. Tokens are long and random; the address is never in a URL."""

    email = models.EmailField(max_length=254)
    constituency = models.ForeignKey(Constituency, on_delete=models.CASCADE, related_name="alerts")
    state = models.CharField(max_length=20, choices=AlertState.choices, default=AlertState.PENDING)
    confirm_token = models.CharField(max_length=64, unique=True)
    unsubscribe_token = models.CharField(max_length=64, unique=True)
    confirmation_emails = models.PositiveSmallIntegerField(default=0)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    #: Petition ids already reported, per threshold ("100", "1000"), so each crossing is reported once.
    reported = models.JSONField(default=dict, blank=True)
    last_digest_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["email", "constituency"], name="constituency_alert_unique"),
        ]
        indexes = [models.Index(fields=["state", "constituency"], name="constituency_alert_state")]

    def __str__(self):
        return f"Alert {self.pk} on {self.constituency_id}: {self.state}"


class AlertDigest(models.Model):
    """One week's digest for one alert: the record that makes it sent once (claimed, sent, recorded)."""

    alert = models.ForeignKey(ConstituencyAlert, on_delete=models.CASCADE, related_name="digests")
    week = models.DateField(help_text="Monday (London) of the week the digest covers.")
    state = models.CharField(max_length=10, default="queued")
    content = models.JSONField(default=dict, blank=True, help_text="What the digest says, fixed when queued.")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "week"], name="alert_digest_unique")]
        indexes = [models.Index(fields=["state", "week"], name="alert_digest_state")]

    def __str__(self):
        return f"Digest for alert {self.alert_id}, week of {self.week}: {self.state}"
