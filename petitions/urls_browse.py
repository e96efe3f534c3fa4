"""Public URLs of the petitions app: browse."""

app_name = "petitions_browse"

urlpatterns: list = []
