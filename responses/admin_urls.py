"""Staff pages of the responses app that are not a model's admin (mounted under /admin/responses/)."""

from django.contrib import admin
from django.urls import path

from .admin_timeliness import response_timeliness_view

app_name = "responses_admin"

urlpatterns: list = [
    path("timeliness/", admin.site.admin_view(response_timeliness_view), name="timeliness"),
]
