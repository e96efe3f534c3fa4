"""Public URLs of the debates app: alerts."""

app_name = "debates_alerts"

urlpatterns: list = []
