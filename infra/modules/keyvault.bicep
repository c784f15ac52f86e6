// Key Vault for the secrets the app may still need (each stored by modules/keyvault-secret.bicep): a third-party
// provider's API key (ASSISTANT_API_KEY when ASSISTANT_AUTH=key) and the provider's webhook signing secret
// (ASSISTANT_WEBHOOK_SECRET). Only deployed when one is given; the default Azure OpenAI path uses Entra ID and
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

output name string = vault.name
output id string = vault.id
output vaultUri string = vault.properties.vaultUri
