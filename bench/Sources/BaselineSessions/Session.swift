// BASELINE, frozen: TakeoverCore's Sessions/Session.swift as of 0a57a53 (before the tag array and the
// hash-once API), renamed, so the SessionTable benchmark and bench/instructions measure old and new side by
// side in one run. Not used by the product; do not edit except to keep it compiling.
import TakeoverCore
// One tracked flow: the record the session table stores, by value, in its preallocated slots.
//
// Layout budget: one record ≤ 128 bytes (a test asserts `MemoryLayout<Session>.stride`), so a table sized for
// a million sessions is one flat allocation and a lookup touches two cache lines at most.
//
//   Session (128)                       SessionEndpoint (40) — what ONE endpoint has sent
//   ├─ key: FlowKey (37)                ├─ lastSeen (8)
//   ├─ flags, endState (2) + pad        ├─ initialSequence, nextSequence, acknowledgment (12)
//   ├─ hash (4)                         ├─ timestampValue, timestampEcho (8)
//   ├─ original: SessionEndpoint (40)   ├─ payloadBytes (4)
//   └─ reply: SessionEndpoint (40)      └─ window, mss, windowScale, flags (7) + pad

/// Which endpoint of a session. `original` sent the first segment the tracker saw — or, when the handshake
/// was seen, the SYN: then `original` is the initiator (the client) and `reply` the responder.
public enum SessionSide: UInt8, Sendable, BitwiseCopyable {
    case original
    case reply

    @inlinable public var other: SessionSide { self == .original ? .reply : .original }
}

/// The RFC 9293 state of one TCP endpoint as an observer infers it from what both endpoints sent.
/// `reset` means the connection ended with a RST (either side); the kernel then holds it as CLOSED.
public enum TCPEndpointState: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case listen, synSent, synReceived, established, finWait1, finWait2, closeWait, closing, lastAck, timeWait
    case closed, reset

    public var description: String {
        switch self {
        case .listen: "LISTEN"
        case .synSent: "SYN_SENT"
        case .synReceived: "SYN_RECEIVED"
        case .established: "ESTABLISHED"
        case .finWait1: "FIN_WAIT_1"
        case .finWait2: "FIN_WAIT_2"
        case .closeWait: "CLOSE_WAIT"
        case .closing: "CLOSING"
        case .lastAck: "LAST_ACK"
        case .timeWait: "TIME_WAIT"
        case .closed: "CLOSED"
        case .reset: "RESET"
        }
    }
}

/// Facts about what one endpoint has sent, accumulated monotonically (never cleared by later segments).
public struct SessionEndpointFlags: OptionSet, Sendable, BitwiseCopyable {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `nextSequence` (and for TCP `initialSequence` when `sentSYN`) holds a value seen on the wire.
    public static let sequenceKnown = SessionEndpointFlags(rawValue: 1 << 0)
    /// `acknowledgment` holds a value seen on the wire (a segment with ACK set).
    public static let acknowledgmentKnown = SessionEndpointFlags(rawValue: 1 << 1)
    public static let sentSYN = SessionEndpointFlags(rawValue: 1 << 2)
    public static let sentFIN = SessionEndpointFlags(rawValue: 1 << 3)
    public static let sentRST = SessionEndpointFlags(rawValue: 1 << 4)
    /// Its SYN carried the window-scale option (`windowScale` is the shift it offered).
    public static let offeredWindowScale = SessionEndpointFlags(rawValue: 1 << 5)
    /// Its SYN carried SACK-permitted.
    public static let sackPermitted = SessionEndpointFlags(rawValue: 1 << 6)
    /// It sends timestamps (`timestampValue`/`timestampEcho` hold the latest).
    public static let timestamps = SessionEndpointFlags(rawValue: 1 << 7)
    /// Its latest window came from a SYN, where the window is never scaled (RFC 7323 §2.2).
    public static let windowFromSYN = SessionEndpointFlags(rawValue: 1 << 8)
    /// When it sent its FIN it had already acknowledged the other side's FIN: the passive closer.
    public static let finAfterPeerFIN = SessionEndpointFlags(rawValue: 1 << 9)
    /// Its latest ACK carried SACK blocks above the cumulative ACK: it holds data beyond a hole, so its
    /// RCV.NXT is exactly its `acknowledgment` until the other side sends the segment that fills the hole.
    public static let missingData = SessionEndpointFlags(rawValue: 1 << 10)
}

