"""The management HTTP API (spec sections 4.2 and 5): status codes, headers and payloads, over raw HTTP."""

from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from ._http import call, status_url, wait_for_status, wait_until
from ._tables import OC, OS, assert_history, assert_well_formed
from .conftest import Conformance

MANAGEMENT_KEYS = {
    "id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri",
    "restartPostUri", "suspendPostUri", "resumePostUri",
}


def fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def test_sdk_starter_returns_check_status_response(conformance: Conformance) -> None:
    result = conformance.start("hello_sequence", {"a": 1})
    body = result.json()
    instance_id = body["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", instance_id), f"generated ids are Guid N format: {instance_id}"
    # The SDK's create_check_status_response adds rewindPostUri to the host's management URLs.
    assert set(body) == MANAGEMENT_KEYS | {"rewindPostUri"}
    assert result.header("Location") == body["statusQueryGetUri"]
    assert result.header("Retry-After") == "10"
    assert (result.header("Content-Type") or "").startswith("application/json")
    instance_base = f"{conformance.webhooks}/instances/{instance_id}"
    for key in MANAGEMENT_KEYS - {"id"}:
        assert body[key].startswith(instance_base), (key, body[key])
        query = parse_qs(urlsplit(body[key]).query)
        assert query.get("taskHub") == [conformance.hub], (key, body[key])
        assert query.get("connection") == ["Storage"], (key, body[key])
    assert "/raiseEvent/{eventName}" in body["sendEventPostUri"]
    assert "reason={text}" in body["terminatePostUri"]
    conformance.wait(instance_id)


def test_management_start_status_codes_and_terminate(conformance: Conformance) -> None:
    start = call("POST", f"{conformance.webhooks}/orchestrators/long_running")
    assert start.status == 202, start.body
    body = start.json()
    assert set(body) == MANAGEMENT_KEYS, "the host's own check-status payload has no rewindPostUri"
    assert start.header("Location") == body["statusQueryGetUri"]
    assert start.header("Retry-After") == "10"
    instance_id = body["id"]

    conformance.wait(instance_id, frozenset({"Running"}))
    running = call("GET", body["statusQueryGetUri"])
    assert running.status == 202, "a Running instance answers 202"
    assert running.header("Location") == body["statusQueryGetUri"]
    assert running.header("Retry-After") == "5"
    payload = running.json()
    assert payload["runtimeStatus"] == "Running"
    assert payload["name"] == "long_running"
    assert payload["instanceId"] == instance_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", payload["createdTime"]), payload["createdTime"]
    assert "historyEvents" not in payload, "showHistory defaults to false"

    terminate = call("POST", fill(body["terminatePostUri"], text="enough%20waiting"))
    assert terminate.status == 202, terminate.body
    final = conformance.wait(instance_id)
    assert final["runtimeStatus"] == "Terminated"
    assert final["output"] == "enough waiting"
    done = call("GET", body["statusQueryGetUri"])
    assert done.status == 200

    record, history = assert_well_formed(conformance.tables, instance_id)
    assert record["Output"] == "enough waiting", "Instances.Output holds the raw termination reason"
    rows = [r for r in history.rows if r["RowKey"] != "sentinel"]
    assert [(r["EventType"], r["EventId"]) for r in rows[:4]] == [
        ("OrchestratorStarted", -1), ("ExecutionStarted", -1), ("TimerCreated", 0), ("OrchestratorCompleted", -1),
    ]
    assert [r["EventType"] for r in rows[4:]] == [
        "OrchestratorStarted", "ExecutionTerminated", "ExecutionCompleted", "OrchestratorCompleted",
    ]
    assert rows[5]["Input"] == "enough waiting"
    assert rows[6]["OrchestrationStatus"] == "Terminated" and rows[6]["Result"] == "enough waiting"

    # Operations on a terminal instance answer 410 Gone.
    assert call("POST", fill(body["terminatePostUri"], text="again")).status == 410
    gone = call("POST", fill(body["sendEventPostUri"], eventName="Late"), json_body={"x": 1})
    assert gone.status == 410
    assert call("POST", fill(body["suspendPostUri"], text="late")).status == 410


def test_unknown_instance_is_404(conformance: Conformance) -> None:
    missing = f"missing-{uuid.uuid4().hex}"
    base = f"{conformance.webhooks}/instances/{missing}"
    get = call("GET", base)
    assert get.status == 404
    assert call("POST", f"{base}/raiseEvent/Any", json_body={"a": 1}).status == 404
    assert call("POST", f"{base}/terminate?reason=x").status == 404
    assert call("POST", f"{base}/suspend?reason=x").status == 404
    assert call("DELETE", base).status == 404


def test_unknown_orchestrator_is_400(conformance: Conformance) -> None:
    result = call("POST", f"{conformance.webhooks}/orchestrators/does_not_exist", json_body={"a": 1})
    assert result.status == 400, result.body
    message = result.json()["ExceptionMessage"]
    assert "The function 'does_not_exist' doesn't exist, is disabled, or is not an orchestrator function" in message


