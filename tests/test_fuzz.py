"""Fuzzing (issue 9): Hypothesis sends arbitrary query strings and form bodies to every public URL and form, and
no answer may be a 500.

The URLs are read from the resolver (`public_routes`), so a new public URL is fuzzed without touching this file;
only the staff interface (`/admin/…`, including `/admin/responses/…`) is left out. Path parameters are either
real objects made by the `world` fixture (petitions in every state, signatures with their tokens, events,
alerts, constituency codes, creation stages), chosen by parameter name, or junk of the converter's shape (huge
numbers, long or odd strings). Query strings and bodies mix the names and values the forms and filters know
with arbitrary text, NUL bytes, very long values, repeated keys, broken percent-encoding and bytes that are not
UTF-8, sent as raw bytes the way a client on the wire can.

One test per URL (`test_no_request_to_a_public_url_is_a_500`) sends every HTTP method to a real object, POSTs
without a CSRF token (403 unless the view is csrf_exempt), then GETs and HEADs with arbitrary query strings and
headers and POSTs arbitrary bodies (multipart or URL-encoded, odd content types, sometimes twice: a second
signature with the same details takes another path). `test_starting_a_petition_…` does the same for the
start-a-petition stages with a petition in progress in the session.

Every answer must be under 500, and an HTML error page must be the site's own readable page. A failure prints
the method, path, query string, headers, content type and body. Each request runs in a savepoint that is rolled
back, so every example sees the same data. FUZZ_STATS=1 (with -s) prints how many answers of each status every
route gave, to check what the fuzz reaches.

CI runs a fixed number of examples (`CI_EXAMPLES` per URL), from a fixed seed per URL: the same requests every
run. For a long local fuzz set FUZZ_EXAMPLES; the examples are then random, different every run, and
Hypothesis prints the failing request and a @reproduce_failure line to replay it:

    FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/test_fuzz.py -q -x
"""

import os
import re
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import quote, quote_plus

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.converters import IntConverter, SlugConverter, StringConverter
from django.utils import timezone
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from debates import alerts
from debates.filters import PETITION_STATES, SORT_CHOICES, TYPE_ALIASES, WHEN_CHOICES, EventFilter
from debates.forms_alerts import AlertSubscribeForm
from debates.forms_constituencies import ConstituencyPetitionsForm, EventConstituencyForm, PostcodeSearchForm
from debates.models import AlertState, EventKind, OtherBusiness, Outcome, ParliamentaryEvent
from petitions import browse, map_data
from petitions.forms import (
    ActionForm,
    AdditionalDetailsForm,
    BackgroundForm,
    ConstituencyForm,
    CreatorForm,
    SignatureForm,
    UkCitizenshipForm,
)
from petitions.forms_browse import LocalPetitionsForm, PetitionSearchForm
from petitions.models import (
    Constituency,
    Country,
    Department,
    Nation,
    PetitionState,
    Rejection,
    RejectionReason,
    ResponseState,
    SignatureState,
    Topic,
)
from petitions.services import signatures_tally
from petitions.views import CREATE_KEY, CREATE_STAGES
from responses.filters import STATUS_CHOICES, ConsultationFilter
from responses.models import Consultation, GovernmentResponse

from .factories import (
    ClosedPetitionFactory,
    OpenPetitionFactory,
    PendingSignatureFactory,
    PetitionFactory,
    ValidatedSignatureFactory,
)
from .privacy_plugin import personal_data_in

pytestmark = pytest.mark.django_db

#: Examples per test in CI: enough to reach every branch the known names and values lead to, small enough that
#: the file runs in about a minute on PostgreSQL on a busy 2-core machine. FUZZ_EXAMPLES overrides it.
CI_EXAMPLES = 12
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 0)
#: POST examples for a route that refuses POST (405 before any view code runs): the middleware still reads the body.
CI_EXAMPLES_REFUSED = 3

