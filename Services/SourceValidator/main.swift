import BuildRiskGitHub
import BuildRiskRuntime
import Foundation
import SourceValidatorCore

await ServiceMain.run(SourceValidatorService.definition(github: GitHubConfiguration(environment: ProcessInfo.processInfo.environment)))
