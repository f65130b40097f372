import Foundation
import Glibc
import Synchronization
import TakeoverCore
import TakeoverLinux
import Testing

/// A small, bounded throughput measurement on the veth lab — not a benchmark (those live in bench/ and come
/// later) and no rate is asserted: it prints what it measured and asserts only the accounting.
///
/// The client floods with an AF_XDP transmit-only socket on c0 (copy mode), frames to the peer's MAC; the
/// standby's program redirects them to an AF_XDP socket on s0 that counts them. Bounded: at most `frames`
/// frames and `floodSeconds` of sending; the receiver stops 300 ms after the sender or at a hard deadline.
///
///     swift test -c release --filter AFXDPThroughput
///
/// (TAKEOVER_AFXDP_FLOOD_FRAMES overrides the frame count, capped at 5 000 000.)
@Suite("AFXDPThroughput (root, namespaces)")
struct AFXDPThroughputTests {
    static let floodSeconds = 5.0
    static var frames: Int {
        min(ProcessInfo.processInfo.environment["TAKEOVER_AFXDP_FLOOD_FRAMES"].flatMap(Int.init) ?? 200_000, 5_000_000)
    }

    struct SenderResult: Sendable {
        var statistics: AFXDPStatistics
        var seconds: Double
    }

    struct ReceiverResult: Sendable {
        var received: Int
        var bytes: Int
        var seconds: Double
        var statistics: AFXDPStatistics
        var redirected: UInt64
        var bindMode: AFXDPBindMode
    }

    final class Flag: Sendable {
        let raised = Atomic(false)
    }

    @Test func boundedFloodOnVeth() throws {
        let lab = NamespaceLab(test: "xflood")
        defer { lab.destroy() }
        let hosts = try AFXDPSocketTests.makeHosts(lab)
        let frames = Self.frames

        let receiverReady = DispatchSemaphore(value: 0)
        let receiverDone = DispatchSemaphore(value: 0)
        let senderFinished = Flag()
        let receiverOutcome = ThreadOutcome<ReceiverResult>()
        Thread {
            // A second "ready" after a normal start is harmless; after a failure it keeps the sender from waiting.
            defer {
                receiverReady.signal()
                receiverDone.signal()
            }
            receiverOutcome.result = Result {
                try NamespaceLab.inNamespace(hosts.standby) {
                    let (program, attachment) = try AFXDPSocketTests.monitoringProgram(ownMAC: hosts.standbyMAC)
                    defer { try? attachment.detach() }
                    let socket = try AFXDPSocket(interface: "s0", queue: 0,
                                                 configuration: AFXDPConfiguration(transmitFrameCount: 0),
                                                 program: program)
                    let before = try program.counters()
                    receiverReady.signal()
                    return try Self.receive(on: socket, until: senderFinished, program: program, before: before)
                }
            }
        }.start()

        #expect(receiverReady.wait(timeout: .now() + 30) == .success)
        let sender = try NamespaceLab.inNamespace(hosts.client) {
            defer { senderFinished.raised.store(true, ordering: .releasing) }
            return try Self.flood(frames: frames, from: hosts.clientMAC)
        }
        #expect(receiverDone.wait(timeout: .now() + 30) == .success)
        let receiver = try receiverOutcome.result.get()

        let sent = sender.statistics.transmitSubmitted
        let deviceDropped = sender.statistics.transmitDroppedByDevice
        let rate = Double(receiver.received) / max(receiver.seconds, 1e-9)
        print("""
            AF_XDP flood on veth (\(receiver.bindMode) mode, 60-byte frames): sender submitted \(sent) in \
            \(String(format: "%.3f", sender.seconds)) s (\(Int(Double(sent) / max(sender.seconds, 1e-9))) frames/s), \
            veth dropped \(deviceDropped); XDP redirected \(receiver.redirected); received \(receiver.received) in \
            \(String(format: "%.3f", receiver.seconds)) s = \(Int(rate)) frames/s; socket drops \
            \(receiver.statistics.receiveDrops) (fill ring empty \(receiver.statistics.kernel.fillRingEmpty), \
            RX ring full \(receiver.statistics.kernel.receiveRingFull)); \(receiver.statistics.receivePolls) polls
            """)

        #expect(sent == UInt64(frames), "the sender is bounded by count, not by time: \(sender.statistics)")
        #expect(receiver.received > 0)
        // Every frame the program redirected was received or counted as dropped by the socket.
        #expect(UInt64(receiver.received) + receiver.statistics.receiveDrops == receiver.redirected, "\(receiver.statistics)")
        // Every frame the sender submitted is on the receiving side's books or counted dropped by the veth.
        #expect(receiver.redirected + deviceDropped <= sent)
    }

