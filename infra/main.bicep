// Durable Assistant on Azure: one `azd up` creates a resource group with the Function App (Flex Consumption),
// its storage account (host, task hub, app data), Application Insights, an Azure OpenAI (Foundry) model
// deployment and, only when needed, a Key Vault and a Durable Task Scheduler. No shared key, API key or
// instrumentation key is used anywhere: every connection is Entra ID with a managed identity.
targetScope = 'subscription'

// --- azd ----------------------------------------------------------------------------------------------------
@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the unique suffix of every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource but the Azure OpenAI account: one with Flex Consumption (the list is infra/deploy-facts.json flexConsumptionRegions; tests keep them equal).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user or service principal (azd sets AZURE_PRINCIPAL_ID); empty skips the developer role assignments.')
param principalId string = ''

@description('Kind of principalId: User for a developer, ServicePrincipal for a CI identity.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Resource group name; empty means rg-<environmentName>.')
param resourceGroupName string = ''

// --- Function App scale --------------------------------------------------------------------------------------
@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Maximum instances the app scales out to (40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances for HTTP triggers (0 = scale to zero).')
@minValue(0)
param alwaysReadyHttpInstanceCount int = 0

@description('Always-ready instances for Durable Functions triggers (0 = scale to zero).')
@minValue(0)
param alwaysReadyDurableInstanceCount int = 0

// --- storage and durable backend -----------------------------------------------------------------------------
@description('Storage replication (see modules/storage.bicep).')
param storageSkuName string = 'Standard_LRS'

@description('ASSISTANT_STORAGE_PREFIX: lowercase letters/digits put before every app table and container name, so several deployments can share one account; empty for none.')
@maxLength(20)
param storagePrefix string = ''

@description('Tables the app uses, without the prefix (the app also creates them on first use).')
param storageTableNames array = [
  'conversations'
  'customers'
  'metrics'
  'weather'
  'lamps'
  'toolqueuecalls'
  'approvals'
]

@description('Blob containers the app uses, without the prefix.')
param storageContainerNames array = [
  'conversations'
  'turn-work'
  'chat-state'
]

@description('AzureStorage (default; Durable Functions Monitor reads it) or DurableTaskScheduler (managed backend with its own dashboard).')
@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string = 'AzureStorage'

@description('Task hub name (TASKHUB_NAME): letters and digits, starting with a letter, 3-45 characters, so it is valid for both backends.')
@minLength(3)
@maxLength(45)
param taskHubName string = 'DurableAssistant'

@description('Durable Task Scheduler SKU when durableBackend is DurableTaskScheduler.')
@allowed([
  'Consumption'
  'Dedicated'
])
param durableTaskSchedulerSku string = 'Consumption'

// --- model ---------------------------------------------------------------------------------------------------
@description('Region of the Azure OpenAI account, separate from `location`: many Flex Consumption regions do not serve the Responses API (the default provider). The default serves it and offers gpt-5-mini GlobalStandard; the preprovision hook refuses a region outside infra/deploy-facts.json responsesApiRegions while ASSISTANT_PROVIDER is responses. Empty means `location`.')
param openAiLocation string = 'eastus2'

@description('Model deployment name (ASSISTANT_MODEL).')
param modelDeploymentName string = 'gpt-5-mini'

@description('Model name.')
param modelName string = 'gpt-5-mini'

@description('Model version (gpt-5-mini 2025-08-07 retires on 2027-02-06; infra/deploy-facts.json lists retirements).')
param modelVersion string = '2025-08-07'

@description('What the deployment does when a newer default version appears or its version retires. OnceCurrentVersionExpired keeps the pinned version and moves to the default one when it retires, so the app does not stop working on the retirement date; NoAutoUpgrade stops answering then (the preprovision hook refuses it within 90 days of a known retirement).')
@allowed([
  'OnceCurrentVersionExpired'
  'OnceNewDefaultVersionAvailable'
  'NoAutoUpgrade'
])
param modelVersionUpgradeOption string = 'OnceCurrentVersionExpired'

@description('Deployment SKU: GlobalStandard, DataZoneStandard, Standard or ProvisionedManaged.')
param modelSkuName string = 'GlobalStandard'

@description('Deployment capacity in thousands of tokens per minute.')
@minValue(1)
param modelCapacity int = 50

// --- assistant -----------------------------------------------------------------------------------------------
@description('ASSISTANT_PROVIDER: responses (default), threads (Foundry Agent Service classic, needs assistantAgentId and a project endpoint as providerBaseUrl) or chat.')
@allowed([
  'responses'
  'threads'
  'chat'
])
param assistantProvider string = 'responses'

@description('Use another OpenAI-compatible provider instead of the Azure OpenAI account: its base URL. Empty deploys and uses Azure OpenAI.')
param providerBaseUrl string = ''

@description('Model name at that provider (ASSISTANT_MODEL when providerBaseUrl is set).')
param providerModel string = ''

@secure()
@description('API key of that provider. When given it goes to Key Vault and ASSISTANT_AUTH becomes key; when empty the app uses Entra ID.')
param providerApiKey string = ''

@description('ASSISTANT_ENTRA_SCOPE: token scope for Entra ID auth (https://ai.azure.com/.default for a Foundry project endpoint).')
param assistantEntraScope string = 'https://cognitiveservices.azure.com/.default'

@description('ASSISTANT_AGENT_ID for the threads provider; empty omits the setting.')
param assistantAgentId string = ''

@description('ASSISTANT_INSTRUCTIONS; empty keeps the app default.')
param assistantInstructions string = ''

@description('ASSISTANT_TURN_DEADLINE_SECONDS.')
param turnDeadlineSeconds string = '300'

// --- Foundry agents: tools over Storage queues (docs/foundry-agents.md) ---------------------------------------
@description('ASSISTANT_TOOL_QUEUE_PREFIX: the tools\' queues are {prefix}-{tool}-input / -output (modules/tool-queues.bicep).')
@minLength(1)
@maxLength(20)
param toolQueuePrefix string = 'tool'

@description('ASSISTANT_RUN_TOOLS for the threads provider: app (runs carry the app\'s tools) or agent (the agent\'s own azure_function tools apply).')
@allowed([
  'app'
  'agent'
])
param assistantRunTools string = 'app'

@description('Principal id of the Foundry project (its managed identity) whose agents call the tools over the queues; empty creates the queues without granting access.')
param foundryProjectPrincipalId string = ''

@description('ASSISTANT_MAX_MESSAGE_CHARS.')
param maxMessageChars string = '8000'

@description('ASSISTANT_MAX_TOOL_OUTPUT_CHARS.')
param maxToolOutputChars string = '16000'

@description('ASSISTANT_POLL_INTERVAL_SECONDS.')
param pollIntervalSeconds string = '0.25'

@description('ASSISTANT_POLL_FIRST_SECONDS: first durable-timer delay between provider reads.')
param pollFirstSeconds string = '2'

@description('ASSISTANT_POLL_GROWTH: each following delay is this many times the previous one.')
param pollGrowth string = '2'

@description('ASSISTANT_POLL_MAX_SECONDS: cap of the delay between provider reads.')
param pollMaxSeconds string = '15'

@description('ASSISTANT_FIRST_LOOK_SECONDS: how long a new run is watched before durable timers take over.')
param firstLookSeconds string = '1'

@description('ASSISTANT_WEBHOOK_POLL_SECONDS: with provider webhooks, the delay between safety reads.')
param webhookPollSeconds string = '30'

@secure()
@description('ASSISTANT_WEBHOOK_SECRET: signing secret (whsec_...) of the provider webhook endpoint that posts to /api/webhooks/openai; empty: no webhooks (durable timers alone). Stored in Key Vault.')
param webhookSecret string = ''

@description('ASSISTANT_TOOL_MODULES: comma-separated Python modules (deployed with the app) that register custom tools.')
param toolModules string = ''

@description('ASSISTANT_EXPOSE_DURABLE_URLS: true adds the Durable management URLs (carrying the extension\'s system key, which controls every instance of the task hub) to the 202 of POST .../messages. Only for a trusted front end or operator; API callers get the scoped /api/conversations/{id}/turns/{turn} status route either way.')
@allowed([
  'true'
  'false'
])
param exposeDurableUrls string = 'false'

@description('ASSISTANT_APPROVAL_REQUIRED: which model tool calls wait for a person: side_effects (the tools registered with side effects, e.g. the lamps), all, none, or comma-separated tool names.')
param approvalRequired string = 'side_effects'

@description('ASSISTANT_APPROVAL_TIMEOUT_SECONDS: a call nobody approved or denied this long after it was requested is denied. Foundry classic (threads) expires a run that waits for tool outputs after 10 minutes.')
param approvalTimeoutSeconds string = '600'

@description('ASSISTANT_APPROVERS: comma-separated principal names (App Service Authentication) allowed to decide; empty lets any caller holding the function key decide.')
param approvers string = ''
@description('ASSISTANT_RETENTION_DAYS: conversations idle longer than this many days (fractions allowed) are deleted by the retention sweep; 0 keeps them forever.')
param retentionDays string = '0'

@description('ASSISTANT_RETENTION_SCHEDULE: when the retention sweep runs (6-field NCRONTAB, UTC).')
param retentionSchedule string = '0 30 3 * * *'

// --- names ---------------------------------------------------------------------------------------------------
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var useAzureOpenAi = empty(providerBaseUrl)
var useProviderKey = !empty(providerApiKey)
var useWebhooks = !empty(webhookSecret)
var useKeyVault = useProviderKey || useWebhooks
var useScheduler = durableBackend == 'DurableTaskScheduler'
var hasDeveloper = !empty(principalId)
var prefixedTableNames = [for t in storageTableNames: '${storagePrefix}${t}']
var prefixedContainerNames = [for c in storageContainerNames: '${storagePrefix}${c}']

// Built-in role definition ids (the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  cognitiveServicesOpenAiUser: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: 'app-package'
    containerNames: prefixedContainerNames
    tableNames: prefixedTableNames
  }
}

