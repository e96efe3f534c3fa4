"""One mailbox, one identity: the per-domain rules that make addresses canonical."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petitions.canonical import email_canonicalise, email_domain_rules
from petitions.models import EmailDomainRule
from petitions.services import email_canonicalise as service_email_canonicalise

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("Ada@Example.com", "ada@example.com"),
        ("  ada@example.com ", "ada@example.com"),
        ("a.d.a+petitions@gmail.com", "ada@gmail.com"),
        ("A.D.A@GMAIL.COM", "ada@gmail.com"),
        ("John.Smith+petitions@GoogleMail.com", "johnsmith@gmail.com"),
        ("johnsmith@googlemail.com", "johnsmith@gmail.com"),
        # Domains without a rule are only lower-cased: elsewhere "+" and "." may be part of the mailbox.
        ("first.last+tag@example.com", "first.last+tag@example.com"),
        ("First.Last+Tag@Example.ORG", "first.last+tag@example.org"),
    ],
)
def test_email_canonicalise(email, canonical):
    assert email_canonicalise(email) == canonical
    assert service_email_canonicalise(email) == canonical


def test_a_new_rule_applies_at_once():
    assert email_canonicalise("a.b+c@example.net") == "a.b+c@example.net"
    rule = EmailDomainRule.objects.create(domain="example.net", strip_dots=False, strip_plus_tags=True)
    assert email_canonicalise("a.b+c@example.net") == "a.b@example.net"
    rule.strip_dots = True
    rule.save()
    assert email_canonicalise("a.b+c@example.net") == "ab@example.net"
    rule.delete()
    assert email_canonicalise("a.b+c@example.net") == "a.b+c@example.net"


def test_an_alias_takes_the_rules_of_its_target_too():
    EmailDomainRule.objects.create(domain="example.net", strip_dots=True, strip_plus_tags=True)
    EmailDomainRule.objects.create(
        domain="mail.example.net", strip_dots=False, strip_plus_tags=False, alias_of="example.net"
    )
    assert email_canonicalise("A.B+c@Mail.Example.NET") == "ab@example.net"


def test_a_default_rule_covers_domains_without_their_own():
    EmailDomainRule.objects.create(domain="*", strip_dots=False, strip_plus_tags=True)
    assert email_canonicalise("first.last+tag@example.com") == "first.last@example.com"
    assert email_canonicalise("j.s+x@gmail.com") == "js@gmail.com"


def test_one_query_per_address_and_none_with_rules_given():
    with CaptureQueriesContext(connection) as queries:
        email_canonicalise("a.b@googlemail.com")
    assert len(queries) == 1
    rules = email_domain_rules()
    with CaptureQueriesContext(connection) as queries:
        results = [email_canonicalise(f"x.{n}+t@googlemail.com", rules=rules) for n in range(50)]
    assert len(queries) == 0
    assert results[0] == "x0@gmail.com"


local_parts = st.text(alphabet="abcdeXYZ019.+_-", min_size=1, max_size=20)
domains = st.sampled_from(
    ["gmail.com", "GMail.com", "googlemail.com", "GOOGLEMAIL.COM", "example.com", "Example.org"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(local=local_parts, domain=domains)
def test_canonicalising_is_idempotent(local, domain):
    rules = email_domain_rules()
    once = email_canonicalise(f"{local}@{domain}", rules=rules)
    assert email_canonicalise(once, rules=rules) == once
    assert once == once.lower()
    assert email_canonicalise(once) == once
