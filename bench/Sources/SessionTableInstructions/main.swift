// Instruction counts of the session table's operations, for callgrind (noise-free, unlike the timings of a
// shared machine): `bench/instructions` runs it under `valgrind --tool=callgrind` and prints the inclusive
// instruction count of each `measure…` function divided by its operations: `measureOld…` is the frozen
// baseline (BaselineSessions, generated from git by bench/baseline-sessions: since a845704 the tag array, hash
// once, slot hint and common-ACK update, without the two-stage prefetch), `measure…` the current table.
//
// Same load as the SessionTable suite (1,000,000 sessions in 1,310,720 slots: 0.763), scaled down 16× so it
// fills in reasonable time under valgrind: 62,500 sessions in 81,920 slots. Instruction counts do not depend
// on the table's size, only on its load (probe lengths).
import BaselineSessions
import BenchFixtures
import TakeoverCore

let capacity = 1 << 16
let sessions = 62_500
let operations = 100_000
let batch = 8

func segment(_ round: UInt32) -> TCPSegment { .benchACK(round: round) }

// The same keys in both trackers: the current one (`TCPTracker`) and the frozen baseline (BaselineSessions).
var generator = SplitMix64(seed: 0x7A6B_0001)
var tracker = TCPTracker(capacity: capacity)
var old = BaselineTCPTracker(capacity: capacity)
var keys: [FlowKey] = []
keys.reserveCapacity(sessions)
var time = MonotonicTime(nanoseconds: 1_000_000_000)

while keys.count < sessions {
    let key = FlowKey.random(using: &generator)
    if tracker.track(key, segment(0), at: time) == .created {
        precondition(old.track(key, segment(0), at: time) == .created)
        keys.append(generator.next() & 1 == 0 ? key : key.reversed)
    }
}
keys.shuffle(using: &generator)
precondition(tracker.table.slotCount == 81_920 && tracker.count == sessions && old.count == sessions)

// MARK: The current table: prefetch returns the hash, the lookup takes it.

@inline(never) func measureLookup(_ tracker: borrowing TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>) -> Int {
    var found = 0
    for index in 0..<operations { found &+= tracker.table.find(keys[index % sessions])?.index ?? -1 }
    return found
}

@inline(never) func measureLookupBatched(_ tracker: borrowing TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>) -> Int {
    var found = 0
    var hashes = InlineArray<8, TakeoverCore.FlowHash>(repeating: tracker.table.hash(keys[0]))
    for start in stride(from: 0, to: operations, by: batch) {
        for offset in 0..<batch { hashes[offset] = tracker.table.prefetch(keys[(start + offset) % sessions]) }
        for offset in 0..<batch {
            found &+= tracker.table.find(keys[(start + offset) % sessions], hash: hashes[offset])?.index ?? -1
        }
    }
    return found
}

@inline(never) func measureUpdate(_ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>) -> Int {
    var time = MonotonicTime(nanoseconds: 2_000_000_000)
    var updated = 0
    let ack = segment(1)
    for index in 0..<operations {
        time = time + 1000
        updated &+= tracker.track(keys[index % sessions], ack, at: time) == .updated ? 1 : 0
    }
    return updated
}

@inline(never) func measureUpdateBatched(_ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>) -> Int {
    var time = MonotonicTime(nanoseconds: 3_000_000_000)
    var updated = 0
    let ack = segment(2)
    var hashes = InlineArray<8, TakeoverCore.FlowHash>(repeating: tracker.hash(keys[0]))
    for start in stride(from: 0, to: operations, by: batch) {
        for offset in 0..<batch { hashes[offset] = tracker.prefetch(keys[(start + offset) % sessions]) }
        for offset in 0..<batch {
            time = time + 1000
            let key = keys[(start + offset) % sessions]
            updated &+= tracker.track(key, ack, at: time, hash: hashes[offset]) == .updated ? 1 : 0
        }
    }
    return updated
}

/// As the engine's tracker thread: drained 64 at a time, each batch through `forEachPrefetched`.
let drained = 64
nonisolated(unsafe) let drainedHashes = UnsafeMutableBufferPointer<TakeoverCore.FlowHash>.allocate(capacity: drained)

