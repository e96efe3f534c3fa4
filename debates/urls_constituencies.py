"""Public URLs of the debates app: constituencies."""

from django.urls import path

from . import views_constituencies as views

app_name = "debates_constituencies"

urlpatterns = [
    path("debates/<int:event_id>", views.event_detail, name="event"),
    path("constituencies", views.constituency_index, name="index"),
    # Before the page's pattern, which would otherwise take "<code>.json" as a code (and 404 it).
    path("constituencies/<str:gss_code>.json", views.constituency_detail_json, name="detail_json"),
    path("constituencies/<str:gss_code>", views.constituency_detail, name="detail"),
]
