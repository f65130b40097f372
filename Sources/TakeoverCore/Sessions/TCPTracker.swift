// Follows TCP connections (and UDP flows) from the segments of both directions, as a passive observer: the
// standby sees its peer's traffic and must know, at any moment, each side's next expected sequence number,
// windows and options, so it can later send an in-window RST or rebuild the socket with TCP_REPAIR.
//
// Every update is monotonic in sequence space (`SequenceNumber`, wrap-around safe): retransmitted and
// reordered segments never move a session backwards. `track` does not allocate; records are updated in place
// in the table's slots.

/// How long an idle session is kept, by state, in nanoseconds.
public struct SessionTimeouts: Sendable, Equatable {
    /// Both endpoints ESTABLISHED (an idle connection may legitimately stay silent for a long time).
    public var established: UInt64 = 7_200 * 1_000_000_000
    /// Handshake and half-closed states (SYN_SENT, SYN_RECEIVED, FIN_WAIT, CLOSE_WAIT, CLOSING, LAST_ACK).
    public var transitory: UInt64 = 120 * 1_000_000_000
    /// One side in TIME_WAIT, the other closed or in TIME_WAIT (2 MSL as Linux counts it: 60 s).
    public var timeWait: UInt64 = 60 * 1_000_000_000
    /// Both sides CLOSED, or reset.
    public var closed: UInt64 = 10 * 1_000_000_000
    /// UDP flows.
    public var udp: UInt64 = 60 * 1_000_000_000

    public init() {}

    /// The idle time after which `session` may be removed.
    public func timeout(for session: Session) -> UInt64 {
        guard session.isTCP else { return udp }
        if session.flags.contains(.reset) { return closed }
        let states = (session.state(.original), session.state(.reply))
        switch states {
        case (.established, .established): return established
        case (.closed, .closed): return closed
        case (.timeWait, .closed), (.closed, .timeWait), (.timeWait, .timeWait): return timeWait
        default: return transitory
        }
    }
}

/// What `track` did with a segment.
public enum TrackResult: UInt8, Sendable, BitwiseCopyable {
    /// A new session was created for it.
    case created
    /// An existing session was updated.
    case updated
    /// Not tracked: a RST for no known session, a RST outside the receiver's window, a SYN that would restart
    /// an open connection, or a protocol the tracker does not follow.
    case ignored
    /// A new flow, but the table is full (counted in `SessionTable.refusedWhenFull`).
    case tableFull
}

/// Counters, for logs and tests.
public struct TrackerStatistics: Sendable, Equatable {
    public var tcpSegments: UInt64 = 0
    public var udpDatagrams: UInt64 = 0
    public var created: UInt64 = 0
    /// A SYN with a new initial sequence on a closed or closing session: the record was started afresh.
    public var restarted: UInt64 = 0
    public var ignored: UInt64 = 0
    public var tableFull: UInt64 = 0
    public var expired: UInt64 = 0
    public init() {}
}

/// Owned by the one thread that consumes the capture ring (it is `~Copyable`: moved there, never shared).
public struct TCPTracker: ~Copyable, Sendable {
    public private(set) var table: SessionTable
    public var timeouts: SessionTimeouts
    public private(set) var statistics = TrackerStatistics()

    /// - Parameter memory: supplies the session table's slots (see `SessionMemory`); the heap by default.
    public init(
        capacity: Int = SessionTable.defaultCapacity, timeouts: SessionTimeouts = SessionTimeouts(),
        seed: UInt64? = nil, memory: any SessionMemory = HeapSessionMemory()
    ) {
        table = SessionTable(capacity: capacity, seed: seed, memory: memory)
        self.timeouts = timeouts
    }

    /// Starts loading the record `key`'s `track` will update (see `SessionTable.prefetch`) and returns `key`'s
    /// hash. For a batch of frames: prefetch every key and keep the hashes, then track each with its hash — the
    /// table's misses overlap instead of adding up, and no key is hashed twice.
    @discardableResult
    public func prefetch(_ key: FlowKey) -> FlowHash { table.prefetch(key) }

    /// The first stage of a two-stage prefetch (see `SessionTable.prefetchTags`): hashes `key` and starts
    /// loading its tags; `prefetch(_ hash:)` with the result is the second stage, a batch later.
    @discardableResult
    public func prefetchTags(_ key: FlowKey) -> FlowHash { table.prefetchTags(key) }

