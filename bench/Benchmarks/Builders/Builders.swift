// Each reply frame builder of TakeoverCore writing into one reused buffer, as the transmit path will write
// into a UMEM frame: the buffer is allocated in the benchmark's setup, so the measurement holds only the
// builder. Every benchmark is named "steady state", so bench/run fails if any sample shows a malloc.
//
// One benchmark iteration builds 1000 frames (scaling factor kilo); the wall clock is reported per frame.
// A field changes with every frame (a client address, a sequence number) so the compiler cannot fold the
// checksums into constants: each frame is built and summed from its values, as at run time.
//
// The echo turnaround changes a received request into the reply in place, so each frame first gets the
// request copied back into the buffer (a 98-byte `ping` frame, as the NIC would have written it): that
// copy is measured alone as "echo request copy only (baseline)" to subtract.
import Benchmark
import TakeoverCore

var framesPerIteration: BenchmarkScalingFactor { .kilo }

var steadyState: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds, warmupIterations: 10, scalingFactor: framesPerIteration,
        maxDuration: .seconds(2), maxIterations: 2000)
}

let ourMAC = MACAddress(rawValue: 0x02_00_00_00_00_02)
let clientMAC = MACAddress(rawValue: 0x02_00_00_00_00_01)
let peerAddress = IPv4Address(192, 0, 2, 20)
let clientBase = IPv4Address(198, 51, 100, 0)
let peerAddress6 = IPv6Address(high: 0x2001_0DB8_0000_0000, low: 0x20)
let clientAddress6 = IPv6Address(high: 0x2001_0DB8_0000_0000, low: 0x10)

let benchmarks: @Sendable () -> Void = {
    benchmarkBuilder("ARP request") { buffer, frame in
        let target = IPv4Address(rawValue: clientBase.rawValue &+ UInt32(truncatingIfNeeded: frame & 0xFF))
        return try FrameBuilder.ARP.request(senderMAC: ourMAC, senderAddress: peerAddress, targetAddress: target)
            .write(into: buffer)
    }
    benchmarkBuilder("ARP reply") { buffer, frame in
        let target = IPv4Address(rawValue: clientBase.rawValue &+ UInt32(truncatingIfNeeded: frame & 0xFF))
        return try FrameBuilder.ARP.reply(
            senderMAC: ourMAC, senderAddress: peerAddress, targetMAC: clientMAC, targetAddress: target
        ).write(into: buffer)
    }
    benchmarkBuilder("gratuitous ARP, request form") { buffer, frame in
        let address = IPv4Address(rawValue: peerAddress.rawValue &+ UInt32(truncatingIfNeeded: frame & 1))
        return try FrameBuilder.ARP.gratuitousRequest(mac: ourMAC, address: address).write(into: buffer)
    }
    benchmarkBuilder("gratuitous ARP, reply form") { buffer, frame in
        let address = IPv4Address(rawValue: peerAddress.rawValue &+ UInt32(truncatingIfNeeded: frame & 1))
        return try FrameBuilder.ARP.gratuitousReply(mac: ourMAC, address: address).write(into: buffer)
    }
    benchmarkBuilder("unsolicited NA") { buffer, frame in
        let target = IPv6Address(high: peerAddress6.high, low: peerAddress6.low &+ UInt64(frame & 1))
        return try FrameBuilder.NeighborAdvertisement.unsolicited(senderMAC: ourMAC, target: target)
            .write(into: buffer)
    }
    for family in [IPFamily.v4, .v6] {
        benchmarkBuilder("TCP RST \(family)") { buffer, frame in
            try tcpControl(family, frame: frame).writeReset(into: buffer)
        }
        benchmarkBuilder("TCP ACK \(family)") { buffer, frame in
            try tcpControl(family, frame: frame).writeAcknowledgment(into: buffer)
        }
        benchmarkBuilder("TCP ACK \(family) with timestamps") { buffer, frame in
            var control = tcpControl(family, frame: frame)
            control.timestamp = .init(value: UInt32(truncatingIfNeeded: frame), echoReply: 0x1234_5678)
            return try control.writeAcknowledgment(into: buffer)
        }
    }
    for family in [IPFamily.v4, .v6] {
        let request = echoRequest(family)
        benchmarkBuilder("ICMP echo turnaround \(family)") { buffer, _ in
            let frame = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<request.count])
            frame.copyMemory(from: UnsafeRawBufferPointer(request.bytes))
            return try FrameBuilder.turnAroundEchoRequest(in: frame, replyFrom: ourMAC)
        }
        benchmarkBuilder("ICMP echo request copy only \(family) (baseline)") { buffer, _ in
            let frame = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<request.count])
            frame.copyMemory(from: UnsafeRawBufferPointer(request.bytes))
            return frame.count
        }
    }
}

enum IPFamily: CustomStringConvertible {
    case v4, v6
    var description: String { self == .v4 ? "IPv4" : "IPv6" }
}