FUZZ = settings(
    max_examples=FUZZ_EXAMPLES or CI_EXAMPLES,
    derandomize=not FUZZ_EXAMPLES,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def examples(ci: int) -> int:
    return FUZZ_EXAMPLES or ci


# --- The public URLs, from the resolver -----------------------------------------------------------------------

_PARAM_RE = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
#: The staff interface: not public, and fuzzed by nobody here.
STAFF_PREFIXES = ("admin/",)


@dataclass(frozen=True)
class Route:
    route: str  # "petitions/<int:petition_id>/signatures/new"
    name: str  # "petitions:sign"
    converters: tuple  # ((parameter name, converter), …)
    callback: object

    @property
    def csrf_exempt(self) -> bool:
        return getattr(self.callback, "csrf_exempt", False)

    def __str__(self):
        return f"/{self.route}"


def _walk(patterns, prefix: str = "", namespace: str = "", converters: tuple = ()):
    for pattern in patterns:
        part = str(pattern.pattern)
        found = tuple(getattr(pattern.pattern, "converters", {}).items())
        if isinstance(pattern, URLResolver):
            space = namespace
            if pattern.namespace:
                space = f"{namespace}{pattern.namespace}:"
            yield from _walk(pattern.url_patterns, prefix + part, space, converters + found)
        elif isinstance(pattern, URLPattern):
            yield Route(
                prefix + part, f"{namespace}{pattern.name or ''}", converters + found, pattern.callback
            )


def public_routes() -> list[Route]:
    routes = [
        route for route in _walk(get_resolver().url_patterns) if not route.route.startswith(STAFF_PREFIXES)
    ]
    return sorted(routes, key=lambda route: route.route)


ROUTES = public_routes()
ROUTE_IDS = [str(route) or "/" for route in ROUTES]


def test_every_public_url_is_enumerated_and_no_staff_url_is():
    paths = {route.route for route in ROUTES}
    for expected in (
        "",
        "petitions",
        "petitions/<int:petition_id>",
        "petitions/<int:petition_id>/signatures/new",
        "petitions/<int:petition_id>/sponsors/new",
        "petitions/new/<slug:stage>",
        "signatures/<int:signature_id>/confirm",
        "debates",
        "debates/<int:event_id>",
        "constituencies",
        "constituencies/<str:gss_code>",
        "consultations",
        "alerts/<int:alert_id>/confirm",
        "petitions.json",
        "petitions.csv",
        "petitions/<int:petition_id>.json",
        "debates.ics",
        "debates.atom",
    ):
        assert expected in paths, f"/{expected} is not among the fuzzed URLs"
    assert not [route for route in ROUTES if route.route.startswith("admin")]
    # Every parameter of every route has a converter we can fill.
    for route in ROUTES:
        assert len(route.converters) == len(_PARAM_RE.findall(route.route)), route


# --- Names and values the app knows ---------------------------------------------------------------------------


def _names(*forms) -> set[str]:
    names = set()
    for form in forms:
        names |= set(getattr(form, "base_fields", None) or getattr(form, "base_filters", {}))
    return names


#: Query parameters the public pages read (their forms and filters, and the few read by hand).
QUERY_NAMES = sorted(
    _names(
        PetitionSearchForm,
        LocalPetitionsForm,
        map_data.MapPostcodeForm,
        EventFilter,
        ConsultationFilter,
        ConstituencyPetitionsForm,
        EventConstituencyForm,
        PostcodeSearchForm,
    )
    | {"page", "count", "token", "change", "view", "measure", "sort", "from", "to"}
)
#: Form fields of the public forms.
FORM_NAMES = sorted(
    _names(
        SignatureForm,
        CreatorForm,
        ConstituencyForm,
        UkCitizenshipForm,
        ActionForm,
        BackgroundForm,
        AdditionalDetailsForm,
        AlertSubscribeForm,
    )
    | {"token", "csrfmiddlewaretoken", "List-Unsubscribe"}
)
CHOICE_VALUES = sorted(
    {slug for slug, _ in browse.FACETS}
    | {value for value, _ in EventKind.choices}
    | set(TYPE_ALIASES)
    | {value for value, _ in WHEN_CHOICES + SORT_CHOICES + STATUS_CHOICES}
    | set(PETITION_STATES)
    | {value for value, _ in map_data.VIEWS + map_data.MEASURES}
    | set(map_data.SORTS)
    | {"open", "all", "yes", "no", "on", "off", "true", "1", "0", "-1", "One-Click"}
)
ODD_VALUES = [
    "",
    " ",
    "0",
    "-0",
    "00001",
    "1e9",
    "NaN",
    "inf",
    "9" * 19,
    "9" * 40,
    str(2**63),
    str(-(2**63) - 1),
    "1,000,000",
    "10 000",
    "1_0",
    "0x10",
    "31/02/2023",
    "29/02/2024",
    "0001-01-01",
    "9999-12-31",
    "2023-13-01",
    "1/1/1",
    "1899-12-31",
    "2101-01-01",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%",
    "\u202e",
    "\ufeff",
    "\U0001f600",
    "\r\n",
    "BT1 1AA",
    "bt11aa",
    "BFPO 1234",
    "GIR 0AA",
    "SW1A 1AA",
    "sw1a1aa",
    "M1 1AE",
    "ZZ99 9ZZ",
    "x" * 33,
    "person@example.com",
    "PERSON@EXAMPLE.COM",
    "a@b",
    "@example.com",
    "person@exämple.com",
    "ü@example.com",
    "person@xn--exmple-cua.com",
    "a" * 64 + "@" + "b" * 63 + ".com",
]
#: Pieces of query strings as no well-behaved client sends them.
RAW_QUERY_PIECES = [
    b"%",
    b"%Z",
    b"%zz",
    b"%E2%82",
    b"%FF",
    b"%C0%AF",
    b"&&",
    b"=",
    b"==",
    b";",
    b"+",
    b"%2B",
]


def _safe_for_logs(text: str) -> bool:
    """Django logs the path of a 404 or 400: generated junk must not look like personal data to the privacy
    plugin (tests/privacy_plugin.py), which checks every log line of every test."""
    return not personal_data_in(text, set())


# --- The data every request may name ---------------------------------------------------------------------------


@dataclass(repr=False)
class World:
    """Real objects by path parameter name: (value, tokens that go with it)."""

    def __repr__(self):  # Hypothesis prints the fixture with a failing example: keep it short
        return f"World({sorted(self.params)})"

    params: dict[str, list[tuple[str, list[str]]]]
    #: By route name: the object (and the one token) that gets furthest into that view, tried half the time.
    preferred: dict[str, dict[str, tuple[str, list[str]]]]
    values: list[str]  # real values worth trying anywhere (codes, tokens, acronyms, postcodes)
    tokens: list[str]
    postcodes: list[str]
    countries: list[str]


@pytest.fixture
def world(db) -> World:
    cache.clear()  # rate limits and the creation lock live in the cache
    now = timezone.now()
    department = Department.objects.create(acronym="DfE", name="Department for Education")
    topic = Topic.objects.create(code="education", name="Education")
    constituency = Constituency.objects.exclude(nation=Nation.NORTHERN_IRELAND).order_by("gss_code").first()
    ni_constituency = Constituency.objects.filter(nation=Nation.NORTHERN_IRELAND).order_by("gss_code").first()

    open_petition = OpenPetitionFactory(
        deadline_at=now + timedelta(days=30), background="Schools and teachers."
    )
    open_petition.departments.add(department)
    open_petition.topics.add(topic)
    creator = ValidatedSignatureFactory(petition=open_petition, creator=True)
    ValidatedSignatureFactory.create_batch(3, petition=open_petition)
    pending = PendingSignatureFactory(petition=open_petition, notify_by_email=True)
    withdrawn = ValidatedSignatureFactory(petition=open_petition, withdrawn_at=now)
    fraudulent = PendingSignatureFactory(petition=open_petition, state=SignatureState.FRAUDULENT)

    closed = ClosedPetitionFactory(
        response_state=ResponseState.RESPONDED, government_response_at=now - timedelta(days=20)
    )
    closed.departments.add(department)
    ValidatedSignatureFactory.create_batch(2, petition=closed)
    closed_signature = ValidatedSignatureFactory(petition=closed)
    response = GovernmentResponse.objects.create(
        petition=closed,
        responded_on=(now - timedelta(days=20)).date(),
        summary="The Government's answer.",
        details="**Markdown** [link](https://www.gov.uk/)",
        department=department,
        status="published",
        published_at=now - timedelta(days=20),
    )
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="A debate on schools",
        starts_at=now + timedelta(days=7),
        summary="What will be *debated*.",
        department=department,
        lead_mp=constituency,
    )
    event.petitions.set([open_petition, closed])
    past = ParliamentaryEvent.objects.create(
        kind=EventKind.CHAMBER_DEBATE,
        title="A past debate",
        starts_at=now - timedelta(days=30),
        outcome=Outcome.NOT_DEBATED,
        outcome_reason="Time ran out.",
        outcome_at=now - timedelta(days=29),
    )
    past.petitions.set([closed])
    OtherBusiness.objects.create(petition=closed, subject="A letter", body="Some *text*.")
    consultation = Consultation.objects.create(
        title="A consultation",
        summary="About schools.",
        department=department,
        url="https://www.gov.uk/consultation",
        opens_at=now - timedelta(days=5),
        closes_at=now + timedelta(days=5),
    )
    consultation.petitions.add(closed)
    consultation.responses.add(response)

    rejected = PetitionFactory(state=PetitionState.REJECTED, rejected_at=now - timedelta(days=3))
    Rejection.objects.create(petition=rejected, reason=RejectionReason.objects.filter(hidden=False).first())
    gathering = PetitionFactory(state=PetitionState.VALIDATED)
    ValidatedSignatureFactory(petition=gathering, creator=True)
    sponsor = PendingSignatureFactory(petition=gathering, sponsor=True)
    pending_petition = PetitionFactory(state=PetitionState.PENDING)
    pending_creator = PendingSignatureFactory(petition=pending_petition, creator=True)
    others = [
        PetitionFactory(state=state, opened_at=opened)
        for state, opened in (
            (PetitionState.SPONSORED, None),
            (PetitionState.FLAGGED, None),
            (PetitionState.DORMANT, None),
            (PetitionState.HIDDEN, None),
            (PetitionState.HIDDEN, now - timedelta(days=9)),
            (PetitionState.REMOVED, now - timedelta(days=9)),
            (PetitionState.STOPPED, None),
        )
    ]
    # Past the deadline but not yet closed by the job.
    overdue = OpenPetitionFactory(deadline_at=now - timedelta(hours=1))
    signatures_tally()

    alert_pending = alerts.ConstituencyAlert.objects.create(
        email="office@example.com",
        constituency=constituency,
        confirm_token=alerts._new_token(),
        unsubscribe_token=alerts._new_token(),
    )
    alert_active = alerts.ConstituencyAlert.objects.create(
        email="office2@example.com",
        constituency=constituency,
        state=AlertState.ACTIVE,
        confirmed_at=now,
        confirm_token=alerts._new_token(),
        unsubscribe_token=alerts._new_token(),
    )

    def petition(p):
        return (str(p.pk), [p.sponsor_token])

    def signature(s):
        return (str(s.pk), [s.confirm_token, s.unsubscribe_token])

    def alert(a):
        return (str(a.pk), [a.confirm_token, a.unsubscribe_token])

    petitions = [open_petition, closed, rejected, gathering, pending_petition, overdue, *others]
    signatures = [creator, pending, withdrawn, fraudulent, closed_signature, sponsor, pending_creator]
    codes = [constituency.gss_code, constituency.gss_code.lower(), ni_constituency.gss_code]
    params = {
        "petition_id": [petition(p) for p in petitions],
        "signature_id": [signature(s) for s in signatures],
        "event_id": [(str(event.pk), []), (str(past.pk), [])],
        "alert_id": [alert(alert_pending), alert(alert_active)],
        "gss_code": [(code, []) for code in codes],
        "stage": [(stage, []) for stage in (*CREATE_STAGES, "not-eligible")],
    }
    preferred = {
        "petitions:sign": {"petition_id": (str(open_petition.pk), [])},
        "petitions:sponsor_new": {"petition_id": (str(gathering.pk), [gathering.sponsor_token])},
        "petitions:sponsor_thank_you": {"petition_id": (str(gathering.pk), [gathering.sponsor_token])},
        "petitions:gathering_support": {"petition_id": (str(gathering.pk), [])},
        "petitions:moderation_info": {"petition_id": (str(others[0].pk), [])},
        "petitions:signature_confirm": {"signature_id": (str(pending.pk), [pending.confirm_token])},
        "petitions:signature_withdraw": {"signature_id": (str(pending.pk), [pending.confirm_token])},
        "petitions:signature_unsubscribe": {"signature_id": (str(pending.pk), [pending.unsubscribe_token])},
        "debates_alerts:confirm": {"alert_id": (str(alert_pending.pk), [alert_pending.confirm_token])},
        "debates_alerts:unsubscribe": {"alert_id": (str(alert_active.pk), [alert_active.unsubscribe_token])},
    }
    tokens = sorted({token for targets in params.values() for _, ts in targets for token in ts})
    values = [
        *codes,
        constituency.example_postcode,
        ni_constituency.example_postcode or "BT1 1AA",
        "DfE",
        "dfe",
        "education",
        str(open_petition.pk),
        (now - timedelta(days=60)).date().strftime("%d/%m/%Y"),
        (now + timedelta(days=60)).date().isoformat(),
        *tokens,
    ]
    by_nation = {c.nation: c.example_postcode for c in Constituency.objects.exclude(example_postcode="")}
    postcodes = [*sorted(by_nation.values()), "BT1 1AA", "bt11aa", "BFPO 1234", "m11ae", " M1  1AE "]
    countries = [
        "GB",
        "FR",
        "US",
        "gb",
        *Country.objects.exclude(end_date=None).values_list("code", flat=True)[:3],
    ]
    return World(
        params=params,
        preferred=preferred,
        values=[v for v in values if v],
        tokens=tokens,
        postcodes=postcodes,
        countries=countries,
    )


