"""The address that identifies a person, so one mailbox cannot sign a petition twice under different spellings.

Rules per domain live in `EmailDomainRule` (sysadmins edit them): `alias_of` maps a domain onto another
(googlemail.com is gmail.com), `strip_dots` ignores dots in the mailbox part, `strip_plus_tags` ignores a
"+tag". A rule for the domain "*" applies to every domain without a rule of its own. Without any rule, an
address is only lower-cased: many providers treat "+" and "." as ordinary characters, so stripping them
everywhere would wrongly merge different people.
"""

import time
from collections.abc import Mapping

from django.db.models import Q
from django.db.models.signals import post_delete, post_save

from .models import EmailDomainRule

#: The domain of the rule that applies to domains without a rule of their own.
DEFAULT_DOMAIN = "*"

#: Seconds a process keeps every rule for `email_domain_rules_cached()`: a change made in another process
#: takes effect within this time (at once in the process that made it).
EMAIL_DOMAIN_RULES_TTL = 5.0

_cached: tuple[float, dict[str, EmailDomainRule]] | None = None


def email_domain_rules(domains=None) -> dict[str, EmailDomainRule]:
    """The rules by domain (one query). Limit to `domains` (plus the default rule) when given."""
    rules = EmailDomainRule.objects.all()
    if domains is not None:
        wanted = {*domains, DEFAULT_DOMAIN}
        aliased = EmailDomainRule.objects.filter(domain__in=wanted).exclude(alias_of="").values("alias_of")
        rules = rules.filter(Q(domain__in=wanted) | Q(domain__in=aliased))
    return {rule.domain: rule for rule in rules}


def email_domain_rules_cached() -> dict[str, EmailDomainRule]:
    """Every rule, read at most once per `EMAIL_DOMAIN_RULES_TTL` per process (signing canonicalises each
    address; the table is a handful of rows). Don't modify what it returns."""
    global _cached
    cached = _cached
    if cached is None or cached[0] <= time.monotonic():
        cached = (time.monotonic() + EMAIL_DOMAIN_RULES_TTL, email_domain_rules())
        _cached = cached
    return cached[1]


def email_domain_rules_clear(**kwargs) -> None:
    """Forget the cached rules. Every save and delete of a rule (bulk deletes too) calls this."""
    global _cached
    _cached = None


post_save.connect(email_domain_rules_clear, sender=EmailDomainRule, dispatch_uid="email_domain_rules_clear")
post_delete.connect(email_domain_rules_clear, sender=EmailDomainRule, dispatch_uid="email_domain_rules_clear")


def email_canonicalise(email: str, *, rules: Mapping[str, EmailDomainRule] | None = None) -> str:
    """`John.Smith+petitions@GoogleMail.com` → `johnsmith@gmail.com` (with the seeded rules).

    One query per call; callers canonicalising many addresses pass `rules=email_domain_rules()` once.
    The result is stable: canonicalising a canonical address gives it back unchanged.
    """
    local, _, domain = email.strip().lower().rpartition("@")
    if rules is None:
        rules = email_domain_rules([domain])
    applied = [_rule_for(domain, rules)]
    if applied[0] is not None and applied[0].alias_of:
        domain = applied[0].alias_of.strip().lower()
        # The target's own rule applies too, so that canonicalising the result again changes nothing.
        applied.append(_rule_for(domain, rules))
    applied = [rule for rule in applied if rule is not None]
    if any(rule.strip_plus_tags for rule in applied):
        local = local.split("+", 1)[0]
    if any(rule.strip_dots for rule in applied):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _rule_for(domain: str, rules: Mapping[str, EmailDomainRule]) -> EmailDomainRule | None:
    return rules.get(domain) or rules.get(DEFAULT_DOMAIN)