module openAi 'modules/openai.bicep' = if (useAzureOpenAi) {
  name: 'openai'
  scope: rg
  params: {
    name: 'aoai-${resourceToken}'
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    deploymentName: modelDeploymentName
    modelName: modelName
    modelVersion: modelVersion
    versionUpgradeOption: modelVersionUpgradeOption
    skuName: modelSkuName
    capacity: modelCapacity
  }
}

module keyVault 'modules/keyvault.bicep' = if (useKeyVault) {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
  }
}

module providerKeySecret 'modules/keyvault-secret.bicep' = if (useProviderKey) {
  name: 'provider-key-secret'
  scope: rg
  params: {
    vaultName: useKeyVault ? keyVault.outputs.name : ''
    name: 'assistant-provider-api-key'
    value: providerApiKey
    issuer: 'model provider'
  }
}

module webhookSigningSecret 'modules/keyvault-secret.bicep' = if (useWebhooks) {
  name: 'webhook-secret'
  scope: rg
  params: {
    vaultName: useKeyVault ? keyVault.outputs.name : ''
    name: 'assistant-webhook-secret'
    value: webhookSecret
    issuer: 'provider webhook endpoint'
  }
}

module scheduler 'modules/durable-task-scheduler.bicep' = if (useScheduler) {
  name: 'durable-task-scheduler'
  scope: rg
  params: {
    name: 'dts-${resourceToken}'
    location: location
    tags: tags
    taskHubName: taskHubName
    skuName: durableTaskSchedulerSku
  }
}

