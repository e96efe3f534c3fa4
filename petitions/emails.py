"""Email rendering and sending. Every email is a template pair under templates/emails/:
`<name>.txt` (first line is the subject, then a blank line, then the body) and optionally `<name>.html`.

Addresses never appear in logs: callers pass signature ids to tasks, and the task looks the address up.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string


def email_render(template: str, context: dict) -> tuple[str, str, str | None]:
    """Return (subject, text body, html body or None)."""
    context = {"site_url": settings.SITE_URL, **context}
    text = render_to_string(f"emails/{template}.txt", context).lstrip()
    subject, _, body = text.partition("\n")
    try:
        html = render_to_string(f"emails/{template}.html", context)
    except TemplateDoesNotExist:
        html = None
    return subject.strip(), body.strip() + "\n", html


def email_send(*, to: str, template: str, context: dict, headers: dict | None = None) -> None:
    subject, body, html = email_render(template, context)
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [to], headers=headers or {})
    if html:
        message.attach_alternative(html, "text/html")
    message.send()
