"""The hourly trending report: IP addresses and email domains that signed one petition a lot in one hour."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from petitions import tasks
from petitions.models import RateLimit, Signature, SignatureState, TrendingItem
from petitions.services import trending_items_record

from .factories import FraudulentSignatureFactory, OpenPetitionFactory, PendingSignatureFactory

pytestmark = pytest.mark.django_db

HOUR = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def threshold():
    RateLimit.objects.update_or_create(pk=1, defaults={"trending_threshold": 3})


def signatures(
    petition, n, *, ip="192.0.2.1", domain="example.org", at=HOUR, factory=PendingSignatureFactory
):
    rows = []
    for i in range(n):
        row = factory.build(petition=petition, ip_address=ip, created_at=at + timedelta(minutes=i))
        row.email = row.canonical_email = f"{row.name.replace(' ', '').lower()}@{domain}"
        row.save()
        rows.append(row)
    return rows


def report(hour=HOUR):
    return sorted(
        TrendingItem.objects.filter(starts_at=hour).values_list(
            "petition_id", "kind", "value", "signature_count", "fraudulent_count"
        )
    )


def test_groups_at_or_over_the_threshold_are_recorded():
    petition, other = OpenPetitionFactory(), OpenPetitionFactory()
    signatures(petition, 2, ip="192.0.2.1", domain="bots.example")
    signatures(petition, 2, ip="192.0.2.1", domain="bots.example", factory=FraudulentSignatureFactory)
    signatures(petition, 2, ip="192.0.2.2", domain="example.org")  # under the threshold
    signatures(other, 3, ip="192.0.2.1", domain="example.org")  # another petition: counted apart
    assert Signature.objects.filter(state=SignatureState.FRAUDULENT).count() == 2

    assert trending_items_record(hour_start=HOUR) == 4
    assert report() == sorted(
        [
            (petition.pk, "ip", "192.0.2.1", 4, 2),
            (petition.pk, "domain", "bots.example", 4, 2),
            (other.pk, "ip", "192.0.2.1", 3, 0),
            (other.pk, "domain", "example.org", 3, 0),
        ]
    )


def test_only_the_hour_counts():
    petition = OpenPetitionFactory()
    signatures(petition, 2, at=HOUR + timedelta(minutes=58))  # 14:58 and 14:59
    signatures(petition, 1, at=HOUR + timedelta(hours=1))  # 15:00: the next hour
    signatures(petition, 1, at=HOUR - timedelta(seconds=1))  # 13:59:59: the hour before
    trending_items_record(hour_start=HOUR)
    assert report() == []
    signatures(petition, 1, at=HOUR)
    trending_items_record(hour_start=HOUR + timedelta(minutes=30))  # any time in the hour means the hour
    assert report() == [(petition.pk, "domain", "example.org", 3, 0), (petition.pk, "ip", "192.0.2.1", 3, 0)]


def test_running_twice_gives_the_same_rows_and_stale_ones_go():
    petition = OpenPetitionFactory()
    signatures(petition, 3, ip="192.0.2.1", domain="bots.example")
    signatures(petition, 4, ip="192.0.2.9", domain="bots.example")
    trending_items_record(hour_start=HOUR)
    first = list(TrendingItem.objects.order_by("pk").values())
    trending_items_record(hour_start=HOUR)
    assert list(TrendingItem.objects.order_by("pk").values()) == first
    assert len(first) == 3

    RateLimit.objects.filter(pk=1).update(trending_threshold=4)
    trending_items_record(hour_start=HOUR)
    assert report() == [(petition.pk, "domain", "bots.example", 7, 0), (petition.pk, "ip", "192.0.2.9", 4, 0)]
    # Other hours are left alone.
    old = TrendingItem.objects.create(
        petition=petition,
        kind="ip",
        value="192.0.2.5",
        starts_at=HOUR - timedelta(hours=3),
        signature_count=9,
    )
    trending_items_record(hour_start=HOUR)
    assert TrendingItem.objects.filter(pk=old.pk).exists()


def test_rows_without_an_ip_address_or_domain_are_not_grouped():
    petition = OpenPetitionFactory()
    signatures(petition, 3, ip=None)
    Signature.objects.update(email_domain="")
    assert trending_items_record(hour_start=HOUR) == 0


def test_the_task_reports_the_previous_full_hour():
    petition = OpenPetitionFactory()
    signatures(petition, 3, ip="192.0.2.1")
    with time_machine.travel(HOUR + timedelta(hours=1, minutes=5), tick=False):
        assert tasks.trending_report.delay().get() == 2
    assert report() == [(petition.pk, "domain", "example.org", 3, 0), (petition.pk, "ip", "192.0.2.1", 3, 0)]
    with time_machine.travel(HOUR + timedelta(hours=2, minutes=5), tick=False):
        assert tasks.trending_report.delay().get() == 0
    assert len(report()) == 2  # the earlier hour's report stays


def test_the_report_is_scheduled_hourly_at_five_past():
    entry = settings.CELERY_BEAT_SCHEDULE["petitions-trending-report"]
    assert entry["task"] == "petitions.tasks.trending_report"
    schedule = entry["schedule"]
    assert schedule.minute == {5} and schedule.hour == set(range(24))
