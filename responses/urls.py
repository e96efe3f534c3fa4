"""Public pages of the responses app."""

from django.urls import path

from . import views

app_name = "responses"

urlpatterns = [
    path("consultations", views.consultation_list, name="consultations"),
]
