import Synchronization
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import TakeoverLinux
import Testing

/// The pipeline over the in-memory queue: no kernel, no root. The queue is filled before the pipeline starts
/// (it moves to the receive thread and is not thread-safe), then the test waits, bounded, for the tracker.
@Suite struct CapturePipelineTests {
    typealias Frames = CaptureTestFrames

    /// Polls until `condition` holds for the pipeline's statistics or `timeout` passes.
    static func waitFor(
        _ pipeline: CapturePipeline, timeout: Duration = .seconds(5),
        _ condition: (CapturePipelineStatistics) -> Bool
    ) -> Bool {
        waitUntil(timeout: timeout) { condition(pipeline.statistics()) }
    }

    static func queue(_ frames: [([UInt8], UInt64)]) -> InMemoryPacketQueue {
        let queue = InMemoryPacketQueue(capacity: max(frames.count, 1))
        for (frame, milliseconds) in frames {
            queue.enqueue(frame, at: MonotonicTime(nanoseconds: milliseconds * 1_000_000))
        }
        return queue
    }

    @Test func tracksBothDirectionsAndAccountsForEveryFrame() throws {
        let client = Frames.client
        let peer = Frames.peer
        let frames: [([UInt8], UInt64)] = [
            (Frames.tcp(from: client, to: peer, sequence: 1000, flags: .syn), 1),
            (Frames.tcp(from: peer, to: client, sequence: 5000, acknowledgment: 1001, flags: [.syn, .ack]), 2),
            (Frames.tcp(from: client, to: peer, sequence: 1001, acknowledgment: 5001, flags: .ack), 3),
            (
                Frames.tcp(
                    from: client, to: peer, sequence: 1001, acknowledgment: 5001, flags: [.psh, .ack], payload: 100), 4
            ),
            (
                Frames.tcp(
                    from: peer, to: client, sequence: 5001, acknowledgment: 1101, flags: [.psh, .ack], payload: 300), 5
            ),
            (Frames.tcp(from: client, to: peer, sequence: 1101, acknowledgment: 5301, flags: .ack), 6),
            (Frames.arpRequest(from: client, for: peer.ip), 7),
            (Frames.udp(from: client, to: peer, payload: 50), 8),
            // Malformed: a UDP length beyond the datagram, a frame cut inside the IPv4 header (from the peer:
            // still a sign of life), and an EtherType the parser does not read (LLDP, from the peer).
            (Frames.udp(from: client, to: peer, payload: 10, claimedLength: 200), 9),
            (Array(Frames.tcp(from: peer, to: client, sequence: 5301, flags: .ack).prefix(20)), 10),
            (
                {
                    var lldp = Frames.arpRequest(from: peer, for: client.ip)
                    lldp[12] = 0x88
                    lldp[13] = 0xCC
                    return lldp
                }(), 11
            ),
        ]
        let peerSignals = Mutex<[MonotonicTime]>([])
        let pipeline = try CapturePipeline(
            source: Self.queue(frames),
            configuration: CapturePipelineConfiguration(peerMAC: peer.mac, sessionCapacity: 64),
            clock: MonotonicClock.now, peerTrafficSeen: { time in peerSignals.withLock { $0.append(time) } })
        #expect(Self.waitFor(pipeline) { $0.recordsTracked == 7 && $0.receive.framesReceived == 11 })
        let result = pipeline.stop()
        #expect(result.joined)
        #expect(result.receiveFailure == nil)

        let statistics = result.statistics
        let receive = statistics.receive
        #expect(receive.framesReceived == 11)
        #expect(receive.recordsQueued == 7)
        #expect(receive.framesWithoutFlow == 1)
        #expect(receive.droppedRingFull == 0)
        #expect(receive.malformed[.badUDPLength] == 1)
        #expect(receive.malformed[.truncated] == 1)
        #expect(receive.malformed[.unsupportedEtherType] == 1)
        #expect(receive.malformed.total == 3)
        #expect(
            receive.framesReceived
                == receive.recordsQueued + receive.framesWithoutFlow + receive.droppedRingFull + receive.malformed.total
        )
        #expect(statistics.source.received == 11 && statistics.source.dropped == 0)
        #expect(statistics.totalDropped == 3)
        #expect(statistics.recordsTracked == 7)
        #expect(statistics.tracker.tcpSegments == 6 && statistics.tracker.udpDatagrams == 1)
        #expect(statistics.sessionCount == 2)

