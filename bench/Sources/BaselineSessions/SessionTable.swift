// BASELINE, frozen: TakeoverCore's Sessions/SessionTable.swift as of 0a57a53 (before the tag array and the
// hash-once API), renamed, so the SessionTable benchmark and bench/instructions measure old and new side by
// side in one run. Not used by the product; do not edit except to keep it compiling.
// A fixed-capacity hash table of `Session` records: one allocation at init, never grows, never allocates
// again. Open addressing with linear probing; deletion shifts the following run back (Knuth's Algorithm R),
// so there are no tombstones and probe lengths do not degrade with churn. Keys are flows of either direction:
// the hash is taken over the canonical (ordered) endpoint pair, and a record matches its key or the reverse.
//
//   slots: [ S | S | · | S | S | S | · | … ]      · = empty (hash 0)
//                      ▲ home(h) = h·slotCount >> 32, probe forward, wrap at the end
//
// `slotCount` exceeds `capacity` by a quarter, so the load stays ≤ 0.8 and every probe meets an empty slot.
// A full table (count == capacity) refuses new flows and counts the refusal.
//
// Slots are aligned to their 128-byte stride, so a record is exactly two cache lines (key and hash in the
// first). At a million sessions nearly every lookup misses the caches and the TLB (~200 ns here); a lookup
// that must wait for that miss before the next can start pays all of it. `prefetch(_:)` over a batch of keys
// first, then the lookups, overlaps the misses of the whole batch.

import CBenchSupport
import TakeoverCore

/// A position in the table, valid until the next insertion or removal.
public struct SessionSlot: Hashable, Sendable, BitwiseCopyable {
    public let index: Int
}

public struct BaselineSessionTable: ~Copyable, @unchecked Sendable {
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
    private let memory: any SessionMemory
    private let seed: FlowHashSeed
    private var sweepCursor = 0

    /// - Parameters:
    ///   - capacity: most sessions held at once (≥ 1).
    ///   - seed: keys the hash. The default is per-process random (from the standard library's hashing
    ///     seed), so remote peers cannot aim flows at one probe run; tests may fix it.
    ///   - memory: supplies the slots' block (huge pages from TakeoverLinux, say); the heap if it has none.
    public init(
        capacity: Int = BaselineSessionTable.defaultCapacity, seed: UInt64? = nil,
        memory: any SessionMemory = HeapSessionMemory()
    ) {
        precondition(capacity >= 1, "a session table holds at least one session")
        self.capacity = capacity
        slotCount = capacity + Swift.max(1, capacity / 4)
        let byteCount = slotCount * MemoryLayout<Session>.stride
        let alignment = Swift.max(Self.slotAlignment, MemoryLayout<Session>.alignment)
        if let block = memory.allocate(byteCount: byteCount, alignment: alignment) {
            self.memory = memory
            slots = block.bindMemory(to: Session.self, capacity: slotCount)
        } else {
            self.memory = HeapSessionMemory()
            slots = self.memory.allocate(byteCount: byteCount, alignment: alignment)!
                .bindMemory(to: Session.self, capacity: slotCount)
        }
        slots.initialize(repeating: .empty, count: slotCount)
        self.seed = FlowHashSeed(seed ?? FlowHashSeed.processRandom())
    }

    deinit {
        slots.deinitialize(count: slotCount)
        memory.deallocate(UnsafeMutableRawPointer(slots), byteCount: slotCount * MemoryLayout<Session>.stride)
    }

    /// Slots start on a multiple of their stride, so each record is exactly two cache lines.
    static let slotAlignment = 128

    // MARK: Lookup

    /// The slot holding `key`'s session (either direction), or nil.
    @inlinable public func find(_ key: FlowKey) -> SessionSlot? {
        let hash = hashOf(key)
        return probe(key, hash: hash).found
    }

    /// Starts loading the slot `key`'s lookup reads first (its home slot, both cache lines) without waiting
    /// for it. Call it for every key of a batch, then look them up or track them: their cache and TLB misses
    /// then overlap instead of following one another. Only a hint: it changes nothing.
    public func prefetch(_ key: FlowKey) {
        let home = UnsafeRawPointer(slots + home(hashOf(key)))
        bench_prefetch_for_write(home)
        bench_prefetch_for_write(home + 64)
    }

    /// A copy of the session in `slot`.
    @inlinable public subscript(slot: SessionSlot) -> Session {
        precondition(slot.index >= 0 && slot.index < slotCount && slots[slot.index].hash != 0, "not an occupied slot")
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
        for index in 0..<slotCount where slots[index].hash != 0 { try body(slots[index]) }
    }

    // MARK: Insert and remove

