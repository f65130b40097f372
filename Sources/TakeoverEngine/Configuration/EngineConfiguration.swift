public import TakeoverCore

/// Everything a takeover node needs to run, as plain values. Build one with `ConfigurationLoader` from a
/// file, or directly (an appliance firmware that has its own settings store). docs/configuration.md describes
/// every field as the file spells it.
public struct EngineConfiguration: Hashable, Sendable {
    public var node: NodeIdentity
    public var peer: NodeIdentity
    /// The interfaces where this node serves addresses and watches its peer; at least one.
    public var interfaces: [InterfaceConfiguration]
    /// One failover state machine each; active/active is two groups with opposite priorities.
    public var groups: [ServiceGroupConfiguration]
    public var heartbeat: HeartbeatConfiguration
    public var engine: EngineSettings
    public var announcements: AnnouncementSettings
    public var failover: FailoverSettings
    public var hooks: [NotifyHook]
    public var metrics: MetricsSettings
    public var control: ControlSettings

    public init(
        node: NodeIdentity, peer: NodeIdentity, interfaces: [InterfaceConfiguration],
        groups: [ServiceGroupConfiguration], heartbeat: HeartbeatConfiguration, engine: EngineSettings = .init(),
        announcements: AnnouncementSettings = .init(), failover: FailoverSettings, hooks: [NotifyHook] = [],
        metrics: MetricsSettings = .init(), control: ControlSettings = .init()
    ) {
        self.node = node
        self.peer = peer
        self.interfaces = interfaces
        self.groups = groups
        self.heartbeat = heartbeat
        self.engine = engine
        self.announcements = announcements
        self.failover = failover
        self.hooks = hooks
        self.metrics = metrics
        self.control = control
    }
}

public struct NodeIdentity: Hashable, Sendable {
    /// Unique in the cluster; carried in every heartbeat. Never 0.
    public var id: UInt32
    /// Names the node in group priorities, logs and hooks.
    public var name: String

    public init(id: UInt32, name: String) {
        self.id = id
        self.name = name
    }
}

public struct InterfaceConfiguration: Hashable, Sendable {
    public var name: String
    /// Our MAC on this interface; nil in a file that leaves it out, filled in from the interface by the
    /// environment check.
    public var mac: MACAddress?
    /// Our own fixed addresses on this interface (never moved by failover).
    public var addresses: [IPAddress]
    /// The peer's MAC on the shared segment: what the standby watches and what takeover rewrites.
    public var peerMAC: MACAddress
    /// The peer's own fixed addresses.
    public var peerAddresses: [IPAddress]

    public init(
        name: String, mac: MACAddress? = nil, addresses: [IPAddress] = [], peerMAC: MACAddress,
        peerAddresses: [IPAddress] = []
    ) {
        self.name = name
        self.mac = mac
        self.addresses = addresses
        self.peerMAC = peerMAC
        self.peerAddresses = peerAddresses
    }
}

/// An address with the prefix length it is added to the interface with.
public struct InterfaceAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var prefixLength: UInt8

    public init(address: IPAddress, prefixLength: UInt8) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// A set of addresses that exactly one node serves at a time.
public struct ServiceGroupConfiguration: Hashable, Sendable {
    /// The group id in heartbeats (like a VRRP VRID); 1–65535, unique.
    public var id: UInt16
    /// The interface (one of `EngineConfiguration.interfaces`) the addresses live on.
    public var interface: String
    public var addresses: [InterfaceAddress]
    /// This node's priority for the group (higher wins; ties go to the lower node id).
    public var priority: UInt8
    /// The peer's priority as configured; the peer announces its own in its heartbeats.
    public var peerPriority: UInt8

    public init(id: UInt16, interface: String, addresses: [InterfaceAddress], priority: UInt8, peerPriority: UInt8) {
        self.id = id
        self.interface = interface
        self.addresses = addresses
        self.priority = priority
        self.peerPriority = peerPriority
    }
}

