import Foundation
import TakeoverLab
import Testing

@testable import TakeoverEngine

/// The repository root, from this file's path.
private let repositoryRoot: String = {
    var path = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    path.removeLast(4)  // Tests/TakeoverEngineTests/Operations/<file>
    return path.joined(separator: "/")
}()

/// Validates `json` against docs/status.schema.json with Debian's python3-jsonschema; the violations, empty when valid.
func statusSchemaViolations(_ json: Data) throws -> String? {
    let file = NSTemporaryDirectory() + "status-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
    try json.write(to: URL(fileURLWithPath: file))
    defer { try? FileManager.default.removeItem(atPath: file) }
    let result = try LabProcess.run(
        ["\(repositoryRoot)/scripts/validate-json-schema", "\(repositoryRoot)/docs/status.schema.json", file],
        timeout: .seconds(30))
    return result.status == 0 ? nil : result.standardOutput + result.standardError
}

@Suite("status --json: the documented schema")
struct StatusSchemaTests {
    func encoded(_ report: StatusReport) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(report)
    }

    @Test("a report with every optional part validates against docs/status.schema.json")
    func fullReport() throws {
        let violations = try statusSchemaViolations(try encoded(.sample))
        #expect(violations == nil, "\(violations ?? "")")
    }

    @Test("a report with no optional parts validates too (absent fields are omitted, never null)")
    func minimalReport() throws {
        var report = StatusReport.sample
        report.sessions = nil
        report.lastFailover = nil
        report.groups[0].peer = nil
        report.paths[0].xdp = nil
        report.paths[0].xdpUnavailableReason = "capture = pcap in the configuration"
        let json = try encoded(report)
        #expect(!String(decoding: json, as: UTF8.self).contains("null"))
        let violations = try statusSchemaViolations(json)
        #expect(violations == nil, "\(violations ?? "")")
    }

    @Test("the schema is strict: an unknown field, a missing one, a wrong type and an unknown state are each caught")
    func strict() throws {
        let valid = try JSONSerialization.jsonObject(with: try encoded(.sample)) as! [String: Any]
        var unknownField = valid
        unknownField["uptime"] = 5
        var missing = valid
        missing["heartbeats"] = nil
        var wrongType = valid
        var controller = valid["controller"] as! [String: Any]
        controller["ticks"] = "ten"
        wrongType["controller"] = controller
        var badState = valid
        var groups = valid["groups"] as! [[String: Any]]
        groups[0]["state"] = "master"
        badState["groups"] = groups
        for (name, document) in [("unknown field", unknownField), ("missing", missing), ("wrong type", wrongType), ("bad state", badState)] {
            let violations = try statusSchemaViolations(try JSONSerialization.data(withJSONObject: document))
            #expect(violations != nil, "\(name) passed the schema")
        }
    }
}
