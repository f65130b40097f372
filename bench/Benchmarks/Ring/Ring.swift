// The SPSC ring, Swift against its C reference, side by side in one run.
//
// Throughput: a producer thread pinned to CPU 0 and a consumer thread pinned to CPU 1 move 2M sequence numbers
// through a 4096-slot ring in batches; the consumer checks that each is the next number. The Swift and the C
// workloads are the same loops (compare `swiftProduce`/`swiftConsume` with reference_ring.c), started,
// pinned and joined the same way. Each benchmark iteration runs BOTH, alternating which goes first, so the
// noise of this shared machine falls on both alike; the benchmark reports each side's items/s and the ratio
// of their times in that iteration, Swift/C × 100 (100 = as fast as C; 150 = 1.5× slower).
//
// One thread: the same reserve/write/submit + peek/read/release batches with producer and consumer on one
// thread — the ring's own code, without cross-core traffic, so with far less noise; also paired Swift vs C.
//
// Steady state: the Swift one-thread loop on a ring made before the measurement; its malloc count must be 0
// (bench/run checks every benchmark named "steady state" for that).
import Benchmark
import CBenchSupport
import CReferenceRing
import TakeoverCore

#if canImport(Glibc)
    import Glibc
#endif

let ringCapacity = 4096
let itemsPerTransfer = 2_000_000
let oneThreadItems = 2_000_000

enum RingMetric {
    static func throughput(_ side: String) -> BenchmarkMetric {
        .custom("\(side) (M items/s)", polarity: .prefersLarger, useScalingFactor: false)
    }
    static func timeRatio(_ first: String, _ second: String) -> BenchmarkMetric {
        .custom("\(first)/\(second) time (%)", polarity: .prefersSmaller, useScalingFactor: false)
    }
    static func pair(_ first: String, _ second: String) -> Benchmark.Configuration {
        .init(
            metrics: [throughput(first), throughput(second), timeRatio(first, second)],
            warmupIterations: 3, maxDuration: .seconds(8), maxIterations: 200)
    }
}

let benchmarks: @Sendable () -> Void = {
    for batch in [1, 16, 64, 256] {
        Benchmark(
            "SPSC ring batch \(batch): Swift vs C, two pinned threads", configuration: RingMetric.pair("Swift", "C")
        ) { benchmark, rings in
            measurePair(
                benchmark, items: itemsPerTransfer,
                ("Swift", { runTransfer(swiftTransfer(rings.swift, batch: batch)) }),
                ("C", { runTransfer(cTransfer(rings.c, batch: batch)) }))
        } setup: {
            (swift: SPSCRing<UInt64>(capacity: ringCapacity), c: CRing(capacity: ringCapacity, indexSpacing: 128))
        }
    }

    // The padding measured: the same C ring with both indices on one cache line (4 bytes apart). Batch 1 is
    // where index traffic dominates, so where false sharing would show most.
    for batch in [1, 64] {
        Benchmark(
            "SPSC ring batch \(batch): C padded vs C unpadded, two pinned threads",
            configuration: RingMetric.pair("padded", "unpadded")
        ) { benchmark, rings in
            measurePair(
                benchmark, items: itemsPerTransfer,
                ("padded", { runTransfer(cTransfer(rings.padded, batch: batch)) }),
                ("unpadded", { runTransfer(cTransfer(rings.unpadded, batch: batch)) }))
        } setup: {
            (
                padded: CRing(capacity: ringCapacity, indexSpacing: 128),
                unpadded: CRing(capacity: ringCapacity, indexSpacing: 4)
            )
        }
    }

    for batch in [1, 16, 64, 256] {
        Benchmark("SPSC ring batch \(batch): Swift vs C, one thread", configuration: RingMetric.pair("Swift", "C")) {
            benchmark, rings in
            let rounds = oneThreadItems / batch
            measurePair(
                benchmark, items: rounds * batch,
                ("Swift", { blackHole(swiftSteadyState(rings.swift, rounds: rounds, batch: batch)) }),
                ("C", { blackHole(reference_ring_steady_state(rings.c.pointer, UInt64(rounds), UInt32(batch))) }))
        } setup: {
            (swift: SPSCRing<UInt64>(capacity: ringCapacity), c: CRing(capacity: ringCapacity, indexSpacing: 128))
        }
    }

    Benchmark(
        "SPSC ring Swift steady state, one thread, batch 64",
        configuration: .init(
            metrics: [.mallocCountTotal, .throughput, .wallClock], timeUnits: .nanoseconds, scalingFactor: .kilo,
            maxDuration: .seconds(1), maxIterations: 1000)
    ) { benchmark, ring in
        benchmark.startMeasurement()
        let checksum = swiftSteadyState(ring, rounds: benchmark.scaledIterations.count, batch: 64)
        benchmark.stopMeasurement()
        blackHole(checksum)
    } setup: {
        SPSCRing<UInt64>(capacity: ringCapacity)
    }
}

