// The SPSC ring, Swift against its C reference, side by side in one run.
//
// Throughput: a producer thread pinned to CPU 0 and a consumer thread pinned to CPU 1 move 4M sequence numbers
// through a 4096-slot ring in batches; the consumer checks that each is the next number. The Swift and the C
// workloads are the same loops (compare `swiftProduce`/`swiftConsume` with reference_ring.c), started,
// pinned and joined the same way. Each benchmark iteration runs BOTH, alternating which goes first, so the
// noise of this shared machine falls on both alike; the benchmark reports each side's items/s and the ratio
// of their times per iteration, Swift/C × 100 (100 = as fast as C; 150 = 1.5× slower).
//
// Steady state: one thread reserves/submits and peeks/releases batches of 64 on a ring made before the
// measurement; its malloc count must be 0 (bench/run checks it against Thresholds/).
import Benchmark
import CBenchSupport
import CReferenceRing
import TakeoverCore

#if canImport(Glibc)
    import Glibc
#endif

let ringCapacity = 4096
let itemsPerTransfer = 4_000_000

enum RingMetric {
    static func throughput(_ side: String) -> BenchmarkMetric {
        .custom("\(side) (M items/s)", polarity: .prefersLarger, useScalingFactor: false)
    }
    static func timeRatio(_ first: String, _ second: String) -> BenchmarkMetric {
        .custom("\(first)/\(second) time (%)", polarity: .prefersSmaller, useScalingFactor: false)
    }
}

let benchmarks: @Sendable () -> Void = {
    let paired = Benchmark.Configuration(
        metrics: [
            RingMetric.throughput("Swift"), RingMetric.throughput("C"), RingMetric.timeRatio("Swift", "C"),
        ],
        warmupIterations: 2, maxDuration: .seconds(3), maxIterations: 60)

    for batch in [1, 16, 64, 256] {
        Benchmark("SPSC ring batch \(batch): Swift vs C, two pinned threads", configuration: paired) { benchmark, rings in
            measurePair(
                benchmark, ("Swift", swiftTransfer(rings.swift, batch: batch)), ("C", cTransfer(rings.c, batch: batch)))
        } setup: {
            (swift: SPSCRing<UInt64>(capacity: ringCapacity), c: CRing(capacity: ringCapacity, indexSpacing: 128))
        }
    }

    // The padding measured: the same C ring with both indices on one cache line (4 bytes apart).
    Benchmark(
        "SPSC ring batch 64: C padded vs C unpadded, two pinned threads",
        configuration: .init(
            metrics: [
                RingMetric.throughput("padded"), RingMetric.throughput("unpadded"),
                RingMetric.timeRatio("padded", "unpadded"),
            ],
            warmupIterations: 2, maxDuration: .seconds(3), maxIterations: 60)
    ) { benchmark, rings in
        measurePair(
            benchmark, ("padded", cTransfer(rings.padded, batch: 64)), ("unpadded", cTransfer(rings.unpadded, batch: 64)))
    } setup: {
        (padded: CRing(capacity: ringCapacity, indexSpacing: 128), unpadded: CRing(capacity: ringCapacity, indexSpacing: 4))
    }

    Benchmark(
        "SPSC ring Swift steady state, one thread, batch 64",
        configuration: .init(
            metrics: [.mallocCountTotal, .throughput, .wallClock], timeUnits: .nanoseconds, scalingFactor: .kilo,
            maxDuration: .seconds(1), maxIterations: 1000)
    ) { benchmark, ring in
        var producer = ring.claimProducer()!
        var consumer = ring.claimConsumer()!
        var sequence: UInt64 = 0
        var checksum: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let reserved = producer.reserve(64)
            for offset in 0..<reserved { producer[offset] = sequence &+ UInt64(offset) }
            producer.submit(reserved)
            sequence &+= UInt64(reserved)
            let peeked = consumer.peek(64)
            for offset in 0..<peeked { checksum &+= consumer[offset] }
            consumer.release(peeked)
        }
        benchmark.stopMeasurement()
        blackHole(checksum)
    } setup: {
        SPSCRing<UInt64>(capacity: ringCapacity)
    }
}

// MARK: - Running a pair

/// One way to move `itemsPerTransfer` items: a producer body and a consumer body, each run on its own thread.
/// Each returns (items sent or received, items out of sequence).
struct Transfer: Sendable {
    let produce: @Sendable () -> Int
    let consume: @Sendable () -> Int
}

