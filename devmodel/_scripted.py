"""The scripted engine: a FAKE model for tests and benchmarks that follows a scenario file.

It answers by regex on the last user message, plays the scenario's tool-call rounds in order, then fills the
answer template with the tool outputs. Fault rules make it misbehave on purpose. All randomness (latency
jitter, fault probabilities) comes from one seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from typing import Any

from ._scenario import FaultRule, Latency, Scenario, ScenarioBook, ScriptedCall, render_template
from ._types import Generation, GenerationRequest, HttpFault, Outcome, ProposedCall, WebhookDelivery

SCRIPTED_MODEL_ID = "devmodel-scripted"


def _approx_tokens(text: str) -> int:
    # Close enough to BPE counts for usage figures; the fake has no tokenizer.
    return max(1, (len(text) + 3) // 4) if text else 0


def _fill(value: Any, fill: Any) -> Any:
    """Apply the template filler to every string inside a JSON value."""
    if isinstance(value, str):
        return fill(value)
    if isinstance(value, dict):
        return {key: _fill(item, fill) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, fill) for item in value]
    return value


class ScriptedEngine:
    """Fake engine driven by a ``ScenarioBook``. ``latency`` overrides the file's global latency when given."""

    def __init__(self, book: ScenarioBook, *, seed: int | None = None, latency: Latency | None = None) -> None:
        self._book = book
        self._random = random.Random(seed if seed is not None else book.seed)
        self._latency = latency if latency is not None else book.latency
        self._lock = threading.Lock()
        self._admitted = 0
        self._generated = 0

    @property
    def model_id(self) -> str:
        return SCRIPTED_MODEL_ID

    def admit(self, request: GenerationRequest) -> HttpFault | None:
        with self._lock:
            self._admitted += 1
            count = self._admitted
        for rule in self._rules_for(request):
            if rule.is_http and self._fires(rule, request, count):
                return _http_fault(rule)
        return None

    async def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:
            self._generated += 1
            count = self._generated
        user = request.last_user_message()
        scenario, found = self._book.find(user)
        fired = [r for r in self._rules_for(request) if not r.is_http and self._fires(r, request, count)]
        kinds = {rule.kind for rule in fired}

        delay = self._pick(scenario.latency if scenario and scenario.latency else self._latency)
        delay += sum(rule.seconds for rule in fired if rule.kind == "slow")
        if delay > 0:
            await asyncio.sleep(delay)
        if "never_finish" in kinds:
            await asyncio.Event().wait()  # until the run is cancelled or expires

        prompt_tokens = sum(_approx_tokens(t.content) for t in request.turns) + _approx_tokens(request.instructions or "")
        for kind, outcome in (("fail", Outcome.FAILED), ("expire", Outcome.EXPIRED), ("incomplete", Outcome.INCOMPLETE)):
            if kind in kinds:
                rule = next(r for r in fired if r.kind == kind)
                message = rule.message or f"devmodel scripted fault: {kind}"
                return Generation(prompt_tokens=prompt_tokens, outcome=outcome, error_code=rule.error_code,
                                  error_message=message, webhook=_webhook(fired))

        generation = self._play(request, scenario, found, user)
        calls = list(generation.tool_calls)
        if calls and "malformed_arguments" in kinds:
            calls[0] = ProposedCall(calls[0].name, calls[0].arguments[: max(1, len(calls[0].arguments) // 2)])
        if calls and "unknown_tool" in kinds:
            calls[0] = ProposedCall("devmodel_unknown_tool", calls[0].arguments)
        completion = generation.text + "".join(c.name + c.arguments for c in calls)
        return Generation(text=generation.text, tool_calls=tuple(calls), prompt_tokens=prompt_tokens,
                          completion_tokens=_approx_tokens(completion), webhook=_webhook(fired))

    async def aclose(self) -> None:
        return None

    def _play(self, request: GenerationRequest, scenario: Scenario | None, found: re.Match[str] | None,
              user: str) -> Generation:
        since_user = request.turns_since_last_user()
        names = {call.call_id: call.name for turn in since_user for call in turn.tool_calls}
        outputs = [(names.get(t.tool_call_id or "", "?"), t.content) for t in since_user if t.role == "tool"]

        def fill(text: str) -> str:
            return render_template(text, outputs=outputs, user=user, match=found)

        if scenario is None:
            return Generation(text=fill(self._book.default_answer))
        round_index = sum(1 for turn in since_user if turn.tool_calls)
        forced = request.tool_choice.mode == "none"
        if round_index < len(scenario.rounds) and not forced:
            round_ = scenario.rounds[round_index]
            if not request.parallel_tool_calls:
                round_ = round_[:1]  # the client asked for one call per turn; the rest would come in later rounds
            return Generation(tool_calls=tuple(self._call(call, fill) for call in round_))
        return Generation(text=fill(scenario.answer) if scenario.answer else fill(self._book.default_answer))

    @staticmethod
    def _call(call: ScriptedCall, fill: Any) -> ProposedCall:
        if call.arguments_raw is not None:
            return ProposedCall(call.name, call.arguments_raw)
        return ProposedCall(call.name, json.dumps(_fill(call.arguments or {}, fill)))

    def _rules_for(self, request: GenerationRequest) -> list[FaultRule]:
        scenario, _ = self._book.find(request.last_user_message())
        return [*self._book.faults, *(scenario.faults if scenario else ())]

    def _fires(self, rule: FaultRule, request: GenerationRequest, count: int) -> bool:
        if rule.marker is not None and rule.marker not in request.last_user_message():
            return False
        if rule.first_requests is not None and count > rule.first_requests:
            return False
        if rule.probability is not None:
            with self._lock:
                return self._random.random() < rule.probability
        return True

    def _pick(self, latency: Latency) -> float:
        if latency.high <= latency.low:
            return latency.low
        with self._lock:
            return self._random.uniform(latency.low, latency.high)


def _webhook(fired: list[FaultRule]) -> WebhookDelivery:
    kinds = {rule.kind: rule for rule in fired}
    copies = 0 if "webhook_lost" in kinds else 2 if "webhook_duplicate" in kinds else 1
    late = kinds.get("webhook_late")
    return WebhookDelivery(copies=copies, delay_seconds=late.seconds if late is not None else 0.0)


def _http_fault(rule: FaultRule) -> HttpFault:
    if rule.kind == "rate_limit":
        return HttpFault(429, rule.message or "Rate limit reached for devmodel-scripted (devmodel fault).",
                         retry_after_seconds=rule.retry_after_seconds)
    if rule.kind == "unavailable":
        return HttpFault(503, rule.message or "The server is overloaded (devmodel fault).",
                         retry_after_seconds=rule.retry_after_seconds)
    return HttpFault(500, rule.message or "The server had an error while processing your request (devmodel fault).")
