/// One node's view of one service group (a set of addresses that exactly one node serves at a time).
public enum FailoverState: UInt8, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// Started, listening for the peer, serving nothing.
    case initializing = 0
    /// The peer serves the group (or is about to); we watch. State-based mode tracks its sessions here.
    case standby = 1
    /// We serve the group: addresses added, ARP/ND answered, announcements sent.
    case active = 2
    /// We have decided to stop serving; the engine is undoing what `active` did. Nobody announces meanwhile.
    case releasing = 3
    /// Shut down; serves nothing, says so in its last heartbeats.
    case stopped = 4

    public var description: String {
        switch self {
        case .initializing: "initializing"
        case .standby: "standby"
        case .active: "active"
        case .releasing: "releasing"
        case .stopped: "stopped"
        }
    }

    /// States in which a node may be answering for the group.
    public var mayServe: Bool { self == .active || self == .releasing }
}

/// Why a transition happened; stamped into the failover timeline.
public enum TransitionReason: String, Hashable, Sendable {
    case startupNoPeer = "no peer heard within the startup wait"
    case peerFailed = "peer failed: every channel silent and no peer traffic"
    case peerUnanswered = "peer failed: every channel missed its heartbeats and clients' requests to the peer went unanswered"
    case peerReleasing = "peer is shutting down and released the group"
    case handedBack = "peer released the group to us"
    case nobodyServing = "peer does not serve the group and we are preferred"
    case peerServing = "peer serves the group"
    case preempted = "preferred peer ready and preemption delay over"
    case operatorTakeover = "operator asked for takeover"
    case peerOperatorTakeover = "operator on the peer asked for the group"
    case operatorRelease = "operator asked for release"
    case shutdown = "shutting down"
    case dualOwner = "both nodes active; the preferred node yields to the one that took over"
    case releaseDone = "release finished"
}

public enum FailoverInput: Hashable, Sendable {
    /// The periodic evaluation, with the failure detector's verdict at the same moment.
    case tick(FailureDetector.Verdict)
    /// An authentic, fresh heartbeat from the peer for this group.
    case heartbeat(HeartbeatMessage)
    case operatorTakeover
    case operatorRelease
    /// The engine finished the `stopServing` actions.
    case releaseCompleted
    case shutdown
}

public struct FailoverTransition: Hashable, Sendable {
    public var from: FailoverState
    public var to: FailoverState
    public var reason: TransitionReason
    public var at: MonotonicTime

    public init(from: FailoverState, to: FailoverState, reason: TransitionReason, at: MonotonicTime) {
        self.from = from
        self.to = to
        self.reason = reason
        self.at = at
    }
}

public enum CommandRefusal: String, Error, Hashable, Sendable {
    case peerNotAlive = "refused: the peer is not alive, nobody would serve the group"
    case notActive = "refused: this node does not serve the group"
    case shuttingDown = "refused: shutting down"
}

public struct FailoverOutcome: Hashable, Sendable {
    public var transition: FailoverTransition?
    public var refusal: CommandRefusal?
    /// The engine runs the takeover actions (entered `active`).
    public var startServing: Bool { transition?.to == .active }
    /// The engine undoes them and then reports `releaseCompleted` (entered `releasing`).
    public var stopServing: Bool { transition?.to == .releasing }
    /// Tell the peer now instead of at the next interval (any transition).
    public var sendHeartbeatNow: Bool { transition != nil }

    static let none = FailoverOutcome(transition: nil, refusal: nil)
}

/// The failover state machine for one group. Pure and deterministic: time comes in with every input.
///
/// Safety rule: a node enters `active` only when the peer cannot be serving — it failed, it said it stopped
/// (`release`, `released`, or a heartbeat state that does not serve), or nothing was heard from it for the
/// whole startup wait. When both nodes do end up active (a healed partition, a resumed frozen node), the
/// preferred one yields: the other only took over because it believed the preferred one dead, so it holds the
/// newer view and the clients' sessions; preemption then hands the group back cleanly.
public struct FailoverStateMachine: Sendable {
    public struct Policy: Hashable, Sendable {
        public var nodeID: UInt32
        public var priority: UInt8
        /// Whether the preferred node takes the group back from the other when both are healthy.
        public var preempt: Bool
        public var preemptDelay: UInt64
        /// How long the peer's failure detector waits before declaring us failed (its interval × miss count).
        public var failureWindow: UInt64
        /// How long a starting node listens before it serves with no peer heard; default: the failure window.
        public var startupWait: UInt64

