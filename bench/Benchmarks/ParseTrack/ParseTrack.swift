// Parse + track one captured frame, as the tracking thread will for every frame the capture ring hands it:
// `FrameParser.parse`, then `TCPTracker.track` (TCP) or `trackUDP` (UDP); other frames are parsed only.
//
// The frames are real: every frame of the recorded kernel TCP connections (Fixtures/tcp/*.pcap: handshakes,
// data, retransmissions, SACK, window scaling, FIN, RST; IPv4 and IPv6) and the scapy table
// (Fixtures/frames/frames.json: UDP, ARP, ICMP, ND, VLAN, fragments). They are copied into one arena of
// 16,384 frames (≈ the size of a UMEM) as many concurrent flows: each capture frame gets its client port
// replaced by one of 8192 per capture (49,152 TCP flows, both directions), each UDP frame one of 4096
// source ports; one frame in ten comes from the table. The order is random (seeded).
//
// Steady state: a setup pass tracks the whole arena once, so every flow has its session before the
// measurement; the benchmark then walks the arena round and round, 1000 frames per sample, into a tracker of
// the default size (slots for 1M sessions). bench/run checks that no sample allocates.
import Benchmark
import BenchFixtures
import TakeoverCore

let arenaFrames = 16_384
let flowsPerCapture = 8192
let udpFlows = 4096

var perFrame: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .mallocCountTotal], timeUnits: .nanoseconds, warmupIterations: 10,
        scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 3000)
}

/// The frames, back to back in one allocation, and where each starts.
final class FrameArena: @unchecked Sendable {
    // @unchecked: one benchmark uses it at a time, on one thread.
    let bytes: UnsafeMutableRawBufferPointer
    let starts: UnsafeMutableBufferPointer<Int>  // frame i is bytes[starts[i]..<starts[i + 1]]
    var tracker = TCPTracker()
    var cursor = 0
    var time = MonotonicTime(nanoseconds: 1_000_000_000)
    private(set) var mix = (tcp: 0, udp: 0, other: 0)

