from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/responses/", include("responses.admin_urls")),
    path("admin/", admin.site.urls),
    path("", include("responses.urls")),
    path("", include("debates.urls_browse")),
    path("", include("debates.urls_constituencies")),
    path("", include("debates.urls_alerts")),
    path("", include("petitions.urls")),
    path("", include("petitions.urls_browse")),
    path("", include("petitions.urls_api")),
    path("", include("petitions.urls_history")),
]

handler400 = "petitions.views.bad_request"
handler403 = "petitions.views.permission_denied"
handler404 = "petitions.views.page_not_found"
handler500 = "petitions.views.server_error"
