// The bytes a `resume` takeover needs and the session table does not hold: for each TCP connection, the most
// recent payload of both directions, placed by sequence number, in fixed buffers allocated once.
//
//   entries (sets of `ways`)              buffers (one flat allocation, 2 per entry)
//   ┌─────┬─────┬─────┬─────┐            ┌──────────── entry 0 ────────────┬── entry 1 ─ …
//   │ e0  │ e1  │ e2  │ e3  │ set 0      │ key's source → destination │ reverse │ …
//   ├─────┼─────┼─────┼─────┤            └────────────────────────────┴─────────┘
//   │ e4  │ …                 set 1        a stream's byte with sequence s sits at s & (bytesPerDirection − 1)
//
// Each direction is a window of the stream: [start, end) holds every byte, contiguous, at most
// `bytesPerDirection` of them. New bytes push the oldest out; a segment beyond `end` (the capture missed one,
// or it came out of order) restarts the window there — the store never holds a hole and never guesses.
// Whether a window still covers what a rebuilt socket needs is judged at takeover (`TCPResumePlan`), so a
// connection that once outgrew its buffer but has since been acknowledged is resumable again.
//
// A set-associative cache rather than a hash table with deletion: a new connection takes a free way of its set,
// or the way seen least recently (counted in `evictions`). A RST frees its entry. No allocation after init.

/// Sizes of a `SessionPayloadStore`.
public struct SessionPayloadStoreConfiguration: Sendable, Equatable {
    /// Connections held at once (rounded up to a multiple of `ways`).
    public var sessionCapacity: Int
    /// Bytes kept per direction of each connection; a power of two. It bounds the unacknowledged bytes a
    /// resumable connection may have in flight in either direction.
    public var bytesPerDirection: Int
    /// Entries per set: a new connection may replace the least recently seen of these.
    public var ways: Int

    public init(sessionCapacity: Int = 1024, bytesPerDirection: Int = 64 * 1024, ways: Int = 4) {
        self.sessionCapacity = sessionCapacity
        self.bytesPerDirection = bytesPerDirection
        self.ways = ways
    }

    /// Bytes the store allocates for payload.
    public var payloadBytes: Int { setCount * ways * 2 * bytesPerDirection }
    var setCount: Int { Swift.max(1, (sessionCapacity + ways - 1) / ways) }
}

/// Counters of a `SessionPayloadStore`.
public struct SessionPayloadStoreStatistics: Sendable, Equatable {
    /// Payload bytes copied in (new bytes only; retransmitted ones are skipped).
    public var bytesStored: UInt64 = 0
    /// Segments whose bytes were all held already (retransmissions).
    public var duplicateSegments: UInt64 = 0
    /// Segments that began past a window's end: the window restarted there (capture loss or reordering).
    public var windowRestarts: UInt64 = 0
    /// Segments whose payload the frame did not hold in full (snapshot length): treated as a gap.
    public var truncatedSegments: UInt64 = 0
    /// Bytes pushed out of a full window by newer ones.
    public var bytesOverwritten: UInt64 = 0
    /// Connections that took the place of the least recently seen one in their set.
    public var evictions: UInt64 = 0
    /// Entries freed by a RST.
    public var resets: UInt64 = 0
    public init() {}
}

/// What one direction's window holds now: every byte with sequence in [start, end).
public struct PayloadWindow: Sendable, Equatable, BitwiseCopyable {
    public var start: UInt32
    public var end: UInt32
    /// The acknowledgment the sender carried in its latest segment that brought new payload: how much of the
    /// other direction its stack had received when it last wrote. `nil` before the first such segment.
    public var acknowledgmentAtLastData: UInt32?

    public init(start: UInt32, end: UInt32, acknowledgmentAtLastData: UInt32?) {
        self.start = start
        self.end = end
        self.acknowledgmentAtLastData = acknowledgmentAtLastData
    }

    public var count: Int { Int(end &- start) }

    /// The window holds every byte of [from, to).
    public func covers(from: UInt32, to: UInt32) -> Bool {
        !SequenceNumber.isBefore(from, start) && !SequenceNumber.isAfter(to, end) && !SequenceNumber.isAfter(from, to)
    }
}

/// One direction of an entry.
struct PayloadStream: BitwiseCopyable {
    var start: UInt32 = 0
    var end: UInt32 = 0
    var acknowledgmentAtLastData: UInt32 = 0
    var hasData = false
    var hasAcknowledgmentAtLastData = false

