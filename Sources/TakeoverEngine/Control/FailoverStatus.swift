public import TakeoverCore
public import TakeoverLinux

/// Heartbeats received on one channel, by outcome (the core receiver's classification).
public typealias HeartbeatReceiptCounters = HeartbeatReceiver<HMACAuthenticator>.Counters

/// The controller's counters, a consistent snapshot (see `FailoverController.counters`).
public struct FailoverCounters: Equatable, Sendable {
    public struct Channel: Equatable, Sendable {
        public var name: String
        public var sent: UInt64 = 0
        /// The kernel refused the datagram (with the link down: `ENETDOWN`, `ENETUNREACH`…); see `lastSendError`.
        public var sendFailures: UInt64 = 0
        /// The socket's send queue was full.
        public var sendQueueFull: UInt64 = 0
        public var lastSendError: SystemCallError?
        /// Datagrams read from the socket.
        public var received: UInt64 = 0
        public var receiveErrors: UInt64 = 0
        /// What became of the datagrams read: accepted, or rejected by reason.
        public var heartbeats = HeartbeatReceiptCounters()
        /// When the last heartbeat was accepted on this channel.
        public var lastAccepted: MonotonicTime?
        /// The longest time between two accepted heartbeats on this channel, as our loop saw them (ns).
        public var longestGap: UInt64 = 0
        /// Accepted heartbeats that came more than 1.5 intervals after the previous one on this channel.
        public var lateArrivals: UInt64 = 0
        /// Of two consecutive heartbeats of the peer (nothing sent in between), the widest spacing of their send
        /// times (ns): the peer's own lateness, whatever the network did.
        public var peerLongestSendSpacing: UInt64 = 0
        /// Consecutive heartbeats of the peer sent more than 1.5 intervals apart: a late sender, not a lost datagram.
        public var peerLateSends: UInt64 = 0
        /// Accepted heartbeats after which some of the peer's datagrams never arrived (lost, or an extra send).
        public var sequenceGaps: UInt64 = 0

        public init(name: String) { self.name = name }
    }

    public var channels: [Channel]
    /// Evaluations of the failure detector and the state machines (one per timer expiry read).
    public var ticks: UInt64 = 0
    /// Timer periods that passed without a tick because the loop ran late (expiration count − 1, summed).
    public var lateTimerExpirations: UInt64 = 0
    /// Our own stalls the failure detector excused (their silence did not count against the peer).
    public var stallsExcused: UInt64 = 0
    /// The longest of them (ns).
    public var longestStallExcused: UInt64 = 0
    /// The longest time between two ticks of our periodic timer (ns): how late our own heartbeats went out.
    public var longestTickGap: UInt64 = 0
    /// Ticks that came more than the failure window after the previous one: our heartbeats went out late enough
    /// for a peer with our settings to take over.
    public var stallsBeyondWindow: UInt64 = 0
    /// Evaluations the failure-deadline timer triggered between ticks.
    public var deadlineJudgements: UInt64 = 0
    /// When the detector last failed the peer: the silence it judged (ns since the newest sign of life).
    public var lastFailureSilence: UInt64?
    /// Times the detector turned to "peer failed", by the rule that decided.
    public var failuresByMissedHeartbeats: UInt64 = 0
    public var failuresByUnansweredRequests: UInt64 = 0
    /// The rule of the last failure decided.
    public var lastFailureRule: FailureDetector.Rule?
    /// Times the peer was heard again, in the same incarnation, after the detector had failed it (a false failover,
    /// or a cut that healed), and what the last such return said about the silence (`PeerReturnReview`).
    public var peerReturns = PeerReturnCounts()
    public var lastPeerReturn: PeerReturnReview?
    /// Reports of unanswered-requests evidence that woke the loop while it waited for one.
    public var unansweredEvidenceWakeups: UInt64 = 0
    /// Where the stall cover runs, and what it did: heartbeats sent for a late controller thread, sends refused,
    /// and the stalls it covered (each a run of late ticks).
    public var stallCover: StallCoverPlacement = .off
    public var stallCoverHeartbeats: UInt64 = 0
    public var stallCoverSendFailures: UInt64 = 0
    public var stallsCovered: UInt64 = 0
    /// How the controller thread is scheduled (`SCHED_FIFO` when asked and permitted).
    public var scheduling: ControllerScheduling = .ordinary
    public var transitions: UInt64 = 0
    /// Shutdowns that stopped a group whose `stopServing` had not reported completion in time.
    public var releaseTimeouts: UInt64 = 0
    /// Failed waits of the loop itself (`poll`).
    public var loopErrors: UInt64 = 0

