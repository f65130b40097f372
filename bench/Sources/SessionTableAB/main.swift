// Old (BaselineSessions, the baseline commit's table) and new (TakeoverCore) session tables side by side, each
// operation timed in chunks of 1000 that alternate between the two (which goes first alternates too), so a burst
// of load from the other sessions on this shared machine falls on both alike. Prints, per operation, the median
// [p25–p75] ns per operation of each table's chunks, and the median [p25–p75] of the per-round ratios old ÷ new.
// Run by `bench/ab-sessions` (release):
//
//   SessionTableAB [rounds [old-first|new-first [heap|huge [sessions]]]]
//
// rounds: default 400. Which table is allocated first (and so where in the address space it lies), to tell a
// placement effect from a difference between the tables. heap (default) or huge: the tables' memory, malloc or
// `HugePageSessionMemory` (2 MiB pages, as the engine's tracker has). sessions: default 1,000,000 (a multiple of
// 1000); a few thousand make a table that stays in the L2 — the operations' cost without their cache misses.
import BaselineSessions
import BenchFixtures
import TakeoverCore
import TakeoverLinux

let arguments = Array(CommandLine.arguments.dropFirst())
let rounds = arguments.count > 0 ? Int(arguments[0]) ?? 400 : 400
let oldFirst = arguments.count > 1 && arguments[1] == "old-first"
let hugePages = arguments.count > 2 && arguments[2] == "huge"
let sessions = arguments.count > 3 ? Int(arguments[3]) ?? 1_000_000 : 1_000_000
let chunk = 1000
let batch = 8
precondition(sessions >= 2 * chunk && sessions % chunk == 0, "sessions: a multiple of \(chunk), at least \(2 * chunk)")
// The default capacity for a million, else the smallest that keeps the million's load (0.763 of the slots).
let capacity = sessions == 1_000_000 ? SessionTable.defaultCapacity : sessions * SessionTable.defaultCapacity / 1_000_000
let memory: any SessionMemory = hugePages ? HugePageSessionMemory() : HeapSessionMemory()

func segment(_ round: UInt32) -> TCPSegment { .benchACK(round: round) }

var generator = SplitMix64(seed: 0x7A6B_0001)
var old = oldFirst ? BaselineTCPTracker(capacity: capacity, memory: memory) : BaselineTCPTracker(capacity: 1)
var new = TCPTracker(capacity: capacity, memory: memory)
if !oldFirst { old = BaselineTCPTracker(capacity: capacity, memory: memory) }
let keys = UnsafeMutableBufferPointer<FlowKey>.allocate(capacity: sessions)
var filled = 0
let start = MonotonicTime(nanoseconds: 1_000_000_000)
while filled < sessions {
    let key = FlowKey.random(using: &generator)
    if new.track(key, segment(0), at: start) == .created {
        precondition(old.track(key, segment(0), at: start) == .created)
        keys[filled] = generator.next() & 1 == 0 ? key : key.reversed
        filled += 1
    }
}
/// MiB of a table's block (slots and the tags after them) on huge pages, from /proc/self/smaps.
func hugePageMegabytes(_ slots: UnsafeRawBufferPointer, slotCount: Int) -> Int {
    (HugePageSessionMemory.hugePageBytes(in: slots.baseAddress!, byteCount: slots.count + slotCount + 7) ?? 0) >> 20
}
let oldHuge = old.table.withUnsafeSlotMemory { hugePageMegabytes($0, slotCount: old.table.slotCount) }
let newHuge = new.table.withUnsafeSlotMemory { hugePageMegabytes($0, slotCount: new.table.slotCount) }
var shuffled = keys  // the same memory: shuffled in place
shuffled.shuffle(using: &generator)
let walk = UnsafeBufferPointer(keys)

func nanoseconds(_ body: () -> Void) -> Double {
    let begin = ContinuousClock.now
    body()
    let elapsed = ContinuousClock.now - begin
    return Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
}

// Each table walks the same keys in the same order from its own cursor.
@inline(never) func newUpdates(_ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>, _ from: Int, _ round: UInt32) -> Int {
    var hashes = InlineArray<8, TakeoverCore.FlowHash>(repeating: tracker.hash(keys[0]))
    var updated = 0
    let ack = segment(round)
    var time = MonotonicTime(nanoseconds: 2_000_000_000 &+ UInt64(round) &* 1_000_000)
    for base in stride(from: from, to: from + chunk, by: batch) {
        for offset in 0..<batch { hashes[offset] = tracker.prefetch(keys[base + offset]) }
        for offset in 0..<batch {
            time = time + 1000
            updated &+= tracker.track(keys[base + offset], ack, at: time, hash: hashes[offset]) == .updated ? 1 : 0
        }
    }
    return updated
}