    /// The result of `findOrInsert`.
    @usableFromInline enum Placement {
        case existing(Int)
        case inserted(Int)
        case full
    }

    /// Finds `key`'s session, or claims a slot for it holding `Session.empty` with its key and hash set.
    @usableFromInline mutating func findOrInsert(_ key: FlowKey) -> Placement {
        let hash = hashOf(key)
        let (found, emptyIndex) = probe(key, hash: hash)
        if let found { return .existing(found.index) }
        guard count < capacity else {
            refusedWhenFull &+= 1
            return .full
        }
        var fresh = Session.empty
        fresh.key = key
        fresh.hash = hash
        slots[emptyIndex] = fresh
        count += 1
        return .inserted(emptyIndex)
    }

    /// Inserts a session for `key` (as its original direction) unless one exists. Returns its slot, or nil
    /// when the table is full.
    @discardableResult
    public mutating func insert(_ key: FlowKey) -> SessionSlot? {
        switch findOrInsert(key) {
        case .existing(let index), .inserted(let index): SessionSlot(index: index)
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
            let hash = slots[next].hash
            if hash == 0 { break }
            // The entry at `next` may fill the hole only if the hole lies on its probe path: from its home
            // slot up to `next`, cyclically.
            if distance(from: home(hash), to: next) >= distance(from: hole, to: next) {
                slots[hole] = slots[next]
                hole = next
            }
        }
        slots[hole].hash = 0
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
            if slots[index].hash != 0 && isExpired(slots[index]) {
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

    @usableFromInline func hashOf(_ key: FlowKey) -> UInt32 {
        let hash = seed.hash(key)
        return hash == 0 ? 1 : hash
    }

    @usableFromInline func home(_ hash: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(hash) &* UInt64(slotCount)) >> 32)
    }

    @usableFromInline func distance(from start: Int, to end: Int) -> Int {
        end >= start ? end - start : end + slotCount - start
    }

    /// Walks `hash`'s probe run: the slot holding `key` (either direction) if present, else the first empty slot.
    @usableFromInline func probe(_ key: FlowKey, hash: UInt32) -> (found: SessionSlot?, empty: Int) {
        var index = home(hash)
        while true {
            let slot = slots + index
            let slotHash = slot.pointee.hash
            if slotHash == 0 { return (nil, index) }
            if slotHash == hash && Self.isSameFlow(slot, key) { return (SessionSlot(index: index), index) }
            index = index + 1 == slotCount ? 0 : index + 1
        }
    }

    /// The record in `slot` is `key`'s flow, in either direction. Field by field in place: no copy of the stored
    /// key and no reversed copy of `key`.
    @usableFromInline @inline(__always)
    static func isSameFlow(_ slot: UnsafeMutablePointer<Session>, _ key: FlowKey) -> Bool {
        guard slot.pointee.key.protocolNumber == key.protocolNumber else { return false }
        if slot.pointee.key.sourcePort == key.sourcePort && slot.pointee.key.destinationPort == key.destinationPort
            && slot.pointee.key.source == key.source && slot.pointee.key.destination == key.destination
        {
            return true
        }
        return slot.pointee.key.sourcePort == key.destinationPort
            && slot.pointee.key.destinationPort == key.sourcePort
            && slot.pointee.key.source == key.destination && slot.pointee.key.destination == key.source
    }

    /// Direct access for the tracker, which updates records in place.
    @usableFromInline func record(at index: Int) -> UnsafeMutablePointer<Session> { slots + index }
}

/// A keyed hash of a flow that is the same for both directions: each endpoint (address and port) is hashed on
/// its own and the two are added, which does not depend on their order. Multiply-fold mixing (as in wyhash):
/// five multiplications and no branch — a branch on which endpoint sorts first mispredicts for half the lookups
/// of a random mix of directions.
struct FlowHashSeed: Sendable {
    private let k0: UInt64
    private let k1: UInt64
    private let k2: UInt64

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

    @inline(__always) static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    /// One endpoint: its address folded with two keys, then its port folded in, so an endpoint's address and
    /// port stay bound together.
    @inline(__always) func endpoint(_ address: FlowAddress, _ port: UInt16) -> UInt64 {
        Self.fold(Self.fold(address.high ^ k0, address.low ^ k1) ^ UInt64(port), k2)
    }

    @inline(__always) func hash(_ key: FlowKey) -> UInt32 {
        let endpoints = endpoint(key.source, key.sourcePort) &+ endpoint(key.destination, key.destinationPort)
        let mixed = Self.fold(endpoints ^ UInt64(key.protocolNumber), k0 ^ k1)
        return UInt32(truncatingIfNeeded: mixed ^ mixed >> 32)
    }
}
