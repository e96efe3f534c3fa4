"""Public URLs of the debates app: alerts."""

from django.urls import path

from . import views_alerts

app_name = "debates_alerts"

urlpatterns: list = [
    path("constituencies/<str:gss_code>/alerts/new", views_alerts.alert_new, name="new"),
    path(
        "constituencies/<str:gss_code>/alerts/check-email", views_alerts.alert_check_email, name="check_email"
    ),
    path("alerts/<int:alert_id>/confirm", views_alerts.alert_confirm, name="confirm"),
    path("alerts/<int:alert_id>/unsubscribe", views_alerts.alert_unsubscribe, name="unsubscribe"),
]
