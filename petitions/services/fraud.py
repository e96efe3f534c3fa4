"""Fraud checks on signing, and the hourly trending report.

A signature that breaks a rule is still accepted, silently: its row is made with state "fraudulent" and a
`fraud_reason`, its owner sees the same pages and gets the same email as anyone, and it can never be
confirmed or counted (the reference's shadow flag). Rules, first match wins:

1. the client IP is on the block list (an address or a CIDR range, IPv4 or IPv6);
2. the canonical email address is on the block list;
3. the email domain is on the block list (`example.com`, `*.example.com`: exactly one more label,
   `**.example.com`: one or more);
4. the honeypot field was filled in;
5. the form came back sooner than `RateLimit.minimum_fill_seconds` after it was shown (or without its signed
   timestamp);
6. when `RateLimit.enabled`, unless the IP is on the allow list: too many signatures on the petition from the
   IP within the burst period, then within the sustained period; unless the domain (or the IP) is on the
   allow list, too many from the email domain within the domain period.

The lists and the limits are read through an in-process cache (`SIGNING_RULES_TTL` seconds), so signing
makes no query for them and a change made in the admin takes effect within that time everywhere.
"""

import ipaddress
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..canonical import email_canonicalise, email_domain_rules
from ..models import (
    FraudReason,
    RateLimit,
    Signature,
    SignatureState,
    SigningListAction,
    SigningListEntry,
    SigningListKind,
    TrendingItem,
    TrendingKind,
)

#: Seconds a process keeps the rate limits and the allow and block lists before reading them again.
SIGNING_RULES_TTL = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class IPSet:
    """Addresses and CIDR ranges, matched with one set lookup per distinct prefix length."""

    def __init__(self, networks):
        self._starts: dict[tuple[int, int], set[int]] = {}
        for network in networks:
            key = (network.version, network.prefixlen)
            self._starts.setdefault(key, set()).add(int(network.network_address))

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __contains__(self, address: IPAddress) -> bool:
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None and mapped in self:
            return True
        value, bits = int(address), address.max_prefixlen
        for (version, prefixlen), starts in self._starts.items():
            if version == address.version and (value >> (bits - prefixlen)) << (bits - prefixlen) in starts:
                return True
        return False


class DomainSet:
    """Domains and domain globs: `example.com`, `*.example.com` (exactly one more label) and
    `**.example.com` (one or more labels)."""

    def __init__(self, patterns):
        exact, one_label, any_depth = set(), set(), set()
        for pattern in patterns:
            if pattern.startswith("**."):
                any_depth.add(pattern[3:])
            elif pattern.startswith("*."):
                one_label.add(pattern[2:])
            else:
                exact.add(pattern)
        self._exact, self._one_label, self._any_depth = frozenset(exact), frozenset(one_label), any_depth

    def __contains__(self, domain: str) -> bool:
        if not domain:
            return False
        if domain in self._exact:
            return True
        parent = domain.partition(".")[2]
        if parent and parent in self._one_label:
            return True
        while parent:
            if parent in self._any_depth:
                return True
            parent = parent.partition(".")[2]
        return False


@dataclass(frozen=True)
class SigningRules:
    """A snapshot of the rate limits and the allow and block lists."""

    limits: RateLimit
    allowed_ips: IPSet
    blocked_ips: IPSet
    allowed_domains: DomainSet
    blocked_domains: DomainSet
    blocked_emails: frozenset[str]


_cached: tuple[float, SigningRules] | None = None
_loading = threading.Lock()


def _rules_load() -> SigningRules:
    lists = {(action, kind): [] for action in SigningListAction.values for kind in SigningListKind.values}
    for action, kind, value in SigningListEntry.objects.values_list("action", "kind", "value"):
        lists.setdefault((action, kind), []).append(value.strip().lower())

    def networks(values):
        for value in values:
            try:
                yield ipaddress.ip_network(value, strict=False)
            except ValueError:
                continue  # the admin validates entries; one typed in elsewhere must not stop signing

    blocked_emails = lists[SigningListAction.BLOCK, SigningListKind.EMAIL]
    rules = email_domain_rules() if blocked_emails else {}
    return SigningRules(
        limits=RateLimit.load(),
        allowed_ips=IPSet(networks(lists[SigningListAction.ALLOW, SigningListKind.IP])),
        blocked_ips=IPSet(networks(lists[SigningListAction.BLOCK, SigningListKind.IP])),
        allowed_domains=DomainSet(lists[SigningListAction.ALLOW, SigningListKind.DOMAIN]),
        blocked_domains=DomainSet(lists[SigningListAction.BLOCK, SigningListKind.DOMAIN]),
        blocked_emails=frozenset(email_canonicalise(email, rules=rules) for email in blocked_emails),
    )


