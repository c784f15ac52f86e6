// Azure OpenAI in a Foundry (AIServices) account with one model deployment. Keys are disabled: the app reaches the
// v1 endpoint (https://<customSubDomainName>.openai.azure.com/openai/v1/) with an Entra token only.

@description('Name of the AIServices account; also its custom subdomain, so globally unique.')
param name string

@description('Azure region of the account (model availability differs per region).')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Deployment name: the `model` the app sends (ASSISTANT_MODEL).')
param deploymentName string

@description('Model name, e.g. gpt-5-mini.')
param modelName string

@description('Model version, e.g. 2025-08-07.')
param modelVersion string

@description('OnceCurrentVersionExpired, OnceNewDefaultVersionAvailable or NoAutoUpgrade.')
param versionUpgradeOption string

@description('Deployment SKU: GlobalStandard (pay per token, Microsoft-global routing), DataZoneStandard, Standard (in region) or ProvisionedManaged.')
param skuName string

@description('Capacity in units of 1,000 tokens per minute for the Standard SKUs.')
@minValue(1)
param capacity int

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' = {
  // checkov:skip=CKV_AZURE_134: The Flex Consumption app and developers call the public endpoint; with disableLocalAuth every call needs an Entra token and the Cognitive Services OpenAI User role. Private networking is a hardening step in docs/deploy.md.
  name: name
  location: location
  tags: tags
  kind: 'AIServices'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
    restrictOutboundNetworkAccess: false
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
    versionUpgradeOption: versionUpgradeOption
  }
}

output name string = account.name
output id string = account.id
// The OpenAI-compatible v1 base URL; `AzureOpenAI`'s api-version is not needed with it.
output v1BaseUrl string = 'https://${account.properties.customSubDomainName}.openai.azure.com/openai/v1/'
output deploymentName string = deployment.name
