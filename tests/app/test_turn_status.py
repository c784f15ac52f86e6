"""Scoped status URLs (issue 10): a caller holding only the function key follows its turn on the app's own status
route and never receives the master key or the Durable extension's system key; the Durable management URLs appear
only with ASSISTANT_EXPOSE_DURABLE_URLS=true. function_app.py on devhost with keys ENFORCED (like Azure), devmodel's
scripted engine as the model."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from devhost.azurite import AzuriteProcess
from durable_assistant import api
from durable_assistant.api import TurnLinks, TurnStatus
from tests.app.scenarios import write_scenarios
from tests.app.stack import DevModel, Stack, devhost_app, devmodel

pytestmark = pytest.mark.slow

SLOW_WEATHER = "Slowly tell me the weather in Seattle, WA"
LAMPS = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."
STATUS_FIELDS = ("name", "instanceId", "runtimeStatus", "customStatus", "output", "createdTime", "lastUpdatedTime")
DURABLE = "/runtime/webhooks/durabletask"


@dataclass
class KeyedApp:
    stack: Stack
    function_key: str
    master_key: str
    system_key: str

    @property
    def origin(self) -> str:
        return self.stack.api.removesuffix("/api")

    def call(self, method: str, url: str, key: str | None = None, body: Any = None) -> requests.Response:
        url = url if url.startswith("http") else self.stack.api + url
        headers = {"x-functions-key": key} if key else {}
        return requests.request(method, url, json=body, headers=headers, timeout=30)

    def durable_status(self, instance_id: str, key: str) -> requests.Response:
        return requests.get(f"{self.origin}{DURABLE}/instances/{instance_id}", params={"code": key}, timeout=30)

    def secrets(self) -> tuple[str, str]:
        return self.master_key, self.system_key

    def conversation(self) -> str:
        created = self.call("POST", "/conversations", self.function_key)
        assert created.status_code == 201, created.text
        return str(created.json()["conversationId"])

    def wait(self, status_url: str, key: str | None, timeout: float = 120) -> tuple[requests.Response, list[int]]:
        """Poll until the turn ended; returns the last answer and every status code seen."""
        codes: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.call("GET", status_url, key)
            codes.append(response.status_code)
            if response.status_code == 200:
                return response, codes
            assert response.status_code == 202, response.text
            time.sleep(0.1)
        raise TimeoutError(f"{status_url} still running after {timeout} s")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevModel, Path]]:
    logs = Path(tmp_path_factory.mktemp("turn-status"))
    with devmodel(logs, scenario=write_scenarios(logs)) as m:
        yield m, logs


def _keyed_app(azurite: AzuriteProcess, model: tuple[DevModel, Path], **settings: str) -> Iterator[KeyedApp]:
    keys = {name: secrets.token_urlsafe(24) for name in ("function", "master", "system")}
    env = {"DEVHOST_ENFORCE_KEYS": "1", **{f"DEVHOST_{n.upper()}_KEY": k for n, k in keys.items()}, **settings}
    with devhost_app(azurite.connection_string, model[1], model[0], settings=env) as stack:
        yield KeyedApp(stack, keys["function"], keys["master"], keys["system"])


@pytest.fixture(scope="module")
def scoped(azurite: AzuriteProcess, model: tuple[DevModel, Path]) -> Iterator[KeyedApp]:
    """The default: no Durable management URL in any answer."""
    yield from _keyed_app(azurite, model)


@pytest.fixture(scope="module")
def exposed(azurite: AzuriteProcess, model: tuple[DevModel, Path]) -> Iterator[KeyedApp]:
    """A trusted front end's deployment: ASSISTANT_EXPOSE_DURABLE_URLS=true."""
    yield from _keyed_app(azurite, model, ASSISTANT_EXPOSE_DURABLE_URLS="true")


def _everything(response: requests.Response) -> str:
    return json.dumps({"body": response.text, "headers": dict(response.headers)})