def signing_rules() -> SigningRules:
    """The current rules, read from the database at most once per `SIGNING_RULES_TTL` per process."""
    global _cached
    cached = _cached
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    with _loading:
        cached = _cached
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        rules = _rules_load()
        _cached = (time.monotonic() + SIGNING_RULES_TTL, rules)
        return rules


def signing_rules_clear() -> None:
    """Forget the cached rules: the next signing reads them again (the admin calls this after a change)."""
    global _cached
    _cached = None


# --- List entries ------------------------------------------------------------------------------------------

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_DOMAIN_GLOB = re.compile(rf"\*\*?\.{_LABEL}(?:\.{_LABEL})*")


def signing_list_value_clean(kind: str, value: str) -> str:
    """An allow or block list entry's value, checked for its kind and written one way (lower case, a lone
    address without "/32"). Raises ValidationError with a message for staff."""
    value = value.strip().lower()
    if not value:
        raise ValidationError("Enter a value.")
    if kind == SigningListKind.IP:
        try:
            network = ipaddress.ip_network(value)
        except ValueError as error:
            if "has host bits set" in str(error):
                suggested = ipaddress.ip_network(value, strict=False)
                raise ValidationError(
                    f"{value} is not the start of a range: did you mean {suggested}?"
                ) from None
            raise ValidationError(
                "Enter an IP address (192.0.2.1, 2001:db8::1) or a range in CIDR form (192.0.2.0/24)."
            ) from None
        if network.prefixlen == network.max_prefixlen:
            return str(network.network_address)
        return str(network)
    if kind == SigningListKind.DOMAIN:
        value = value.removeprefix("@")
        if not (_DOMAIN.fullmatch(value) or _DOMAIN_GLOB.fullmatch(value)):
            raise ValidationError(
                "Enter a domain (example.com), *.example.com for its subdomains one level down, or "
                "**.example.com for its subdomains at any depth."
            )
        return value
    if kind == SigningListKind.EMAIL:
        try:
            validate_email(value)
        except ValidationError:
            raise ValidationError("Enter an email address, like name@example.com.") from None
        return value
    raise ValidationError("Choose what kind of entry this is.")


# --- Checking one signing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FormSignals:
    """What the signing form noticed: the honeypot field filled in, and how long the form took to come back
    (None when its signed timestamp was missing or tampered with)."""

    honeypot: bool = False
    fill_seconds: float | None = None


@dataclass(frozen=True)
class SigningCheck:
    """The checks that need no query. `reason` is the FraudReason found so far ("" for none); when it is empty,
    `ip_limited` and `domain_limited` say which rate limits still have to be counted."""

    reason: str
    ip_limited: bool = False
    domain_limited: bool = False


def _parse_ip(value: str | None) -> IPAddress | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def signing_check(
    *,
    rules: SigningRules,
    ip_address: str | None,
    canonical_email: str,
    signals: FormSignals | None,
) -> SigningCheck:
    """The block lists and the form's signals, in order of precedence, and which rate limits apply.

    `signals` is None when the signature does not come from the public form (no honeypot, no timer).
    """
    address = _parse_ip(ip_address)
    domain = canonical_email.rpartition("@")[2]
    if address is not None and address in rules.blocked_ips:
        return SigningCheck(FraudReason.BLOCKED_IP)
    if canonical_email in rules.blocked_emails:
        return SigningCheck(FraudReason.BLOCKED_EMAIL)
    if domain in rules.blocked_domains:
        return SigningCheck(FraudReason.BLOCKED_DOMAIN)
    limits = rules.limits
    if signals is not None:
        if signals.honeypot:
            return SigningCheck(FraudReason.HONEYPOT)
        minimum = limits.minimum_fill_seconds
        if minimum and (signals.fill_seconds is None or signals.fill_seconds < minimum):
            return SigningCheck(FraudReason.TOO_FAST)
    if not limits.enabled or (address is not None and address in rules.allowed_ips):
        return SigningCheck("")
    return SigningCheck(
        "",
        ip_limited=address is not None,
        domain_limited=bool(domain) and domain not in rules.allowed_domains,
    )


