"""The deployment traps of issue 13, checked offline: the Durable Task Scheduler is selected in the deployed
host.json (not by an app-setting override the scale controller never sees) with a bundle that has it; regions
offer Flex Consumption and, for the Azure OpenAI account, the Responses API; the model version does not silently
stop working when it retires. The azd hooks in scripts/deploy/azd_hooks.py run here as azd runs them."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.infra._bicep import Template
from tests.infra._paths import INFRA_DIR, MAIN_TEMPLATE, REPO_ROOT, rel
from tests.infra.test_app_settings_drift import _app_settings

HOOKS_SCRIPT = REPO_ROOT / "scripts" / "deploy" / "azd_hooks.py"
FACTS = json.loads((INFRA_DIR / "deploy-facts.json").read_text())
TODAY = dt.date(2026, 11, 29)


def _load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("azd_hooks", HOOKS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


def _bundle_floor(host: dict[str, Any]) -> tuple[int, ...]:
    low = host["extensionBundle"]["version"].strip("[").split(",")[0].strip()
    return tuple(int(p) if p.isdigit() else 0 for p in low.split("."))


def _floor() -> tuple[int, ...]:
    return tuple(int(p) for p in FACTS["durableTaskScheduler"]["extensionBundleFloor"].split("."))


# --- Durable Task Scheduler ---------------------------------------------------------------------------------

def test_committed_host_json_is_azure_storage_with_a_bundle_that_also_has_the_scheduler() -> None:
    host = json.loads((REPO_ROOT / "host.json").read_text())
    assert host["extensions"]["durableTask"]["storageProvider"]["type"] == "AzureStorage"  # devhost, default
    assert _bundle_floor(host) >= _floor()


def test_scheduler_host_json_selects_azure_managed(templates: dict[str, Template]) -> None:
    committed = json.loads((REPO_ROOT / "host.json").read_text())
    deployed = hooks.host_json_for("DurableTaskScheduler", committed)
    durable = deployed["extensions"]["durableTask"]
    assert durable["storageProvider"] == {
        "type": "azureManaged", "connectionStringName": "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
    }
    assert durable["hubName"] == "%TASKHUB_NAME%"  # the scheduler's task hub, created with the same name
    assert _bundle_floor(deployed) >= _floor()
    # The setting it names is one the Function App really gets when the scheduler is deployed.
    assert "DURABLE_TASK_SCHEDULER_CONNECTION_STRING" in _app_settings(templates)
    # Everything but the provider is the committed file.
    del durable["storageProvider"], committed["extensions"]["durableTask"]["storageProvider"]
    assert deployed == committed


def test_no_app_setting_overrides_the_storage_provider(templates: dict[str, Template]) -> None:
    """The trap: an app-setting override changes the runtime but not what the scale controller reads."""
    overrides = [name for name in _app_settings(templates)
                 if name.lower().startswith("azurefunctionsjobhost__extensions__durabletask__storageprovider")]
    assert not overrides, f"select the backend in host.json, not with {overrides}"


def test_azure_yaml_runs_the_hooks(azure_yaml: Any) -> None:
    api_hooks = azure_yaml["services"]["api"]["hooks"]
    expected = {
        "prepackage": api_hooks["prepackage"], "postpackage": api_hooks["postpackage"],
        "preprovision": azure_yaml["hooks"]["preprovision"],
    }
    for command, hook in expected.items():
        assert hook["posix"]["run"] == f"python3 scripts/deploy/azd_hooks.py {command}"
        assert hook["windows"]["run"] == f"python scripts/deploy/azd_hooks.py {command}"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the files the hooks read, laid out as in the repository."""
    for relative in ("host.json", "scripts/deploy/azd_hooks.py", "infra/deploy-facts.json",
                     "infra/main.parameters.json"):
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, target)
    return tmp_path


def _hook(project: Path, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/deploy/azd_hooks.py", command], cwd=project, capture_output=True, text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "DURABLE_", "ASSISTANT_"))},
             **env},
        timeout=60,
    )


def test_packaging_with_the_scheduler_deploys_its_host_json_and_restores_the_committed_one(project: Path) -> None:
    committed = (project / "host.json").read_bytes()
    first = _hook(project, "prepackage", DURABLE_BACKEND="DurableTaskScheduler")
    assert first.returncode == 0, first.stderr
    packaged = json.loads((project / "host.json").read_text())
    assert packaged["extensions"]["durableTask"]["storageProvider"]["type"] == "azureManaged"
    # An interrupted run (no postpackage) is repaired by the next one, and nothing is lost.
    assert _hook(project, "prepackage", DURABLE_BACKEND="DurableTaskScheduler").returncode == 0
    restored = _hook(project, "postpackage")
    assert restored.returncode == 0 and "restored" in restored.stdout
    assert (project / "host.json").read_bytes() == committed
    assert not (project / ".azure" / "host.json.committed").exists()


def test_packaging_with_azure_storage_leaves_host_json_alone(project: Path) -> None:
    committed = (project / "host.json").read_bytes()
    assert _hook(project, "prepackage").returncode == 0
    assert (project / "host.json").read_bytes() == committed
    assert _hook(project, "postpackage").stdout.strip() == "host.json: unchanged"


