import Foundation
import Testing

@testable import TakeoverCore

/// Single-threaded checks of the ring against a plain FIFO model: every capacity, crossed with start offsets
/// that put the first item on every slot and that make the free-running counters overflow 2³² mid-test.
@Suite struct SPSCRingTests {
    static let capacities = [1, 2, 4, 8, 16, 32, 64]

    /// Offsets `0..<2c` start on every slot (twice); offsets just below 2³² wrap the counters through zero.
    static func startOffsets(capacity: Int) -> [UInt32] {
        let span = UInt32(2 * capacity)
        return Array(0..<span) + (1...span).map { UInt32.max - span + $0 }
    }

    @Test(arguments: capacities)
    func singleItemsFillDrainAndInterleave(capacity: Int) {
        for start in Self.startOffsets(capacity: capacity) {
            var harness = RingHarness(capacity: capacity, start: start)
            // Fill: exactly `capacity` pushes succeed, the next reports full and changes nothing.
            let filled = harness.push(times: capacity)
            #expect(filled == capacity, "capacity \(capacity) start \(start)")
            let overfilled = harness.push(times: 1)
            #expect(overfilled == 0, "push into a full ring, capacity \(capacity) start \(start)")
            #expect(harness.ring.count == capacity)
            // Drain: FIFO order, then empty.
            let drained = harness.pop(times: capacity)
            #expect(drained == capacity, "capacity \(capacity) start \(start)")
            let overdrained = harness.pop(times: 1)
            #expect(overdrained == 0, "pop from an empty ring, capacity \(capacity) start \(start)")
            // Every fill level k: push k, pop k, several times round the ring.
            for level in 1...capacity {
                for _ in 0..<3 {
                    let pushed = harness.push(times: level)
                    let popped = harness.pop(times: level)
                    #expect(pushed == level && popped == level, "level \(level) capacity \(capacity) start \(start)")
                }
            }
            // Steady state one below full: each push is matched by a pop, crossing the wrap many times.
            let prefilled = harness.push(times: capacity - 1)
            #expect(prefilled == capacity - 1)
            for _ in 0..<(3 * capacity) {
                let pushed = harness.push(times: 1)
                let popped = harness.pop(times: 1)
                #expect(pushed == 1 && popped == 1, "capacity \(capacity) start \(start)")
            }
            #expect(harness.ring.count == capacity - 1)
            if !harness.mismatches.isEmpty { Issue.record("capacity \(capacity) start \(start): \(harness.mismatches)") }
        }
    }

    @Test(arguments: capacities)
    func batchesOfEverySize(capacity: Int) {
        for start in Self.startOffsets(capacity: capacity) {
            var harness = RingHarness(capacity: capacity, start: start)
            for batch in 1...(capacity + 1) {
                for _ in 0..<2 {  // twice round the ring at this batch size
                    // Fill in batches: each reserve gets min(batch, free), until the ring is full.
                    var filled = 0
                    while true {
                        let got = harness.reserveAndSubmit(wanted: batch, submitting: batch)
                        filled += got
                        if got == 0 { break }
                    }
                    #expect(filled == capacity, "batch \(batch) capacity \(capacity) start \(start)")
                    // Drain in batches: each peek gets min(batch, count), until empty.
                    var drained = 0
                    while true {
                        let got = harness.peekAndRelease(wanted: batch, releasing: batch)
                        drained += got
                        if got == 0 { break }
                    }
                    #expect(drained == capacity, "batch \(batch) capacity \(capacity) start \(start)")
                }
            }
            if !harness.mismatches.isEmpty { Issue.record("capacity \(capacity) start \(start): \(harness.mismatches)") }
        }
    }

