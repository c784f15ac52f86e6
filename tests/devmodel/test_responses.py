"""Responses API contract, through the real `openai` SDK, every body validated with the SDK's pydantic types."""

from __future__ import annotations

import json
import time

import openai
import pytest
from openai import OpenAI
from openai.types.responses import Response

from .conftest import StartServer
from .support import (
    CUSTOMER_TOOLS,
    LAMP_TOOLS,
    TERMINAL_RESPONSE,
    WEATHER_TOOL,
    make_client,
    strict,
    wait_for,
)


def _calls(response: Response) -> list[tuple[str, dict[str, object], str]]:
    return [(item.name, json.loads(item.arguments), item.call_id) for item in response.output
            if item.type == "function_call"]


def test_weather_tool_call_then_answer_chained_with_previous_response_id(client: OpenAI) -> None:
    first = strict(Response, client.responses.with_raw_response.create(
        model="gpt-4o-mini", instructions="You are a helpful support agent.",
        input="What is the weather in Seattle, WA?", tools=[WEATHER_TOOL], metadata={"case": "weather"}))

    assert first.status == "completed"
    assert first.instructions == "You are a helpful support agent."
    assert first.metadata == {"case": "weather"}
    assert [(name, args) for name, args, _ in _calls(first)] == [("get_weather", {"location": "Seattle, WA"})]
    call_id = _calls(first)[0][2]
    assert call_id.startswith("call_")
    assert first.usage is not None and first.usage.total_tokens == first.usage.input_tokens + first.usage.output_tokens

    second = strict(Response, client.responses.with_raw_response.create(
        model="gpt-4o-mini", previous_response_id=first.id, tools=[WEATHER_TOOL],
        input=[{"type": "function_call_output", "call_id": call_id, "output": "74 degrees and sunny in Seattle, WA"}]))

    assert second.status == "completed"
    assert second.previous_response_id == first.id
    assert second.output_text == "74 degrees and sunny in Seattle, WA"


def test_two_parallel_calls_and_an_answer_quoting_both_outputs(client: OpenAI) -> None:
    first = client.responses.create(
        model="m", tools=CUSTOMER_TOOLS,
        input="Can you get information for customer ID CUST001 and analyze our sales metrics for last month?")
    calls = _calls(first)
    assert [(name, args) for name, args, _ in calls] == [
        ("get_customer_info", {"customerId": "CUST001", "includeHistory": True}),
        ("analyze_metrics", {"metric": "sales", "timeframe": "last_month"}),
    ]
    assert len({call_id for *_, call_id in calls}) == 2
    outputs = {"get_customer_info": '{"name": "Contoso", "tier": "gold"}', "analyze_metrics": "sales up 12%"}
    # Outputs in reverse order: the answer must still pair each output with its call.
    second = client.responses.create(
        model="m", previous_response_id=first.id, tools=CUSTOMER_TOOLS,
        input=[{"type": "function_call_output", "call_id": cid, "output": outputs[name]} for name, _, cid in calls[::-1]])
    assert outputs["get_customer_info"] in second.output_text
    assert outputs["analyze_metrics"] in second.output_text


def test_four_parallel_lamp_calls_and_one_call_when_parallel_calls_are_off(client: OpenAI) -> None:
    text = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."
    parallel = client.responses.create(model="m", input=text, tools=LAMP_TOOLS)
    assert [(name, args) for name, args, _ in _calls(parallel)] == [
        ("set_lamp", {"lamp": "living room", "state": True}),
        ("set_lamp", {"lamp": "kitchen", "state": True}),
        ("set_lamp_brightness", {"lamp": "living room", "brightness": 50}),
        ("set_lamp_brightness", {"lamp": "kitchen", "brightness": 50}),
    ]
    single = client.responses.create(model="m", input=text, tools=LAMP_TOOLS, parallel_tool_calls=False)
    assert len(_calls(single)) == 1
    assert single.parallel_tool_calls is False


def test_two_sequential_tool_rounds_before_the_answer(client: OpenAI) -> None:
    tools = CUSTOMER_TOOLS
    first = client.responses.create(model="m", tools=tools, input="Look up customer CUST002 and then analyze their orders")
    [(name, args, call_id)] = _calls(first)
    assert (name, args) == ("get_customer_info", {"customerId": "CUST002", "includeHistory": False})
    second = client.responses.create(model="m", tools=tools, previous_response_id=first.id,
                                     input=[{"type": "function_call_output", "call_id": call_id, "output": "Fabrikam"}])
    [(name, args, call_id)] = _calls(second)
    assert (name, args) == ("analyze_metrics", {"metric": "orders", "timeframe": "last_month",
                                                "filters": {"customerId": "CUST002"}})
    third = client.responses.create(model="m", tools=tools, previous_response_id=second.id,
                                    input=[{"type": "function_call_output", "call_id": call_id, "output": "3 orders"}])
    assert third.output_text == "Customer: Fabrikam. Orders: 3 orders."


