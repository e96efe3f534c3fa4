from django.conf import settings
from django.db import models
from django.utils import timezone

from petitions.models import Department, Petition


class ResponseStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class GovernmentResponse(models.Model):
    """The government's response to a petition (one per petition). `details` is Markdown."""

    petition = models.OneToOneField(Petition, on_delete=models.CASCADE, related_name="government_response")
    responded_on = models.DateField()
    summary = models.CharField(max_length=500)
    details = models.TextField(max_length=10_000, blank=True, help_text="Markdown.")
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=ResponseStatus.choices, default=ResponseStatus.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the published text (summary or details) last changed; the page then says “Updated on”.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Response to petition {self.petition_id}"


class GovernmentResponseRevision(models.Model):
    """A copy of a government response as it stood after each save: staff see who changed what, and when."""

    response = models.ForeignKey(GovernmentResponse, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=ResponseStatus.choices)
    responded_on = models.DateField()
    summary = models.CharField(max_length=500)
    details = models.TextField(blank=True)
    department_name = models.CharField(max_length=200, blank=True)
    changed_fields = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["response", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["response", "number"], name="response_revision_number_unique")
        ]

    def __str__(self):
        return f"Revision {self.number} of response {self.response_id}"


class Consultation(models.Model):
    """A government consultation that petition signers can respond to."""

    title = models.CharField(max_length=200)
    summary = models.TextField(help_text="Markdown, shown before the closing date.")
    details = models.TextField(blank=True, help_text="Markdown, shown after the closing date.")
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    url = models.URLField(max_length=500)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    petitions = models.ManyToManyField(Petition, blank=True, related_name="consultations")
    responses = models.ManyToManyField(GovernmentResponse, blank=True, related_name="consultations")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-closes_at"]

    def __str__(self):
        return self.title

    def is_open(self, now=None) -> bool:
        now = now or timezone.now()
        return self.opens_at <= now < self.closes_at
