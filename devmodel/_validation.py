"""Request bodies: parse JSON and check it against a JSON schema, failing with the API's 400 error shape."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from aiohttp import web

from ._errors import ApiError, bad_request

JsonObject = dict[str, Any]

_MISSING = re.compile(r"'([^']+)' is a required property")


async def read_json(request: web.Request) -> JsonObject:
    """The JSON object body; an empty body counts as ``{}`` (the SDK sends none for some POSTs)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            f"HTTP library correctly. The OpenAI API expects a JSON payload.) Parser said: {exc}"
        ) from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def _param(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def check(body: JsonObject, schema: JsonObject) -> None:
    """Raise the first schema violation as a 400 with ``param`` naming the offending field."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(body))
    if error is None:
        return
    path = list(error.absolute_path)
    if error.validator == "required":
        found = _MISSING.search(error.message)
        name = found.group(1) if found else "?"
        param = _param([*path, name])
        raise ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    field_name = _param(path) or None
    if error.validator == "additionalProperties":
        raise ApiError(400, f"Unrecognized request argument supplied: {error.message}", param=field_name,
                       code="unknown_parameter")
    where = f"'{field_name}'" if field_name else "the request body"
    raise ApiError(400, f"Invalid value for {where}: {error.message}", param=field_name, code="invalid_value")
