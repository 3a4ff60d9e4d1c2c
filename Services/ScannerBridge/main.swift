import BuildRiskRuntime
import ScannerBridgeCore

await ServiceMain.run(ScannerBridgeService.definition)
