"""Building blocks of the OpenAPI document shared by its modules (responses, errors, limits)."""

from __future__ import annotations

from typing import Any

from durable_assistant import json_limits

ERROR = {"$ref": "#/components/schemas/Error"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_response(description: str) -> dict[str, Any]:
    return json_response(ERROR, description)


def keyed(responses: dict[str, Any]) -> dict[str, Any]:
    """Responses of a route behind the function key; the host answers 401 (empty body in Azure) without it."""
    return responses | {"401": {"description": "Missing or wrong function key (?code= or x-functions-key)"},
                        "500": error_response("Server fault: error.code `internal`, or `configuration` for bad "
                                              "app settings")}


def limits(body_bytes: int) -> dict[str, Any]:
    """The answers of a route that takes a JSON body to one that is too large or too deep."""
    return {"400": error_response(f"`invalid_json` (not a JSON object) or `json_too_deep` (arrays/objects nested "
                                  f"deeper than {json_limits.MAX_DEPTH} levels; error.limit)"),
            "413": error_response(f"`body_too_large`: the body has more than {body_bytes} bytes (error.limit)")}
