// Key Vault for the one secret the app may still need: a third-party provider's API key (ASSISTANT_API_KEY when
// ASSISTANT_AUTH=key). Only deployed when such a key is given; the default Azure OpenAI path uses Entra ID and
// stores no secret at all. RBAC mode (no access policies), soft delete and purge protection are on.

@description('Key Vault name (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Days a deleted vault or secret can be recovered (7-90). Purge protection keeps the name reserved this long after `azd down`.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 7

@description('Name of the secret that holds the provider API key.')
param providerApiKeySecretName string = 'assistant-provider-api-key'

@secure()
@description('The provider API key to store.')
param providerApiKey string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: The Flex Consumption app resolves the Key Vault reference over the public endpoint (no VNet integration in this template); RBAC mode means only identities holding Key Vault Secrets User can read. Private networking is a hardening step in docs/deploy.md.
  // checkov:skip=CKV_AZURE_189: Same reason as CKV_AZURE_109.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource providerApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: The key's lifetime is set by the third-party provider; an expiry here would silently break the app on that date. Rotate by `azd env set ASSISTANT_PROVIDER_API_KEY ...` and `azd provision`.
  parent: vault
  name: providerApiKeySecretName
  properties: {
    value: providerApiKey
    contentType: 'text/plain'
  }
}

output name string = vault.name
output id string = vault.id
output vaultUri string = vault.properties.vaultUri
// Versionless, so the app picks up a rotated key on its next Key Vault reference refresh.
output providerApiKeySecretUri string = '${vault.properties.vaultUri}secrets/${providerApiKeySecret.name}'
