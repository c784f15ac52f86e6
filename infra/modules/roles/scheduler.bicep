// Role assignments scoped to one Durable Task Scheduler. Bicep needs a typed resource as the scope of a role assignment, so
// there is one of these small modules per resource type; main.bicep lists who gets which role.

@description('Name of the Durable Task Scheduler in this resource group.')
param resourceName string

@description('Assignments: objects with principalId, principalType (ServicePrincipal, User or Group) and roleDefinitionId (the built-in role GUID).')
param assignments array

resource target 'Microsoft.DurableTask/schedulers@2025-11-01' existing = {
  name: resourceName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in assignments: {
    name: guid(target.id, a.principalId, a.roleDefinitionId)
    scope: target
    properties: {
      principalId: a.principalId
      principalType: a.principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleDefinitionId)
    }
  }
]
