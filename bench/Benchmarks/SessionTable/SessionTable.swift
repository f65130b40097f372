// The session table at its default size (slots for 1M sessions, ≈ 1.3M slots) filled with 1,000,000 random
// 5-tuples, then looked up and updated in a random order, so nearly every access misses the caches as it
// would with a million live flows (the table is far larger than the 32 MiB L3).
//
// - lookup: `SessionTable.find` of a present key (hash, probe, compare);
// - lookup, absent key: the probe run to the first empty slot;
// - update: `TCPTracker.track` of an ACK with data for an existing session, i.e. the lookup plus the in-place
//   update of its record (sequence, acknowledgment, window, timestamps, last seen).
// - memory floors, no table code: 128-byte records in a plain array as large as the table's slots, visited
//   in a random order — independent reads (the CPU overlaps their misses), the same read-modify-writes, and
//   dependent reads (each record holds the next one's position: one full cache and TLB miss at a time,
//   which is what a lookup whose probe branches on the loaded data pays).
// One sample is 1000 operations (scaling factor kilo); the time is per operation. The order is a random
// permutation of the million keys, walked from where the previous sample stopped.
//
// Each table operation is measured side by side in one run (the machine is shared: compare the ratios): the
// table as of the baseline commit ("old": BaselineSessions, generated from git by bench/baseline-sessions; since
// a845704 the tag array, hash once, slot hint and common-ACK update, without the two-stage prefetch) and the current
// one ("new"); the slots on the heap (4 KiB pages) or on 2 MiB pages (`HugePageSessionMemory`); one key at a time,
// in batches of `batch` keys whose home slots are all prefetched first (`prefetch(_:)`), or with each key
// prefetched `batch` keys ahead of its lookup (a rolling window) — as the tracker thread can do over a batch
// drained from the capture ring. Both tables' prefetch returns the key's hash and their lookups take it (hashed
// once); the new one's hash also carries the slot prefetch found. The new tracker also runs as the engine's
// tracker thread does (`pipelineBenchmarks`): drained 64 keys at a time, each batch through the two-stage
// pipeline `TCPTracker.forEachPrefetched`, which the baseline lacks.
import BaselineSessions
import Benchmark
import BenchFixtures
import TakeoverCore
import TakeoverLinux

let sessions = 1_000_000
/// Keys prefetched ahead of their lookups in the batched benchmarks (1000 is a multiple of it).
let batch = 8
/// Records the engine's tracker thread drains from the capture ring at a time (`CapturePipeline`'s default), for
/// the pipelined benchmarks (1000 is not a multiple: a sample's last batch is shorter).
let drained = 64

enum Slots: String { case heap = "heap", hugePages = "2 MiB pages" }

/// Where a benchmark's table (or plain records) keeps its slots.
func slotMemory(_ slots: Slots) -> any SessionMemory {
    switch slots {
    case .heap: HeapSessionMemory()
    case .hugePages: HugePageSessionMemory()
    }
}

var perOperation: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .mallocCountTotal], timeUnits: .nanoseconds, warmupIterations: 10,
        scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 3000)
}

/// The tracker and table operations a benchmark measures, over the current tracker and the baseline copy.
/// `Hint` is what `prefetch` hands to the lookup that follows: each table's own `FlowHash`.
protocol TrackerUnderTest: ~Copyable {
    associatedtype Hint: BitwiseCopyable
    static var name: String { get }
    init(memory: any SessionMemory)
    var count: Int { get }
    func prefetch(_ key: FlowKey) -> Hint
    /// The slot index of `key`'s session, or -1.
    func find(_ key: FlowKey) -> Int
    func find(_ key: FlowKey, hint: Hint) -> Int
    /// True when the segment updated an existing session.
    mutating func updates(_ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime) -> Bool
    mutating func updates(_ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime, hint: Hint) -> Bool
    /// True when the segment created a session.
    mutating func creates(_ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime) -> Bool
    func withUnsafeSlotMemory<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R
}