/// What one endpoint of a session has sent, as seen on the wire. For UDP only `lastSeen`, `payloadBytes` and
/// `sequenceKnown` (meaning "has sent") are used.
public struct SessionEndpoint: Sendable, BitwiseCopyable {
    /// When its latest segment was seen.
    public internal(set) var lastSeen: MonotonicTime
    /// Its initial sequence number (ISN), valid when `flags` has `sentSYN`.
    public internal(set) var initialSequence: UInt32
    /// Its SND.NXT as observed: the highest sequence it sent plus that segment's sequence length (payload,
    /// SYN and FIN each count). Retransmissions and reordered segments never move it backwards.
    public internal(set) var nextSequence: UInt32
    /// The highest acknowledgment it sent: what it has told the other side it received (its RCV.NXT as of
    /// its latest ACK).
    public internal(set) var acknowledgment: UInt32
    /// Latest TSval / TSecr it sent (RFC 7323), valid with `timestamps`.
    public internal(set) var timestampValue: UInt32
    public internal(set) var timestampEcho: UInt32
    /// Payload bytes seen from it, wrapping at 2^32 (retransmitted bytes counted again).
    public internal(set) var payloadBytes: UInt32
    /// The window it advertised in its latest (in-order) segment, raw as on the wire.
    public internal(set) var window: UInt16
    /// MSS from its SYN, 0 when it sent none (or its SYN was not seen).
    public internal(set) var mss: UInt16
    /// Window-scale shift offered in its SYN, valid with `offeredWindowScale`.
    public internal(set) var windowScale: UInt8
    public internal(set) var flags: SessionEndpointFlags

    public static let unseen = SessionEndpoint(
        lastSeen: .zero, initialSequence: 0, nextSequence: 0, acknowledgment: 0, timestampValue: 0,
        timestampEcho: 0, payloadBytes: 0, window: 0, mss: 0, windowScale: 0, flags: [])

    @inlinable public var sackPermitted: Bool { flags.contains(.sackPermitted) }
}

/// Facts about the session as a whole.
public struct SessionFlags: OptionSet, Sendable, BitwiseCopyable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `original` is known to be the initiator (its SYN, or the other side's SYN-ACK, was seen).
    public static let initiatorKnown = SessionFlags(rawValue: 1 << 0)
    /// Both SYNs were seen: options (MSS, window scale, SACK-permitted) of both sides are known.
    public static let handshakeSeen = SessionFlags(rawValue: 1 << 1)
    /// The first segment seen was not part of a handshake: the tracker joined an open connection.
    public static let joinedMidstream = SessionFlags(rawValue: 1 << 2)
    /// An acceptable RST ended the connection.
    public static let reset = SessionFlags(rawValue: 1 << 3)
}

/// One tracked flow. `key` is the flow in the `original` direction; lookups with either direction find it.
public struct Session: Sendable, BitwiseCopyable {
    public internal(set) var key: FlowKey
    public internal(set) var flags: SessionFlags
    /// Table bookkeeping: the key's hash, never 0 in an occupied slot; 0 marks an empty slot.
    @usableFromInline internal var hash: UInt32
    public internal(set) var original: SessionEndpoint
    public internal(set) var reply: SessionEndpoint

    static let empty = Session(
        key: FlowKey(
            source: FlowAddress(high: 0, low: 0), destination: FlowAddress(high: 0, low: 0), sourcePort: 0,
            destinationPort: 0, protocolNumber: 0),
        flags: [], hash: 0, original: .unseen, reply: .unseen)

    @inlinable public var isTCP: Bool { key.protocolNumber == IPProtocolNumber.tcp }

    /// The endpoint on `side`.
    @inlinable public func endpoint(_ side: SessionSide) -> SessionEndpoint {
        side == .original ? original : reply
    }

    /// The side that sends in the direction of `flowKey` (which must be this session's flow, either way).
    @inlinable public func side(sending flowKey: FlowKey) -> SessionSide {
        flowKey.source == key.source && flowKey.sourcePort == key.sourcePort ? .original : .reply
    }

