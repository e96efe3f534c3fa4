"""The client's IP address, the same way everywhere (signatures, rate limits, admin lockout)."""

import ipaddress

from django.conf import settings


def client_ip_address(request) -> str | None:
    """The address a request came from (also django-axes' AXES_CLIENT_IP_CALLABLE).

    REMOTE_ADDR, unless settings.TRUSTED_PROXY_COUNT says our own proxies sit in front: then the
    X-Forwarded-For entry added by the outermost of them. Entries to its left were written by the client and
    are ignored, so a spoofed header cannot dodge (or aim) a lockout.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        return remote
