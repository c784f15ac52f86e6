// The app's user-assigned managed identity. It exists before the Function App, so every role assignment is in
// place by the time the host first starts (no race between app start and RBAC), and it survives re-creating the
// app. The host, the Flex deployment download, Key Vault references and the app's own SDK clients all use it.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
