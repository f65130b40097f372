public import TakeoverCore

/// One path heartbeats travel between the two nodes: a socket bound to `localAddress:port` on `interface`,
/// sending to `peerAddress:port`. Two channels on two links are what keeps one link's loss from looking like
/// the peer's death. Channels are numbered by their position in the configuration; both nodes must list them
/// in the same order (the number is in the authenticated heartbeat).
public struct HeartbeatChannel: Hashable, Sendable {
    public var name: String
    /// The interface the socket is pinned to (`SO_BINDTODEVICE`); nil leaves the route to the kernel.
    public var interface: String?
    public var localAddress: IPAddress
    public var peerAddress: IPAddress
    public var port: UInt16
    /// Socket receive buffer in bytes; nil keeps the kernel's default.
    public var receiveBufferSize: Int?

    /// `name` defaults to the interface's name (or the local address when the channel is not pinned).
    public init(
        name: String? = nil, interface: String?, localAddress: IPAddress, peerAddress: IPAddress,
        port: UInt16 = HeartbeatConfiguration.defaultPort, receiveBufferSize: Int? = 256 * 1024
    ) {
        self.name = name ?? interface ?? localAddress.description
        self.interface = interface
        self.localAddress = localAddress
        self.peerAddress = peerAddress
        self.port = port
        self.receiveBufferSize = receiveBufferSize
    }
}

/// A service group this node runs a state machine for (one per set of addresses that one node serves at a time).
public struct FailoverGroup: Hashable, Sendable {
    public var id: UInt16
    /// 0–255; higher wins; ties go to the lower node id.
    public var priority: UInt8
    /// Whether this node, when preferred, takes the group back from the peer once both are healthy.
    public var preempt: Bool
    public var preemptDelay: Duration

    public init(id: UInt16, priority: UInt8, preempt: Bool = true, preemptDelay: Duration = .zero) {
        self.id = id
        self.priority = priority
        self.preempt = preempt
        self.preemptDelay = preemptDelay
    }
}

public struct FailoverControllerConfiguration: Hashable, Sendable {
    public var nodeID: UInt32
    public var channels: [HeartbeatChannel]
    public var groups: [FailoverGroup]
    /// Heartbeat period; also the period at which the failure detector and the state machines are evaluated.
    public var interval: Duration
    /// The peer has failed after this many intervals without a heartbeat on any channel.
    public var missCount: Int
    /// Whether the peer's own frames (reported through `FailoverController.peerTrafficSeen(at:)`) keep it alive.
    public var usesPeerTraffic: Bool
    /// The unanswered-requests rule (state-based standbys: the capture reports clients' frames to the peer through
    /// `FailoverController.unansweredRequestsSeen(at:)`); nil: off.
    public var unansweredRequests: UnansweredRequestRule?
    /// A gap between ticks above this is our own stall, excused; nil: the detector's default.
    public var stallThreshold: Duration?
    /// How long a starting node listens before serving with no peer heard; nil: the failure window.
    public var startupWait: Duration?
    /// Heartbeats (with `release`) sent after every group stopped at shutdown: the first at once, then one
    /// per interval, so one lost datagram does not leave the peer waiting for the failure window.
    public var finalHeartbeats: Int
    /// How long shutdown waits for `stopServing` to report completion before it stops anyway.
    public var releaseTimeout: Duration
    /// How many transitions' timelines are kept (the oldest are dropped).
    public var timelineCapacity: Int
    /// `SCHED_FIFO` priority (1–99) for the controller thread, so heartbeats keep their pace on a busy machine
    /// (keepalived's `vrrp_rt_priority`); needs CAP_SYS_NICE — when refused, the thread runs with ordinary
    /// scheduling and `FailoverController.scheduling` says why. nil: ordinary scheduling.
    /// Default: `defaultRealtimePriority`. Measured on a loaded 2-core VM with 1 ms heartbeats: an ordinary
    /// thread's heartbeats went out several ms late often enough to make its peer take over (bench/RESULTS.md).
    public var realtimePriority: Int32?

    /// When set, a second thread on another CPU sends our heartbeats while the controller thread is late, for at
    /// most this long after its last ones (`StallCover`); nil: off. Needs two allowed CPUs; pins both threads.
    public var stallCover: Duration?

    /// The controller thread's CPU, then the stall cover's (`[heartbeat] cpus`): one or two distinct CPUs, two while
    /// the cover is on. nil: the highest two CPUs this process may use with the cover, and the controller unpinned
    /// without it. A CPU this process may not use makes `start` fail (`.cpuNotAllowed`) rather than run elsewhere.
    public var cpus: [Int]?

    /// Low among real-time priorities: above every ordinary thread, below the kernel's own RT threads.
    public static let defaultRealtimePriority: Int32 = 10

