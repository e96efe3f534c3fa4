"""Signature history: the tally's hourly rows, their rebuild, `/petitions/<id>/history.json` and the chart on the
petition page (an SVG line with a table alternative)."""

import datetime
import re
import threading
import xml.etree.ElementTree as ET

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from petitions.history import MAX_POINTS, history_chart
from petitions.models import AuditLog, Petition, PetitionHourlyCount, PetitionState, Signature, SiteSettings
from petitions.services import petition_counts_repair, petition_recount, signatures_tally
from petitions.services.counting import petition_history_rebuild, petitions_history_rebuild

from .factories import (
    ClosedPetitionFactory,
    OpenPetitionFactory,
    PetitionFactory,
    ValidatedSignatureFactory,
)

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
SVG = "{http://www.w3.org/2000/svg}"


def at(text: str) -> datetime.datetime:
    """A UTC time: "2022-03-09 12:34"."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def hourly(petition) -> dict:
    return {
        row.hour.astimezone(UTC): row.signature_count
        for row in PetitionHourlyCount.objects.filter(petition=petition).exclude(signature_count=0)
    }


def sign(petition, *times: str):
    return [ValidatedSignatureFactory(petition=petition, validated_at=at(t)) for t in times]


def set_state(signature, state: str):
    """As invalidation and withdrawal do: the state alone (saving the object would also reset `counted_at`)."""
    Signature.objects.filter(pk=signature.pk).update(state=state)


def history_url(petition) -> str:
    return f"/petitions/{petition.pk}/history.json"


# --- The tally's hourly rows ---------------------------------------------------------------------------------


def test_tally_records_each_signature_in_the_utc_hour_it_was_validated():
    petition = OpenPetitionFactory()
    sign(petition, "2022-03-09 12:00", "2022-03-09 12:59:59.999", "2022-03-09 13:00", "2022-07-01 23:30")

    signatures_tally()

    assert hourly(petition) == {
        at("2022-03-09 12:00"): 2,
        at("2022-03-09 13:00"): 1,
        # 00:30 in London (summer time), 23:00 in UTC: the history's hours are UTC.
        at("2022-07-01 23:00"): 1,
    }


def test_two_tally_runs_in_one_hour_accumulate_and_an_invalidation_subtracts_from_its_hour():
    petition = OpenPetitionFactory()
    first = sign(petition, "2022-03-09 12:05", "2022-03-09 14:10")
    signatures_tally()
    sign(petition, "2022-03-09 12:40", "2022-03-09 12:41")
    signatures_tally()
    assert hourly(petition) == {at("2022-03-09 12:00"): 3, at("2022-03-09 14:00"): 1}

    set_state(first[1], "invalidated")
    set_state(first[0], "withdrawn")
    result = signatures_tally()

    assert result["subtracted"] == 2
    assert hourly(petition) == {at("2022-03-09 12:00"): 2}
    assert sum(hourly(petition).values()) == Petition.objects.get(pk=petition.pk).signature_count == 2


def test_one_upsert_statement_per_tally_run_whatever_the_petitions_and_hours():
    petitions = OpenPetitionFactory.create_batch(3)
    for i, petition in enumerate(petitions):
        sign(petition, *[f"2022-03-{10 + h:02d} {h:02d}:15" for h in range(5 + i)])

    with CaptureQueriesContext(connection) as queries:
        signatures_tally()

    writes = [q["sql"] for q in queries if "petitions_petitionhourlycount" in q["sql"]]
    assert len(writes) == 1 and "ON CONFLICT" in writes[0]
    assert [len(hourly(p)) for p in petitions] == [5, 6, 7]


def test_the_tally_and_its_history_roll_back_together(monkeypatch):
    from petitions.services import counting

    petition = OpenPetitionFactory()
    sign(petition, "2022-03-09 12:05")

    def fail(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(counting, "_chunks", fail)  # after the counts and the history, before counted_at
    with pytest.raises(RuntimeError):
        signatures_tally()

    assert hourly(petition) == {}
    assert Petition.objects.get(pk=petition.pk).signature_count == 0


# --- Rebuild ---------------------------------------------------------------------------------------------------


def test_rebuild_gives_exactly_the_tallys_rows():
    busy, quiet = OpenPetitionFactory(), OpenPetitionFactory()
    signatures = sign(busy, "2022-03-09 12:05", "2022-03-09 12:06", "2022-03-09 15:00", "2022-03-10 01:00")
    sign(quiet, "2022-03-09 12:30")
    signatures_tally()
    set_state(signatures[2], "invalidated")
    sign(busy, "2022-03-11 09:00")
    signatures_tally()
    tallied = {p.pk: hourly(p) for p in (busy, quiet)}

    PetitionHourlyCount.objects.all().delete()
    assert petitions_history_rebuild() == 2

    assert {p.pk: hourly(p) for p in (busy, quiet)} == tallied
    assert tallied[busy.pk] == {
        at("2022-03-09 12:00"): 2,
        at("2022-03-10 01:00"): 1,
        at("2022-03-11 09:00"): 1,
    }
    # Only the petition asked for; hours that no longer hold a signature are removed.
    PetitionHourlyCount.objects.create(petition=quiet, hour=at("2020-01-01 00:00"), signature_count=5)
    assert petition_history_rebuild(petition_id=quiet.pk)
    assert hourly(quiet) == tallied[quiet.pk]


def test_rebuild_leaves_uncounted_signatures_to_the_tally():
    petition = OpenPetitionFactory()
    sign(petition, "2022-03-09 12:05")
    signatures_tally()
    sign(petition, "2022-03-09 12:10")  # validated, not yet tallied

    petition_history_rebuild(petition_id=petition.pk)
    assert hourly(petition) == {at("2022-03-09 12:00"): 1}
    signatures_tally()
    assert hourly(petition) == {at("2022-03-09 12:00"): 2}


def test_a_recount_that_counts_rows_rebuilds_the_history():
    petition = OpenPetitionFactory()
    sign(petition, "2022-03-09 12:05", "2022-03-09 18:00")

    assert petition_recount(petition_id=petition.pk) == 2  # as closing a petition does, before the tally

    assert hourly(petition) == {at("2022-03-09 12:00"): 1, at("2022-03-09 18:00"): 1}
    assert signatures_tally()["added"] == 0
    assert hourly(petition) == {at("2022-03-09 12:00"): 1, at("2022-03-09 18:00"): 1}


def test_nightly_check_repairs_a_drifted_history_and_records_it():
    petition = OpenPetitionFactory()
    sign(petition, "2022-03-09 12:05", "2022-03-09 18:00")
    signatures_tally()
    tallied = hourly(petition)
    PetitionHourlyCount.objects.filter(petition=petition, hour=at("2022-03-09 18:00")).delete()

    assert petition_counts_repair(petition_id=petition.pk)
    assert hourly(petition) == tallied
    entry = AuditLog.objects.get()
    assert (entry.action, entry.details) == ("counts.repair", {"before": 2, "after": 2, "history_before": 1})
    assert not petition_counts_repair(petition_id=petition.pk)


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite serialises writers: needs PostgreSQL row locks."
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_tallies_recounts_and_invalidations_keep_the_history_exact():
    from petitions.services import reference_data_load

    reference_data_load()
    petitions = OpenPetitionFactory.create_batch(3)
    for i, petition in enumerate(petitions):
        sign(petition, *[f"2022-03-09 {h % 24:02d}:{(7 * h) % 60:02d}" for h in range(60 + 20 * i)])
    start = threading.Barrier(4)
    errors = []

    def worker(job):
        def run():
            try:
                start.wait(timeout=10)
                job()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        return run

    def tally():
        for _ in range(30):
            signatures_tally(limit=7)

    def invalidate():
        for petition in petitions:
            ids = list(
                Signature.objects.filter(petition=petition).order_by("pk").values_list("pk", flat=True)[::4]
            )
            Signature.objects.filter(pk__in=ids).update(state="invalidated")

    def recount():
        for petition in petitions:
            petition_recount(petition_id=petition.pk)

    threads = [threading.Thread(target=worker(job)) for job in (tally, tally, invalidate, recount)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    while signatures_tally()["petition_ids"]:
        pass

    tallied = {p.pk: hourly(p) for p in petitions}
    petitions_history_rebuild()
    assert {p.pk: hourly(p) for p in petitions} == tallied
    for petition in petitions:
        petition.refresh_from_db()
        assert (
            sum(tallied[petition.pk].values())
            == petition.signature_count
            == 3 * (60 + 20 * petitions.index(petition)) // 4
        )


# --- history.json ---------------------------------------------------------------------------------------------


def test_history_json_gives_every_hour_with_signatures_and_the_running_total(client, settings):
    petition = OpenPetitionFactory()
    sign(petition, "2022-03-09 12:05", "2022-03-09 12:50", "2022-03-09 15:00", "2022-03-12 08:59:59.999")
    signatures_tally()

    response = client.get(history_url(petition))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    interval = SiteSettings.load().signature_count_interval
    assert (
        response["Cache-Control"]
        == f"public, max-age={interval}, stale-while-revalidate={2 * interval}, stale-if-error={5 * interval}"
    )
    assert response.json() == {
        "links": {"self": f"{settings.SITE_URL}/petitions/{petition.pk}/history.json"},
        "data": {
            "type": "history",
            "id": petition.pk,
            "attributes": {
                "hours": [
                    {"hour": "2022-03-09T12:00:00.000Z", "signature_count": 2, "total": 2},
                    {"hour": "2022-03-09T15:00:00.000Z", "signature_count": 1, "total": 3},
                    {"hour": "2022-03-12T08:00:00.000Z", "signature_count": 1, "total": 4},
                ]
            },
        },
    }


def test_history_json_leaves_out_hours_that_came_to_nothing(client):
    petition = OpenPetitionFactory()
    gone = sign(petition, "2022-03-09 12:05")[0]
    sign(petition, "2022-03-09 13:05")
    signatures_tally()
    set_state(gone, "invalidated")
    signatures_tally()

    hours = client.get(history_url(petition)).json()["data"]["attributes"]["hours"]
    assert hours == [{"hour": "2022-03-09T13:00:00.000Z", "signature_count": 1, "total": 1}]


@pytest.mark.parametrize("state", [PetitionState.CLOSED, PetitionState.REJECTED])
def test_history_json_for_closed_and_rejected_petitions(client, state):
    petition = PetitionFactory(state=state)
    assert client.get(history_url(petition)).json()["data"]["attributes"]["hours"] == []


@pytest.mark.parametrize(
    "state", [PetitionState.PENDING, PetitionState.VALIDATED, PetitionState.SPONSORED, PetitionState.STOPPED]
)
def test_history_json_of_a_petition_never_published_is_not_found(client, state):
    petition = PetitionFactory(state=state)
    sign(petition, "2022-03-09 12:05")
    signatures_tally()
    response = client.get(history_url(petition))
    assert response.status_code == 404
    assert b"2022-03-09" not in response.content


def test_history_json_of_a_removed_petition_is_gone_and_unknown_ids_are_not_found(client):
    removed = PetitionFactory(state=PetitionState.REMOVED, opened_at=timezone.now())
    hidden_unpublished = PetitionFactory(state=PetitionState.HIDDEN)
    assert client.get(history_url(removed)).status_code == 410
    assert client.get(history_url(hidden_unpublished)).status_code == 404
    assert client.get("/petitions/987654321/history.json").status_code == 404
    assert client.get(f"/petitions/{2**63}/history.json").status_code == 404
    assert client.post(history_url(removed)).status_code == 405


def test_history_json_queries_are_fixed_whatever_the_number_of_hours(client, django_assert_num_queries):
    short, long = OpenPetitionFactory(), OpenPetitionFactory()
    sign(short, "2022-03-09 12:05")
    PetitionHourlyCount.objects.bulk_create(
        PetitionHourlyCount(
            petition=long, hour=at("2022-01-01 00:00") + datetime.timedelta(hours=h), signature_count=h
        )
        for h in range(1, 4_000)
    )
    signatures_tally()
    SiteSettings.cached()

    with django_assert_num_queries(2):
        assert len(client.get(history_url(short)).json()["data"]["attributes"]["hours"]) == 1
    with django_assert_num_queries(2):
        hours = client.get(history_url(long)).json()["data"]["attributes"]["hours"]
    assert len(hours) == 3_999 and hours[-1]["total"] == sum(range(4_000))


def test_history_json_holds_nothing_about_signers(client):
    petition = OpenPetitionFactory()
    signatures = sign(petition, "2022-03-09 12:05", "2022-03-09 13:05")
    for s in signatures:
        s.ip_address = s.validated_ip = "192.0.2.44"
        s.save()
    signatures_tally()

    body = client.get(history_url(petition)).content.decode()
    for s in signatures:
        for personal in (s.email, s.name, s.postcode, "192.0.2.44"):
            assert personal not in body
    assert "@" not in body


# --- The chart on the petition page ---------------------------------------------------------------------------


def _svg(html: str) -> ET.Element:
    match = re.search(r'<svg [^>]*class="app-history-chart".*?</svg>', html, re.S)
    assert match, "no chart"
    return ET.fromstring(match.group(0))  # noqa: S314 - our own output


def _points(svg: ET.Element) -> list[tuple[float, float]]:
    line = svg.find(f"{SVG}polyline")
    return [tuple(map(float, p.split(","))) for p in line.get("points").split()]


def _value_to_y(svg: ET.Element):
    """The y axis, read from its labelled grid lines: value -> y."""
    grid = svg.find(f"{SVG}g")
    ys = [float(line.get("y1")) for line in grid.findall(f"{SVG}line")]
    labels = [int(t.text.replace(",", "")) for t in grid.findall(f"{SVG}text")[: len(ys)]]
    (v0, y0), (v1, y1) = (labels[0], ys[0]), (labels[-1], ys[-1])
    return lambda value: y0 + (y1 - y0) * (value - v0) / (v1 - v0)


def _table_rows(html: str) -> list[tuple[str, int, int]]:
    table = html.split("Signatures over time as a table")[1].split("</table>")[0]
    return [
        (label, int(n.replace(",", "")), int(total.replace(",", "")))
        for label, n, total in re.findall(
            r'<th scope="row"[^>]*>([^<]+)</th><td[^>]*>([\d,]+)</td><td[^>]*>([\d,]+)</td>', table
        )
    ]


def _closed_petition(days: int) -> Petition:
    opened = at("2022-01-10 09:00")
    return ClosedPetitionFactory(
        opened_at=opened, closed_at=opened + datetime.timedelta(days=days), deadline_at=None
    )


def test_the_page_draws_the_cumulative_line_day_by_day_with_a_table(client):
    petition = _closed_petition(days=180)
    sign(petition, "2022-01-10 09:30", "2022-01-10 10:30", "2022-01-12 23:30", "2022-03-01 12:00")
    sign(petition, *["2022-07-08 12:00"] * 3)
    signatures_tally()

    html = client.get(f"/petitions/{petition.pk}").content.decode()
    svg = _svg(html)

    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "history-chart-title history-chart-desc"
    assert svg.find(f"{SVG}title").text == "Total signatures over time"
    desc = svg.find(f"{SVG}desc").text
    assert "from 0 on 10 January 2022 to 7 on 9 July 2022" in desc
    assert "The busiest day was 8 July 2022, with 3 signatures." in desc
    points = _points(svg)
    days = (datetime.date(2022, 7, 9) - datetime.date(2022, 1, 10)).days + 1
    assert len(points) == days + 1 <= MAX_POINTS
    assert [x for x, _ in points] == sorted({x for x, _ in points})
    # Each point is the total at the end of its day (London days: 23:30 UTC on 12 January is still the 12th).
    totals = {0: 2, 2: 3, 50: 4, 179: 7}
    expected, running = [0], 0
    for day in range(days):
        running = totals.get(day, running)
        expected.append(running)
    y = _value_to_y(svg)
    assert all(abs(py - y(v)) < 0.15 for (_, py), v in zip(points, expected, strict=True))

    assert _table_rows(html) == [
        ("10 January 2022", 2, 2),
        ("12 January 2022", 1, 3),
        ("1 March 2022", 1, 4),
        ("8 July 2022", 3, 7),
    ]
    assert f'href="/petitions/{petition.pk}/history.json"' in html


def test_a_young_petition_is_drawn_hour_by_hour_up_to_now(client):
    now = timezone.now()
    petition = OpenPetitionFactory(opened_at=now - datetime.timedelta(hours=30))
    for hours_ago in (30, 29, 29, 2):
        ValidatedSignatureFactory(petition=petition, validated_at=now - datetime.timedelta(hours=hours_ago))
    signatures_tally()

    points = _points(_svg(client.get(f"/petitions/{petition.pk}").content.decode()))
    assert 31 <= len(points) - 1 <= 32  # every hour from the first signature's to now's
    ys = [y for _, y in points]
    assert ys == sorted(ys, reverse=True)  # never falls: y grows downwards
    assert len(set(ys)) == 4  # 0, 1, 3, 4


@pytest.mark.parametrize("days", [150, 198, 199, 400, 1_500, 3_650])
def test_long_lives_are_aggregated_to_at_most_200_points(days):
    petition = _closed_petition(days=days)
    start = petition.opened_at.replace(minute=0)
    hours = [(start + datetime.timedelta(hours=h), 1) for h in range(0, days * 24, 7)]
    chart = history_chart(petition=petition, hours=hours, now=timezone.now())

    points = chart.points.split()
    assert 20 < len(points) <= MAX_POINTS
    assert len(points) == MAX_POINTS or days != 198  # the longest life still drawn day by day
    assert chart.rows[-1].total == len(hours) == sum(row.count for row in chart.rows)
    assert chart.row_heading == ("Day" if days <= 198 else "Week beginning")
    ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg"><polyline points="{chart.points}"/></svg>')  # noqa: S314


def test_the_page_queries_are_fixed_whatever_the_history(client, django_assert_num_queries):
    short, long = _closed_petition(days=180), _closed_petition(days=180)
    sign(short, "2022-01-10 09:30")
    sign(long, "2022-01-10 09:30")
    signatures_tally()
    PetitionHourlyCount.objects.filter(petition=long).delete()
    PetitionHourlyCount.objects.bulk_create(
        PetitionHourlyCount(
            petition=long, hour=at("2022-01-10 09:00") + datetime.timedelta(hours=h), signature_count=1
        )
        for h in range(4_000)
    )
    client.get(f"/petitions/{short.pk}")

    with CaptureQueriesContext(connection) as short_queries:
        assert "app-history-chart" in client.get(f"/petitions/{short.pk}").content.decode()
    with django_assert_num_queries(len(short_queries)):
        assert "4,000" in client.get(f"/petitions/{long.pk}").content.decode()


def test_no_chart_before_a_petition_opens_or_without_signatures(client):
    rejected = PetitionFactory(state=PetitionState.REJECTED)
    sign(rejected, "2022-03-09 12:05")
    signatures_tally()
    quiet = OpenPetitionFactory()

    for petition in (rejected, quiet):
        html = client.get(f"/petitions/{petition.pk}").content.decode()
        assert "app-history-chart" not in html and "Signatures over time" not in html


def test_the_page_shows_regions_and_top_constituencies_linked_to_their_pages(client):
    petition = OpenPetitionFactory()
    signature = sign(petition, "2022-03-09 12:05")[0]
    signatures_tally()

    html = client.get(f"/petitions/{petition.pk}").content.decode()

    assert "Signatures by region" in html and "Top constituencies" in html
    constituency = signature.constituency
    assert f'href="/constituencies/{constituency.gss_code}">{constituency.name}</a>' in html
    assert signature.email not in html and signature.postcode not in html


def test_the_chart_is_valid_xml_with_awkward_numbers(client):
    petition = OpenPetitionFactory(opened_at=at("2022-03-09 00:00"))
    PetitionHourlyCount.objects.create(
        petition=petition, hour=at("2022-03-09 12:00"), signature_count=1_234_567
    )
    html = client.get(f"/petitions/{petition.pk}").content.decode()
    svg = _svg(html)
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert labels[:6] == ["0", "250,000", "500,000", "750,000", "1,000,000", "1,250,000"]
    assert "to 1,234,567 on" in svg.find(f"{SVG}desc").text
    assert all(0 <= y <= 260 and 0 <= x <= 640 for x, y in _points(svg))