# --- Strategies ------------------------------------------------------------------------------------------------

TEXT = st.text(max_size=40)
LONG = st.builds(
    lambda c, n: c * n,
    st.sampled_from(["x", "é", "9", " ", "\U0001f600", "%", "a b"]),
    st.integers(100, 3000),
)
HUGE = st.one_of(
    st.integers(min_value=2**31 - 2, max_value=2**31 + 2),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    st.integers(min_value=10**19, max_value=10**60),
    st.integers(min_value=-(10**30), max_value=-1),
).map(str)


def value_strategy(world: World):
    return st.one_of(
        TEXT,
        st.sampled_from(CHOICE_VALUES),
        st.sampled_from(ODD_VALUES),
        st.sampled_from(world.values),
        st.integers(-5, 10**6).map(str),
        HUGE,
        LONG,
        st.emails().map(str),
        st.dates(min_value=date(1, 1, 1)).flatmap(
            lambda d: st.sampled_from([d.isoformat(), d.strftime("%d/%m/%Y"), f"{d.day}/{d.month}/{d.year}"])
        ),
    )


def plausible(name: str, world: World):
    """Values a person might really type in the field `name`: the form may accept them, so the example goes on
    to the services and the pages after them (arbitrary values mostly stop at the form's errors)."""
    limits = {"action": 80, "background": 300, "additional_details": 800}
    if name in ("email", "email_confirmation"):
        return st.emails().map(str)
    if name == "name":
        return st.text(min_size=1, max_size=255).filter(str.strip)
    if name == "postcode":
        return st.sampled_from(world.postcodes)
    if name == "country":
        return st.sampled_from(world.countries)
    if name == "constituency":
        return st.sampled_from(world.values)
    if name in limits:
        return st.text(min_size=1, max_size=limits[name] + 2)
    if name in ("uk_citizenship", "notify_by_email"):
        return st.sampled_from(["on", "yes", "no", "true", "", "off"])
    if name == "token":
        return st.sampled_from(world.tokens)
    return value_strategy(world)


