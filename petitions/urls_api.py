"""Public URLs of the petitions app: api."""

from django.urls import path

from . import api

app_name = "petitions_api"

urlpatterns = [
    path("petitions.json", api.petition_list_json, name="list"),
    path("constituencies.json", api.constituencies_json, name="constituencies"),
    path("trending.json", api.trending_json, name="trending"),
    path("api/openapi.json", api.openapi_json, name="openapi"),
]
