from django.urls import path

from . import api, views

app_name = "petitions"

urlpatterns = [
    path("", views.home, name="home"),
    path("petitions/<int:petition_id>", views.petition_detail, name="detail"),
    path("petitions/<int:petition_id>.json", api.petition_json, name="detail_json"),
    path("petitions/<int:petition_id>/gathering-support", views.gathering_support, name="gathering_support"),
    path("petitions/<int:petition_id>/moderation-info", views.moderation_info, name="moderation_info"),
    path("petitions/<int:petition_id>/map", views.petition_map, name="map"),
    path("petitions/<int:petition_id>/count.json", views.petition_count_json, name="count_json"),
    path("data-sources", views.data_sources, name="data_sources"),
    path("help", views.info_page, {"page": "help"}, name="help"),
    path("privacy", views.info_page, {"page": "privacy"}, name="privacy"),
    path("cookies", views.info_page, {"page": "cookies"}, name="cookies"),
    path("accessibility", views.info_page, {"page": "accessibility"}, name="accessibility"),
    # Starting a petition (stages: see views.CREATE_STAGES) and gathering supporters.
    path("petitions/start", views.petition_start, name="start"),
    path("petitions/new", views.petition_new, name="new"),
    path("petitions/new/<slug:stage>", views.petition_new_stage, name="new_stage"),
    path("petitions/thank-you", views.petition_thank_you, name="thank_you"),
    path("petitions/<int:petition_id>/sponsors/new", views.sponsor_new, name="sponsor_new"),
    path("petitions/<int:petition_id>/sponsors/thank-you", views.sponsor_thank_you, name="sponsor_thank_you"),
    path("petitions/<int:petition_id>/signatures/new", views.signature_new, name="sign"),
    path(
        "petitions/<int:petition_id>/signatures/thank-you", views.signature_thank_you, name="sign_thank_you"
    ),
    path("signatures/<int:signature_id>/confirm", views.signature_confirm, name="signature_confirm"),
    path(
        "signatures/<int:signature_id>/unsubscribe", views.signature_unsubscribe, name="signature_unsubscribe"
    ),
    path("signatures/<int:signature_id>/withdraw", views.signature_withdraw, name="signature_withdraw"),
]
