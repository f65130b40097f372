import TakeoverCore

/// Turns configuration text into an `EngineConfiguration`, or into every problem it has.
///
/// Two passes, kept apart so that the first runs anywhere (tests, a build machine) and only the second looks at
/// this machine:
/// 1. `parse`: TOML syntax, known keys, types, formats, ranges, and the cross-checks between keys — pure;
/// 2. `checkEnvironment`: interfaces exist and carry the addresses and MACs the file says, the key file is
///    private and long enough, hooks are executable files. It also fills in MACs the file left out.
public enum ConfigurationLoader {
    /// Reads, parses and (with an environment) checks the file at `path`.
    public static func load(
        file path: String, environment: (any ConfigurationEnvironment)?
    ) throws(ConfigurationErrors) -> EngineConfiguration {
        let text: String
        do {
            text = try ConfigurationFile.read(path)
        } catch {
            throw ConfigurationErrors([ConfigurationProblem(nil, error.description)])
        }
        let configuration = try parse(text)
        guard let environment else { return configuration }
        return try checkEnvironment(configuration, environment)
    }

    /// Pass 1: TOML text to a configuration, with every problem reported at once.
    public static func parse(_ text: String) throws(ConfigurationErrors) -> EngineConfiguration {
        try decode(TOMLDocument.parse(text))
    }

    /// Pass 1 on an already parsed document.
    public static func decode(_ document: ConfigurationValue) throws(ConfigurationErrors) -> EngineConfiguration {
        let log = ProblemLog()
        let configuration = ConfigurationDecoder(log: log).decode(document)
        guard log.isEmpty, let configuration else { throw ConfigurationErrors(log.problems) }
        return configuration
    }

    /// Pass 2: checks `configuration` against this machine; returns it with the interfaces' MACs filled in.
    public static func checkEnvironment(
        _ configuration: EngineConfiguration, _ environment: any ConfigurationEnvironment
    ) throws(ConfigurationErrors) -> EngineConfiguration {
        let log = ProblemLog()
        let checked = EnvironmentCheck(environment: environment, log: log).check(configuration)
        guard log.isEmpty else { throw ConfigurationErrors(log.problems) }
        return checked
    }
}

/// The keys each table knows, in the order the documentation lists them.
enum ConfigurationKeys {
    static let root = [
        "node", "peer", "interfaces", "groups", "heartbeat", "engine", "announcements", "failover", "hooks", "metrics",
        "control",
    ]
    static let identity = ["id", "name"]
    static let interface = ["name", "mac", "addresses", "peer-mac", "peer-addresses"]
    static let group = ["id", "interface", "addresses", "priority"]
    static let heartbeat = [
        "interval", "miss-count", "peer-traffic", "unanswered-window", "unanswered-frames", "unanswered-after", "stall-cover",
        "cpus", "key-file", "channels",
    ]
    static let channel = ["interface", "local", "peer", "port"]
    static let engine = ["mode", "capture", "tcp-policy", "resume-socket"]
    static let announcements = ["count", "spacing", "refresh"]
    static let failover = ["preempt", "preempt-delay", "startup-wait"]
    static let hook = ["path", "arguments", "timeout"]
    static let metrics = ["enabled", "address"]
    static let control = ["socket"]
}

/// The limits the loader enforces, in one place for the code, the tests and the documentation.
public enum ConfigurationLimits {
    public static let interval = Duration.milliseconds(1)...Duration.seconds(10)
    public static let missCount = 1...1000
    public static let unansweredWindow = Duration.microseconds(100)...Duration.seconds(10)
    public static let unansweredFrames = 1...1000
    public static let unansweredAfter = 1...999
    public static let stallCover = Duration.zero...Duration.seconds(1)
    public static let cpu = HeartbeatCPUs.range
    public static let nodeID = 1...Int(UInt32.max)
    public static let groupID = 1...Int(UInt16.max)
    public static let priority = 0...255
    public static let port = 1...Int(UInt16.max)
    public static let announcementCount = 1...100
    public static let announcementSpacing = Duration.zero...Duration.seconds(10)
    public static let announcementRefresh = Duration.zero...Duration.seconds(3600)
    public static let preemptDelay = Duration.zero...Duration.seconds(3600)
    public static let startupWait = Duration.zero...Duration.seconds(3600)
    public static let hookTimeout = Duration.milliseconds(1)...Duration.seconds(3600)
    /// `sun_path` holds 108 bytes with the terminating NUL.
    public static let socketPathBytes = 107
    public static let nameCharacters = 1...64
    /// IFNAMSIZ less the NUL.
    public static let interfaceNameBytes = 1...15
}

