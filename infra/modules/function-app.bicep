// The Function App on the Flex Consumption plan (FC1, Linux, Python 3.11) and every app setting it runs with.
// The app settings below are the contract with durable_assistant/config.py (SETTING_NAMES):
// tests/infra/test_app_settings_drift.py parses this file and fails when the two drift apart.

@description('Function App name (also its default host name).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('azd service name; azd finds the app to deploy to by this tag.')
param azdServiceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (host connections, DefaultAzureCredential, telemetry).')
param identityClientId string

// --- storage -------------------------------------------------------------------------------------------------
@description('Storage account of the host, the task hub and the app data.')
param storageAccountName string

@description('Blob endpoint of that account, e.g. https://NAME.blob.core.windows.net/.')
param storageBlobEndpoint string

@description('Queue endpoint of that account.')
param storageQueueEndpoint string

@description('Table endpoint of that account.')
param storageTableEndpoint string

@description('URL of the blob container the Flex plan deploys the app package from.')
param deploymentContainerUrl string

// --- scale ---------------------------------------------------------------------------------------------------
@description('Memory per instance in MB (Flex Consumption sizes).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Upper bound on instances the app scales out to (40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Always-ready instances for the HTTP trigger group (0 = scale to zero; each ready instance is billed while idle).')
@minValue(0)
param alwaysReadyHttpInstanceCount int

@description('Always-ready instances for the Durable Functions group (orchestrators, activities, entities).')
@minValue(0)
param alwaysReadyDurableInstanceCount int

// --- durable backend -----------------------------------------------------------------------------------------
@description('Task hub name (TASKHUB_NAME); also forced into host.json through the documented app-setting override.')
param taskHubName string

@description('Durable Task Scheduler endpoint; empty keeps the Azure Storage backend.')
param durableTaskSchedulerEndpoint string = ''

// --- monitoring ----------------------------------------------------------------------------------------------
@description('Application Insights connection string (carries no secret; ingestion is Entra-only).')
param applicationInsightsConnectionString string

// --- assistant (defaults live in main.bicep only; tests/infra checks them against the app) --------------------
@description('ASSISTANT_PROVIDER: responses (default), threads (Foundry Agent Service classic) or chat.')
@allowed([
  'responses'
  'threads'
  'chat'
])
param assistantProvider string

@description('ASSISTANT_BASE_URL: the OpenAI-compatible base URL.')
param assistantBaseUrl string

@description('ASSISTANT_MODEL: model or deployment name.')
param assistantModel string

@description('ASSISTANT_ENTRA_SCOPE: token scope when no provider key is given.')
param assistantEntraScope string

@description('ASSISTANT_AGENT_ID: agent id for the threads provider; omitted when empty.')
param assistantAgentId string = ''

@description('ASSISTANT_INSTRUCTIONS: system instructions; omitted when empty so the app default applies.')
param assistantInstructions string = ''

@description('ASSISTANT_STORAGE_PREFIX: prefix of the table and container names of the app; omitted when empty.')
param storagePrefix string = ''

@description('Versionless Key Vault secret URI of a provider API key; empty means Entra ID auth and no key anywhere.')
param providerApiKeySecretUri string = ''

@description('ASSISTANT_TURN_DEADLINE_SECONDS (number as text).')
param turnDeadlineSeconds string

@description('ASSISTANT_MAX_MESSAGE_CHARS (number as text).')
param maxMessageChars string

@description('ASSISTANT_MAX_TOOL_OUTPUT_CHARS (number as text).')
param maxToolOutputChars string

@description('ASSISTANT_POLL_INTERVAL_SECONDS (number as text).')
param pollIntervalSeconds string

@description('ASSISTANT_POLL_FIRST_SECONDS (number as text).')
param pollFirstSeconds string

@description('ASSISTANT_POLL_GROWTH (number as text).')
param pollGrowth string

@description('ASSISTANT_POLL_MAX_SECONDS (number as text).')
param pollMaxSeconds string

@description('ASSISTANT_FIRST_LOOK_SECONDS (number as text).')
param firstLookSeconds string

@description('ASSISTANT_WEBHOOK_POLL_SECONDS (number as text).')
param webhookPollSeconds string

@description('Key Vault secret URI of the webhook signing secret (empty: no provider webhooks).')
param webhookSecretUri string = ''

@description('ASSISTANT_TOOL_MODULES (empty: the built-in tools only).')
param toolModules string = ''

@description('ASSISTANT_RETENTION_DAYS (number as text; 0 keeps conversations forever).')
param retentionDays string

@description('ASSISTANT_RETENTION_SCHEDULE (6-field NCRONTAB of the retention sweep\'s timer trigger).')
param retentionSchedule string

@description('ASSISTANT_TOOL_QUEUE_PREFIX: names of the tools\' Storage queues (modules/tool-queues.bicep creates them).')
param toolQueuePrefix string = 'tool'

@description('ASSISTANT_RUN_TOOLS: app or agent (threads provider: whose tools a run uses).')
@allowed([
  'app'
  'agent'
])
param assistantRunTools string = 'app'

@description('ASSISTANT_EXPOSE_DURABLE_URLS: true or false (the Durable management URLs in the 202 of a message).')
@allowed([
  'true'
  'false'
])
param exposeDurableUrls string = 'false'

@description('ASSISTANT_APPROVAL_REQUIRED: side_effects, all, none, or comma-separated tool names.')
param approvalRequired string = 'side_effects'

@description('ASSISTANT_APPROVAL_TIMEOUT_SECONDS: a call nobody decided on this long is denied.')
param approvalTimeoutSeconds string = '600'

@description('ASSISTANT_APPROVERS: comma-separated principal names allowed to decide (empty: any caller with the key).')
param approvers string = ''

var serviceTag = {
  'azd-service-name': azdServiceName
}

var useScheduler = !empty(durableTaskSchedulerEndpoint)
var useProviderKey = !empty(providerApiKeySecretUri)

// Identity-based host storage: no AzureWebJobsStorage connection string (shared keys are disabled on the
// account). The Durable Functions Azure Storage provider and the app's own SDK clients read the same settings.
var hostStorageSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
}