        public init(
            nodeID: UInt32, priority: UInt8, preempt: Bool = true, preemptDelay: UInt64 = 0, failureWindow: UInt64,
            startupWait: UInt64? = nil
        ) {
            self.nodeID = nodeID
            self.priority = priority
            self.preempt = preempt
            self.preemptDelay = preemptDelay
            self.failureWindow = failureWindow
            self.startupWait = startupWait ?? failureWindow
        }
    }

    public struct PeerView: Hashable, Sendable {
        public var nodeID: UInt32
        public var priority: UInt8
        public var state: FailoverState
        public var flags: HeartbeatFlags
    }

    public let policy: Policy
    public let group: UInt16
    public private(set) var state: FailoverState = .initializing
    /// The peer's last heartbeat; nil before the first one and after the peer is declared failed.
    public private(set) var peer: PeerView?
    private let start: MonotonicTime
    private var peerReadySince: MonotonicTime?
    private var operatorWantsGroup = false
    /// After an operator release we do not ask for the group back on our own.
    private var operatorReleased = false
    private var shuttingDown = false
    /// Set when we gave the group back, until the peer shows it serves: tells it `released`.
    private var handedOver = false
    /// The newest heartbeat the view was taken from (the peer numbers its datagrams on every channel in one
    /// sequence; a restart raises the incarnation).
    private var newestHeartbeat: (nodeID: UInt32, incarnation: UInt64, sequence: UInt64)?

    public init(policy: Policy, group: UInt16, start: MonotonicTime) {
        self.policy = policy
        self.group = group
        self.start = start
    }

    /// Whether we win over `peer` for this group: higher priority, then lower node id.
    public func isPreferred(over peer: PeerView) -> Bool {
        policy.priority != peer.priority ? policy.priority > peer.priority : policy.nodeID < peer.nodeID
    }

    /// Flags for our next heartbeat.
    public var outgoingFlags: HeartbeatFlags {
        var flags: HeartbeatFlags = []
        if state == .stopped { flags.insert(.release) }
        if (state == .standby || state == .initializing) && wantsGroup {
            flags.insert(.ready)
            if operatorWantsGroup { flags.insert(.manual) }
        } else if handedOver || state == .stopped {
            // Never with `ready`: "take it, I won't serve" and "I want it" at once made a peer that had just
            // answered our `ready` by releasing take our stale `released` as a hand-back — both active, flapping.
            flags.insert(.released)
        }
        return flags
    }

    private var wantsGroup: Bool {
        if shuttingDown { return false }
        if operatorWantsGroup { return true }
        guard !operatorReleased, policy.preempt, let peer else { return false }
        return isPreferred(over: peer)
    }

