"""The OpenAPI 3.1 description of the public JSON API, served at `/api/openapi.json` (docs/api.md).

Built in Python rather than kept as a file so that the lists of values (facets, event kinds) come from the code
that accepts them. `tests/test_openapi.py` checks every path against the URLconf and every response schema
against what the endpoint really returns.
"""

from django.conf import settings

from .models import PetitionState

# --- Schema helpers ---------------------------------------------------------------------------------------------


def _nullable(schema: dict) -> dict:
    """The schema, or null (OpenAPI 3.1 is JSON Schema: a list of types)."""
    schema = dict(schema)
    schema["type"] = [schema["type"], "null"]
    return schema


def _obj(properties: dict, *, optional: tuple = (), description: str = "") -> dict:
    """A closed object: every property required except the `optional` ones."""
    schema = {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(items: dict) -> dict:
    return {"type": "array", "items": items}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
URL = {"type": "string", "format": "uri"}
TIMESTAMP = {
    "type": ["string", "null"],
    "format": "date-time",
    "description": "UTC, ISO-8601 with milliseconds, e.g. 2022-03-09T12:34:56.789Z",
}
DATE = {"type": ["string", "null"], "format": "date", "description": "YYYY-MM-DD"}


def _petition_attributes(*, page: bool) -> dict:
    properties = {
        "action": STRING,
        "background": STRING,
        "additional_details": STRING,
        "committee_note": {"type": "string", "description": 'Markdown note by the committee; "" if none'},
        "state": {
            "type": "string",
            "enum": [PetitionState.OPEN, PetitionState.CLOSED, PetitionState.REJECTED],
        },
        "signature_count": INTEGER,
        "closing_date": {**DATE, "description": "Only while `state` is open: the London day of the deadline"},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "rejected_at": TIMESTAMP,
        "opened_at": TIMESTAMP,
        "closed_at": TIMESTAMP,
        "moderation_threshold_reached_at": TIMESTAMP,
        "response_threshold_reached_at": TIMESTAMP,
        "government_response_at": TIMESTAMP,
        "debate_threshold_reached_at": TIMESTAMP,
        "debate_scheduled_on": DATE,
        "scheduled_debate_date": DATE,
        "debate_outcome_at": TIMESTAMP,
        "creator_name": {**_nullable(STRING), "description": "The creator's name while open, else null"},
        "rejection": {"oneOf": [_ref("Rejection"), {"type": "null"}]},
        "government_response": {"oneOf": [_ref("GovernmentResponse"), {"type": "null"}]},
        "debate": {"oneOf": [_ref("Debate"), {"type": "null"}]},
        "departments": _array(_ref("Department")),
        "topics": _array(STRING),
    }
    optional = ("closing_date",)
    if page:
        breakdowns = {
            "signatures_by_country": _array(
                _obj({"name": STRING, "code": STRING, "signature_count": INTEGER})
            ),
            "signatures_by_constituency": _array(
                _obj(
                    {
                        "name": STRING,
                        "ons_code": STRING,
                        "mp": {**_nullable(STRING), "description": '"<name> MP", null for a vacant seat'},
                        "signature_count": INTEGER,
                    }
                )
            ),
            "signatures_by_region": _array(
                _obj(
                    {
                        "name": STRING,
                        "ons_code": {"type": "string", "description": "The reference's letter code, A–N"},
                        "signature_count": INTEGER,
                    }
                )
            ),
            "other_parliamentary_business": _array(
                _obj(
                    {
                        "subject": STRING,
                        "body": {"type": "string", "description": "Plain text"},
                        "occurred_on": DATE,
                        "created_at": TIMESTAMP,
                        "updated_at": TIMESTAMP,
                    }
                )
            ),
        }
        properties |= breakdowns
        # A rejected petition has none of the four.
        optional += tuple(breakdowns)
    return _obj(properties, optional=optional)


def _list_links() -> dict:
    return _obj(
        {
            "self": URL,
            "first": URL,
            "last": URL,
            "next": _nullable(URL),
            "prev": _nullable(URL),
        }
    )


SCHEMAS = {
    "Rejection": _obj({"code": STRING, "details": _nullable(STRING)}),
    "GovernmentResponse": _obj(
        {
            "responded_on": DATE,
            "summary": STRING,
            "details": {"type": "string", "description": "Plain text made from the Markdown"},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    ),
    "Debate": _obj(
        {
            "debated_on": DATE,
            "transcript_url": STRING,
            "video_url": STRING,
            "debate_pack_url": STRING,
            "overview": STRING,
        },
        description='The outcome of the petition\'s latest debate; URLs are "" when not recorded.',
    ),
    "Department": _obj({"acronym": STRING, "name": STRING, "url": STRING}),
    "PetitionAttributes": _petition_attributes(page=False),
    "PetitionPageAttributes": _petition_attributes(page=True),
    "PetitionListItem": _obj(
        {
            "type": {"const": "petition"},
            "id": INTEGER,
            "links": _obj({"self": URL}),
            "attributes": _ref("PetitionAttributes"),
        }
    ),
    "PetitionList": _obj({"links": _list_links(), "data": _array(_ref("PetitionListItem"))}),
    "PetitionDocument": _obj(
        {
            "links": _obj({"self": URL}),
            "data": _obj(
                {"type": {"const": "petition"}, "id": INTEGER, "attributes": _ref("PetitionPageAttributes")}
            ),
        }
    ),
    "Count": _obj(
        {
            "signature_count": INTEGER,
            "response_threshold_reached_at": TIMESTAMP,
            "government_response_at": TIMESTAMP,
            "debate_threshold_reached_at": TIMESTAMP,
            "scheduled_debate_date": DATE,
            "debate_outcome_at": TIMESTAMP,
            "debated": BOOLEAN,
        }
    ),
    "History": _obj(
        {
            "links": _obj({"self": URL}),
            "data": _obj(
                {
                    "type": {"const": "history"},
                    "id": INTEGER,
                    "attributes": _obj(
                        {
                            "hours": _array(
                                _obj(
                                    {
                                        "hour": {
                                            "type": "string",
                                            "format": "date-time",
                                            "description": "The start of the hour, UTC",
                                        },
                                        "signature_count": {
                                            "type": "integer",
                                            "description": "Signatures gained in the hour (negative after "
                                            "invalidations)",
                                        },
                                        "total": {
                                            "type": "integer",
                                            "description": "The count at the hour's end",
                                        },
                                    }
                                )
                            )
                        }
                    ),
                }
            ),
        }
    ),
    "Constituency": _obj(
        {
            "mp": {**_nullable(STRING), "description": '"<name> MP", null for a vacant seat'},
            "party": _nullable(STRING),
            "constituency": {"type": "string", "description": "The constituency's name"},
            "ons_code": STRING,
            "start_date": DATE,
            "end_date": DATE,
        }
    ),
    "Constituencies": {
        "type": "object",
        "description": "Every constituency, keyed by its ONS (GSS) code",
        "additionalProperties": _ref("Constituency"),
    },
    "Trending": _obj(
        {
            "data": _array(
                _obj(
                    {
                        "type": {"const": "petition"},
                        "id": INTEGER,
                        "links": _obj({"self": URL}),
                        "attributes": _obj(
                            {
                                "action": STRING,
                                "signature_count": {
                                    "type": "integer",
                                    "description": "Signatures in the last hour",
                                },
                            }
                        ),
                    }
                )
            ),
            "links": _obj({"self": URL}),
            "meta": _obj({"updated_at": TIMESTAMP}),
        }
    ),
    "DebateList": _obj(
        {
            "links": _obj({"self": URL}),
            "meta": _obj({"count": INTEGER, "limit": INTEGER, "truncated": BOOLEAN}),
            "data": _array(
                _obj(
                    {
                        "type": {"const": "debate"},
                        "id": INTEGER,
                        "links": _obj({"self": URL}),
                        "attributes": _obj(
                            {
                                "kind": STRING,
                                "kind_name": STRING,
                                "title": STRING,
                                "summary": {"type": "string", "description": "Plain text"},
                                "starts_at": TIMESTAMP,
                                "place": STRING,
                                "lead": _nullable(STRING),
                                "department": {
                                    "oneOf": [_obj({"acronym": STRING, "name": STRING}), {"type": "null"}]
                                },
                                "evidence_deadline": TIMESTAMP,
                                "outcome": _nullable(STRING),
                                "outcome_reason": _nullable(STRING),
                                "outcome_at": TIMESTAMP,
                                "links": _obj(
                                    {
                                        name: {"type": "string", "description": 'An https URL, or ""'}
                                        for name in (
                                            "more_info_url",
                                            "evidence_url",
                                            "transcript_url",
                                            "video_url",
                                            "debate_pack_url",
                                            "public_engagement_url",
                                            "debate_summary_url",
                                        )
                                    }
                                ),
                                "petitions": _array(
                                    _obj(
                                        {
                                            "id": INTEGER,
                                            "action": STRING,
                                            "signature_count": INTEGER,
                                            "url": URL,
                                        }
                                    )
                                ),
                            }
                        ),
                    }
                )
            ),
        }
    ),
    "ConstituencyDocument": _obj(
        {
            "links": _obj({"self": URL, "prev": _nullable(URL), "next": _nullable(URL)}),
            "data": _obj(
                {
                    "type": {"const": "constituency"},
                    "id": STRING,
                    "attributes": _obj(
                        {
                            "name": STRING,
                            "ons_code": STRING,
                            "region": STRING,
                            "mp": _nullable(STRING),
                            "party": _nullable(STRING),
                            "petitions": _array(
                                _obj(
                                    {
                                        "id": INTEGER,
                                        "action": STRING,
                                        "state": STRING,
                                        "signature_count": INTEGER,
                                        "constituency_signature_count": INTEGER,
                                        "url": URL,
                                    }
                                )
                            ),
                            "upcoming_debates": _array(
                                _obj(
                                    {
                                        "id": INTEGER,
                                        "kind": STRING,
                                        "title": STRING,
                                        "starts_at": TIMESTAMP,
                                        "place": STRING,
                                        "url": URL,
                                        "petition_ids": _array(INTEGER),
                                    }
                                )
                            ),
                        }
                    ),
                }
            ),
        }
    ),
    "Error": _obj({"error": STRING}),
    "FilterErrors": _obj(
        {"errors": _array(_obj({"parameter": STRING, "detail": STRING}))},
        description="Every invalid parameter with its message",
    ),
}

# --- Paths ------------------------------------------------------------------------------------------------------


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


NOT_FOUND_PAGE = {
    "description": 'Not a published petition (or no such id): the site\'s readable HTML "Page not found"',
    "content": {"text/html": {}},
}
GONE_PAGE = {
    "description": 'Published, then removed or hidden: the site\'s HTML "removed" page',
    "content": {"text/html": {}},
}
PETITION_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The petition's number",
    "schema": {"type": "integer", "minimum": 1},
}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or STRING,
    }


