// The session table at its default size (slots for 1M sessions, ≈ 1.3M slots) filled with 1,000,000 random
// 5-tuples, then looked up and updated in a random order, so nearly every access misses the caches as it
// would with a million live flows (the table is far larger than the 32 MiB L3).
//
// - lookup: `SessionTable.find` of a present key (hash, probe, compare);
// - lookup, absent key: the probe run to the first empty slot;
// - update: `TCPTracker.track` of an ACK with data for an existing session, i.e. the lookup plus the in-place
//   update of its record (sequence, acknowledgment, window, timestamps, last seen).
// One sample is 1000 operations (scaling factor kilo); the time is per operation. The order is a random
// permutation of the million keys, walked from where the previous sample stopped.
import Benchmark
import BenchFixtures
import TakeoverCore

let sessions = 1_000_000

var perOperation: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .mallocCountTotal], timeUnits: .nanoseconds, warmupIterations: 10,
        scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 3000)
}

/// A full tracker and keys in lookup order, made in setup (it takes a few seconds).
final class FilledTracker: @unchecked Sendable {
    // @unchecked: one benchmark uses it at a time, on one thread.
    var tracker = TCPTracker()
    /// The present keys, in a random order, each in a random direction.
    let order: UnsafeMutableBufferPointer<FlowKey>
    /// Keys never inserted.
    let absent: UnsafeMutableBufferPointer<FlowKey>
    var cursor = 0
    var time = MonotonicTime(nanoseconds: 1_000_000_000)

    init() {
        var generator = SplitMix64(seed: 0x7A6B_0001)
        order = .allocate(capacity: sessions)
        absent = .allocate(capacity: sessions)
        var filled = 0
        while filled < sessions {
            let key = FlowKey.random(using: &generator)
            if tracker.track(key, Self.segment(0), at: time) == .created {
                order[filled] = generator.next() & 1 == 0 ? key : key.reversed
                filled += 1
            }
        }
        precondition(tracker.count == sessions, "\(tracker.count) sessions")
        order.shuffle(using: &generator)
        for index in 0..<sessions {
            var key = FlowKey.random(using: &generator)
            key.protocolNumber = IPProtocolNumber.udp  // no TCP key can equal it
            absent[index] = key
        }
    }

    deinit {
        order.deallocate()
        absent.deallocate()
    }

    /// An ACK carrying 1000 bytes, the `round`th of its flow.
    static func segment(_ round: UInt32) -> TCPSegment {
        var options = TCPOptionsSummary()
        options.hasTimestamp = true
        options.timestampValue = 1000 &+ round
        options.timestampEcho = 500 &+ round
        return TCPSegment(
            sequence: 1_000_000 &+ round &* 1000, acknowledgment: 2_000_000 &+ round, flags: .ack, window: 502,
            payloadLength: 1000, payloadOffset: 66, options: options)
    }

    /// The next `count` positions of the walk (wrapping), as a start index.
    func advance(by count: Int) -> Int {
        let start = cursor
        cursor = (cursor + count) % sessions
        return start
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("SessionTable: lookup at 1M entries, random order", configuration: perOperation) { benchmark, filled in
        var index = filled.advance(by: benchmark.scaledIterations.count)
        var found = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            found &+= filled.tracker.table.find(filled.order[index])?.index ?? -1
            index = index + 1 == sessions ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        blackHole(found)
    } setup: {
        FilledTracker()
    }

    Benchmark("SessionTable: lookup of an absent key at 1M entries", configuration: perOperation) {
        benchmark, filled in
        var index = filled.advance(by: benchmark.scaledIterations.count)
        var misses = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            misses &+= filled.tracker.table.find(filled.absent[index]) == nil ? 1 : 0
            index = index + 1 == sessions ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        precondition(misses == benchmark.scaledIterations.count)
    } setup: {
        FilledTracker()
    }

    Benchmark("SessionTable: update (track an ACK) at 1M entries, random order, steady state", configuration: perOperation) {
        benchmark, filled in
        var index = filled.advance(by: benchmark.scaledIterations.count)
        let round = UInt32(truncatingIfNeeded: benchmark.currentIteration)
        let segment = FilledTracker.segment(round)
        var time = filled.time
        var updated = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            time = time + 1000
            updated &+= filled.tracker.track(filled.order[index], segment, at: time) == .updated ? 1 : 0
            index = index + 1 == sessions ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        filled.time = time
        precondition(updated == benchmark.scaledIterations.count, "\(updated) updated")
    } setup: {
        FilledTracker()
    }
}