def test_a_function_key_caller_gets_no_master_or_system_key_and_follows_its_turn(scoped: KeyedApp) -> None:
    cid = scoped.conversation()
    accepted = scoped.call("POST", f"/conversations/{cid}/messages", scoped.function_key, {"content": SLOW_WEATHER})
    assert accepted.status_code == 202, accepted.text
    everything = _everything(accepted)
    for secret in scoped.secrets():
        assert secret not in everything
    assert DURABLE not in everything and "code=" not in everything  # the key came in a header: none in a URL
    body = accepted.json()
    status_url = f"{scoped.stack.api}/conversations/{cid}/turns/1"
    assert body == {"id": f"turn-{cid}-000001", "statusQueryGetUri": status_url,
                    "cancelPostUri": status_url + "/cancel", "conversationId": cid, "turn": 1,
                    "messageId": body["messageId"]}
    assert accepted.headers["Location"] == status_url and accepted.headers["Retry-After"] == "10"

    assert scoped.call("GET", status_url).status_code == 401  # the route is function-level
    done, codes = scoped.wait(status_url, scoped.function_key)
    # The Durable status query's codes: 202 (with Location and Retry-After) while it runs, 200 once it ended.
    assert codes[0] == 202 and codes[-1] == 200 and set(codes) == {200, 202}, codes
    again = scoped.call("GET", status_url, scoped.function_key)
    assert again.status_code == 200 and "Location" not in again.headers
    mine = done.json()
    assert mine["runtimeStatus"] == "Completed" and "Seattle" in mine["output"]["answer"]
    assert set(mine) == set(STATUS_FIELDS)  # no input, no management URL
    # The same fields as the Durable API's own status query of that instance (read with the master key).
    durable = scoped.durable_status(body["id"], scoped.master_key)
    assert durable.status_code == 200
    assert {k: durable.json()[k] for k in STATUS_FIELDS} == mine
    for secret in scoped.secrets():
        assert secret not in _everything(done)


def test_a_running_turn_answers_202_with_the_durable_fields(scoped: KeyedApp) -> None:
    cid = scoped.conversation()
    accepted = scoped.call("POST", f"/conversations/{cid}/messages", scoped.function_key, {"content": SLOW_WEATHER})
    status_url = accepted.json()["statusQueryGetUri"]
    running = scoped.call("GET", status_url, scoped.function_key)
    durable = scoped.durable_status(accepted.json()["id"], scoped.master_key)
    assert running.status_code == durable.status_code == 202, (running.text, durable.text)
    assert running.headers["Location"] == status_url and running.headers["Retry-After"] == "5"
    assert running.json()["runtimeStatus"] in ("Pending", "Running")
    assert {k: running.json()[k] for k in ("name", "instanceId", "createdTime")} == \
        {k: durable.json()[k] for k in ("name", "instanceId", "createdTime")}
    scoped.wait(status_url, scoped.function_key)


def test_a_key_sent_as_code_is_echoed_and_only_that_key(scoped: KeyedApp) -> None:
    cid = scoped.conversation()
    accepted = requests.post(f"{scoped.stack.api}/conversations/{cid}/messages", params={"code": scoped.function_key},
                             json={"content": LAMPS}, timeout=30)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["statusQueryGetUri"] == f"{scoped.stack.api}/conversations/{cid}/turns/1?code={scoped.function_key}"
    assert body["cancelPostUri"] == f"{scoped.stack.api}/conversations/{cid}/turns/1/cancel?code={scoped.function_key}"
    for secret in scoped.secrets():
        assert secret not in _everything(accepted)
    done, _ = scoped.wait(body["statusQueryGetUri"], key=None)  # the URL alone is enough: the key is in it
    assert "Both lamps are on at half brightness" in done.json()["output"]["answer"]


def test_unknown_and_invalid_turns(scoped: KeyedApp) -> None:
    cid = scoped.conversation()
    accepted = scoped.call("POST", f"/conversations/{cid}/messages", scoped.function_key, {"content": LAMPS})
    scoped.wait(accepted.json()["statusQueryGetUri"], scoped.function_key)
    cases = {f"/conversations/{cid}/turns/2": (404, "unknown_turn"),
             f"/conversations/{cid}/turns/999999": (404, "unknown_turn"),
             "/conversations/nope/turns/1": (404, "unknown_conversation"),
             "/conversations/no.such.id/turns/1": (404, "unknown_conversation"),
             **{f"/conversations/{cid}/turns/{bad}": (400, "invalid_turn")
                for bad in ("0", "-1", "abc", "1.5", "1000000", "9" * 5000, "%C2%B2")}}
    for path, expected in cases.items():
        response = scoped.call("GET", path, scoped.function_key)
        assert (response.status_code, response.json()["error"]["code"]) == expected, (path[:80], response.text)
    # A purged instance is gone for the scoped route too.
    purged = requests.delete(f"{scoped.origin}{DURABLE}/instances/{accepted.json()['id']}",
                             params={"code": scoped.system_key}, timeout=30)
    assert purged.status_code == 200, purged.text
    gone = scoped.call("GET", f"/conversations/{cid}/turns/1", scoped.function_key)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "unknown_turn")


