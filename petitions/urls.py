from django.urls import path

from . import views

app_name = "petitions"

urlpatterns = [
    path("", views.home, name="home"),
    path("petitions/<int:petition_id>", views.petition_detail, name="detail"),
    path("petitions/<int:petition_id>/gathering-support", views.gathering_support, name="gathering_support"),
    path("petitions/<int:petition_id>/moderation-info", views.moderation_info, name="moderation_info"),
    path("petitions/<int:petition_id>/map", views.petition_map, name="map"),
    path("data-sources", views.data_sources, name="data_sources"),
]