def test_input_items_carry_the_conversation_without_previous_response_id(client: OpenAI) -> None:
    response = client.responses.create(model="m", tools=[WEATHER_TOOL], input=[
        {"role": "user", "content": [{"type": "input_text", "text": "What is the weather in Oslo?"}]},
        {"type": "function_call", "call_id": "call_client_made", "name": "get_weather", "arguments": '{"location": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_client_made", "output": "Snowing in Oslo"},
    ])
    assert response.output_text == "Snowing in Oslo"


def test_chit_chat_answers_directly_and_unknown_text_gets_the_default_answer(client: OpenAI) -> None:
    hello = client.responses.create(model="m", input="Hello there", tools=[WEATHER_TOOL])
    assert [item.type for item in hello.output] == ["message"]
    assert hello.output_text.startswith("Hello!")
    other = client.responses.create(model="m", input="Recite the alphabet backwards")
    assert other.output_text.startswith("I can look up customers")


def test_background_response_goes_queued_in_progress_completed(client: OpenAI) -> None:
    created = strict(Response, client.responses.with_raw_response.create(
        model="m", input="What is the weather in Lisbon? [fault:slow]", tools=[WEATHER_TOOL], background=True))
    assert created.status == "queued"
    assert created.background is True
    seen = wait_for(lambda: client.responses.retrieve(created.id), lambda r: r.status != "queued")
    assert seen.status == "in_progress"
    done = wait_for(lambda: strict(Response, client.responses.with_raw_response.retrieve(created.id)),
                    lambda r: r.status in TERMINAL_RESPONSE)
    assert done.status == "completed"
    assert _calls(done)[0][:2] == ("get_weather", {"location": "Lisbon"})


def test_a_background_response_can_be_followed_as_an_event_stream(client: OpenAI) -> None:
    """GET /v1/responses/{id}?stream=true replays the events (created, in_progress, the terminal one), holding
    the connection until the end; starting_after resumes; only background responses can be streamed."""
    created = client.responses.create(model="m", input="What is the weather in Lisbon? [fault:slow]",
                                      tools=[WEATHER_TOOL], background=True)
    events = list(client.responses.retrieve(created.id, stream=True))
    assert [(e.type, e.sequence_number) for e in events] == [
        ("response.created", 0), ("response.in_progress", 1), ("response.completed", 2)]
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "completed" and _calls(final)[0][:2] == ("get_weather", {"location": "Lisbon"})
    resumed = list(client.responses.retrieve(created.id, stream=True, starting_after=1))
    assert [e.type for e in resumed] == ["response.completed"]

    never = client.responses.create(model="m", input="hello [fault:never]", background=True)
    client.responses.cancel(never.id)
    assert [e.type for e in client.responses.retrieve(never.id, stream=True)] == [
        "response.created", "response.in_progress"]  # a cancelled response's stream just ends

    synchronous = client.responses.create(model="m", input="hello")
    with pytest.raises(openai.BadRequestError, match="background=true"):
        list(client.responses.retrieve(synchronous.id, stream=True))
    with pytest.raises(openai.BadRequestError) as caught:
        list(client.responses.retrieve(created.id, stream=True, extra_query={"starting_after": "x"}))
    assert caught.value.param == "starting_after"


def test_cancel_a_never_finishing_background_response(client: OpenAI) -> None:
    created = client.responses.create(model="m", input="hello [fault:never]", background=True)
    running = wait_for(lambda: client.responses.retrieve(created.id), lambda r: r.status == "in_progress")
    assert running.status == "in_progress"
    cancelled = strict(Response, client.responses.with_raw_response.cancel(created.id))
    assert cancelled.status == "cancelled"
    assert client.responses.cancel(created.id).status == "cancelled"  # idempotent
    time.sleep(0.2)
    assert client.responses.retrieve(created.id).status == "cancelled"


def test_cancel_is_only_for_running_background_responses(client: OpenAI) -> None:
    done = client.responses.create(model="m", input="hello")
    with pytest.raises(openai.BadRequestError, match="background=true"):
        client.responses.cancel(done.id)
    finished = client.responses.create(model="m", input="hello", background=True)
    wait_for(lambda: client.responses.retrieve(finished.id), lambda r: r.status == "completed")
    with pytest.raises(openai.BadRequestError, match="status 'completed'"):
        client.responses.cancel(finished.id)


@pytest.mark.parametrize(("marker", "status", "detail"), [
    ("[fault:fail]", "failed", "server_error"),
    ("[fault:run-rate-limit]", "failed", "rate_limit_exceeded"),
    ("[fault:expire]", "failed", "server_error"),
    ("[fault:incomplete]", "incomplete", "max_output_tokens"),
])
def test_background_run_faults_end_in_the_documented_status(client: OpenAI, marker: str, status: str,
                                                            detail: str) -> None:
    created = client.responses.create(model="m", input=f"hello {marker}", background=True)
    done = wait_for(lambda: strict(Response, client.responses.with_raw_response.retrieve(created.id)),
                    lambda r: r.status in TERMINAL_RESPONSE)
    assert done.status == status
    if status == "failed":
        assert done.error is not None and done.error.code == detail and done.error.message
    else:
        assert done.incomplete_details is not None and done.incomplete_details.reason == detail


def test_a_failing_synchronous_response_is_an_http_500(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model="m", input="hello [fault:fail]")
    assert caught.value.status_code == 500
    assert caught.value.body == {"message": "The model run failed (devmodel fault).", "type": "server_error",
                                 "param": None, "code": "server_error"}


def test_malformed_arguments_from_the_scenario_and_from_the_marker(client: OpenAI) -> None:
    scenario = client.responses.create(model="m", input="Use broken arguments please", tools=[WEATHER_TOOL])
    marker = client.responses.create(model="m", input="What is the weather in Rome? [fault:malformed]",
                                     tools=[WEATHER_TOOL])
    for response in (scenario, marker):
        [call] = [item for item in response.output if item.type == "function_call"]
        assert call.name == "get_weather"
        with pytest.raises(json.JSONDecodeError):
            json.loads(call.arguments)
    # The app reports the problem as the tool output; the conversation goes on.
    call_id = next(item.call_id for item in scenario.output if item.type == "function_call")
    answer = client.responses.create(model="m", previous_response_id=scenario.id, input=[
        {"type": "function_call_output", "call_id": call_id, "output": "error: arguments are not JSON"}])
    assert answer.output_text == "The tool said: error: arguments are not JSON"


def test_unknown_tool_names_from_the_scenario_and_from_the_marker(client: OpenAI) -> None:
    scenario = client.responses.create(model="m", input="Please launch the rockets", tools=[WEATHER_TOOL])
    marker = client.responses.create(model="m", input="weather in Rome [fault:unknown-tool]", tools=[WEATHER_TOOL])
    assert [item.name for item in scenario.output if item.type == "function_call"] == ["launch_rockets"]
    assert [item.name for item in marker.output if item.type == "function_call"] == ["devmodel_unknown_tool"]


def test_background_responses_are_gone_after_the_retention_window(start_server: StartServer) -> None:
    client = make_client(start_server("--retention-seconds", "1"))
    created = client.responses.create(model="m", input="hello", background=True)
    assert wait_for(lambda: client.responses.retrieve(created.id), lambda r: r.status == "completed").status == "completed"
    time.sleep(1.2)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve(created.id)
    assert caught.value.body == {"message": f"Response with id '{created.id}' not found.",
                                 "type": "invalid_request_error", "param": None, "code": None}


def test_store_false_responses_cannot_be_retrieved_or_continued(client: OpenAI) -> None:
    unstored = client.responses.create(model="m", input="hello", store=False)
    assert unstored.status == "completed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="m", input="hi", previous_response_id=unstored.id)
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"
    with pytest.raises(openai.BadRequestError, match="requires 'store'"):
        client.responses.create(model="m", input="hi", store=False, background=True)


def test_tool_outputs_must_match_the_calls(client: OpenAI) -> None:
    first = client.responses.create(model="m", input="weather in Bern", tools=[WEATHER_TOOL])
    with pytest.raises(openai.BadRequestError, match="No tool output found for function call call_"):
        client.responses.create(model="m", previous_response_id=first.id, input="never mind")
    with pytest.raises(openai.BadRequestError, match="No tool call found for function call output with call_id nope"):
        client.responses.create(model="m", previous_response_id=first.id,
                                input=[{"type": "function_call_output", "call_id": "nope", "output": "x"}])


def test_ids_and_answers_are_reproducible_under_a_seed(start_server: StartServer) -> None:
    def transcript() -> list[str]:
        client = make_client(start_server("--seed", "123"))
        first = client.responses.create(model="m", input="weather in Graz", tools=[WEATHER_TOOL])
        call_id = _calls(first)[0][2]
        second = client.responses.create(model="m", previous_response_id=first.id,
                                         input=[{"type": "function_call_output", "call_id": call_id, "output": "ok"}])
        return [first.id, call_id, second.id, second.output_text]

    assert transcript() == transcript()


def test_delete_removes_a_stored_response(client: OpenAI) -> None:
    response = client.responses.create(model="m", input="hello")
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(response.id)


def test_tool_choice_none_answers_without_calling(client: OpenAI) -> None:
    response = client.responses.create(model="m", input="Look up customer CUST003 and then analyze their orders",
                                       tools=CUSTOMER_TOOLS, tool_choice="none")
    assert [item.type for item in response.output] == ["message"]
    assert response.tool_choice == "none"
