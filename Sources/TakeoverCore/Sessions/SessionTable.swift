// A fixed-capacity hash table of `Session` records: one allocation at init, never grows, never allocates
// again. Open addressing with linear probing; deletion shifts the following run back (Knuth's Algorithm R),
// so there are no tombstones and probe lengths do not degrade with churn. Keys are flows of either direction:
// the hash is symmetric in the two endpoints, and a record matches its key or the reverse.
//
//   tags:  [ t | t | 0 | t | t | t | 0 | … | t t t t t t t ]   1 byte per slot, 0 = empty; the last 7 bytes
//   slots: [ S | S | · | S | S | S | · | … ]                     repeat the first 7, so 8 load as one word
//                      ▲ home(h) = h·slotCount >> 32, probe forward, wrap at the end
//
// Each slot has a tag, 8 bits of its key's hash, in a compact side array (SwissTable's control bytes): a probe
// reads the tags 8 at a time as one 64-bit word and compares all 8 at once (SWAR), and touches a 128-byte slot
// only where the tag matches (a wrong key there 1 time in 255). At load 0.76 a linear probe run is ~2.6 slots
// for a present key and ~9 for an absent one: read slot by slot that is 2–9 random cache lines; read as tags it
// is one, and 1.3 MB of tags for a million sessions stay in the L3 where 168 MB of slots cannot.
//
// `slotCount` exceeds `capacity` by a quarter, so the load stays ≤ 0.8 and every probe meets an empty slot.
// A full table (count == capacity) refuses new flows and counts the refusal.
//
// Slots are aligned to their 128-byte stride, so a record is exactly two cache lines (key and hash in the
// first). At a million sessions nearly every slot read misses the caches and the TLB (~200 ns here). For a
// batch of keys: `prefetch(_:)` each (it returns the key's `FlowHash`), then look each up with that hash
// (`find(_:hash:)`, `TCPTracker.track(…, hash:)`): the batch's misses overlap and each key is hashed once.
// For a stream of batches, a two-stage pipeline hides the misses behind the work instead of waiting for them
// once per batch: `prefetchTags(_:)` for batch k+2, `prefetch(_ hash:)` for batch k+1, then batch k's lookups
// (`TCPTracker.forEachPrefetched` runs it over a batch drained from the capture ring).

internal import CTakeoverPrefetch

/// A position in the table, valid until the next insertion or removal.
public struct SessionSlot: Hashable, Sendable, BitwiseCopyable {
    public let index: Int

    @inlinable init(index: Int) { self.index = index }
}

/// A flow's hash under one table's seed, the same for both directions: computed once per key by
/// `SessionTable.hash(_:)` or `prefetch(_:)`, then handed to the lookup so it does not hash again. Valid only
/// for the table (or tracker) that computed it — another table has another seed.
///
/// From `prefetch` it also carries the slot prefetch chose (the first whose tag matched): the lookup checks
/// that slot's stored hash and key — on the line prefetch loaded — and probes only when they are not the key's
/// (the slot changed since, or the tag matched another key). Two hashes are equal when their values are; the
/// slot is only a hint.
public struct FlowHash: Hashable, Sendable, BitwiseCopyable {
    /// Never 0 (0 marks an empty slot's stored hash).
    public let value: UInt32
    /// The slot `prefetch` found the key's tag in, or `noSlot`.
    @usableFromInline let slotHint: UInt32

    @usableFromInline static var noSlot: UInt32 { .max }

    @inlinable init(_ value: UInt32, slotHint: UInt32 = FlowHash.noSlot) {
        self.value = value
        self.slotHint = slotHint
    }

    @inlinable public static func == (lhs: FlowHash, rhs: FlowHash) -> Bool { lhs.value == rhs.value }
    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(value) }

    /// The slot's tag: 8 hash bits independent of the home slot (which takes the high bits), never 0.
    @inlinable var tag: UInt8 {
        let low = UInt8(truncatingIfNeeded: value)
        return low == 0 ? 1 : low
    }
}