    /// Sends `frames` UDP frames to the peer's MAC in batches of 64 built in place, until all are submitted or
    /// `floodSeconds` pass; then waits (bounded) for the last completions.
    static func flood(frames: Int, from clientMAC: MACAddress) throws -> SenderResult {
        let socket = try AFXDPSocket(interface: "c0", queue: 0,
                                     configuration: AFXDPConfiguration(frameCount: 2048, transmitFrameCount: 2048))
        var template = [UInt8](repeating: 0, count: 2048)
        let templateLength = template.withUnsafeMutableBytes { buffer in
            LabUDPFrame.write(LabUDPFrame.Fields(
                destinationMAC: AFXDPSocketTests.peerMAC, sourceMAC: clientMAC, sourceIP: AFXDPSocketTests.clientIPv4,
                destinationIP: AFXDPSocketTests.peerOnlyIPv4, sourcePort: 40_000, destinationPort: 9,
                payload: [UInt8](repeating: 0, count: 18)), into: buffer)  // 60 bytes: the minimum frame
        }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start.advanced(by: .seconds(floodSeconds))
        var submitted = 0
        try template.withUnsafeBytes { template in
            let frame = UnsafeRawBufferPointer(rebasing: template[0..<templateLength])
            while submitted < frames, clock.now < deadline {
                submitted += try socket.transmit(count: min(64, frames - submitted)) { index, buffer in
                    buffer.copyMemory(from: frame)
                    buffer.storeBigEndian(UInt64(submitted + index), at: LabUDPFrame.headerLength)  // sequence
                    return frame.count
                }
                try socket.flush()
            }
        }
        let seconds = (clock.now - start).seconds
        var statistics = try socket.statistics()
        for _ in 0..<100 where statistics.transmitFramesInFlight > 0 {
            try socket.flush()
            usleep(10_000)
            statistics = try socket.statistics()
        }
        return SenderResult(statistics: statistics, seconds: seconds)
    }

    /// Counts frames until the sender has finished and 300 ms pass without a frame, or 30 s in all.
    static func receive(on socket: AFXDPSocket, until senderFinished: Flag, program: XDPProgram,
                        before: XDPCounters) throws -> ReceiverResult {
        let clock = ContinuousClock()
        let hardDeadline = clock.now.advanced(by: .seconds(30))
        var received = 0
        var bytes = 0
        var first: ContinuousClock.Instant?
        var last = clock.now
        while clock.now < hardDeadline {
            if try socket.waitForFrames(timeout: .milliseconds(50)) {
                let count = try socket.receive(limit: 256) { frame in bytes &+= frame.bytes.count }
                received += count
                last = clock.now
                if first == nil { first = last }
            } else if senderFinished.raised.load(ordering: .acquiring), clock.now - last > .milliseconds(300) {
                break
            }
        }
        return ReceiverResult(
            received: received, bytes: bytes, seconds: first.map { (last - $0).seconds } ?? 0,
            statistics: try socket.statistics(),
            redirected: try program.counters().since(before)[.monitorRedirected].packets, bindMode: socket.bindMode)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