extension TCPTracker: TrackerUnderTest {
    static var name: String { "new" }
    init(memory: any SessionMemory) { self.init(capacity: SessionTable.defaultCapacity, memory: memory) }
    func prefetch(_ key: FlowKey) -> TakeoverCore.FlowHash { table.prefetch(key) }
    func find(_ key: FlowKey) -> Int { table.find(key)?.index ?? -1 }
    func find(_ key: FlowKey, hint: TakeoverCore.FlowHash) -> Int { table.find(key, hash: hint)?.index ?? -1 }
    mutating func updates(_ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime) -> Bool {
        track(key, segment, at: time) == .updated
    }
    mutating func updates(
        _ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime, hint: TakeoverCore.FlowHash
    ) -> Bool {
        track(key, segment, at: time, hash: hint) == .updated
    }
    mutating func creates(_ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime) -> Bool {
        track(key, segment, at: time) == .created
    }
    func withUnsafeSlotMemory<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { table.withUnsafeSlotMemory(body) }
}

extension BaselineTCPTracker: TrackerUnderTest {
    static var name: String { "old" }
    init(memory: any SessionMemory) { self.init(capacity: BaselineSessionTable.defaultCapacity, memory: memory) }
    func prefetch(_ key: FlowKey) -> BaselineSessions.FlowHash { table.prefetch(key) }
    func find(_ key: FlowKey) -> Int { table.find(key)?.index ?? -1 }
    func find(_ key: FlowKey, hint: BaselineSessions.FlowHash) -> Int { table.find(key, hash: hint)?.index ?? -1 }
    mutating func updates(_ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime) -> Bool {
        track(key, segment, at: time) == .updated
    }
    mutating func updates(
        _ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime, hint: BaselineSessions.FlowHash
    ) -> Bool {
        track(key, segment, at: time, hash: hint) == .updated
    }
    mutating func creates(_ key: FlowKey, _ segment: TCPSegment, at time: MonotonicTime) -> Bool {
        track(key, segment, at: time) == .created
    }
    func withUnsafeSlotMemory<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { table.withUnsafeSlotMemory(body) }
}

/// A full tracker and keys in lookup order, made in setup (it takes a few seconds).
final class FilledTracker<Tracker: TrackerUnderTest & ~Copyable>: @unchecked Sendable {
    // @unchecked: one benchmark uses it at a time, on one thread.
    var tracker: Tracker
    /// The present keys, in a random order, each in a random direction.
    let order: UnsafeMutableBufferPointer<FlowKey>
    /// Keys never inserted.
    let absent: UnsafeMutableBufferPointer<FlowKey>
    /// What `prefetch` returned for the keys in flight (a ring of 2 × `batch`), allocated once.
    let hints: UnsafeMutableBufferPointer<Tracker.Hint>
    /// `TCPTracker.forEachPrefetched`'s scratch for a drained batch, allocated once.
    let drainedHashes = UnsafeMutableBufferPointer<TakeoverCore.FlowHash>.allocate(capacity: drained)
    var cursor = 0
    var time = MonotonicTime(nanoseconds: 1_000_000_000)

    init(_ kind: Slots) {
        tracker = Tracker(memory: slotMemory(kind))
        var generator = SplitMix64(seed: 0x7A6B_0001)
        order = .allocate(capacity: sessions)
        absent = .allocate(capacity: sessions)
        hints = .allocate(capacity: 2 * batch)
        var filled = 0
        while filled < sessions {
            let key = FlowKey.random(using: &generator)
            if tracker.creates(key, Self.segment(0), at: time) {
                order[filled] = generator.next() & 1 == 0 ? key : key.reversed
                filled += 1
            }
        }
        precondition(tracker.count == sessions, "\(tracker.count) sessions")
        var shuffled = order  // the same memory: a buffer pointer's copy shuffles it in place
        shuffled.shuffle(using: &generator)
        for index in 0..<sessions {
            var key = FlowKey.random(using: &generator)
            key.protocolNumber = IPProtocolNumber.udp  // no TCP key can equal it
            absent[index] = key
        }
        tracker.withUnsafeSlotMemory { slots in
            let huge = HugePageSessionMemory.hugePageBytes(in: slots.baseAddress!, byteCount: slots.count) ?? -1
            print("SessionTable \(Tracker.name) (\(kind.rawValue)): \(slots.count >> 20) MiB of slots, \(huge >> 20) MiB on huge pages")
        }
    }

    deinit {
        order.deallocate()
        absent.deallocate()
        hints.deallocate()
        drainedHashes.deallocate()
    }

    /// An ACK carrying 1000 bytes, the `round`th of its flow.
    static func segment(_ round: UInt32) -> TCPSegment { .benchACK(round: round) }