/// Runs both transfers once each, in alternating order, and reports their throughputs and time ratio.
func measurePair(_ benchmark: Benchmark, _ first: (name: String, transfer: Transfer), _ second: (name: String, transfer: Transfer)) {
    precondition(bench_allowed_cpu_count() >= 2, "the ring benchmarks need two CPUs")
    let firstGoesFirst = benchmark.currentIteration % 2 == 0
    let a = firstGoesFirst ? timed(first.transfer) : timed(second.transfer)
    let b = firstGoesFirst ? timed(second.transfer) : timed(first.transfer)
    let (firstNanoseconds, secondNanoseconds) = firstGoesFirst ? (a, b) : (b, a)
    benchmark.measurement(RingMetric.throughput(first.name), itemsPerTransfer * 1000 / firstNanoseconds)
    benchmark.measurement(RingMetric.throughput(second.name), itemsPerTransfer * 1000 / secondNanoseconds)
    benchmark.measurement(RingMetric.timeRatio(first.name, second.name), firstNanoseconds * 100 / secondNanoseconds)
}

/// Wall-clock nanoseconds from starting both threads to joining both; traps if an item was lost or misordered.
func timed(_ transfer: Transfer) -> Int {
    let start = ContinuousClock.now
    let consumer = startThread(pinnedTo: 1, transfer.consume)
    let producer = startThread(pinnedTo: 0, transfer.produce)
    let sent = producer.join()
    let mismatches = consumer.join()
    let elapsed = ContinuousClock.now - start
    precondition(sent == itemsPerTransfer && mismatches == 0, "ring: \(sent) sent, \(mismatches) out of sequence")
    return max(1, Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000))
}

func swiftTransfer(_ ring: SPSCRing<UInt64>, batch: Int) -> Transfer {
    Transfer(
        produce: { swiftProduce(ring, items: itemsPerTransfer, batch: batch) },
        consume: { swiftConsume(ring, items: itemsPerTransfer, batch: batch) })
}

func cTransfer(_ ring: CRing, batch: Int) -> Transfer {
    Transfer(
        produce: { Int(reference_ring_produce(ring.pointer, UInt64(itemsPerTransfer), UInt32(batch))) },
        consume: { Int(reference_ring_consume(ring.pointer, UInt64(itemsPerTransfer), UInt32(batch))) })
}

// MARK: - The Swift workload: the same loops as reference_ring_produce / reference_ring_consume.

@inline(never)
func swiftProduce(_ ring: SPSCRing<UInt64>, items: Int, batch: Int) -> Int {
    var producer = ring.claimProducer()!
    var sent = 0
    var idleRounds: UInt32 = 0
    while sent < items {
        let got: Int
        if batch == 1 {
            got = producer.push(UInt64(sent)) ? 1 : 0
        } else {
            got = producer.reserve(min(batch, items - sent))
            for offset in 0..<got { producer[offset] = UInt64(sent + offset) }
            producer.submit(got)
        }
        sent += got
        if got == 0 { idle(&idleRounds) }
    }
    return sent
}

@inline(never)
func swiftConsume(_ ring: SPSCRing<UInt64>, items: Int, batch: Int) -> Int {
    var consumer = ring.claimConsumer()!
    var received = 0
    var mismatches = 0
    var idleRounds: UInt32 = 0
    while received < items {
        let got: Int
        if batch == 1 {
            let item = consumer.pop()
            got = item == nil ? 0 : 1
            if let item, item != UInt64(received) { mismatches += 1 }
        } else {
            got = consumer.peek(batch)
            for offset in 0..<got { mismatches &+= consumer[offset] == UInt64(received + offset) ? 0 : 1 }
            consumer.release(got)
        }
        received += got
        if got == 0 { idle(&idleRounds) }
    }
    return mismatches
}

/// Spin, and every 64 empty rounds yield the core, as the C workload does.
@inline(__always)
func idle(_ rounds: inout UInt32) {
    rounds &+= 1
    if rounds % 64 == 0 { sched_yield() }
}

/// The C ring, owned; `Sendable` for the worker threads because the C workloads keep the same
/// single-producer, single-consumer discipline that the Swift ring enforces with its endpoints.
final class CRing: @unchecked Sendable {
    let pointer: OpaquePointer
    init(capacity: Int, indexSpacing: UInt32) {
        pointer = reference_ring_create(UInt32(capacity), indexSpacing)!
    }
    deinit { reference_ring_destroy(pointer) }
}