public struct SessionTable: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the table owns its storage exclusively; being ~Copyable it can be moved to the one
    // thread that tracks, never shared.

    /// Default capacity: a million concurrent sessions (≈ 160 MB of slots).
    public static let defaultCapacity = 1 << 20

    /// Most sessions the table holds.
    public let capacity: Int
    /// Slots allocated (capacity plus a quarter).
    public let slotCount: Int
    /// Sessions held now.
    public private(set) var count = 0
    /// Insertions refused because the table was full.
    public private(set) var refusedWhenFull: UInt64 = 0

    @usableFromInline let slots: UnsafeMutablePointer<Session>
    /// `slotCount + groupWidth - 1` tags, right after the slots in the same block; tag `slotCount + j` repeats
    /// tag `j % slotCount` so a group read at any slot needs no wrap-around test.
    @usableFromInline let tags: UnsafeMutablePointer<UInt8>
    private let memory: any SessionMemory
    @usableFromInline let seed: FlowHashSeed
    private var sweepCursor = 0

    /// Tags read and compared at once: one 64-bit word.
    @inlinable static var groupWidth: Int { 8 }

    /// - Parameters:
    ///   - capacity: most sessions held at once (≥ 1).
    ///   - seed: keys the hash. The default is per-process random (from the standard library's hashing
    ///     seed), so remote peers cannot aim flows at one probe run; tests may fix it.
    ///   - memory: supplies the one block for slots and tags (huge pages from TakeoverLinux, say); the heap if
    ///     it has none.
    public init(
        capacity: Int = SessionTable.defaultCapacity, seed: UInt64? = nil,
        memory: any SessionMemory = HeapSessionMemory()
    ) {
        precondition(capacity >= 1, "a session table holds at least one session")
        self.capacity = capacity
        slotCount = capacity + Swift.max(1, capacity / 4)
        let byteCount = Self.blockByteCount(slotCount: slotCount)
        let alignment = Swift.max(Self.slotAlignment, MemoryLayout<Session>.alignment)
        let block: UnsafeMutableRawPointer
        if let given = memory.allocate(byteCount: byteCount, alignment: alignment) {
            self.memory = memory
            block = given
        } else {
            self.memory = HeapSessionMemory()
            block = self.memory.allocate(byteCount: byteCount, alignment: alignment)!
        }
        slots = block.bindMemory(to: Session.self, capacity: slotCount)
        slots.initialize(repeating: .empty, count: slotCount)
        let tagCount = slotCount + Self.groupWidth - 1
        tags = (block + slotCount * MemoryLayout<Session>.stride).bindMemory(to: UInt8.self, capacity: tagCount)
        tags.initialize(repeating: 0, count: tagCount)
        self.seed = FlowHashSeed(seed ?? FlowHashSeed.processRandom())
    }

    deinit {
        slots.deinitialize(count: slotCount)
        memory.deallocate(UnsafeMutableRawPointer(slots), byteCount: Self.blockByteCount(slotCount: slotCount))
    }

    /// Slots start on a multiple of their stride, so each record is exactly two cache lines.
    static let slotAlignment = 128

    /// The one block a table of `slotCount` slots asks its `SessionMemory` for: the slots, then the tags.
    static func blockByteCount(slotCount: Int) -> Int {
        slotCount * MemoryLayout<Session>.stride + slotCount + groupWidth - 1
    }

    // MARK: Lookup

    /// `key`'s hash under this table's seed (the same for `key.reversed`), for the calls that take one.
    @inlinable public func hash(_ key: FlowKey) -> FlowHash {
        let hash = seed.hash(key)
        return FlowHash(hash == 0 ? 1 : hash)
    }

    /// The slot holding `key`'s session (either direction), or nil.
    @inlinable public func find(_ key: FlowKey) -> SessionSlot? {
        let hash = hash(key)
        // Nobody prefetched this key: start the home slot's load now, so its miss overlaps the tags' load
        // instead of following it (most keys sit in their home slot).
        prefetchHome(hash, lines: 1)
        // A hash computed here carries no slot: straight to the probe.
        let (found, index, _) = probe(key, hash: hash)
        return found ? SessionSlot(index: index) : nil
    }

    /// The slot holding `key`'s session (either direction), or nil; `hash` must be `hash(key)` (as
    /// `prefetch` returned it).
    @inlinable public func find(_ key: FlowKey, hash: FlowHash) -> SessionSlot? {
        assert(hash == self.hash(key), "a FlowHash from another key or another table")
        let (found, index, _) = locate(key, hash: hash)
        return found ? SessionSlot(index: index) : nil
    }

    /// Hashes `key` and starts loading the slot its lookup will read — both cache lines — without waiting
    /// for it. Call it for every key of a batch and keep the hashes, then look the keys up (or track them)
    /// with those hashes: their cache and TLB misses overlap instead of following one another, and no key is
    /// hashed twice. Only a hint: it changes nothing.
    @discardableResult
    @inlinable public func prefetch(_ key: FlowKey) -> FlowHash {
        prefetch(hash(key))
    }

    /// Starts loading the slot the lookup of the key whose hash is `hash` will read (see `prefetch(_:)`). It
    /// reads the key's 8 tags now — 1 byte per slot, usually in the L3 — and prefetches the first slot whose tag
    /// matches, or when none does the empty slot an insertion would take: at load 0.76 a key is often not in
    /// its home slot, and prefetching the home slot then loads the wrong one. The tag reads of a batch's keys
    /// are independent, so the CPU overlaps them too. Returns `hash` carrying the candidate slot, if any, so the
    /// lookup starts there instead of reading the tags again.
    @discardableResult
    public func prefetch(_ hash: FlowHash) -> FlowHash {
        let start = home(hash)
        let group = UInt64(littleEndian: UnsafeRawPointer(tags + start).loadUnaligned(as: UInt64.self))
        let empty = Self.zeroBytes(group)
        let candidates = Self.zeroBytes(group ^ (UInt64(hash.tag) &* Self.lowBytes)) & ((empty & (0 &- empty)) &- 1)
        // The first candidate, else the first empty slot, else (a run longer than the group) the home slot.
        let pick = candidates != 0 ? candidates : empty != 0 ? empty : 0x80
        let index = wrapped(start &+ pick.trailingZeroBitCount &>> 3)
        let slot = UnsafeRawPointer(slots + index)
        takeover_prefetch_for_write(slot)
        takeover_prefetch_for_write(slot + 64)
        // Only a tag match is worth a hint (an empty slot says nothing without the rest of the run); a table
        // of 2^32 slots or more gives none.
        let hinted = candidates != 0 && index < Int(FlowHash.noSlot)
        return FlowHash(hash.value, slotHint: hinted ? UInt32(truncatingIfNeeded: index) : FlowHash.noSlot)
    }

    /// The first stage of a two-stage prefetch, for a stream of keys: hashes `key` and starts loading its tag
    /// group (one or two cache lines) without reading it, so nothing waits for the load. A batch later, when
    /// the tags have arrived, `prefetch(_ hash:)` with the returned hash reads them and starts the slot's load;
    /// a batch after that, the lookup or track with the hash `prefetch` returned finds the slot loaded.
    /// `prefetch(_ key:)` does both stages at once: its tag read then waits in the batch's critical path (at a
    /// million sessions the 1.3 MB of tags miss the L2 while the slots stream through it) before the slot's
    /// miss can start.
    @discardableResult
    public func prefetchTags(_ key: FlowKey) -> FlowHash {
        let hash = hash(key)
        let group = UnsafeRawPointer(tags + home(hash))
        takeover_prefetch_for_read(group)
        // The group's 8 bytes cross into the next line 7 times in 64; the same line again costs a cached no-op.
        takeover_prefetch_for_read(group + (Self.groupWidth - 1))
        return hash
    }

    /// Starts loading the first `lines` cache lines of the home slot of the key whose hash is `hash`, without
    /// reading its tags: for a lookup nobody prefetched, so the slot's miss and the tags' miss overlap.
    @usableFromInline func prefetchHome(_ hash: FlowHash, lines: Int) {
        let slot = UnsafeRawPointer(slots + home(hash))
        takeover_prefetch_for_write(slot)
        if lines > 1 { takeover_prefetch_for_write(slot + 64) }
    }

    /// A copy of the session in `slot`.
    @inlinable public subscript(slot: SessionSlot) -> Session {
        precondition(slot.index >= 0 && slot.index < slotCount && tags[slot.index] != 0, "not an occupied slot")
        return slots[slot.index]
    }

    /// A copy of `key`'s session, or nil.
    @inlinable public func session(for key: FlowKey) -> Session? {
        find(key).map { slots[$0.index] }
    }

    /// Lends the slots' memory, raw, for diagnostics (which pages back it); not for reading sessions.
    public func withUnsafeSlotMemory<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: slots, count: slotCount * MemoryLayout<Session>.stride))
    }

    /// Calls `body` with every session held (in slot order); for tests and dumps, not the hot path.
    public func forEach(_ body: (Session) throws -> Void) rethrows {
        for index in 0..<slotCount where tags[index] != 0 { try body(slots[index]) }
    }

    // MARK: Insert and remove

    /// The result of `findOrInsert`.
    @usableFromInline enum Placement {
        /// The session's slot, and the side that sends in the key's direction.
        case existing(Int, SessionSide)
        case inserted(Int)
        case full
    }

    /// Finds `key`'s session, or claims a slot for it holding `Session.empty` with its key and hash set. The
    /// hinted slot is checked inline (a prefetched update's usual case), the probe and insertion out of line.
    @inlinable @inline(__always)
    mutating func findOrInsert(_ key: FlowKey, hash: FlowHash) -> Placement {
        if let (index, side) = hinted(key, hash: hash) { return .existing(index, side) }
        return probeOrInsert(key, hash: hash)
    }

    /// `findOrInsert` without the hint.
    @usableFromInline mutating func probeOrInsert(_ key: FlowKey, hash: FlowHash) -> Placement {
        assert(hash == self.hash(key), "a FlowHash from another key or another table")
        let (found, index, side) = probe(key, hash: hash)
        if found { return .existing(index, side) }
        guard count < capacity else {
            refusedWhenFull &+= 1
            return .full
        }
        var fresh = Session.empty
        fresh.key = key
        fresh.hash = hash.value
        slots[index] = fresh
        setTag(index, hash.tag)
        count += 1
        return .inserted(index)
    }

    /// Inserts a session for `key` (as its original direction) unless one exists. Returns its slot, or nil
    /// when the table is full.
    @discardableResult
    public mutating func insert(_ key: FlowKey) -> SessionSlot? {
        switch findOrInsert(key, hash: hash(key)) {
        case .existing(let index, _), .inserted(let index): SessionSlot(index: index)
        case .full: nil
        }
    }

    /// Removes `key`'s session; false when there was none.
    @discardableResult
    public mutating func remove(_ key: FlowKey) -> Bool {
        guard let slot = find(key) else { return false }
        removeSlot(slot.index)
        return true
    }

    /// Empties slot `index` and shifts the rest of its probe run back so every entry stays reachable from its
    /// home slot with no gap in between (no tombstones).
    @usableFromInline mutating func removeSlot(_ index: Int) {
        var hole = index
        var next = index
        while true {
            next = next + 1 == slotCount ? 0 : next + 1
            let tag = tags[next]
            if tag == 0 { break }
            // The entry at `next` may fill the hole only if the hole lies on its probe path: from its home
            // slot up to `next`, cyclically.
            if distance(from: home(FlowHash(slots[next].hash)), to: next) >= distance(from: hole, to: next) {
                slots[hole] = slots[next]
                setTag(hole, tag)
                hole = next
            }
        }
        slots[hole].hash = 0
        setTag(hole, 0)
        count -= 1
    }

    // MARK: Incremental expiry

    /// Examines up to `slotBudget` slots from where the previous sweep stopped and removes the sessions for
    /// which `isExpired` returns true. Bounded work per call, so the tracking thread can interleave it with
    /// packets. Returns how many were removed.
    @discardableResult
    public mutating func sweep(slotBudget: Int, isExpired: (Session) -> Bool) -> Int {
        var removed = 0
        var examined = 0
        var index = sweepCursor
        while examined < slotBudget {
            examined += 1
            if tags[index] != 0 && isExpired(slots[index]) {
                removeSlot(index)
                removed += 1
                // The backward shift may have moved a later entry into `index`: look at it again.
                continue
            }
            index = index + 1 == slotCount ? 0 : index + 1
        }
        sweepCursor = index
        return removed
    }

    // MARK: Internals

    @inlinable func home(_ hash: FlowHash) -> Int {
        Int(truncatingIfNeeded: (UInt64(hash.value) &* UInt64(slotCount)) >> 32)
    }

    @usableFromInline func distance(from start: Int, to end: Int) -> Int {
        end >= start ? end - start : end + slotCount - start
    }

    /// Sets slot `index`'s tag and its copy past the end (for the slots a group read can wrap onto).
    @usableFromInline mutating func setTag(_ index: Int, _ tag: UInt8) {
        tags[index] = tag
        var copy = index + slotCount
        while copy < slotCount + Self.groupWidth - 1 {
            tags[copy] = tag
            copy += slotCount
        }
    }

    /// `probe`, starting with the slot `prefetch` hinted: when that slot's stored hash is `hash` (so it is
    /// occupied — an empty slot stores 0 — by a key with this hash) and its key is `key` either way, that is
    /// the key's slot, whatever moved since; otherwise the probe runs as without a hint. The stored hash and
    /// key share the slot's first cache line, which prefetch loaded: no tag is read.
    @inlinable @inline(__always)
    func locate(_ key: FlowKey, hash: FlowHash) -> (found: Bool, index: Int, side: SessionSide) {
        if let (index, side) = hinted(key, hash: hash) { return (true, index, side) }
        return probe(key, hash: hash)
    }

    /// The hinted slot and `key`'s side in it when the slot holds `key` (see `locate`), else nil.
    @inlinable @inline(__always)
    func hinted(_ key: FlowKey, hash: FlowHash) -> (index: Int, side: SessionSide)? {
        let hint = Int(truncatingIfNeeded: hash.slotHint)
        guard hash.slotHint != FlowHash.noSlot && hint < slotCount && slots[hint].hash == hash.value,
            let side = Self.matchedSide(slots + hint, key)
        else { return nil }
        return (hint, side)
    }

    /// Walks `hash`'s probe run a group of 8 tags at a time: `found` and the slot holding `key` (either
    /// direction) when present, else the first empty slot. `side` is the direction `key` matched in.
    @inlinable @inline(__always)
    func probe(_ key: FlowKey, hash: FlowHash) -> (found: Bool, index: Int, side: SessionSide) {
        let wanted = UInt64(hash.tag) &* Self.lowBytes
        var start = home(hash)
        while true {
            // Little-endian: byte k of the word is the tag of slot start + k.
            let group = UInt64(littleEndian: UnsafeRawPointer(tags + start).loadUnaligned(as: UInt64.self))
            let empty = Self.zeroBytes(group)
            // Only slots before the first empty one belong to the run (`zeroBytes` is exact for the lowest
            // zero byte; its false positives lie above it and are cut off here).
            let inRun = (empty & (0 &- empty)) &- 1
            var candidates = Self.zeroBytes(group ^ wanted) & inRun
            while candidates != 0 {
                let index = wrapped(start &+ candidates.trailingZeroBitCount &>> 3)
                let side = Self.matchedSide(slots + index, key)
                if let side { return (true, index, side) }
                candidates &= candidates &- 1
            }
            if empty != 0 { return (false, wrapped(start &+ empty.trailingZeroBitCount &>> 3), .original) }
            start = wrapped(start &+ Self.groupWidth)
        }
    }

    /// `index` brought back into 0..<slotCount (a group read past the end continues at slot 0; a table of
    /// fewer than 8 slots wraps more than once).
    @inlinable @inline(__always) func wrapped(_ index: Int) -> Int {
        var index = index
        while index >= slotCount { index &-= slotCount }
        return index
    }

    @inlinable static var lowBytes: UInt64 { 0x0101_0101_0101_0101 }

    /// The high bit of every zero byte of `word` set — exact for the lowest zero byte; a byte above a zero
    /// byte may be reported too (a borrow), which the callers tolerate.
    @inlinable @inline(__always) static func zeroBytes(_ word: UInt64) -> UInt64 {
        (word &- lowBytes) & ~word & 0x8080_8080_8080_8080
    }

    /// Whether the record in `slot` is `key`'s flow, and in which direction `key` runs along it: the stored
    /// key is compared with `key` and with its reverse as 64-bit words (addresses, then ports and protocol in
    /// one), both at once, with no branch on which direction matches — a random mix of directions would
    /// mispredict it half the time.
    @inlinable @inline(__always)
    static func matchedSide(_ slot: UnsafeMutablePointer<Session>, _ key: FlowKey) -> SessionSide? {
        let stored = slot.pointee.key
        let storedPorts =
            UInt64(stored.sourcePort) | UInt64(stored.destinationPort) << 16 | UInt64(stored.protocolNumber) << 32
        let keyProtocol = UInt64(key.protocolNumber) << 32
        let forward =
            (stored.source.high ^ key.source.high) | (stored.source.low ^ key.source.low)
            | (stored.destination.high ^ key.destination.high) | (stored.destination.low ^ key.destination.low)
            | (storedPorts ^ (UInt64(key.sourcePort) | UInt64(key.destinationPort) << 16 | keyProtocol))
        let backward =
            (stored.source.high ^ key.destination.high) | (stored.source.low ^ key.destination.low)
            | (stored.destination.high ^ key.source.high) | (stored.destination.low ^ key.source.low)
            | (storedPorts ^ (UInt64(key.destinationPort) | UInt64(key.sourcePort) << 16 | keyProtocol))
        if Swift.min(forward, backward) != 0 { return nil }
        return forward == 0 ? .original : .reply
    }

    /// Direct access for the tracker, which updates records in place.
    @usableFromInline func record(at index: Int) -> UnsafeMutablePointer<Session> { slots + index }
}