/// Pass 1 proper: reads each table, then cross-checks what decoded.
private struct ConfigurationDecoder {
    let log: ProblemLog

    private struct InterfaceDraft {
        var name: String
        var mac: MACAddress?
        var addresses: [Indexed<IPAddress>]
        var peerMAC: MACAddress
        var peerAddresses: [Indexed<IPAddress>]
    }

    private struct GroupDraft {
        var id: UInt16
        var interface: String?
        var addresses: [Indexed<InterfaceAddress>]
        var priority: UInt8
        var peerPriority: UInt8
    }

    func decode(_ document: ConfigurationValue) -> EngineConfiguration? {
        guard let root = TableReader(document, at: .root, knownKeys: ConfigurationKeys.root, log: log) else {
            return nil
        }
        let node = root.required("node", identity)
        let peer = root.required("peer", identity)
        let interfaces = root.required("interfaces", Decode.array(minimumCount: 1, interface)) ?? []
        // Priorities are keyed by the names as written, whether or not the rest of node or peer is valid.
        let names = writtenName("node", in: root).flatMap { node in
            writtenName("peer", in: root).map { (node: node, peer: $0) }
        }
        let groups = root.required("groups", Decode.array(minimumCount: 1) { group($0, $1, $2, names: names) }) ?? []
        let heartbeat = root.required("heartbeat", heartbeatSettings)
        let engine = TableReader.section("engine", in: root, knownKeys: ConfigurationKeys.engine).flatMap(
            engineSettings)
        let announcements = TableReader.section("announcements", in: root, knownKeys: ConfigurationKeys.announcements)
            .flatMap(announcementSettings)
        let failover = TableReader.section("failover", in: root, knownKeys: ConfigurationKeys.failover)
            .flatMap { failoverSettings($0, heartbeat: heartbeat?.settings) }
        let hooks = root.optional("hooks", default: [], Decode.array(hook)) ?? []
        let metrics = TableReader.section("metrics", in: root, knownKeys: ConfigurationKeys.metrics).flatMap(
            metricsSettings)
        let control = TableReader.section("control", in: root, knownKeys: ConfigurationKeys.control).flatMap(
            controlSettings)

        if let node, let peer { checkIdentities(node, peer) }
        checkInterfaces(interfaces)
        let groupInterfaces = checkGroups(groups, interfaces: interfaces)
        if let heartbeat { checkChannels(heartbeat.channels, interfaces: interfaces, groups: groups) }
        if let engine, engine.mode == .stateless, engine.tcpPolicy == .resume {
            log.report(
                "engine.tcp-policy",
                "\"resume\" needs mode \"state-based\": a stateless standby has tracked no sessions to resume")
        }
        if let announcements, announcements.refresh > .zero,
            announcements.refresh < announcements.spacing * announcements.count
        {
            let round = DurationText.format(announcements.spacing * announcements.count)
            log.report(
                "announcements.refresh",
                "\(DurationText.format(announcements.refresh)) is shorter than one round of announcements"
                    + " (count × spacing = \(round))")
        }

        guard let node, let peer, let heartbeat, let engine, let announcements, let failover, let metrics, let control,
            log.isEmpty
        else { return nil }
        return EngineConfiguration(
            node: node, peer: peer,
            interfaces: interfaces.map {
                InterfaceConfiguration(
                    name: $0.value.name, mac: $0.value.mac, addresses: $0.value.addresses.map(\.value),
                    peerMAC: $0.value.peerMAC, peerAddresses: $0.value.peerAddresses.map(\.value))
            },
            groups: zip(groups, groupInterfaces).map { group, interface in
                ServiceGroupConfiguration(
                    id: group.value.id, interface: interface, addresses: group.value.addresses.map(\.value),
                    priority: group.value.priority, peerPriority: group.value.peerPriority)
            },
            heartbeat: heartbeat.settings, engine: engine, announcements: announcements, failover: failover,
            hooks: hooks.map(\.value), metrics: metrics, control: control)
    }

