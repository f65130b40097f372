/// Authenticates heartbeats and rejects replays, per sender. Every rejection is counted by reason; a forged,
/// replayed or malformed heartbeat never reaches the failure detector or the state machine.
public struct HeartbeatReceiver<Authenticator: MessageAuthenticator>: Sendable {
    public struct Counters: Hashable, Sendable {
        public var accepted: UInt64 = 0
        public var malformed: UInt64 = 0
        public var badTag: UInt64 = 0
        public var notForUs: UInt64 = 0
        public var wrongChannel: UInt64 = 0
        public var staleIncarnation: UInt64 = 0
        public var replayed: UInt64 = 0
        public var rejected: UInt64 { malformed + badTag + notForUs + wrongChannel + staleIncarnation + replayed }

        public init() {}
    }

    private struct SenderKey: Hashable {
        var nodeID: UInt32
        var group: UInt16
    }

    private struct SenderState {
        var incarnation: UInt64
        var window = ReplayWindow()
    }

    public let localNodeID: UInt32
    public let groups: Set<UInt16>
    private let authenticator: Authenticator
    private var senders: [SenderKey: SenderState] = [:]
    public private(set) var counters = Counters()

    public init(localNodeID: UInt32, groups: Set<UInt16>, authenticator: Authenticator) {
        self.localNodeID = localNodeID
        self.groups = groups
        self.authenticator = authenticator
    }

    /// Checks one datagram received on `channel`; returns the message when it is authentic, fresh and ours.
    public mutating func receive(
        _ bytes: UnsafeRawBufferPointer, onChannel channel: UInt8
    ) -> Result<HeartbeatMessage, HeartbeatError> {
        let message: HeartbeatMessage
        do {
            message = try HeartbeatMessage(decoding: bytes, authenticator: authenticator)
        } catch {
            if error == .badTag { counters.badTag += 1 } else { counters.malformed += 1 }
            return .failure(error)
        }
        // Order matters: only messages that passed the tag may touch per-sender state.
        guard message.nodeID != localNodeID, groups.contains(message.group) else {
            counters.notForUs += 1
            return .failure(.notForUs)
        }
        guard message.channel == channel else {
            counters.wrongChannel += 1
            return .failure(.wrongChannel)
        }
        let key = SenderKey(nodeID: message.nodeID, group: message.group)
        var sender = senders[key] ?? SenderState(incarnation: message.incarnation)
        if message.incarnation < sender.incarnation {
            counters.staleIncarnation += 1
            return .failure(.staleIncarnation)
        }
        if message.incarnation > sender.incarnation { sender = SenderState(incarnation: message.incarnation) }
        guard sender.window.accept(message.sequence) else {
            counters.replayed += 1
            return .failure(.replayed)
        }
        senders[key] = sender
        counters.accepted += 1
        return .success(message)
    }
}