@st.composite
def with_nul(draw, pieces: list[bytes]) -> list[bytes]:
    """Now and then, a NUL byte (raw or %00) somewhere: the middleware answers 400 before any view runs, so
    it should not stop most examples."""
    if pieces and draw(st.integers(0, 9)) == 0:
        index = draw(st.integers(0, len(pieces) - 1))
        nul = draw(st.sampled_from([b"%00", b"\x00"]))
        pieces[index] = pieces[index] + nul
    return pieces


def key_strategy(names: list[str]):
    return st.one_of(
        st.sampled_from(names), st.sampled_from(names), TEXT, st.sampled_from(["", "[]", "a[b]", "%", "+"])
    )


@st.composite
def query_bytes(draw, world: World, tokens: list[str], names: list[str] = QUERY_NAMES) -> bytes:
    """A query string as raw bytes: pairs encoded properly, or raw (as UTF-8, with any `&`, `=` or `%` they
    hold), or junk bytes and broken escapes; keys may repeat."""
    pairs = draw(st.lists(st.tuples(key_strategy(names), value_strategy(world)), max_size=8))
    if tokens and draw(st.integers(0, 3)):
        # Last: QueryDict.get reads the last of repeated keys.
        pairs.append(("token", draw(st.sampled_from(tokens))))
    pieces = []
    for key, value in pairs:
        style = draw(st.sampled_from(["proper", "proper", "proper", "raw", "key", "percent"]))
        if style == "proper":
            pieces.append(f"{quote_plus(key)}={quote_plus(value)}".encode())
        elif style == "percent":
            pieces.append(f"{quote(key, safe='')}={quote(value, safe='')}".encode())
        elif style == "raw":
            pieces.append(key.encode() + b"=" + value.encode())
        else:
            pieces.append(quote_plus(key).encode())
    junk = draw(st.lists(st.one_of(st.sampled_from(RAW_QUERY_PIECES), st.binary(max_size=12)), max_size=3))
    for piece in junk:
        pieces.insert(draw(st.integers(0, len(pieces))), piece)
    return b"&".join(draw(with_nul(pieces)))


