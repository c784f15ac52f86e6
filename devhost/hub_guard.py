"""Keep devhost out of the deployed app's task hub.

devhost writes the Azure Storage provider's tables and queues in its own message format, which the real host
cannot read. Pointed at a real storage account with the task hub name the deployed app uses, it would put those
messages into the production hub (and take the deployed host's messages). So a storage account that is not the
local emulator may not be used with the deployed task hub name unless the caller says so explicitly.

The deployed name is what ``azd`` gives the app: ``infra/main.parameters.json`` maps the ``taskHubName`` parameter
to ``${DURABLE_TASK_HUB_NAME=<default>}``, and the Bicep writes it to the ``TASKHUB_NAME`` setting that
``host.json`` reads (``"hubName": "%TASKHUB_NAME%"``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from devhost.azurite import ACCOUNT_NAME as EMULATOR_ACCOUNT

AZD_HUB_VARIABLE = "DURABLE_TASK_HUB_NAME"
_AZD_PARAMETERS = Path("infra") / "main.parameters.json"
_AZD_VALUE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?P<default>[^}]*))?\}$")
_ENDPOINT_KEYS = ("blobendpoint", "queueendpoint", "tableendpoint", "fileendpoint", "developmentstorageproxyuri")


class SharedHubError(Exception):
    """devhost would run in the deployed app's task hub on a real storage account."""


def is_emulator(connection_string: str) -> bool:
    """Azurite or the storage emulator: ``UseDevelopmentStorage=true``, the emulator's well-known account, or
    service endpoints on a loopback address."""
    parts = _parse(connection_string)
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return True
    if parts.get("accountname", "") == EMULATOR_ACCOUNT:
        return True
    endpoints = [parts[key] for key in _ENDPOINT_KEYS if parts.get(key)]
    return bool(endpoints) and all(_is_loopback(url) for url in endpoints)


def account_name(connection_string: str) -> str:
    parts = _parse(connection_string)
    if parts.get("accountname"):
        return parts["accountname"]
    for key in _ENDPOINT_KEYS:
        host = urlsplit(parts.get(key, "")).hostname
        if host:
            return host.split(".")[0]
    return "?"


def deployed_hub_name(app_dir: Path, environ: Mapping[str, str]) -> str | None:
    """The task hub name ``azd`` deploys the app with: ``DURABLE_TASK_HUB_NAME`` when set (``azd env get-values``
    exports it), else the default in ``infra/main.parameters.json``; None for an app without either."""
    if environ.get(AZD_HUB_VARIABLE):
        return environ[AZD_HUB_VARIABLE]
    path = app_dir / _AZD_PARAMETERS
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
        value = document["parameters"]["taskHubName"]["value"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(value, str):
        return None
    match = _AZD_VALUE.match(value.strip())
    if match is None:
        return value or None
    return environ.get(match["name"]) or match["default"] or None


def check_hub(
    connection_string: str, hub_name: str, *, app_dir: Path, environ: Mapping[str, str], allow_shared: bool
) -> None:
    """Raise :class:`SharedHubError` for a real storage account with the deployed task hub name."""
    if allow_shared or is_emulator(connection_string):
        return
    deployed = deployed_hub_name(app_dir, environ)
    if deployed is None or deployed.lower() != hub_name.lower():  # hub names are case-insensitive in storage
        return
    raise SharedHubError(
        f"refusing to run task hub '{hub_name}' on storage account '{account_name(connection_string)}': it is the "
        f"task hub the deployed app uses ({AZD_HUB_VARIABLE} / {_AZD_PARAMETERS.as_posix()}), and the real host "
        "cannot read the queue messages devhost writes. Pick another hub with --hub NAME, or pass "
        "--allow-shared-hub if you mean to share it."
    )


def _parse(connection_string: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in connection_string.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            parts[key.strip().lower()] = value.strip()
    return parts


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
