import Foundation
public import TakeoverLinux
public import TakeoverCore

#if canImport(Glibc)
import Glibc
#endif

/// A host of the lab: its own network namespace.
public struct LabHost: Hashable, Sendable {
    public let name: String
    public let namespace: String
}

/// A hub: a Linux bridge that forwards every frame to every port (`ageing_time 0` keeps its forwarding
/// table empty), like a shared medium or a switch with a mirror port. It lives in a namespace of its own,
/// so the lab never touches the machine's own namespace.
public struct LabHub: Hashable, Sendable {
    public let name: String
    public let namespace: String
    public let bridge: String
}

/// A host's interface on a hub: one end of a veth pair (the other end is a bridge port).
public struct LabInterface: Hashable, Sendable {
    public let host: LabHost
    public let name: String
    public let mac: MACAddress
    public let addresses: [IPAddress]
    public let hub: LabHub
    /// The bridge port's name in the hub's namespace.
    public let hubPort: String

    /// The first IPv4 address, for the common one-address host.
    public var ipv4: IPv4Address? {
        for case .v4(let address) in addresses { return address }
        return nil
    }
}

/// A throwaway network of namespaces for root tests and the benchmark.
///
/// Every name starts with `prefix` (label, process id and a counter), so labs of parallel tests and
/// helpers never collide, and namespaces of a crashed run can be recognised and removed. `teardown()` — idempotent, also run from deinit — kills every process the lab
/// started and deletes every namespace it made (which deletes their interfaces), even when the test threw.
/// Addresses are restricted to the documentation ranges; IPv6 is off unless an interface gets an IPv6
/// address, and then duplicate address detection is off. Every command and wait is bounded in time.
///
///     let lab = try NetworkLab("pcap")
///     defer { lab.teardown() }
///     let hub = try lab.addHub()
///     let client = try lab.connect(try lab.addHost("client"), to: hub, addresses: ["192.0.2.10/24"])
public final class NetworkLab: @unchecked Sendable {
    public let prefix: String
    /// How long any one command may take.
    public let commandTimeout: Duration

    private let lock = NSLock()
    private var namespaces: [String] = []
    private var processes: [LabProcess] = []
    private var interfaceCount = 0
    private var isTornDown = false

    private static let counter = LabCounter()

    /// `label` (letters and digits, at most 10 characters) names the lab in its namespaces. Namespaces
    /// left by an earlier test process that died before its teardown are removed first.
    public init(_ label: String, commandTimeout: Duration = .seconds(15)) throws(LabError) {
        try Self.validate(label)
        self.commandTimeout = commandTimeout
        prefix = "tklab-\(label)-\(getpid())-\(Self.counter.next())"
        Self.removeLeftovers()
    }

    /// Deletes lab namespaces (`tklab-<label>-<pid>-<n>-<host>`) whose creating process no longer exists,
    /// after killing any process still inside them. Namespaces of live processes — other tests running
    /// in parallel — are left alone. Returns the names removed.
    @discardableResult
    public static func removeLeftovers() -> [String] {
        guard let listing = try? LabProcess.run(["ip", "netns", "list"], timeout: .seconds(5)) else { return [] }
        var removed: [String] = []
        for line in listing.standardOutput.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            let parts = name.split(separator: "-")
            guard parts.count == 5, parts[0] == "tklab", let creator = Int32(parts[2]) else { continue }
            guard kill(creator, 0) == -1, errno == ESRCH else { continue }
            if let pids = try? LabProcess.run(["ip", "netns", "pids", name], timeout: .seconds(5)) {
                for pid in pids.standardOutput.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
            if (try? LabProcess.run(["ip", "netns", "delete", name], timeout: .seconds(5)))?.succeeded == true {
                removed.append(name)
            }
        }
        return removed
    }

    deinit { teardown() }

    private static func validate(_ name: String) throws(LabError) {
        guard !name.isEmpty, name.count <= 10,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else { throw .invalidName(name) }
    }

    // MARK: Building

    /// A new host namespace, loopback up, IPv6 off.
    public func addHost(_ name: String) throws(LabError) -> LabHost {
        let host = LabHost(name: name, namespace: try addNamespace(name))
        return host
    }

    /// A new hub: a namespace holding a bridge in hub mode, up, with STP and IPv6 off (no chatter of its own).
    /// `hubMode: false` makes it an ordinary learning bridge (a switch: unicast goes to one port only).
    public func addHub(_ name: String = "hub", hubMode: Bool = true) throws(LabError) -> LabHub {
        let namespace = try addNamespace(name)
        let hub = LabHub(name: name, namespace: namespace, bridge: "br0")
        try ip(namespace, "link", "add", hub.bridge, "type", "bridge", "ageing_time", hubMode ? "0" : "30000", "stp_state", "0")
        try ip(namespace, "link", "set", hub.bridge, "up")
        return hub
    }