public struct HeartbeatConfiguration: Hashable, Sendable {
    /// 1 to `maximumChannels` channels; the peer fails only when all of them are silent.
    public var channels: [HeartbeatChannel]
    public var interval: Duration
    /// Intervals a channel may miss before it counts as silent.
    public var missCount: Int
    /// Frames from the peer's MAC also prove it alive.
    public var usesPeerTraffic: Bool
    /// The shared HMAC key: the file's whole content, owner-only.
    public var keyFile: String
    /// The unanswered-requests rule's W (`unanswered-window`); nil: the rule is off.
    public var unansweredWindow: Duration?
    /// N: client frames to the peer within W after its last frame (`unanswered-frames`).
    public var unansweredFrames: Int
    /// k: intervals every channel must have missed first (`unanswered-after`), below `missCount`.
    public var unansweredAfter: Int
    /// How long a second thread sends our heartbeats while the controller thread is late (`stall-cover`); nil: off.
    public var stallCover: Duration?
    /// The controller thread's CPU, then the stall cover's (`cpus`); nil: the highest two this process may use (the
    /// controller unpinned while the cover is off).
    public var cpus: [Int]?

    public static let maximumChannels = 8
    public static let defaultPort: UInt16 = 7410
    public static let defaultInterval = Duration.milliseconds(100)
    public static let defaultMissCount = 3
    public static let defaultKeyFile = "/etc/takeover/key"
    public static let defaultUnansweredFrames = 2
    public static let defaultUnansweredAfter = 1

    /// `stall-cover` when not configured: 50 ms below 50 ms heartbeats, where a stall of a few ms can reach the peer's
    /// window (measured up to 37 ms on a loaded VM, bench/RESULTS.md); off from 50 ms up, where the window covers it.
    public static func defaultStallCover(interval: Duration) -> Duration? {
        interval < .milliseconds(50) ? .milliseconds(50) : nil
    }

    public init(
        channels: [HeartbeatChannel], interval: Duration = defaultInterval, missCount: Int = defaultMissCount,
        usesPeerTraffic: Bool = true, keyFile: String = defaultKeyFile, unansweredWindow: Duration? = nil,
        unansweredFrames: Int = defaultUnansweredFrames, unansweredAfter: Int = defaultUnansweredAfter,
        stallCover: Duration? = nil, cpus: [Int]? = nil
    ) {
        self.channels = channels
        self.interval = interval
        self.missCount = missCount
        self.usesPeerTraffic = usesPeerTraffic
        self.keyFile = keyFile
        self.unansweredWindow = unansweredWindow
        self.unansweredFrames = unansweredFrames
        self.unansweredAfter = unansweredAfter
        self.stallCover = stallCover
        self.cpus = cpus
    }

    /// The unanswered-requests rule as the core takes it; nil when off.
    public var unansweredRequests: UnansweredRequestRule? {
        unansweredWindow.map {
            UnansweredRequestRule(
                window: $0.wholeNanoseconds, minimumFrames: unansweredFrames, missedIntervals: unansweredAfter)
        }
    }

    /// How long the peer may stay silent before it is failed: interval × miss count.
    public var failureWindow: Duration { interval * missCount }
}

public enum EngineMode: String, Hashable, Sendable, CaseIterable {
    /// The standby captures the peer's traffic and tracks its sessions.
    case stateBased = "state-based"
    /// The standby listens only once the peer has failed.
    case stateless
}

public enum CaptureBackend: String, Hashable, Sendable, CaseIterable {
    /// XDP when it can be attached, else libpcap.
    case auto
    case xdp
    case pcap
}

public enum TCPPolicy: String, Hashable, Sendable, CaseIterable {
    /// An in-window RST to every tracked client at takeover.
    case reset
    /// Rebuild tracked connections with TCP_REPAIR and hand them to the local service (state-based mode only).
    case resume
    case none
}

public struct EngineSettings: Hashable, Sendable {
    public var mode: EngineMode
    public var capture: CaptureBackend
    public var tcpPolicy: TCPPolicy
    /// Where the local service receives the connections `resume` rebuilds (`TakeoverResume.ResumedSessionReceiver`).
    public var resumeSocketPath: String

