"""Public URLs of the debates app: browse (the /debates list, its downloads and feeds)."""

from django.urls import path

from . import feeds, views_browse

app_name = "debates_browse"

urlpatterns = [
    path("debates", views_browse.event_list, name="list"),
    path("debates.csv", views_browse.event_list_csv, name="list_csv"),
    path("debates.json", views_browse.event_list_json, name="list_json"),
    path("debates.ics", feeds.event_calendar, name="calendar"),
    path("debates.atom", feeds.activity_feed, name="feed"),
]
