import TakeoverCore
@testable import TakeoverEngine
import Testing

/// No root: what the AF_XDP capture's receive thread diverts to the responder's inbox, and the responder
/// answering what comes through it.
@Suite struct NeighborDiversionTests {
    typealias Frames = CaptureTestFrames

    /// `frame` with `tags` VLAN tags (802.1Q, or 802.1ad then 802.1Q) inserted after the MAC addresses.
    static func tagged(_ frame: [UInt8], tags: Int) -> [UInt8] {
        let tagBytes: [[UInt8]] = [[0x81, 0x00, 0x00, 0x0A], [0x88, 0xA8, 0x00, 0x14]]
        let inserted = (tags == 2 ? tagBytes[1] + tagBytes[0] : tags == 1 ? tagBytes[0] : [])
        return Array(frame[..<12]) + inserted + Array(frame[12...])
    }

    static func drain(_ source: inout some PacketSource) throws -> [[UInt8]] {
        var passed: [[UInt8]] = []
        _ = try source.receive(limit: 64) { passed.append(Array($0.bytes)) }
        return passed
    }

    static func inboxFrames(_ reader: FrameInboxReader) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        reader.drain { frames.append(Array($0.bytes)) }
        return frames
    }

    @Test func arpAndNeighborDiscoveryGoToTheInboxEverythingElseGoesOn() throws {
        let arp = Frames.arpRequest(from: Frames.client, for: Frames.peer.ip)
        let solicitation = TakeoverResponderTests.neighborSolicitation()
        var advertisement = solicitation
        advertisement[54] = 136  // ICMPv6 type: neighbour advertisement
        var echo = solicitation
        echo[54] = 128  // an ICMPv6 echo request is not neighbour discovery
        let tcp = Frames.tcp(from: Frames.client, to: Frames.peer, sequence: 1, flags: .syn)
        let diverted = [arp, Self.tagged(arp, tags: 1), Self.tagged(solicitation, tags: 2), solicitation, advertisement]
        let passed = [tcp, echo, Self.tagged(tcp, tags: 2), Array(arp[..<13])]  // the last: too short to say
        let queue = InMemoryPacketQueue(capacity: 16)
        for frame in [arp, tcp, Self.tagged(arp, tags: 1), echo, Self.tagged(solicitation, tags: 2)]
            + [Self.tagged(tcp, tags: 2), solicitation, advertisement, Array(arp[..<13])]
        {
            #expect(queue.enqueue(frame, at: MonotonicTime(nanoseconds: 1)))
        }
        let inbox = try FrameInbox.neighborDiscovery(capacity: 8)
        var source = try #require(NeighborDiversionSource(queue, inbox: inbox))
        #expect(NeighborDiversionSource(queue, inbox: inbox) == nil, "one writer per inbox")
        #expect(try Self.drain(&source) == passed)
        let reader = try #require(FrameInboxReader(inbox))
        #expect(FrameInboxReader(inbox) == nil, "one reader per inbox")
        #expect(try inbox.wakeUp.drain() == 1, "one wake-up for the batch")
        #expect(Self.inboxFrames(reader) == diverted)
        #expect(inbox.counters == FrameInboxCounters(delivered: 5, droppedFull: 0, droppedTooLong: 0))
    }

    /// The writer never waits for the responder: what does not fit is counted and dropped; the slots are reused
    /// in order across many wraps of the ring.
    @Test func aFullInboxAndAnOversizedFrameAreCountedNothingElseIsLost() throws {
        let inbox = try FrameInbox.neighborDiscovery(capacity: 4)
        let queue = InMemoryPacketQueue(capacity: 64)
        var source = try #require(NeighborDiversionSource(queue, inbox: inbox))
        let reader = try #require(FrameInboxReader(inbox))
        var expected: [[UInt8]] = []
        var received: [[UInt8]] = []
        for round in 0..<10 {
            // Six requests for four slots: the last two of each round are dropped.
            let frames = (0..<6).map { index in
                Frames.arpRequest(from: Frames.client, for: IPv4Address(192, 0, 2, UInt8(round * 6 + index + 1)))
            }
            for frame in frames { queue.enqueue(frame, at: MonotonicTime(nanoseconds: 1)) }
            expected += frames.prefix(4)
            _ = try Self.drain(&source)
            received += Self.inboxFrames(reader)
        }
        var long = Frames.arpRequest(from: Frames.client, for: Frames.peer.ip)
        long += [UInt8](repeating: 0, count: 256)
        queue.enqueue(long, at: MonotonicTime(nanoseconds: 1))
        _ = try Self.drain(&source)
        #expect(received == expected)
        #expect(inbox.counters == FrameInboxCounters(delivered: 40, droppedFull: 20, droppedTooLong: 1))
    }

    /// The responder answers a request that reached it only through the inbox, and says so in its status.
    @Test func theResponderAnswersWhatTheInboxBrings() throws {
        let port = ScriptedPort()
        let inbox = try FrameInbox.neighborDiscovery()
        let responder = try TakeoverResponder(
            port: port, configuration: TakeoverResponderConfiguration(mac: TakeoverResponderTests.ourMAC, announcements: .init(count: 1)),
            inbox: inbox)
        defer { responder.shutdown() }
        #expect(throws: TakeoverResponderError.inboxTaken) {
            try TakeoverResponder(port: ScriptedPort(), configuration: responder.configuration, inbox: inbox)
        }
        try responder.takeOver(addresses: [.v4(TakeoverResponderTests.owned4)])
        #expect(eventually { port.sent.count == 2 })  // the two gratuitous ARPs
        let capture = InMemoryPacketQueue(capacity: 4)
        capture.enqueue(try TakeoverResponderTests.arpRequest(for: TakeoverResponderTests.owned4), at: monotonicNow())
        var source = try #require(NeighborDiversionSource(capture, inbox: inbox))
        #expect(try Self.drain(&source).isEmpty)
        #expect(eventually { port.sent.count == 3 })
        let reply = try #require(port.sent.last.flatMap(SentFrame.init))
        #expect(reply.destination == TakeoverResponderTests.clientMAC && reply.arp?.operation == 2)
        #expect(reply.arp?.senderProtocolAddress == TakeoverResponderTests.owned4)
        #expect(eventually { responder.status.framesFromInbox == 1 && responder.status.responder.arpRepliesSent == 1 })
    }
}

