import BuildRiskContracts
import BuildRiskRuntime

// The service's domain arrives with its pipeline issue; until then it runs the shared runtime:
// its schema and migrations, its job queue and outbox, health, readiness, metrics and admin.
await ServiceMain.run(ServiceDefinition(service: .ingestor))
