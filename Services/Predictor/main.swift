import BuildRiskRuntime
import PredictorCore

await ServiceMain.run(PredictorService.definition)
