import TakeoverCore

@testable import TakeoverEngine

/// The smallest valid configuration: everything else takes its default.
let minimalConfiguration = """
    [node]
    id = 1
    name = "alpha"

    [peer]
    id = 2
    name = "beta"

    [[interfaces]]
    name = "eth0"
    addresses = ["192.0.2.11"]
    peer-mac = "02:00:5e:00:53:0c"
    peer-addresses = ["192.0.2.12"]

    [[groups]]
    id = 1
    addresses = ["192.0.2.100/24"]
    priority = { alpha = 200, beta = 100 }

    [heartbeat]
    [[heartbeat.channels]]
    interface = "eth0"
    local = "192.0.2.11"
    peer = "192.0.2.12"

    """

/// The repository's examples/ folder.
let examplesDirectory: String = {
    var path = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    path.removeLast(4)  // Tests/TakeoverEngineTests/Configuration/<file>
    return path.joined(separator: "/") + "/examples"
}()

/// Problems as `takeover check` prints them: "key.path: message".
func problems(_ text: String) -> [String] {
    do {
        _ = try ConfigurationLoader.parse(text)
        return []
    } catch {
        return error.problems.map(\.description)
    }
}

/// An environment answered from a table, for pass 2 without root or real interfaces.
struct FakeEnvironment: ConfigurationEnvironment {
    var interfaces: [String: InterfaceFacts] = [:]
    var keyFileProblems: [String: String] = [:]
    var hookProblems: [String: String] = [:]
    var cpus = [0, 1]

    func interface(named name: String) -> Result<InterfaceFacts, EnvironmentProblem> {
        interfaces[name].map { .success($0) } ?? .failure(EnvironmentProblem("no network interface named \"\(name)\""))
    }

    func keyFileProblem(at path: String) -> String? { keyFileProblems[path] }
    func executableProblem(at path: String) -> String? { hookProblems[path] }
    func allowedCPUs() -> [Int] { cpus }

    /// What a machine set up exactly as `configuration` says would report.
    init(matching configuration: EngineConfiguration, macs: [String: MACAddress] = [:]) {
        for interface in configuration.interfaces {
            interfaces[interface.name] = InterfaceFacts(
                mac: interface.mac ?? macs[interface.name], addresses: interface.addresses)
        }
        for channel in configuration.heartbeat.channels {
            guard let interface = channel.interface else { continue }
            var facts = interfaces[interface] ?? InterfaceFacts(mac: macs[interface], addresses: [])
            if !facts.addresses.contains(channel.localAddress) { facts.addresses.append(channel.localAddress) }
            interfaces[interface] = facts
        }
    }

    init() {}
}

extension String {
    /// `self` with `old` replaced by `new`; traps when `old` is absent so a stale fixture edit cannot pass silently.
    func replacing(exactly old: String, with new: String) -> String {
        precondition(contains(old), "fixture text not found: \(old)")
        return replacing(old, with: new)
    }
}
