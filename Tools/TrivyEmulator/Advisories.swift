/// One advisory of the emulator's table: every installed version below `fixed` (and at or above
/// `introduced`, when given) is affected.
struct Advisory: Sendable {
    var ecosystem: String
    var package: String
    var id: String
    var severity: String
    var introduced: String?
    var fixed: String
    var title: String
}

/// A small advisory table modelled on real, well-known advisories, so that a lock file with an old
/// version of a popular package gets the findings a user of Trivy would recognise. It is not
/// Trivy's database: a few packages per ecosystem, one fixed version each.
let advisories: [Advisory] = [
    Advisory(ecosystem: "npm", package: "lodash", id: "CVE-2019-10744", severity: "CRITICAL", fixed: "4.17.12", title: "lodash: prototype pollution in defaultsDeep function leading to modifying properties"),
    Advisory(ecosystem: "npm", package: "lodash", id: "CVE-2020-8203", severity: "HIGH", fixed: "4.17.19", title: "nodejs-lodash: prototype pollution in zipObjectDeep function"),
    Advisory(ecosystem: "npm", package: "lodash", id: "CVE-2021-23337", severity: "HIGH", fixed: "4.17.21", title: "nodejs-lodash: command injection via template"),
    Advisory(ecosystem: "npm", package: "minimist", id: "CVE-2021-44906", severity: "CRITICAL", fixed: "1.2.6", title: "minimist: prototype pollution"),
    Advisory(ecosystem: "npm", package: "axios", id: "CVE-2020-28168", severity: "MEDIUM", fixed: "0.21.1", title: "nodejs-axios: Server-Side Request Forgery (SSRF)"),
    Advisory(ecosystem: "npm", package: "debug", id: "CVE-2017-16137", severity: "LOW", fixed: "2.6.9", title: "nodejs-debug: Regular expression Denial of Service"),
    Advisory(ecosystem: "pip", package: "django", id: "CVE-2022-34265", severity: "CRITICAL", introduced: "3.2", fixed: "3.2.14", title: "Django: SQL injection via Trunc(kind) and Extract(lookup_name) arguments"),
    Advisory(ecosystem: "pip", package: "pyyaml", id: "CVE-2020-14343", severity: "CRITICAL", fixed: "5.4", title: "PyYAML: incomplete fix for CVE-2020-1747"),
    Advisory(ecosystem: "pip", package: "requests", id: "CVE-2023-32681", severity: "MEDIUM", fixed: "2.31.0", title: "python-requests: Unintended leak of Proxy-Authorization header"),
    Advisory(ecosystem: "pip", package: "jinja2", id: "CVE-2020-28493", severity: "MEDIUM", fixed: "2.11.3", title: "python-jinja2: ReDoS vulnerability in the urlize filter"),
    Advisory(ecosystem: "pip", package: "urllib3", id: "CVE-2021-33503", severity: "HIGH", fixed: "1.26.5", title: "python-urllib3: ReDoS in the parsing of authority component of URL"),
    Advisory(ecosystem: "gomod", package: "golang.org/x/text", id: "CVE-2022-32149", severity: "HIGH", fixed: "0.3.8", title: "golang: golang.org/x/text/language: ParseAcceptLanguage takes a long time to parse complex tags"),
    Advisory(ecosystem: "gomod", package: "github.com/gin-gonic/gin", id: "CVE-2023-29401", severity: "MEDIUM", fixed: "1.9.1", title: "gin: Gin Web Framework does not properly sanitize filename parameter of Context.FileAttachment function"),
    Advisory(ecosystem: "gomod", package: "golang.org/x/net", id: "CVE-2022-41723", severity: "HIGH", fixed: "0.7.0", title: "net/http, golang.org/x/net/http2: avoid quadratic complexity in HPACK decoding"),
    Advisory(ecosystem: "bundler", package: "nokogiri", id: "CVE-2022-29181", severity: "HIGH", fixed: "1.13.6", title: "nokogiri: Improper Handling of Unexpected Data Type"),
    Advisory(ecosystem: "bundler", package: "rack", id: "CVE-2022-30122", severity: "HIGH", fixed: "2.2.3.1", title: "rubygem-rack: crafted multipart POST request may cause a DoS"),
    Advisory(ecosystem: "cargo", package: "smallvec", id: "CVE-2021-25900", severity: "CRITICAL", introduced: "0.6.3", fixed: "0.6.14", title: "smallvec: Buffer overflow in SmallVec::insert_many"),
]

/// Orders versions the way package managers mostly agree on: numeric parts as numbers, a leading `v`
/// ignored (`v0.3.7` < `0.3.8` < `0.3.10`), a shorter version before its extensions (`2.2.3` < `2.2.3.1`).
func versionLess(_ left: String, _ right: String) -> Bool {
    func parts(_ version: String) -> [Substring] {
        let trimmed = version.hasPrefix("v") ? version.dropFirst() : Substring(version)
        return trimmed.split(whereSeparator: { $0 == "." || $0 == "-" || $0 == "+" })
    }
    let (a, b) = (parts(left), parts(right))
    for index in 0..<max(a.count, b.count) {
        guard index < a.count else { return true }
        guard index < b.count else { return false }
        if let x = Int(a[index]), let y = Int(b[index]) {
            if x != y { return x < y }
        } else if a[index] != b[index] {
            return a[index] < b[index]
        }
    }
    return false
}

func affecting(ecosystem: String, package: String, version: String) -> [Advisory] {
    let name = ecosystem == "pip" ? package.lowercased().replacingOccurrences(of: "_", with: "-") : package
    return advisories.filter { advisory in
        advisory.ecosystem == ecosystem && advisory.package == name && versionLess(version, advisory.fixed)
            && !(advisory.introduced.map { versionLess(version, $0) } ?? false)
    }
}