@inline(never) func measureLookupPipelined(_ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>) -> Int {
    var found = 0
    for start in stride(from: 0, to: operations, by: drained) {
        let count = Swift.min(drained, operations - start)
        tracker.forEachPrefetched(count: count, hashes: drainedHashes, key: { keys[(start + $0) % sessions] }) {
            tracker, index, hash in found &+= tracker.table.find(keys[(start + index) % sessions], hash: hash)?.index ?? -1
        }
    }
    return found
}

@inline(never) func measureUpdatePipelined(_ tracker: inout TCPTracker, _ keys: UnsafeBufferPointer<FlowKey>) -> Int {
    var time = MonotonicTime(nanoseconds: 4_000_000_000)
    var updated = 0
    let ack = segment(3)
    for start in stride(from: 0, to: operations, by: drained) {
        let count = Swift.min(drained, operations - start)
        tracker.forEachPrefetched(count: count, hashes: drainedHashes, key: { keys[(start + $0) % sessions] }) {
            tracker, index, hash in
            time = time + 1000
            updated &+= tracker.track(keys[(start + index) % sessions], ack, at: time, hash: hash) == .updated ? 1 : 0
        }
    }
    return updated
}

// MARK: The baseline: the same calls over the baseline commit's table (its own FlowHash).

@inline(never) func measureOldLookup(_ tracker: borrowing BaselineTCPTracker, _ keys: UnsafeBufferPointer<FlowKey>) -> Int {
    var found = 0
    for index in 0..<operations { found &+= tracker.table.find(keys[index % sessions])?.index ?? -1 }
    return found
}

@inline(never) func measureOldLookupBatched(
    _ tracker: borrowing BaselineTCPTracker, _ keys: UnsafeBufferPointer<FlowKey>
) -> Int {
    var found = 0
    var hashes = InlineArray<8, BaselineSessions.FlowHash>(repeating: tracker.table.hash(keys[0]))
    for start in stride(from: 0, to: operations, by: batch) {
        for offset in 0..<batch { hashes[offset] = tracker.table.prefetch(keys[(start + offset) % sessions]) }
        for offset in 0..<batch {
            found &+= tracker.table.find(keys[(start + offset) % sessions], hash: hashes[offset])?.index ?? -1
        }
    }
    return found
}

@inline(never) func measureOldUpdate(_ tracker: inout BaselineTCPTracker, _ keys: UnsafeBufferPointer<FlowKey>) -> Int {
    // A body that differs from `measureUpdate`'s, or the optimizer merges the two into one function (its
    // name ends in "Tm") and callgrind counts them together.
    precondition(tracker.count == sessions)
    var time = MonotonicTime(nanoseconds: 2_000_000_000)
    var updated = 0
    let ack = segment(1)
    for index in 0..<operations {
        time = time + 1000
        updated &+= tracker.track(keys[index % sessions], ack, at: time) == .updated ? 1 : 0
    }
    return updated
}

@inline(never) func measureOldUpdateBatched(
    _ tracker: inout BaselineTCPTracker, _ keys: UnsafeBufferPointer<FlowKey>
) -> Int {
    var time = MonotonicTime(nanoseconds: 3_000_000_000)
    var updated = 0
    let ack = segment(2)
    var hashes = InlineArray<8, BaselineSessions.FlowHash>(repeating: tracker.hash(keys[0]))
    for start in stride(from: 0, to: operations, by: batch) {
        for offset in 0..<batch { hashes[offset] = tracker.prefetch(keys[(start + offset) % sessions]) }
        for offset in 0..<batch {
            time = time + 1000
            let key = keys[(start + offset) % sessions]
            updated &+= tracker.track(key, ack, at: time, hash: hashes[offset]) == .updated ? 1 : 0
        }
    }
    return updated
}

// Arguments, not globals: a global's every access is a dynamic exclusivity check (~90 instructions).
let results = keys.withUnsafeBufferPointer { keys in
    [
        measureLookup(tracker, keys), measureLookupBatched(tracker, keys), measureUpdate(&tracker, keys),
        measureUpdateBatched(&tracker, keys), measureLookupPipelined(&tracker, keys),
        measureUpdatePipelined(&tracker, keys), measureOldLookup(old, keys), measureOldLookupBatched(old, keys),
        measureOldUpdate(&old, keys), measureOldUpdateBatched(&old, keys),
    ]
}
// Both tables found every key and updated every session.
precondition(results[0] == results[1] && results[0] == results[4] && results[6] == results[7], "\(results)")
precondition([2, 3, 5, 8, 9].allSatisfy { results[$0] == operations }, "\(results)")
print(results, "operations each:", operations)
