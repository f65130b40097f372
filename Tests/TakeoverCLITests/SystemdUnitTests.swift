import Foundation
import TakeoverLab
import Testing

@testable import takeover

@Suite("packaging/systemd/takeover.service")
struct SystemdUnitTests {
    static let unitPath = "\(repositoryRoot)/packaging/systemd/takeover.service"

    /// `key=value` lines of the [Service] section.
    func serviceSettings() throws -> [(key: String, value: String)] {
        let text = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        var section = ""
        var settings: [(String, String)] = []
        for line in text.split(separator: "\n").map(String.init) where !line.hasPrefix("#") {
            if line.hasPrefix("[") {
                section = line
            } else if section == "[Service]", let equals = line.firstIndex(of: "=") {
                settings.append((String(line[..<equals]), String(line[line.index(after: equals)...])))
            }
        }
        return settings
    }

    @Test("systemd-analyze verify accepts it (with ExecStart pointed at the built binary); exposure stays below 5")
    func verify() throws {
        let available = (try? LabProcess.run(["systemd-analyze", "--version"], timeout: .seconds(10)).status) == 0
        try #require(available, "systemd-analyze is part of Debian's systemd package, which this machine has")
        let scratch = try ScratchDirectory()
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/takeover", with: takeoverExecutable)
        let file = try scratch.file("takeover.service", unit)
        let verify = try LabProcess.run(["systemd-analyze", "verify", file], timeout: .seconds(30))
        #expect(verify.status == 0 && verify.standardError.isEmpty, "\(verify.standardError)")
        let security = try LabProcess.run(["systemd-analyze", "security", "--offline=true", file], timeout: .seconds(30))
        let exposureLine = security.standardOutput.split(separator: "\n").first { $0.contains("Overall exposure level") }
        let exposure = exposureLine.flatMap { line in
            line.split(separator: " ").compactMap { Double($0) }.first
        }
        #expect(exposure.map { $0 < 5 } == true, "\(security.standardOutput.suffix(400))")
    }

    @Test("the daemon's commands parse; capabilities are exactly the four the lab test runs with; hardening is on")
    func fields() throws {
        let settings = try serviceSettings()
        func value(_ key: String) -> String? { settings.last { $0.key == key }?.value }
        #expect(value("Type") == "simple" && value("KillSignal") == "SIGTERM")
        for key in ["ExecStart", "ExecStartPre"] {
            let command = try #require(value(key)).split(separator: " ").map(String.init)
            #expect(command.first == "/usr/local/bin/takeover")
            #expect(throws: Never.self) { try TakeoverCommand.parseAsRoot(Array(command.dropFirst())) }
        }
        #expect(value("CapabilityBoundingSet") == "CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_PERFMON CAP_SYS_NICE")
        #expect(value("AmbientCapabilities") == "")
        #expect(value("RuntimeDirectory") == "takeover" && value("RuntimeDirectoryMode") == "0700")
        for key in ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                    "ProtectKernelModules", "ProtectControlGroups", "RestrictNamespaces", "MemoryDenyWriteExecute"] {
            #expect(value(key) == "yes", "\(key)")
        }
        #expect(value("ProtectSystem") == "strict")
    }
}
