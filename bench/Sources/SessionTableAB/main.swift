// Old (BaselineSessions, the baseline commit's table) and new (TakeoverCore) session tables side by side at
// 1,000,000 sessions on the heap, each operation timed in chunks of 1000 that alternate between the two (which
// goes first alternates too), so a burst of load from the other sessions on this shared machine falls on both
// alike. Prints, per operation, the median [p25–p75] ns per operation of each table's chunks, and the median
// [p25–p75] of the per-round ratios old ÷ new. Run by `bench/ab-sessions` (release).
import BaselineSessions
import BenchFixtures
import TakeoverCore

let sessions = 1_000_000
let chunk = 1000
let batch = 8
let rounds = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 400

func segment(_ round: UInt32) -> TCPSegment { .benchACK(round: round) }

var generator = SplitMix64(seed: 0x7A6B_0001)
// Which table is allocated first (and so where in the address space it lies) is an argument, to tell a
// placement effect from a difference between the tables.
let oldFirst = CommandLine.arguments.dropFirst(2).first == "old-first"
var old = oldFirst ? BaselineTCPTracker() : BaselineTCPTracker(capacity: 1)
var new = TCPTracker()
if !oldFirst { old = BaselineTCPTracker() }
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

var cursor = 0
var oldUpdate: [Double] = [], newUpdate: [Double] = [], oldLookup: [Double] = [], newLookup: [Double] = []
var checks = 0
for round in 0..<rounds {
    let from = cursor
    cursor = (cursor + chunk) % sessions  // 1000 divides 1,000,000: a chunk never wraps
    let stamp = UInt32(round + 1)
    let order = round & 1 == 0
    for first in [order, !order] {
        if first {
            oldUpdate.append(nanoseconds { checks &+= oldUpdates(&old, walk, from, stamp) } / Double(chunk))
        } else {
            newUpdate.append(nanoseconds { checks &+= newUpdates(&new, walk, from, stamp) } / Double(chunk))
        }
    }
    // Lookups over the next chunk, so they do not find the lines the updates just loaded.
    let next = cursor
    cursor = (cursor + chunk) % sessions
    for first in [order, !order] {
        if first {
            oldLookup.append(nanoseconds { checks &+= oldLookups(old, walk, next) } / Double(chunk))
        } else {
            newLookup.append(nanoseconds { checks &+= newLookups(new, walk, next) } / Double(chunk))
        }
    }
}
precondition(checks == rounds * 4 * chunk, "every update updated and every lookup found: \(checks)")
print("SessionTableAB: \(sessions) sessions (heap), chunks of \(chunk) operations in batches of \(batch) prefetched, old and new alternating; allocated first: \(oldFirst ? "old" : "new")")
report("update (track an ACK), batches of 8 prefetched", oldUpdate, newUpdate)
report("lookup, batches of 8 prefetched", oldLookup, newLookup)
keys.deallocate()