def junk_param(converter):
    """A value of the converter's shape that names nothing real (huge numbers, odd text)."""
    if isinstance(converter, IntConverter):
        return st.one_of(
            st.integers(0, 10**6).map(str),
            HUGE.filter(lambda s: not s.startswith("-")),
            st.from_regex(r"0{1,30}[0-9]{1,5}", fullmatch=True),
        )
    if isinstance(converter, SlugConverter):
        return st.from_regex(r"[-a-zA-Z0-9_]{1,100}", fullmatch=True)
    if isinstance(converter, StringConverter):
        text = st.one_of(TEXT, LONG, st.sampled_from(ODD_VALUES)).filter(lambda s: s and "/" not in s)
        return text.filter(_safe_for_logs)
    return st.from_regex(converter.regex, fullmatch=True).filter(_safe_for_logs)


@st.composite
def path_for(draw, route: Route, world: World, *, real: float = 0.8) -> tuple[str, list[str]]:
    """The route's path with each parameter a real object (mostly) or junk, percent-encoded; and the tokens
    of the real objects named."""
    path, tokens = route.route, []
    for name, converter in route.converters:
        targets = world.params.get(name, [])
        preferred = world.preferred.get(route.name, {}).get(name)
        chance = draw(st.floats(0, 1))
        if preferred and chance < real / 2:
            value, found = preferred
            tokens += found
        elif targets and chance < real:
            value, found = draw(st.sampled_from(targets))
            tokens += found
        else:
            value = draw(junk_param(converter))
        path = _PARAM_RE.sub(lambda m, v=value: quote(v, safe=""), path, count=1)
    return "/" + path, tokens