def signing_rate_reason(
    *, check: SigningCheck, limits: RateLimit, petition_id: int, ip_address: str | None, email_domain: str
) -> str:
    """Count earlier signatures (in any state) on the petition from the IP address and the email domain: the
    FraudReason of the first limit reached, or "". On PostgreSQL the caller holds the (petition, IP) lock,
    so the IP count is exact however many signings arrive at once."""
    if check.reason:
        return check.reason
    now = timezone.now()
    if check.ip_limited and ip_address:
        burst_since = now - timedelta(seconds=limits.burst_period)
        sustained_since = now - timedelta(seconds=limits.sustained_period)
        counts = Signature.objects.filter(
            petition_id=petition_id,
            ip_address=ip_address,
            created_at__gte=min(burst_since, sustained_since),
        ).aggregate(
            burst=Count("pk", filter=Q(created_at__gte=burst_since)),
            sustained=Count("pk", filter=Q(created_at__gte=sustained_since)),
        )
        if counts["burst"] >= limits.burst_rate:
            return FraudReason.IP_BURST
        if counts["sustained"] >= limits.sustained_rate:
            return FraudReason.IP_SUSTAINED
    if check.domain_limited and email_domain:
        recent = Signature.objects.filter(
            petition_id=petition_id,
            email_domain=email_domain,
            created_at__gte=now - timedelta(seconds=limits.domain_period),
        ).count()
        if recent >= limits.domain_rate:
            return FraudReason.DOMAIN_RATE
    return ""


# --- The hourly trending report ---------------------------------------------------------------------------


def _previous_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


@transaction.atomic
def trending_items_record(*, hour_start: datetime | None = None) -> int:
    """Record the IP addresses and email domains that made at least `RateLimit.trending_threshold` signatures
    (in any state) on one petition in one hour: by default the last full hour.

    Idempotent: the hour's rows are replaced by what the signatures say now. Returns how many there are.
    """
    if hour_start is None:
        hour_start = _previous_hour(timezone.now())
    hour_start = hour_start.replace(minute=0, second=0, microsecond=0)
    threshold = max(RateLimit.load().trending_threshold, 1)
    in_hour = Signature.objects.filter(
        created_at__gte=hour_start, created_at__lt=hour_start + timedelta(hours=1)
    )
    items = []
    for kind, field, present in (
        (TrendingKind.IP, "ip_address", Q(ip_address__isnull=False)),
        (TrendingKind.DOMAIN, "email_domain", ~Q(email_domain="")),
    ):
        groups = (
            in_hour.filter(present)
            .values("petition_id", field)
            .annotate(n=Count("pk"), fraudulent=Count("pk", filter=Q(state=SignatureState.FRAUDULENT)))
            .filter(n__gte=threshold)
            .order_by()
        )
        items.extend(
            TrendingItem(
                petition_id=group["petition_id"],
                kind=kind,
                value=group[field],
                starts_at=hour_start,
                signature_count=group["n"],
                fraudulent_count=group["fraudulent"],
            )
            for group in groups
        )
    # Rows of the hour that no longer qualify (a higher threshold, signatures deleted) go.
    keys = {(item.petition_id, item.kind, item.value) for item in items}
    stale = [
        pk
        for pk, *key in TrendingItem.objects.filter(starts_at=hour_start).values_list(
            "pk", "petition_id", "kind", "value"
        )
        if tuple(key) not in keys
    ]
    if stale:
        TrendingItem.objects.filter(pk__in=stale).delete()
    TrendingItem.objects.bulk_create(
        items,
        update_conflicts=True,
        unique_fields=["petition", "kind", "value", "starts_at"],
        update_fields=["signature_count", "fraudulent_count"],
    )
    return len(items)