def test_packaging_the_scheduler_with_an_old_bundle_range_is_refused(project: Path) -> None:
    host = json.loads((project / "host.json").read_text())
    host["extensionBundle"]["version"] = "[4.*, 5.0.0)"
    (project / "host.json").write_text(json.dumps(host))
    result = _hook(project, "prepackage", DURABLE_BACKEND="DurableTaskScheduler")
    assert result.returncode == 1
    assert "admits bundles older than 4.32.0" in result.stderr
    assert json.loads((project / "host.json").read_text()) == host  # untouched


# --- regions ------------------------------------------------------------------------------------------------

def _allowed(template: Template, parameter: str) -> list[str]:
    for decorator in template.parameters[parameter].get("decorators", []):
        if decorator.get("type") == "allowed":
            return [str(value) for value in decorator["argument"]]
    raise AssertionError(f"{parameter} has no @allowed list")


def test_location_allows_only_flex_consumption_regions(templates: dict[str, Template]) -> None:
    assert _allowed(templates[rel(MAIN_TEMPLATE)], "location") == FACTS["flexConsumptionRegions"]


def test_openai_location_defaults_to_a_responses_region(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    default = main.parameters["openAiLocation"]["default"]
    assert default in FACTS["responsesApiRegions"]
    assert main.parameters["assistantProvider"]["default"] == "responses"
    # Flex regions that do not serve the Responses API exist: that is why the two locations are separate.
    assert set(FACTS["flexConsumptionRegions"]) - set(FACTS["responsesApiRegions"])


@pytest.mark.parametrize("env, refusal", [
    ({"AZURE_LOCATION": "swedencentral"}, None),
    ({"AZURE_LOCATION": "westeurope"}, None),  # Flex here, the model in the default OpenAI region
    ({"AZURE_LOCATION": "canadaeast"}, "AZURE_LOCATION=canadaeast has no Flex Consumption plan"),
    ({"AZURE_LOCATION": "westeurope", "AZURE_OPENAI_LOCATION": ""},
     "Azure OpenAI region westeurope does not serve the Responses API"),
    ({"AZURE_LOCATION": "swedencentral", "AZURE_OPENAI_LOCATION": "westus2"},
     "Azure OpenAI region westus2 does not serve the Responses API"),
    ({"AZURE_LOCATION": "swedencentral", "AZURE_OPENAI_LOCATION": "westus2", "ASSISTANT_PROVIDER": "chat"}, None),
    ({"AZURE_LOCATION": "swedencentral", "AZURE_OPENAI_LOCATION": "westus2",
      "ASSISTANT_PROVIDER_BASE_URL": "https://api.example.com/v1/"}, None),  # no Azure OpenAI account
])
def test_preprovision_checks_regions(env: dict[str, str], refusal: str | None) -> None:
    problems = hooks.check_provision(env, TODAY)
    if refusal is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(refusal)


def test_preprovision_hook_exits_1_with_the_reason(project: Path) -> None:
    refused = _hook(project, "preprovision", AZURE_LOCATION="westeurope", AZURE_OPENAI_LOCATION="")
    assert refused.returncode == 1
    assert "azd_hooks: Azure OpenAI region westeurope does not serve the Responses API" in refused.stderr
    assert _hook(project, "preprovision", AZURE_LOCATION="westeurope").returncode == 0


# --- model version ------------------------------------------------------------------------------------------

def test_model_deployment_upgrades_when_its_version_retires(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    assert main.parameters["modelVersionUpgradeOption"]["default"] == "OnceCurrentVersionExpired"
    assert main.module_config("openAi")["params"]["versionUpgradeOption"] == "modelVersionUpgradeOption"
    openai = templates[rel(INFRA_DIR / "modules" / "openai.bicep")]
    deployment = next(iter(openai.resources_of_type("Microsoft.CognitiveServices/accounts/deployments").values()))
    assert deployment["config"]["properties"]["versionUpgradeOption"] == "versionUpgradeOption"
    # The default model's retirement is known, so the hook can warn before it.
    model, version = main.parameters["modelName"]["default"], main.parameters["modelVersion"]["default"]
    assert FACTS["modelRetirements"][model][version] == "2027-02-06"


@pytest.mark.parametrize("env, today, refusal", [
    ({}, dt.date(2027, 1, 1), None),  # OnceCurrentVersionExpired: the deployment moves on by itself
    ({"AZURE_OPENAI_VERSION_UPGRADE": "NoAutoUpgrade"}, dt.date(2026, 6, 1), None),
    ({"AZURE_OPENAI_VERSION_UPGRADE": "NoAutoUpgrade"}, dt.date(2027, 1, 1), "gpt-5-mini 2025-08-07 retires on"),
    ({"AZURE_OPENAI_VERSION_UPGRADE": "NoAutoUpgrade", "AZURE_OPENAI_MODEL_VERSION": "2099-01-01"}, TODAY,
     "gpt-5-mini 2099-01-01 is pinned with NoAutoUpgrade and its retirement date is not in"),
])
def test_preprovision_checks_the_model_version_policy(
    env: dict[str, str], today: dt.date, refusal: str | None
) -> None:
    problems = hooks.check_provision({"AZURE_LOCATION": "swedencentral", **env}, today)
    if refusal is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(refusal)

