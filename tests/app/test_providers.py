"""The three provider adapters against a real devmodel server (scripted engine, seed scenarios), through the
official openai SDK, with tools run on real Azurite tables."""

from __future__ import annotations

import asyncio
import json
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_assistant.config import Settings
from durable_assistant.providers import (
    PermanentProviderError,
    Provider,
    RunRef,
    RunRequest,
    RunState,
    ToolOutput,
    TransientProviderError,
    create_provider,
)
from durable_assistant.services import Services
from durable_assistant.store import BlobStepJournal
from durable_assistant.tools import ToolContext
from tests.app.stack import DevModel, devmodel, threads_agent

PROVIDERS = ["responses", "threads", "chat"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevModel]:
    with devmodel(Path(tmp_path_factory.mktemp("devmodel"))) as m:
        yield m


@pytest.fixture(scope="module")
def agent_id(model: DevModel) -> str:
    return threads_agent(model.base_url)


def make_provider(services: Services, model: DevModel, kind: str, agent_id: str) -> Provider:
    env = {"AzureWebJobsStorage": services.settings.storage.connection_string or "",
           "ASSISTANT_PROVIDER": kind, "ASSISTANT_BASE_URL": model.base_url, "ASSISTANT_AGENT_ID": agent_id}
    return create_provider(Settings.from_env(env), services.tools.specs(), services.chat_state)


def journal(services: Services) -> BlobStepJournal:
    """A fresh step journal in the test's storage (each provider call here is a step of its own)."""
    return services.turns.journal(uuid.uuid4().hex, 1, "step")


async def until_settled(provider: Provider, state: RunState) -> RunState:
    for _ in range(200):
        if state.status not in ("queued", "in_progress"):
            return state
        await asyncio.sleep(0.05)
        state = await provider.poll(state.ref)
    raise AssertionError(f"run {state.run_id} never settled")


async def one_turn(services: Services, provider: Provider, message: str, ref: str | None) -> tuple[RunState,
                                                                                                 list[str]]:
    state = await until_settled(provider, await provider.create_run(RunRequest(message, ref, "conv-p"), journal(services)))
    names: list[str] = []
    while state.status == "requires_action":
        outputs = []
        for call in state.tool_calls:
            names.append(call.name)
            result = services.tools.run(call.name, call.arguments,
                                        ToolContext(services.storage, f"p:{state.run_id}:{call.call_id}"))
            outputs.append(ToolOutput(call.call_id, result.output))
        state = await until_settled(provider, await provider.submit_tool_outputs(state.ref, outputs, journal(services)))
    return state, names


@pytest.mark.parametrize("kind", PROVIDERS)
def test_weather_turn_then_a_follow_up_on_the_same_conversation(services: Services, model: DevModel, kind: str,
                                                                agent_id: str) -> None:
    async def scenario() -> None:
        provider = make_provider(services, model, kind, agent_id)
        try:
            state, names = await one_turn(services, provider, "What is the weather in Seattle, WA?", None)
            assert names == ["get_weather"]
            assert state.status == "completed", state
            assert state.final_text is not None and "74 degrees and sunny in Seattle, WA" in state.final_text
            assert state.conversation_ref
            follow_up, names = await one_turn(services, provider, "thanks", state.conversation_ref)
            assert follow_up.status == "completed" and names == []
            assert follow_up.final_text and follow_up.final_text.startswith("Hello!")
        finally:
            await provider.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", PROVIDERS)
def test_parallel_calls_come_back_in_call_order(services: Services, model: DevModel, kind: str,
                                                agent_id: str) -> None:
    async def scenario() -> None:
        provider = make_provider(services, model, kind, agent_id)
        try:
            message = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."
            state = await until_settled(provider, await provider.create_run(RunRequest(message, None, "conv-l"), journal(services)))
            assert state.status == "requires_action"
            assert [(c.name, json.loads(c.arguments)["lamp"]) for c in state.tool_calls] == [
                ("set_lamp", "living room"), ("set_lamp", "kitchen"),
                ("set_lamp_brightness", "living room"), ("set_lamp_brightness", "kitchen")]
            assert len({c.call_id for c in state.tool_calls}) == 4
        finally:
            await provider.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", PROVIDERS)
