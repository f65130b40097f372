// Everything a rebuilt socket needs to continue one of the peer's connections, decided from the tracker's session
// and the payload store — or the reason it cannot be rebuilt (the connection then falls back to a reset).
//
// "Server" is the side the standby takes over (the peer), "client" the other. In sequence space:
//
//   client → server:  … context … │ answered? │ unanswered … │ (bytes the server never acknowledged)
//                     contextStart   ·          answerPoint    peerAcknowledged   receiveNext
//                     └── handed to the service ──┘└──── rebuilt socket's receive queue ────┘
//
//   server → client:  … acknowledged by the client │ sendQueue: sent, not acknowledged │
//                                          sendUnacknowledged                       sendNext
//
// answerPoint ("not answered", precisely): the acknowledgment the server carried in its latest segment that
// brought new payload — the client bytes its stack had received when its application last wrote. Client bytes
// from there on arrived after the server's last write: nothing can have answered them, so they go into the
// rebuilt socket's receive queue for the service to read. Bytes before it arrived before that write, which may
// (request/response, one at a time) or may not (pipelined requests) have answered them: the standby cannot tell,
// so it hands the ones it still holds to the service as context with stream positions (the resume marker), and
// the service decides by its protocol (an echo service, for instance, continues at the server's stream offset).

/// Why a tracked connection cannot be rebuilt; each is counted, and the connection is reset instead.
public enum TCPResumeRefusal: UInt8, Sendable, CaseIterable, Error, CustomStringConvertible {
    /// The standby never saw both SYNs: MSS, window scale, SACK and timestamps are unknown.
    case handshakeNotSeen
    /// Not ESTABLISHED on both sides (closing, reset, or still in the handshake).
    case notEstablished
    /// The server's bytes the client has not acknowledged are not all in the payload store (it outgrew its
    /// buffer, the capture missed a segment, or the store evicted the connection).
    case sendQueueNotCaptured
    /// The client's bytes the server had not answered are not all in the payload store.
    case receiveQueueNotCaptured
    /// The server sent data before the store saw the connection: where its answers stopped is unknown.
    case answerPointUnknown

    public var description: String {
        switch self {
        case .handshakeNotSeen: "handshake not seen (options unknown)"
        case .notEstablished: "not established on both sides"
        case .sendQueueNotCaptured: "unacknowledged server bytes not captured"
        case .receiveQueueNotCaptured: "unanswered client bytes not captured"
        case .answerPointUnknown: "server's last write not seen"
        }
    }
}

/// Counts of refusals by reason.
public struct TCPResumeRefusalCounts: Sendable, Equatable {
    private var counts = [UInt64](repeating: 0, count: TCPResumeRefusal.allCases.count)
    public init() {}
    public subscript(reason: TCPResumeRefusal) -> UInt64 {
        get { counts[Int(reason.rawValue)] }
        set { counts[Int(reason.rawValue)] = newValue }
    }
    public var total: UInt64 { counts.reduce(0, &+) }
}

/// One connection, ready to rebuild: sequence numbers, options, windows and both queues' bytes.
public struct TCPResumePlan: Sendable, Equatable {
    public var server: FlowAddress
    public var serverPort: UInt16
    public var client: FlowAddress
    public var clientPort: UInt16

    public var serverInitialSequence: UInt32
    public var clientInitialSequence: UInt32

    /// The client's acknowledgment: the first byte of the send queue.
    public var sendUnacknowledged: UInt32
    /// The server's SND.NXT.
    public var sendNext: UInt32
    /// Server bytes [sendUnacknowledged, sendNext): the rebuilt socket's send queue (retransmitted as needed).
    public var sendQueue: [UInt8]

    /// First client byte of `context`.
    public var contextStart: UInt32
    /// Client bytes [contextStart, answerPoint) the server had received before its last write (see above).
    public var context: [UInt8]
    /// The first client byte the server cannot have answered: the receive queue's sequence.
    public var answerPoint: UInt32
    /// The server's RCV.NXT as it last told the client.
    public var peerAcknowledged: UInt32
    /// The rebuilt socket's RCV.NXT: at least `peerAcknowledged`, more when the standby captured client bytes
    /// the server never acknowledged (the client need not send them again).
    public var receiveNext: UInt32
    /// Client bytes [answerPoint, receiveNext): the rebuilt socket's receive queue.
    public var receiveQueue: [UInt8]

