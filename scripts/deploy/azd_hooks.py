"""azd hooks (azure.yaml): check regions and the model before provisioning; package the host.json of the chosen
durable backend.

``preprovision``  refuse a region without Flex Consumption, an Azure OpenAI region that does not serve the
                  Responses API (when the app uses it), and a pinned model version that retires without an upgrade
                  path (see infra/deploy-facts.json).
``prepackage``    with DURABLE_BACKEND=DurableTaskScheduler, write the scheduler's host.json (storageProvider
                  ``azureManaged``) for the package and keep the committed one aside; the platform's scale
                  controller reads the durable settings from the deployed host.json, not from app settings.
``postpackage``   put the committed host.json back.
``host-json``     print the host.json a backend deploys (``--backend AzureStorage|DurableTaskScheduler``).

azd passes the environment's values (``azd env set``, provisioning outputs) as environment variables; the
defaults are the ones infra/main.parameters.json gives the template. Standard library only: azd runs this with
the machine's python3, outside the project's venv. Exit code 1 with a message when a check fails.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HOST_JSON = REPO / "host.json"
FACTS = REPO / "infra" / "deploy-facts.json"
PARAMETERS = REPO / "infra" / "main.parameters.json"
# The committed host.json while the scheduler's is in its place (.azure/ is azd's own folder, never packaged).
BACKUP = REPO / ".azure" / "host.json.committed"
AZURE_STORAGE, SCHEDULER = "AzureStorage", "DurableTaskScheduler"
_AZD_VALUE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?P<default>[^}]*))?\}$")
_BUNDLE_RANGE = re.compile(r"^\[\s*(?P<low>[0-9*.]+)\s*,")


class HookError(Exception):
    """A check failed: the message says what to change."""


def facts() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FACTS.read_text(encoding="utf-8"))
    return loaded


def deployment_values(environ: Mapping[str, str]) -> dict[str, str]:
    """Every template parameter's value as azd passes it: the environment's value, else the parameters file's
    fallback (``${VAR=default}``)."""
    document = json.loads(PARAMETERS.read_text(encoding="utf-8"))
    values: dict[str, str] = {}
    for name, spec in document["parameters"].items():
        match = _AZD_VALUE.match(str(spec["value"]))
        if match is None:
            values[name] = str(spec["value"])
        else:
            values[name] = environ.get(match["name"], match["default"] or "")
    return values


# --- preprovision -------------------------------------------------------------------------------------------

def check_provision(environ: Mapping[str, str], today: dt.date) -> list[str]:
    """Refusals (empty when the deployment may go ahead); warnings are printed by the caller."""
    known = facts()
    values = deployment_values(environ)
    problems: list[str] = []
    location = values["location"].lower()
    if location and location not in known["flexConsumptionRegions"]:
        problems.append(
            f"AZURE_LOCATION={location} has no Flex Consumption plan; pick one of: "
            + ", ".join(known["flexConsumptionRegions"])
        )
    uses_azure_openai = not values["providerBaseUrl"]
    if uses_azure_openai and values["assistantProvider"] == "responses":
        openai_location = (values["openAiLocation"] or location).lower()
        if openai_location not in known["responsesApiRegions"]:
            problems.append(
                f"Azure OpenAI region {openai_location} does not serve the Responses API (ASSISTANT_PROVIDER="
                "responses): set AZURE_OPENAI_LOCATION to one of: " + ", ".join(known["responsesApiRegions"])
            )
    if uses_azure_openai:
        problems.extend(_model_problems(values, known, today))
    return problems


def _model_problems(values: Mapping[str, str], known: Mapping[str, Any], today: dt.date) -> list[str]:
    model, version = values["modelName"], values["modelVersion"]
    upgrade = values["modelVersionUpgradeOption"]
    retires_text = known["modelRetirements"].get(model, {}).get(version)
    if retires_text is None:
        if upgrade == "NoAutoUpgrade":
            return [f"{model} {version} is pinned with NoAutoUpgrade and its retirement date is not in "
                    f"{FACTS.relative_to(REPO)}: add it there, or use AZURE_OPENAI_VERSION_UPGRADE="
                    "OnceCurrentVersionExpired"]
        return []
    retires = dt.date.fromisoformat(retires_text)
    if upgrade != "NoAutoUpgrade":
        return []  # the deployment moves to the default version when this one retires instead of stopping
    if (retires - today).days <= int(known["retirementWarningDays"]):
        return [f"{model} {version} retires on {retires_text} and AZURE_OPENAI_VERSION_UPGRADE=NoAutoUpgrade keeps "
                "the deployment on it until it stops answering: pick a newer AZURE_OPENAI_MODEL_VERSION or use "
                "OnceCurrentVersionExpired"]
    return []


# --- packaging ----------------------------------------------------------------------------------------------

def host_json_for(backend: str, committed: Mapping[str, Any]) -> dict[str, Any]:
    """The host.json to deploy for ``backend``, derived from the committed (Azure Storage) one."""
    if backend == AZURE_STORAGE:
        return copy.deepcopy(dict(committed))
    if backend != SCHEDULER:
        raise HookError(f"DURABLE_BACKEND={backend!r}: expected {AZURE_STORAGE} or {SCHEDULER}")
    scheduler = facts()["durableTaskScheduler"]
    floor = _version(scheduler["extensionBundleFloor"])
    host = copy.deepcopy(dict(committed))
    bundle_range = str(host.get("extensionBundle", {}).get("version", ""))
    match = _BUNDLE_RANGE.match(bundle_range)
    if match is None or _version(match["low"]) < floor:
        raise HookError(
            f"host.json extensionBundle.version {bundle_range!r} admits bundles older than "
            f"{scheduler['extensionBundleFloor']}, which lack the scheduler's azureManaged provider"
        )
    durable = host.setdefault("extensions", {}).setdefault("durableTask", {})
    # Replaced whole: partitionCount, maxQueuePollingInterval and the like belong to the Azure Storage provider.
    durable["storageProvider"] = dict(scheduler["storageProvider"])
    return host


def prepackage(environ: Mapping[str, str]) -> str:
    postpackage()  # an interrupted earlier run left the scheduler's host.json in place
    backend = environ.get("DURABLE_BACKEND") or AZURE_STORAGE
    committed = json.loads(HOST_JSON.read_text(encoding="utf-8"))
    deployed = host_json_for(backend, committed)
    if deployed == committed:
        return f"host.json: {backend} (as committed)"
    BACKUP.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(HOST_JSON, BACKUP)
    HOST_JSON.write_text(json.dumps(deployed, indent=2) + "\n", encoding="utf-8")
    return f"host.json: {backend} (storageProvider {deployed['extensions']['durableTask']['storageProvider']['type']})"


def postpackage() -> str:
    if not BACKUP.exists():
        return "host.json: unchanged"
    shutil.move(str(BACKUP), HOST_JSON)
    return "host.json: committed version restored"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in text.split("."))


# --- command line -------------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azd_hooks.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("preprovision")
    commands.add_parser("prepackage")
    commands.add_parser("postpackage")
    show = commands.add_parser("host-json")
    show.add_argument("--backend", default=AZURE_STORAGE)
    args = parser.parse_args(argv)
    try:
        if args.command == "preprovision":
            problems = check_provision(os.environ, dt.date.today())
            for problem in problems:
                print(f"azd_hooks: {problem}", file=sys.stderr)
            return 1 if problems else 0
        if args.command == "prepackage":
            print(prepackage(os.environ))
        elif args.command == "postpackage":
            print(postpackage())
        else:
            committed = json.loads(HOST_JSON.read_text(encoding="utf-8"))
            print(json.dumps(host_json_for(args.backend, committed), indent=2))
    except HookError as exc:
        print(f"azd_hooks: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
