"""Public URLs of the petitions app: history."""

from django.urls import path

from . import history

app_name = "petitions_history"

urlpatterns: list = [
    path("petitions/<int:petition_id>/history.json", history.history_json, name="json"),
]