def test_starting_a_running_instance_id_again_is_500(conformance: Conformance) -> None:
    instance_id = f"dup-{uuid.uuid4().hex[:12]}"
    url = f"{conformance.webhooks}/orchestrators/long_running/{instance_id}"
    first = call("POST", url)
    assert first.status == 202, first.body
    assert first.json()["id"] == instance_id
    conformance.wait(instance_id, frozenset({"Running"}))
    second = call("POST", url)
    assert second.status == 500, second.body
    assert "already exists" in second.json()["ExceptionMessage"]
    assert call("POST", f"{conformance.webhooks}/instances/{instance_id}/terminate?reason=cleanup").status == 202
    conformance.wait(instance_id)


def test_reusing_a_completed_instance_id_starts_a_new_generation(conformance: Conformance) -> None:
    """Spec 6.3: a terminal instance id may be reused; the row is replaced and Generation goes up by one."""
    instance_id = f"reuse-{uuid.uuid4().hex[:12]}"
    url = f"{conformance.webhooks}/orchestrators/hello_sequence/{instance_id}"
    assert call("POST", url, json_body={"run": 1}).status == 202
    conformance.wait(instance_id)
    first, _ = assert_well_formed(conformance.tables, instance_id)

    again = call("POST", url, json_body={"run": 2})
    assert again.status == 202, again.body
    # The start replaces the row before answering (SetNewExecutionAsync writes it Pending), so the very next
    # status read already shows the new generation's input.
    right_after = call("GET", status_url(conformance.webhooks, instance_id)).json()
    assert right_after["input"] == {"run": 2}, right_after
    final = conformance.wait(instance_id)
    if final["input"] != {"run": 2}:  # still the old row? give the new generation time to run
        final = wait_until(
            lambda: (s := conformance.wait(instance_id))["input"] == {"run": 2} and s,
            timeout=15,
            what=f"the second generation (status now: {call('GET', status_url(conformance.webhooks, instance_id)).json()})",
        )
    assert final["runtimeStatus"] == "Completed"
    second, history = assert_well_formed(conformance.tables, instance_id)
    assert second["ExecutionId"] != first["ExecutionId"]
    assert second.get("Generation", 0) == first.get("Generation", 0) + 1
    assert_history(history, [OS, ("ExecutionStarted", -1, {"Input": '{"run":2}'})], prefix=True)


def test_inputs_are_stored_as_the_caller_encoded_them(conformance: Conformance) -> None:
    """Spec 2.10: raw HTTP stores the JSON token compactly; the SDK double-encodes (a JSON string literal)."""
    raw = call("POST", f"{conformance.webhooks}/orchestrators/hello_sequence", json_body={"a": 1, "b": [1, 2]})
    assert raw.status == 202
    raw_id = raw.json()["id"]
    raw_status = conformance.wait(raw_id)
    assert raw_status["input"] == {"a": 1, "b": [1, 2]}
    assert conformance.tables.instance(raw_id)["Input"] == '{"a":1,"b":[1,2]}'  # type: ignore[index]

    sdk_id = conformance.start_id("hello_sequence", {"a": 1})
    sdk_status = conformance.wait(sdk_id)
    assert sdk_status["input"] == '{"a": 1}', "the SDK's df_dumps text arrives as a JSON string"
    assert conformance.tables.instance(sdk_id)["Input"] == '"{\\"a\\": 1}"'  # type: ignore[index]


def test_raise_event_rejects_non_json(conformance: Conformance) -> None:
    instance_id = conformance.start_id("custom_status")
    conformance.wait(instance_id, frozenset({"Running"}))
    url = f"{conformance.webhooks}/instances/{instance_id}/raiseEvent/Next"
    bad = call("POST", url, raw_body=b"hello", content_type="text/plain")
    assert bad.status == 400, bad.body
    broken = call("POST", url, raw_body=b"{not json", content_type="application/json")
    assert broken.status == 400, broken.body
    for event in ("Next", "Finish"):
        assert call("POST", f"{conformance.webhooks}/instances/{instance_id}/raiseEvent/{event}", json_body=1).status == 202
    assert conformance.wait(instance_id)["runtimeStatus"] == "Completed"


def test_purge_deletes_instance_and_history(conformance: Conformance) -> None:
    start = conformance.start("hello_sequence", {"a": 1}).json()
    instance_id = start["id"]
    conformance.wait(instance_id)
    assert conformance.tables.partition_rows(instance_id), "history rows exist before the purge"
    purge = call("DELETE", start["purgeHistoryDeleteUri"])
    assert purge.status == 200, purge.body
    assert purge.json() == {"instancesDeleted": 1}
    assert call("GET", start["statusQueryGetUri"]).status == 404
    assert conformance.tables.instance(instance_id) is None
    assert conformance.tables.partition_rows(instance_id) == [], "purge removes every History row and the sentinel"
    assert call("DELETE", start["purgeHistoryDeleteUri"]).status == 404


def test_purge_by_filter_requires_created_time_from(conformance: Conformance) -> None:
    result = call("DELETE", f"{conformance.webhooks}/instances?runtimeStatus=Completed")
    assert result.status == 400, result.body


