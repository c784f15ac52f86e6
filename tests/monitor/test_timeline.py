"""The timeline built from historyEvents, as the Durable status API shapes them (schedule events folded into
their completions, orchestrator bookkeeping dropped). Pure functions: these histories are written out here;
test_monitor_http.py checks the same code on real histories from devhost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.timeline import build_timeline, parse_time
from monitor.views import gantt, live_status, tool_calls

T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def task(name: str, scheduled: float, done: float, inp: Any = None, result: Any = None) -> dict[str, Any]:
    return {"EventType": "TaskCompleted", "FunctionName": name, "ScheduledTime": ts(scheduled),
            "Timestamp": ts(done), "Input": inp, "Result": result}


def test_parse_time_reads_seven_fraction_digits_and_z() -> None:
    assert parse_time("2026-11-29T12:00:01.1234567Z") == T0 + timedelta(seconds=1, microseconds=123456)
    assert parse_time("2026-11-29T12:00:01Z") == T0 + timedelta(seconds=1)
    assert parse_time("not a time") is None and parse_time(None) is None


def test_parallel_tool_calls_overlap_and_are_labelled_by_tool() -> None:
    events = [
        {"EventType": "ExecutionStarted", "FunctionName": "turn_orchestration", "Timestamp": ts(0)},
        task("create_run", 0.01, 0.4, '{"conversation_id": "c", "turn": 1}'),
        # Hosts keep activity inputs out of history by default: the call number comes from the result, or from
        # the input (DTFx's one-item array of JSON text) where storeInputsInOrchestrationHistory is on.
        task("run_tool", 0.42, 0.51, None, '{"number": 1, "ok": true}'),
        task("run_tool", 0.42, 0.52, None, {"number": 2, "ok": True}),
        task("run_tool", 0.42, 0.53, json.dumps([json.dumps(json.dumps({"turn": 1, "number": 3}))])),
        task("submit_outputs", 0.6, 0.9),
        {"EventType": "EventRaised", "Name": "run_ended", "Timestamp": ts(0.95), "Input": '{"ok": true}'},
        task("checkpoint", 1.0, 1.1),
        {"EventType": "ExecutionCompleted", "OrchestrationStatus": "Completed", "Timestamp": ts(1.2),
         "Result": '{"answer": "done"}'},
    ]
    timeline = build_timeline(events, now=T0 + timedelta(seconds=99))
    assert timeline.finished and timeline.outcome == "Completed" and timeline.seconds == 1.2
    tools = [s for s in timeline.spans if s.name == "run_tool"]
    assert [s.call_number for s in tools] == [1, 2, 3]
    assert len({s.start for s in tools}) == 1  # scheduled together: side by side
    calls = tool_calls([{"name": "set_lamp", "arguments": '{"lamp": "kitchen"}', "output": "{}", "ok": True},
                        {"name": "set_lamp", "arguments": '{"lamp": "living room"}', "ok": True},
                        {"name": "set_lamp_brightness", "arguments": "{}", "ok": False, "error": "x"}])
    chart = gantt(timeline, calls)
    assert [r.tool for r in chart.rows] == [None, "set_lamp", "set_lamp", "set_lamp_brightness", None, None]
    assert chart.rows[1].anchor == "call-1" and "kitchen" in chart.rows[1].detail
    assert [m.label for m in chart.markers] == ["run_ended", "Completed"]
    assert chart.rows[0].left == 0.0 or chart.rows[0].left < 1
    assert abs(chart.rows[-1].left + chart.rows[-1].width - 1.1 / 1.2 * 100) < 0.01


def test_retried_activity_timer_and_failure() -> None:
    events = [  # no inputs in history, as hosts store it by default
        {"EventType": "ExecutionStarted", "Timestamp": ts(0)},
        task("run_tool", 0.1, 0.15, None, {"number": 1, "ok": True}),
        {"EventType": "TaskFailed", "FunctionName": "run_tool", "ScheduledTime": ts(0.1), "Timestamp": ts(0.2),
         "Reason": "Activity function 'run_tool' failed", "Details": "boom"},
        {"EventType": "TimerCreated", "FireAt": ts(1.2), "Timestamp": ts(0.21)},
        {"EventType": "TimerFired", "FireAt": ts(1.2), "Timestamp": ts(0.22)},  # stamped when set, not when due
        task("run_tool", 1.3, 1.4, None, {"number": 2, "ok": True}),
        task("watch_run", 1.5, 2.0),
        task("watch_run", 2.0, 2.5),
        task("run_tool", 2.6, 2.7, None, {"number": 3, "ok": True}),
    ]
    timeline = build_timeline(events, now=T0 + timedelta(seconds=3))
    assert not timeline.finished and timeline.end == T0 + timedelta(seconds=3)
    first, failed, timer, retried, watch1, watch2, later = timeline.spans
    assert failed.state == "failed" and "boom" in (failed.failure or "") and failed.call_number is None
    assert timer.kind == "timer" and timer.state == "completed" and timer.end == T0 + timedelta(seconds=1.2)
    assert (retried.attempt, retried.state, retried.call_number) == (2, "completed", 2)
    assert (first.attempt, watch1.attempt, watch2.attempt, later.attempt) == (1, 1, 1, 1)
    rows = gantt(timeline, []).rows
    assert rows[3].retry and rows[3].detail.startswith("attempt 2") and not rows[6].retry


def test_running_activity_and_pending_timer_stay_open_until_now_and_unfired_timer_is_cancelled_at_the_end() -> None:
    running = [
        {"EventType": "ExecutionStarted", "Timestamp": ts(0)},
        {"EventType": "TaskScheduled", "Name": "poll_run", "Timestamp": ts(0.5), "Input": "{}"},
        {"EventType": "TimerCreated", "FireAt": ts(10), "Timestamp": ts(0.5)},
    ]
    timeline = build_timeline(running, now=T0 + timedelta(seconds=2))
    assert [(s.name, s.state, s.end) for s in timeline.spans] == [("poll_run", "running", None),
                                                                  ("timer", "waiting", None)]
    rows = gantt(timeline, []).rows
    assert rows[0].duration_text.endswith("…") and rows[1].left + rows[1].width <= 100.0
    finished = [*running[:1], {"EventType": "TimerCreated", "FireAt": ts(10), "Timestamp": ts(0.5)},
                {"EventType": "EventRaised", "Name": "turn_ready", "Timestamp": ts(1)},
                {"EventType": "ExecutionCompleted", "OrchestrationStatus": "Completed", "Timestamp": ts(1.5)}]
    done = build_timeline(finished, now=T0 + timedelta(seconds=60))
    assert done.spans[0].state == "cancelled" and done.end == T0 + timedelta(seconds=1.5)


def test_live_status_shows_any_phase_and_its_fields_and_pending_approvals() -> None:
    status = live_status("Running", {"phase": "waiting_for_approval", "conversationId": "c", "turn": 2,
                                     "pollCount": 3, "pendingApprovals": [{"name": "set_lamp", "arguments": {}}]})
    assert status.running and status.phase == "waiting_for_approval"
    assert status.fields == [("pollCount", "3")]
    assert status.pending_approvals == [{"name": "set_lamp", "arguments": {}}]
    assert not live_status("Failed", "oops").running
    assert live_status("Failed", "oops").fields == [("value", "oops")]