def test_rate_limit_is_transient_with_retry_after(services: Services, model: DevModel, kind: str,
                                                  agent_id: str) -> None:
    async def scenario() -> None:
        provider = make_provider(services, model, kind, agent_id)
        try:
            with pytest.raises(TransientProviderError) as err:
                state = await provider.create_run(RunRequest("hello [fault:429]", None, "conv-f"), journal(services))
                await until_settled(provider, state)
            assert err.value.status_code == 429 and err.value.retry_after == 1.0
        finally:
            await provider.close()

    asyncio.run(scenario())


def test_unknown_previous_response_is_a_permanent_error(services: Services, model: DevModel,
                                                        agent_id: str) -> None:
    async def scenario() -> None:
        provider = make_provider(services, model, "responses", agent_id)
        try:
            with pytest.raises(PermanentProviderError) as err:
                await provider.create_run(RunRequest("hello", "resp_does_not_exist", "conv-x"), journal(services))
            assert err.value.status_code is not None and 400 <= err.value.status_code < 500
            with pytest.raises(PermanentProviderError):
                await provider.poll(RunRef("resp_missing"))
        finally:
            await provider.close()

    asyncio.run(scenario())


def test_cancel_a_never_ending_run(services: Services, model: DevModel, agent_id: str) -> None:
    async def scenario() -> None:
        for kind in ("responses", "threads"):
            provider = make_provider(services, model, kind, agent_id)
            try:
                state = await provider.create_run(RunRequest("hello [fault:never]", None, "conv-n"), journal(services))
                await asyncio.sleep(0.3)
                state = await provider.poll(state.ref)
                assert state.status in ("queued", "in_progress")
                cancelled = await provider.cancel(state.ref)
                assert cancelled.status == "cancelled", (kind, cancelled)
            finally:
                await provider.close()

    asyncio.run(scenario())


def test_responses_waits_by_streaming_and_falls_back_to_polling(services: Services, model: DevModel,
                                                                 agent_id: str) -> None:
    """The Responses adapter sees a run's end through the background response's event stream; a response the
    server will not stream switches it to polling; threads and chat always poll."""
    async def scenario() -> None:
        provider = make_provider(services, model, "responses", agent_id)
        try:
            state = await provider.create_run(RunRequest("What is the weather in Seattle, WA?", None, "conv-w"), journal(services))
            assert state.status in ("queued", "in_progress")
            assert await provider.wait_for_end(state.ref, 0.0) is None  # no time to wait: the caller polls
            ended = await provider.wait_for_end(state.ref, 30.0)
            assert ended is not None and ended.status == "requires_action"
            assert [c.name for c in ended.tool_calls] == ["get_weather"]

            synchronous = await provider.client.responses.create(  # type: ignore[attr-defined]
                model="devmodel", input="hello")
            assert await provider.wait_for_end(RunRef(synchronous.id), 5.0) is None  # 400: not streamable
            assert provider.stream_waits is False  # type: ignore[attr-defined]
            later = await provider.create_run(RunRequest("hello", None, "conv-w2"), journal(services))
            assert await provider.wait_for_end(later.ref, 5.0) is None  # polling from now on
        finally:
            await provider.close()
        for kind in ("threads", "chat"):
            other = make_provider(services, model, kind, agent_id)
            try:
                run = await other.create_run(RunRequest("hello", None, f"conv-{kind}"), journal(services))
                assert await other.wait_for_end(run.ref, 1.0) is None
            finally:
                await other.close()

    asyncio.run(scenario())


def test_services_keep_one_provider_per_event_loop(services: Services) -> None:
    async def two() -> tuple[Provider, Provider]:
        return services.provider(), services.provider()

    a1, a2 = asyncio.run(two())
    b1, _ = asyncio.run(two())
    assert a1 is a2 and b1 is not a1  # async clients are bound to their loop