    /// Runs one sample's loop with the tracker: one exclusive access per sample. (`tracker` is a class's
    /// property: reached once per operation, Swift's dynamic exclusivity check — ~90 instructions, measured
    /// with callgrind — would be part of every operation's time.)
    func withTracker<R>(_ body: (inout Tracker) -> R) -> R { body(&tracker) }

    /// The next `count` positions of the walk (wrapping), as a start index.
    func advance(by count: Int) -> Int {
        let start = cursor
        cursor = (cursor + count) % sessions
        return start
    }
}

/// Records as large as `Session`, as many as the table's slots, visited in a random order.
final class PlainRecords: @unchecked Sendable {
    // @unchecked: one benchmark uses it at a time, on one thread.
    static let recordWords = 16  // 128 bytes, `Session`'s stride
    let slotCount = TCPTracker().table.slotCount
    let words: UnsafeMutableBufferPointer<UInt64>
    let order: UnsafeMutableBufferPointer<Int>
    let memory: any SessionMemory
    var cursor = 0

    init(_ kind: Slots = .heap) {
        memory = slotMemory(kind)
        let byteCount = slotCount * Self.recordWords * 8
        words = UnsafeMutableBufferPointer(
            start: memory.allocate(byteCount: byteCount, alignment: 128)!.bindMemory(
                to: UInt64.self, capacity: slotCount * Self.recordWords),
            count: slotCount * Self.recordWords)
        words.initialize(repeating: 1)
        order = .allocate(capacity: sessions)
        var generator = SplitMix64(seed: 0x7A6B_0002)
        for index in 0..<sessions { order[index] = Int(generator.next() % UInt64(slotCount)) * Self.recordWords }
        // A random cycle through every record for the dependent walk: record i's first word holds the next.
        var cycle = Array(0..<slotCount)
        cycle.shuffle(using: &generator)
        for position in 0..<slotCount {
            words[cycle[position] * Self.recordWords] = UInt64(cycle[(position + 1) % slotCount] * Self.recordWords)
        }
    }

    deinit {
        memory.deallocate(UnsafeMutableRawPointer(words.baseAddress!), byteCount: words.count * 8)
        order.deallocate()
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("SessionTable: memory floor, independent reads of random 128-byte records in 1.3M", configuration: perOperation) {
        (benchmark: Benchmark, records: PlainRecords) in
        var index = records.cursor
        var sum: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            sum &+= records.words[records.order[index]]
            index = index + 1 == sessions ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        records.cursor = index
        blackHole(sum)
    } setup: {
        PlainRecords()
    }

    for slots in [Slots.heap, .hugePages] {
        Benchmark(
            "SessionTable: memory floor, dependent reads of random 128-byte records in 1.3M, \(slots.rawValue)",
            configuration: perOperation
        ) {
            (benchmark: Benchmark, records: PlainRecords) in
            var record = records.cursor
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                record = Int(records.words[record])
            }
            benchmark.stopMeasurement()
            records.cursor = record
        } setup: {
            PlainRecords(slots)
        }
    }

    Benchmark("SessionTable: memory floor, independent updates of random 128-byte records in 1.3M", configuration: perOperation) {
        (benchmark: Benchmark, records: PlainRecords) in
        var index = records.cursor
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let record = records.order[index]
            records.words[record] &+= 1
            records.words[record + PlainRecords.recordWords - 1] &+= 1
            index = index + 1 == sessions ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        records.cursor = index
        blackHole(records.words.baseAddress)
    } setup: {
        PlainRecords()
    }

    for slots in [Slots.heap, .hugePages] {
        tableBenchmarks(BaselineTCPTracker.self, slots)
        tableBenchmarks(TCPTracker.self, slots)
        pipelineBenchmarks(slots)
    }
}

