"""Scenario file checking, answer templates, the CLI's bad-input handling, and SQLite-backed state."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from devhost.azurite import free_port
from devmodel import DevModelProcess, ScenarioError, load_scenarios, parse_scenarios
from devmodel._scenario import render_template

from .support import WEATHER_TOOL, make_client

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks Assistants deprecated
REPO = Path(__file__).resolve().parents[2]


def test_the_bundled_seed_scenarios_route_each_seed_message() -> None:
    book = load_scenarios()
    expected = {
        "Can you get information for customer ID CUST001 and analyze our sales metrics for last month?":
            "customer_info_and_sales_analytics",
        "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness.": "lamps_on_half_brightness",
        "What is the weather in Seattle, WA?": "weather",
        "Hi!": "chit_chat",
        "What's the meaning of life?": None,
    }
    for message, name in expected.items():
        scenario, _ = book.find(message)
        assert (scenario.name if scenario else None) == name
    tools = {call.name for s in book.scenarios for round_ in s.rounds for call in round_}
    assert {"get_customer_info", "analyze_metrics", "get_weather", "set_lamp", "set_lamp_brightness"} <= tools


@pytest.mark.parametrize(("raw", "message"), [
    ({"scenarios": [{"name": "x", "match": "("}]}, "not a valid regex"),
    ({"scenarios": [{"name": "x", "match": "a", "answer": "{{bogus}}"}]}, "unknown placeholder {{bogus}}"),
    ({"scenarios": [{"name": "x", "match": "a", "rounds": [{"tool_calls": []}]}]}, "at scenarios/0/rounds/0/tool_calls"),
    ({"scenarios": [], "faults": [{"kind": "explode"}]}, "at faults/0/kind"),
    ({"scenarios": [], "latency_seconds": [2, 1]}, "0 <= low <= high"),
    ({"scenario": []}, "'scenarios' is a required property"),
])
def test_bad_scenario_files_are_rejected_with_a_pointer(raw: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenarios(raw)


def test_templates_quote_outputs_by_name_by_index_and_regex_groups() -> None:
    found = re.search(r"in (?P<city>\w+)", "weather in Oslo")
    outputs = [("get_weather", "cold"), ("set_lamp", "on"), ("set_lamp", "off")]
    text = render_template("{{match:city}}: {{tool:get_weather}} / {{tool:set_lamp}} / {{tool#2}} / {{tools}} / {{user}}",
                           outputs=outputs, user="U", match=found)
    assert text == "Oslo: cold / on; off / off / cold; on; off / U"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devmodel", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(("args", "message"), [
    (["--state", "postgres:x"], "--state must look like sqlite:PATH"),
    (["--scenario", "/nonexistent.json"], "--scenario: no such file"),
    (["--latency", "fast"], "latency must be SECONDS or LOW:HIGH"),
    (["--retention-seconds", "-1"], "--retention-seconds must be positive"),
])
def test_cli_rejects_bad_flags_with_a_message_and_exit_2(args: list[str], message: str) -> None:
    result = _cli("serve", "--port", str(free_port()), *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_cli_rejects_an_invalid_scenario_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"scenarios": [{"name": "x"}]}')
    result = _cli("serve", "--port", str(free_port()), "--scenario", str(bad))
    assert result.returncode == 2
    assert "'match' is a required property" in result.stderr


def test_sqlite_state_survives_a_restart_and_interrupted_runs_are_failed(tmp_path: Path) -> None:
    args = ["--state", f"sqlite:{tmp_path / 'state.db'}"]
    with DevModelProcess(port=free_port(), args=args, log_path=tmp_path / "1.log") as server:
        client = make_client(server, api_key="unused")
        assistant = client.beta.assistants.create(model="m", name="kept")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello [fault:never]"}])
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        response = client.responses.create(model="m", input="weather in Kyiv", tools=[WEATHER_TOOL])
    with DevModelProcess(port=free_port(), args=args, log_path=tmp_path / "2.log") as server:
        client = make_client(server, api_key="unused")
        assert client.beta.assistants.retrieve(assistant.id).name == "kept"
        assert client.responses.retrieve(response.id).output[0].type == "function_call"
        interrupted = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert interrupted.status == "failed"
        assert interrupted.last_error is not None and "restarted" in interrupted.last_error.message
        client.beta.threads.messages.create(thread.id, role="user", content="the thread is usable again")
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve("resp_never_existed")
