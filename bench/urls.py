"""The site's URLs plus the baseline the signing benchmark compares against: one INSERT behind Django."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as site_urlpatterns
from petitions.models import Signature, SignatureState


@csrf_exempt
@require_POST
def bare_insert(request):
    """One pending signature row from the posted fields and nothing else: no form, no lookups, no checks."""
    email = request.POST["email"]
    Signature.objects.create(
        petition_id=int(request.POST["petition"]),
        name=request.POST["name"],
        email=email,
        canonical_email=email,
        email_domain=email.rpartition("@")[2],
        country_id=int(request.POST["country"]),
        postcode=request.POST["postcode"],
        state=SignatureState.PENDING,
        ip_address=request.POST["ip"],
    )
    return HttpResponse(status=204)


urlpatterns = [path("bench/bare-insert", bare_insert), *site_urlpatterns]
