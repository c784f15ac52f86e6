"""The `assistant` CLI in a real terminal (a pty) against the local stack (devhost with keys enforced, scripted
devmodel): interactive chat with live phases, one-shot and --json runs, history, and the errors a user meets
(wrong URL, wrong key, unknown conversation, a failed turn) with their exit codes."""

from __future__ import annotations

import json

import pytest

from devhost.azurite import free_port
from tests.monitor.cli import INSTALLED, run, terminal
from tests.monitor.conftest import LAMPS, LAMPS_ANSWER, SLOW_WEATHER, KeyedStack
from tests.monitor.terminal import plain

pytestmark = pytest.mark.slow


def test_the_console_script_is_installed() -> None:
    assert INSTALLED.exists(), "scripts/bootstrap.sh installs the `assistant` console script (pip install -e .)"


def test_interactive_chat_shows_phases_live_and_answers(keyed_stack: KeyedStack) -> None:
    with terminal(keyed_stack, "chat") as term:
        conversation_id = term.expect(r"conversation (\w+) \(new\)").group(1)
        term.expect(r"monitor: http://\S+/api/monitor/conversations/" + conversation_id)
        term.expect("you ›")
        term.type(SLOW_WEATHER)
        term.expect(r"the model is working")  # the scripted model takes 2.5 s: the polling phase shows
        term.expect(r"running tools: get_weather|submitting|assistant ›")
        term.expect(r"assistant › .*Seattle")
        term.expect(r"you ›[^›]*$")
        term.type(LAMPS)
        term.expect(LAMPS_ANSWER)
        term.type("/quit")
        assert term.wait() == 0, term.output
    history = run(keyed_stack, "history", conversation_id)
    assert history.returncode == 0, history.stderr
    out = plain(history.stdout)
    assert "turn 1 · completed" in out and "turn 2 · completed" in out
    assert out.count("set_lamp_brightness") == 2 and "get_weather" in out and LAMPS_ANSWER in out


def test_one_shot_json_for_scripts_and_resume(keyed_stack: KeyedStack) -> None:
    first = run(keyed_stack, "--json", "chat", "-m", LAMPS)
    assert first.returncode == 0, first.stderr
    line = json.loads(first.stdout)
    assert line["ok"] and LAMPS_ANSWER in line["answer"] and line["turn"] == 1
    assert line["phases"][-1] == "completed" and line["runtimeStatus"] == "Completed"
    resumed = run(keyed_stack, "chat", "--json", "-c", line["conversationId"], stdin="What's the weather in Paris?\n")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["turn"] == 2
    listing = json.loads(run(keyed_stack, "--json", "conversations", "--top", "100").stdout)
    assert line["conversationId"] in [c["conversationId"] for c in listing["conversations"]]
    transcript = json.loads(run(keyed_stack, "--json", "history", line["conversationId"]).stdout)
    assert [t["turn"] for t in transcript["turns"]] == [1, 2]


def test_a_failed_turn_exits_1_with_the_reason(keyed_stack: KeyedStack) -> None:
    with terminal(keyed_stack, "chat", "-m", "Please fail [fault:fail]") as term:
        term.expect(r"turn failed: .*failed")
        assert term.wait() == 1


@pytest.mark.parametrize(("args", "key", "code", "message"), [
    (("--url", "http://127.0.0.1:{free}", "chat", "-m", "hi"), None, 3, "cannot reach the app"),
    (("chat", "-m", "hi"), "wrong-key", 4, "refused the key"),
    (("history", "no-such-conversation"), None, 5, "does not exist"),
    (("chat", "-c", "no-such-conversation", "-m", "hi"), None, 5, "does not exist"),
    (("--url", "ftp://x", "chat"), None, 2, "must start with http"),
])
def test_clear_errors_and_exit_codes(keyed_stack: KeyedStack, args: tuple[str, ...], key: str | None, code: int,
                                     message: str) -> None:
    argv = [a.replace("{free}", str(free_port())) for a in args]
    with terminal(keyed_stack, *argv, key=key) as term:
        term.expect("error: .*" + message)
        assert term.wait() == code, term.output
