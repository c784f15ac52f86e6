"""Secure-by-default properties checkov does not check for Bicep: no shared keys, no local auth, identity-only
deployment and telemetry, RBAC Key Vault with purge protection, no basic-auth publishing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra._bicep import Template
from tests.infra._paths import INFRA_DIR, bicep_files, rel


def _properties(templates: dict[str, Template], module: str, resource_type: str) -> dict[str, Any]:
    template = templates[rel(INFRA_DIR / "modules" / module)]
    matches = template.resources_of_type(resource_type)
    assert len(matches) == 1, f"expected one {resource_type} in {module}, found {sorted(matches)}"
    (resource,) = matches.values()
    properties = resource["config"]["properties"]
    assert isinstance(properties, dict)
    return properties


def test_storage_accepts_entra_id_only(templates: dict[str, Template]) -> None:
    props = _properties(templates, "storage.bicep", "Microsoft.Storage/storageAccounts")
    assert props["allowSharedKeyAccess"] is False
    assert props["defaultToOAuthAuthentication"] is True
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True


def test_openai_account_has_no_keys(templates: dict[str, Template]) -> None:
    props = _properties(templates, "openai.bicep", "Microsoft.CognitiveServices/accounts")
    assert props["disableLocalAuth"] is True
    # A custom subdomain is what makes the https://<name>.openai.azure.com/openai/v1/ endpoint and Entra ID work.
    assert props["customSubDomainName"] == "name"
    v1 = templates[rel(INFRA_DIR / "modules" / "openai.bicep")].outputs["v1BaseUrl"]["value"]
    assert str(v1).endswith(".openai.azure.com/openai/v1/")


def test_telemetry_ingestion_needs_entra_id(templates: dict[str, Template]) -> None:
    assert (
        _properties(templates, "monitoring.bicep", "Microsoft.Insights/components")["DisableLocalAuth"]
        is True
    )
    workspace = _properties(templates, "monitoring.bicep", "Microsoft.OperationalInsights/workspaces")
    assert workspace["features"]["disableLocalAuth"] is True


def test_key_vault_is_rbac_soft_delete_and_purge_protected(templates: dict[str, Template]) -> None:
    props = _properties(templates, "keyvault.bicep", "Microsoft.KeyVault/vaults")
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True


def test_function_app_runs_on_flex_with_its_managed_identity(templates: dict[str, Template]) -> None:
    template = templates[rel(INFRA_DIR / "modules" / "function-app.bicep")]
    (plan,) = template.resources_of_type("Microsoft.Web/serverfarms").values()
    assert plan["config"]["sku"] == {"tier": "FlexConsumption", "name": "FC1"}

    (site,) = template.resources_of_type("Microsoft.Web/sites").values()
    assert site["config"]["identity"]["type"] == "UserAssigned"
    props = site["config"]["properties"]
    assert props["httpsOnly"] is True
    assert props["keyVaultReferenceIdentity"] == "identityId"
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    flex = props["functionAppConfig"]
    assert flex["runtime"] == {"name": "python", "version": "3.11"}
    assert flex["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    for knob in ("alwaysReady", "instanceMemoryMB", "maximumInstanceCount"):
        assert knob in flex["scaleAndConcurrency"]


def test_basic_auth_publishing_is_off(templates: dict[str, Template]) -> None:
    template = templates[rel(INFRA_DIR / "modules" / "function-app.bicep")]
    policies = template.resources_of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies").values()
    assert {p["config"]["name"]: p["config"]["properties"]["allow"] for p in policies} == {
        "ftp": False,
        "scm": False,
    }


@pytest.mark.parametrize("path", bicep_files(), ids=rel)
def test_no_template_reads_or_builds_keys(path: Any) -> None:
    text = path.read_text()
    for marker in ("listKeys(", "listkeys(", "AccountKey=", "InstrumentationKey=", ".primaryKey", "key1"):
        assert marker not in text, f"{rel(path)} contains {marker!r}: the deployment must stay key-free"
