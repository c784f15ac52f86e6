"""Who gets which role on what: the app identity's and the developer's role assignments in main.bicep."""

from __future__ import annotations

import re
from typing import Any

from tests.infra._bicep import Template, property_chains
from tests.infra._paths import INFRA_DIR, MAIN_TEMPLATE, rel

APP = "app identity"
DEVELOPER = "developer"

# role module -> (module whose resource it is scoped to, resource type of the module's target, expected grants)
EXPECTED: dict[str, tuple[str, str, set[tuple[str, str]]]] = {
    "storageRoles": (
        "storage",
        "Microsoft.Storage/storageAccounts",
        {
            (APP, "storageBlobDataOwner"),
            (APP, "storageQueueDataContributor"),
            (APP, "storageTableDataContributor"),
            (DEVELOPER, "storageBlobDataContributor"),
            (DEVELOPER, "storageQueueDataContributor"),
            (DEVELOPER, "storageTableDataContributor"),
        },
    ),
    "openAiRoles": (
        "openAi",
        "Microsoft.CognitiveServices/accounts",
        {(APP, "cognitiveServicesOpenAiUser"), (DEVELOPER, "cognitiveServicesOpenAiUser")},
    ),
    "keyVaultRoles": ("keyVault", "Microsoft.KeyVault/vaults", {(APP, "keyVaultSecretsUser")}),
    "monitoringRoles": ("monitoring", "Microsoft.Insights/components", {(APP, "monitoringMetricsPublisher")}),
    "schedulerRoles": (
        "scheduler",
        "Microsoft.DurableTask/schedulers",
        {(APP, "durableTaskDataContributor"), (DEVELOPER, "durableTaskDataContributor")},
    ),
}

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _who(main: Template, principal: Any) -> str:
    if principal == "principalId":
        return DEVELOPER
    if principal == "appPrincipal" and property_chains(main.variables["appPrincipal"]["value"]) == [
        ("identity", "outputs", "principalId")
    ]:
        return APP
    return f"unexpected principal {principal!r}"


def _grants(main: Template, role_module: str) -> set[tuple[str, str]]:
    grants: set[tuple[str, str]] = set()
    for item in main.array_items(main.module_config(role_module)["params"]["assignments"]):
        (chain,) = property_chains(item["roleDefinitionId"])
        assert chain[0] == "roles" and len(chain) == 2, f"{role_module}: role must come from the roles table"
        grants.add((_who(main, item["principalId"]), chain[1]))
    return grants


def test_each_principal_gets_exactly_the_expected_roles(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    wrong = {
        module: _grants(main, module) ^ expected
        for module, (_, _, expected) in EXPECTED.items()
        if _grants(main, module) != expected
    }
    assert not wrong, f"missing or unexpected grants (symmetric difference): {wrong}"


def test_role_modules_are_scoped_to_the_right_resource(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    for module, (target_module, resource_type, _) in EXPECTED.items():
        chains = property_chains(main.module_config(module)["params"]["resourceName"])
        assert (target_module, "outputs", "name") in chains or (
            target_module,
            "outputs",
            "applicationInsightsName",
        ) in chains, f"{module} is not scoped to {target_module}"
        role_template = templates[rel(INFRA_DIR / main.modules[module]["detail"]["path"])]
        (target,) = [r for r in role_template.resources.values() if r.get("existing")]
        assert target["type"] == resource_type


def test_role_ids_are_distinct_guids(templates: dict[str, Template]) -> None:
    roles = templates[rel(MAIN_TEMPLATE)].variables["roles"]["value"]
    assert all(GUID.match(value) for value in roles.values()), roles
    assert len(set(roles.values())) == len(roles)


def test_roles_exist_before_the_function_app_starts(templates: dict[str, Template]) -> None:
    depends_on = set(templates[rel(MAIN_TEMPLATE)].module_config("functionApp")["dependsOn"])
    assert set(EXPECTED) <= depends_on