    /// The second stage: reads the tags of the key whose hash `prefetchTags` returned and starts loading the
    /// record its `track` will update; returns the hash to track it with (carrying the slot found).
    @discardableResult
    public func prefetch(_ hash: FlowHash) -> FlowHash { table.prefetch(hash) }

    /// Keys that go through `forEachPrefetched`'s stages together.
    @inlinable public static var prefetchGroup: Int { 16 }

    /// Calls `body` for the items `0..<count` in order, each with its key's hash (for `track(…hash:)` or
    /// `table.find(_:hash:)`), prefetched in two stages over groups of `prefetchGroup` items: before group g is
    /// handed to `body`, group g+2's tags are requested (`prefetchTags`) and group g+1's records (`prefetch(_
    /// hash:)`, reading the tags requested a group earlier). The records' and the tags' misses are then in
    /// flight while the groups before them are tracked, instead of being waited for once per group. For a batch
    /// drained from the capture ring. `hashes` holds at least `count` hashes (scratch, allocated once by the
    /// caller); `key(i)` is item i's flow.
    @inlinable
    public mutating func forEachPrefetched(
        count: Int, hashes: UnsafeMutableBufferPointer<FlowHash>, key: (Int) -> FlowKey,
        _ body: (inout TCPTracker, Int, FlowHash) -> Void
    ) {
        precondition(hashes.count >= count, "forEachPrefetched: room for \(count) hashes needed")
        let group = Self.prefetchGroup
        // Prime: the first two groups' tags, the first group's records.
        for index in 0..<Swift.min(count, 2 * group) { hashes[index] = prefetchTags(key(index)) }
        for index in 0..<Swift.min(count, group) { hashes[index] = prefetch(hashes[index]) }
        var start = 0
        while start < count {
            let tagsStart = start + 2 * group
            for index in tagsStart..<Swift.max(tagsStart, Swift.min(count, tagsStart + group)) {
                hashes[index] = prefetchTags(key(index))
            }
            let recordsStart = start + group
            for index in recordsStart..<Swift.max(recordsStart, Swift.min(count, recordsStart + group)) {
                hashes[index] = prefetch(hashes[index])
            }
            for index in start..<Swift.min(count, start + group) { body(&self, index, hashes[index]) }
            start += group
        }
    }

    /// `key`'s hash in this tracker's table (the same for both directions), for `track(_:_:at:hash:)`.
    public func hash(_ key: FlowKey) -> FlowHash { table.hash(key) }

    /// A copy of the session of `key`'s flow (either direction), or nil.
    public func session(for key: FlowKey) -> Session? { table.session(for: key) }

    /// Sessions held now.
    public var count: Int { table.count }

    /// Feeds one TCP segment sent in the direction of `key` (source → destination), seen at `time`.
    @discardableResult
    public mutating func track(_ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime) -> TrackResult {
        track(key, segment, at: time, hash: unprefetchedHash(key))
    }

    /// `track(_:_:at:)` with `key`'s hash already computed (by `prefetch(_:)` or `hash(_:)` of this tracker).
    @discardableResult
    public mutating func track(
        _ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime, hash: FlowHash
    ) -> TrackResult {
        statistics.tcpSegments &+= 1
        guard key.protocolNumber == IPProtocolNumber.tcp else { return ignore() }
        let flags = segment.flags
        let index: Int
        var side: SessionSide
        var result = TrackResult.updated
        if flags.contains(.rst) {
            // A RST never opens a session: there is nothing to reset.
            let (found, existing, matched) = table.locate(key, hash: hash)
            guard found else { return ignore() }
            (index, side) = (existing, matched)
        } else {
            switch table.findOrInsert(key, hash: hash) {
            case .full:
                statistics.tableFull &+= 1
                return .tableFull
            case .existing(let existing, let matched):
                (index, side) = (existing, matched)
            case .inserted(let inserted):
                index = inserted
                side = .original
                result = .created
                statistics.created &+= 1
                let record = table.record(at: inserted)
                if flags.contains(.syn) {
                    // Orient the session initiator → responder: a SYN-ACK comes from the responder.
                    if flags.contains(.ack) {
                        record.pointee.key = key.reversed
                        side = .reply
                    }
                    record.pointee.flags = .initiatorKnown
                } else {
                    record.pointee.flags = .joinedMidstream
                }
            }
        }
        let record = table.record(at: index)
        // Most segments are ACKs (with or without data) of a session both sides already spoke in.
        if result == .updated && record.pointee.applyCommonACK(segment, from: side, at: time) { return .updated }
        // A receiver checks RST before SYN (RFC 9293 §3.10.7.4), so a SYN+RST is judged as a RST: it never
        // starts a new connection over the session.
        if result == .updated && flags.contains(.syn) && !flags.contains(.ack) && !flags.contains(.rst) {
            switch record.pointee.syn(from: side, sequence: segment.sequence) {
            case .retransmission: break
            case .newConnection:
                record.pointee.restart(key: key)
                // The record now runs along `key`: its sender is the original side, whichever it was before.
                side = .original
                statistics.restarted &+= 1
                result = .created
            case .refused: return ignore()
            }
        }
        guard record.pointee.apply(segment, from: side, at: time) else { return ignore() }
        return result
    }

