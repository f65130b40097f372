import Testing

@testable import TakeoverCore

/// What a rebuilt socket gets from the tracker's session and the payload store, and every reason it gets
/// nothing (the connection then falls back to a reset).
@Suite struct TCPResumePlanTests {
    /// A conversation fed to a tracker and a payload store at once, as the capture pipeline feeds them.
    struct Conversation: ~Copyable {
        static let client = FlowAddress(IPv4Address(192, 0, 2, 10))
        static let server = FlowAddress(IPv4Address(192, 0, 2, 20))
        static let toServer = FlowKey(
            source: client, destination: server, sourcePort: 40_000, destinationPort: 7000,
            protocolNumber: IPProtocolNumber.tcp)
        static let clientISN: UInt32 = 1000
        static let serverISN: UInt32 = 5000

        var tracker = TCPTracker(capacity: 16, seed: 1)
        var store: SessionPayloadStore
        var time: UInt64 = 0
        var clientNext = clientISN &+ 1
        var serverNext = serverISN &+ 1
        var clientAcknowledged = serverISN &+ 1
        var serverAcknowledged = clientISN &+ 1
        var clientTimestamp: UInt32 = 100
        var serverTimestamp: UInt32 = 90_000

        init(bytesPerDirection: Int = 1024) {
            store = SessionPayloadStore(SessionPayloadStoreConfiguration(sessionCapacity: 4, bytesPerDirection: bytesPerDirection), seed: 1)
        }

        static func options(syn: Bool, value: UInt32, echo: UInt32) -> TCPOptionsSummary {
            var options = TCPOptionsSummary()
            if syn {
                options.mss = 1460
                options.windowScale = 7
                options.hasWindowScale = true
                options.sackPermitted = true
            }
            options.hasTimestamp = true
            options.timestampValue = value
            options.timestampEcho = echo
            return options
        }

        mutating func send(
            fromClient: Bool, _ flags: TCPFlags, payload: Int = 0, sequence: UInt32? = nil, acknowledgment: UInt32? = nil
        ) {
            time += 1_000
            let key = fromClient ? Self.toServer : Self.toServer.reversed
            let first = sequence ?? (fromClient ? clientNext : serverNext)
            let ack = acknowledgment ?? (fromClient ? clientAcknowledged : serverAcknowledged)
            if fromClient { clientTimestamp += 1 } else { serverTimestamp += 1 }
            let segment = TCPSegment(
                sequence: first, acknowledgment: flags.contains(.ack) ? ack : 0, flags: flags, window: 500,
                payloadLength: UInt32(payload),
                options: Self.options(
                    syn: flags.contains(.syn), value: fromClient ? clientTimestamp : serverTimestamp,
                    echo: fromClient ? serverTimestamp : clientTimestamp))
            tracker.track(key, segment, at: MonotonicTime(nanoseconds: time))
            let bytes = SessionPayloadStoreTests.bytes(at: first, payload)
            bytes.withUnsafeBytes { store.capture(key, segment, payload: $0, at: MonotonicTime(nanoseconds: time)) }
            let end = first &+ segment.sequenceLength
            if fromClient { clientNext = SequenceNumber.max(clientNext, end) } else { serverNext = SequenceNumber.max(serverNext, end) }
        }

        mutating func handshake() {
            send(fromClient: true, .syn, sequence: Self.clientISN)
            send(fromClient: false, [.syn, .ack], sequence: Self.serverISN)
            send(fromClient: true, .ack)
        }

        /// The client's data, acknowledged by the server's next segment.
        mutating func request(_ count: Int) {
            send(fromClient: true, [.ack, .psh], payload: count)
            serverAcknowledged = clientNext
        }

        /// The server's data carrying its current acknowledgment; the client acknowledges it.
        mutating func response(_ count: Int, acknowledged: Bool = true) {
            send(fromClient: false, [.ack, .psh], payload: count)
            if acknowledged {
                clientAcknowledged = serverNext
                send(fromClient: true, .ack)
            }
        }

        var session: Session { tracker.session(for: Self.toServer)! }

        func plan() throws(TCPResumeRefusal) -> TCPResumePlan {
            try TCPResumePlan(session: session, serverSide: .reply, store: store)
        }
    }