/// The current tracker as the engine's tracker thread runs it: the walk drained `drained` keys at a time, each
/// batch through `TCPTracker.forEachPrefetched` (tags two groups ahead, records one group ahead). The baseline
/// has no two-stage prefetch: compare with its "batches of 8 prefetched" rows.
func pipelineBenchmarks(_ slots: Slots) {
    let label = "new, \(slots.rawValue)"
    /// Walks `count` keys from `start` in drained batches, calling `body` with each key and its hash.
    func walk(
        _ tracker: inout TCPTracker, _ filled: FilledTracker<TCPTracker>, from start: Int, count: Int,
        _ body: (inout TCPTracker, FlowKey, TakeoverCore.FlowHash) -> Void
    ) {
        let order = filled.order
        var done = 0
        while done < count {
            // `sessions` is a multiple of 1000 and of `batch`: a sample's batches never wrap.
            let base = start + done
            let size = Swift.min(drained, count - done)
            tracker.forEachPrefetched(count: size, hashes: filled.drainedHashes, key: { order[base + $0] }) {
                tracker, index, hash in body(&tracker, order[base + index], hash)
            }
            done += size
        }
    }

    Benchmark(
        "SessionTable: lookup at 1M entries, random order, two-stage pipeline drained \(drained) at a time, \(label)",
        configuration: perOperation
    ) {
        (benchmark: Benchmark, filled: FilledTracker<TCPTracker>) in
        let count = benchmark.scaledIterations.count
        let start = filled.advance(by: count)
        var found = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            walk(&tracker, filled, from: start, count: count) { tracker, key, hash in
                found &+= tracker.table.find(key, hash: hash)?.index ?? -1
            }
        }
        benchmark.stopMeasurement()
        blackHole(found)
    } setup: {
        FilledTracker<TCPTracker>(slots)
    }

    Benchmark(
        "SessionTable: update (track an ACK) at 1M entries, random order, two-stage pipeline drained \(drained) at a "
            + "time, \(label), steady state",
        configuration: perOperation
    ) {
        (benchmark: Benchmark, filled: FilledTracker<TCPTracker>) in
        let count = benchmark.scaledIterations.count
        let start = filled.advance(by: count)
        let segment = FilledTracker<TCPTracker>.segment(UInt32(truncatingIfNeeded: benchmark.currentIteration))
        var time = filled.time
        var updated = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            walk(&tracker, filled, from: start, count: count) { tracker, key, hash in
                time = time + 1000
                updated &+= tracker.track(key, segment, at: time, hash: hash) == .updated ? 1 : 0
            }
        }
        benchmark.stopMeasurement()
        filled.time = time
        precondition(updated == count, "\(updated) updated")
    } setup: {
        FilledTracker<TCPTracker>(slots)
    }
}