    /// Feeds one UDP datagram sent in the direction of `key`, carrying `payloadLength` bytes, seen at `time`.
    @discardableResult
    public mutating func trackUDP(_ key: FlowKey, payloadLength: Int, at time: MonotonicTime) -> TrackResult {
        trackUDP(key, payloadLength: payloadLength, at: time, hash: unprefetchedHash(key))
    }

    /// `key`'s hash, for a key nobody prefetched: its home slot's load starts now, overlapping the tags'.
    private func unprefetchedHash(_ key: FlowKey) -> FlowHash {
        let hash = table.hash(key)
        table.prefetchHome(hash, lines: 2)
        return hash
    }

    /// `trackUDP(_:payloadLength:at:)` with `key`'s hash already computed (by `prefetch(_:)` or `hash(_:)`).
    @discardableResult
    public mutating func trackUDP(
        _ key: FlowKey, payloadLength: Int, at time: MonotonicTime, hash: FlowHash
    ) -> TrackResult {
        statistics.udpDatagrams &+= 1
        guard key.protocolNumber == IPProtocolNumber.udp else { return ignore() }
        let result: TrackResult
        let index: Int
        let side: SessionSide
        switch table.findOrInsert(key, hash: hash) {
        case .full:
            statistics.tableFull &+= 1
            return .tableFull
        case .existing(let existing, let matched): (index, side, result) = (existing, matched, .updated)
        case .inserted(let inserted):
            (index, side, result) = (inserted, .original, .created)
            statistics.created &+= 1
        }
        let record = table.record(at: index)
        record.pointee.withEndpoint(side) { sender in
            sender.lastSeen = Swift.max(sender.lastSeen, time)
            sender.payloadBytes &+= UInt32(truncatingIfNeeded: payloadLength)
            sender.flags.insert(.sequenceKnown)
        }
        return result
    }

    /// Removes sessions idle longer than their state's timeout, examining at most `slotBudget` slots (bounded
    /// work: call it every tick or every batch). Returns how many were removed.
    @discardableResult
    public mutating func expire(now: MonotonicTime, slotBudget: Int) -> Int {
        let timeouts = self.timeouts
        let removed = table.sweep(slotBudget: slotBudget) { session in
            now.nanoseconds(since: session.lastSeen) > timeouts.timeout(for: session)
        }
        statistics.expired &+= UInt64(removed)
        return removed
    }

    private mutating func ignore() -> TrackResult {
        statistics.ignored &+= 1
        return .ignored
    }
}

extension Session {
    enum SYNVerdict { case retransmission, newConnection, refused }

    /// A SYN (without ACK) on an existing session: the same SYN again, a new connection reusing the 4-tuple
    /// after the old one closed, or a stray SYN into an open connection (refused, as RFC 5961 §4 does).
    func syn(from side: SessionSide, sequence: UInt32) -> SYNVerdict {
        let sender = endpoint(side)
        if sender.flags.contains(.sentSYN) && sender.initialSequence == sequence { return .retransmission }
        let closing =
            flags.contains(.reset) || original.flags.contains(.sentFIN) || reply.flags.contains(.sentFIN)
        // Still in the handshake with a different ISN: the client gave up and started over.
        let handshakeOnly = sender.flags.contains(.sentSYN) && !endpoint(side.other).flags.contains(.acknowledgmentKnown)
        return closing || handshakeOnly ? .newConnection : .refused
    }

