// The heartbeat wire format. docs/heartbeat.md is its description for humans; this file is the definition.
//
//  0               4       5       6               8              10      11      12      13
//  +---------------+-------+-------+---------------+---------------+-------+-------+-------+-------------+
//  | magic "TKHB"  | ver=1 | kind  | flags         | group         | chan  | prio  | state | reserved(3) |
//  +---------------+-------+-------+---------------+---------------+-------+-------+-------+-------------+
//  16: node id (4) | 20: reserved (4) | 24: incarnation (8) | 32: sequence (8) | 40: send time ns (8)
//  48: HMAC-SHA256 tag (32) over bytes 0..<48                                          total: 80 bytes
//
// All integers big-endian. Reserved bytes are sent as zero and ignored on receipt (but covered by the tag).

/// Flags a node sets in its heartbeats for one group.
public struct HeartbeatFlags: OptionSet, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The sender is shutting down and has stopped serving: take the group now.
    public static let release = HeartbeatFlags(rawValue: 1 << 0)
    /// The sender wants to serve the group (it is preferred and preempts, or an operator asked it to).
    public static let ready = HeartbeatFlags(rawValue: 1 << 1)
    /// The sender has stopped serving the group at the receiver's request: the receiver may announce now.
    public static let released = HeartbeatFlags(rawValue: 1 << 2)
    /// With `ready`: an operator asked for it, so the holder releases without the preemption delay.
    public static let manual = HeartbeatFlags(rawValue: 1 << 3)

    public var description: String {
        let names: [(HeartbeatFlags, String)] = [
            (.release, "release"), (.ready, "ready"), (.released, "released"), (.manual, "manual"),
        ]
        let set = names.filter { contains($0.0) }.map(\.1)
        return set.isEmpty ? "-" : set.joined(separator: ",")
    }
}

public struct HeartbeatMessage: Hashable, Sendable, BitwiseCopyable {
    public static let magic: UInt32 = 0x544B_4842  // "TKHB"
    public static let version: UInt8 = 1
    public static let authenticatedLength = 48
    public static let tagLength = 32
    public static let length = authenticatedLength + tagLength

    public var flags: HeartbeatFlags
    /// The service group this heartbeat speaks for (one state machine per group, as VRRP's VRID).
    public var group: UInt16
    /// The channel the sender sent this copy on; a copy replayed onto another channel fails this check.
    public var channel: UInt8
    public var priority: UInt8
    public var state: FailoverState
    public var nodeID: UInt32
    /// The sender's start time (wall clock, ns): a restarted node has a larger one, so its sequence may start
    /// again at zero without being taken for a replay.
    public var incarnation: UInt64
    public var sequence: UInt64
    /// The sender's monotonic clock when it sent this (ns); for delay measurement, never for ordering.
    public var sendTime: UInt64

    public init(
        flags: HeartbeatFlags, group: UInt16, channel: UInt8, priority: UInt8, state: FailoverState, nodeID: UInt32,
        incarnation: UInt64, sequence: UInt64, sendTime: UInt64
    ) {
        self.flags = flags
        self.group = group
        self.channel = channel
        self.priority = priority
        self.state = state
        self.nodeID = nodeID
        self.incarnation = incarnation
        self.sequence = sequence
        self.sendTime = sendTime
    }

    /// Writes the message and its tag into `buffer` and returns the length written (`length`).
    public func encode(
        into buffer: UnsafeMutableRawBufferPointer, authenticator: some MessageAuthenticator
    ) throws(HeartbeatError) -> Int {
        guard buffer.count >= Self.length else { throw .bufferTooSmall }
        buffer.storeBigEndian(Self.magic, at: 0)
        buffer.storeBigEndian(Self.version, at: 4)
        buffer.storeBigEndian(UInt8(1), at: 5)
        buffer.storeBigEndian(flags.rawValue, at: 6)
        buffer.storeBigEndian(group, at: 8)
        buffer.storeBigEndian(channel, at: 10)
        buffer.storeBigEndian(priority, at: 11)
        buffer.storeBigEndian(state.rawValue, at: 12)
        for offset in 13..<16 { buffer.storeBigEndian(UInt8(0), at: offset) }
        buffer.storeBigEndian(nodeID, at: 16)
        buffer.storeBigEndian(UInt32(0), at: 20)
        buffer.storeBigEndian(incarnation, at: 24)
        buffer.storeBigEndian(sequence, at: 32)
        buffer.storeBigEndian(sendTime, at: 40)
        authenticator.writeTag(
            over: UnsafeRawBufferPointer(rebasing: buffer[0..<Self.authenticatedLength]),
            into: UnsafeMutableRawBufferPointer(rebasing: buffer[Self.authenticatedLength..<Self.length]))
        return Self.length
    }

    /// Checks length, magic, version and tag, in that order, and decodes. Replay is checked by the caller
    /// (`HeartbeatReceiver`), which keeps the per-sender window.
    public init(
        decoding bytes: UnsafeRawBufferPointer, authenticator: some MessageAuthenticator
    ) throws(HeartbeatError) {
        guard bytes.count == Self.length else { throw .wrongLength(bytes.count) }
        guard bytes.loadBigEndian(at: 0, as: UInt32.self) == Self.magic else { throw .badMagic }
        guard bytes.loadBigEndian(at: 4, as: UInt8.self) == Self.version,
            bytes.loadBigEndian(at: 5, as: UInt8.self) == 1
        else { throw .unsupportedVersion }
        guard
            authenticator.isValidTag(
                UnsafeRawBufferPointer(rebasing: bytes[Self.authenticatedLength..<Self.length]),
                over: UnsafeRawBufferPointer(rebasing: bytes[0..<Self.authenticatedLength]))
        else { throw .badTag }
        guard let state = FailoverState(rawValue: bytes.loadBigEndian(at: 12)) else { throw .badState }
        self.init(
            flags: HeartbeatFlags(rawValue: bytes.loadBigEndian(at: 6)), group: bytes.loadBigEndian(at: 8),
            channel: bytes.loadBigEndian(at: 10), priority: bytes.loadBigEndian(at: 11), state: state,
            nodeID: bytes.loadBigEndian(at: 16), incarnation: bytes.loadBigEndian(at: 24),
            sequence: bytes.loadBigEndian(at: 32), sendTime: bytes.loadBigEndian(at: 40))
    }
}

public enum HeartbeatError: Error, Hashable, Sendable {
    case bufferTooSmall
    case wrongLength(Int)
    case badMagic
    case unsupportedVersion
    case badTag
    case badState
    /// Authentic, but sent by this node itself (a looped-back copy) or for a group we do not run.
    case notForUs
    /// Authentic, but arrived on another channel than the one it names.
    case wrongChannel
    /// Authentic, but from an older incarnation of the sender.
    case staleIncarnation
    /// Authentic, but its sequence number was seen already or is older than the window.
    case replayed
}

/// Computes and checks message authentication tags. The engine supplies HMAC-SHA256 (swift-crypto); the core
/// only needs these two operations, so it stays free of the crypto library.
public protocol MessageAuthenticator: Sendable {
    /// Writes the tag (exactly `tag.count` bytes) for `message`.
    func writeTag(over message: UnsafeRawBufferPointer, into tag: UnsafeMutableRawBufferPointer)
    /// Compares in constant time.
    func isValidTag(_ tag: UnsafeRawBufferPointer, over message: UnsafeRawBufferPointer) -> Bool
}
