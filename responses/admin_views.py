"""Staff endpoints of the government response admin (wired in GovernmentResponseAdmin.get_urls, so the admin
site's login, staff check and CSRF protection apply)."""

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from petitions.markdown import markdown_html

from .forms import MarkdownPreviewForm


@require_POST
def markdown_preview(request, *, model_admin):
    """The live preview of a response's Markdown: {"html": sanitised HTML, exactly as the petition page renders
    it}, or {"error": message} with status 400. POST only (the text can be long, and it is not a page).
    Only staff who may write responses use it."""
    if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
        raise PermissionDenied
    form = MarkdownPreviewForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": " ".join(form.errors["text"])}, status=400)
    return JsonResponse({"html": markdown_html(form.cleaned_data["text"])})