@st.composite
def form_body(draw, world: World, base: dict, tokens: list[str]) -> tuple[bytes, str]:
    """(body, content type): a valid base body mutated (fields replaced, added, dropped), or fields from
    scratch, encoded as multipart or as URL-encoded bytes (properly or not)."""
    fields = {key: [value] for key, value in base.items()} if draw(st.integers(0, 3)) else {}
    if base and draw(st.booleans()):
        # Plausible answers in the base's own fields: often valid, so the services run.
        for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=3)):
            fields[key] = [draw(plausible(key, world))]
            if key == "email" and "email_confirmation" in base and draw(st.integers(0, 3)):
                fields["email_confirmation"] = [
                    fields[key][0].upper() if draw(st.booleans()) else fields[key][0]
                ]
    else:
        for key in draw(st.lists(key_strategy(FORM_NAMES), max_size=6)):
            fields.setdefault(key, [])
            if draw(st.booleans()):
                fields[key] = []
            fields[key].append(draw(st.one_of(value_strategy(world), plausible(key, world))))
        for key in draw(st.lists(st.sampled_from(sorted(fields) or [""]), max_size=2)):
            fields.pop(key, None)
    if tokens and draw(st.integers(0, 3)):
        fields["token"] = [draw(st.sampled_from(tokens))]
    if draw(st.integers(0, 9)) == 0 and fields:
        key = draw(st.sampled_from(sorted(fields)))
        fields[key] = [*fields[key], "\x00"] if fields[key] else ["a\x00"]
    encoding = draw(st.sampled_from(["multipart", "multipart", "urlencoded", "raw"]))
    if encoding == "multipart":
        body = encode_multipart(BOUNDARY, {key: values for key, values in fields.items() if values})
        content_type = MULTIPART_CONTENT
    else:
        pairs = [(key, value) for key, values in fields.items() for value in values]
        if encoding == "urlencoded":
            body = "&".join(f"{quote_plus(key)}={quote_plus(value)}" for key, value in pairs).encode()
        else:
            body = b"&".join(key.encode() + b"=" + value.encode() for key, value in pairs)
            body += draw(st.sampled_from([b"", b"&%", b"&%FF=%C0", b"&=&&", b"\xff\xfe"]))
        content_type = "application/x-www-form-urlencoded"
    if draw(st.integers(0, 7)) == 0:
        content_type = draw(st.sampled_from(ODD_CONTENT_TYPES))
    return body, content_type


#: Content types a client may claim for a form body: other charsets, a multipart type without its boundary or
#: with another, and types that are not forms at all.
ODD_CONTENT_TYPES = [
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/x-www-form-urlencoded; charset=no-such-charset",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=other",
    f"multipart/form-data; boundary={BOUNDARY}; charset=utf-32",
    "application/json",
    "text/plain",
    "",
]


#: Header values as a WSGI server hands them over (latin-1 text).
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=60)
HEADERS = {
    "HTTP_ACCEPT": st.one_of(
        HEADER_TEXT, st.sampled_from(["application/json", "text/csv", "*/*;q=0", "text/html;q=abc", ""])
    ),
    "HTTP_ACCEPT_LANGUAGE": st.one_of(HEADER_TEXT, st.sampled_from(["cy", "en-GB,en;q=0.9", "zz-ZZ;q=2"])),
    "HTTP_COOKIE": st.one_of(
        HEADER_TEXT,
        HEADER_TEXT.map(lambda v: f"sessionid={v}"),
        HEADER_TEXT.map(lambda v: f"csrftoken={v}; sessionid=abc"),
    ),
    "HTTP_X_FORWARDED_FOR": st.one_of(HEADER_TEXT, st.sampled_from(["1.2.3.4, ::1", ",,", "999.1.1.1"])),
    "HTTP_IF_MODIFIED_SINCE": st.one_of(HEADER_TEXT, st.just("Sat, 29 Oct 1994 19:43:31 GMT")),
    "HTTP_IF_NONE_MATCH": st.one_of(HEADER_TEXT, st.just('"abc", W/"def"')),
    "HTTP_RANGE": st.one_of(HEADER_TEXT, st.just("bytes=0-1,5-")),
    "HTTP_REFERER": HEADER_TEXT,
    "HTTP_USER_AGENT": HEADER_TEXT,
}


@st.composite
def headers_strategy(draw) -> dict:
    """Sometimes a few request headers with arbitrary values (content negotiation, cookies, conditional GETs)."""
    names = draw(st.lists(st.sampled_from(sorted(HEADERS)), max_size=3, unique=True))
    return {name: draw(HEADERS[name]) for name in names}


# --- Requests and what every answer must be ----------------------------------------------------------------------


@dataclass
class Sent:
    method: str
    path: str
    query: bytes = b""
    body: bytes = b""
    content_type: str = ""
    headers: dict = field(default_factory=dict)  # WSGI names: {"HTTP_ACCEPT": "…"}

    def __str__(self):
        text = f"{self.method} {self.path}" + (f"?{self.query!r}" if self.query else "")
        text += "".join(f"\n{name}: {value!r}" for name, value in self.headers.items())
        if self.body or self.content_type:
            text += (
                f"\nContent-Type: {self.content_type}\nbody ({len(self.body)} bytes): {self.body[:3000]!r}"
            )
        return text


DJANGO_PAGES = (
    "Django tried these URL patterns",
    "Traceback",
    "<h1>Server Error (500)</h1>",
    "<h1>Bad Request (400)</h1>",
)


