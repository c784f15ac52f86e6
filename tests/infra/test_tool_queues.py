"""infra/modules/tool-queues.bicep creates the queues the app's queue functions listen on (same names as the app
computes) and gives the agent service access to those queues only."""

from __future__ import annotations

from typing import Any

from durable_assistant.config import Settings
from durable_assistant.tools import default_registry, tool_queue_layout
from tests.infra._bicep import Template, property_chains
from tests.infra._paths import INFRA_DIR, MAIN_TEMPLATE, rel

MODULE = rel(INFRA_DIR / "modules" / "tool-queues.bicep")
QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"


def _bicep_queue_name(template: Template, resource: str, prefix: str, tool: str) -> str:
    """Render the module's queue name template for one tool, as Bicep would (slug = lower, '_' -> '-')."""
    name: str = template.resources[resource]["config"]["config"]["name"]
    return name.replace("${queuePrefix}", prefix).replace("${slug}", tool.lower().replace("_", "-"))


def test_the_module_creates_the_queues_the_app_listens_on(templates: dict[str, Template]) -> None:
    module = templates[MODULE]
    tools = default_registry().names()
    assert sorted(module.parameters["toolNames"]["default"]) == tools
    prefix = module.parameters["queuePrefix"]["default"]
    assert prefix == Settings().tool_queue_prefix
    layout = tool_queue_layout(tools, prefix)
    for tool in tools:
        assert _bicep_queue_name(module, "inputQueues", prefix, tool) == layout[tool].input
        assert _bicep_queue_name(module, "outputQueues", prefix, tool) == layout[tool].output
        assert _bicep_queue_name(module, "poisonQueues", prefix, tool) == layout[tool].input + "-poison"


def test_the_agent_gets_queue_data_contributor_on_each_tool_queue_only(templates: dict[str, Template]) -> None:
    module = templates[MODULE]
    assert module.variables["queueDataContributor"]["value"] == QUEUE_DATA_CONTRIBUTOR
    assignments = module.resources_of_type("Microsoft.Authorization/roleAssignments")
    assert set(assignments) == {"agentInputAccess", "agentOutputAccess"}
    for symbol, queues in (("agentInputAccess", "inputQueues"), ("agentOutputAccess", "outputQueues")):
        resource: dict[str, Any] = assignments[symbol]["config"]
        assert resource["condition"] == "grantAgent"
        scope = resource["config"]["scope"]["operator"]
        assert scope["type"] == "index_accessor" and scope["operands"]["operand_1"] == queues
        properties = resource["config"]["properties"]
        assert properties["principalId"] == "agentPrincipalId"
        assert ("queueDataContributor",) in property_chains(properties["roleDefinitionId"]) or \
            "queueDataContributor" in str(properties["roleDefinitionId"])


def test_main_wires_the_module_to_the_app_storage_and_the_settings(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    params = main.module_config("toolQueues")["params"]
    assert ("storage", "outputs", "name") in property_chains(params["storageAccountName"])
    assert params["queuePrefix"] == "toolQueuePrefix"
    assert params["agentPrincipalId"] == "foundryProjectPrincipalId"
    assert main.module_config("functionApp")["params"]["toolQueuePrefix"] == "toolQueuePrefix"