    private func addNamespace(_ name: String) throws(LabError) -> String {
        try Self.validate(name)
        let namespace = "\(prefix)-\(name)"
        try locked { () throws(LabError) in
            guard !isTornDown else { throw .tornDown }
        }
        try runChecked(["ip", "netns", "add", namespace])
        locked { namespaces.append(namespace) }
        try ip(namespace, "link", "set", "lo", "up")
        try sysctl(namespace, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        return namespace
    }

    /// Connects `host` to `hub` with a veth pair: `interface` in the host (MAC `mac`, or a deterministic
    /// one from the lab's interface counter), a port on the bridge. Addresses are CIDR text
    /// (`192.0.2.10/24`, `2001:db8::10/64`) inside the documentation ranges.
    public func connect(
        _ host: LabHost, to hub: LabHub, interface: String = "eth0", mac: MACAddress? = nil,
        addresses: [String] = []
    ) throws(LabError) -> LabInterface {
        let parsed = try addresses.map { (text) throws(LabError) in try Self.parseTestNetAddress(text) }
        let index = locked { () -> Int in
            interfaceCount += 1
            return interfaceCount
        }
        // 02:… is locally administered; "tk" marks the lab; the last octets count interfaces.
        let hostMAC = mac ?? MACAddress(0x02, 0x74, 0x6B, 0x00, UInt8(index >> 8), UInt8(truncatingIfNeeded: index))
        let portMAC = MACAddress(0x02, 0x74, 0x6B, 0xFF, UInt8(index >> 8), UInt8(truncatingIfNeeded: index))
        let port = "p\(index)-\(host.name)".prefix(15).description
        try ip(
            hub.namespace, "link", "add", port, "address", portMAC.description, "type", "veth",
            "peer", "name", interface, "address", hostMAC.description, "netns", host.namespace)
        try sysctl(hub.namespace, "net.ipv6.conf.\(port).disable_ipv6=1")
        try ip(hub.namespace, "link", "set", port, "master", hub.bridge, "up")

        if parsed.contains(where: { if case .v6 = $0.address { true } else { false } }) {
            try sysctl(
                host.namespace, "net.ipv6.conf.\(interface).disable_ipv6=0", "net.ipv6.conf.\(interface).accept_dad=0",
                "net.ipv6.conf.\(interface).dad_transmits=0", "net.ipv6.conf.\(interface).router_solicitations=0")
        } else {
            try sysctl(host.namespace, "net.ipv6.conf.\(interface).disable_ipv6=1")
        }
        for (text, _) in zip(addresses, parsed) {
            try ip(host.namespace, "address", "add", text, "dev", interface)
        }
        try ip(host.namespace, "link", "set", interface, "up")
        return LabInterface(
            host: host, name: interface, mac: hostMAC, addresses: parsed.map(\.address), hub: hub, hubPort: port)
    }

    /// Mirrors every frame through bridge port `port` (both directions) to port `destination`, as a switch's mirror
    /// (SPAN) port does: tc `mirred` on a clsact qdisc (u32 match-all; this kernel has no matchall classifier).
    public func mirror(_ port: String, to destination: String, in hub: LabHub) throws(LabError) {
        try runChecked(["ip", "netns", "exec", hub.namespace, "tc", "qdisc", "add", "dev", port, "clsact"])
        for direction in ["ingress", "egress"] {
            try runChecked([
                "ip", "netns", "exec", hub.namespace, "tc", "filter", "add", "dev", port, direction, "u32", "match", "u32",
                "0", "0", "action", "mirred", "egress", "mirror", "dev", destination,
            ])
        }
    }

    /// Brings the host's side of the link up or down: down cuts the host off the hub (carrier lost on
    /// both ends), as pulling its cable would.
    public func setLink(_ interface: LabInterface, up: Bool) throws(LabError) {
        try ip(interface.host.namespace, "link", "set", interface.name, up ? "up" : "down")
    }

    // MARK: Running things

    /// Runs `arguments` in `host`'s namespace to completion; the result carries status and output.
    public func run(in host: LabHost, _ arguments: [String], timeout: Duration? = nil) throws(LabError) -> CommandResult {
        try LabProcess.run(["ip", "netns", "exec", host.namespace] + arguments, timeout: timeout ?? commandTimeout)
    }

    /// As `run`, but a non-zero exit status throws `.commandFailed`; returns standard output.
    @discardableResult
    public func runChecked(in host: LabHost, _ arguments: [String], timeout: Duration? = nil) throws(LabError) -> String {
        try runChecked(["ip", "netns", "exec", host.namespace] + arguments, timeout: timeout)
    }

    /// Starts tcpdump on `interface` in `host` and returns once it listens. Immediate mode, so stopping it never
    /// loses frames still waiting in an undelivered capture block. `options` are tcpdump's own (filter last).
    public func startTcpdump(in host: LabHost, interface: String = "eth0", _ options: [String]) throws(LabError) -> LabProcess {
        let arguments = ["tcpdump", "--immediate-mode", "-i", interface] + options
        let capture = try start(in: host, arguments)
        guard capture.waitForOutput(containing: "listening on", timeout: .seconds(10)) else {
            capture.stop(grace: .milliseconds(200))
            throw .launchFailed(arguments: arguments, reason: "not listening after 10 s: \(capture.standardError)")
        }
        return capture
    }

    /// Starts `arguments` in `host`'s namespace in the background. The lab stops it at teardown.
    public func start(in host: LabHost, _ arguments: [String]) throws(LabError) -> LabProcess {
        try locked { () throws(LabError) in
            guard !isTornDown else { throw .tornDown }
        }
        let process = try LabProcess.launch(["ip", "netns", "exec", host.namespace] + arguments)
        locked { processes.append(process) }
        return process
    }

    /// Runs `body` on a thread inside `host`'s network namespace, optionally without some capabilities
    /// (see `NetworkNamespace` in TakeoverLinux for why a thread). Sockets it opens stay in that namespace.
    public func withNamespace<R>(
        of host: LabHost, dropping capabilities: [LinuxCapability] = [], _ body: () throws -> R
    ) throws -> R {
        try NetworkNamespace.run(in: host.namespace, dropping: capabilities.isEmpty ? .none : .some(capabilities), body)
    }

    /// Namespaces this lab made and has not deleted.
    public var liveNamespaces: [String] { locked { namespaces } }

    /// Stops every started process (SIGTERM, then SIGKILL, bounded) and deletes every namespace, newest
    /// first. Idempotent; errors are ignored so that one failure does not leave the rest behind.
    public func teardown() {
        let (toStop, toDelete) = locked { () -> ([LabProcess], [String]) in
            isTornDown = true
            defer {
                processes = []
                namespaces = []
            }
            return (processes, namespaces)
        }
        for process in toStop.reversed() {
            process.stop(grace: .seconds(1))
            process.removeOutputFiles()
        }
        for namespace in toDelete.reversed() {
            _ = try? LabProcess.run(["ip", "netns", "delete", namespace], timeout: .seconds(10))
        }
    }

    // MARK: Helpers

    private func ip(_ namespace: String, _ arguments: String...) throws(LabError) {
        try runChecked(["ip", "-n", namespace] + arguments)
    }

    private func sysctl(_ namespace: String, _ settings: String...) throws(LabError) {
        try runChecked(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w"] + settings)
    }

    @discardableResult
    private func runChecked(_ arguments: [String], timeout: Duration? = nil) throws(LabError) -> String {
        let result = try LabProcess.run(arguments, timeout: timeout ?? commandTimeout)
        guard result.succeeded else {
            throw .commandFailed(arguments: arguments, status: result.status, standardError: result.standardError)
        }
        return result.standardOutput
    }

    private func locked<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Parses `address/prefix` and refuses anything outside the documentation ranges.
    static func parseTestNetAddress(_ text: String) throws(LabError) -> (address: IPAddress, prefixLength: Int) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let prefixLength = Int(parts[1]) else { throw .addressOutsideTestNets(text) }
        if let v4 = IPv4Address(parts[0]) {
            let network = v4.rawValue & 0xFFFF_FF00
            guard [0xC000_0200, 0xC633_6400, 0xCB00_7100].contains(network), (24...32).contains(prefixLength)
            else { throw .addressOutsideTestNets(text) }
            return (.v4(v4), prefixLength)
        }
        if let v6 = IPv6Address(parts[0]) {
            guard v6.high >> 32 == 0x2001_0DB8, (32...128).contains(prefixLength) else {
                throw .addressOutsideTestNets(text)
            }
            return (.v6(v6), prefixLength)
        }
        throw .addressOutsideTestNets(text)
    }
}

/// Numbers labs within one process.
private final class LabCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