    init() {
        var generator = SplitMix64(seed: 0x9A75_E001)
        let captures = Fixtures.tcpCaptures().map { capture in
            // The server's port is the one the first SYN went to; the other is the client's, replaced per flow.
            (frames: capture.frames, serverPort: Self.ports(of: capture.frames[0])!.destination)
        }
        let table = Fixtures.frameTable().map(\.frame)
        let udp = table.filter { Self.isUDP($0) }
        var frames: [[UInt8]] = []
        for _ in 0..<arenaFrames {
            var frame: [UInt8]
            switch generator.next() % 10 {
            case 0:
                frame = table[Int(generator.next() % UInt64(table.count))]
            case 1:
                frame = udp[Int(generator.next() % UInt64(udp.count))]
                Self.rewritePorts(&frame, keeping: nil, flowPort: 1024 + UInt16(generator.next() % UInt64(udpFlows)))
            default:
                let which = Int(generator.next() % UInt64(captures.count))
                let capture = captures[which]
                frame = capture.frames[Int(generator.next() % UInt64(capture.frames.count))]
                let flow = which * flowsPerCapture + Int(generator.next() % UInt64(flowsPerCapture))
                Self.rewritePorts(&frame, keeping: capture.serverPort, flowPort: UInt16(1024 + flow))
            }
            frames.append(frame)
        }
        let total = frames.reduce(0) { $0 + $1.count }
        bytes = .allocate(byteCount: total, alignment: 64)
        starts = .allocate(capacity: arenaFrames + 1)
        var offset = 0
        for (index, frame) in frames.enumerated() {
            starts[index] = offset
            UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<offset + frame.count]).copyBytes(from: frame)
            offset += frame.count
        }
        starts[arenaFrames] = offset
        // Every flow gets its session now; the benchmark measures the steady state.
        for index in 0..<arenaFrames {
            switch parseAndTrack(frame(index), at: time) {
            case 1: mix.tcp += 1
            case 2: mix.udp += 1
            default: mix.other += 1
            }
            time = time + 1000
        }
    }

    deinit {
        bytes.deallocate()
        starts.deallocate()
    }

    @inline(__always)
    func frame(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[starts[index]..<starts[index + 1]])
    }

    /// The work measured: returns 1 for a tracked TCP segment, 2 for a tracked UDP datagram, 0 otherwise.
    @inline(__always)
    func parseAndTrack(_ bytes: UnsafeRawBufferPointer, at time: MonotonicTime) -> Int {
        guard let parsed = try? FrameParser.parse(bytes), let ip = parsed.ip else { return 0 }
        switch parsed.transport {
        case .tcp(let tcp):
            let key = FlowKey(
                source: ip.source, destination: ip.destination, sourcePort: tcp.sourcePort,
                destinationPort: tcp.destinationPort, protocolNumber: IPProtocolNumber.tcp)
            tracker.track(key, tcp.segment, at: time)
            return 1
        case .udp(let udp):
            let key = FlowKey(
                source: ip.source, destination: ip.destination, sourcePort: udp.sourcePort,
                destinationPort: udp.destinationPort, protocolNumber: IPProtocolNumber.udp)
            tracker.trackUDP(key, payloadLength: Int(udp.payloadLength), at: time)
            return 2
        default:
            return 0
        }
    }

    static func ports(of frame: [UInt8]) -> (source: UInt16, destination: UInt16, offset: Int)? {
        frame.withUnsafeBytes { raw in
            guard let parsed = try? FrameParser.parse(raw), let ip = parsed.ip else { return nil }
            switch parsed.transport {
            case .tcp(let tcp): return (tcp.sourcePort, tcp.destinationPort, Int(ip.transportOffset))
            case .udp(let udp): return (udp.sourcePort, udp.destinationPort, Int(ip.transportOffset))
            default: return nil
            }
        }
    }

    static func isUDP(_ frame: [UInt8]) -> Bool {
        frame.withUnsafeBytes { raw in
            if case .udp = (try? FrameParser.parse(raw))?.transport { true } else { false }
        }
    }

    /// Puts `flowPort` in place of the client's port (the one that is not `keeping`; the source port when
    /// `keeping` is nil). Checksums are left stale: the parser does not verify them, the tracker ignores them.
    static func rewritePorts(_ frame: inout [UInt8], keeping serverPort: UInt16?, flowPort: UInt16) {
        guard let ports = ports(of: frame) else { return }
        let clientIsSource = serverPort.map { ports.source != $0 } ?? true
        frame.withUnsafeMutableBytes { $0.storeBigEndian(flowPort, at: ports.offset + (clientIsSource ? 0 : 2)) }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("ParseTrack: parse + track one frame, mixed flows, steady state", configuration: perFrame) {
        (benchmark: Benchmark, arena: FrameArena) in
        var index = arena.cursor
        var time = arena.time
        var kinds = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            kinds &+= arena.parseAndTrack(arena.frame(index), at: time)
            time = time + 1000
            index = index + 1 == arenaFrames ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        arena.cursor = index
        arena.time = time
        blackHole(kinds)
    } setup: {
        let arena = FrameArena()
        print(
            "ParseTrack arena: \(arena.mix.tcp) TCP, \(arena.mix.udp) UDP, \(arena.mix.other) other frames; "
                + "\(arena.tracker.count) sessions; \(arena.tracker.statistics)")
        return arena
    }

    Benchmark("ParseTrack: parse only, same frames, steady state", configuration: perFrame) {
        (benchmark: Benchmark, arena: FrameArena) in
        var index = arena.cursor
        var parsed = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            parsed &+= (try? FrameParser.parse(arena.frame(index))) == nil ? 0 : 1
            index = index + 1 == arenaFrames ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        arena.cursor = index
        blackHole(parsed)
    } setup: {
        FrameArena()
    }
}
