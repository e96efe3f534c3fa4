"""Public URLs of the petitions app: browse."""

from django.urls import path

from . import views_browse

app_name = "petitions_browse"

urlpatterns = [
    path("petitions", views_browse.petition_index, name="index"),
    path("petitions.csv", views_browse.petition_index_csv, name="csv"),
    path("petitions/local", views_browse.local_petitions, name="local"),
    path(
        "petitions/<int:petition_id>/constituencies.csv",
        views_browse.petition_constituencies_csv,
        name="constituencies_csv",
    ),
]