    public init(
        nodeID: UInt32, channels: [HeartbeatChannel], groups: [FailoverGroup], interval: Duration = .milliseconds(10),
        missCount: Int = 3, usesPeerTraffic: Bool = true, unansweredRequests: UnansweredRequestRule? = nil,
        stallThreshold: Duration? = nil, startupWait: Duration? = nil,
        finalHeartbeats: Int = 3, releaseTimeout: Duration = .seconds(2), timelineCapacity: Int = 64,
        realtimePriority: Int32? = defaultRealtimePriority, stallCover: Duration? = nil, cpus: [Int]? = nil
    ) {
        self.nodeID = nodeID
        self.channels = channels
        self.groups = groups
        self.interval = interval
        self.missCount = missCount
        self.usesPeerTraffic = usesPeerTraffic
        self.unansweredRequests = unansweredRequests
        self.stallThreshold = stallThreshold
        self.startupWait = startupWait
        self.finalHeartbeats = finalHeartbeats
        self.releaseTimeout = releaseTimeout
        self.timelineCapacity = timelineCapacity
        self.realtimePriority = realtimePriority
        self.stallCover = stallCover
        self.cpus = cpus
    }

    /// Interval × miss count: how long the peer waits before declaring us failed (configurations are symmetric).
    public var failureWindow: Duration { interval * missCount }

    /// Every reason this configuration cannot run; empty when it can.
    public var problems: [String] {
        var problems: [String] = []
        if !(1...8).contains(channels.count) { problems.append("1 to 8 heartbeat channels are needed, not \(channels.count)") }
        if groups.isEmpty { problems.append("at least one group is needed") }
        if Set(groups.map(\.id)).count != groups.count { problems.append("group ids must be unique") }
        if interval.nanoseconds == 0 { problems.append("the interval must be positive") }
        if missCount < 1 { problems.append("the miss count must be at least 1") }
        if let rule = unansweredRequests, rule.missedIntervals >= missCount {
            problems.append("the unanswered-requests rule's missed intervals (\(rule.missedIntervals)) must be below the miss count")
        }
        if finalHeartbeats < 1 { problems.append("at least one final heartbeat is needed") }
        if timelineCapacity < 1 { problems.append("the timeline capacity must be at least 1") }
        if let realtimePriority, !(1...99).contains(realtimePriority) {
            problems.append("the real-time priority must be 1 to 99, not \(realtimePriority)")
        }
        if let stallCover, stallCover <= interval {
            problems.append("the stall cover (\(stallCover)) must be longer than the interval (\(interval))")
        }
        if let cpus {
            if !(1...2).contains(cpus.count) { problems.append("cpus: 1 or 2 CPUs are needed, not \(cpus.count)") }
            for cpu in cpus where !HeartbeatCPUs.range.contains(cpu) {
                problems.append("cpus: CPU \(cpu) is out of range (\(HeartbeatCPUs.range.lowerBound)–\(HeartbeatCPUs.range.upperBound))")
            }
            problems += HeartbeatCPUs.conflicts(cpus, coverOn: stallCover != nil).map { "cpus: " + $0 }
        }
        for channel in channels {
            switch (channel.localAddress, channel.peerAddress) {
            case (.v4, .v4), (.v6, .v6): break
            default: problems.append("channel \(channel.name): local and peer addresses of different families")
            }
        }
        return problems
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to 0 below and UInt64.max above: the unit of the core's clocks.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return overflow || carry ? .max : total
    }
}

/// The rules for `[heartbeat] cpus` that the loader, the environment check and the controller share.
public enum HeartbeatCPUs {
    /// glibc's `cpu_set_t` holds CPUs 0 to 1023 (`CPU_SETSIZE`).
    public static let range = 0...1023

    /// What is wrong with a list of valid CPU numbers (its count within 1–2): a CPU given twice, or one CPU where
    /// the cover needs its own.
    static func conflicts(_ cpus: [Int], coverOn: Bool) -> [String] {
        var problems: [String] = []
        for (index, cpu) in cpus.enumerated() where cpus[..<index].contains(cpu) {
            problems.append("CPU \(cpu) given twice")
        }
        if coverOn && cpus.count < 2 {
            problems.append("2 CPUs needed while stall-cover is on (the controller's, then the cover's)")
        }
        return problems
    }

    /// "CPU 7 is not one this process may use (allowed: 0-1)".
    static func notAllowed(_ cpu: Int, allowed: [Int]) -> String {
        "CPU \(cpu) is not one this process may use (allowed: \(allowed.isEmpty ? "none could be read" : listText(allowed)))"
    }

    /// Ascending CPUs in the kernel's list format (`Cpus_allowed_list`, `taskset -c`): "0-3,6,8-9".
    public static func listText(_ cpus: [Int]) -> String {
        var runs: [String] = []
        var index = cpus.startIndex
        while index < cpus.endIndex {
            var end = index
            while end + 1 < cpus.endIndex && cpus[end + 1] == cpus[end] + 1 { end += 1 }
            runs.append(end == index ? "\(cpus[index])" : "\(cpus[index])-\(cpus[end])")
            index = end + 1
        }
        return runs.joined(separator: ",")
    }
}