def test_list_instances_pages_with_continuation(conformance: Conformance) -> None:
    prefix = f"list{uuid.uuid4().hex[:8]}"
    ids = [f"{prefix}-{i}" for i in range(3)]
    for instance_id in ids:
        assert call("POST", f"{conformance.webhooks}/orchestrators/hello_sequence/{instance_id}").status == 202
    for instance_id in ids:
        conformance.wait(instance_id)
    listing = call("GET", f"{conformance.webhooks}/instances?instanceIdPrefix={prefix}&runtimeStatus=Completed")
    assert listing.status == 200
    assert sorted(item["instanceId"] for item in listing.json()) == ids
    assert {item["runtimeStatus"] for item in listing.json()} == {"Completed"}

    first_page = call("GET", f"{conformance.webhooks}/instances?instanceIdPrefix={prefix}&top=2")
    assert first_page.status == 200 and len(first_page.json()) == 2
    token = first_page.header("x-ms-continuation-token")
    assert token, "a partial page carries x-ms-continuation-token"


def test_suspend_and_resume_over_raw_http(conformance: Conformance) -> None:
    start = conformance.start("suspendable").json()
    instance_id = start["id"]
    conformance.wait(instance_id, frozenset({"Running"}))

    assert call("POST", fill(start["suspendPostUri"], text="maintenance")).status == 202
    suspended = conformance.wait(instance_id, frozenset({"Suspended"}))
    assert suspended["runtimeStatus"] == "Suspended"
    assert conformance.tables.instance(instance_id)["Output"] == "maintenance"  # type: ignore[index]
    # Events are accepted while suspended, but no new work is scheduled until resume.
    assert call("POST", fill(start["sendEventPostUri"], eventName="Go"), json_body={"go": True}).status == 202
    time.sleep(2.0)  # give a misbehaving host the chance to act on the event
    assert conformance.wait(instance_id, frozenset({"Suspended"}))["runtimeStatus"] == "Suspended"
    assert not any(r.get("EventType") == "TaskScheduled" for r in conformance.tables.partition_rows(instance_id))

    assert call("POST", fill(start["resumePostUri"], text="back")).status == 202
    final = conformance.wait(instance_id)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"go": {"go": True}, "greeting": "Hello after resume"}

    _, history = assert_well_formed(conformance.tables, instance_id)
    rows = [r for r in history.rows if r["RowKey"] != "sentinel"]
    types = [r["EventType"] for r in rows]
    assert types.count("ExecutionSuspended") == 1 and types.count("ExecutionResumed") == 1, types
    suspended_at, resumed_at = types.index("ExecutionSuspended"), types.index("ExecutionResumed")
    assert rows[suspended_at]["Reason"] == "maintenance" and rows[resumed_at]["Reason"] == "back"
    assert suspended_at < resumed_at < types.index("TaskScheduled"), "no decisions while suspended"
    assert "EventRaised" in types
    assert_history(history, [OS, ("ExecutionStarted", -1, {"Name": "suspendable"}), OC], prefix=True)


def test_failed_status_is_200_unless_asked_for_500(conformance: Conformance) -> None:
    instance_id, status = conformance.run("raises")
    assert status["runtimeStatus"] == "Failed"
    assert call("GET", status_url(conformance.webhooks, instance_id)).status == 200
    strict = call("GET", status_url(conformance.webhooks, instance_id, returnInternalServerErrorOnFailure="true"))
    assert strict.status == 500
    assert strict.json()["runtimeStatus"] == "Failed"


def test_status_with_history_omits_it_for_defaults(conformance: Conformance) -> None:
    instance_id, _ = conformance.run("hello_sequence", {"a": 1})
    plain = wait_for_status(conformance.webhooks, instance_id)
    assert "historyEvents" not in plain
    assert plain["input"] == '{"a": 1}', "showInput defaults to true"
    no_input = call("GET", status_url(conformance.webhooks, instance_id, showInput="false")).json()
    assert no_input.get("input") is None


def test_task_hub_resources_follow_the_azure_storage_layout(conformance: Conformance) -> None:
    """Spec 6.1: control queues -00..-03, the work-item queue, the lease and large-message containers."""
    conformance.run("hello_sequence", {"a": 1})
    storage = conformance.devhost.config.storage
    hub = conformance.hub.lower()
    queues = {q.name for q in QueueServiceClient.from_connection_string(storage).list_queues(name_starts_with=hub)}
    assert {f"{hub}-control-0{i}" for i in range(4)} | {f"{hub}-workitems"} <= queues, sorted(queues)
    assert not any(q.startswith(f"{hub}-control-") and q[-2:] not in {"00", "01", "02", "03"} for q in queues)
    blobs = BlobServiceClient.from_connection_string(storage)
    containers = {c.name for c in blobs.list_containers(name_starts_with=hub)}
    assert f"{hub}-leases" in containers, sorted(containers)
    taskhub = json.loads(blobs.get_blob_client(f"{hub}-leases", "taskhub.json").download_blob().readall())
    assert taskhub["TaskHubName"] == conformance.hub
    assert taskhub["PartitionCount"] == 4
    assert "CreatedAt" in taskhub