var identitySettings = {
  // DefaultAzureCredential in the app (storage clients, ASSISTANT_AUTH=entra) picks the user-assigned identity.
  AZURE_CLIENT_ID: identityClientId
}

var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

var durableSettings = {
  TASKHUB_NAME: taskHubName
  // Overrides extensions.durableTask.hubName of host.json, so the hub azd reports is the hub the host uses.
  AzureFunctionsJobHost__extensions__durableTask__hubName: taskHubName
}

// The scheduler is selected in the deployed host.json (storageProvider azureManaged, written by the prepackage
// hook in scripts/deploy/azd_hooks.py), never by an app-setting override: the platform's scale controller reads
// the durable settings from host.json, and would otherwise scale the app on Azure Storage queues the scheduler
// never fills.
var schedulerSettings = {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
}

var assistantSettings = {
  ASSISTANT_PROVIDER: assistantProvider
  ASSISTANT_BASE_URL: assistantBaseUrl
  ASSISTANT_MODEL: assistantModel
  ASSISTANT_AUTH: useProviderKey ? 'key' : 'entra'
  ASSISTANT_ENTRA_SCOPE: assistantEntraScope
  ASSISTANT_TURN_DEADLINE_SECONDS: turnDeadlineSeconds
  ASSISTANT_MAX_MESSAGE_CHARS: maxMessageChars
  ASSISTANT_MAX_TOOL_OUTPUT_CHARS: maxToolOutputChars
  ASSISTANT_POLL_INTERVAL_SECONDS: pollIntervalSeconds
  ASSISTANT_POLL_FIRST_SECONDS: pollFirstSeconds
  ASSISTANT_POLL_GROWTH: pollGrowth
  ASSISTANT_POLL_MAX_SECONDS: pollMaxSeconds
  ASSISTANT_FIRST_LOOK_SECONDS: firstLookSeconds
  ASSISTANT_WEBHOOK_POLL_SECONDS: webhookPollSeconds
  ASSISTANT_TOOL_MODULES: toolModules
  ASSISTANT_TOOL_QUEUE_PREFIX: toolQueuePrefix
  ASSISTANT_RUN_TOOLS: assistantRunTools
  ASSISTANT_EXPOSE_DURABLE_URLS: exposeDurableUrls
  ASSISTANT_APPROVAL_REQUIRED: approvalRequired
  ASSISTANT_APPROVAL_TIMEOUT_SECONDS: approvalTimeoutSeconds
  ASSISTANT_APPROVERS: approvers
  ASSISTANT_RETENTION_DAYS: retentionDays
  ASSISTANT_RETENTION_SCHEDULE: retentionSchedule
}