/// A RST/ACK for a tracked session; the sequence number moves with every frame.
@inline(__always)
func tcpControl(_ family: IPFamily, frame: Int) -> FrameBuilder.TCPControl {
    let (source, destination) =
        family == .v4
        ? (FlowAddress(peerAddress), FlowAddress(IPv4Address(198, 51, 100, 7)))
        : (FlowAddress(peerAddress6), FlowAddress(clientAddress6))
    return FrameBuilder.TCPControl(
        sourceMAC: ourMAC, destinationMAC: clientMAC, source: source, destination: destination, sourcePort: 443,
        destinationPort: 50_123, sequence: 0x1000_0000 &+ UInt32(truncatingIfNeeded: frame),
        acknowledgment: 0x2000_0000, window: 502)
}

/// Benchmarks `build` as "Builders: <name> steady state": 1000 frames per iteration into one buffer made in
/// setup. `build` gets the buffer and the frame's number and returns the frame length.
func benchmarkBuilder<Failure: Error>(
    _ name: String, _ build: @escaping @Sendable (UnsafeMutableRawBufferPointer, Int) throws(Failure) -> Int
) {
    Benchmark("Builders: \(name) steady state", configuration: steadyState) { benchmark, buffer in
        var frame = benchmark.currentIteration &* framesPerIteration.rawValue
        var totalLength = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            totalLength &+= try build(buffer.bytes, frame)
            frame &+= 1
        }
        benchmark.stopMeasurement()
        blackHole(totalLength)
        blackHole(buffer.bytes)
    } setup: {
        TransmitBuffer()
    }
}

/// Stands for one UMEM transmit frame: 2048 bytes, allocated once.
final class TransmitBuffer: @unchecked Sendable {
    // @unchecked: one benchmark uses it at a time, on one thread.
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 64)
    init() { bytes.initializeMemory(as: UInt8.self, repeating: 0) }
    deinit { bytes.deallocate() }
}

/// A received `ping` echo request (56 data bytes, 98-byte frame), owned bytes for the turnaround benchmarks.
final class EchoRequestFrame: @unchecked Sendable {
    // @unchecked: immutable after init.
    let bytes: UnsafeMutableRawBufferPointer
    var count: Int { bytes.count }

    init(_ frame: [UInt8]) {
        bytes = .allocate(byteCount: frame.count, alignment: 64)
        bytes.copyBytes(from: frame)
    }
    deinit { bytes.deallocate() }
}

/// Builds the request with the TCP builder's sibling parts: the Ethernet and IP headers by hand, checksums
/// with `InternetChecksum`, so the turnaround sees a valid request.
func echoRequest(_ family: IPFamily) -> EchoRequestFrame {
    let dataLength = 56
    var frame: [UInt8] = []
    func put16(_ value: UInt16) { frame += [UInt8(value >> 8), UInt8(value & 0xFF)] }
    func put(_ mac: MACAddress) { frame += mac.octets }
    put(ourMAC)  // to the peer's IP, now at our MAC
    put(clientMAC)
    let data = (0..<dataLength).map { UInt8(truncatingIfNeeded: $0) }
    switch family {
    case .v4:
        put16(0x0800)
        let ip = frame.count
        frame += [0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0]
        frame.withUnsafeMutableBytes { $0.storeBigEndian(UInt16(20 + 8 + dataLength), at: ip + 2) }
        frame += [198, 51, 100, 7] + [192, 0, 2, 20]
        frame += [8, 0, 0, 0, 0xAB, 0xCD, 0, 1] + data
        frame.withUnsafeMutableBytes { bytes in
            var header = InternetChecksum()
            header.add(bytes: UnsafeRawBufferPointer(rebasing: bytes[ip..<(ip + 20)]))
            bytes.storeBigEndian(header.checksum, at: ip + 10)
            var icmp = InternetChecksum()
            icmp.add(bytes: UnsafeRawBufferPointer(rebasing: bytes[(ip + 20)...]))
            bytes.storeBigEndian(icmp.checksum, at: ip + 22)
        }
    case .v6:
        put16(0x86DD)
        let ip = frame.count
        frame += [0x60, 0, 0, 0, 0, 0, 58, 64]
        frame.withUnsafeMutableBytes { $0.storeBigEndian(UInt16(8 + dataLength), at: ip + 4) }
        frame += [UInt8](repeating: 0, count: 32)
        frame.withUnsafeMutableBytes { bytes in
            clientAddress6.write(to: bytes, at: ip + 8)
            peerAddress6.write(to: bytes, at: ip + 24)
        }
        frame += [128, 0, 0, 0, 0xAB, 0xCD, 0, 1] + data
        frame.withUnsafeMutableBytes { bytes in
            var icmp = InternetChecksum.ipv6PseudoHeader(
                source: clientAddress6, destination: peerAddress6, nextHeader: 58, length: UInt32(8 + dataLength))
            icmp.add(bytes: UnsafeRawBufferPointer(rebasing: bytes[(ip + 40)...]))
            bytes.storeBigEndian(icmp.checksum, at: ip + 42)
        }
    }
    return EchoRequestFrame(frame)
}