    /// Starts the record afresh for a new connection whose SYN travels in the direction of `key`.
    mutating func restart(key: FlowKey) {
        self.key = key
        flags = .initiatorKnown
        original = .unseen
        reply = .unseen
    }

    @inline(__always)
    mutating func withEndpoint<R>(_ side: SessionSide, _ body: (inout SessionEndpoint) -> R) -> R {
        side == .original ? body(&original) : body(&reply)
    }

    /// The common case of `apply`, with few branches: an ACK without SYN, FIN or RST and without SACK blocks,
    /// from a side whose sequence and acknowledgment are known, while the other side reports no hole. Leaves
    /// exactly the record `apply` would; returns false, having changed nothing, for any other segment.
    @inline(__always)
    mutating func applyCommonACK(_ segment: TCPSegment, from side: SessionSide, at time: MonotonicTime) -> Bool {
        let common =
            segment.flags.intersection([.syn, .fin, .rst, .ack]) == .ack && segment.options.sackBlockCount == 0
            && !(side == .original ? reply : original).flags.contains(.missingData)
        guard common else { return false }
        return side == .original
            ? original.applyCommonACK(segment, at: time) : reply.applyCommonACK(segment, at: time)
    }

    /// Applies one segment sent by `side`. Returns false when it was a RST the receiver would not accept.
    mutating func apply(_ segment: TCPSegment, from side: SessionSide, at time: MonotonicTime) -> Bool {
        let flags = segment.flags
        if flags.contains(.rst) {
            guard acceptsReset(segment, from: side) else { return false }
            self.flags.insert(.reset)
            withEndpoint(side) { sender in
                sender.flags.insert(.sentRST)
                sender.lastSeen = Swift.max(sender.lastSeen, time)
            }
            return true
        }
        let peer = endpoint(side.other)
        withEndpoint(side) { sender in
            sender.lastSeen = Swift.max(sender.lastSeen, time)
            sender.payloadBytes &+= segment.payloadLength

            let options = segment.options
            if flags.contains(.syn) && !sender.flags.contains(.sentSYN) {
                sender.initialSequence = segment.sequence
                sender.flags.insert(.sentSYN)
                sender.mss = options.mss
                if options.hasWindowScale {
                    // RFC 7323 §2.3: a shift above 14 is used as 14.
                    sender.windowScale = Swift.min(options.windowScale, 14)
                    sender.flags.insert(.offeredWindowScale)
                }
                if options.sackPermitted { sender.flags.insert(.sackPermitted) }
            }

            // Window and timestamps follow the newest segment only: a retransmission still carries the
            // current ACK and TSval, a reordered old segment carries older ones and is skipped.
            let hasAck = flags.contains(.ack)
            let acknowledgmentNotOlder =
                !hasAck || !sender.flags.contains(.acknowledgmentKnown)
                || !SequenceNumber.isBefore(segment.acknowledgment, sender.acknowledgment)
            let timestampNotOlder =
                !options.hasTimestamp || !sender.flags.contains(.timestamps)
                || !SequenceNumber.isBefore(options.timestampValue, sender.timestampValue)
            if acknowledgmentNotOlder && timestampNotOlder {
                sender.window = segment.window
                if flags.contains(.syn) {
                    sender.flags.insert(.windowFromSYN)
                } else {
                    sender.flags.remove(.windowFromSYN)
                }
                if options.hasTimestamp {
                    sender.timestampValue = options.timestampValue
                    sender.timestampEcho = options.timestampEcho
                    sender.flags.insert(.timestamps)
                }
            }

            let end = segment.sequence &+ segment.sequenceLength
            if sender.flags.contains(.sequenceKnown) {
                sender.nextSequence = SequenceNumber.max(sender.nextSequence, end)
            } else {
                sender.nextSequence = end
                sender.flags.insert(.sequenceKnown)
            }
            if hasAck && acknowledgmentNotOlder {
                if options.reportsDataAbove(segment.acknowledgment) {
                    sender.flags.insert(.missingData)
                } else {
                    sender.flags.remove(.missingData)
                }
            }
            if hasAck {
                if sender.flags.contains(.acknowledgmentKnown) {
                    sender.acknowledgment = SequenceNumber.max(sender.acknowledgment, segment.acknowledgment)
                } else {
                    sender.acknowledgment = segment.acknowledgment
                    sender.flags.insert(.acknowledgmentKnown)
                }
            }

            if flags.contains(.fin) && !sender.flags.contains(.sentFIN) {
                sender.flags.insert(.sentFIN)
                if peer.flags.contains(.sentFIN) && hasAck
                    && !SequenceNumber.isBefore(segment.acknowledgment, peer.nextSequence)
                {
                    sender.flags.insert(.finAfterPeerFIN)
                }
            }
        }
        if flags.contains(.syn) && peer.flags.contains(.sentSYN) { self.flags.insert(.handshakeSeen) }
        if segment.payloadLength > 0 && peer.flags.contains(.missingData)
            && segment.sequence == peer.acknowledgment
        {
            // The segment at the receiver's cumulative ACK fills its hole (the common single-loss case); with
            // several holes this is early, and the receiver's next ACK sets it right.
            withEndpoint(side.other) { receiver in _ = receiver.flags.remove(.missingData) }
        }
        return true
    }

