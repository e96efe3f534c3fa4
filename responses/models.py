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
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Response to petition {self.petition_id}"


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
