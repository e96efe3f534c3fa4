"""Dates and times are written the petitions site's way, in London time; Markdown is sanitised."""

from datetime import UTC, date, datetime

from petitions.dates import deadline_for
from petitions.templatetags.petition_tags import (
    clock_time,
    day_date,
    day_month,
    long_date,
    markdown,
    paragraphs,
)


def test_seed_page_formats():
    closes = datetime(2022, 7, 1, 22, 45, tzinfo=UTC)  # 11.45pm BST
    assert f"{clock_time(closes)} on {day_date(closes)}" == "11.45pm on Friday 1 July 2022"
    deadline = datetime(2023, 3, 21, 12, 0, tzinfo=UTC)  # GMT in March
    assert f"{clock_time(deadline)} on {day_month(deadline)}" == "midday on Tuesday 21 March"
    assert long_date(date(2022, 3, 9)) == "9 March 2022"


def test_clock_time_forms():
    assert clock_time(datetime(2026, 1, 5, 0, 0, tzinfo=UTC)) == "midnight"
    assert clock_time(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) == "9am"
    assert clock_time(datetime(2026, 1, 5, 13, 5, tzinfo=UTC)) == "1.05pm"


def test_deadline_is_end_of_day_london_six_months_on_with_month_end_clamping():
    opened = datetime(2025, 8, 31, 10, 0, tzinfo=UTC)
    deadline = deadline_for(opened, 6)
    assert deadline.isoformat() == "2026-02-28T23:59:59.999999+00:00"
    summer = deadline_for(datetime(2026, 1, 10, 23, 30, tzinfo=UTC), 6)
    assert summer.isoformat() == "2026-07-10T23:59:59.999999+01:00"


def test_markdown_strips_html_and_javascript_links():
    html = markdown("Hello <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>")
    assert (
        "<script" not in html and "javascript:" not in html and "onerror" not in html and "<img" not in html
    )
    assert 'class="govuk-body"' in html


def test_markdown_headings_step_down_under_the_section_heading():
    assert markdown("## Reforms") == '<h3 class="govuk-heading-m">Reforms</h3>'


def test_paragraphs_escape_petition_text():
    assert (
        paragraphs("<b>hi</b>\n\nthere")
        == '<p class="govuk-body">&lt;b&gt;hi&lt;/b&gt;</p><p class="govuk-body">there</p>'
    )
