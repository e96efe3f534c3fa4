"""Public pages of the responses app."""

app_name = "responses"

urlpatterns: list = []