// --- who may do what ----------------------------------------------------------------------------------------
var appPrincipal = identity.outputs.principalId

var appStorageRoles = [
  {
    // Flex deployment package download and the Functions host/task hub blobs (leases need owner-level rights).
    principalId: appPrincipal
    principalType: 'ServicePrincipal'
    roleDefinitionId: roles.storageBlobDataOwner
  }
  {
    principalId: appPrincipal
    principalType: 'ServicePrincipal'
    roleDefinitionId: roles.storageQueueDataContributor
  }
  {
    principalId: appPrincipal
    principalType: 'ServicePrincipal'
    roleDefinitionId: roles.storageTableDataContributor
  }
]

// The developer reads the task hub in Durable Functions Monitor / Storage Explorer with their own Entra login
// (shared keys are disabled), and runs tools or benchmarks against the deployed account.
var developerStorageRoles = [
  {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: roles.storageBlobDataContributor
  }
  {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: roles.storageQueueDataContributor
  }
  {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: roles.storageTableDataContributor
  }
]

var appOpenAiRoles = [
  {
    principalId: appPrincipal
    principalType: 'ServicePrincipal'
    roleDefinitionId: roles.cognitiveServicesOpenAiUser
  }
]

// Lets a developer point a local run (devhost) at the deployed model with `ASSISTANT_AUTH=entra`.
var developerOpenAiRoles = [
  {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: roles.cognitiveServicesOpenAiUser
  }
]

var appKeyVaultRoles = [
  {
    principalId: appPrincipal
    principalType: 'ServicePrincipal'
    roleDefinitionId: roles.keyVaultSecretsUser
  }
]

var appMonitoringRoles = [
  {
    // Entra-authenticated telemetry ingestion (local auth is disabled on the component).
    principalId: appPrincipal
    principalType: 'ServicePrincipal'
    roleDefinitionId: roles.monitoringMetricsPublisher
  }
]

var appSchedulerRoles = [
  {
    principalId: appPrincipal
    principalType: 'ServicePrincipal'
    roleDefinitionId: roles.durableTaskDataContributor
  }
]

// The scheduler's dashboard shows orchestration history to this role.
var developerSchedulerRoles = [
  {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: roles.durableTaskDataContributor
  }
]

