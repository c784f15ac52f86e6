// One secret in the app's Key Vault; the app reads it through a Key Vault reference in its app settings.

@description('Name of the existing Key Vault.')
param vaultName string

@description('Secret name.')
param name string

@secure()
@description('Secret value.')
param value string

@description('Why it has no expiry, for the record: the lifetime is set by whoever issued it.')
param issuer string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: The secret's lifetime is set by its issuer (the third-party provider or its webhook endpoint); an expiry here would silently break the app on that date. Rotate at the issuer, then `azd env set ...` and `azd provision`.
  parent: vault
  name: name
  tags: {
    issuer: issuer
  }
  properties: {
    value: value
    contentType: 'text/plain'
  }
}

// Versionless, so the app picks up a rotated secret on its next Key Vault reference refresh.
output uri string = '${vault.properties.vaultUri}secrets/${secret.name}'
