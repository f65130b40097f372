public import TakeoverCore

/// What pass 2 of the loader asks about this machine. `LinuxConfigurationEnvironment` asks the kernel; tests
/// answer from a table.
public protocol ConfigurationEnvironment {
    /// The interface's MAC and addresses, or why it cannot be had (missing: `"no network interface named …"`).
    func interface(named name: String) -> Result<InterfaceFacts, EnvironmentProblem>
    /// nil when the file holds a usable key that only its owner can read; else what is wrong.
    func keyFileProblem(at path: String) -> String?
    /// nil when `path` is an executable regular file; else what is wrong.
    func executableProblem(at path: String) -> String?
    /// The CPUs this process may use, ascending (what `[heartbeat] cpus` may name); empty when unknown.
    func allowedCPUs() -> [Int]
}

public struct InterfaceFacts: Hashable, Sendable {
    public var mac: MACAddress?
    public var addresses: [IPAddress]

    public init(mac: MACAddress?, addresses: [IPAddress]) {
        self.mac = mac
        self.addresses = addresses
    }
}

public struct EnvironmentProblem: Error, Hashable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Pass 2: compares the configuration with what `environment` reports.
struct EnvironmentCheck {
    let environment: any ConfigurationEnvironment
    let log: ProblemLog

    func check(_ configuration: EngineConfiguration) -> EngineConfiguration {
        var checked = configuration
        var facts: [String: InterfaceFacts] = [:]
        var missing: Set<String> = []
        func lookUp(_ name: String, for path: ConfigurationKeyPath) -> InterfaceFacts? {
            if let known = facts[name] { return known }
            if missing.contains(name) { return nil }
            switch environment.interface(named: name) {
            case .success(let found):
                facts[name] = found
                return found
            case .failure(let problem):
                missing.insert(name)
                log.report(path, problem.message)
                return nil
            }
        }

        for (index, interface) in configuration.interfaces.enumerated() {
            let path = ConfigurationKeyPath.root + "interfaces" + index
            guard let found = lookUp(interface.name, for: path + "name") else { continue }
            switch (interface.mac, found.mac) {
            case (let configured?, let actual?) where configured != actual:
                log.report(path + "mac", "\(configured) is not the MAC of \(interface.name), which has \(actual)")
            case (nil, nil):
                log.report(
                    path + "mac", "\(interface.name) has no Ethernet address; set mac, or use an Ethernet interface")
            case (nil, let actual?):
                checked.interfaces[index].mac = actual
                if actual == interface.peerMAC {
                    log.report(
                        path + "peer-mac",
                        "\(actual) is our own MAC (the MAC of \(interface.name)); the peer's MAC must differ")
                }
            default:
                break
            }
            for (addressIndex, address) in interface.addresses.enumerated() where !found.addresses.contains(address) {
                log.report(path + "addresses" + addressIndex, "\(address) is not assigned to \(interface.name)")
            }
        }
        for (index, channel) in configuration.heartbeat.channels.enumerated() {
            let path = ConfigurationKeyPath.root + "heartbeat" + "channels" + index
            // The loader requires `interface` for every configured channel.
            guard let interface = channel.interface, let found = lookUp(interface, for: path + "interface") else { continue }
            if !found.addresses.contains(channel.localAddress) {
                log.report(path + "local", "\(channel.localAddress) is not assigned to \(interface)")
            }
        }
        if let cpus = configuration.heartbeat.cpus {
            // The controller refuses these at start too; said here so `takeover check` and `run` name the key first.
            let allowed = environment.allowedCPUs()
            for cpu in cpus where !allowed.contains(cpu) {
                log.report("heartbeat.cpus", HeartbeatCPUs.notAllowed(cpu, allowed: allowed))
            }
        }
        if let problem = environment.keyFileProblem(at: configuration.heartbeat.keyFile) {
            log.report("heartbeat.key-file", problem)
        }
        for (index, hook) in configuration.hooks.enumerated() {
            if let problem = environment.executableProblem(at: hook.path) {
                log.report(.root + "hooks" + index + "path", problem)
            }
        }
        return checked
    }
}