    /// Random mixes of partial reservations, partial submits, partial releases, pushes and pops.
    @Test(arguments: capacities)
    func randomOperationsMatchTheModel(capacity: Int) {
        for start in Self.startOffsets(capacity: capacity) {
            var harness = RingHarness(capacity: capacity, start: start)
            var random = SplitMix64(seed: UInt64(capacity) << 32 | UInt64(start))
            for _ in 0..<(16 * capacity + 32) {
                let wanted = Int.random(in: 0...(capacity + 2), using: &random)
                switch random.next() % 4 {
                case 0: _ = harness.push(times: 1)
                case 1: _ = harness.pop(times: 1)
                case 2: _ = harness.reserveAndSubmit(wanted: wanted, submitting: Int.random(in: 0...wanted, using: &random))
                default: _ = harness.peekAndRelease(wanted: wanted, releasing: Int.random(in: 0...wanted, using: &random))
                }
            }
            if !harness.mismatches.isEmpty { Issue.record("capacity \(capacity) start \(start): \(harness.mismatches)") }
        }
    }

    @Test func eachRoleCanBeClaimedOnceAndResumesWhereItStopped() {
        let ring = SPSCRing<UInt64>(capacity: 8)
        do {
            var producer = ring.claimProducer()!
            let second = ring.claimProducer() != nil
            #expect(!second, "a second producer while the first exists")
            let pushed = producer.push(1) && producer.push(2)
            #expect(pushed)
            _ = producer.reserve(3)  // an open reservation dies with its endpoint
            producer[0] = 99
        }
        var consumer = ring.claimConsumer()!
        let second = ring.claimConsumer() != nil
        #expect(!second, "a second consumer while the first exists")
        var popped = [consumer.pop()]
        do {
            var producer = ring.claimProducer()!
            let pushed = producer.push(3)
            #expect(pushed)
        }
        popped += [consumer.pop(), consumer.pop(), consumer.pop()]
        #expect(popped == [1, 2, 3, nil])
    }

    /// The padding measured: the two shared indices and the first slot must not share a cache line, nor an
    /// adjacent-line-prefetch pair, on this machine's actual line size.
    @Test func indicesSitOnSeparateCacheLines() throws {
        let text = try String(
            contentsOfFile: "/sys/devices/system/cpu/cpu0/cache/index0/coherency_line_size", encoding: .utf8)
        let lineSize = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let pairSize = 2 * lineSize
        let ring = SPSCRing<UInt64>(capacity: 64)
        let producerIndex = Int(bitPattern: ring.handle.producerIndex)
        let consumerIndex = Int(bitPattern: ring.handle.consumerIndex)
        let firstSlot = Int(bitPattern: ring.handle.slots)
        let lastSlot = Int(bitPattern: ring.handle.slots + 63)
        #expect(producerIndex / pairSize != consumerIndex / pairSize)
        #expect(consumerIndex / pairSize != firstSlot / pairSize)
        #expect(producerIndex / pairSize != firstSlot / pairSize)
        #expect(lastSlot > consumerIndex && firstSlot > producerIndex, "slots follow both indices")
    }

    @Test func rejectsCapacitiesThatAreNotPowersOfTwo() async {
        await #expect(processExitsWith: .failure) { _ = SPSCRing<UInt8>(capacity: 3) }
        await #expect(processExitsWith: .failure) { _ = SPSCRing<UInt8>(capacity: 0) }
        await #expect(processExitsWith: .failure) { _ = SPSCRing<UInt8>(capacity: 1 << 32) }
    }

    @Test func refusesToSubmitMoreThanReserved() async {
        await #expect(processExitsWith: .failure) {
            let ring = SPSCRing<UInt8>(capacity: 4)
            var producer = ring.claimProducer()!
            _ = producer.reserve(2)
            producer.submit(3)
        }
        await #expect(processExitsWith: .failure) {
            let ring = SPSCRing<UInt8>(capacity: 4)
            var consumer = ring.claimConsumer()!
            _ = consumer.peek(2)
            consumer.release(1)
        }
    }

    #if DEBUG
        @Test func debugChecksCatchWritesOutsideTheReservation() async {
            await #expect(processExitsWith: .failure) {
                let ring = SPSCRing<UInt8>(capacity: 4)
                var producer = ring.claimProducer()!
                _ = producer.reserve(2)
                producer[2] = 1
            }
        }
    #endif
}

