"""`/api/openapi.json`: the OpenAPI 3.1 description of the public JSON API.

Its structure is checked (version, references, operations), every documented path against the URLconf (and
every JSON route of the URLconf against the document), and every documented endpoint is called for a fixture
and its answer validated against the documented schema: required keys present, no key the schema does not
name (objects are closed), JSON types, nulls, enums and formats.
"""

import datetime
import re

import pytest
from django.urls import Resolver404, resolve
from django.utils import timezone

from debates.models import EventKind, Outcome, ParliamentaryEvent
from petitions.models import PetitionState, Rejection, RejectionReason
from petitions.services import signatures_tally
from responses.models import GovernmentResponse, ResponseStatus

from .factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory, ValidatedSignatureFactory
from .test_privacy import public_routes

pytestmark = pytest.mark.django_db

OPENAPI = "/api/openapi.json"
JSON_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def resolve_ref(document: dict, ref: str) -> dict:
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def schema_errors(schema: dict, value, document: dict, where: str = "$") -> list[str]:
    """How `value` breaks `schema` (the subset of JSON Schema the document uses)."""
    if "$ref" in schema:
        return schema_errors(resolve_ref(document, schema["$ref"]), value, document, where)
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not schema_errors(s, value, document, where)]
        return [] if len(matching) == 1 else [f"{where}: matches {len(matching)} of oneOf"]
    if "const" in schema and value != schema["const"]:
        return [f"{where}: {value!r} != {schema['const']!r}"]
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(JSON_TYPES[t](value) for t in types):
            return [f"{where}: {type(value).__name__} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in {schema['enum']}"]
    if isinstance(value, str):
        fmt = schema.get("format")
        if fmt == "date-time" and not UTC_MS.fullmatch(value):
            return [f"{where}: {value!r} is not a UTC timestamp with milliseconds"]
        if fmt == "date" and not re.fullmatch(r"\d{4}-\d\d-\d\d", value):
            return [f"{where}: {value!r} is not a date"]
        if fmt == "uri" and not value.startswith(("http://", "https://")):
            return [f"{where}: {value!r} is not an absolute URL"]
    errors = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{where}: {name!r} missing" for name in schema.get("required", []) if name not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(properties[key], item, document, f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: {key!r} is not in the schema")
            elif isinstance(extra, dict):
                errors += schema_errors(extra, item, document, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(schema["items"], item, document, f"{where}[{i}]")
    return errors


def response_schema(document: dict, path: str, status: str = "200") -> dict:
    return document["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]


def all_refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


@pytest.fixture
def spec(client) -> dict:
    response = client.get(OPENAPI)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    return response.json()


@pytest.fixture
def fixture_values() -> dict:
    """An open petition with a creator, signatures counted (tallies and hourly history), a constituency, and a
    debate on it."""
    petition = OpenPetitionFactory(action="Fund more libraries", signature_count=0)
    ValidatedSignatureFactory(petition=petition, creator=True)
    signature = ValidatedSignatureFactory(petition=petition)
    signatures_tally()
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="MPs debate libraries",
        starts_at=timezone.now() + datetime.timedelta(days=3),
    )
    event.petitions.add(petition)
    return {"id": petition.pk, "code": signature.constituency.gss_code}


def concrete(path: str, values: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


# --- Structure ---------------------------------------------------------------------------------------------------


def test_the_document_is_openapi_3_1_with_resolvable_references(spec):
    assert spec["openapi"].startswith("3.1.")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["servers"] == [{"url": "http://testserver"}]
    for ref in set(all_refs(spec)):
        assert isinstance(resolve_ref(spec, ref), dict), ref
    operation_ids = []
    for path, item in spec["paths"].items():
        assert path.startswith("/") and list(item) == ["get"], path
        operation = item["get"]
        operation_ids.append(operation["operationId"])
        assert operation["summary"] and "200" in operation["responses"]
        for parameter in operation.get("parameters", []):
            assert parameter["in"] in ("path", "query") and "schema" in parameter
            if parameter["in"] == "path":
                assert parameter["required"] is True and "{" + parameter["name"] + "}" in path
        for name in re.findall(r"\{(\w+)\}", path):
            assert name in [p["name"] for p in operation["parameters"] if p["in"] == "path"], path
    assert len(operation_ids) == len(set(operation_ids))


def test_every_documented_path_is_a_url_of_the_site(spec, fixture_values):
    for path in spec["paths"]:
        url = concrete(path, fixture_values)
        try:
            match = resolve(url)
        except Resolver404:
            pytest.fail(f"{path} is not a URL of the site")
        assert match.url_name, path


def test_every_public_json_route_is_documented(spec):
    documented = {re.sub(r"\{\w+\}", "{}", path) for path in spec["paths"]}
    routes = {
        "/" + re.sub(r"<[^>]+>", "{}", route) for route, _ in public_routes() if route.endswith(".json")
    }
    assert routes, "the site has JSON routes"
    assert routes == documented


def test_the_petition_list_parameters_are_the_page_s_facets(spec):
    from petitions.browse import FACET_SLUGS

    parameters = {p["name"]: p for p in spec["paths"]["/petitions.json"]["get"]["parameters"]}
    assert parameters["state"]["schema"]["enum"] == list(FACET_SLUGS)
    assert set(parameters) == {"state", "q", "page", "count", "topic", "department"}


# --- Every endpoint answers as documented -------------------------------------------------------------------------


def test_every_documented_endpoint_answers_200_as_its_schema_says(client, spec, fixture_values):
    for path in spec["paths"]:
        url = concrete(path, fixture_values)
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("application/json"), url
        body = response.json()
        assert body, f"{url} is empty: the schema check would prove nothing"
        assert schema_errors(response_schema(spec, path), body, spec) == [], url


def test_the_schema_s_required_attributes_are_the_keys_the_endpoints_return(client, spec, fixture_values):
    schemas = spec["components"]["schemas"]
    petition_id = fixture_values["id"]
    page = client.get(f"/petitions/{petition_id}.json").json()["data"]["attributes"]
    listed = client.get("/petitions.json").json()["data"][0]["attributes"]
    # An open petition has every attribute, closing date included: exactly the properties of the schemas.
    assert list(page) == list(schemas["PetitionPageAttributes"]["properties"])
    assert list(listed) == list(schemas["PetitionAttributes"]["properties"])
    assert set(schemas["PetitionAttributes"]["required"]) == set(listed) - {"closing_date"}
    count = client.get(f"/petitions/{petition_id}/count.json").json()
    assert list(count) == schemas["Count"]["required"]
    history = client.get(f"/petitions/{petition_id}/history.json").json()
    hour_schema = schemas["History"]["properties"]["data"]["properties"]["attributes"]["properties"]["hours"]
    assert history["data"]["attributes"]["hours"], "the fixture has an hour of history"
    assert list(history["data"]["attributes"]["hours"][0]) == hour_schema["items"]["required"]
    constituency = client.get("/constituencies.json").json()[fixture_values["code"]]
    assert list(constituency) == schemas["Constituency"]["required"]
    trending = client.get("/trending.json").json()
    assert trending["data"], "the fixture's petition was signed this hour"
    item_schema = schemas["Trending"]["properties"]["data"]["items"]
    assert list(trending["data"][0]["attributes"]) == item_schema["properties"]["attributes"]["required"]


def test_closed_and_rejected_petitions_match_the_schema_too(client, spec):
    closed = ClosedPetitionFactory()
    GovernmentResponse.objects.create(
        petition=closed,
        responded_on=datetime.date(2026, 3, 9),
        summary="No plans.",
        details="Details.",
        status=ResponseStatus.PUBLISHED,
        published_at=timezone.now(),
    )
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="Debated",
        starts_at=timezone.now() - datetime.timedelta(days=1),
        outcome=Outcome.DEBATED,
    )
    event.petitions.add(closed)
    rejected = PetitionFactory(state=PetitionState.REJECTED, rejected_at=timezone.now())
    Rejection.objects.create(petition=rejected, reason=RejectionReason.objects.first(), details="Duplicate.")
    schema = response_schema(spec, "/petitions/{id}.json")
    for petition in (closed, rejected):
        body = client.get(f"/petitions/{petition.pk}.json").json()
        assert schema_errors(schema, body, spec) == [], petition.state
    assert client.get(f"/petitions/{closed.pk}.json").json()["data"]["attributes"]["debate"] is not None
    listed = client.get("/petitions.json").json()
    assert schema_errors(response_schema(spec, "/petitions.json"), listed, spec) == []
    missing = client.get("/petitions/999999/count.json")
    assert missing.status_code == 404
    assert (
        schema_errors(response_schema(spec, "/petitions/{id}/count.json", "404"), missing.json(), spec) == []
    )
    refused = client.get("/petitions.json?topic=nope")
    assert refused.status_code == 400
    assert schema_errors(response_schema(spec, "/petitions.json", "400"), refused.json(), spec) == []


def test_the_validator_notices_a_missing_an_extra_or_a_mistyped_key(client, spec, fixture_values):
    schema = response_schema(spec, "/petitions/{id}/count.json")
    body = client.get(f"/petitions/{fixture_values['id']}/count.json").json()
    assert schema_errors(schema, body, spec) == []
    assert schema_errors(schema, {k: v for k, v in body.items() if k != "debated"}, spec) == [
        "$: 'debated' missing"
    ]
    assert schema_errors(schema, body | {"email": "x"}, spec) == ["$: 'email' is not in the schema"]
    assert schema_errors(schema, body | {"signature_count": "3"}, spec) == [
        "$.signature_count: str is not ['integer']"
    ]
    assert schema_errors(schema, body | {"government_response_at": "2026-03-09"}, spec) == [
        "$.government_response_at: '2026-03-09' is not a UTC timestamp with milliseconds"
    ]