@inline(never) func oldUpdates(_ tracker: inout BaselineTCPTracker, _ keys: UnsafeBufferPointer<FlowKey>, _ from: Int, _ round: UInt32) -> Int {
    var hashes = InlineArray<8, BaselineSessions.FlowHash>(repeating: tracker.hash(keys[0]))
    var updated = 0
    let ack = segment(round)
    var time = MonotonicTime(nanoseconds: 2_000_000_000 &+ UInt64(round) &* 1_000_000)
    for base in stride(from: from, to: from + chunk, by: batch) {
        for offset in 0..<batch { hashes[offset] = tracker.prefetch(keys[base + offset]) }
        for offset in 0..<batch {
            time = time + 1000
            updated &+= tracker.track(keys[base + offset], ack, at: time, hash: hashes[offset]) == .updated ? 1 : 0
        }
    }
    return updated
}

@inline(never) func newLookups(_ tracker: borrowing TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>, _ from: Int) -> Int {
    var hashes = InlineArray<8, TakeoverCore.FlowHash>(repeating: tracker.hash(keys[0]))
    var found = 0
    for base in stride(from: from, to: from + chunk, by: batch) {
        for offset in 0..<batch { hashes[offset] = tracker.prefetch(keys[base + offset]) }
        for offset in 0..<batch { found &+= tracker.table.find(keys[base + offset], hash: hashes[offset]) != nil ? 1 : 0 }
    }
    return found
}

@inline(never) func oldLookups(_ tracker: borrowing BaselineTCPTracker, _ keys: UnsafeBufferPointer<FlowKey>, _ from: Int) -> Int {
    var hashes = InlineArray<8, BaselineSessions.FlowHash>(repeating: tracker.hash(keys[0]))
    var found = 0
    for base in stride(from: from, to: from + chunk, by: batch) {
        for offset in 0..<batch { hashes[offset] = tracker.prefetch(keys[base + offset]) }
        for offset in 0..<batch { found &+= tracker.table.find(keys[base + offset], hash: hashes[offset]) != nil ? 1 : 0 }
    }
    return found
}

/// The control for the two-stage pipeline (`TCPTracker.forEachPrefetched`): one stage, one batch ahead — batch
/// k+1's `prefetch(_ key:)` (tags read, record requested) before batch k is operated on. What the pipeline gains
/// over this is the tag stage's.
@inline(__always) func oneBatchAhead(
    _ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>, _ from: Int,
    _ operate: (inout TCPTracker, FlowKey, TakeoverCore.FlowHash) -> Int
) -> Int {
    var hashes = InlineArray<16, TakeoverCore.FlowHash>(repeating: tracker.hash(keys[from]))
    let batches = chunk / batch
    for offset in 0..<batch { hashes[offset] = tracker.prefetch(keys[from + offset]) }
    var done = 0
    for batchIndex in 0..<batches {
        if batchIndex + 1 < batches {
            let base = from + (batchIndex + 1) * batch, at = ((batchIndex + 1) & 1) * batch
            for offset in 0..<batch { hashes[at + offset] = tracker.prefetch(keys[base + offset]) }
        }
        let base = from + batchIndex * batch, at = (batchIndex & 1) * batch
        for offset in 0..<batch { done &+= operate(&tracker, keys[base + offset], hashes[at + offset]) }
    }
    return done
}

@inline(never) func newUpdatesOneBatchAhead(_ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>, _ from: Int, _ round: UInt32) -> Int {
    let ack = segment(round)
    var time = MonotonicTime(nanoseconds: 2_000_000_000 &+ UInt64(round) &* 1_000_000)
    return oneBatchAhead(&tracker, keys, from) { tracker, key, hash in
        time = time + 1000
        return tracker.track(key, ack, at: time, hash: hash) == .updated ? 1 : 0
    }
}

/// `forEachPrefetched`'s scratch, allocated once.
nonisolated(unsafe) let pipelineHashes = UnsafeMutableBufferPointer<TakeoverCore.FlowHash>.allocate(capacity: chunk)

/// A chunk as the tracker thread does it: drained from the capture ring in batches of `drained` (the engine's
/// default is 64), each through `TCPTracker.forEachPrefetched`, the two-stage pipeline (tags two groups of 8
/// ahead, records one ahead; primed again at every batch).
@inline(never) func newUpdatesPipelined(
    _ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>, _ from: Int, _ round: UInt32, drained: Int
) -> Int {
    let ack = segment(round)
    var time = MonotonicTime(nanoseconds: 2_000_000_000 &+ UInt64(round) &* 1_000_000)
    var updated = 0
    for start in stride(from: from, to: from + chunk, by: drained) {
        let count = Swift.min(drained, from + chunk - start)
        tracker.forEachPrefetched(count: count, hashes: pipelineHashes, key: { keys[start + $0] }) { tracker, index, hash in
            time = time + 1000
            updated &+= tracker.track(keys[start + index], ack, at: time, hash: hash) == .updated ? 1 : 0
        }
    }
    return updated
}