    public mutating func handle(_ input: FailoverInput, at now: MonotonicTime) -> FailoverOutcome {
        switch input {
        case .tick(let verdict):
            // Our own stalls are excused by the detector; they need no transition here. A node that resumes after
            // a stall long enough for the peer to take over hears the peer's queued heartbeats saying `active`
            // and the dual-owner rule below settles it within one interval.
            if verdict.peerFailed { peer = nil }
            let failure: TransitionReason? =
                switch verdict.rule {
                case nil: nil
                case .missedHeartbeats: .peerFailed
                case .unansweredRequests: .peerUnanswered
                }
            return evaluate(failure: failure, at: now)
        case .heartbeat(let message):
            guard message.group == group else { return .none }
            // An older heartbeat than one already taken (held up in a busy kernel, or on the slower channel) would
            // turn the view back in time: a peer now active, seen as the standby it was, made us active too
            // (measured: 2 of 10 lab runs under load). Its liveness still counts, in the failure detector.
            if let newest = newestHeartbeat, newest.nodeID == message.nodeID,
                (message.incarnation, message.sequence) < (newest.incarnation, newest.sequence)
            {
                return .none
            }
            newestHeartbeat = (message.nodeID, message.incarnation, message.sequence)
            peer = PeerView(nodeID: message.nodeID, priority: message.priority, state: message.state, flags: message.flags)
            if message.state == .active { handedOver = false }
            return evaluate(failure: nil, at: now)
        case .operatorTakeover:
            guard !shuttingDown else { return FailoverOutcome(transition: nil, refusal: .shuttingDown) }
            operatorReleased = false
            guard state != .active else { return .none }
            if peer == nil && state != .releasing { return transition(to: .active, .operatorTakeover, at: now) }
            operatorWantsGroup = true
            return evaluate(failure: nil, at: now)
        case .operatorRelease:
            guard state == .active else { return FailoverOutcome(transition: nil, refusal: .notActive) }
            guard peer != nil else { return FailoverOutcome(transition: nil, refusal: .peerNotAlive) }
            operatorReleased = true
            operatorWantsGroup = false
            return transition(to: .releasing, .operatorRelease, at: now)
        case .releaseCompleted:
            guard state == .releasing else { return .none }
            if shuttingDown { return transition(to: .stopped, .releaseDone, at: now) }
            handedOver = true
            return transition(to: .standby, .releaseDone, at: now)
        case .shutdown:
            shuttingDown = true
            operatorWantsGroup = false
            switch state {
            case .active: return transition(to: .releasing, .shutdown, at: now)
            case .initializing, .standby: return transition(to: .stopped, .shutdown, at: now)
            case .releasing, .stopped: return .none
            }
        }
    }

    /// `failure`: the detector failed the peer, for this reason.
    private mutating func evaluate(failure: TransitionReason?, at now: MonotonicTime) -> FailoverOutcome {
        switch state {
        case .initializing:
            guard let peer else {
                let waited = now.nanoseconds(since: start) >= policy.startupWait
                return waited ? transition(to: .active, .startupNoPeer, at: now) : .none
            }
            if peer.flags.contains(.release) || peer.state == .stopped {
                return transition(to: .active, .peerReleasing, at: now)
            }
            if peer.state.mayServe { return transition(to: .standby, .peerServing, at: now) }
            if peer.flags.contains(.released) { return transition(to: .active, .handedBack, at: now) }
            return isPreferred(over: peer)
                ? transition(to: .active, .nobodyServing, at: now) : transition(to: .standby, .peerServing, at: now)
        case .standby:
            guard let peer else {
                return failure.map { transition(to: .active, $0, at: now) } ?? .none
            }
            if peer.flags.contains(.release) || peer.state == .stopped {
                return transition(to: .active, .peerReleasing, at: now)
            }
            if peer.state.mayServe { return .none }
            // `released` answers our `ready`, or an operator's release on the peer: either way it is ours now.
            if peer.flags.contains(.released) {
                return transition(to: .active, .handedBack, at: now)
            }
            if isPreferred(over: peer) && !operatorReleased || operatorWantsGroup {
                return transition(to: .active, .nobodyServing, at: now)
            }
            return .none
        case .active:
            guard let peer else {
                peerReadySince = nil
                return .none
            }
            if peer.state == .active && isPreferred(over: peer) {
                return transition(to: .releasing, .dualOwner, at: now)
            }
            guard peer.flags.contains(.ready), !peer.state.mayServe else {
                peerReadySince = nil
                return .none
            }
            if peer.flags.contains(.manual) { return transition(to: .releasing, .peerOperatorTakeover, at: now) }
            guard policy.preempt, !isPreferred(over: peer) else { return .none }
            let since = peerReadySince ?? now
            peerReadySince = since
            return now.nanoseconds(since: since) >= policy.preemptDelay
                ? transition(to: .releasing, .preempted, at: now) : .none
        case .releasing, .stopped:
            return .none
        }
    }

    private mutating func transition(to next: FailoverState, _ reason: TransitionReason, at now: MonotonicTime) -> FailoverOutcome {
        let from = state
        state = next
        peerReadySince = nil
        if next == .active {
            operatorWantsGroup = false
            handedOver = false
        }
        return FailoverOutcome(transition: FailoverTransition(from: from, to: next, reason: reason, at: now), refusal: nil)
    }
}