def test_exposed_management_urls_carry_the_system_key_which_opens_nothing_else(exposed: KeyedApp) -> None:
    cid = exposed.conversation()
    accepted = exposed.call("POST", f"/conversations/{cid}/messages", exposed.function_key, {"content": LAMPS})
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert exposed.master_key not in _everything(accepted)
    assert body["statusQueryGetUri"] == f"{exposed.stack.api}/conversations/{cid}/turns/1"  # still the scoped one
    management = body["durableManagement"]
    assert set(management) == {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "rewindPostUri",
                               "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"}
    assert management["id"] == body["id"]
    for name, url in management.items():
        if name != "id":
            assert url.startswith(f"{exposed.origin}{DURABLE}/instances/{body['id']}"), url
            assert url.endswith(f"code={exposed.system_key}"), url
    exposed.wait(body["statusQueryGetUri"], exposed.function_key)
    durable = requests.get(management["statusQueryGetUri"], timeout=30)  # the system key in it is enough
    assert durable.status_code == 200 and durable.json()["runtimeStatus"] == "Completed"
    # The system key works on the durabletask routes only: not on function routes, not on admin routes.
    system = exposed.system_key
    assert exposed.call("GET", f"/conversations/{cid}/turns/1", system).status_code == 401
    assert exposed.call("GET", f"/conversations/{cid}", system).status_code == 401
    assert exposed.call("POST", "/conversations", system).status_code == 401
    assert requests.get(f"{exposed.origin}/admin/host/status", params={"code": system}, timeout=30).status_code == 401
    assert requests.get(f"{exposed.origin}/admin/host/systemkeys", params={"code": system},
                        timeout=30).status_code == 401
    # ... and the function key is refused on the durabletask routes.
    assert exposed.durable_status(body["id"], exposed.function_key).status_code == 401
    # The master key still opens everything, including the host's system-key route.
    keys = requests.get(f"{exposed.origin}/admin/host/systemkeys/durabletask_extension",
                        params={"code": exposed.master_key}, timeout=30)
    assert keys.json() == {"name": "durabletask_extension", "value": system}


def test_openapi_describes_the_turn_status_route(scoped: KeyedApp) -> None:
    doc = requests.get(f"{scoped.stack.api}/openapi.json", timeout=30).json()
    route = doc["paths"]["/conversations/{conversationId}/turns/{turn}"]["get"]
    assert set(route["responses"]) == {"200", "202", "400", "401", "404", "500"}
    assert route["responses"]["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["TurnStatus"]["required"]) == set(STATUS_FIELDS)
    assert "durableManagement" in schemas["CheckStatus"]["properties"]
    assert "sendEventPostUri" not in schemas["CheckStatus"]["properties"]


# -- the pieces, without a host ----------------------------------------------------------------------------------

def test_links_keep_the_route_prefix_and_quote_the_callers_code() -> None:
    links = TurnLinks.for_request("https://app.example/custom/conversations/c1/messages?x=1", "c1", 7, "a/b+c=")
    assert links.status == "https://app.example/custom/conversations/c1/turns/7?code=a%2Fb%2Bc%3D"
    assert links.cancel == "https://app.example/custom/conversations/c1/turns/7/cancel?code=a%2Fb%2Bc%3D"
    bare = TurnLinks.for_request("http://127.0.0.1:7071/conversations/c1/turns/7", "c1", 7, None)
    assert bare.status == "http://127.0.0.1:7071/conversations/c1/turns/7"


def test_status_from_the_sdk_object_uses_the_hosts_time_format() -> None:
    sdk = DurableOrchestrationStatus.from_json({
        "name": "turn_orchestration", "instanceId": "turn-c-000001", "runtimeStatus": "Running",
        "customStatus": {"phase": "creating_run"}, "output": None, "input": {"secret": "x"},
        "createdTime": "2026-03-01T10:00:00Z", "lastUpdatedTime": "2026-03-01T10:00:02.5Z"})
    status = TurnStatus.from_sdk(sdk)
    assert status is not None and status.runtime_status == "Running"
    assert status.to_json() == {"name": "turn_orchestration", "instanceId": "turn-c-000001",
                                "runtimeStatus": "Running", "customStatus": {"phase": "creating_run"},
                                "output": None, "createdTime": "2026-03-01T10:00:00Z",
                                "lastUpdatedTime": "2026-03-01T10:00:02Z"}
    assert TurnStatus.from_sdk(DurableOrchestrationStatus.from_json("")) is None  # the SDK's status of a 404
    naive = TurnStatus("n", "i", "Completed", None, None, datetime(2026, 1, 2, 3, 4, 5), datetime.now(UTC))
    assert naive.to_json()["createdTime"] == "2026-01-02T03:04:05Z"
    ref = api.TurnRef("c", 1, "turn-c-000001")
    links = TurnLinks("s", "c")
    assert api.turn_status_response(ref, naive, links).status == 200
    assert api.turn_status_response(ref, status, links).headers == {"Location": "s", "Retry-After": "5"}
