"""Public URLs of the petitions app: history."""

app_name = "petitions_history"

urlpatterns: list = []
