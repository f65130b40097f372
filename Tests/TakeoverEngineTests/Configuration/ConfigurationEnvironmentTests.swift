import Foundation
import TakeoverCore
import Testing

@testable import TakeoverEngine

private let ownMAC = MACAddress(0x02, 0x00, 0x5E, 0x00, 0x53, 0x0B)

/// Pass 2 against environments answered from a table.
@Suite("Configuration environment checks")
struct ConfigurationEnvironmentTests {
    private func check(_ environment: FakeEnvironment) throws -> Result<EngineConfiguration, ConfigurationErrors> {
        try check(minimalConfiguration, environment)
    }

    private func check(_ text: String, _ environment: FakeEnvironment) throws -> Result<
        EngineConfiguration, ConfigurationErrors
    > {
        let parsed = try ConfigurationLoader.parse(text)
        return Result { () throws(ConfigurationErrors) in try ConfigurationLoader.checkEnvironment(parsed, environment)
        }
    }

    private func problems(_ result: Result<EngineConfiguration, ConfigurationErrors>) -> [String] {
        guard case .failure(let errors) = result else { return [] }
        return errors.problems.map(\.description)
    }

    private var matching: FakeEnvironment {
        get throws {
            FakeEnvironment(matching: try ConfigurationLoader.parse(minimalConfiguration), macs: ["eth0": ownMAC])
        }
    }

    @Test("a MAC the file leaves out is filled in from the interface")
    func macFilledIn() throws {
        let checked = try check(matching).get()
        #expect(checked.interfaces[0].mac == ownMAC)
        #expect(checked.tomlText.contains("mac = \"02:00:5e:00:53:0b\"\n"))
    }

    @Test("a missing interface is named once, at its first use")
    func missingInterface() throws {
        var environment = try matching
        environment.interfaces["eth0"] = nil
        #expect(problems(try check(environment)) == ["interfaces[0].name: no network interface named \"eth0\""])
        environment = try matching
        let text = minimalConfiguration.replacing(exactly: "interface = \"eth0\"", with: "interface = \"hb0\"")
        #expect(
            problems(try check(text, environment)) == [
                "heartbeat.channels[0].interface: no network interface named \"hb0\""
            ])
    }

    @Test("the interface's real MAC is the peer's, or differs from the configured one")
    func macMismatch() throws {
        var environment = try matching
        environment.interfaces["eth0"]?.mac = MACAddress(0x02, 0x00, 0x5E, 0x00, 0x53, 0x0C)
        #expect(
            problems(try check(environment)) == [
                "interfaces[0].peer-mac: 02:00:5e:00:53:0c is our own MAC (the MAC of eth0); the peer's MAC must differ"
            ])
        let text = minimalConfiguration.replacing(
            exactly: "name = \"eth0\"\n", with: "name = \"eth0\"\nmac = \"02:00:5e:00:53:aa\"\n")
        #expect(
            problems(try check(text, try matching)) == [
                "interfaces[0].mac: 02:00:5e:00:53:aa is not the MAC of eth0, which has 02:00:5e:00:53:0b"
            ])
        environment = try matching
        environment.interfaces["eth0"]?.mac = nil
        #expect(
            problems(try check(environment)) == [
                "interfaces[0].mac: eth0 has no Ethernet address; set mac, or use an Ethernet interface"
            ])
    }

    @Test("own and channel addresses must be assigned to their interfaces")
    func unassignedAddresses() throws {
        var environment = try matching
        environment.interfaces["eth0"]?.addresses = []
        #expect(
            problems(try check(environment)) == [
                "interfaces[0].addresses[0]: 192.0.2.11 is not assigned to eth0",
                "heartbeat.channels[0].local: 192.0.2.11 is not assigned to eth0",
            ])
    }

    @Test("key file and hook problems are reported with every other problem")
    func keyAndHooks() throws {
        var environment = try matching
        environment.interfaces["eth0"]?.addresses = []
        environment.keyFileProblems["/etc/takeover/key"] = "key file /etc/takeover/key has mode 644"
        environment.hookProblems["/opt/b"] = "/opt/b is not executable"
        let text = minimalConfiguration + "\n[[hooks]]\npath = \"/opt/a\"\n\n[[hooks]]\npath = \"/opt/b\"\n"
        #expect(
            problems(try check(text, environment)) == [
                "interfaces[0].addresses[0]: 192.0.2.11 is not assigned to eth0",
                "heartbeat.channels[0].local: 192.0.2.11 is not assigned to eth0",
                "heartbeat.key-file: key file /etc/takeover/key has mode 644",
                "hooks[1].path: /opt/b is not executable",
            ])
    }

    @Test("configured CPUs this process may not use are named with the allowed list")
    func cpusNotAllowed() throws {
        let text = minimalConfiguration.replacing(exactly: "[heartbeat]\n", with: "[heartbeat]\ninterval = \"10ms\"\ncpus = [1, 7]\n")
        var environment = try matching
        #expect(
            problems(try check(text, environment)) == [
                "heartbeat.cpus: CPU 7 is not one this process may use (allowed: 0-1)"
            ])
        environment.cpus = [0, 1, 2, 3, 6, 8, 9]
        #expect(
            problems(try check(text.replacing(exactly: "[1, 7]", with: "[5, 10]"), environment)) == [
                "heartbeat.cpus: CPU 5 is not one this process may use (allowed: 0-3,6,8-9)",
                "heartbeat.cpus: CPU 10 is not one this process may use (allowed: 0-3,6,8-9)",
            ])
        environment.cpus = [7, 1]
        #expect(try check(text, environment).get().heartbeat.cpus == [1, 7])
        environment.cpus = []
        #expect(problems(try check(text, environment)).first == "heartbeat.cpus: CPU 1 is not one this process may use (allowed: none could be read)")
    }
}