    /// The MSS the client announced (the rebuilt socket's clamp).
    public var clientMSS: UInt16
    public var windowScaling: Bool
    /// Shifts applied to the client's windows (`clientWindowShift`) and to the server's (`serverWindowShift`).
    public var clientWindowShift: UInt8
    public var serverWindowShift: UInt8
    public var sack: Bool
    public var timestamps: Bool
    /// The newest TSval the server sent: the rebuilt socket's clock continues from here (the client's PAWS
    /// check rejects older values).
    public var serverTimestamp: UInt32
    /// The newest window each side advertised, in bytes (scaled).
    public var clientWindow: UInt32
    public var serverWindow: UInt32

    /// Decides whether `session` can be rebuilt with the standby acting as `serverSide`, reading the bytes
    /// it needs from `store` (allocates the queues; takeover time, not the data path).
    public init(
        session: Session, serverSide: SessionSide, store: borrowing SessionPayloadStore
    ) throws(TCPResumeRefusal) {
        guard session.isTCP, session.flags.contains(.handshakeSeen) else { throw .handshakeNotSeen }
        guard !session.flags.contains(.reset), session.state(.original) == .established,
            session.state(.reply) == .established
        else { throw .notEstablished }
        let serverEndpoint = session.endpoint(serverSide)
        let clientEndpoint = session.endpoint(serverSide.other)
        let key = session.key
        let serverToClient = serverSide == .original ? key : key.reversed
        let clientToServer = serverToClient.reversed
        (server, serverPort, client, clientPort) =
            (serverToClient.source, serverToClient.sourcePort, serverToClient.destination, serverToClient.destinationPort)
        serverInitialSequence = serverEndpoint.initialSequence
        clientInitialSequence = clientEndpoint.initialSequence

        // Send queue: everything the server sent that the client has not acknowledged.
        sendUnacknowledged = clientEndpoint.acknowledgment
        sendNext = serverEndpoint.nextSequence
        if sendUnacknowledged == sendNext {
            sendQueue = []
        } else {
            guard let bytes = store.bytes(sending: serverToClient, from: sendUnacknowledged, to: sendNext) else {
                throw .sendQueueNotCaptured
            }
            sendQueue = bytes
        }

        // Receive queue: the client bytes that arrived after the server's last write.
        peerAcknowledged = serverEndpoint.acknowledgment
        let clientWindow = store.window(sending: clientToServer)
        let serverSentNothing = serverEndpoint.nextSequence == serverEndpoint.initialSequence &+ 1
        if let written = store.window(sending: serverToClient)?.acknowledgmentAtLastData {
            answerPoint = written
        } else if serverSentNothing {
            answerPoint = clientEndpoint.initialSequence &+ 1
        } else {
            // The server wrote before the store saw the connection (or after it was evicted), and not since:
            // no client byte can be called answered or unanswered. Refuse rather than guess.
            throw .answerPointUnknown
        }
        // Bytes captured past the server's acknowledgment are kept too (the client need not resend them).
        var receiveEnd = session.receiveNext(serverSide) ?? peerAcknowledged
        if let clientWindow, SequenceNumber.isAfter(receiveEnd, clientWindow.end),
            !SequenceNumber.isBefore(clientWindow.end, peerAcknowledged)
        {
            receiveEnd = clientWindow.end
        }
        receiveNext = receiveEnd
        if answerPoint == receiveNext {
            receiveQueue = []
        } else {
            guard let bytes = store.bytes(sending: clientToServer, from: answerPoint, to: receiveNext) else {
                throw .receiveQueueNotCaptured
            }
            receiveQueue = bytes
        }
        // Context: whatever the store still holds of the client's stream before the answer point.
        if let clientWindow, clientWindow.covers(from: clientWindow.start, to: answerPoint),
            let bytes = store.bytes(sending: clientToServer, from: clientWindow.start, to: answerPoint)
        {
            contextStart = clientWindow.start
            context = bytes
        } else {
            contextStart = answerPoint
            context = []
        }

        clientMSS = clientEndpoint.mss
        windowScaling = session.windowScalingActive
        clientWindowShift = session.windowShift(serverSide.other) ?? 0
        serverWindowShift = session.windowShift(serverSide) ?? 0
        sack = serverEndpoint.sackPermitted && clientEndpoint.sackPermitted
        timestamps = serverEndpoint.flags.contains(.timestamps) && clientEndpoint.flags.contains(.timestamps)
        serverTimestamp = serverEndpoint.timestampValue
        self.clientWindow = session.advertisedWindow(serverSide.other) ?? UInt32(clientEndpoint.window)
        serverWindow = session.advertisedWindow(serverSide) ?? UInt32(serverEndpoint.window)
    }
}