    public static let defaultResumeSocketPath = "/run/takeover/resume.sock"

    public init(
        mode: EngineMode = .stateBased, capture: CaptureBackend = .auto, tcpPolicy: TCPPolicy = .reset,
        resumeSocketPath: String = defaultResumeSocketPath
    ) {
        self.mode = mode
        self.capture = capture
        self.tcpPolicy = tcpPolicy
        self.resumeSocketPath = resumeSocketPath
    }
}

public struct AnnouncementSettings: Hashable, Sendable {
    /// Gratuitous ARP (both forms) and unsolicited NA rounds sent at takeover.
    public var count: Int
    public var spacing: Duration
    /// Period of the repeat while active; zero turns it off.
    public var refresh: Duration

    public init(count: Int = 3, spacing: Duration = .milliseconds(10), refresh: Duration = .seconds(10)) {
        self.count = count
        self.spacing = spacing
        self.refresh = refresh
    }
}

public struct FailoverSettings: Hashable, Sendable {
    /// Whether the preferred node takes a group back when it returns.
    public var preempt: Bool
    public var preemptDelay: Duration
    /// How long a starting node listens for its peer before serving alone.
    public var startupWait: Duration

    /// The failure window, but at least one second: two nodes started together must hear each other before
    /// either serves alone, and a process start (XDP load, key, sockets) takes longer than a 30 ms window.
    public static func defaultStartupWait(failureWindow: Duration) -> Duration { max(failureWindow, .seconds(1)) }

    public init(preempt: Bool = true, preemptDelay: Duration = .zero, startupWait: Duration) {
        self.preempt = preempt
        self.preemptDelay = preemptDelay
        self.startupWait = startupWait
    }
}

/// An executable run on every state change: `path` with `arguments` as argv (never through a shell).
public struct NotifyHook: Hashable, Sendable {
    public var path: String
    public var arguments: [String]
    /// The hook is killed after this long.
    public var timeout: Duration

    public init(path: String, arguments: [String] = [], timeout: Duration = .seconds(5)) {
        self.path = path
        self.arguments = arguments
        self.timeout = timeout
    }
}

public struct MetricsSettings: Hashable, Sendable {
    public var enabled: Bool
    public var address: IPAddress
    public var port: UInt16

    public init(enabled: Bool = true, address: IPAddress = .v4(IPv4Address(127, 0, 0, 1)), port: UInt16 = 9464) {
        self.enabled = enabled
        self.address = address
        self.port = port
    }
}

public struct ControlSettings: Hashable, Sendable {
    /// The root-only Unix socket that `takeover status`, `takeover takeover` and `release` talk to.
    public var socketPath: String

    public static let defaultSocketPath = "/run/takeover/control.sock"

    public init(socketPath: String = defaultSocketPath) { self.socketPath = socketPath }
}

// MARK: what the core's control plane takes

extension Duration {
    /// Whole nanoseconds, the unit of `MonotonicTime` and of the core's policies. Negative durations give 0.
    public var wholeNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}

extension EngineConfiguration {
    /// The failure detector's settings for these heartbeats.
    public var failureDetector: FailureDetector.Configuration {
        FailureDetector.Configuration(
            channelCount: heartbeat.channels.count, interval: heartbeat.interval.wholeNanoseconds,
            missCount: heartbeat.missCount, usesPeerTraffic: heartbeat.usesPeerTraffic,
            unansweredRequests: heartbeat.unansweredRequests)
    }

    /// The state machine policy for one group.
    public func failoverPolicy(for group: ServiceGroupConfiguration) -> FailoverStateMachine.Policy {
        FailoverStateMachine.Policy(
            nodeID: node.id, priority: group.priority, preempt: failover.preempt,
            preemptDelay: failover.preemptDelay.wholeNanoseconds,
            failureWindow: heartbeat.failureWindow.wholeNanoseconds, startupWait: failover.startupWait.wholeNanoseconds)
    }
}
