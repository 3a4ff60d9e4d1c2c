import BuildRiskRuntime
import GatewayCore

await ServiceMain.run(GatewayService.definition)
