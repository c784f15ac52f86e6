"""azure_function tools: devmodel calls them over real Azurite queues the way Foundry Agent Service does, through
threads/runs (classic agents) and through Responses with an ``agent_reference`` (new agents API).

The queue consumer here is the test itself (a thread that answers like a queue-triggered function); the app's own
queue functions are exercised end to end in tests/app/test_foundry_e2e.py."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.ai.projects import AIProjectClient
from azure.core.credentials import AzureKeyCredential
from azure.core.pipeline.policies import AzureKeyCredentialPolicy
from azure.storage.queue import QueueClient, QueueServiceClient
from openai import OpenAI
from openai.types.beta.threads import Run

from devhost.azurite import AzuriteProcess
from devmodel import DevModelProcess

from .conftest import StartServer
from .support import API_KEY, TERMINAL_RUN, make_client, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks Assistants deprecated


def azure_function(name: str, endpoint: str, queue_in: str, queue_out: str,
                   properties: dict[str, Any]) -> dict[str, Any]:
    def binding(queue: str) -> dict[str, Any]:
        return {"type": "storage_queue", "storage_queue": {"queue_service_endpoint": endpoint, "queue_name": queue}}

    return {"type": "azure_function", "azure_function": {
        "function": {"name": name, "description": f"{name} over queues",
                     "parameters": {"type": "object", "properties": properties}},
        "input_binding": binding(queue_in), "output_binding": binding(queue_out)}}


@dataclass
class QueueFunction:
    """Answers calls on ``queue_in`` like a queue-triggered function: ``{"Value", "CorrelationId"}`` to ``queue_out``."""

    connection: str
    queue_in: str
    queue_out: str
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> None:
        inp = QueueClient.from_connection_string(self.connection, self.queue_in)
        out = QueueClient.from_connection_string(self.connection, self.queue_out)
        while not self._stop.is_set():
            try:
                messages = list(inp.receive_messages(max_messages=16))
            except Exception:  # the queue is created by devmodel on first use
                messages = []
            for message in messages:
                self.raw.append(str(message.content))
                call = json.loads(base64.b64decode(message.content))
                self.received.append(call)
                value = f"{self.queue_in} says: {json.dumps({k: v for k, v in call.items() if k != 'CorrelationId'})}"
                out.send_message(base64.b64encode(json.dumps(
                    {"Value": value, "CorrelationId": call["CorrelationId"]}).encode()).decode())
                inp.delete_message(message)
            self._stop.wait(0.05)


@pytest.fixture
def queue_function(azurite: AzuriteProcess) -> Iterator[QueueFunction]:
    tag = uuid.uuid4().hex[:8]
    function = QueueFunction(azurite.connection_string, f"w{tag}-in", f"w{tag}-out")
    worker = threading.Thread(target=function.serve, daemon=True)
    worker.start()
    yield function
    function._stop.set()
    worker.join(timeout=5)


def queue_endpoint(azurite: AzuriteProcess) -> str:
    return str(QueueServiceClient.from_connection_string(azurite.connection_string).url).rstrip("/")


@pytest.fixture
def server(start_server: StartServer, azurite: AzuriteProcess) -> DevModelProcess:
    return start_server("--queue-storage", azurite.connection_string, "--azure-function-timeout-seconds", "3")


def _run(client: OpenAI, tools: list[dict[str, Any]], content: str) -> Run:
    assistant = client.beta.assistants.create(model="devmodel", tools=tools)  # type: ignore[arg-type]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    # Parsed leniently: OpenAI's Run type has no azure_function tool (Foundry's does), so strict validation of
    # the echoed tools would fail for a reason that is not devmodel's.
    return wait_for(lambda: client.beta.threads.runs.retrieve(run.id, thread_id=thread.id),
                    lambda r: r.status in TERMINAL_RUN | {"requires_action"})


def test_a_threads_run_calls_the_azure_function_over_its_queues(server: DevModelProcess, azurite: AzuriteProcess,
                                                                queue_function: QueueFunction) -> None:
    client = make_client(server)
    tool = azure_function("get_weather", queue_endpoint(azurite), queue_function.queue_in, queue_function.queue_out,
                          {"location": {"type": "string"}})
    run = _run(client, [tool], "What is the weather in Seattle, WA?")
    assert run.status == "completed", run.last_error
    # The input message is the call's arguments plus a CorrelationId, Base64-encoded like the service puts it.
    assert len(queue_function.received) == 1
    call = queue_function.received[0]
    assert call["location"] == "Seattle, WA" and len(call["CorrelationId"]) >= 16
    assert not queue_function.raw[0].startswith("{")
    messages = client.beta.threads.messages.list(run.thread_id, run_id=run.id)
    assert messages.data[0].content[0].text.value == f'{queue_function.queue_in} says: {{"location": "Seattle, WA"}}'  # type: ignore[union-attr]
    stored = client.beta.assistants.with_raw_response.retrieve(run.assistant_id).http_response.json()
    assert stored["tools"] == [tool]  # kept as defined, bindings and all


def test_azure_function_and_plain_function_calls_in_one_round(server: DevModelProcess, azurite: AzuriteProcess,
                                                              queue_function: QueueFunction) -> None:
    client = make_client(server)
    customer = azure_function("get_customer_info", queue_endpoint(azurite), queue_function.queue_in,
                              queue_function.queue_out, {"customerId": {"type": "string"},
                                                         "includeHistory": {"type": "boolean"}})
    metrics = {"type": "function", "function": {"name": "analyze_metrics", "parameters": {
        "type": "object", "properties": {"metric": {"type": "string"}, "timeframe": {"type": "string"}}}}}
    run = _run(client, [customer, metrics], "Get customer CUST001 info and sales analytics for last month")
    # Only the plain function is left to the client; the azure_function call was already served.
    assert run.status == "requires_action"
    pending = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    assert [c.function.name for c in pending] == ["analyze_metrics"]
    assert queue_function.received[0]["customerId"] == "CUST001"
    run = client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=[
        {"tool_call_id": pending[0].id, "output": "sales +12%"}])
    run = wait_for(lambda: client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id),
                   lambda r: r.status in TERMINAL_RUN)
    assert run.status == "completed"
    text = client.beta.threads.messages.list(run.thread_id, run_id=run.id).data[0].content[0].text.value  # type: ignore[union-attr]
    assert "CUST001" in text and "says:" in text and "sales +12%" in text


def test_no_answer_in_time_fails_the_run(server: DevModelProcess, azurite: AzuriteProcess) -> None:
    client = make_client(server)
    tag = uuid.uuid4().hex[:8]
    tool = azure_function("get_weather", queue_endpoint(azurite), f"n{tag}-in", f"n{tag}-out",
                          {"location": {"type": "string"}})
    run = _run(client, [tool], "What is the weather in Paris?")
    assert run.status == "failed"
    assert run.last_error is not None and run.last_error.code == "server_error"
    assert f"no answer on queue 'n{tag}-out' within 3s" in run.last_error.message
    waiting = QueueClient.from_connection_string(azurite.connection_string, f"n{tag}-in").peek_messages()
    assert len(waiting) == 1  # the call is still there for a function that comes up later


def test_bad_azure_function_definitions_are_rejected(server: DevModelProcess) -> None:
    client = make_client(server)
    bad: Any = {"type": "azure_function", "azure_function": {"function": {"name": "f"}, "input_binding": {
        "type": "storage_queue", "storage_queue": {"queue_service_endpoint": "http://x", "queue_name": "Bad_Name"}}}}
    with pytest.raises(Exception) as err:
        client.beta.assistants.create(model="devmodel", tools=[bad])
    assert getattr(err.value, "status_code", None) == 400


def project(server: DevModelProcess) -> AIProjectClient:
    policy = AzureKeyCredentialPolicy(AzureKeyCredential(API_KEY), "Authorization", prefix="Bearer")
    endpoint = server.base_url.removesuffix("/v1") + "/api/projects/p1"
    return AIProjectClient(endpoint, AzureKeyCredential(API_KEY), authentication_policy=policy)  # type: ignore[arg-type]


def test_a_prompt_agent_version_runs_through_responses_with_an_agent_reference(
        server: DevModelProcess, azurite: AzuriteProcess, queue_function: QueueFunction) -> None:
    tool = azure_function("get_weather", queue_endpoint(azurite), queue_function.queue_in, queue_function.queue_out,
                          {"location": {"type": "string"}})
    name = "weather-" + uuid.uuid4().hex[:6]
    with project(server) as client:
        body: Any = {"definition": {"kind": "prompt", "model": "devmodel", "instructions": "Be brief.",
                                    "tools": [tool]}, "metadata": {"k": "v"}}
        first = client.agents.create_version(name, body)
        second = client.agents.create_version(name, body)
        assert (first.version, second.version) == ("1", "2")
        assert client.agents.get(name).versions.latest.version == "2"
        assert name in [a.name for a in client.agents.list()]
    openai = OpenAI(base_url=server.base_url.removesuffix("/v1") + "/api/projects/p1/openai/v1", api_key=API_KEY)
    response = openai.responses.create(input="What is the weather in Oslo?",
                                       extra_body={"agent_reference": {"type": "agent_reference", "name": name}},
                                       background=True, store=True)
    response = wait_for(lambda: openai.responses.retrieve(response.id),
                        lambda r: r.status in ("completed", "failed"))
    assert response.status == "completed", response.error
    assert response.output_text == f'{queue_function.queue_in} says: {{"location": "Oslo"}}'
    assert queue_function.received[0]["location"] == "Oslo"
    with project(server) as client:
        client.agents.delete(name)
        assert name not in [a.name for a in client.agents.list()]
