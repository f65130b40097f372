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

        public init(name: String) { self.name = name }
    }

    public var channels: [Channel]
    /// Evaluations of the failure detector and the state machines (one per timer expiry read).
    public var ticks: UInt64 = 0
    /// Timer periods that passed without a tick because the loop ran late (expiration count − 1, summed).
    public var lateTimerExpirations: UInt64 = 0
    /// Our own stalls the failure detector excused (their silence did not count against the peer).
    public var stallsExcused: UInt64 = 0
    public var transitions: UInt64 = 0
    /// Shutdowns that stopped a group whose `stopServing` had not reported completion in time.
    public var releaseTimeouts: UInt64 = 0
    /// Failed waits of the loop itself (`poll`).
    public var loopErrors: UInt64 = 0

    public init(channelNames: [String]) {
        channels = channelNames.map { Channel(name: $0) }
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
}

public enum FailoverControllerError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidConfiguration([String])
    case channelSetupFailed(channel: String, SystemCallError)
    case setupFailed(SystemCallError)
    case alreadyStarted

    public var description: String {
        switch self {
        case .invalidConfiguration(let problems): "invalid failover configuration: \(problems.joined(separator: "; "))"
        case .channelSetupFailed(let channel, let error): "heartbeat channel \(channel): \(error)"
        case .setupFailed(let error): "failover controller: \(error)"
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