    public init(channelNames: [String]) {
        channels = channelNames.map { Channel(name: $0) }
    }
}

/// The controller thread's scheduling.
public enum ControllerScheduling: Equatable, Sendable {
    /// The ordinary time-sharing scheduler, as configured (`realtimePriority` nil).
    case ordinary
    /// `SCHED_FIFO` at this priority.
    case realtime(priority: Int32)
    /// `SCHED_FIFO` was asked for but refused (no CAP_SYS_NICE, an RT budget of 0 in the cgroup…): ordinary
    /// scheduling, so heartbeats may go out late on a busy machine.
    case realtimeRefused(SystemCallError)
}

/// The peer's returns after it was judged failed, by what its heartbeats said the silence was.
public struct PeerReturnCounts: Hashable, Sendable {
    public var heartbeatsDelayed: UInt64 = 0
    public var heartbeatsLost: UInt64 = 0
    public var peerStalled: UInt64 = 0

    public init() {}

    public mutating func count(_ finding: PeerReturnReview.Finding) {
        switch finding {
        case .heartbeatsDelayed: heartbeatsDelayed += 1
        case .heartbeatsLost: heartbeatsLost += 1
        case .peerStalled: peerStalled += 1
        }
    }
}

/// What the controller tells an operator about its heartbeats, besides transitions (`FailoverController`'s
/// `onDiagnostic`; the daemon logs each as a warning).
public enum FailoverDiagnostic: Hashable, Sendable, CustomStringConvertible {
    /// The peer was heard again, not restarted, after it was judged failed: what its heartbeats say the silence was.
    case peerReturned(PeerReturnReview)
    /// Our own loop did not run for `gap` ns, longer than the failure window: our heartbeats went out that late, and
    /// a peer with our settings may have taken over. `unreported`: stalls since the last report (one a second).
    case ownStall(gap: UInt64, window: UInt64, unreported: Int)

    public var description: String {
        switch self {
        case .peerReturned(let review): "peer \(review)"
        case .ownStall(let gap, let window, let unreported):
            "controller loop did not run for \(Milliseconds(gap)) ms, longer than the \(Milliseconds(window)) ms failure "
                + "window: our heartbeats went out that late and the peer may have judged us failed"
                + (unreported > 0 ? " (\(unreported) more such stalls in the last second)" : "")
        }
    }
}

/// Where the controller thread and the stall cover run (`FailoverControllerConfiguration.stallCover` and `.cpus`).
public enum StallCoverPlacement: Hashable, Sendable, CustomStringConvertible {
    /// Where the CPUs came from.
    public enum CPUChoice: Hashable, Sendable {
        /// The highest two CPUs this process may use (no `cpus` configured).
        case highestAllowed
        /// `[heartbeat] cpus`.
        case configured
    }

    /// Not configured; the controller thread is not pinned.
    case off
    /// Not configured; the controller thread pinned to `controllerCPU` by `[heartbeat] cpus`.
    case offControllerPinned(controllerCPU: Int)
    /// The controller thread pinned to one CPU, the cover to another; it covers stalls up to `limit` ns.
    case running(controllerCPU: Int, coverCPU: Int, limit: UInt64, chosen: CPUChoice)
    /// Configured but not running, and why (one CPU allowed, the thread refused…).
    case unavailable(String)

