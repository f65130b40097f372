// What a service needs to continue a connection the standby rebuilt: who talks to whom, and where each byte
// stream stands (the "resume marker"). Foundation-free and dependency-free, so any service can link it.

/// One end of a resumed connection: an IPv4 (4 bytes) or IPv6 (16 bytes) address in network order, and a port.
public struct ResumeEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var address: [UInt8]
    public var port: UInt16

    public init(address: [UInt8], port: UInt16) {
        precondition(address.count == 4 || address.count == 16, "an IPv4 or IPv6 address")
        self.address = address
        self.port = port
    }

    public var isIPv6: Bool { address.count == 16 }

    public var description: String {
        if !isIPv6 { return address.map { String($0) }.joined(separator: ".") + ":\(port)" }
        let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }
        return "[" + groups.joined(separator: ":") + "]:\(port)"
    }
}

/// Where both byte streams of a resumed connection stand, as TCP sequence numbers (modulo 2^32, like TCP's own).
///
///     client → server:  context (in the message)  │ receive queue (in the socket)
///                       contextStart              answerPoint ··· peerAcknowledged ··· receiveNext
///     server → client:  acknowledged by the client │ send queue (in the socket, retransmitted as needed)
///                                         sendUnacknowledged                     sendNext
///
/// `answerPoint`: the client bytes the peer's stack had received when its application last wrote. Every byte
/// from there on (the socket's receive queue) arrived after that write, so nothing answered it. The bytes just
/// before it (`context`, as many as the standby still held) arrived before that write, which may or may not have
/// answered them: the service decides by its protocol. Offsets count from the first data byte of each stream.
public struct ResumedSessionMarker: Sendable, Hashable {
    /// The address and port the service now answers for (the failed peer's).
    public var server: ResumeEndpoint
    public var client: ResumeEndpoint
    public var serverInitialSequence: UInt32
    public var clientInitialSequence: UInt32
    /// The first server byte the client has not acknowledged (the socket's send queue starts here).
    public var sendUnacknowledged: UInt32
    /// The server's next sequence number: every server byte before it is in the client's hands or the send queue.
    public var sendNext: UInt32
    /// The first client byte of the context carried in the handoff message.
    public var contextStart: UInt32
    /// The first client byte nothing can have answered: the socket's receive queue starts here.
    public var answerPoint: UInt32
    /// How far the peer acknowledged the client's stream.
    public var peerAcknowledged: UInt32
    /// The socket's next expected client byte (the receive queue ends here).
    public var receiveNext: UInt32

    public init(
        server: ResumeEndpoint, client: ResumeEndpoint, serverInitialSequence: UInt32, clientInitialSequence: UInt32,
        sendUnacknowledged: UInt32, sendNext: UInt32, contextStart: UInt32, answerPoint: UInt32,
        peerAcknowledged: UInt32, receiveNext: UInt32
    ) {
        self.server = server
        self.client = client
        self.serverInitialSequence = serverInitialSequence
        self.clientInitialSequence = clientInitialSequence
        self.sendUnacknowledged = sendUnacknowledged
        self.sendNext = sendNext
        self.contextStart = contextStart
        self.answerPoint = answerPoint
        self.peerAcknowledged = peerAcknowledged
        self.receiveNext = receiveNext
    }

    /// Server bytes written so far (the peer's and those in the send queue): the server stream's offset.
    public var serverBytesSent: UInt32 { sendNext &- serverInitialSequence &- 1 }
    /// Client stream offset of the context's first byte.
    public var contextOffset: UInt32 { contextStart &- clientInitialSequence &- 1 }
    /// Client stream offset of the first byte in the socket's receive queue.
    public var receiveQueueOffset: UInt32 { answerPoint &- clientInitialSequence &- 1 }
    /// Bytes waiting in the socket's receive queue.
    public var receiveQueueLength: UInt32 { receiveNext &- answerPoint }
    /// Bytes of the context (`answerPoint − contextStart`).
    public var contextLength: UInt32 { answerPoint &- contextStart }
    /// Server bytes in the socket's send queue, which the client has not acknowledged yet.
    public var sendQueueLength: UInt32 { sendNext &- sendUnacknowledged }
}

/// A rebuilt connection as the service receives it: a connected TCP socket it now owns (close it when done),
/// the marker, and the context bytes (client bytes just before the receive queue).
public struct ResumedSession: Sendable {
    public let socket: Int32
    public let marker: ResumedSessionMarker
    public let context: [UInt8]

    public init(socket: Int32, marker: ResumedSessionMarker, context: [UInt8]) {
        self.socket = socket
        self.marker = marker
        self.context = context
    }

    /// For a service whose answer to client stream offset `n` is server stream offset `n` (an echo): the client
    /// bytes, from the context, that the peer received but had not echoed yet. `nil` when the context does not
    /// reach back that far (the connection cannot be continued exactly).
    public var unechoedContext: ArraySlice<UInt8>? {
        let echoed = marker.serverBytesSent
        let skip = echoed &- marker.contextOffset
        guard Int32(bitPattern: skip) >= 0, skip <= UInt32(context.count) else { return nil }
        return context[Int(skip)...]
    }
}
