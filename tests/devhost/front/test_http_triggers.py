"""HTTP-triggered functions over real HTTP: routes, parameters, methods, return values and auth levels."""

from __future__ import annotations

import asyncio
import json

import pytest

from devhost.http import AuthKeys

from .harness import running_host


def test_route_params_query_context_and_headers() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            async with host.session.get("/api/hello/tokyo?greeting=hi") as response:
                assert response.status == 200
                assert response.headers["X-Sample"] == "1"
                assert response.headers["Content-Type"].startswith("application/json")
                assert await response.json() == {
                    "name": "TOKYO", "greeting": "hi", "method": "GET", "function": "hello_http",
                }
            # Literal segments match case-insensitively, like ASP.NET routing.
            async with host.session.get("/API/Hello/osaka") as response:
                assert (await response.json())["name"] == "OSAKA"

    asyncio.run(scenario())


def test_constraints_methods_and_unknown_routes_give_404() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            async with host.session.get("/api/hello/tokyo42") as response:  # {name:alpha}
                assert response.status == 404
                assert "no function handles" in (await response.json())["error"]["message"]
            async with host.session.put("/api/items/7", data=b"payload") as response:
                assert response.status == 200
                assert await response.text() == "item 7 via PUT: payload"
            async with host.session.get("/api/items/seven") as response:  # {id:int}
                assert response.status == 404
            # A known route with a method it does not accept: the Functions host answers 404, not 405.
            async with host.session.delete("/api/items/7") as response:
                assert response.status == 404
            async with host.session.get("/hello/tokyo") as response:  # outside the route prefix
                assert response.status == 404

    asyncio.run(scenario())


def test_catch_all_route_and_function_name_override() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            async with host.session.get("/api/files/a/b/c.txt") as response:
                assert await response.text() == "a/b/c.txt"
            async with host.session.get("/api/files") as response:
                assert await response.text() == "<root>"

    asyncio.run(scenario())


def test_string_return_and_unhandled_exception() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            async with host.session.post("/api/admin-only") as response:  # methods unset: any method
                assert response.status == 200
                assert await response.text() == "admin ok"
            async with host.session.get("/api/boom") as response:
                assert response.status == 500

    asyncio.run(scenario())


def test_keys_are_not_enforced_by_default_like_func_start() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            async with host.session.get("/api/items/1") as response:
                assert response.status == 200
            async with host.session.get("/api/admin-only") as response:
                assert response.status == 200

    asyncio.run(scenario())


def test_enforced_keys_follow_auth_levels() -> None:
    keys = AuthKeys("fn-secret", "master-secret", "system-secret", enforce=True)

    async def scenario() -> None:
        async with running_host(keys=keys) as host:
            get = host.session.get
            async with get("/api/hello/anyone") as response:  # anonymous stays open
                assert response.status == 200
            async with get("/api/items/1") as response:
                assert response.status == 401
                assert "needs a function key" in (await response.json())["error"]["message"]
            async with get("/api/items/1?code=wrong") as response:
                assert response.status == 401
            async with get("/api/items/1?code=fn-secret") as response:
                assert response.status == 200
            async with get("/api/items/1", headers={"x-functions-key": "master-secret"}) as response:
                assert response.status == 200
            async with get("/api/admin-only?code=fn-secret") as response:  # admin needs the master key
                assert response.status == 401
            async with get("/api/admin-only?code=master-secret") as response:
                assert response.status == 200
            # The management API takes the extension's system key or the master key, never the function key.
            async with get("/runtime/webhooks/durabletask/instances/x") as response:
                assert response.status == 401
            async with get("/runtime/webhooks/durabletask/instances/x?code=fn-secret") as response:
                assert response.status == 401
            for key in ("master-secret", "system-secret"):
                async with get(f"/runtime/webhooks/durabletask/instances/x?code={key}") as response:
                    assert response.status == 404
            # The system key opens nothing but the extension's routes: no function, no admin route.
            for path in ("/api/items/1", "/api/admin-only", "/admin/host/status", "/admin/host/systemkeys"):
                async with get(path, headers={"x-functions-key": "system-secret"}) as response:
                    assert response.status == 401, path
            # The master key reads the system keys, as on the host's /admin/host/systemkeys routes.
            async with get("/admin/host/systemkeys/durabletask_extension?code=master-secret") as response:
                assert await response.json() == {"name": "durabletask_extension", "value": "system-secret"}
            async with get("/admin/host/systemkeys/other_extension?code=master-secret") as response:
                assert response.status == 404
            # The header wins over ?code= (as in the host).
            async with get("/api/items/1?code=fn-secret", headers={"x-functions-key": "wrong"}) as response:
                assert response.status == 401
            # The SDK inside a function uses the loopback RPC path (no key needed, like the extension's local
            # listener); the URLs it hands out carry the system key, not the master key.
            async with host.session.post("/api/orchestrators/hello_orchestrator/keyed", json=1) as response:
                assert response.status == 202
                body = await response.json()
            status_url = body["statusQueryGetUri"]
            assert status_url.endswith("&code=system-secret")
            assert "master-secret" not in json.dumps(body)
            async with get(status_url) as response:
                assert response.status == 202

    asyncio.run(scenario())


def test_keys_from_settings_or_generated() -> None:
    given = AuthKeys.from_settings({"DEVHOST_FUNCTION_KEY": "f", "DEVHOST_MASTER_KEY": "m",
                                    "DEVHOST_SYSTEM_KEY": "s", "DEVHOST_ENFORCE_KEYS": "1"})
    assert (given.function_key, given.master_key, given.system_key, given.enforce, given.generated) == (
        "f", "m", "s", True, ())
    generated = AuthKeys.from_settings({})
    assert not generated.enforce and set(generated.generated) == {"function", "master", "system"}
    assert len(generated.function_key) >= 32
    assert len({generated.function_key, generated.master_key, generated.system_key}) == 3
    with pytest.raises(ValueError, match="must differ"):
        AuthKeys.from_settings({"DEVHOST_FUNCTION_KEY": "same", "DEVHOST_SYSTEM_KEY": "same"})


def test_empty_route_prefix() -> None:
    async def scenario() -> None:
        async with running_host(route_prefix="") as host, host.session.get("/hello/kyoto") as response:
            assert (await response.json())["name"] == "KYOTO"

    asyncio.run(scenario())
