// Durable Task Scheduler: the managed Durable Functions backend, used only when durableBackend is
// 'DurableTaskScheduler'. Azure Storage stays the default because Durable Functions Monitor reads task hubs from
// Azure Storage; the scheduler has its own dashboard instead.

@description('Scheduler name (3-64 letters, digits and hyphens).')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the scheduler.')
param tags object = {}

@description('Task hub name (the same value goes to TASKHUB_NAME).')
param taskHubName string

@description('Consumption (pay per action) or Dedicated (reserved capacity units).')
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

@description('Capacity units for the Dedicated SKU (ignored for Consumption).')
@minValue(1)
param dedicatedCapacity int = 1

@description('Client IP ranges allowed to reach the scheduler; an empty list blocks all traffic. Access still needs an Entra token and a Durable Task role.')
param ipAllowlist array = [
  '0.0.0.0/0'
]

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    ipAllowlist: ipAllowlist
    sku: skuName == 'Dedicated' ? { name: skuName, capacity: dedicatedCapacity } : { name: skuName }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

output name string = scheduler.name
output id string = scheduler.id
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