/// No root: the tap `takeover capture` reads beside libpcap where the tracker reads AF_XDP.
@Suite struct CaptureTapTests {
    @Test func copiesOnlyWhileACaptureRunsOneCaptureAtATimeLongFramesCut() throws {
        let tap = try CaptureTap()
        let queue = InMemoryPacketQueue(capacity: 8, maximumFrameLength: 4096)
        var source = try #require(CaptureTapSource(queue, tap: tap))
        let short = CaptureTestFrames.arpRequest(from: CaptureTestFrames.client, for: CaptureTestFrames.peer.ip)
        let long = CaptureTestFrames.udp(from: CaptureTestFrames.client, to: CaptureTestFrames.peer, payload: 3000)
        func receive(_ frames: [[UInt8]]) throws -> Int {
            for (index, frame) in frames.enumerated() {
                queue.enqueue(frame, at: MonotonicTime(nanoseconds: UInt64(100 + index)))
            }
            var passed = 0
            _ = source.receive(limit: 8) { _ in passed += 1 }
            return passed
        }
        #expect(try receive([short]) == 1)
        #expect(tap.counters.delivered == 0 && tap.counters.droppedFull == 0, "no capture: nothing copied")

        let reader = try #require(tap.begin())
        #expect(tap.begin() == nil, "one capture at a time")
        #expect(try receive([short, long]) == 2, "every frame still goes on to the tracker")
        var copied: [(bytes: [UInt8], wireLength: Int, at: UInt64)] = []
        reader.drain { copied.append((Array($0.bytes), $0.wireLength, $0.timestamp.nanoseconds)) }
        #expect(copied.map(\.bytes) == [short, Array(long[..<2048])])
        #expect(copied.map(\.wireLength) == [short.count, long.count])
        #expect(copied.map(\.at) == [100, 101])

        // Frames copied after a capture ended are not the next capture's.
        tap.end()
        queue.enqueue(short, at: MonotonicTime(nanoseconds: 1))
        tap.armed.store(true, ordering: .relaxed)  // the receive thread saw the flag before `end`
        #expect(try receive([]) == 1)
        tap.end()
        _ = consume reader
        let next = try #require(tap.begin(), "the first capture's reader is gone")
        var stale = 0
        next.drain { _ in stale += 1 }
        #expect(stale == 0)
        #expect(try receive([long]) == 1)
        var fresh: [Int] = []
        next.drain { fresh.append($0.wireLength) }
        #expect(fresh == [long.count])
    }
}