    // MARK: tables

    /// `name` of the `node` or `peer` table as written when it is a valid name, without reporting anything
    /// (`identity` does).
    private func writtenName(_ key: String, in root: TableReader) -> String? {
        guard case .table(let entries)? = root.raw(key),
            case .string(let name)? = entries.first(where: { $0.key == "name" })?.value
        else { return nil }
        return Self.isValidNodeName(name) ? name : nil
    }

    private func identity(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> NodeIdentity?
    {
        guard let table = TableReader(value, at: path, knownKeys: ConfigurationKeys.identity, log: log) else {
            return nil
        }
        let id = table.required("id", Decode.integer(in: ConfigurationLimits.nodeID))
        let name = table.required("name", nodeName)
        guard let id, let name else { return nil }
        return NodeIdentity(id: UInt32(id), name: name)
    }

    private func nodeName(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> String? {
        guard let name = Decode.string(value, path, log) else { return nil }
        guard Self.isValidNodeName(name) else {
            log.report(path, "\"\(name)\" is not a node name; use 1–64 letters, digits, \"-\", \"_\" or \".\"")
            return nil
        }
        return name
    }

    private static func isValidNodeName(_ name: String) -> Bool {
        ConfigurationLimits.nameCharacters.contains(name.count)
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || "-_.".unicodeScalars.contains($0)
            }
    }

    private func interfaceName(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> String?
    {
        guard let name = Decode.string(value, path, log) else { return nil }
        // The kernel's dev_valid_name: 1–15 bytes, not "." or "..", no "/", ":" or white space.
        let valid =
            ConfigurationLimits.interfaceNameBytes.contains(name.utf8.count) && name != "." && name != ".."
            && !name.unicodeScalars.contains { $0 == "/" || $0 == ":" || $0.properties.isWhitespace || $0.value < 0x20 }
        guard valid else {
            log.report(path, "\"\(name)\" is not a valid interface name (1–15 bytes, no \"/\", \":\" or spaces)")
            return nil
        }
        return name
    }

    private func interface(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog)
        -> InterfaceDraft?
    {
        guard let table = TableReader(value, at: path, knownKeys: ConfigurationKeys.interface, log: log) else {
            return nil
        }
        let name = table.required("name", interfaceName)
        let mac = table.optionalWithoutDefault("mac", Decode.mac)
        let addresses = table.optional("addresses", default: [], Decode.array(Decode.address))
        let peerMAC = table.required("peer-mac", Decode.mac)
        let peerAddresses = table.optional("peer-addresses", default: [], Decode.array(Decode.address))
        guard let name, let mac, let peerMAC else { return nil }
        return InterfaceDraft(
            name: name, mac: mac, addresses: addresses ?? [], peerMAC: peerMAC, peerAddresses: peerAddresses ?? [])
    }

    private func group(
        _ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog,
        names: (node: String, peer: String)?
    ) -> GroupDraft? {
        guard let table = TableReader(value, at: path, knownKeys: ConfigurationKeys.group, log: log) else { return nil }
        let id = table.required("id", Decode.integer(in: ConfigurationLimits.groupID))
        let interface = table.optionalWithoutDefault("interface", interfaceName)
        let addresses = table.required("addresses", Decode.array(minimumCount: 1, Decode.interfaceAddress))
        let priorities = table.required("priority") { value, path, log in priority(value, path, log, names: names) }
        guard let id, let interface, let addresses, let priorities else { return nil }
        return GroupDraft(
            id: UInt16(id), interface: interface, addresses: addresses, priority: priorities.node,
            peerPriority: priorities.peer)
    }

    /// `priority = { alpha = 200, beta = 100 }`: one entry per node, by name.
    private func priority(
        _ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog,
        names: (node: String, peer: String)?
    ) -> (node: UInt8, peer: UInt8)? {
        guard let names, names.node != names.peer else {
            // Without two distinct names the keys cannot be checked; the node and peer tables' problems say why.
            return nil
        }
        guard let table = TableReader(value, at: path, knownKeys: [names.node, names.peer], log: log) else {
            return nil
        }
        let decodePriority = Decode.integer(in: ConfigurationLimits.priority)
        let node = table.required(names.node, decodePriority)
        let peer = table.required(names.peer, decodePriority)
        guard let node, let peer else { return nil }
        return (UInt8(node), UInt8(peer))
    }

    private func heartbeatSettings(
        _ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog
    ) -> (settings: HeartbeatConfiguration, channels: [Indexed<HeartbeatChannel>])? {
        guard let table = TableReader(value, at: path, knownKeys: ConfigurationKeys.heartbeat, log: log) else {
            return nil
        }
        let interval = table.optional(
            "interval", default: HeartbeatConfiguration.defaultInterval,
            Decode.duration(in: ConfigurationLimits.interval))
        let missCount = table.optional(
            "miss-count", default: HeartbeatConfiguration.defaultMissCount,
            Decode.integer(in: ConfigurationLimits.missCount))
        let peerTraffic = table.optional("peer-traffic", default: true, Decode.boolean)
        let unansweredWindow = table.optionalWithoutDefault(
            "unanswered-window", Decode.duration(in: ConfigurationLimits.unansweredWindow))
        let unansweredFrames = table.optional(
            "unanswered-frames", default: HeartbeatConfiguration.defaultUnansweredFrames,
            Decode.integer(in: ConfigurationLimits.unansweredFrames))
        let unansweredAfter = table.optional(
            "unanswered-after", default: HeartbeatConfiguration.defaultUnansweredAfter,
            Decode.integer(in: ConfigurationLimits.unansweredAfter))
        if let missCount, let unansweredAfter, unansweredAfter >= missCount {
            // At the miss count the ordinary rule decides anyway: the early rule would never be first.
            log.report(path + "unanswered-after", "\(unansweredAfter) must be below miss-count (\(missCount))")
        }
        let stallCover = table.optionalWithoutDefault("stall-cover", Decode.duration(in: ConfigurationLimits.stallCover))
        if let interval, let cover = stallCover ?? nil, cover != .zero, cover <= interval {
            log.report(
                path + "stall-cover",
                "\(DurationText.format(cover)) must be longer than interval (\(DurationText.format(interval))), or 0s (off)")
        }
        let cpus = table.optionalWithoutDefault("cpus") { value, path, log -> [Int]? in
            let decode = Decode.array(minimumCount: 1, maximumCount: 2, Decode.integer(in: ConfigurationLimits.cpu))
            // Every problem (not an array, a bad entry, too few or many) is reported by `decode`.
            guard let decoded = decode(value, path, log), case .array(let entries) = value,
                decoded.count == entries.count, (1...2).contains(decoded.count)
            else { return nil }
            return decoded.map(\.value)
        }
        let keyFile = table.optional("key-file", default: HeartbeatConfiguration.defaultKeyFile, Decode.absolutePath)
        let channels = table.required(
            "channels", Decode.array(minimumCount: 1, maximumCount: HeartbeatConfiguration.maximumChannels, channel))
        // Whether the cover is on, as far as the keys it depends on decoded.
        let cover = interval.flatMap { interval in
            stallCover.map { $0.map { $0 == .zero ? nil : $0 } ?? HeartbeatConfiguration.defaultStallCover(interval: interval) }
        }
        var cpusConflict = false
        if let cpus = cpus ?? nil, let cover {
            for problem in HeartbeatCPUs.conflicts(cpus, coverOn: cover != nil) {
                log.report(path + "cpus", problem)
                cpusConflict = true
            }
        }
        guard let interval, let missCount, let peerTraffic, let unansweredWindow, let unansweredFrames, let unansweredAfter,
            let cover, let cpus, !cpusConflict, let keyFile, let channels, unansweredAfter < missCount
        else { return nil }
        guard cover.map({ $0 > interval }) ?? true else { return nil }
        return (
            HeartbeatConfiguration(
                channels: channels.map(\.value), interval: interval, missCount: missCount, usesPeerTraffic: peerTraffic,
                keyFile: keyFile, unansweredWindow: unansweredWindow, unansweredFrames: unansweredFrames,
                unansweredAfter: unansweredAfter, stallCover: cover, cpus: cpus),
            channels
        )
    }

    private func channel(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog)
        -> HeartbeatChannel?
    {
        guard let table = TableReader(value, at: path, knownKeys: ConfigurationKeys.channel, log: log) else {
            return nil
        }
        let interface = table.required("interface", interfaceName)
        let local = table.required("local", Decode.address)
        let peer = table.required("peer", Decode.address)
        let port = table.optional(
            "port", default: Int(HeartbeatConfiguration.defaultPort), Decode.integer(in: ConfigurationLimits.port))
        guard let interface, let local, let peer, let port else { return nil }
        return HeartbeatChannel(interface: interface, localAddress: local, peerAddress: peer, port: UInt16(port))
    }

    private func engineSettings(_ table: TableReader) -> EngineSettings? {
        let defaults = EngineSettings()
        let mode = table.optional("mode", default: defaults.mode, Decode.choice(EngineMode.self))
        let capture = table.optional("capture", default: defaults.capture, Decode.choice(CaptureBackend.self))
        let tcpPolicy = table.optional("tcp-policy", default: defaults.tcpPolicy, Decode.choice(TCPPolicy.self))
        let resumeSocket = table.optional("resume-socket", default: defaults.resumeSocketPath, Self.unixSocketPath)
        guard let mode, let capture, let tcpPolicy, let resumeSocket else { return nil }
        return EngineSettings(mode: mode, capture: capture, tcpPolicy: tcpPolicy, resumeSocketPath: resumeSocket)
    }

    private func announcementSettings(_ table: TableReader) -> AnnouncementSettings? {
        let defaults = AnnouncementSettings()
        let count = table.optional(
            "count", default: defaults.count, Decode.integer(in: ConfigurationLimits.announcementCount))
        let spacing = table.optional(
            "spacing", default: defaults.spacing, Decode.duration(in: ConfigurationLimits.announcementSpacing))
        let refresh = table.optional(
            "refresh", default: defaults.refresh, Decode.duration(in: ConfigurationLimits.announcementRefresh))
        guard let count, let spacing, let refresh else { return nil }
        return AnnouncementSettings(count: count, spacing: spacing, refresh: refresh)
    }

    private func failoverSettings(_ table: TableReader, heartbeat: HeartbeatConfiguration?) -> FailoverSettings? {
        let preempt = table.optional("preempt", default: true, Decode.boolean)
        let preemptDelay = table.optional(
            "preempt-delay", default: .zero, Decode.duration(in: ConfigurationLimits.preemptDelay))
        // The default startup wait is the failure window: a peer that is up is heard well within it.
        let startupWait = table.optionalWithoutDefault(
            "startup-wait", Decode.duration(in: ConfigurationLimits.startupWait))
        if let heartbeat, let wait = startupWait ?? nil, wait < heartbeat.interval {
            log.report(
                "failover.startup-wait",
                "\(DurationText.format(wait)) is shorter than one heartbeat interval"
                    + " (\(DurationText.format(heartbeat.interval))): the node would serve before its peer could be heard")
        }
        guard let preempt, let preemptDelay, let startupWait, let heartbeat else { return nil }
        return FailoverSettings(
            preempt: preempt, preemptDelay: preemptDelay, startupWait: startupWait ?? FailoverSettings.defaultStartupWait(failureWindow: heartbeat.failureWindow))
    }

    private func hook(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> NotifyHook? {
        guard let table = TableReader(value, at: path, knownKeys: ConfigurationKeys.hook, log: log) else { return nil }
        let executable = table.required("path", Decode.absolutePath)
        let arguments = table.optional("arguments", default: [], Decode.array(Decode.string))
        let timeout = table.optional(
            "timeout", default: NotifyHook(path: "/").timeout, Decode.duration(in: ConfigurationLimits.hookTimeout))
        guard let executable, let arguments, let timeout else { return nil }
        return NotifyHook(path: executable, arguments: arguments.map(\.value), timeout: timeout)
    }

    private func metricsSettings(_ table: TableReader) -> MetricsSettings? {
        let defaults = MetricsSettings()
        let enabled = table.optional("enabled", default: defaults.enabled, Decode.boolean)
        let endpoint = table.optional("address", default: (defaults.address, defaults.port), socketAddress)
        guard let enabled, let endpoint else { return nil }
        return MetricsSettings(enabled: enabled, address: endpoint.0, port: endpoint.1)
    }

    /// `"127.0.0.1:9464"` or `"[::1]:9464"`.
    private func socketAddress(
        _ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog
    ) -> (IPAddress, UInt16)? {
        guard let text = Decode.string(value, path, log) else { return nil }
        let host: Substring
        let port: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") {
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":" as Character) {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            log.report(path, "\"\(text)\" is not an address and port, like \"127.0.0.1:9464\" or \"[::1]:9464\"")
            return nil
        }
        guard let address = IPAddress(host) else {
            log.report(path, "\"\(host)\" is not an IPv4 or IPv6 address")
            return nil
        }
        guard let number = Int(port), ConfigurationLimits.port.contains(number) else {
            log.report(path, "port \"\(port)\" is out of range (1–65535)")
            return nil
        }
        return (address, UInt16(number))
    }

    private func controlSettings(_ table: TableReader) -> ControlSettings? {
        let socket = table.optional("socket", default: ControlSettings.defaultSocketPath, Self.unixSocketPath)
        return socket.map { ControlSettings(socketPath: $0) }
    }

    /// An absolute path short enough for `sockaddr_un`.
    private static func unixSocketPath(_ value: ConfigurationValue, _ path: ConfigurationKeyPath, _ log: ProblemLog) -> String? {
        guard let text = Decode.absolutePath(value, path, log) else { return nil }
        guard text.utf8.count <= ConfigurationLimits.socketPathBytes else {
            log.report(
                path, "\(text.utf8.count) bytes; a Unix socket path holds at most \(ConfigurationLimits.socketPathBytes)")
            return nil
        }
        return text
    }

    // MARK: cross-checks

    private func checkIdentities(_ node: NodeIdentity, _ peer: NodeIdentity) {
        if node.id == peer.id { log.report("peer.id", "\(peer.id) is our own id (node.id); the peer needs its own") }
        if node.name == peer.name {
            log.report("peer.name", "\"\(peer.name)\" is our own name (node.name); the peer needs its own")
        }
    }

    /// Where each own and peer address of the interfaces is configured.
    private func addressOwners(_ interfaces: [Indexed<InterfaceDraft>]) -> (
        own: [IPAddress: ConfigurationKeyPath], peer: [IPAddress: ConfigurationKeyPath]
    ) {
        var own: [IPAddress: ConfigurationKeyPath] = [:]
        var peer: [IPAddress: ConfigurationKeyPath] = [:]
        for interface in interfaces {
            let path = ConfigurationKeyPath.root + "interfaces" + interface.index
            for address in interface.value.addresses where own[address.value] == nil {
                own[address.value] = path + "addresses" + address.index
            }
            for address in interface.value.peerAddresses where peer[address.value] == nil {
                peer[address.value] = path + "peer-addresses" + address.index
            }
        }
        return (own, peer)
    }

    private func checkInterfaces(_ interfaces: [Indexed<InterfaceDraft>]) {
        var seen: [String: Int] = [:]
        var ownMACs: [MACAddress: ConfigurationKeyPath] = [:]
        for interface in interfaces {
            let path = ConfigurationKeyPath.root + "interfaces" + interface.index
            if let first = seen[interface.value.name] {
                log.report(path + "name", "\"\(interface.value.name)\" is already configured at interfaces[\(first)]")
            } else {
                seen[interface.value.name] = interface.index
            }
            if let mac = interface.value.mac, ownMACs[mac] == nil { ownMACs[mac] = path + "mac" }
        }
        let owners = addressOwners(interfaces)
        for interface in interfaces {
            let path = ConfigurationKeyPath.root + "interfaces" + interface.index
            if let own = ownMACs[interface.value.peerMAC] {
                log.report(
                    path + "peer-mac", "\(interface.value.peerMAC) is our own MAC (\(own)); the peer's MAC must differ")
            }
            for address in interface.value.peerAddresses {
                if let own = owners.own[address.value] {
                    log.report(path + "peer-addresses" + address.index, "\(address.value) is our own address (\(own))")
                }
            }
        }
    }

    /// Checks the groups and returns each one's interface (the configured one, or the only interface).
    private func checkGroups(_ groups: [Indexed<GroupDraft>], interfaces: [Indexed<InterfaceDraft>]) -> [String] {
        let owners = addressOwners(interfaces)
        let interfaceNames = interfaces.map(\.value.name)
        var ids: [UInt16: Int] = [:]
        var serviceAddresses: [IPAddress: ConfigurationKeyPath] = [:]
        return groups.map { group in
            let path = ConfigurationKeyPath.root + "groups" + group.index
            if let first = ids[group.value.id] {
                log.report(path + "id", "group \(group.value.id) is already defined at groups[\(first)]")
            } else {
                ids[group.value.id] = group.index
            }
            for address in group.value.addresses {
                let addressPath = path + "addresses" + address.index
                let ip = address.value.address
                if let own = owners.own[ip] {
                    log.report(
                        addressPath,
                        "\(ip) is our own interface address (\(own)); a group's addresses move between the nodes")
                } else if let peer = owners.peer[ip] {
                    log.report(
                        addressPath,
                        "\(ip) is the peer's own address (\(peer)); a group's addresses move between the nodes")
                } else if let earlier = serviceAddresses[ip] {
                    log.report(addressPath, "\(ip) is already a service address at \(earlier)")
                } else {
                    serviceAddresses[ip] = addressPath
                }
            }
            if let name = group.value.interface {
                if !interfaces.isEmpty && !interfaceNames.contains(name) {
                    log.report(
                        path + "interface",
                        "\"\(name)\" is not one of the configured interfaces (\(interfaceNames.joined(separator: ", ")))"
                    )
                }
                return name
            }
            if interfaces.count > 1 {
                log.report(path + "interface", "missing; required when several interfaces are configured")
            }
            return interfaceNames.first ?? ""
        }
    }

    private func checkChannels(
        _ channels: [Indexed<HeartbeatChannel>], interfaces: [Indexed<InterfaceDraft>], groups: [Indexed<GroupDraft>]
    ) {
        let owners = addressOwners(interfaces)
        var service: [IPAddress: ConfigurationKeyPath] = [:]
        for group in groups {
            // Addresses already reported as own or peer addresses are not reported again here.
            for address in group.value.addresses
            where service[address.value.address] == nil && owners.own[address.value.address] == nil
                && owners.peer[address.value.address] == nil
            {
                service[address.value.address] = .root + "groups" + group.index + "addresses" + address.index
            }
        }
        var seen: [HeartbeatChannel: Int] = [:]
        for channel in channels {
            let path = ConfigurationKeyPath.root + "heartbeat" + "channels" + channel.index
            let local = channel.value.localAddress
            let peer = channel.value.peerAddress
            if let first = seen[channel.value] {
                log.report(path, "same interface, addresses and port as heartbeat.channels[\(first)]")
                continue
            }
            seen[channel.value] = channel.index
            if local == peer {
                log.report(path + "peer", "\(peer) is the local address of this channel too")
            } else if NetlinkAddressFamily(of: local) != NetlinkAddressFamily(of: peer) {
                log.report(path + "peer", "\(peer) and the local address \(local) are of different IP versions")
            }
            if let own = owners.own[peer] { log.report(path + "peer", "\(peer) is our own address (\(own))") }
            if let theirs = owners.peer[local] {
                log.report(path + "local", "\(local) is the peer's address (\(theirs))")
            }
            for (key, address) in [("local", local), ("peer", peer)] {
                if let group = service[address] {
                    log.report(
                        path + key,
                        "\(address) is a service address (\(group)); heartbeats need fixed addresses that do not move")
                }
            }
        }
    }
}
