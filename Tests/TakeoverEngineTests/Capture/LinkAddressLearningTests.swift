import TakeoverCore
import TakeoverEngine
import TakeoverLinux
import Testing

/// No root: the link-address learner over the in-memory queue, and which tracked sessions count as served by
/// a group (what TCP recovery is handed).
@Suite struct LinkAddressLearningTests {
    typealias Frames = CaptureTestFrames

    static let router = CaptureTestFrames.Endpoint(
        mac: MACAddress(0x02, 0, 0, 0, 0, 0x30), ip: IPv4Address(203, 0, 113, 7), port: 50_000)
    static let bystander = CaptureTestFrames.Endpoint(
        mac: MACAddress(0x02, 0, 0, 0, 0, 0x40), ip: IPv4Address(192, 0, 2, 99), port: 40_002)

    @Test func learnsTheMACBehindEachCorrespondentOfThePeerAndPassesEveryFrameOn() {
        let peer = Frames.peer
        let client = Frames.client
        // A remote client reached through a router: its IP behind the router's MAC.
        var remote = Self.router
        remote.ip = IPv4Address(203, 0, 113, 77)
        let frames: [[UInt8]] = [
            Frames.tcp(from: client, to: peer, sequence: 1, flags: .syn),
            Frames.tcp(from: peer, to: remote, sequence: 9, flags: .ack),
            // Not the peer's: a bystander talking to the client teaches nothing.
            Frames.tcp(from: Self.bystander, to: client, sequence: 5, flags: .ack),
            // The peer's broadcast (ARP) names no correspondent.
            Frames.arpRequest(from: peer, for: client.ip),
            // The client moved to a new MAC: the newest wins.
            Frames.tcp(
                from: CaptureTestFrames.Endpoint(
                    mac: MACAddress(0x02, 0, 0, 0, 0, 0x11), ip: client.ip, port: client.port),
                to: peer, sequence: 2, flags: .ack),
        ]
        let queue = InMemoryPacketQueue(capacity: frames.count)
        for (index, frame) in frames.enumerated() {
            queue.enqueue(frame, at: MonotonicTime(nanoseconds: UInt64(index)))
        }
        let book = LinkAddressBook(capacity: 8)
        var source = LinkAddressLearningSource(queue, peerMAC: peer.mac, book: book)
        var passed = 0
        var firstBatch: [FlowAddress: MACAddress] = [:]
        passed += source.receive(limit: 3) { _ in }
        firstBatch = book.withEntries { $0 }
        passed += source.receive(limit: 10) { _ in }
        #expect(passed == frames.count)
        #expect(firstBatch[FlowAddress(client.ip)] == client.mac, "applied when the batch ended")
        #expect(book.mac(for: FlowAddress(client.ip)) == MACAddress(0x02, 0, 0, 0, 0, 0x11))
        #expect(book.mac(for: FlowAddress(remote.ip)) == Self.router.mac)
        #expect(book.mac(for: FlowAddress(Self.bystander.ip)) == nil)
        #expect(book.count == 2)
    }

    @Test func aFullBookCountsWhatItCouldNotLearn() {
        let peer = Frames.peer
        let queue = InMemoryPacketQueue(capacity: 4)
        for last in UInt8(1)...4 {
            let sender = CaptureTestFrames.Endpoint(
                mac: MACAddress(0x02, 0, 0, 0, 1, last), ip: IPv4Address(192, 0, 2, last), port: 40_000)
            queue.enqueue(Frames.tcp(from: sender, to: peer, sequence: 1, flags: .syn), at: .zero)
        }
        let book = LinkAddressBook(capacity: 2)
        var source = LinkAddressLearningSource(queue, peerMAC: peer.mac, book: book)
        #expect(source.receive(limit: 10) { _ in } == 4)
        #expect(book.count == 2)
        #expect(book.refusedWhenFull == 2)
    }

    @Test func theServerSideIsTheGroupAddressAndTheResponderWhenTheHandshakeShowedIt() {
        let group = FlowAddress(Frames.peer.ip)
        var tracker = TCPTracker(capacity: 8)
        let client = Frames.client
        let peer = Frames.peer
        var outgoing = peer
        outgoing.port = 33_000
        var listener = client
        listener.port = 80
        var midstream = client
        midstream.port = 40_500
        let frames = [
            // A client connects to the group address (handshake seen)…
            Frames.tcp(from: client, to: peer, sequence: 100, flags: .syn),
            // …the peer opens a connection of its own to a client's port 80 (it initiates: not served)…
            Frames.tcp(from: outgoing, to: listener, sequence: 7, flags: .syn),
            // …and a session joined mid-stream, first seen from the server's side.
            Frames.tcp(from: peer, to: midstream, sequence: 900, acknowledgment: 50, flags: [.psh, .ack], payload: 10),
        ]
        for frame in frames {
            frame.withUnsafeBytes { bytes in
                guard let parsed = try? FrameParser.parse(bytes), let ip = parsed.ip,
                    case .tcp(let tcp) = parsed.transport
                else { return }
                let flow = FlowKey(
                    source: ip.source, destination: ip.destination, sourcePort: tcp.sourcePort,
                    destinationPort: tcp.destinationPort, protocolNumber: ip.protocolNumber)
                _ = tracker.track(flow, tcp.segment, at: MonotonicTime(nanoseconds: 1))
            }
        }
        var sides: [UInt16: SessionSide] = [:]
        var unserved = 0
        tracker.table.forEach { session in
            if let side = session.serverSide(among: [group]) {
                let client = session.endpointAddress(side.other)
                sides[client.port] = side
                #expect(session.endpointAddress(side).address == group)
            } else {
                unserved += 1
            }
        }
        #expect(sides == [client.port: .reply, midstream.port: .original])
        #expect(unserved == 1)
    }

    @Test func theCaptureFilterIsTheMonitorSelectionAndCompiles() throws {
        let filter = Engine.peerTrafficFilter(peerMAC: Frames.peer.mac, ownMAC: Frames.client.mac)
        try PeerCaptureFilter.validate(filter)
        #expect(filter.contains("ether dst \(Frames.peer.mac)"))
        #expect(filter.contains("not ether multicast"))
    }
}
