import BuildRiskContracts
import Testing

/// The one owner/name rule every service applies, and the one CI-provider rule.
struct RepositoryNameTests {
    @Test(arguments: ["acme/app", "Acme-Corp/app.js", "a_b/c-d.e", "0/9"])
    func gitHubNamesAreAccepted(name: String) {
        #expect(RepositoryName.isValid(name))
    }

    @Test(arguments: ["acme", "/app", "acme/", "a/b/c", "a//b", "a b/c", "acme/app ", "ä/b", "acme/app\n", "acme/@pp", ""])
    func anythingElseIsRefused(name: String) {
        #expect(!RepositoryName.isValid(name))
    }

    @Test func onlyGitHubActionsImportsAreAvailable() {
        #expect(CIProvider.githubActions.importRefusal == nil)
        #expect(CIProvider.travis.importRefusal == "travis imports are not available yet; github_actions is")
        #expect(CIProvider.circleci.importRefusal != nil)
    }
}
