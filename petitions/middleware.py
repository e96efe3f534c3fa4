from django.http import HttpResponseBadRequest
from django.template.loader import render_to_string

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DATA_SUFFIXES = (".json", ".csv", ".ics", ".atom", ".svg")


class RejectBadRequestsMiddleware:
    """Answer 400 to NUL bytes in the path or parameters: PostgreSQL cannot store them (cf. wagtail #4496)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            body = render_to_string(
                "400.html", {"message": "Your request contained invalid characters."}, request
            )
            return HttpResponseBadRequest(body)
        response = self.get_response(request)
        if response.status_code == 405 and not response.content and request.method != "HEAD":
            self._explain_method_not_allowed(request, response)
        return response

    @staticmethod
    def _explain_method_not_allowed(request, response) -> None:
        """Django's method checks answer 405 with an empty body: pages get the readable error page (the Allow
        header stays), data endpoints a one-line explanation in their own terms."""
        if request.path.endswith(DATA_SUFFIXES):
            response.content = f"{request.method} is not allowed here; use {response['Allow']}.\n".encode()
            response["Content-Type"] = "text/plain; charset=utf-8"
            return
        response.content = render_to_string("405.html", {"allowed": response["Allow"]}, request)
        response["Content-Type"] = "text/html; charset=utf-8"

    @staticmethod
    def _has_nul(request) -> bool:
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return True
        if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
            for key, values in request.POST.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return True
        return False
