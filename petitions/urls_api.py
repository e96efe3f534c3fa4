"""Public URLs of the petitions app: api."""

app_name = "petitions_api"

urlpatterns: list = []