/// The table's operations over `Tracker` with its slots in `slots`.
func tableBenchmarks<Tracker: TrackerUnderTest & ~Copyable>(_: Tracker.Type, _ slots: Slots) {
    let label = "\(Tracker.name), \(slots.rawValue)"
    Benchmark("SessionTable: lookup at 1M entries, random order, \(label)", configuration: perOperation) {
        (benchmark: Benchmark, filled: FilledTracker<Tracker>) in
        var index = filled.advance(by: benchmark.scaledIterations.count)
        let order = filled.order
        var found = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            for _ in benchmark.scaledIterations {
                found &+= tracker.find(order[index])
                index = index + 1 == sessions ? 0 : index + 1
            }
        }
        benchmark.stopMeasurement()
        blackHole(found)
    } setup: {
        FilledTracker<Tracker>(slots)
    }

    Benchmark(
        "SessionTable: lookup at 1M entries, random order, batches of \(batch) prefetched, \(label)",
        configuration: perOperation
    ) {
        (benchmark: Benchmark, filled: FilledTracker<Tracker>) in
        let count = benchmark.scaledIterations.count
        var index = filled.advance(by: count)
        let order = filled.order
        let hints = filled.hints
        var found = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            for _ in 0..<count / batch {
                // `sessions` is a multiple of `batch`, so a batch never wraps.
                for offset in 0..<batch { hints[offset] = tracker.prefetch(order[index + offset]) }
                for offset in 0..<batch { found &+= tracker.find(order[index + offset], hint: hints[offset]) }
                index = index + batch == sessions ? 0 : index + batch
            }
        }
        benchmark.stopMeasurement()
        blackHole(found)
    } setup: {
        FilledTracker<Tracker>(slots)
    }

    Benchmark(
        "SessionTable: lookup at 1M entries, random order, each key prefetched \(batch) ahead, \(label)",
        configuration: perOperation
    ) {
        (benchmark: Benchmark, filled: FilledTracker<Tracker>) in
        let count = benchmark.scaledIterations.count
        let start = filled.advance(by: count)
        let order = filled.order
        let hints = filled.hints
        let ring = hints.count - 1
        var found = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            // A rolling window: while key i is looked up, key i + batch is already on its way.
            for offset in 0..<batch { hints[offset] = tracker.prefetch(order[start + offset]) }
            for index in start..<start + count {
                let ahead = index + batch
                hints[(ahead - start) & ring] = tracker.prefetch(order[ahead < sessions ? ahead : ahead - sessions])
                found &+= tracker.find(order[index], hint: hints[(index - start) & ring])
            }
        }
        benchmark.stopMeasurement()
        blackHole(found)
    } setup: {
        FilledTracker<Tracker>(slots)
    }

    Benchmark("SessionTable: lookup of an absent key at 1M entries, \(label)", configuration: perOperation) {
        (benchmark: Benchmark, filled: FilledTracker<Tracker>) in
        var index = filled.advance(by: benchmark.scaledIterations.count)
        let absent = filled.absent
        var misses = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            for _ in benchmark.scaledIterations {
                misses &+= tracker.find(absent[index]) < 0 ? 1 : 0
                index = index + 1 == sessions ? 0 : index + 1
            }
        }
        benchmark.stopMeasurement()
        precondition(misses == benchmark.scaledIterations.count)
    } setup: {
        FilledTracker<Tracker>(slots)
    }

    Benchmark(
        "SessionTable: update (track an ACK) at 1M entries, random order, \(label), steady state",
        configuration: perOperation
    ) {
        (benchmark: Benchmark, filled: FilledTracker<Tracker>) in
        var index = filled.advance(by: benchmark.scaledIterations.count)
        let round = UInt32(truncatingIfNeeded: benchmark.currentIteration)
        let segment = FilledTracker<Tracker>.segment(round)
        var time = filled.time
        let order = filled.order
        var updated = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            for _ in benchmark.scaledIterations {
                time = time + 1000
                updated &+= tracker.updates(order[index], segment, at: time) ? 1 : 0
                index = index + 1 == sessions ? 0 : index + 1
            }
        }
        benchmark.stopMeasurement()
        filled.time = time
        precondition(updated == benchmark.scaledIterations.count, "\(updated) updated")
    } setup: {
        FilledTracker<Tracker>(slots)
    }

    Benchmark(
        "SessionTable: update (track an ACK) at 1M entries, random order, batches of \(batch) prefetched, "
            + "\(label), steady state",
        configuration: perOperation
    ) {
        (benchmark: Benchmark, filled: FilledTracker<Tracker>) in
        let count = benchmark.scaledIterations.count
        var index = filled.advance(by: count)
        let round = UInt32(truncatingIfNeeded: benchmark.currentIteration)
        let segment = FilledTracker<Tracker>.segment(round)
        var time = filled.time
        let order = filled.order
        let hints = filled.hints
        var updated = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            for _ in 0..<count / batch {
                for offset in 0..<batch { hints[offset] = tracker.prefetch(order[index + offset]) }
                for offset in 0..<batch {
                    time = time + 1000
                    updated &+= tracker.updates(order[index + offset], segment, at: time, hint: hints[offset]) ? 1 : 0
                }
                index = index + batch == sessions ? 0 : index + batch
            }
        }
        benchmark.stopMeasurement()
        filled.time = time
        precondition(updated == count, "\(updated) updated")
    } setup: {
        FilledTracker<Tracker>(slots)
    }

    Benchmark(
        "SessionTable: update (track an ACK) at 1M entries, random order, each key prefetched \(batch) ahead, "
            + "\(label), steady state",
        configuration: perOperation
    ) {
        (benchmark: Benchmark, filled: FilledTracker<Tracker>) in
        let count = benchmark.scaledIterations.count
        let start = filled.advance(by: count)
        let order = filled.order
        let hints = filled.hints
        let ring = hints.count - 1
        let round = UInt32(truncatingIfNeeded: benchmark.currentIteration)
        let segment = FilledTracker<Tracker>.segment(round)
        var time = filled.time
        var updated = 0
        benchmark.startMeasurement()
        filled.withTracker { tracker in
            for offset in 0..<batch { hints[offset] = tracker.prefetch(order[start + offset]) }
            for index in start..<start + count {
                let ahead = index + batch
                hints[(ahead - start) & ring] = tracker.prefetch(order[ahead < sessions ? ahead : ahead - sessions])
                time = time + 1000
                updated &+= tracker.updates(order[index], segment, at: time, hint: hints[(index - start) & ring]) ? 1 : 0
            }
        }
        benchmark.stopMeasurement()
        filled.time = time
        precondition(updated == count, "\(updated) updated")
    } setup: {
        FilledTracker<Tracker>(slots)
    }
}