    /// When either endpoint was last seen.
    @inlinable public var lastSeen: MonotonicTime { Swift.max(original.lastSeen, reply.lastSeen) }

    /// The exact next sequence number `side` expects to receive (its RCV.NXT): the later of what the other
    /// side has been seen sending and what `side` has itself acknowledged (an ACK beyond the bytes seen means
    /// the capture missed a segment the endpoint did receive) — except while `side` reports a hole with SACK,
    /// when it is exactly `side`'s cumulative ACK. `nil` while neither is known.
    public func receiveNext(_ side: SessionSide) -> UInt32? {
        let receiver = endpoint(side)
        let sender = endpoint(side.other)
        if receiver.flags.contains(.missingData) { return receiver.acknowledgment }
        let seen = sender.flags.contains(.sequenceKnown) ? sender.nextSequence : nil
        let acknowledged = receiver.flags.contains(.acknowledgmentKnown) ? receiver.acknowledgment : nil
        switch (seen, acknowledged) {
        case (let seen?, let acknowledged?): return SequenceNumber.max(seen, acknowledged)
        case (let seen?, nil): return seen
        case (nil, let acknowledged?): return acknowledged
        case (nil, nil): return nil
        }
    }

    /// The next sequence number `side` will send (its SND.NXT as observed), `nil` before it sent anything.
    public func sendNext(_ side: SessionSide) -> UInt32? {
        let sender = endpoint(side)
        return sender.flags.contains(.sequenceKnown) ? sender.nextSequence : nil
    }

    /// Window scaling is in effect: both SYNs were seen and both carried the option (RFC 7323 §2.2).
    @inlinable public var windowScalingActive: Bool {
        original.flags.contains(.offeredWindowScale) && reply.flags.contains(.offeredWindowScale)
    }

    /// The shift to apply to `side`'s advertised windows outside SYNs: its offered scale when scaling is in
    /// effect, 0 when it is not, `nil` when unknown (the handshake was not seen).
    public func windowShift(_ side: SessionSide) -> UInt8? {
        guard flags.contains(.handshakeSeen) else { return nil }
        return windowScalingActive ? endpoint(side).windowScale : 0
    }

    /// The receive window `side` last advertised, in bytes (scaled); `nil` when the scale is unknown.
    public func advertisedWindow(_ side: SessionSide) -> UInt32? {
        let sender = endpoint(side)
        if sender.flags.contains(.windowFromSYN) { return UInt32(sender.window) }
        guard let shift = windowShift(side) else { return nil }
        return UInt32(sender.window) << UInt32(shift)
    }

    /// `side`'s TCP state, inferred from what both endpoints sent (see `TCPEndpointState`).
    public func state(_ side: SessionSide) -> TCPEndpointState {
        if flags.contains(.reset) { return .reset }
        let me = endpoint(side)
        let peer = endpoint(side.other)
        // The peer acknowledged everything `me` sent up to and including its FIN (or SYN).
        let peerAcknowledgedAll =
            peer.flags.contains(.acknowledgmentKnown) && !SequenceNumber.isBefore(peer.acknowledgment, me.nextSequence)
        let mySYNAcknowledged =
            peer.flags.contains(.acknowledgmentKnown) && SequenceNumber.isAfter(peer.acknowledgment, me.initialSequence)
        switch (me.flags.contains(.sentFIN), peer.flags.contains(.sentFIN)) {
        case (true, true):
            if me.flags.contains(.finAfterPeerFIN) { return peerAcknowledgedAll ? .closed : .lastAck }
            // Active closer, or both closed at once (simultaneous close: CLOSING until the FIN is acked).
            return peerAcknowledgedAll ? .timeWait : .closing
        case (true, false): return peerAcknowledgedAll ? .finWait2 : .finWait1
        case (false, true): return .closeWait
        case (false, false): break
        }
        if me.flags.contains(.sentSYN) {
            if !peer.flags.contains(.sentSYN) { return .synSent }
            return mySYNAcknowledged ? .established : .synReceived
        }
        if peer.flags.contains(.sentSYN) && !peer.flags.contains(.acknowledgmentKnown) {
            // Only a SYN from the peer so far: this side has not answered (yet).
            return me.flags.contains(.sequenceKnown) ? .established : .listen
        }
        return .established
    }
}
