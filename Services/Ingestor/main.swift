import BuildRiskRuntime
import IngestorCore

await ServiceMain.run(IngestorService.definition)