        // Peer liveness: frames 2, 5, 10 and 11 came from the peer's MAC, the newest at 11 ms.
        #expect(receive.peerFrames == 4)
        #expect(statistics.lastPeerFrame == MonotonicTime(nanoseconds: 11_000_000))
        #expect(peerSignals.withLock { $0.max() } == MonotonicTime(nanoseconds: 11_000_000))

        let flow = FlowKey(
            source: FlowAddress(client.ip), destination: FlowAddress(peer.ip), sourcePort: client.port,
            destinationPort: peer.port, protocolNumber: IPProtocolNumber.tcp)
        let session = try #require(pipeline.session(for: flow.reversed))
        #expect(session.key == flow, "the SYN makes the client the original side")
        #expect(session.sendNext(.original) == 1101)
        #expect(session.receiveNext(.original) == 5301)
        #expect(session.sendNext(.reply) == 5301)
        #expect(session.receiveNext(.reply) == 1101)
        #expect(session.state(.original) == .established && session.state(.reply) == .established)
        #expect(pipeline.sessions { $0.isTCP }.count == 1)
        #expect(pipeline.sessions { !$0.isTCP }.first?.original.payloadBytes == 50)
    }

    @Test func reportsUnansweredRequestsOnlyAfterThePeersFrameAndWithinTheWindow() throws {
        let client = Frames.client
        let peer = Frames.peer
        let frames: [([UInt8], UInt64)] = [
            // Before any frame from the peer nothing counts (this port may not see the peer's traffic at all).
            (Frames.udp(from: client, to: peer, payload: 8), 1),
            (Frames.udp(from: client, to: peer, payload: 8), 2),
            (Frames.udp(from: peer, to: client, payload: 8), 3),
            (Frames.udp(from: client, to: peer, payload: 8), 4),
            (Frames.udp(from: client, to: peer, payload: 8), 5),  // the 2nd after the peer's frame: evidence at 5 ms
            (Frames.udp(from: client, to: peer, payload: 8), 6),
            (Frames.udp(from: peer, to: client, payload: 8), 10),
            // More than 8 ms after the peer's frame: not its silence as the rule sees it.
            (Frames.udp(from: client, to: peer, payload: 8), 19),
            (Frames.udp(from: client, to: peer, payload: 8), 20),
            (Frames.udp(from: peer, to: client, payload: 8), 30),
            (Frames.arpRequest(from: client, for: peer.ip), 31),  // broadcast, not to the peer's MAC
            (Frames.tcp(from: client, to: peer, sequence: 1, flags: .syn), 32),
            (Frames.udp(from: client, to: peer, payload: 8), 33),  // evidence at 33 ms
        ]
        let evidence = Mutex<[MonotonicTime]>([])
        // One frame per batch, so every report is seen (a batch reports its newest evidence only).
        let pipeline = try CapturePipeline(
            source: Self.queue(frames),
            configuration: CapturePipelineConfiguration(
                peerMAC: peer.mac, batchSize: 1, sessionCapacity: 64,
                unansweredRequests: UnansweredRequestRule(window: 8_000_000, minimumFrames: 2)),
            clock: MonotonicClock.now, unansweredRequestsSeen: { time in evidence.withLock { $0.append(time) } })
        #expect(Self.waitFor(pipeline) { $0.receive.framesReceived == UInt64(frames.count) })
        #expect(pipeline.stop().joined)
        #expect(evidence.withLock { $0 } == [MonotonicTime(nanoseconds: 5_000_000), MonotonicTime(nanoseconds: 33_000_000)])
    }

    @Test func aFullRingDropsAreCountedNeverSilent() throws {
        let frameCount = 300
        let frames = (0..<frameCount).map { index -> ([UInt8], UInt64) in
            var client = Frames.client
            client.port = UInt16(20_000 + index)
            return (Frames.udp(from: client, to: Frames.peer, payload: 18), UInt64(index + 1))
        }
        // Two slots, a tracker that sleeps 50 ms whenever it finds the ring empty: the receive thread's
        // batches of 64 cannot all fit.
        let configuration = CapturePipelineConfiguration(
            peerMAC: Frames.peer.mac, ringCapacity: 2, batchSize: 64, trackerIdleSleep: .milliseconds(50),
            sessionCapacity: 1024)
        let pipeline = try CapturePipeline(
            source: Self.queue(frames), configuration: configuration, clock: MonotonicClock.now)
        #expect(Self.waitFor(pipeline) { $0.receive.framesReceived == UInt64(frameCount) })
        let result = pipeline.stop()
        #expect(result.joined)
        let receive = result.statistics.receive
        #expect(receive.droppedRingFull > 0)
        #expect(receive.recordsQueued + receive.droppedRingFull == UInt64(frameCount))
        // What was queued was tracked (stop drains the ring), and nothing else.
        #expect(result.statistics.recordsTracked == receive.recordsQueued)
        #expect(result.statistics.tracker.udpDatagrams == receive.recordsQueued)
        #expect(result.statistics.totalDropped == receive.droppedRingFull)
    }

    /// A source that hands out one frame per call and then fails, as a capture whose interface vanished would.
    struct FailingSource: PacketSource {
        struct Vanished: Error, CustomStringConvertible {
            var description: String { "interface vanished" }
        }
        let frame: [UInt8]
        var calls = 0

        mutating func waitForFrames(timeout: Duration) throws(Vanished) -> Bool { true }

        mutating func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(Vanished) -> Int {
            calls += 1
            guard calls <= 3 else { throw Vanished() }
            frame.withUnsafeBytes {
                handler(ReceivedFrame(bytes: $0, wireLength: $0.count, timestamp: MonotonicTime(nanoseconds: 1)))
            }
            return 1
        }

        mutating func statistics() throws(Vanished) -> PacketSourceStatistics {
            PacketSourceStatistics(received: UInt64(min(calls, 3)))
        }
    }

    @Test func aFailingSourceEndsReceivingAndSaysWhy() throws {
        let source = FailingSource(frame: Frames.udp(from: Frames.client, to: Frames.peer, payload: 4))
        let pipeline = try CapturePipeline(
            source: source, configuration: CapturePipelineConfiguration(peerMAC: nil, sessionCapacity: 16),
            clock: MonotonicClock.now)
        #expect(Self.waitFor(pipeline) { $0.recordsTracked == 3 })
        let result = pipeline.stop(timeout: .seconds(2))
        #expect(result.joined)
        #expect(result.receiveFailure == "interface vanished")
        #expect(result.statistics.receive.framesReceived == 3)
        // Stopping again returns the first result at once.
        #expect(pipeline.stop(timeout: .zero).receiveFailure == "interface vanished")
    }

    /// A source that counts calls to the closure form of `receive` (which costs a heap box per call over
    /// libpcap) and serves frames through either form.
    struct FormCountingSource: PacketSource {
        final class Calls: Sendable {
            let closure = Atomic(0)
            let value = Atomic(0)
        }
        let queue: InMemoryPacketQueue
        let calls: Calls

        func waitForFrames(timeout: Duration) -> Bool { queue.waitForFrames(timeout: timeout) }

        func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) -> Int {
            calls.closure.add(1, ordering: .relaxed)
            return queue.receive(limit: limit, handler)
        }

        func receive<Handler: ReceivedFrameHandler & ~Copyable>(limit: Int, into handler: inout Handler) -> Int {
            calls.value.add(1, ordering: .relaxed)
            var queue = queue
            return queue.receive(limit: limit, into: &handler)
        }

        func statistics() -> PacketSourceStatistics { queue.statistics() }
    }

    @Test(arguments: [false, true])
    func theReceiveThreadHandsTheSourceAValueNeverAClosure(withPayloadStore: Bool) throws {
        let (client, peer) = (Frames.client, Frames.peer)
        let frames: [([UInt8], UInt64)] = [
            (Frames.tcp(from: client, to: peer, sequence: 1000, flags: .syn), 1),
            (Frames.tcp(from: peer, to: client, sequence: 5000, acknowledgment: 1001, flags: [.syn, .ack]), 2),
            (
                Frames.tcp(
                    from: client, to: peer, sequence: 1001, acknowledgment: 5001, flags: [.psh, .ack], payload: 100), 3
            ),
            (Frames.arpRequest(from: client, for: peer.ip), 4),
        ]
        let calls = FormCountingSource.Calls()
        let payloads = withPayloadStore ? SessionPayloadCapture() : nil
        let pipeline = try CapturePipeline(
            source: FormCountingSource(queue: Self.queue(frames), calls: calls),
            configuration: CapturePipelineConfiguration(peerMAC: peer.mac, sessionCapacity: 16),
            clock: MonotonicClock.now, payloads: payloads)
        #expect(Self.waitFor(pipeline) { $0.recordsTracked == 3 && $0.receive.framesReceived == 4 })
        let result = pipeline.stop()
        #expect(result.joined)
        #expect(calls.closure.load(ordering: .relaxed) == 0)
        #expect(calls.value.load(ordering: .relaxed) >= 1)
        #expect(result.statistics.receive.batches == UInt64(calls.value.load(ordering: .relaxed)))
        #expect(result.statistics.receive.recordsQueued == 3)
        #expect(result.statistics.receive.framesWithoutFlow == 1)
        #expect(result.statistics.receive.peerFrames == 1)
        #expect(result.statistics.lastPeerFrame == MonotonicTime(nanoseconds: 2_000_000))
        // The payload reaches the store only when there is one.
        #expect(payloads?.statistics.bytesStored == (withPayloadStore ? 100 : nil))
    }

    @Test func expirySweepsRemoveIdleSessions() throws {
        // Frames stamped at 1 ms on the monotonic clock: long idle by now, beyond a 1 ms UDP timeout.
        var timeouts = SessionTimeouts()
        timeouts.udp = 1_000_000
        let frames = [(Frames.udp(from: Frames.client, to: Frames.peer, payload: 8), UInt64(1))]
        let pipeline = try CapturePipeline(
            source: Self.queue(frames),
            configuration: CapturePipelineConfiguration(
                peerMAC: nil, sessionCapacity: 16, timeouts: timeouts, expiryInterval: .milliseconds(5)),
            clock: MonotonicClock.now)
        #expect(Self.waitFor(pipeline) { $0.recordsTracked == 1 && $0.tracker.expired == 1 })
        let result = pipeline.stop()
        #expect(result.statistics.sessionCount == 0)
        #expect(result.statistics.expirySweeps > 0)
    }

    @Test func classificationFlagsThePeerEvenInMalformedFrames() {
        func classify(_ bytes: [UInt8]) -> FrameClassification {
            bytes.withUnsafeBytes { raw in
                FrameClassification.classify(
                    ReceivedFrame(bytes: raw, wireLength: raw.count + 4, timestamp: .zero), peerMAC: Frames.peer.mac)
            }
        }
        guard case .record(let record) = classify(Frames.udp(from: Frames.client, to: Frames.peer, payload: 4)) else {
            Issue.record("a UDP frame is a record")
            return
        }
        #expect(record.flags == [.toPeer, .truncated])
        guard
            case .malformed(.truncated, fromPeer: true) = classify(
                Array(Frames.udp(from: Frames.peer, to: Frames.client, payload: 4).prefix(30)))
        else {
            Issue.record("a frame cut in its IPv4 header from the peer is malformed and from the peer")
            return
        }
        guard case .malformed(.truncated, fromPeer: false) = classify([0x02, 0, 0]) else {
            Issue.record("three bytes are a truncated Ethernet header with no source MAC")
            return
        }
    }

    @Test func aRecordFitsTwoCacheLines() {
        // The receive thread copies one record per frame into the ring: keep it at two 64-byte lines.
        #expect(MemoryLayout<CaptureRecord>.stride <= 128, "\(MemoryLayout<CaptureRecord>.stride) bytes")
    }

    @Test func everyFrameErrorHasItsOwnCounter() {
        let errors: [FrameError] = [
            .truncated(.ipv4), .unsupportedEtherType(0x88CC), .tooManyVLANTags, .unsupportedARPFormat,
            .badIPVersion(6), .badIPv4HeaderLength(4), .badIPv4TotalLength(9), .badIPv6PayloadLength(9),
            .badIPv6ExtensionHeaderLength(0), .misplacedHopByHopHeader, .tooManyExtensionHeaders,
            .badTCPDataOffset(4), .badTCPOptionLength(kind: 2), .badUDPLength(7),
            .badNeighborDiscoveryOptionLength(type: 1),
        ]
        var counts = MalformedFrameCounts()
        for error in errors { counts[MalformedFrameReason(error)] += 1 }
        #expect(Set(errors.map(MalformedFrameReason.init)).count == MalformedFrameReason.allCases.count)
        #expect(MalformedFrameReason.allCases.allSatisfy { counts[$0] == 1 })
        #expect(counts.total == UInt64(errors.count))
    }
}