    /// RFC 9293 §3.10.7 / RFC 5961 §3, as the receiver would judge it: in SYN_SENT a RST is acceptable when
    /// it acknowledges the SYN; otherwise its sequence must fall in the receiver's window. When the receiver's
    /// position is unknown (joined mid-stream, nothing seen from it) the RST is believed.
    func acceptsReset(_ segment: TCPSegment, from side: SessionSide) -> Bool {
        let receiverSide = side.other
        let receiver = endpoint(receiverSide)
        if receiver.flags.contains(.sentSYN) && !endpoint(side).flags.contains(.sentSYN) {
            return segment.flags.contains(.ack) && segment.acknowledgment == receiver.nextSequence
        }
        guard let expected = receiveNext(receiverSide) else { return true }
        // Unknown scale (handshake not seen): allow the largest window the scale could make of it.
        let window = advertisedWindow(receiverSide) ?? (UInt32(receiver.window) << 14)
        let offset = segment.sequence &- expected
        return offset == 0 || offset < Swift.max(window, 1)
    }
}

extension SessionEndpoint {
    /// `Session.applyCommonACK`'s update of the sender (see there); false, having changed nothing, unless its
    /// sequence and acknowledgment are already known.
    @inline(__always)
    mutating func applyCommonACK(_ segment: TCPSegment, at time: MonotonicTime) -> Bool {
        guard flags.isSuperset(of: [.sequenceKnown, .acknowledgmentKnown]) else { return false }
        lastSeen = Swift.max(lastSeen, time)
        payloadBytes &+= segment.payloadLength
        let hasTimestamp = segment.options.hasTimestamp
        let acknowledgmentNotOlder = !SequenceNumber.isBefore(segment.acknowledgment, acknowledgment)
        let timestampNotOlder =
            !hasTimestamp || !flags.contains(.timestamps)
            || !SequenceNumber.isBefore(segment.options.timestampValue, timestampValue)
        // As in `apply`: window and timestamps follow the newest segment only.
        if acknowledgmentNotOlder && timestampNotOlder {
            window = segment.window
            flags.remove(.windowFromSYN)
            if hasTimestamp {
                timestampValue = segment.options.timestampValue
                timestampEcho = segment.options.timestampEcho
                flags.insert(.timestamps)
            }
        }
        // No SYN or FIN: the sequence length is the payload's.
        nextSequence = SequenceNumber.max(nextSequence, segment.sequence &+ segment.payloadLength)
        // A newest ACK without SACK blocks reports no hole.
        if acknowledgmentNotOlder { flags.remove(.missingData) }
        acknowledgment = SequenceNumber.max(acknowledgment, segment.acknowledgment)
        return true
    }
}

extension TCPOptionsSummary {
    /// A SACK block lies above `acknowledgment`: the receiver holds data beyond a hole. (A D-SACK block, at
    /// or below the cumulative ACK, reports a duplicate, not a hole.)
    @inline(__always)
    func reportsDataAbove(_ acknowledgment: UInt32) -> Bool {
        for index in 0..<Int(Swift.min(sackBlockCount, 4)) where SequenceNumber.isAfter(sackBlock(index).left, acknowledgment) {
            return true
        }
        return false
    }
}
