import BuildRiskGitHub
import BuildRiskRuntime
import Foundation
import IngestorCore

let environment = ProcessInfo.processInfo.environment
await ServiceMain.run(IngestorService.definition(github: GitHubConfiguration(environment: environment), configuration: IngestorConfiguration(environment: environment)))