/// A keyed hash of a flow that is the same for both directions: each endpoint (address and port) is hashed on
/// its own and the two are added, which does not depend on their order. Multiply-fold mixing (as in wyhash):
/// five multiplications and no branch — a branch on which endpoint sorts first mispredicts for half the lookups
/// of a random mix of directions.
@usableFromInline struct FlowHashSeed: Sendable {
    @usableFromInline let k0: UInt64
    @usableFromInline let k1: UInt64
    @usableFromInline let k2: UInt64

    init(_ seed: UInt64) {
        k0 = seed ^ 0xA076_1D64_78BD_642F
        k1 = Self.fold(seed, 0xE703_7ED1_A0B4_28DB)
        k2 = Self.fold(seed ^ 0x8EBC_6AF0_9C88_C6E3, 0x5899_65CC_7537_4CC3)
    }

    /// A per-process random seed: the standard library seeds `Hasher` randomly at start (no system call here).
    static func processRandom() -> UInt64 {
        var hasher = Hasher()
        hasher.combine(0x7461_6B65_6F76_6572 as UInt64)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    @inlinable @inline(__always) static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    /// One endpoint: its address folded with two keys, then its port folded in, so an endpoint's address and
    /// port stay bound together.
    @inlinable @inline(__always) func endpoint(_ address: FlowAddress, _ port: UInt16) -> UInt64 {
        Self.fold(Self.fold(address.high ^ k0, address.low ^ k1) ^ UInt64(port), k2)
    }

    @inlinable @inline(__always) func hash(_ key: FlowKey) -> UInt32 {
        let endpoints = endpoint(key.source, key.sourcePort) &+ endpoint(key.destination, key.destinationPort)
        let mixed = Self.fold(endpoints ^ UInt64(key.protocolNumber), k0 ^ k1)
        return UInt32(truncatingIfNeeded: mixed ^ mixed >> 32)
    }
}