@inline(never) func newLookupsPipelined(_ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>, _ from: Int, drained: Int) -> Int {
    var found = 0
    for start in stride(from: from, to: from + chunk, by: drained) {
        let count = Swift.min(drained, from + chunk - start)
        tracker.forEachPrefetched(count: count, hashes: pipelineHashes, key: { keys[start + $0] }) { tracker, index, hash in
            found &+= tracker.table.find(keys[start + index], hash: hash) != nil ? 1 : 0
        }
    }
    return found
}

func quartiles(_ values: [Double]) -> (Double, Double, Double) {
    let sorted = values.sorted()
    return (sorted[sorted.count / 4], sorted[sorted.count / 2], sorted[sorted.count * 3 / 4])
}

func report(_ name: String, _ olds: [Double], _ news: [Double]) {
    let (o25, o50, o75) = quartiles(olds)
    let (n25, n50, n75) = quartiles(news)
    let (r25, r50, r75) = quartiles(zip(olds, news).map { $0 / $1 })
    func f(_ x: Double) -> String { String(Int(x.rounded())) }
    func g(_ x: Double) -> String { String(Double(Int((x * 100).rounded())) / 100) }
    print("\(name): old \(f(o50)) [\(f(o25))–\(f(o75))] | new \(f(n50)) [\(f(n25))–\(f(n75))] ns/op | old ÷ new \(g(r50)) [\(g(r25))–\(g(r75))] over \(olds.count) rounds")
}

/// One row of the report: per round, the old table's chunk and the new table's chunk (the same keys), timed in
/// alternating order.
struct Pair {
    let name: String
    var old: [Double] = [], new: [Double] = []
    init(_ name: String) { self.name = name }

    mutating func time(round: Int, _ oldBody: () -> Void, _ newBody: () -> Void) {
        for oldFirst in round & 1 == 0 ? [true, false] : [false, true] {
            if oldFirst { old.append(nanoseconds(oldBody) / Double(chunk)) } else { new.append(nanoseconds(newBody) / Double(chunk)) }
        }
    }
}

var cursor = 0
/// The next chunk of keys: each row of a round walks its own, so none finds the lines another just loaded.
@MainActor func nextChunk() -> Int {
    defer { cursor = (cursor + chunk) % sessions }  // chunk divides sessions: a chunk never wraps
    return cursor
}
var updates = Pair("update (track an ACK), batches of 8 prefetched")
var updatesPipelined = Pair("update, old batches of 8 prefetched | new two-stage pipeline, drained 64 at a time")
var updatesPipelinedLong = Pair("update, old batches of 8 prefetched | new two-stage pipeline, drained 1000 at a time")
var updatesAhead = Pair("update, old batches of 8 prefetched | new one batch ahead, one stage")
var lookups = Pair("lookup, batches of 8 prefetched")
var lookupsPipelined = Pair("lookup, old batches of 8 prefetched | new two-stage pipeline, drained 64 at a time")
var checks = 0
for round in 0..<rounds {
    let stamp = UInt32(round + 1)
    var from = nextChunk()
    updates.time(round: round, { checks &+= oldUpdates(&old, walk, from, stamp) }, { checks &+= newUpdates(&new, walk, from, stamp) })
    from = nextChunk()
    updatesPipelined.time(
        round: round, { checks &+= oldUpdates(&old, walk, from, stamp) }, { checks &+= newUpdatesPipelined(&new, walk, from, stamp, drained: 64) })
    from = nextChunk()
    updatesPipelinedLong.time(
        round: round, { checks &+= oldUpdates(&old, walk, from, stamp) },
        { checks &+= newUpdatesPipelined(&new, walk, from, stamp, drained: chunk) })
    from = nextChunk()
    updatesAhead.time(
        round: round, { checks &+= oldUpdates(&old, walk, from, stamp) }, { checks &+= newUpdatesOneBatchAhead(&new, walk, from, stamp) })
    from = nextChunk()
    lookups.time(round: round, { checks &+= oldLookups(old, walk, from) }, { checks &+= newLookups(new, walk, from) })
    from = nextChunk()
    lookupsPipelined.time(round: round, { checks &+= oldLookups(old, walk, from) }, { checks &+= newLookupsPipelined(&new, walk, from, drained: 64) })
}
precondition(checks == rounds * 12 * chunk, "every update updated and every lookup found: \(checks)")
print("SessionTableAB: \(sessions) sessions in \(new.table.slotCount) slots, \(hugePages ? "HugePageSessionMemory" : "heap") (MiB on huge pages: old \(oldHuge), new \(newHuge)), chunks of \(chunk) operations, old and new alternating; allocated first: \(oldFirst ? "old" : "new")")
for pair in [updates, updatesPipelined, updatesPipelinedLong, updatesAhead, lookups, lookupsPipelined] { report(pair.name, pair.old, pair.new) }
keys.deallocate()
