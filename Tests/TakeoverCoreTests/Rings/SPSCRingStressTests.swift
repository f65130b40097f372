import Foundation
import Synchronization
import Testing

@testable import TakeoverCore

/// Two real threads move sequence-numbered items through one ring with random batch sizes; the consumer
/// checks every item is exactly the next number, so loss, duplication and reordering all show. Both loops
/// stop at a deadline, so a broken ring fails the test instead of hanging it.
@Suite struct SPSCRingStressTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        var capacity: Int
        var items: Int
        /// Counters start here; near 2³² they overflow during the run.
        var start: UInt32
        var maxBatch: Int
        var testDescription: String { "\(items) items, capacity \(capacity), start \(start), batches ≤ \(maxBatch)" }
    }

    static let scenarios = [
        Scenario(capacity: 1024, items: 10_000_000, start: 0xFFFF_0000, maxBatch: 64),
        // A tiny ring keeps both sides at its full/empty edges, where the cached-index reloads happen.
        Scenario(capacity: 4, items: 1_000_000, start: 0xFFFF_FF00, maxBatch: 5),
    ]

    @Test(arguments: scenarios)
    func twoThreadsMoveEveryItemInOrder(scenario: Scenario) {
        let ring = SPSCRing<UInt64>(capacity: scenario.capacity, startIndex: scenario.start)
        let deadline = ContinuousClock.now + .seconds(120)
        let outcome = StressOutcome()

        let producerThread = runOnThread {
            var producer = ring.claimProducer()!
            var random = SplitMix64(seed: 1)
            var sent = 0
            var idle = IdleSpin()
            while sent < scenario.items {
                let wanted = min(Int.random(in: 1...scenario.maxBatch, using: &random), scenario.items - sent)
                let got: Int
                if wanted == 1 {
                    got = producer.push(UInt64(sent)) ? 1 : 0
                } else {
                    got = producer.reserve(wanted)
                    for offset in 0..<got { producer[offset] = UInt64(sent + offset) }
                    producer.submit(got)
                }
                sent += got
                if got == 0, !idle.wait(until: deadline) { break }
            }
            outcome.sent.store(sent, ordering: .relaxed)
        }

        let consumerThread = runOnThread {
            var consumer = ring.claimConsumer()!
            var random = SplitMix64(seed: 2)
            var received = 0
            var mismatches = 0
            var idle = IdleSpin()
            while received < scenario.items {
                let wanted = Int.random(in: 1...scenario.maxBatch, using: &random)
                var got = 0
                if wanted == 1 {
                    if let item = consumer.pop() {
                        got = 1
                        if item != UInt64(received) { mismatches += 1 }
                    }
                } else {
                    got = consumer.peek(wanted)
                    for offset in 0..<got where consumer[offset] != UInt64(received + offset) { mismatches += 1 }
                    consumer.release(got)
                }
                received += got
                if got == 0, !idle.wait(until: deadline) { break }
            }
            // Nothing may follow the last item: a duplicate would sit here.
            outcome.extra.store(consumer.peek(1), ordering: .relaxed)
            outcome.received.store(received, ordering: .relaxed)
            outcome.mismatches.store(mismatches, ordering: .relaxed)
        }

        producerThread.join()
        consumerThread.join()
        #expect(outcome.sent.load(ordering: .relaxed) == scenario.items, "producer finished before the deadline")
        #expect(outcome.received.load(ordering: .relaxed) == scenario.items, "consumer got every item")
        #expect(outcome.mismatches.load(ordering: .relaxed) == 0, "items out of sequence")
        #expect(outcome.extra.load(ordering: .relaxed) == 0, "items beyond the last one")
        #expect(ring.count == 0)
    }
}

final class StressOutcome: Sendable {
    let sent = Atomic(0)
    let received = Atomic(0)
    let mismatches = Atomic(0)
    let extra = Atomic(0)
}

/// Waiting for the other side: spin briefly, then yield the core — this machine has two, shared, and a
/// spinning thread can starve the very thread it waits for. Returns false once the deadline has passed.
struct IdleSpin {
    var rounds = 0
    mutating func wait(until deadline: ContinuousClock.Instant) -> Bool {
        rounds &+= 1
        guard rounds % 64 == 0 else { return true }
        sched_yield()
        return rounds % 4096 != 0 || ContinuousClock.now < deadline
    }
}

/// A started thread that can be joined.
struct JoinableThread: Sendable {
    let finished: DispatchSemaphore
    func join() { finished.wait() }
}

func runOnThread(_ body: @escaping @Sendable () -> Void) -> JoinableThread {
    let finished = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        finished.signal()
    }
    thread.start()
    return JoinableThread(finished: finished)
}
