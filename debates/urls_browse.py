"""Public URLs of the debates app: browse."""

app_name = "debates_browse"

urlpatterns: list = []