/// A ring and its two endpoints on one thread, checked against an array model at every step. Items are
/// consecutive sequence numbers, so any loss, duplicate or reordering shows as a mismatch.
struct RingHarness: ~Copyable {
    let ring: SPSCRing<UInt64>
    var producer: SPSCRing<UInt64>.Producer
    var consumer: SPSCRing<UInt64>.Consumer
    var model: [UInt64] = []
    var nextValue: UInt64 = 0
    let log = MismatchLog()
    var mismatches: [String] { log.entries }

    init(capacity: Int, start: UInt32) {
        ring = SPSCRing(capacity: capacity, startIndex: start)
        producer = ring.claimProducer()!
        consumer = ring.claimConsumer()!
    }

    var free: Int { ring.capacity - model.count }

    func check(_ condition: Bool, _ what: @autoclosure () -> String) {
        if !condition { log.record(what()) }
    }

    /// Pushes the next values one at a time, `times` tries; returns how many the ring took. Full must mean
    /// exactly that the model is full.
    mutating func push(times: Int) -> Int {
        var accepted = 0
        for _ in 0..<times where producer.push(nextValue) {
            model.append(nextValue)
            nextValue += 1
            accepted += 1
        }
        check(accepted == min(times, accepted + free), "\(accepted) of \(times) pushes taken, \(free) free after")
        check(ring.count == model.count, "count \(ring.count) after push, model \(model.count)")
        return accepted
    }

    /// Pops one value at a time, `times` tries; returns how many there were. Each must be the model's oldest.
    mutating func pop(times: Int) -> Int {
        var popped = 0
        for _ in 0..<times {
            let item = consumer.pop()
            check(item == model.first, "pop \(String(describing: item)), model \(String(describing: model.first))")
            guard item != nil, !model.isEmpty else { break }
            model.removeFirst()
            popped += 1
        }
        check(ring.count == model.count, "count \(ring.count) after pop, model \(model.count)")
        return popped
    }

    /// Reserves `wanted`, writes every reserved slot, submits `submitting` of them (clamped to the
    /// reservation); returns how many were submitted.
    mutating func reserveAndSubmit(wanted: Int, submitting: Int) -> Int {
        let got = producer.reserve(wanted)
        check(got == min(wanted, free), "reserve(\(wanted)) got \(got) with \(free) free")
        for offset in 0..<got { producer[offset] = nextValue + UInt64(offset) }
        let submitted = min(submitting, got)
        producer.submit(submitted)
        model.append(contentsOf: (0..<UInt64(submitted)).map { nextValue + $0 })
        nextValue += UInt64(submitted)
        check(ring.count == model.count, "count \(ring.count) after submit, model \(model.count)")
        return submitted
    }

    /// Peeks `wanted`, checks every peeked item against the model, releases `releasing` of them; returns how
    /// many were released.
    mutating func peekAndRelease(wanted: Int, releasing: Int) -> Int {
        let got = consumer.peek(wanted)
        check(got == min(wanted, model.count), "peek(\(wanted)) got \(got) with \(model.count) queued")
        for offset in 0..<min(got, model.count) {
            check(consumer[offset] == model[offset], "peek[\(offset)] = \(consumer[offset]), model \(model[offset])")
        }
        let released = min(releasing, got, model.count)
        consumer.release(released)
        model.removeFirst(released)
        check(ring.count == model.count, "count \(ring.count) after release, model \(model.count)")
        return released
    }
}

/// The first few mismatches a harness saw (a reference, so checking never needs exclusive access).
final class MismatchLog {
    private(set) var entries: [String] = []
    func record(_ entry: String) { if entries.count < 5 { entries.append(entry) } }
}

