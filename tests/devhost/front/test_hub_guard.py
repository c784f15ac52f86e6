"""devhost keeps out of the deployed app's task hub on a real storage account unless told explicitly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.azurite import connection_string as azurite_connection_string
from devhost.azurite import free_port
from devhost.hub_guard import SharedHubError, check_hub, deployed_hub_name, is_emulator

REPO = Path(__file__).resolve().parents[3]
# A real-looking account: the refusal must come before devhost contacts any storage.
REAL_ACCOUNT = ("DefaultEndpointsProtocol=https;AccountName=stprodassistant;AccountKey=bm90LWEta2V5;"
                "EndpointSuffix=core.windows.net")
REAL_ACCOUNT_ENDPOINTS = ("BlobEndpoint=https://stprodassistant.blob.core.windows.net;"
                          "QueueEndpoint=https://stprodassistant.queue.core.windows.net;"
                          "TableEndpoint=https://stprodassistant.table.core.windows.net")


@pytest.mark.parametrize("connection_string, emulator", [
    ("UseDevelopmentStorage=true", True),
    ("usedevelopmentstorage=TRUE;", True),
    (azurite_connection_string(), True),
    (azurite_connection_string(host="localhost"), True),
    ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=x;"
     "BlobEndpoint=http://azurite:10000/devstoreaccount1", True),  # the emulator's account in a container
    ("AccountName=other;AccountKey=x;BlobEndpoint=http://[::1]:10000/other;QueueEndpoint=http://127.0.0.1:10001/o",
     True),
    (REAL_ACCOUNT, False),
    (REAL_ACCOUNT_ENDPOINTS, False),
    ("AccountName=mixed;AccountKey=x;BlobEndpoint=http://127.0.0.1:10000/mixed;"
     "QueueEndpoint=https://mixed.queue.core.windows.net", False),  # one real endpoint is enough to be real
])
def test_emulator_detection(connection_string: str, emulator: bool) -> None:
    assert is_emulator(connection_string) is emulator


def test_deployed_hub_name_is_what_azd_deploys() -> None:
    parameters = json.loads((REPO / "infra" / "main.parameters.json").read_text())
    assert parameters["parameters"]["taskHubName"]["value"] == "${DURABLE_TASK_HUB_NAME=DurableAssistant}"
    assert deployed_hub_name(REPO, {}) == "DurableAssistant"
    assert deployed_hub_name(REPO, {"DURABLE_TASK_HUB_NAME": "ProdHub"}) == "ProdHub"
    assert deployed_hub_name(REPO / "tests", {}) is None  # no azd files, no variable: nothing to protect


def test_real_account_with_the_deployed_hub_is_refused() -> None:
    with pytest.raises(SharedHubError) as caught:
        check_hub(REAL_ACCOUNT, "durableassistant", app_dir=REPO, environ={}, allow_shared=False)
    message = str(caught.value)
    assert "refusing to run task hub 'durableassistant' on storage account 'stprodassistant'" in message
    assert "--hub NAME" in message and "--allow-shared-hub" in message
    with pytest.raises(SharedHubError):
        check_hub(REAL_ACCOUNT_ENDPOINTS, "ProdHub", app_dir=REPO, environ={"DURABLE_TASK_HUB_NAME": "ProdHub"},
                  allow_shared=False)


def test_explicit_flag_other_hub_or_emulator_pass() -> None:
    check_hub(REAL_ACCOUNT, "DurableAssistant", app_dir=REPO, environ={}, allow_shared=True)
    check_hub(REAL_ACCOUNT, "DevAlice", app_dir=REPO, environ={}, allow_shared=False)
    check_hub(azurite_connection_string(), "DurableAssistant", app_dir=REPO, environ={}, allow_shared=False)


def test_cli_refuses_before_touching_storage() -> None:
    env = {**os.environ, "TASKHUB_NAME": "DurableAssistant"}
    env.pop("DURABLE_TASK_HUB_NAME", None)
    proc = subprocess.run(
        [sys.executable, "-m", "devhost", "start", "--app", str(REPO), "--port", str(free_port()),
         "--storage", REAL_ACCOUNT],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 1
    assert ("devhost: refusing to run task hub 'DurableAssistant' on storage account 'stprodassistant'"
            in proc.stderr)
    assert "storage is unreachable" not in proc.stdout + proc.stderr