var webhookSettings = {
  // Resolved by the platform with keyVaultReferenceIdentity, like the provider key.
  ASSISTANT_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${webhookSecretUri})'
}

var providerKeySettings = {
  // Resolved by the platform with keyVaultReferenceIdentity; the key itself never appears in app settings.
  ASSISTANT_API_KEY: '@Microsoft.KeyVault(SecretUri=${providerApiKeySecretUri})'
}

var agentSettings = {
  ASSISTANT_AGENT_ID: assistantAgentId
}

var instructionSettings = {
  ASSISTANT_INSTRUCTIONS: assistantInstructions
}

var storagePrefixSettings = {
  ASSISTANT_STORAGE_PREFIX: storagePrefix
}

var appSettings = union(
  hostStorageSettings,
  identitySettings,
  monitoringSettings,
  durableSettings,
  useScheduler ? schedulerSettings : {},
  assistantSettings,
  useProviderKey ? providerKeySettings : {},
  empty(webhookSecretUri) ? {} : webhookSettings,
  empty(assistantAgentId) ? {} : agentSettings,
  empty(assistantInstructions) ? {} : instructionSettings,
  empty(storagePrefix) ? {} : storagePrefixSettings
)

var httpAlwaysReady = [
  {
    name: 'http'
    instanceCount: alwaysReadyHttpInstanceCount
  }
]

var durableAlwaysReady = [
  {
    name: 'durable'
    instanceCount: alwaysReadyDurableInstanceCount
  }
]

// Always-ready groups: 'http' serves the HTTP starter/status endpoints without a cold start, 'durable' keeps an
// orchestrator/activity worker warm. Each ready instance is billed while idle.
var alwaysReady = concat(alwaysReadyHttpInstanceCount > 0 ? httpAlwaysReady : [], alwaysReadyDurableInstanceCount > 0 ? durableAlwaysReady : [])

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy is region-dependent and bills always-ready capacity in every zone; turn it on per region for production (see docs/deploy.md).
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: The app's HTTP API (start a turn, read its status) is its product and must be reachable; function keys guard the endpoints. Private endpoints are a documented hardening step.
  // checkov:skip=CKV_AZURE_17: Callers authenticate with function keys (or Easy Auth, see docs/deploy.md); mutual TLS would require distributing client certificates to every chat client.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales instances itself (no App Service instance count); warm capacity is the alwaysReady*InstanceCount parameters.
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not support the App Service health check feature; the platform replaces unhealthy instances.
  name: name
  location: location
  tags: union(tags, serviceTag)
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        alwaysReady: alwaysReady
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov evaluates every sites/config resource as if it were the 'web' config; this one is 'appsettings', which has none of those properties:
  // checkov:skip=CKV_AZURE_13: Not the 'web' config. HTTP endpoints use function keys; add Easy Auth (authsettingsV2) for user sign-in, see docs/deploy.md.
  // checkov:skip=CKV_AZURE_63: Not the 'web' config. App Service HTTP logs do not exist on Flex Consumption; requests are logged to Application Insights.
  // checkov:skip=CKV_AZURE_65: Not the 'web' config. Detailed error pages are an IIS feature; failures go to Application Insights.
  // checkov:skip=CKV_AZURE_66: Not the 'web' config. Failed request tracing is an IIS feature; failed requests go to Application Insights.
  // checkov:skip=CKV_AZURE_80: Not the 'web' config, and the app is Python, not .NET Framework.
  // checkov:skip=CKV_AZURE_88: Not the 'web' config. Flex Consumption uses no Azure Files content share; the package comes from the deployment blob container.
  // checkov:skip=CKV_AZURE_222: Not the 'web' config; public network access is set on the site (see its suppression).
  parent: site
  name: 'appsettings'
  properties: appSettings
}

// Publishing with user/site credentials (basic auth) is off: azd deploys with an Entra token.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
