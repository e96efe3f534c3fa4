"""Staff pages of the responses app that are not a model's admin (mounted under /admin/responses/)."""

app_name = "responses_admin"

urlpatterns: list = []
