"""Threads/runs (Assistants v2 shape as Foundry Agent Service classic serves it), through the real `openai` SDK."""

from __future__ import annotations

import json
import time

import openai
import pytest
from openai import OpenAI
from openai.types.beta import Assistant, AssistantDeleted, Thread
from openai.types.beta.threads import Message, Run

from .conftest import StartServer
from .support import (
    CUSTOMER_TOOLS,
    LAMP_TOOLS,
    TERMINAL_RUN,
    WEATHER_TOOL,
    error_message,
    make_client,
    nested,
    strict,
    wait_for,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks Assistants deprecated


def _assistant(client: OpenAI, tools: list[dict[str, object]]) -> Assistant:
    return strict(Assistant, client.beta.assistants.with_raw_response.create(
        model="gpt-4o-mini", name="Home Assistant", instructions="Help with lamps.", tools=nested(tools)))


def _run_until(client: OpenAI, run: Run, statuses: set[str]) -> Run:
    return wait_for(lambda: strict(Run, client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=run.thread_id)),
                    lambda r: r.status in statuses)


def test_parallel_calls_submit_outputs_and_the_answer_lands_in_the_thread(client: OpenAI) -> None:
    assistant = _assistant(client, LAMP_TOOLS)
    thread = strict(Thread, client.beta.threads.with_raw_response.create())
    strict(Message, client.beta.threads.messages.with_raw_response.create(
        thread.id, role="user", content="Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."))
    run = strict(Run, client.beta.threads.runs.with_raw_response.create(thread_id=thread.id, assistant_id=assistant.id))
    assert run.status == "queued"
    assert run.instructions == "Help with lamps."
    assert run.expires_at is not None and run.expires_at > run.created_at

    waiting = _run_until(client, run, {"requires_action"} | TERMINAL_RUN)
    assert waiting.status == "requires_action" and waiting.required_action is not None
    calls = waiting.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("set_lamp", {"lamp": "living room", "state": True}), ("set_lamp", {"lamp": "kitchen", "state": True}),
        ("set_lamp_brightness", {"lamp": "living room", "brightness": 50}),
        ("set_lamp_brightness", {"lamp": "kitchen", "brightness": 50})]

    submitted = strict(Run, client.beta.threads.runs.with_raw_response.submit_tool_outputs(
        run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": c.id, "output": f"ok{i}"} for i, c in enumerate(calls)]))
    assert submitted.status == "queued" and submitted.required_action is None
    done = _run_until(client, run, TERMINAL_RUN)
    assert done.status == "completed"
    assert done.completed_at is not None and done.expires_at is None
    assert done.usage is not None and done.usage.total_tokens > 0

    listing = client.beta.threads.messages.with_raw_response.list(thread.id, order="asc").http_response.json()
    messages = [Message.model_validate(m) for m in listing["data"]]
    assert [m.role for m in messages] == ["user", "assistant"]
    answer = messages[1]
    assert answer.run_id == run.id and answer.assistant_id == assistant.id
    assert answer.content[0].text.value == (  # type: ignore[union-attr]
        "Both lamps are on at half brightness. Lamps: ok0; ok1. Brightness: ok2; ok3.")
    assert client.beta.threads.messages.list(thread.id, run_id=run.id).data[0].id == answer.id


def test_two_tool_rounds_in_one_run(client: OpenAI) -> None:
    assistant = _assistant(client, CUSTOMER_TOOLS)
    thread = client.beta.threads.create(messages=[
        {"role": "user", "content": "Look up customer CUST009 and then analyze their orders"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    outputs = ["Northwind", "7 orders"]
    for expected_tool, output in zip(["get_customer_info", "analyze_metrics"], outputs, strict=True):
        waiting = _run_until(client, run, {"requires_action"} | TERMINAL_RUN)
        assert waiting.required_action is not None
        [call] = waiting.required_action.submit_tool_outputs.tool_calls
        assert call.function.name == expected_tool
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id,
                                                     tool_outputs=[{"tool_call_id": call.id, "output": output}])
    assert _run_until(client, run, TERMINAL_RUN).status == "completed"
    [latest, *_] = client.beta.threads.messages.list(thread.id).data  # newest first, the API's default order
    assert latest.content[0].text.value == "Customer: Northwind. Orders: 7 orders."  # type: ignore[union-attr]


def test_one_active_run_per_thread(client: OpenAI) -> None:
    assistant = _assistant(client, [WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "weather in Lima"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    _run_until(client, run, {"requires_action"})
    with pytest.raises(openai.BadRequestError) as message_rejected:
        client.beta.threads.messages.create(thread.id, role="user", content="hurry up")
    assert error_message(message_rejected.value) == f"Can't add messages to {thread.id} while a run {run.id} is active."
    assert message_rejected.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as run_rejected:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert error_message(run_rejected.value) == f"Thread {thread.id} already has an active run {run.id}."

    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert _run_until(client, run, TERMINAL_RUN).status == "cancelled"
    client.beta.threads.messages.create(thread.id, role="user", content="now it works")


def test_cancel_goes_through_cancelling_and_terminal_runs_cannot_be_cancelled(client: OpenAI) -> None:
    assistant = _assistant(client, [])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello [fault:never]"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert _run_until(client, run, {"in_progress"}).status == "in_progress"
    cancelling = strict(Run, client.beta.threads.runs.with_raw_response.cancel(run.id, thread_id=thread.id))
    assert cancelling.status == "cancelling"
    cancelled = _run_until(client, run, TERMINAL_RUN)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    with pytest.raises(openai.BadRequestError, match="Cannot cancel run with status 'cancelled'"):
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


@pytest.mark.parametrize(("marker", "status", "code"), [
    ("[fault:fail]", "failed", "server_error"),
    ("[fault:run-rate-limit]", "failed", "rate_limit_exceeded"),
    ("[fault:expire]", "expired", None),
    ("[fault:incomplete]", "incomplete", None),
])
def test_run_faults(client: OpenAI, marker: str, status: str, code: str | None) -> None:
    assistant = _assistant(client, [])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"hello {marker}"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    done = _run_until(client, run, TERMINAL_RUN)
    assert done.status == status
    if code is not None:
        assert done.last_error is not None and done.last_error.code == code and done.failed_at is not None
    if status == "incomplete":
        assert done.incomplete_details is not None and done.incomplete_details.reason == "max_completion_tokens"
    client.beta.threads.messages.create(thread.id, role="user", content="the thread is free again")


def test_runs_expire_when_never_finishing_or_left_waiting_for_tool_outputs(start_server: StartServer) -> None:
    client = make_client(start_server("--run-expires-seconds", "1"))
    assistant = _assistant(client, [WEATHER_TOOL])
    never = client.beta.threads.create(messages=[{"role": "user", "content": "hello [fault:never]"}])
    waiting = client.beta.threads.create(messages=[{"role": "user", "content": "weather in Cusco"}])
    never_run = client.beta.threads.runs.create(thread_id=never.id, assistant_id=assistant.id)
    waiting_run = client.beta.threads.runs.create(thread_id=waiting.id, assistant_id=assistant.id)
    assert _run_until(client, waiting_run, {"requires_action"}).status == "requires_action"
    assert _run_until(client, never_run, TERMINAL_RUN).status == "expired"
    expired = _run_until(client, waiting_run, TERMINAL_RUN)
    assert expired.status == "expired"
    with pytest.raises(openai.BadRequestError, match='Runs in status "expired" do not accept tool outputs'):
        client.beta.threads.runs.submit_tool_outputs(waiting_run.id, thread_id=waiting.id,
                                                     tool_outputs=[{"tool_call_id": "x", "output": "late"}])


def test_tool_outputs_must_cover_exactly_the_calls(client: OpenAI) -> None:
    assistant = _assistant(client, CUSTOMER_TOOLS)
    thread = client.beta.threads.create(messages=[
        {"role": "user", "content": "Get customer CUST001 info and the sales analytics for last month"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    waiting = _run_until(client, run, {"requires_action"})
    assert waiting.required_action is not None
    first, _second = waiting.required_action.submit_tool_outputs.tool_calls
    with pytest.raises(openai.BadRequestError, match="Expected tool outputs for call_ids"):
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id,
                                                     tool_outputs=[{"tool_call_id": first.id, "output": "only one"}])
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "requires_action"


def test_assistant_crud_and_unknown_ids(client: OpenAI) -> None:
    assistant = _assistant(client, [WEATHER_TOOL])
    updated = client.beta.assistants.update(assistant.id, name="Weather", metadata={"v": "2"})
    assert (updated.name, updated.metadata) == ("Weather", {"v": "2"})
    assert client.beta.assistants.retrieve(assistant.id).tools[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert assistant.id in [a.id for a in client.beta.assistants.list(limit=100).data]
    deleted = strict(AssistantDeleted, client.beta.assistants.with_raw_response.delete(assistant.id))
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as gone:
        client.beta.assistants.retrieve(assistant.id)
    assert gone.value.body == {"message": f"No assistant found with id '{assistant.id}'.",
                               "type": "invalid_request_error", "param": None, "code": None}
    with pytest.raises(openai.NotFoundError, match="No thread found with id 'thread_nope'"):
        client.beta.threads.messages.list("thread_nope")
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError, match="No run found with id 'run_nope'"):
        client.beta.threads.runs.retrieve("run_nope", thread_id=thread.id)
    with pytest.raises(openai.NotFoundError, match="No assistant found"):
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)


def test_additional_instructions_and_messages_join_the_run(client: OpenAI) -> None:
    assistant = _assistant(client, [WEATHER_TOOL])
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, additional_instructions="Be brief.",
        additional_messages=[{"role": "user", "content": "What is the weather in Seattle, WA?"}])
    assert run.instructions == "Help with lamps.\n\nBe brief."
    waiting = _run_until(client, run, {"requires_action"} | TERMINAL_RUN)
    assert waiting.required_action is not None
    assert json.loads(waiting.required_action.submit_tool_outputs.tool_calls[0].function.arguments) == {
        "location": "Seattle, WA"}
    time.sleep(0)  # the answer comes after outputs; the staged message is already in the thread
    assert [m.role for m in client.beta.threads.messages.list(thread.id).data] == ["user"]


def test_messages_and_runs_can_be_listed_and_retrieved(client: OpenAI) -> None:
    assistant = _assistant(client, [])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}], metadata={"user": "u1"})
    assert client.beta.threads.retrieve(thread.id).metadata == {"user": "u1"}
    runs = [client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)]
    _run_until(client, runs[0], TERMINAL_RUN)
    client.beta.threads.messages.create(thread.id, role="user", content="thanks")
    runs.append(client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id))
    _run_until(client, runs[1], TERMINAL_RUN)
    listed = client.beta.threads.runs.list(thread_id=thread.id, order="asc")
    assert [run.id for run in listed.data] == [run.id for run in runs]
    messages = client.beta.threads.messages.list(thread.id, order="asc", limit=2)
    assert [m.role for m in messages.data] == ["user", "assistant"] and messages.has_more
    rest = client.beta.threads.messages.list(thread.id, order="asc", after=messages.data[-1].id)
    assert [m.role for m in rest.data] == ["user", "assistant"] and not rest.has_more
    first = messages.data[0]
    assert client.beta.threads.messages.retrieve(first.id, thread_id=thread.id).content == first.content
    client.beta.threads.delete(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve(runs[0].id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(first.id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.delete(thread.id)