    var window: PayloadWindow? {
        hasData
            ? PayloadWindow(
                start: start, end: end,
                acknowledgmentAtLastData: hasAcknowledgmentAtLastData ? acknowledgmentAtLastData : nil)
            : nil
    }
}

struct PayloadEntry: BitwiseCopyable {
    /// The flow as first seen; protocol 0 marks a free entry.
    var key: FlowKey
    var lastSeen: MonotonicTime
    /// [0]: key.source → key.destination, [1]: the reverse.
    var forward: PayloadStream
    var backward: PayloadStream

    static let free = PayloadEntry(
        key: FlowKey(
            source: FlowAddress(high: 0, low: 0), destination: FlowAddress(high: 0, low: 0), sourcePort: 0,
            destinationPort: 0, protocolNumber: 0),
        lastSeen: .zero, forward: PayloadStream(), backward: PayloadStream())

    var isFree: Bool { key.protocolNumber == 0 }
}

/// Owned by the capture's receive thread (it is `~Copyable`: moved there, or kept behind one lock).
public struct SessionPayloadStore: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the store owns its memory exclusively and, being ~Copyable, is never shared.
    public let configuration: SessionPayloadStoreConfiguration
    public private(set) var statistics = SessionPayloadStoreStatistics()

    private let entries: UnsafeMutablePointer<PayloadEntry>
    private let buffers: UnsafeMutableRawPointer
    private let entryCount: Int
    private let mask: UInt32
    private let seed: FlowHashSeed

    public init(_ configuration: SessionPayloadStoreConfiguration = SessionPayloadStoreConfiguration(), seed: UInt64? = nil) {
        let bytes = configuration.bytesPerDirection
        precondition(bytes >= 64 && bytes <= 1 << 30 && bytes & (bytes - 1) == 0, "bytesPerDirection: a power of two")
        precondition(configuration.ways >= 1 && configuration.sessionCapacity >= 1, "a store holds one session")
        self.configuration = configuration
        entryCount = configuration.setCount * configuration.ways
        mask = UInt32(bytes - 1)
        entries = .allocate(capacity: entryCount)
        entries.initialize(repeating: .free, count: entryCount)
        buffers = .allocate(byteCount: configuration.payloadBytes, alignment: 64)
        self.seed = FlowHashSeed(seed ?? FlowHashSeed.processRandom())
    }

    deinit {
        entries.deinitialize(count: entryCount)
        entries.deallocate()
        buffers.deallocate()
    }

    /// Connections held now (a pass over the entries; not for the hot path).
    public var count: Int { (0..<entryCount).reduce(0) { $0 + (entries[$1].isFree ? 0 : 1) } }

    // MARK: Capture (receive thread)

    /// Takes one TCP segment travelling along `flow`. `payload` is what the frame holds of the segment's
    /// payload (fewer than `segment.payloadLength` bytes when the capture cut the frame). Copies only bytes
    /// not held yet; never allocates.
    public mutating func capture(
        _ flow: FlowKey, _ segment: TCPSegment, payload: UnsafeRawBufferPointer, at time: MonotonicTime
    ) {
        guard flow.protocolNumber == IPProtocolNumber.tcp else { return }
        if segment.flags.contains(.rst) {
            if let index = find(flow) {
                entries[index] = .free
                statistics.resets &+= 1
            }
            return
        }
        if segment.flags.contains(.syn) && !segment.flags.contains(.ack), let index = find(flow) {
            // A new connection on the 4-tuple (or a retransmitted SYN): nothing held belongs to it.
            entries[index].forward = PayloadStream()
            entries[index].backward = PayloadStream()
        }
        let length = Int(segment.payloadLength)
        guard length > 0 else { return }
        let index = find(flow) ?? claim(flow)
        entries[index].lastSeen = Swift.max(entries[index].lastSeen, time)
        let forward = entries[index].key == flow
        let buffer = buffers + (index * 2 + (forward ? 0 : 1)) * configuration.bytesPerDirection
        var stream = forward ? entries[index].forward : entries[index].backward
        // Payload starts after the SYN's sequence number when a SYN carries data.
        let first = segment.sequence &+ (segment.flags.contains(.syn) ? 1 : 0)
        if payload.count < length {
            // The frame lacks some of the bytes: a gap at this segment's end; keep nothing before it.
            statistics.truncatedSegments &+= 1
            stream.start = first &+ UInt32(length)
            stream.end = stream.start
            stream.hasData = true
        } else {
            let grew = write(
                &stream, buffer: buffer, first: first, payload: UnsafeRawBufferPointer(rebasing: payload[0..<length]))
            // Only new bytes say what the sender had received when it wrote: a retransmission carries today's
            // acknowledgment with yesterday's data.
            if grew && segment.flags.contains(.ack) {
                stream.acknowledgmentAtLastData = segment.acknowledgment
                stream.hasAcknowledgmentAtLastData = true
            }
        }
        if forward { entries[index].forward = stream } else { entries[index].backward = stream }
    }

    /// Places `payload` (sequence `first` on) in the window; true when it brought bytes not held before.
    private mutating func write(
        _ stream: inout PayloadStream, buffer: UnsafeMutableRawPointer, first: UInt32,
        payload: UnsafeRawBufferPointer
    ) -> Bool {
        let last = first &+ UInt32(payload.count)
        if !stream.hasData || SequenceNumber.isAfter(first, stream.end) {
            if stream.hasData { statistics.windowRestarts &+= 1 }
            stream.start = first
            stream.end = first
            stream.hasData = true
        }
        guard SequenceNumber.isAfter(last, stream.end) else {
            statistics.duplicateSegments &+= 1
            return false
        }
        // Only the bytes past `end` are new; of those, at most one buffer's worth can be kept.
        var skip = Int(stream.end &- first)
        let capacity = Int(mask) + 1
        if payload.count - skip > capacity { skip = payload.count - capacity }
        var sequence = first &+ UInt32(skip)
        var remaining = payload.count - skip
        var source = payload.baseAddress! + skip
        while remaining > 0 {
            let offset = Int(sequence & mask)
            let chunk = Swift.min(remaining, capacity - offset)
            (buffer + offset).copyMemory(from: source, byteCount: chunk)
            sequence &+= UInt32(chunk)
            source += chunk
            remaining -= chunk
        }
        statistics.bytesStored &+= UInt64(last &- stream.end)
        stream.end = last
        if Int(stream.end &- stream.start) > capacity {
            let newStart = stream.end &- UInt32(capacity)
            statistics.bytesOverwritten &+= UInt64(newStart &- stream.start)
            stream.start = newStart
        }
        return true
    }

    // MARK: Reading (takeover)

    /// The window of bytes sent along `flow` (either direction of a held connection), or nil.
    public func window(sending flow: FlowKey) -> PayloadWindow? {
        guard let index = find(flow) else { return nil }
        return entries[index].key == flow ? entries[index].forward.window : entries[index].backward.window
    }

    /// Copies the bytes with sequence [from, to) sent along `flow`; nil unless the window holds them all.
    public func bytes(sending flow: FlowKey, from: UInt32, to: UInt32) -> [UInt8]? {
        guard let index = find(flow), let window = window(sending: flow), window.covers(from: from, to: to) else {
            return nil
        }
        let forward = entries[index].key == flow
        let buffer = UnsafeRawPointer(buffers + (index * 2 + (forward ? 0 : 1)) * configuration.bytesPerDirection)
        let count = Int(to &- from)
        let capacity = Int(mask) + 1
        return [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            var copied = 0
            var sequence = from
            while copied < count {
                let offset = Int(sequence & mask)
                let chunk = Swift.min(count - copied, capacity - offset)
                UnsafeMutableRawPointer(output.baseAddress! + copied).copyMemory(from: buffer + offset, byteCount: chunk)
                copied += chunk
                sequence &+= UInt32(chunk)
            }
            initialized = count
        }
    }

    // MARK: Entries

    private func setStart(_ flow: FlowKey) -> Int {
        let hash = UInt64(seed.hash(flow))
        return Int((hash &* UInt64(configuration.setCount)) >> 32) * configuration.ways
    }

    private func find(_ flow: FlowKey) -> Int? {
        let first = setStart(flow)
        for index in first..<(first + configuration.ways) {
            let key = entries[index].key
            if key == flow || key == flow.reversed { return index }
        }
        return nil
    }

    /// A free way of `flow`'s set, or the one seen least recently (evicted).
    private mutating func claim(_ flow: FlowKey) -> Int {
        let first = setStart(flow)
        var victim = first
        for index in first..<(first + configuration.ways) {
            if entries[index].isFree {
                victim = index
                break
            }
            if entries[index].lastSeen < entries[victim].lastSeen { victim = index }
        }
        if !entries[victim].isFree { statistics.evictions &+= 1 }
        entries[victim] = .free
        entries[victim].key = flow
        return victim
    }
}
