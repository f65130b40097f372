import TakeoverCore
import TakeoverEngine
import TakeoverLab
import TakeoverLinux
import Testing

/// The capture pipeline with a payload store, over the in-memory queue (no kernel, no root): the receive thread
/// copies each segment's payload into the store, and at takeover the tracker's session and the store make a plan.
@Suite struct PayloadCaptureTests {
    typealias Frames = CaptureTestFrames

    /// A TCP frame whose payload bytes are `pattern` (the builder leaves them zero).
    static func tcp(
        from source: Frames.Endpoint, to destination: Frames.Endpoint, sequence: UInt32, acknowledgment: UInt32,
        flags: TCPFlags, pattern: [UInt8] = []
    ) -> [UInt8] {
        var frame = Frames.tcp(
            from: source, to: destination, sequence: sequence, acknowledgment: acknowledgment, flags: flags,
            payload: pattern.count)
        frame.replaceSubrange((frame.count - pattern.count)..., with: pattern)
        return frame
    }

    @Test func theReceiveThreadKeepsBothDirectionsBytesForTheResumePlan() throws {
        let (client, peer) = (Frames.client, Frames.peer)
        let request = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        let response = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 5 &+ 1) }
        let frames: [[UInt8]] = [
            Self.tcp(from: client, to: peer, sequence: 1000, acknowledgment: 0, flags: .syn),
            Self.tcp(from: peer, to: client, sequence: 5000, acknowledgment: 1001, flags: [.syn, .ack]),
            Self.tcp(from: client, to: peer, sequence: 1001, acknowledgment: 5001, flags: .ack),
            Self.tcp(from: client, to: peer, sequence: 1001, acknowledgment: 5001, flags: [.psh, .ack], pattern: request),
            Self.tcp(from: peer, to: client, sequence: 5001, acknowledgment: 1101, flags: [.psh, .ack], pattern: response),
        ]
        let queue = InMemoryPacketQueue(capacity: frames.count)
        for (index, frame) in frames.enumerated() { queue.enqueue(frame, at: MonotonicTime(nanoseconds: UInt64(index + 1))) }
        let payloads = SessionPayloadCapture(SessionPayloadStoreConfiguration(sessionCapacity: 8, bytesPerDirection: 1024))
        let pipeline = try CapturePipeline(
            source: queue, configuration: CapturePipelineConfiguration(peerMAC: peer.mac, sessionCapacity: 16),
            clock: MonotonicClock.now, payloads: payloads)
        #expect(waitUntil(timeout: .seconds(5)) { pipeline.statistics().recordsTracked == 5 })
        #expect(pipeline.stop().joined)

        let toPeer = FlowKey(
            source: FlowAddress(client.ip), destination: FlowAddress(peer.ip), sourcePort: client.port,
            destinationPort: peer.port, protocolNumber: IPProtocolNumber.tcp)
        #expect(payloads.statistics.bytesStored == 400)
        #expect(payloads.withStore { $0.bytes(sending: toPeer, from: 1001, to: 1101) } == request)
        #expect(payloads.withStore { $0.bytes(sending: toPeer.reversed, from: 5001, to: 5301) } == response)

        // The client never acknowledged the response: it is the send queue; the request was answered by it.
        let session = try #require(pipeline.session(for: toPeer))
        let plan = try payloads.withStore { store throws(TCPResumeRefusal) in
            try TCPResumePlan(session: session, serverSide: .reply, store: store)
        }
        #expect(plan.sendQueue == response && plan.sendUnacknowledged == 5001)
        #expect(plan.answerPoint == 1101 && plan.receiveQueue.isEmpty && plan.context == request)
    }
}