// MARK: - Running a pair

/// Runs both sides once each, in alternating order, and reports their throughputs and time ratio.
func measurePair(
    _ benchmark: Benchmark, items: Int, _ first: (name: String, run: () -> Void),
    _ second: (name: String, run: () -> Void)
) {
    let firstGoesFirst = benchmark.currentIteration % 2 == 0
    let a = nanoseconds(firstGoesFirst ? first.run : second.run)
    let b = nanoseconds(firstGoesFirst ? second.run : first.run)
    let (firstTime, secondTime) = firstGoesFirst ? (a, b) : (b, a)
    benchmark.measurement(RingMetric.throughput(first.name), items * 1000 / firstTime)
    benchmark.measurement(RingMetric.throughput(second.name), items * 1000 / secondTime)
    benchmark.measurement(RingMetric.timeRatio(first.name, second.name), firstTime * 100 / secondTime)
}

func nanoseconds(_ body: () -> Void) -> Int {
    let elapsed = ContinuousClock().measure(body)
    return max(1, Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000))
}

/// One way to move `itemsPerTransfer` items: a producer body returning the number sent and a consumer body
/// returning the number out of sequence, each run on its own pinned thread.
struct Transfer: Sendable {
    let produce: @Sendable () -> Int
    let consume: @Sendable () -> Int
}

/// Starts both threads, joins both; traps if an item was lost or misordered.
func runTransfer(_ transfer: Transfer) {
    precondition(bench_allowed_cpu_count() >= 2, "the two-thread ring benchmarks need two CPUs")
    let consumer = startThread(pinnedTo: 1, transfer.consume)
    let producer = startThread(pinnedTo: 0, transfer.produce)
    let sent = producer.join()
    let mismatches = consumer.join()
    precondition(sent == itemsPerTransfer && mismatches == 0, "ring: \(sent) sent, \(mismatches) out of sequence")
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

// Counters are UInt64 with wrapping arithmetic, as in C, so both sides run the same instructions' worth of
// bookkeeping and the comparison is about the ring.

@inline(never)
func swiftProduce(_ ring: SPSCRing<UInt64>, items: Int, batch: Int) -> Int {
    var producer = ring.claimProducer()!
    let items = UInt64(items)
    var sent: UInt64 = 0
    var idleRounds: UInt32 = 0
    while sent < items {
        let got: Int
        if batch == 1 {
            got = producer.push(sent) ? 1 : 0
        } else {
            got = producer.reserve(Int(min(UInt64(batch), items &- sent)))
            for offset in 0..<got { producer[offset] = sent &+ UInt64(truncatingIfNeeded: offset) }
            producer.submit(got)
        }
        sent &+= UInt64(truncatingIfNeeded: got)
        if got == 0 { idle(&idleRounds) }
    }
    return Int(sent)
}

@inline(never)
func swiftConsume(_ ring: SPSCRing<UInt64>, items: Int, batch: Int) -> Int {
    var consumer = ring.claimConsumer()!
    let items = UInt64(items)
    var received: UInt64 = 0
    var mismatches: UInt64 = 0
    var idleRounds: UInt32 = 0
    while received < items {
        let got: Int
        if batch == 1 {
            let item = consumer.pop()
            got = item == nil ? 0 : 1
            if let item, item != received { mismatches &+= 1 }
        } else {
            got = consumer.peek(batch)
            for offset in 0..<got {
                mismatches &+= consumer[offset] == received &+ UInt64(truncatingIfNeeded: offset) ? 0 : 1
            }
            consumer.release(got)
        }
        received &+= UInt64(truncatingIfNeeded: got)
        if got == 0 { idle(&idleRounds) }
    }
    return Int(mismatches)
}

/// The one-thread loop, as reference_ring_steady_state.
@inline(never)
func swiftSteadyState(_ ring: SPSCRing<UInt64>, rounds: Int, batch: Int) -> UInt64 {
    var producer = ring.claimProducer()!
    var consumer = ring.claimConsumer()!
    var sequence: UInt64 = 0
    var checksum: UInt64 = 0
    for _ in 0..<rounds {
        let reserved = producer.reserve(batch)
        for offset in 0..<reserved { producer[offset] = sequence &+ UInt64(offset) }
        producer.submit(reserved)
        sequence &+= UInt64(reserved)
        let peeked = consumer.peek(batch)
        for offset in 0..<peeked { checksum &+= consumer[offset] }
        consumer.release(peeked)
    }
    return checksum
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