#: (method, route, status) -> answers, printed at the end with FUZZ_STATS=1 (to see what the fuzz reaches).
STATS: Counter = Counter()


def _route_of(path: str) -> str:
    try:
        match = resolve(path)
    except Exception:  # noqa: BLE001 - Resolver404, or a path no route can take
        return "(no route)"
    return f"/{match.route}"


@pytest.fixture(scope="module", autouse=True)
def _print_stats():
    yield
    if os.environ.get("FUZZ_STATS"):
        for (method, route, status), count in sorted(
            STATS.items(), key=lambda item: (item[0][1], item[0][0])
        ):
            print(f"{count:7d}  {status}  {method:7s} {route}")


def send(client: Client, sent: Sent, *, session: dict | None = None, times: int = 1):
    """Send `sent` (`times` times: the second signature with the same details takes another path) in a
    savepoint that is rolled back, so every example sees the same data, and check the answer: under 500, and an
    HTML error page is the site's own. An exception in the view fails with the request."""
    extra = {"QUERY_STRING": sent.query.decode("latin-1")} if sent.query else {}
    extra.update(sent.headers)
    try:
        with transaction.atomic():
            if session is not None:
                store = client.session
                store.update(session)
                store.save()
            for _ in range(times):
                response = client.generic(
                    sent.method,
                    sent.path,
                    sent.body,
                    sent.content_type or "application/octet-stream",
                    **extra,
                )
                STATS[(sent.method, _route_of(sent.path), response.status_code)] += 1
                if response.status_code >= 500:
                    break
            transaction.set_rollback(True)
    except Exception:
        pytest.fail(f"the request raised (a 500):\n{sent}\n\n{traceback.format_exc()}")
    assert response.status_code < 500, f"{response.status_code} for:\n{sent}"
    if sent.method != "HEAD" and response.status_code >= 400 and "html" in response.get("Content-Type", ""):
        page = response.content.decode(errors="replace")
        for marker in DJANGO_PAGES:
            assert marker not in page, f"a bare Django page for:\n{sent}"
        assert "<h1" in page and "</html>" in page, f"{response.status_code} page is not readable:\n{sent}"
    return response


#: The base body that reaches past each POST view's first checks, by route name.
SIGNER = {
    "uk_citizenship": "on",
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "email_confirmation": "grace@example.com",
    "country": "GB",
    "postcode": "M1 1AE",
    "notify_by_email": "on",
}
BASE_BODIES = {
    "petitions:sign": SIGNER,
    "petitions:sponsor_new": SIGNER,
    "debates_alerts:new": {"email": "office@example.com"},
    "debates_alerts:unsubscribe": {"List-Unsubscribe": "One-Click"},
    "petitions:signature_unsubscribe": {"List-Unsubscribe": "One-Click"},
}


#: Routes whose views take POST (the others answer 405 before any view code runs), found on first use.
_POST_ROUTES: set[str] = set()


def post_routes() -> set[str]:
    if not _POST_ROUTES:
        client = Client(raise_request_exception=False)
        for route in ROUTES:
            path = "/" + _PARAM_RE.sub("0", route.route)
            if client.post(path).status_code != 405:
                _POST_ROUTES.add(route.name)
    return _POST_ROUTES


# --- The fuzz tests --------------------------------------------------------------------------------------------


def fuzzed(label: str, max_examples: int):
    """Hypothesis settings for an inner fuzz function: in CI, a fixed seed per route and kind (reproducible,
    yet each route gets its own examples); with FUZZ_EXAMPLES, random."""

    def decorate(test):
        test = settings(FUZZ, max_examples=examples(max_examples))(given(data=st.data())(test))
        return test if FUZZ_EXAMPLES else seed(zlib.crc32(label.encode()))(test)

    return decorate


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_no_request_to_a_public_url_is_a_500(world, route):
    """Every method; POST without a CSRF token; GET and HEAD with arbitrary query strings; POST with arbitrary
    form bodies (and query strings). One test per URL, so the data is made once for all four."""
    takes_post = route.name in post_routes()
    real_path = _real_path(world, route)
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"):
        response = send(Client(), Sent(method, real_path))
        if method in ("PUT", "PATCH", "DELETE", "TRACE") or (method == "POST" and not takes_post):
            assert response.status_code == 405, f"{method} {real_path}: {response.status_code}"

    csrf_client = Client(enforce_csrf_checks=True)
    base = BASE_BODIES.get(route.name, {})
    for body in (base, {}):
        response = send(
            csrf_client, Sent("POST", real_path, b"", encode_multipart(BOUNDARY, body), MULTIPART_CONTENT)
        )
        if not route.csrf_exempt:
            assert response.status_code == 403, (
                f"POST {real_path} without a CSRF token: {response.status_code}"
            )

    @fuzzed(f"GET {route}", CI_EXAMPLES)
    def get_with_arbitrary_query_strings(data):
        path, tokens = data.draw(path_for(route, world), label="path")
        query = data.draw(query_bytes(world, tokens), label="query")
        method = data.draw(st.sampled_from(["GET", "GET", "GET", "HEAD"]), label="method")
        headers = data.draw(headers_strategy(), label="headers")
        send(Client(), Sent(method, path, query, headers=headers))

    @fuzzed(f"POST {route}", CI_EXAMPLES if takes_post else CI_EXAMPLES_REFUSED)
    def post_with_arbitrary_bodies(data):
        path, tokens = data.draw(path_for(route, world), label="path")
        query = data.draw(query_bytes(world, tokens), label="query") if data.draw(st.booleans()) else b""
        body, content_type = data.draw(form_body(world, base, tokens), label="body")
        headers = data.draw(headers_strategy(), label="headers")
        times = data.draw(st.integers(1, 2), label="times") if takes_post else 1
        response = send(Client(), Sent("POST", path, query, body, content_type, headers), times=times)
        if not takes_post:
            # 405, or 400 when the middleware refuses the body first (NUL bytes, a broken multipart body).
            assert response.status_code in (400, 405), f"{route} answered POST with {response.status_code}"

    get_with_arbitrary_query_strings()
    post_with_arbitrary_bodies()


