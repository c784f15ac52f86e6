// The app's tools as Foundry Agent Service azure_function tools: one input and one output Storage queue per tool
// (named like the app names them: ASSISTANT_TOOL_QUEUE_PREFIX, see durable_assistant/tools/_queues.py), plus the
// input queue's poison queue, and the agent service's access to exactly these queues. The service puts calls on
// the input queue and reads answers from the output queue with its own identity (standard agent setup: the
// Foundry project's managed identity), so it gets Storage Queue Data Contributor on each tool queue only, never
// on the account (which also holds the Functions host's and the task hub's queues).

@description('Name of the storage account in this resource group (the Functions host account: AzureWebJobsStorage).')
param storageAccountName string

@description('ASSISTANT_TOOL_QUEUE_PREFIX: queues are {prefix}-{tool with dashes}-input / -output.')
@minLength(1)
@maxLength(20)
param queuePrefix string = 'tool'

@description('The tools the app registers (durable_assistant.tools.default_registry); a test keeps this list in step.')
param toolNames array = [
  'analyze_metrics'
  'get_customer_info'
  'get_weather'
  'set_lamp'
  'set_lamp_brightness'
]

@description('Principal id of the identity that calls the tools (the Foundry project\'s managed identity); empty creates the queues without granting access.')
param agentPrincipalId string = ''

@description('Kind of agentPrincipalId.')
@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param agentPrincipalType string = 'ServicePrincipal'

// Storage Queue Data Contributor: put messages (input), read and delete them (output).
var queueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var grantAgent = !empty(agentPrincipalId)
var slugs = [for t in toolNames: replace(toLower(t), '_', '-')]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource inputQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for slug in slugs: {
    parent: queueService
    name: '${queuePrefix}-${slug}-input'
  }
]

resource outputQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for slug in slugs: {
    parent: queueService
    name: '${queuePrefix}-${slug}-output'
  }
]

// Where the host moves input messages it could not process (no CorrelationId) after maxDequeueCount attempts.
resource poisonQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for slug in slugs: {
    parent: queueService
    name: '${queuePrefix}-${slug}-input-poison'
  }
]

resource agentInputAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (slug, i) in slugs: if (grantAgent) {
    name: guid(inputQueues[i].id, agentPrincipalId, queueDataContributor)
    scope: inputQueues[i]
    properties: {
      principalId: agentPrincipalId
      principalType: agentPrincipalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
    }
  }
]

resource agentOutputAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (slug, i) in slugs: if (grantAgent) {
    name: guid(outputQueues[i].id, agentPrincipalId, queueDataContributor)
    scope: outputQueues[i]
    properties: {
      principalId: agentPrincipalId
      principalType: agentPrincipalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
    }
  }
]

@description('Input queue names, in toolNames order.')
output inputQueueNames array = [for slug in slugs: '${queuePrefix}-${slug}-input']

@description('Output queue names, in toolNames order.')
output outputQueueNames array = [for slug in slugs: '${queuePrefix}-${slug}-output']
