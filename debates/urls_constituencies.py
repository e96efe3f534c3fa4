"""Public URLs of the debates app: constituencies."""

app_name = "debates_constituencies"

urlpatterns: list = []
