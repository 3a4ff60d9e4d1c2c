import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import SonarQubeEmulatorCore

// sonar-scanner-emulator: stands in for SonarSource's `sonar-scanner` CLI. Reads the same `-D`
// properties, analyses the sources (SonarSourceAnalysis), submits the analysis to the server's
// api/ce/submit and writes `report-task.txt` in the working directory as the real scanner does.
//
//   sonar-scanner-emulator -Dsonar.projectKey=K -Dsonar.host.url=URL [-Dsonar.token=T] [-Dsonar.sources=.]
//                          [-Dsonar.projectBaseDir=DIR] [-Dsonar.working.directory=DIR] [-Dsonar.analysis.x=y ...]

func fail(_ message: String) -> Never {
    print("ERROR: \(message)")
    print("ERROR: EXECUTION FAILURE")
    exit(2)
}

var properties: [String: String] = [:]
for argument in CommandLine.arguments.dropFirst() {
    guard argument.hasPrefix("-D"), let equals = argument.firstIndex(of: "=") else {
        if argument == "-X" || argument == "--debug" { continue }
        fail("Unrecognized option: \(argument)")
    }
    properties[String(argument[argument.index(argument.startIndex, offsetBy: 2)..<equals])] = String(argument[argument.index(after: equals)...])
}
guard let projectKey = properties["sonar.projectKey"], !projectKey.isEmpty else {
    fail("You must define the following mandatory properties for 'Unknown': sonar.projectKey")
}
let hostURL = (properties["sonar.host.url"] ?? "http://localhost:9000").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
let baseDirectory = properties["sonar.projectBaseDir"] ?? FileManager.default.currentDirectoryPath
var isDirectory: ObjCBool = false
guard FileManager.default.fileExists(atPath: baseDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
    fail("The folder '\(baseDirectory)' does not exist")
}
let sources = (properties["sonar.sources"] ?? ".").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
for source in sources where source != "." && !FileManager.default.fileExists(atPath: baseDirectory + "/" + source) {
    fail("Invalid value of sonar.sources for \(projectKey): the folder '\(source)' does not exist")
}
let workingDirectory = properties["sonar.working.directory"] ?? baseDirectory + "/.scannerwork"
let token = properties["sonar.token"] ?? properties["sonar.login"]

print("INFO: Project root configuration file: NONE")
print("INFO: Analyzing on SonarQube server (emulator) at \(hostURL)")
let measures = SonarSourceAnalysis.analyse(directory: baseDirectory, sources: sources)
print("INFO: \(Int(measures["files"] ?? 0)) files indexed")
let report = SonarAnalysisReport(
    projectKey: projectKey, projectName: properties["sonar.projectName"] ?? projectKey,
    properties: properties.filter { $0.key.hasPrefix("sonar.analysis.") }, measures: measures)

var components = URLComponents()
components.queryItems = [URLQueryItem(name: "projectKey", value: projectKey), URLQueryItem(name: "projectName", value: report.projectName)]
var request = HTTPClientRequest(url: "\(hostURL)/api/ce/submit?\(components.percentEncodedQuery ?? "")")
request.method = .POST
request.headers.add(name: "Content-Type", value: "application/json")
if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(report)))
let taskID: String
do {
    // async-http-client retries a refused connection until the deadline; the real scanner gives up
    // sooner than a minute, and so does this one.
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
    let body = try await response.body.collect(upTo: 1 << 20)
    switch response.status.code {
    case 200:
        struct Submitted: Decodable { var taskId: String }
        taskID = try JSONDecoder().decode(Submitted.self, from: body).taskId
    case 401, 403:
        fail("Not authorized. Please check the user token in the property 'sonar.token' or the environment variable 'SONAR_TOKEN'.")
    default:
        fail("Error \(response.status.code) on \(hostURL)/api/ce/submit : \(String(buffer: body))")
    }
} catch {
    fail("SonarQube server [\(hostURL)] can not be reached: \(error)")
}
let taskURL = "\(hostURL)/api/ce/task?id=\(taskID)"
let lines = [
    "projectKey=\(projectKey)", "serverUrl=\(hostURL)", "serverVersion=10.7.0.96327",
    "dashboardUrl=\(hostURL)/dashboard?id=\(projectKey)", "ceTaskId=\(taskID)", "ceTaskUrl=\(taskURL)",
]
do {
    try FileManager.default.createDirectory(atPath: workingDirectory, withIntermediateDirectories: true)
    try (lines.joined(separator: "\n") + "\n").write(toFile: workingDirectory + "/report-task.txt", atomically: true, encoding: .utf8)
} catch {
    fail("Unable to write \(workingDirectory)/report-task.txt: \(error)")
}
print("INFO: Analysis report uploaded")
print("INFO: More about the report processing at \(taskURL)")
print("INFO: EXECUTION SUCCESS")
