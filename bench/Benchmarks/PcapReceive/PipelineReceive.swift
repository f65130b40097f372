// CapturePipeline over a real libpcap capture: does its receive thread allocate per batch? (issue #3: it did, once
// per batch, while it handed `PcapCapture` its per-frame work as a closure — see the PcapCapture benchmarks.)
//
// Root. A pipeline (peer MAC zero, so every frame also goes through the peer-liveness path; a
// `peerTrafficSeen` callback; with or without a payload store) receives from a `LoopbackCaptures` receiver
// filtered on TCP port 9. Each sample injects 64 TCP frames carrying 18 payload bytes and waits until the
// pipeline has received all 64 (at most 2 s); the malloc interposer's hook counts the allocations made on
// threads named `takeover-rx` (the receive thread) meanwhile: the metric "Receive-thread mallocs". "Batches" is
// how many receive batches that took (the receive thread may wake before the injection ends).
//
// "before": the same pipeline given a source that offers only the closure form of `receive` — the form the
// pipeline used to call — so `PcapCapture` boxes the closure once per batch. It reproduces that box only: the old
// closure-based loop itself also allocated (4 per batch in all, measured by running the "now" cases with
// CapturePipeline.swift restored to 289cb4a; bench/RESULTS.md). "now": `PcapCapture` itself, whose
// `receive(limit:into:)` the pipeline calls with its handler value.
import Benchmark
import CBenchSupport
import Foundation
import Synchronization
import TakeoverCore
import TakeoverEngine
import TakeoverLinux

let receiveThreadMallocs = BenchmarkMetric.custom("Receive-thread mallocs", useScalingFactor: false)
let receiveBatches = BenchmarkMetric.custom("Batches", useScalingFactor: false)

/// Pipelines the setups started, for teardown to stop (setup state does not reach teardown).
let startedPipelines = Mutex<[CapturePipeline]>([])

/// A libpcap capture that offers only the closure form of `receive`: the pipeline's `receive(limit:into:)`
/// call lands in the protocol's default, which forwards to the closure form, as the pipeline's own call did.
struct ClosureOnlyPcapSource: PacketSource {
    let capture: PcapCapture
    func waitForFrames(timeout: Duration) throws(PcapCaptureError) -> Bool {
        try capture.waitForFrames(timeout: timeout)
    }
    func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(PcapCaptureError) -> Int {
        try capture.receive(limit: limit, handler)
    }
    func statistics() throws(PcapCaptureError) -> PacketSourceStatistics { try capture.statistics() }
}

/// How often the pipeline reported peer traffic (and unanswered-requests evidence).
final class PeerSignals: Sendable {
    let count = Atomic<UInt64>(0)
    let evidence = Atomic<UInt64>(0)
}

/// A capture pipeline on a namespace's loopback, and the capture that feeds it.
final class LoopbackPipeline: @unchecked Sendable {
    // @unchecked: one benchmark uses it at a time, on one thread.
    let captures: LoopbackCaptures
    let pipeline: CapturePipeline
    let peerSignals = PeerSignals()
    /// Frames from the peer among the `framesPerSample` injected.
    let peerFramesPerSample: Int

    /// `unanswered`: the unanswered-requests rule on, and each sample one frame from the peer then three to it, in
    /// turn (every run of three reaches the rule's N = 2: evidence reported once per batch that has some).
    init(closureOnly: Bool, payloadStore: Bool, unanswered: Bool = false) throws {
        guard bench_count_allocations_on_threads_named("takeover-rx") == 0 else {
            fatalError("the malloc interposer is not loaded: nothing counts the receive thread's allocations")
        }
        let frames = unanswered ? [LoopbackFrame.tcp] + Array(repeating: LoopbackFrame.tcpToPeer, count: 3) : [LoopbackFrame.tcp]
        peerFramesPerSample = framesPerSample / frames.count
        captures = try LoopbackCaptures(filter: "tcp port 9", frames: frames)
        let configuration = CapturePipelineConfiguration(
            peerMAC: .zero, ringCapacity: 4096, batchSize: 64,
            unansweredRequests: unanswered ? UnansweredRequestRule(window: 8_000_000, minimumFrames: 2) : nil)
        let payloads = payloadStore ? SessionPayloadCapture() : nil
        // An atomic add, as `FailoverController.peerTrafficSeen` does an atomic store.
        let peerTrafficSeen: @Sendable (MonotonicTime) -> Void = { [peerSignals] _ in
            peerSignals.count.add(1, ordering: .relaxed)
        }
        // An atomic add, as `FailoverController.unansweredRequestsSeen` does an atomic compare-exchange.
        let unansweredRequestsSeen: @Sendable (MonotonicTime) -> Void = { [peerSignals] _ in
            peerSignals.evidence.add(1, ordering: .relaxed)
        }
        if closureOnly {
            pipeline = CapturePipeline(
                source: ClosureOnlyPcapSource(capture: captures.receiver), configuration: configuration,
                clock: MonotonicClock.now, peerTrafficSeen: peerTrafficSeen, payloads: payloads)
        } else {
            pipeline = CapturePipeline(
                source: captures.receiver, configuration: configuration, clock: MonotonicClock.now,
                peerTrafficSeen: peerTrafficSeen, unansweredRequestsSeen: unansweredRequestsSeen, payloads: payloads)
        }
        startedPipelines.withLock { $0.append(pipeline) }
    }