    /// The CPU the controller thread is pinned to; nil: not pinned.
    public var controllerCPU: Int? {
        switch self {
        case .off, .unavailable: nil
        case .offControllerPinned(let cpu), .running(let cpu, _, _, _): cpu
        }
    }

    public var description: String {
        switch self {
        case .off: "off, controller thread not pinned"
        case .offControllerPinned(let controller): "off, controller on CPU \(controller) (as heartbeat.cpus says)"
        case .running(let controller, let cover, let limit, let chosen):
            "controller on CPU \(controller), stall cover on CPU \(cover) "
                + (chosen == .configured ? "(as heartbeat.cpus says)" : "(the highest two allowed)")
                + ", for up to \(Milliseconds(limit)) ms"
        case .unavailable(let reason): "unavailable: \(reason)"
        }
    }
}

/// One group as the controller sees it now.
public struct FailoverGroupStatus: Hashable, Sendable {
    public var id: UInt16
    public var state: FailoverState
    /// The peer's last heartbeat for this group; nil before the first and after the peer was declared failed.
    public var peer: FailoverStateMachine.PeerView?
}

/// Passed to `onStateChange` after every transition (on the controller thread, after the actions were called).
public struct FailoverStateChange: Hashable, Sendable {
    public var group: UInt16
    public var transition: FailoverTransition
    public var timelineID: UInt64
    /// For a takeover because the peer failed: the detector's rule and its figures.
    public var failure: FailureDetector.Rule?
}

extension FailureDetector.Rule: CustomStringConvertible {
    /// "3 heartbeats missed" or "unanswered requests: 2 client frames, peer silent for 8.04 ms".
    public var description: String {
        switch self {
        case .missedHeartbeats(let count): "\(count) heartbeats missed"
        case .unansweredRequests(let frames, let silence):
            "unanswered requests: \(frames) client frames, peer silent for \(Milliseconds(silence)) ms"
        }
    }
}

public enum FailoverControllerError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidConfiguration([String])
    case channelSetupFailed(channel: String, SystemCallError)
    case setupFailed(SystemCallError)
    /// A CPU of `cpus` that this process may not use (`allowed`: those it may, ascending).
    case cpuNotAllowed(cpu: Int, allowed: [Int])
    case alreadyStarted

    public var description: String {
        switch self {
        case .invalidConfiguration(let problems): "invalid failover configuration: \(problems.joined(separator: "; "))"
        case .channelSetupFailed(let channel, let error): "heartbeat channel \(channel): \(error)"
        case .setupFailed(let error): "failover controller: \(error)"
        case .cpuNotAllowed(let cpu, let allowed): "heartbeat.cpus: " + HeartbeatCPUs.notAllowed(cpu, allowed: allowed)
        case .alreadyStarted: "the failover controller was started already"
        }
    }
}

public enum FailoverCommandError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The state machine refused (its reason).
    case refused(CommandRefusal)
    case unknownGroup(UInt16)
    /// The controller is not running (not started, or shut down).
    case notRunning

    public var description: String {
        switch self {
        case .refused(let refusal): refusal.rawValue
        case .unknownGroup(let group): "no group \(group) on this node"
        case .notRunning: "the failover controller is not running"
        }
    }
}

extension HeartbeatReceiptCounters {
    /// Counts one outcome of `HeartbeatReceiver.receive` the way the receiver counts it.
    mutating func count(_ result: Result<HeartbeatMessage, HeartbeatError>) {
        switch result {
        case .success: accepted += 1
        case .failure(.badTag): badTag += 1
        case .failure(.notForUs): notForUs += 1
        case .failure(.wrongChannel): wrongChannel += 1
        case .failure(.staleIncarnation): staleIncarnation += 1
        case .failure(.replayed): replayed += 1
        case .failure(.bufferTooSmall), .failure(.wrongLength), .failure(.badMagic), .failure(.unsupportedVersion),
            .failure(.badState):
            malformed += 1
        }
    }
}
