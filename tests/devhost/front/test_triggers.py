"""Timer schedules, the timer trigger's run loop, queue body decoding and route templates."""

from __future__ import annotations

import asyncio
import base64
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from devhost.functions import (
    FunctionInvoker,
    Schedule,
    TimerTrigger,
    TriggerConfigError,
    TriggerHost,
    decode_queue_body,
    load_app,
)
from devhost.http import AuthKeys, RouteTemplate, RouteTemplateError

from .harness import APPS, running_host


def test_ncrontab_six_fields_and_timespans() -> None:
    start = datetime(2026, 11, 21, 10, 0, 7, tzinfo=UTC)
    assert Schedule("*/15 * * * * *").next_after(start) == datetime(2026, 11, 21, 10, 0, 15, tzinfo=UTC)
    assert Schedule("0 30 9 * * Mon-Fri").next_after(start) == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert Schedule("00:05:00").next_after(start) == datetime(2026, 11, 21, 10, 5, 7, tzinfo=UTC)
    with pytest.raises(TriggerConfigError, match="not a 6-field NCRONTAB"):
        Schedule("*/5 * * * *")  # 5-field cron is not accepted by the Functions host
    with pytest.raises(TriggerConfigError, match="not a valid NCRONTAB"):
        Schedule("99 * * * * *")


def test_timer_trigger_runs_on_startup_and_then_on_schedule() -> None:
    invoker = FunctionInvoker(load_app(APPS / "full"))
    info = invoker.index.get("every_second")
    assert info is not None
    calls: list[dict[str, Any]] = sys.modules["function_app"].TIMER_CALLS

    async def scenario() -> None:
        task = asyncio.create_task(TimerTrigger(invoker, info).run())
        try:
            async with asyncio.timeout(60):
                while True:  # the timer fires every second; 3 calls = startup + 2 scheduled
                    if len(calls) >= 3:
                        break
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()

    asyncio.run(scenario())
    startup, scheduled = calls[0], calls[2]
    assert startup["status"]["Last"].startswith("0001-01-01")  # runOnStartup: no previous run
    assert scheduled["status"]["Last"] > "2000" and scheduled["status"]["Next"] > scheduled["status"]["Last"]
    assert all(call["past_due"] is False for call in calls[:3])


def test_timer_request_reaches_the_function() -> None:
    invoker = FunctionInvoker(load_app(APPS / "full"))
    info = invoker.index.get("every_second")
    assert info is not None
    calls: list[dict[str, Any]] = sys.modules["function_app"].TIMER_CALLS
    asyncio.run(invoker.call_timer(info, past_due=True, last=None, next_=datetime(2026, 11, 21, tzinfo=UTC)))
    assert calls == [{"past_due": True, "status": {
        "Last": "0001-01-01T00:00:00", "Next": "2026-11-21T00:00:00+00:00", "LastUpdated": "0001-01-01T00:00:00"}}]


def test_queue_trigger_needs_its_queue_name_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    invoker = FunctionInvoker(load_app(APPS / "full"))
    monkeypatch.delenv("FRONT_TEST_QUEUE", raising=False)
    with pytest.raises(TriggerConfigError, match=r"app setting %FRONT_TEST_QUEUE% is not defined"):
        TriggerHost(invoker, resolve_connection=lambda name: "UseDevelopmentStorage=true")
    monkeypatch.setenv("FRONT_TEST_QUEUE", "Orders")
    with pytest.raises(TriggerConfigError, match="app setting 'AzureWebJobsStorage'"):
        TriggerHost(invoker, resolve_connection=lambda name: None)
    host = TriggerHost(invoker, resolve_connection=lambda name: "UseDevelopmentStorage=true")
    assert len(host.runners) == 2


def test_queue_bodies_are_base64_or_plain() -> None:
    assert decode_queue_body(base64.b64encode("héllo".encode()).decode()) == "héllo"
    assert decode_queue_body("plain text!") == "plain text!"


def test_route_templates() -> None:
    optional = RouteTemplate("orchestrators/{functionName}/{instanceId?}")
    assert optional.match("/orchestrators/f") == {"functionName": "f"}
    assert optional.match("/Orchestrators/f/i1/") == {"functionName": "f", "instanceId": "i1"}
    assert optional.match("/orchestrators") is None
    ranged = RouteTemplate("pages/{n:int:range(1,10)}/{sort=asc}")
    assert ranged.match("/pages/3") == {"n": "3", "sort": "asc"}
    assert ranged.match("/pages/11") is None
    assert RouteTemplate("files/{name}.{ext:alpha}").match("/files/report.pdf") == {"name": "report", "ext": "pdf"}
    assert RouteTemplate("").match("/") == {}
    literal, param = RouteTemplate("items/latest"), RouteTemplate("items/{id}")
    assert literal.precedence < param.precedence  # literal segments win
    with pytest.raises(RouteTemplateError, match="could not be resolved"):
        RouteTemplate("x/{id:nonsense}")
    with pytest.raises(RouteTemplateError, match="catch-all"):
        RouteTemplate("{*rest}/more")


def test_admin_api_runs_a_timer_function_on_demand() -> None:
    """``POST /admin/functions/{name}`` (the host's admin API, master key) runs a non-HTTP function now: 202 at
    once, the function in the background. Missing body 400, unknown function 404, no master key 401."""
    async def scenario() -> None:
        keys = AuthKeys("function-key", "master-key", "system-key", enforce=True)
        async with running_host(keys=keys) as host:
            calls: list[dict[str, Any]] = sys.modules["function_app"].TIMER_CALLS
            calls.clear()
            master = {"x-functions-key": "master-key"}
            for key in ("function-key", "system-key"):
                async with host.session.post("/admin/functions/every_second", json={"input": ""},
                                             headers={"x-functions-key": key}) as response:
                    assert response.status == 401
            async with host.session.post("/admin/functions/every_second", headers=master) as response:
                assert response.status == 400
            async with host.session.post("/admin/functions/no_such_function", json={}, headers=master) as response:
                assert response.status == 404
            async with host.session.post("/admin/functions/hello_http", json={}, headers=master) as response:
                assert response.status == 400 and "timer" in (await response.json())["error"]["message"]
            assert calls == []
            async with host.session.post("/admin/functions/Every_Second", json={"input": ""},
                                         headers=master) as response:
                assert response.status == 202
            async with asyncio.timeout(10):
                while True:  # the run happens after the 202
                    if calls:
                        break
                    await asyncio.sleep(0.02)
            assert calls[0]["past_due"] is False

    asyncio.run(scenario())
