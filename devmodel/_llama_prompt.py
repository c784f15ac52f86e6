"""Render a conversation with the model's own chat template (from the GGUF), telling the model about the tools.

The tool list and the call format (a JSON list of calls) always go into the system message; templates that
understand ``tools`` get them as well. For templates without a ``tool`` role (SmolLM2's) tool outputs are shown
as user-visible results, which small models follow more reliably than an unknown role.
"""

from __future__ import annotations

import json

import jinja2

from ._types import GenerationRequest, ToolSpec, Turn

DEFAULT_SYSTEM = "You are a helpful assistant."


def tools_system_text(tools: tuple[ToolSpec, ...]) -> str:
    lines = ["You can call these tools:"]
    for tool in tools:
        properties = tool.parameters.get("properties")
        params = ", ".join(f"{name}: {spec.get('type', 'any')}" for name, spec in properties.items()) \
            if isinstance(properties, dict) else ""
        lines.append(f"- {tool.name}({params}): {tool.description}".rstrip(": "))
    # A generic call shape, not a worked example: a concrete one made SmolLM2 call the example's tool for almost
    # every request.
    lines.append('To call tools, reply with only a JSON list of calls: [{"name": "<tool name>", "arguments": '
                 '{<arguments>}}]. When the tool results are there, or no tool fits, answer in plain text.')
    return "\n".join(lines)


def _messages(request: GenerationRequest, tools: tuple[ToolSpec, ...], *, native_tools: bool) -> list[dict[str, str]]:
    system = request.instructions or DEFAULT_SYSTEM
    if tools:
        system += "\n\n" + tools_system_text(tools)
    messages = [{"role": "system", "content": system}]
    names: dict[str, str] = {}
    for turn in request.turns:
        messages.append(_message(turn, names, native_tools=native_tools))
    return messages


def _message(turn: Turn, names: dict[str, str], *, native_tools: bool) -> dict[str, str]:
    if turn.tool_calls:
        calls = []
        for call in turn.tool_calls:
            names[call.call_id] = call.name
            try:
                arguments = json.loads(call.arguments)
            except json.JSONDecodeError:
                arguments = call.arguments
            calls.append({"name": call.name, "arguments": arguments})
        # Prose rather than JSON, so a later plain answer does not imitate the call syntax.
        return {"role": "assistant", "content": "Calling " + "; ".join(
            f"{c['name']} with {json.dumps(c['arguments'])}" for c in calls) + "."}
    if turn.role == "tool":
        if native_tools:
            return {"role": "tool", "content": turn.content}
        return {"role": "user", "content": f"Result of {names.get(turn.tool_call_id or '', 'the tool')}: {turn.content}"}
    return {"role": turn.role, "content": turn.content}


class PromptRenderer:
    """Renders with the GGUF's ``tokenizer.chat_template`` (ChatML when the file has none)."""

    CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
              "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

    def __init__(self, template: str | None, *, bos_token: str = "", eos_token: str = "") -> None:
        self._source = template or self.CHATML
        environment = jinja2.Environment(loader=jinja2.BaseLoader(), autoescape=False, trim_blocks=True,
                                         lstrip_blocks=True)
        environment.globals["raise_exception"] = self._raise
        self._template = environment.from_string(self._source)
        self.native_tools = "tools" in self._source
        self._bos, self._eos = bos_token, eos_token

    @staticmethod
    def _raise(message: str) -> None:
        raise jinja2.TemplateError(message)

    def render(self, request: GenerationRequest, tools: tuple[ToolSpec, ...]) -> str:
        """The prompt for one turn; ``tools`` are those the model may call now (empty: it must answer)."""
        messages = _messages(request, tools, native_tools=self.native_tools)
        specs = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                   "parameters": t.parameters}} for t in tools]
        return self._template.render(messages=messages, tools=specs or None, add_generation_prompt=True,
                                     bos_token=self._bos, eos_token=self._eos)
