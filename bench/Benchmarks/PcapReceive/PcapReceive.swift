// PcapCapture.receive: does taking a batch of frames from libpcap allocate? (issue #3: it allocated once per
// call, boxing the handler closure with `withoutActuallyEscaping` so libpcap's C callback could reach it.)
//
// Root. Setup makes a network namespace of its own (`ip netns add`), opens two libpcap captures on its
// loopback interface — a sender and a receiver filtered on UDP port 9 — and removes the namespace's name at
// once (the captures keep it alive until they close). Each sample: the sender injects 64 UDP frames
// 192.0.2.1 → 192.0.2.2 (TEST-NET-1; loopback only, and no local address has them, so the kernel drops them
// after the capture), outside the measurement; then the receiver takes all 64 in receive calls of up to 64
// frames, inside it. Immediate delivery (TPACKET_V2), so the frames are ready as soon as the injection returns.
//
// - `receive(limit:into:)`, the handler a value: must show 0 mallocs (checked: its name says steady state);
// - `receive(limit:_:)`, the handler a closure: shown beside it, 1 malloc per call (the box).
import Benchmark
import Foundation
import TakeoverCore
import TakeoverLinux

let framesPerSample = 64

var perBatch: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .mallocCountTotal], timeUnits: .microseconds, warmupIterations: 10,
        maxDuration: .seconds(2), maxIterations: 2000)
}

/// A namespace with two captures on its loopback, and a UDP frame to inject.
final class LoopbackCaptures: @unchecked Sendable {
    // @unchecked: one benchmark uses it at a time, on one thread.
    let namespace = "takeover-bench-pcap-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let sender: PcapCapture
    let receiver: PcapCapture
    /// What `inject` sends, in turn.
    let frames: [[UInt8]]

    /// `filter` selects what the receiver takes; `frame` is what `inject` sends (`frames`: these in turn).
    init(filter: String = "udp port 9", frame: [UInt8] = LoopbackFrame.udp, frames: [[UInt8]]? = nil) throws {
        try Self.run(["ip", "netns", "add", namespace])
        try Self.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        (sender, receiver) = try NetworkNamespace.run(in: namespace) {
            let configuration = PcapCaptureConfiguration(interface: "lo", snapshotLength: 256, delivery: .immediate)
            return (try PcapCapture(configuration), try PcapCapture(configuration))
        }
        try receiver.setFilter(filter)
        // The captures keep the namespace alive; without its name nothing is left behind when the process ends
        // (the benchmark tool exits without deinitialising setup state).
        try Self.run(["ip", "netns", "del", namespace])
        self.frames = frames ?? [frame]
    }

    deinit {
        sender.close()
        receiver.close()
    }

    static func run(_ arguments: [String]) throws {
        let child = try ChildProcess.spawn(arguments)
        let deadline = Date().addingTimeInterval(10)
        while child.isRunning && Date() < deadline { usleep(1000) }
        guard child.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
    }

    /// Injects `framesPerSample` frames; they are on the receiver's ring when this returns (loopback delivers
    /// in the sender's context).
    func inject() throws {
        for index in 0..<framesPerSample {
            let frame = frames[index % frames.count]
            _ = try sender.transmit { buffer in
                buffer.copyBytes(from: frame)
                return frame.count
            }
        }
    }
}

struct CountingHandler: ReceivedFrameHandler {
    var frames = 0
    var bytes = 0
    mutating func handle(_ frame: ReceivedFrame) {
        frames += 1
        bytes &+= frame.bytes.count
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("PcapCapture: receive(limit:into:) 64 frames, handler a value, steady state", configuration: perBatch) {
        (benchmark: Benchmark, captures: LoopbackCaptures) in
        for _ in benchmark.scaledIterations {
            try captures.inject()
            var handler = CountingHandler()
            benchmark.startMeasurement()
            var calls = 0
            while handler.frames < framesPerSample && calls < 1000 {
                _ = try captures.receiver.receive(limit: framesPerSample, into: &handler)
                calls += 1
            }
            benchmark.stopMeasurement()
            precondition(handler.frames == framesPerSample, "\(handler.frames) of \(framesPerSample) frames")
            blackHole(handler.bytes)
        }
    } setup: {
        try LoopbackCaptures()
    }

    Benchmark("PcapCapture: receive(limit:_:) 64 frames, handler a closure", configuration: perBatch) {
        (benchmark: Benchmark, captures: LoopbackCaptures) in
        for _ in benchmark.scaledIterations {
            try captures.inject()
            var frames = 0
            var bytes = 0
            benchmark.startMeasurement()
            var calls = 0
            while frames < framesPerSample && calls < 1000 {
                _ = try captures.receiver.receive(limit: framesPerSample) { frame in
                    frames += 1
                    bytes &+= frame.bytes.count
                }
                calls += 1
            }
            benchmark.stopMeasurement()
            precondition(frames == framesPerSample, "\(frames) of \(framesPerSample) frames")
            blackHole(bytes)
        }
    } setup: {
        try LoopbackCaptures()
    }

    pipelineBenchmarks()
}