module storageRoles 'modules/roles/storage.bicep' = {
  name: 'storage-roles'
  scope: rg
  params: {
    resourceName: storage.outputs.name
    assignments: concat(appStorageRoles, hasDeveloper ? developerStorageRoles : [])
  }
}

module openAiRoles 'modules/roles/openai.bicep' = if (useAzureOpenAi) {
  name: 'openai-roles'
  scope: rg
  params: {
    resourceName: useAzureOpenAi ? openAi.outputs.name : ''
    assignments: concat(appOpenAiRoles, hasDeveloper ? developerOpenAiRoles : [])
  }
}

module keyVaultRoles 'modules/roles/keyvault.bicep' = if (useKeyVault) {
  name: 'keyvault-roles'
  scope: rg
  params: {
    resourceName: useKeyVault ? keyVault.outputs.name : ''
    assignments: appKeyVaultRoles
  }
}

module monitoringRoles 'modules/roles/monitoring.bicep' = {
  name: 'monitoring-roles'
  scope: rg
  params: {
    resourceName: monitoring.outputs.applicationInsightsName
    assignments: appMonitoringRoles
  }
}

module schedulerRoles 'modules/roles/scheduler.bicep' = if (useScheduler) {
  name: 'scheduler-roles'
  scope: rg
  params: {
    resourceName: useScheduler ? scheduler.outputs.name : ''
    assignments: concat(appSchedulerRoles, hasDeveloper ? developerSchedulerRoles : [])
  }
}

module toolQueues 'modules/tool-queues.bicep' = {
  name: 'tool-queues'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    queuePrefix: toolQueuePrefix
    agentPrincipalId: foundryProjectPrincipalId
  }
}

// --- the app ------------------------------------------------------------------------------------------------
module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  // Roles first: the host's first start already reaches storage, the model, Key Vault and telemetry.
  dependsOn: [
    storageRoles
    openAiRoles
    keyVaultRoles
    monitoringRoles
    schedulerRoles
  ]
  params: {
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstanceCount: alwaysReadyHttpInstanceCount
    alwaysReadyDurableInstanceCount: alwaysReadyDurableInstanceCount
    taskHubName: taskHubName
    durableTaskSchedulerEndpoint: useScheduler ? scheduler.outputs.endpoint : ''
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    assistantProvider: assistantProvider
    assistantBaseUrl: useAzureOpenAi ? openAi.outputs.v1BaseUrl : providerBaseUrl
    assistantModel: useAzureOpenAi ? openAi.outputs.deploymentName : providerModel
    assistantEntraScope: assistantEntraScope
    assistantAgentId: assistantAgentId
    assistantInstructions: assistantInstructions
    storagePrefix: storagePrefix
    providerApiKeySecretUri: useProviderKey ? providerKeySecret.outputs.uri : ''
    turnDeadlineSeconds: turnDeadlineSeconds
    maxMessageChars: maxMessageChars
    maxToolOutputChars: maxToolOutputChars
    pollIntervalSeconds: pollIntervalSeconds
    pollFirstSeconds: pollFirstSeconds
    pollGrowth: pollGrowth
    pollMaxSeconds: pollMaxSeconds
    firstLookSeconds: firstLookSeconds
    webhookPollSeconds: webhookPollSeconds
    webhookSecretUri: useWebhooks ? webhookSigningSecret.outputs.uri : ''
    toolModules: toolModules
    toolQueuePrefix: toolQueuePrefix
    assistantRunTools: assistantRunTools
    exposeDurableUrls: exposeDurableUrls
    approvalRequired: approvalRequired
    approvalTimeoutSeconds: approvalTimeoutSeconds
    approvers: approvers
    retentionDays: retentionDays
    retentionSchedule: retentionSchedule
  }
}

// --- azd outputs (become `azd env get-values`) ----------------------------------------------------------------
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output TOOL_QUEUE_SERVICE_ENDPOINT string = storage.outputs.queueEndpoint
output DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_HUB_NAME string = taskHubName
output DURABLE_TASK_SCHEDULER_ENDPOINT string = useScheduler ? scheduler.outputs.endpoint : ''
output ASSISTANT_BASE_URL string = useAzureOpenAi ? openAi.outputs.v1BaseUrl : providerBaseUrl
output ASSISTANT_MODEL string = useAzureOpenAi ? openAi.outputs.deploymentName : providerModel
output AZURE_OPENAI_NAME string = useAzureOpenAi ? openAi.outputs.name : ''
output AZURE_KEY_VAULT_NAME string = useKeyVault ? keyVault.outputs.name : ''
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