class LosesItsFirstRecord:
    """A real journal whose first ``record`` of ``key`` is lost, as if the worker died right after the
    provider answered (the residual window of a step)."""

    def __init__(self, inner: BlobStepJournal, lose: str) -> None:
        self.inner, self.lose, self.lost = inner, lose, False

    @property
    def key(self) -> str:
        return self.inner.key

    async def recall(self, key: str) -> str | None:
        return await self.inner.recall(key)

    async def record(self, key: str, value: str) -> str:
        if key == self.lose and not self.lost:
            self.lost = True
            raise ConnectionError("worker died")
        return await self.inner.record(key, value)


@pytest.mark.parametrize("lost", ["thread", "message", "run"])
def test_threads_finds_what_a_crashed_attempt_created_instead_of_creating_it_again(
        services: Services, model: DevModel, agent_id: str, lost: str) -> None:
    """threads/runs closes the residual window: the turn's message and run carry metadata.turn, so a retried
    create_run adopts them from the thread instead of adding a second message or starting a second run."""
    async def scenario() -> None:
        provider = make_provider(services, model, "threads", agent_id)
        step = LosesItsFirstRecord(journal(services), lost)
        request = RunRequest("What is the weather in Seattle, WA?", None, "conv-t", turn_key="conv-t:1")
        try:
            with pytest.raises(ConnectionError):
                await provider.create_run(request, step)
            state = await provider.create_run(request, step)
            again = await provider.create_run(request, step)
            assert again.run_id == state.run_id and again.thread_id == state.thread_id
            threads = provider.client.beta.threads  # type: ignore[attr-defined]
            runs = await threads.runs.list(state.thread_id)
            messages = await threads.messages.list(state.thread_id)
            # A lost thread record leaves one empty thread behind (nothing runs on it); never a second run.
            assert [r.id for r in runs.data] == [state.run_id]
            assert [m.role for m in messages.data if m.role == "user"] == ["user"]
        finally:
            await provider.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.run(scenario())


def test_responses_with_webhooks_waits_for_an_orphan_before_creating_again(services: Services, model: DevModel,
                                                                            agent_id: str) -> None:
    """A create whose answer was lost (its worker died) leaves an intent in the journal: the retry waits (a
    transient error with a short retry-after) for the orphan's webhook to be adopted, then adopts it; after
    the wait it would create anew. A create the provider refused leaves nothing to wait for."""
    async def scenario() -> None:
        provider = make_provider(services, model, "responses", agent_id)
        provider.orphan_wait_seconds = 0.6  # type: ignore[attr-defined]
        step = LosesItsFirstRecord(journal(services), "response")
        request = RunRequest("What is the weather in Seattle, WA?", None, "conv-o", turn_key="conv-o:1")
        try:
            with pytest.raises(ConnectionError):
                await provider.create_run(request, step)
            with pytest.raises(TransientProviderError) as waiting:
                await provider.create_run(request, step)
            assert waiting.value.retry_after == 2.0 and "webhook" in str(waiting.value)
            await step.record("response", "resp_adopted_by_the_webhook_route")
            with pytest.raises(PermanentProviderError):  # it adopts the journaled run (unknown to devmodel)
                await provider.create_run(request, step)
            refused = journal(services)
            with pytest.raises(PermanentProviderError):
                await provider.create_run(RunRequest("hello", "resp_missing", "conv-r", turn_key="conv-r:1"), refused)
            with pytest.raises(PermanentProviderError):  # no waiting: the provider said no, nothing was created
                await provider.create_run(RunRequest("hello", "resp_missing", "conv-r", turn_key="conv-r:1"), refused)
            late = journal(services)
            await late.record("response-intent", "0")  # an intent long past the wait: create anew
            assert (await provider.create_run(request, late)).status in ("queued", "in_progress")
        finally:
            await provider.close()

    asyncio.run(scenario())