    @Test func anEstablishedConversationGivesBothQueuesTheContextAndTheOptions() throws {
        var talk = Conversation()
        talk.handshake()
        talk.request(100)
        talk.response(300)  // carries ack 1101: the first request was received before this write
        talk.request(50)  // after the server's last write: unanswered, acknowledged (by the next segment)
        talk.response(200, acknowledged: false)  // a write after that request: the answer point moves past it
        talk.request(70)  // unanswered
        talk.send(fromClient: false, .ack)  // the server acknowledges it without writing
        let plan = try talk.plan()
        let clientData = Conversation.clientISN &+ 1
        let serverData = Conversation.serverISN &+ 1
        #expect(plan.server == Conversation.server && plan.serverPort == 7000)
        #expect(plan.client == Conversation.client && plan.clientPort == 40_000)
        // The last response (200 bytes) was never acknowledged by the client: it is the send queue.
        #expect(plan.sendUnacknowledged == serverData &+ 300 && plan.sendNext == serverData &+ 500)
        #expect(plan.sendQueue == SessionPayloadStoreTests.bytes(at: serverData &+ 300, 200))
        // The last response carried ack = 150 client bytes: the 70 after it are the receive queue.
        #expect(plan.answerPoint == clientData &+ 150)
        #expect(plan.peerAcknowledged == clientData &+ 220 && plan.receiveNext == clientData &+ 220)
        #expect(plan.receiveQueue == SessionPayloadStoreTests.bytes(at: clientData &+ 150, 70))
        // Everything before it that the store still holds is context.
        #expect(plan.contextStart == clientData && plan.context == SessionPayloadStoreTests.bytes(at: clientData, 150))
        #expect(plan.clientMSS == 1460 && plan.windowScaling && plan.clientWindowShift == 7 && plan.serverWindowShift == 7)
        #expect(plan.sack && plan.timestamps && plan.serverTimestamp == talk.serverTimestamp)
        #expect(plan.clientWindow == 500 << 7 && plan.serverWindow == 500 << 7)
    }

    @Test func clientBytesTheServerNeverAcknowledgedAreKeptWhenCaptured() throws {
        var talk = Conversation()
        talk.handshake()
        talk.request(100)
        talk.response(100)
        talk.send(fromClient: true, [.ack, .psh], payload: 40)  // the server never acknowledged these
        let plan = try talk.plan()
        let clientData = Conversation.clientISN &+ 1
        #expect(plan.peerAcknowledged == clientData &+ 100)
        #expect(plan.receiveNext == clientData &+ 140)
        #expect(plan.receiveQueue.count == 40)
    }

    @Test func aConnectionJoinedMidstreamIsRefused() {
        var talk = Conversation()
        talk.send(fromClient: true, [.ack, .psh], payload: 10)
        talk.send(fromClient: false, .ack, acknowledgment: talk.clientNext)
        #expect(throws: TCPResumeRefusal.handshakeNotSeen) { try talk.plan() }
    }

    @Test func aClosingConnectionIsRefused() {
        var talk = Conversation()
        talk.handshake()
        talk.send(fromClient: true, [.fin, .ack])
        #expect(throws: TCPResumeRefusal.notEstablished) { try talk.plan() }
    }

    @Test func unacknowledgedServerBytesBeyondTheBufferAreRefused() {
        var talk = Conversation(bytesPerDirection: 256)
        talk.handshake()
        talk.request(10)
        talk.response(300, acknowledged: false)  // 300 unacknowledged bytes, 256 kept
        #expect(throws: TCPResumeRefusal.sendQueueNotCaptured) { try talk.plan() }
        // Once the client acknowledges most of them, what is left fits again.
        talk.send(fromClient: true, .ack, acknowledgment: talk.serverNext &- 100)
        #expect((try? talk.plan())?.sendQueue.count == 100)
    }

    @Test func unansweredClientBytesBeyondTheBufferAreRefused() {
        var talk = Conversation(bytesPerDirection: 256)
        talk.handshake()
        talk.request(10)
        talk.response(10)
        for _ in 0..<3 { talk.request(100) }  // 300 bytes after the server's last write
        talk.send(fromClient: false, .ack)
        #expect(throws: TCPResumeRefusal.receiveQueueNotCaptured) { try talk.plan() }
    }

    @Test func aServerWriteTheStoreNeverSawLeavesTheAnswerPointUnknown() {
        var talk = Conversation()
        talk.handshake()
        talk.request(10)
        talk.response(10)
        // The store restarts (a new process, an eviction): the tracker knows the server wrote, the store not when.
        talk.store = SessionPayloadStore(SessionPayloadStoreConfiguration(sessionCapacity: 4, bytesPerDirection: 1024), seed: 2)
        talk.request(10)
        talk.send(fromClient: false, .ack)
        #expect(throws: TCPResumeRefusal.answerPointUnknown) { try talk.plan() }
    }

    @Test func aServerThatNeverWroteHasAnsweredNothing() throws {
        var talk = Conversation()
        talk.handshake()
        talk.request(30)
        talk.send(fromClient: false, .ack)
        let plan = try talk.plan()
        #expect(plan.answerPoint == Conversation.clientISN &+ 1)
        #expect(plan.receiveQueue.count == 30 && plan.context.isEmpty && plan.sendQueue.isEmpty)
    }

    @Test func refusalsAreCountedByReason() {
        var counts = TCPResumeRefusalCounts()
        counts[.handshakeNotSeen] += 2
        counts[.sendQueueNotCaptured] += 1
        #expect(counts[.handshakeNotSeen] == 2 && counts[.receiveQueueNotCaptured] == 0 && counts.total == 3)
    }
}