/// The real environment: rtnetlink, SecretFile and stat on this machine (read-only; no namespace needed).
@Suite("Linux configuration environment")
struct LinuxConfigurationEnvironmentTests {
    let environment = LinuxConfigurationEnvironment()

    @Test("allowed CPUs: the calling thread's, as the kernel lists them in /proc")
    func allowedCPUs() throws {
        let status = try String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)
        let listed = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        #expect(HeartbeatCPUs.listText(environment.allowedCPUs()) == listed.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces))
    }

    @Test("interfaces: lo is found with its loopback addresses and no Ethernet MAC; a made-up name is missing")
    func interfaces() throws {
        let loopback = try environment.interface(named: "lo").get()
        #expect(loopback.mac == nil)
        #expect(loopback.addresses.contains(.v4(IPv4Address(127, 0, 0, 1))))
        guard case .failure(let problem) = environment.interface(named: "tko-nosuch0") else {
            Issue.record("a made-up interface was found")
            return
        }
        #expect(problem.message == "no network interface named \"tko-nosuch0\" on this machine")
    }

    @Test("key file: owner-only and long enough passes; readable by others, short, or missing does not")
    func keyFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/key"
        try directory.write(Array(repeating: 7, count: 32), to: "key", mode: 0o600)
        #expect(environment.keyFileProblem(at: path) == nil)
        chmod(path, 0o644)
        #expect(
            environment.keyFileProblem(at: path)
                == "key file \(path) has mode 644; refusing to use a key that group or others can access (chmod 600 \(path))"
        )
        chmod(path, 0o640)
        #expect(environment.keyFileProblem(at: path)?.contains("has mode 640") == true)
        try directory.write(Array(repeating: 7, count: 8), to: "short", mode: 0o600)
        #expect(
            environment.keyFileProblem(at: directory.path + "/short")
                == "key file \(directory.path)/short holds 8 bytes; at least 16 are needed (takeover keygen writes 32)")
        #expect(
            environment.keyFileProblem(at: directory.path + "/absent")?.hasPrefix(
                "cannot open key file \(directory.path)/absent") == true)
    }

    @Test("hooks: an executable file passes; data files, directories, writable or missing paths do not")
    func hooks() throws {
        let directory = try TemporaryDirectory()
        try directory.write(Array("#!/bin/sh\nexit 0\n".utf8), to: "notify", mode: 0o755)
        #expect(environment.executableProblem(at: directory.path + "/notify") == nil)
        try directory.write(Array("data".utf8), to: "data", mode: 0o644)
        #expect(
            environment.executableProblem(at: directory.path + "/data") == "\(directory.path)/data is not executable")
        #expect(environment.executableProblem(at: directory.path) == "\(directory.path) is not a regular file")
        try directory.write(Array("#!/bin/sh\n".utf8), to: "open", mode: 0o775)
        #expect(
            environment.executableProblem(at: directory.path + "/open")
                == "\(directory.path)/open is writable by group or others (mode 775); the daemon runs hooks as root")
        let shellLine = "/usr/bin/logger -t takeover"
        #expect(
            environment.executableProblem(at: shellLine)
                == "\(shellLine) cannot be used as a hook: stat(\(shellLine)): No such file or directory (errno 2) (path names one executable; put its arguments in arguments = [...])"
        )
    }
}

/// A directory under /tmp removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/takeover-config-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        path = String(cString: made)
    }

    func write(_ bytes: [UInt8], to name: String, mode: mode_t) throws {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        chmod(file, mode)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
