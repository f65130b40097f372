public import TakeoverCore

/// The `takeover run` configuration of one node of a two-node lab: one group on the LAN interface, heartbeats on
/// the LAN and, when both nodes have one, on a dedicated link. The one place the lab tests and the bench write
/// it; each caller sets only what its scenario varies.
public struct LabTakeoverConfiguration: Sendable {
    /// One node as the configuration names it.
    public struct Node: Sendable {
        public var id: Int
        public var name: String
        public var priority: Int
        public var mac: MACAddress
        public var lanInterface: String
        public var lanAddress: String
        /// The dedicated heartbeat link (interface, address); nil for none.
        public var heartbeatLink: (interface: String, address: String)?

        public init(
            id: Int, name: String, priority: Int, mac: MACAddress, lanInterface: String = "eth0", lanAddress: String,
            heartbeatLink: (interface: String, address: String)? = nil
        ) {
            self.id = id
            self.name = name
            self.priority = priority
            self.mac = mac
            self.lanInterface = lanInterface
            self.lanAddress = lanAddress
            self.heartbeatLink = heartbeatLink
        }

        /// A failover-lab node: its LAN and heartbeat interfaces' first IPv4 addresses.
        public init(_ node: FailoverNode) {
            self.init(
                id: node.id, name: node.name, priority: node.priority, mac: node.lan.mac, lanInterface: node.lan.name,
                lanAddress: node.lan.ipv4.map { "\($0)" } ?? "", heartbeatLink: node.heartbeat.map { ($0.name, $0.ipv4.map { "\($0)" } ?? "") })
        }
    }

    public var me: Node
    public var peer: Node
    /// The group's addresses with their prefix length ("192.0.2.100/24").
    public var groupAddresses: [String]
    public var keyFile: String
    /// Namespaces share the file system: every node needs a control socket of its own.
    public var controlSocket: String
    public var interval: Duration = .milliseconds(10)
    public var missCount = 3
    /// `heartbeat.peer-traffic`; nil leaves the daemon's default.
    public var peerTraffic: Bool? = false
    /// `heartbeat.unanswered-window` (the unanswered-requests rule); nil: the rule is off.
    public var unansweredWindow: Duration?
    /// `heartbeat.unanswered-frames` and `unanswered-after`; nil leaves the daemon's defaults.
    public var unansweredFrames: Int?
    public var unansweredAfter: Int?
    /// `heartbeat.stall-cover`; nil leaves the daemon's default.
    public var stallCover: Duration?
    public var tcpPolicy = "none"
    public var resumeSocket: String?
    public var preempt = false
    /// `announcements.spacing`; nil leaves the default.
    public var announcementSpacing: Duration?
    /// `metrics.address`; nil turns metrics off.
    public var metricsAddress: String?

    public init(me: Node, peer: Node, groupAddresses: [String], keyFile: String, controlSocket: String) {
        self.me = me
        self.peer = peer
        self.groupAddresses = groupAddresses
        self.keyFile = keyFile
        self.controlSocket = controlSocket
    }

    /// The unanswered-requests rule's keys, each on its own line after a newline; empty when the rule is off.
    private var unansweredKeys: String {
        guard let unansweredWindow else { return "" }
        return "\nunanswered-window = \"\(unansweredWindow.labText)\""
            + (unansweredFrames.map { "\nunanswered-frames = \($0)" } ?? "")
            + (unansweredAfter.map { "\nunanswered-after = \($0)" } ?? "")
    }

    private var stallCoverKey: String { stallCover.map { "\nstall-cover = \"\($0.labText)\"" } ?? "" }

    /// The TOML text.
    public var text: String {
        var channels = [(me.lanInterface, me.lanAddress, peer.lanAddress)]
        if let mine = me.heartbeatLink, let theirs = peer.heartbeatLink {
            channels.append((mine.interface, mine.address, theirs.address))
        }
        let channelTables = channels.map { interface, local, remote in
            "[[heartbeat.channels]]\ninterface = \"\(interface)\"\nlocal = \"\(local)\"\npeer = \"\(remote)\"\n"
        }
        let addresses = groupAddresses.map { "\"\($0)\"" }.joined(separator: ", ")
        return """
            [node]
            id = \(me.id)
            name = "\(me.name)"

            [peer]
            id = \(peer.id)
            name = "\(peer.name)"

            [[interfaces]]
            name = "\(me.lanInterface)"
            addresses = ["\(me.lanAddress)"]
            peer-mac = "\(peer.mac)"
            peer-addresses = ["\(peer.lanAddress)"]

            [[groups]]
            id = 1
            interface = "\(me.lanInterface)"
            addresses = [\(addresses)]
            priority = { \(me.name) = \(me.priority), \(peer.name) = \(peer.priority) }

            [heartbeat]
            interval = "\(interval.labText)"
            miss-count = \(missCount)
            key-file = "\(keyFile)"\(peerTraffic.map { "\npeer-traffic = \($0)" } ?? "")\(unansweredKeys)\(stallCoverKey)

            \(channelTables.joined(separator: "\n"))
            [engine]
            mode = "state-based"
            capture = "auto"
            tcp-policy = "\(tcpPolicy)"\(resumeSocket.map { "\nresume-socket = \"\($0)\"" } ?? "")

            [announcements]
            count = 3\(announcementSpacing.map { "\nspacing = \"\($0.labText)\"" } ?? "")

            [failover]
            preempt = \(preempt)

            [metrics]
            \(metricsAddress.map { "address = \"\($0)\"" } ?? "enabled = false")

            [control]
            socket = "\(controlSocket)"
            """
    }
}