    /// One sample: inject `framesPerSample` frames, wait until the pipeline has received them; records the
    /// receive thread's allocations and batches meanwhile.
    func measureOneSample(_ benchmark: Benchmark) throws {
        let before = pipeline.statistics().receive
        let mallocsBefore = bench_thread_allocations()
        benchmark.startMeasurement()
        try captures.inject()
        let deadline = ContinuousClock.now + .seconds(2)
        var after = pipeline.statistics().receive
        while after.framesReceived < before.framesReceived + UInt64(framesPerSample) && ContinuousClock.now < deadline {
            usleep(50)
            after = pipeline.statistics().receive
        }
        benchmark.stopMeasurement()
        let mallocs = bench_thread_allocations() - mallocsBefore
        precondition(
            after.framesReceived - before.framesReceived == UInt64(framesPerSample)
                && after.recordsQueued - before.recordsQueued == UInt64(framesPerSample)
                && after.peerFrames - before.peerFrames == UInt64(peerFramesPerSample),
            "pipeline took \(after.framesReceived - before.framesReceived) of \(framesPerSample) frames, "
                + "queued \(after.recordsQueued - before.recordsQueued), \(after.peerFrames - before.peerFrames) from the peer")
        benchmark.measurement(receiveThreadMallocs, Int(mallocs))
        benchmark.measurement(receiveBatches, Int(after.batches - before.batches))
    }
}

var pipelineSample: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .mallocCountTotal, receiveThreadMallocs, receiveBatches], timeUnits: .microseconds,
        warmupIterations: 10, maxDuration: .seconds(3), maxIterations: 1000)
}

func stopStartedPipelines() {
    bench_stop_counting_thread_allocations()
    let pipelines = startedPipelines.withLock { pipelines in
        defer { pipelines.removeAll() }
        return pipelines
    }
    for pipeline in pipelines { pipeline.stop() }
}

func pipelineBenchmarks() {
    for (closureOnly, label) in [(true, "source with the closure form only (before)"), (false, "PcapCapture (now)")] {
        for payloadStore in [false, true] {
            // "steady state" makes bench/run require 0 receive-thread mallocs in every sample.
            let name = "CapturePipeline receive thread, 64 TCP frames, \(label)"
                + (payloadStore ? ", payload store" : "") + (closureOnly ? "" : ", steady state")
            Benchmark(name, configuration: pipelineSample) { (benchmark: Benchmark, state: LoopbackPipeline) in
                for _ in benchmark.scaledIterations { try state.measureOneSample(benchmark) }
                if payloadStore {
                    precondition(state.pipeline.payloads!.statistics.bytesStored > 0, "no payload captured")
                }
                precondition(state.peerSignals.count.load(ordering: .relaxed) > 0, "peerTrafficSeen never called")
            } setup: {
                try LoopbackPipeline(closureOnly: closureOnly, payloadStore: payloadStore)
            } teardown: {
                stopStartedPipelines()
            }
        }
    }
    Benchmark(
        "CapturePipeline receive thread, 64 TCP frames, PcapCapture (now), unanswered-requests rule, steady state",
        configuration: pipelineSample
    ) { (benchmark: Benchmark, state: LoopbackPipeline) in
        for _ in benchmark.scaledIterations { try state.measureOneSample(benchmark) }
        precondition(state.peerSignals.evidence.load(ordering: .relaxed) > 0, "unansweredRequestsSeen never called")
    } setup: {
        try LoopbackPipeline(closureOnly: false, payloadStore: false, unanswered: true)
    } teardown: {
        stopStartedPipelines()
    }
}