def _real_path(world: World, route: Route) -> str:
    for name, _ in route.converters:
        assert name in world.params, f"{route}: add a real {name} to the `world` fixture"
    preferred = world.preferred.get(route.name, {})
    targets = [preferred.get(name, world.params[name][0])[0] for name, _ in route.converters]
    return "/" + _PARAM_RE.sub(lambda m: quote(targets.pop(0), safe=""), route.route)


#: Valid answers for every stage of starting a petition, as the session holds them.
ANSWERS = {
    "uk_citizenship": "yes",
    "action": "Fund more school libraries",
    "background": "Schools need books.",
    "additional_details": "",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "email_confirmation": "ada@example.com",
    "country": "GB",
    "postcode": "M1 1AE",
    "northern_ireland": False,
}
TEXT_ANSWERS = sorted(key for key, value in ANSWERS.items() if isinstance(value, str)) + ["constituency"]
ANSWER_ORDER = ("uk_citizenship", "action", "background", "additional_details", "name")
STAGE_BODIES = {
    "uk-citizenship": {"uk_citizenship": "yes"},
    "action": {"action": "Fund more school libraries"},
    "background": {"background": "Schools need books."},
    "additional-details": {"additional_details": "More."},
    "creator": {key: SIGNER[key] for key in ("name", "email", "email_confirmation", "country", "postcode")},
    "constituency": {},
}


@st.composite
def creation_session(draw, world: World) -> dict:
    """A petition in progress: the answers of the first few stages (sometimes one of them arbitrary, as a
    session saved before a rule changed would be), a Northern Ireland creator or not, similar petitions."""
    answers = {"nonce": draw(st.uuids()).hex}
    done = draw(st.integers(0, len(ANSWER_ORDER)))
    for key in ANSWER_ORDER[:done]:
        answers[key] = ANSWERS[key]
        if key == "name":
            answers.update({k: ANSWERS[k] for k in ("email", "email_confirmation", "country", "postcode")})
            if draw(st.booleans()):
                answers.update(postcode="BT1 1AA", northern_ireland=True)
                if draw(st.booleans()):
                    answers["constituency"] = draw(st.sampled_from(world.params["gss_code"]))[0]
    if done >= 2 and draw(st.booleans()):
        answers["similar_ids"] = draw(
            st.lists(
                st.sampled_from([int(v) for v, _ in world.params["petition_id"]] + [0, 2**70]), max_size=3
            )
        )
    # Only text answers: the session is the server's, so it only ever holds what a form once accepted.
    for key in draw(st.lists(st.sampled_from(TEXT_ANSWERS), max_size=2)):
        answers[key] = draw(value_strategy(world))
    return {CREATE_KEY: answers} if draw(st.integers(0, 9)) else {"petition_created": 1}


@settings(FUZZ, max_examples=examples(4 * CI_EXAMPLES))
@given(data=st.data())
def test_starting_a_petition_with_any_session_and_body_is_never_a_500(world, data):
    stage = data.draw(st.sampled_from([*CREATE_STAGES, "not-eligible"]), label="stage")
    session = data.draw(creation_session(world), label="session")
    method = data.draw(st.sampled_from(["GET", "POST", "POST"]), label="method")
    query = data.draw(
        st.sampled_from([b"", b"", b"change=1", b"change=0", b"change=1&change=1"]), label="query"
    )
    body, content_type = b"", ""
    if method == "POST":
        body, content_type = data.draw(form_body(world, STAGE_BODIES.get(stage, {}), []), label="body")
    send(Client(), Sent(method, f"/petitions/new/{stage}", query, body, content_type), session=session)
