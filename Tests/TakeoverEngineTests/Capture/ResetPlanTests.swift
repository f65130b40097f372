import TakeoverCore
import TakeoverEngine
import Testing

/// No root: which RSTs the reset policy plans for tracked sessions (fed to a real tracker as frames).
@Suite struct ResetPlanTests {
    typealias Frames = CaptureTestFrames
    static let ownMAC = MACAddress(0x02, 0, 0, 0, 0, 0x99)

    static func tracker(_ frames: [[UInt8]]) -> [Session] {
        var tracker = TCPTracker(capacity: 16)
        for (index, frame) in frames.enumerated() {
            frame.withUnsafeBytes { bytes in
                guard let parsed = try? FrameParser.parse(bytes), let ip = parsed.ip,
                    case .tcp(let tcp) = parsed.transport
                else { return }
                let flow = FlowKey(
                    source: ip.source, destination: ip.destination, sourcePort: tcp.sourcePort,
                    destinationPort: tcp.destinationPort, protocolNumber: ip.protocolNumber)
                _ = tracker.track(flow, tcp.segment, at: MonotonicTime(nanoseconds: UInt64(index + 1)))
            }
        }
        var sessions: [Session] = []
        tracker.table.forEach { sessions.append($0) }
        return sessions
    }

    static func client(_ port: UInt16) -> Frames.Endpoint {
        var client = Frames.client
        client.port = port
        return client
    }

    @Test func resetsAtTheClientsReceivePointWithASecondAtItsOwnACKAndSkipsWhatItCannotReset() throws {
        let peer = Frames.peer
        let (lagging, midstream, lone, closed) = (
            Self.client(41_001), Self.client(41_002), Self.client(41_003), Self.client(41_005)
        )
        var stranger = Self.client(41_004)
        stranger.ip = IPv4Address(192, 0, 2, 77)
        stranger.mac = MACAddress(0x02, 0, 0, 0, 0, 0x77)
        let sessions = Self.tracker([
            // Handshake, a request, then 300 bytes from the server the client has not acknowledged yet.
            Frames.tcp(from: lagging, to: peer, sequence: 1000, flags: .syn),
            Frames.tcp(from: peer, to: lagging, sequence: 5000, acknowledgment: 1001, flags: [.syn, .ack]),
            Frames.tcp(
                from: lagging, to: peer, sequence: 1001, acknowledgment: 5001, flags: [.psh, .ack], payload: 10),
            Frames.tcp(
                from: peer, to: lagging, sequence: 5001, acknowledgment: 1011, flags: [.psh, .ack], payload: 300),
            // Joined mid-stream, seen only from the client: its ACK is its receive point.
            Frames.tcp(
                from: midstream, to: peer, sequence: 70_000, acknowledgment: 90_000, flags: [.psh, .ack], payload: 5),
            // A SYN nobody answered: nothing known of the server's sequence.
            Frames.tcp(from: lone, to: peer, sequence: 3, flags: .syn),
            // A client whose MAC the book does not hold.
            Frames.tcp(from: stranger, to: peer, sequence: 8, acknowledgment: 9, flags: .ack),
            // A connection the client reset already.
            Frames.tcp(from: closed, to: peer, sequence: 600, acknowledgment: 700, flags: .ack),
            Frames.tcp(from: closed, to: peer, sequence: 600, acknowledgment: 700, flags: [.rst, .ack]),
        ])
        let plan = ResetPlan(
            sessions, served: [FlowAddress(peer.ip)], ownMAC: Self.ownMAC,
            clientMACs: [FlowAddress(Frames.client.ip): Frames.client.mac])

        #expect(plan.resets.count == 2)
        #expect(plan.unknownSequence.map { (key: FlowKey) in key.sourcePort } == [lone.port])
        #expect(plan.unknownClientMAC.count == 1)
        #expect(plan.alreadyClosed == 1)

        let laggingReset = try #require(plan.resets.first { $0.control.destinationPort == lagging.port })
        let control = laggingReset.control
        #expect(control.sequence == 5301, "what the server was seen sending")
        #expect(laggingReset.alternativeSequence == 5001, "the client's own ACK, behind it")
        #expect(control.acknowledgment == 1011)
        #expect(control.sourceMAC == Self.ownMAC && control.destinationMAC == Frames.client.mac)
        #expect(control.source == FlowAddress(peer.ip) && control.sourcePort == peer.port)
        #expect(control.destination == FlowAddress(Frames.client.ip))

        let midstreamReset = try #require(plan.resets.first { $0.control.destinationPort == midstream.port })
        #expect(midstreamReset.control.sequence == 90_000)
        #expect(midstreamReset.alternativeSequence == nil)

        // The frame it becomes: a RST+ACK from the group address that parses back to the planned fields.
        var frame = [UInt8](repeating: 0, count: control.resetFrameLength)
        let length = try frame.withUnsafeMutableBytes { try control.writeReset(into: $0) }
        let parsed = try frame.withUnsafeBytes {
            try FrameParser.parse(UnsafeRawBufferPointer(rebasing: $0[..<length]))
        }
        guard case .tcp(let tcp) = parsed.transport else {
            Issue.record("not TCP")
            return
        }
        #expect(tcp.segment.flags == TCPFlags([.rst, .ack]))
        #expect(tcp.segment.sequence == 5301)
        #expect(parsed.ip?.source == FlowAddress(peer.ip))
    }
}