def _paths() -> dict:
    from debates.filters import PETITION_STATES, SORT_CHOICES, TYPE_ALIASES, WHEN_CHOICES
    from debates.models import EventKind

    from .browse import FACET_SLUGS

    ok = "OK"
    return {
        "/petitions.json": {
            "get": {
                "operationId": "listPetitions",
                "summary": "Petitions, as the /petitions page lists them (50 a page)",
                "parameters": [
                    _query(
                        "state",
                        "The facet; an unknown value lists all. Each facet has its fixed order.",
                        {"type": "string", "enum": list(FACET_SLUGS), "default": "all"},
                    ),
                    _query(
                        "q",
                        "Words in the action, background or additional details (every word; the last one as a "
                        "prefix); best match first",
                        {"type": "string", "maxLength": 255},
                    ),
                    _query("page", "Page number; past the last page, `data` is empty", {"type": "integer"}),
                    _query(
                        "count",
                        "Petitions a page, 1–50 (clamped); kept in the `links` when given",
                        {"type": "integer", "minimum": 1, "maximum": 50, "default": 50},
                    ),
                    _query("topic", "A topic code (one of the /petitions page's topics)"),
                    _query(
                        "department", "A department's acronym, in any case (one of the page's departments)"
                    ),
                ],
                "responses": {
                    "200": _json(ok, _ref("PetitionList")),
                    "400": _json("A value the /petitions page would refuse", _ref("FilterErrors")),
                },
            }
        },
        "/petitions/{id}.json": {
            "get": {
                "operationId": "getPetition",
                "summary": "One petition with its signatures by country, constituency and region",
                "parameters": [PETITION_ID],
                "responses": {
                    "200": _json(ok, _ref("PetitionDocument")),
                    "404": NOT_FOUND_PAGE,
                    "410": GONE_PAGE,
                },
            }
        },
        "/petitions/{id}/count.json": {
            "get": {
                "operationId": "getPetitionCount",
                "summary": "The live signature count and milestones (polled by the petition page)",
                "parameters": [PETITION_ID],
                "responses": {"200": _json(ok, _ref("Count")), "404": _json("Not found", _ref("Error"))},
            }
        },
        "/petitions/{id}/history.json": {
            "get": {
                "operationId": "getPetitionHistory",
                "summary": "Signatures hour by hour over the petition's whole life (beyond the reference)",
                "parameters": [PETITION_ID],
                "responses": {
                    "200": _json(ok, _ref("History")),
                    "404": NOT_FOUND_PAGE,
                    "410": GONE_PAGE,
                },
            }
        },
        "/constituencies.json": {
            "get": {
                "operationId": "listConstituencies",
                "summary": "Every constituency with its MP and party, keyed by ONS code",
                "responses": {"200": _json(ok, _ref("Constituencies"))},
            }
        },
        "/constituencies/{code}.json": {
            "get": {
                "operationId": "getConstituency",
                "summary": "A constituency's most signed petitions and upcoming debates (beyond the reference)",
                "parameters": [
                    {
                        "name": "code",
                        "in": "path",
                        "required": True,
                        "description": "The GSS code, e.g. E14001063 (lower case redirects)",
                        "schema": STRING,
                    },
                    _query("state", "Petitions listed", {"type": "string", "enum": ["open", "all"]}),
                    _query("page", "Page number (50 petitions a page)", {"type": "integer", "minimum": 1}),
                ],
                "responses": {
                    "200": _json(ok, _ref("ConstituencyDocument")),
                    "404": {
                        "description": "No such constituency: the HTML 404 page",
                        "content": {"text/html": {}},
                    },
                },
            }
        },
        "/trending.json": {
            "get": {
                "operationId": "listTrendingPetitions",
                "summary": "The 10 open petitions with the most signatures in the last hour",
                "responses": {"200": _json(ok, _ref("Trending"))},
            }
        },
        "/debates.json": {
            "get": {
                "operationId": "listDebates",
                "summary": "Parliamentary events on petitions, as the /debates page (up to 5,000; beyond the reference)",
                "parameters": [
                    {
                        **_query(
                            "type",
                            "Kinds of event (repeatable)",
                            _array({"type": "string", "enum": [*EventKind.values, *TYPE_ALIASES]}),
                        ),
                        "explode": True,
                    },
                    _query("when", "Dates", {"type": "string", "enum": [value for value, _ in WHEN_CHOICES]}),
                    _query("from", "From this London day, inclusive", {"type": "string", "format": "date"}),
                    _query("to", "To this London day, inclusive", {"type": "string", "format": "date"}),
                    _query("department", "A department's acronym"),
                    _query(
                        "petition_state",
                        "A linked petition's state",
                        {"type": "string", "enum": [*PETITION_STATES]},
                    ),
                    _query("min_signatures", "On one of its petitions", {"type": "integer", "minimum": 0}),
                    _query("constituency", "A GSS code: events on its 50 most signed public petitions"),
                    _query(
                        "text",
                        "Words in the title, summary or a petition",
                        {"type": "string", "maxLength": 200},
                    ),
                    _query("sort", "Order", {"type": "string", "enum": [value for value, _ in SORT_CHOICES]}),
                ],
                "responses": {
                    "200": _json(ok, _ref("DebateList")),
                    "400": _json("An invalid parameter", _ref("FilterErrors")),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "responses": {"200": _json(ok, {"type": "object"})},
            }
        },
    }


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Petitions API",
            "version": "1.0.0",
            "description": (
                "Open data about petitions, in petition.parliament.uk's format where the reference has the "
                "endpoint (petitions, counts, constituencies, trending), and in the same style beyond it. Read "
                "only, no authentication, any origin (CORS *). Nothing about anyone who signed is ever included "
                "except a petition creator's name while the petition is open. See docs/api.md."
            ),
        },
        "servers": [{"url": settings.SITE_URL}],
        "paths": _paths(),
        "components": {"schemas": SCHEMAS},
    }
