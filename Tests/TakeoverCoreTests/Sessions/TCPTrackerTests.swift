import Testing
import TakeoverCore

/// Drives one connection through the tracker: `client` sends along `key`, `server` along `key.reversed`.
final class Conversation {
    var tracker: TCPTracker
    let key: FlowKey
    var clock = MonotonicTime(nanoseconds: 1_000_000_000)

    init(key: FlowKey = flow(clientPort: 43210), capacity: Int = 64, timeouts: SessionTimeouts = SessionTimeouts()) {
        tracker = TCPTracker(capacity: capacity, timeouts: timeouts, seed: 42)
        self.key = key
    }

    @discardableResult
    func client(_ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0, length: UInt32 = 0, window: UInt16 = 500, options: TCPOptionsSummary = TCPOptionsSummary()) -> TrackResult {
        send(key, flags, seq: seq, ack: ack, length: length, window: window, options: options)
    }

    @discardableResult
    func server(_ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0, length: UInt32 = 0, window: UInt16 = 700, options: TCPOptionsSummary = TCPOptionsSummary()) -> TrackResult {
        send(key.reversed, flags, seq: seq, ack: ack, length: length, window: window, options: options)
    }

    func send(_ direction: FlowKey, _ flags: TCPFlags, seq: UInt32, ack: UInt32, length: UInt32, window: UInt16, options: TCPOptionsSummary) -> TrackResult {
        clock = clock + 1_000_000
        let segment = TCPSegment(sequence: seq, acknowledgment: ack, flags: flags, window: window, payloadLength: length, options: options)
        return tracker.track(direction, segment, at: clock)
    }

    var session: Session { tracker.session(for: key)! }
    func states() -> (TCPEndpointState, TCPEndpointState) { (session.state(.original), session.state(.reply)) }
}

func synOptions(mss: UInt16, scale: UInt8?, sack: Bool = true, tsval: UInt32? = nil, tsecr: UInt32 = 0) -> TCPOptionsSummary {
    var options = TCPOptionsSummary()
    options.mss = mss
    if let scale {
        options.windowScale = scale
        options.hasWindowScale = true
    }
    options.sackPermitted = sack
    if let tsval {
        options.hasTimestamp = true
        options.timestampValue = tsval
        options.timestampEcho = tsecr
    }
    return options
}

@Suite struct TCPTrackerTests {
    @Test func handshakeDataAndOrderlyClose() {
        let c = Conversation()
        let clientISN: UInt32 = 1000, serverISN: UInt32 = 5000
        #expect(c.client(.syn, seq: clientISN, window: 64240, options: synOptions(mss: 1460, scale: 7)) == .created)
        #expect(c.states() == (.synSent, .listen))
        #expect(c.server([.syn, .ack], seq: serverISN, ack: clientISN + 1, window: 65160, options: synOptions(mss: 1400, scale: 9, sack: false)) == .updated)
        #expect(c.states() == (.established, .synReceived))
        c.client(.ack, seq: clientISN + 1, ack: serverISN + 1, window: 502)
        #expect(c.states() == (.established, .established))

        var session = c.session
        #expect(session.flags == [.initiatorKnown, .handshakeSeen])
        #expect(session.key == c.key)
        #expect(session.original.initialSequence == clientISN)
        #expect(session.reply.initialSequence == serverISN)
        #expect(session.original.mss == 1460 && session.reply.mss == 1400)
        #expect(session.original.sackPermitted && !session.reply.sackPermitted)
        #expect(session.windowScalingActive)
        #expect(session.advertisedWindow(.original) == 502 << 7)
        #expect(session.advertisedWindow(.reply) == 65160)  // its latest window was in the SYN-ACK: unscaled

        c.client([.psh, .ack], seq: clientISN + 1, ack: serverISN + 1, length: 300)
        c.server(.ack, seq: serverISN + 1, ack: clientISN + 301, window: 800)
        c.server([.psh, .ack], seq: serverISN + 1, ack: clientISN + 301, length: 1200, window: 800)
        session = c.session
        #expect(session.sendNext(.original) == clientISN + 301)
        #expect(session.receiveNext(.reply) == clientISN + 301)
        #expect(session.receiveNext(.original) == serverISN + 1201)
        #expect(session.advertisedWindow(.reply) == 800 << 9)
        #expect(session.original.payloadBytes == 300 && session.reply.payloadBytes == 1200)

        // Client closes first: FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT; server CLOSE_WAIT → LAST_ACK → CLOSED.
        c.client([.fin, .ack], seq: clientISN + 301, ack: serverISN + 1201)
        #expect(c.states() == (.finWait1, .closeWait))
        c.server(.ack, seq: serverISN + 1201, ack: clientISN + 302)
        #expect(c.states() == (.finWait2, .closeWait))
        c.server([.fin, .ack], seq: serverISN + 1201, ack: clientISN + 302)
        #expect(c.states() == (.timeWait, .lastAck))
        c.client(.ack, seq: clientISN + 302, ack: serverISN + 1202)
        #expect(c.states() == (.timeWait, .closed))
        #expect(c.session.receiveNext(.original) == serverISN + 1202)
        #expect(c.session.receiveNext(.reply) == clientISN + 302)
        #expect(c.tracker.statistics.created == 1)
    }

    @Test func sequenceNumbersWrapAround() {
        let c = Conversation()
        let clientISN: UInt32 = 0xFFFF_FF00
        c.client(.syn, seq: clientISN)
        c.server([.syn, .ack], seq: 7, ack: clientISN &+ 1)
        c.client(.ack, seq: clientISN &+ 1, ack: 8)
        c.client(.ack, seq: clientISN &+ 1, ack: 8, length: 400)  // crosses 2^32
        #expect(c.session.sendNext(.original) == 0x0000_0091)
        // Retransmission of the segment before the wrap: must not pull it back to 0xFFFF_FFxx.
        c.client(.ack, seq: clientISN &+ 1, ack: 8, length: 100)
        #expect(c.session.sendNext(.original) == 0x0000_0091)
        c.server(.ack, seq: 8, ack: 0x0000_0091)
        c.server(.ack, seq: 8, ack: 0xFFFF_FFF0)  // an old, reordered ACK from before the wrap
        #expect(c.session.reply.acknowledgment == 0x0000_0091)
        #expect(c.session.receiveNext(.reply) == 0x0000_0091)
        #expect(c.states() == (.established, .established))
    }

    @Test func retransmissionAndReorderingNeverMoveBackwards() {
        let c = Conversation()
        c.client(.syn, seq: 100, options: synOptions(mss: 1460, scale: 2, tsval: 10))
        c.server([.syn, .ack], seq: 900, ack: 101, options: synOptions(mss: 1460, scale: 3, tsval: 50, tsecr: 10))
        c.client(.ack, seq: 101, ack: 901, window: 100, options: synOptions(mss: 0, scale: nil, sack: false, tsval: 11, tsecr: 50))
        // Segments 101..1101 and 1101..2101 arrive in the wrong order; then the first is retransmitted.
        c.client(.ack, seq: 1101, ack: 901, length: 1000, window: 120, options: synOptions(mss: 0, scale: nil, sack: false, tsval: 13, tsecr: 50))
        c.client(.ack, seq: 101, ack: 901, length: 1000, window: 110, options: synOptions(mss: 0, scale: nil, sack: false, tsval: 12, tsecr: 50))
        var session = c.session
        #expect(session.sendNext(.original) == 2101)
        // The reordered older segment (TSval 12) does not overwrite the newer window/timestamps (TSval 13).
        #expect(session.original.window == 120)
        #expect(session.original.timestampValue == 13)
        #expect(session.advertisedWindow(.original) == 120 << 2)
        // A retransmission sent later carries the current TSval and window: those are taken.
        c.client(.ack, seq: 101, ack: 901, length: 1000, window: 130, options: synOptions(mss: 0, scale: nil, sack: false, tsval: 20, tsecr: 50))
        session = c.session
        #expect(session.sendNext(.original) == 2101)
        #expect(session.original.window == 130 && session.original.timestampValue == 20)
        // The receiver ACKs with SACK-style holes: cumulative ACK only moves forward.
        c.server(.ack, seq: 901, ack: 101)
        c.server(.ack, seq: 901, ack: 2101)
        c.server(.ack, seq: 901, ack: 1101)
        #expect(c.session.reply.acknowledgment == 2101)
        #expect(c.session.original.payloadBytes == 3000)
    }

    @Test func sackHolePinsReceiveNextToTheCumulativeAck() {
        let c = Conversation()
        c.client(.syn, seq: 100)
        c.server([.syn, .ack], seq: 900, ack: 101)
        c.client(.ack, seq: 101, ack: 901)
        c.client(.ack, seq: 101, ack: 901, length: 1000)  // lost on the way to the server
        c.client(.ack, seq: 1101, ack: 901, length: 1000)
        var sack = TCPOptionsSummary()
        sack.sackBlockCount = 1
        sack.sackBlocks.0 = SACKBlock(left: 1101, right: 2101)
        c.server(.ack, seq: 901, ack: 101, options: sack)
        // The server holds 1101..2101 but still expects 101: its RCV.NXT is its ACK, not the client's SND.NXT.
        #expect(c.session.receiveNext(.reply) == 101)
        #expect(c.session.reply.flags.contains(.missingData))
        // The retransmission at the ACK fills the hole.
        c.client(.ack, seq: 101, ack: 901, length: 1000)
        #expect(c.session.receiveNext(.reply) == 2101)
        c.server(.ack, seq: 901, ack: 2101)
        #expect(c.session.receiveNext(.reply) == 2101)
        // A D-SACK (a block below the cumulative ACK) reports a duplicate, not a hole.
        var duplicate = TCPOptionsSummary()
        duplicate.sackBlockCount = 1
        duplicate.sackBlocks.0 = SACKBlock(left: 101, right: 1101)
        c.server(.ack, seq: 901, ack: 2101, options: duplicate)
        #expect(!c.session.reply.flags.contains(.missingData))
        #expect(c.session.receiveNext(.reply) == 2101)
    }

    @Test func resetInsideTheWindowEndsTheSession() {
        let c = Conversation()
        c.client(.syn, seq: 100)
        c.server([.syn, .ack], seq: 900, ack: 101, window: 1000)
        c.client(.ack, seq: 101, ack: 901, window: 1000)
        // Far outside the server's window (no scaling: 1000 bytes): a blind RST, ignored.
        #expect(c.client(.rst, seq: 101 + 5000) == .ignored)
        #expect(c.states() == (.established, .established))
        // In the window but not exact: acceptable to an observer (the kernel answers a challenge ACK for these,
        // RFC 5961, but an exact-sequence RST is what the kernels here send).
        #expect(c.client(.rst, seq: 101) == .updated)
        #expect(c.states() == (.reset, .reset))
        #expect(c.session.original.flags.contains(.sentRST))
        #expect(c.session.flags.contains(.reset))
    }

    @Test func resetAnsweringASYNMustAcknowledgeIt() {
        let c = Conversation()
        c.client(.syn, seq: 100)
        #expect(c.server([.rst, .ack], seq: 0, ack: 999) == .ignored)
        #expect(c.states() == (.synSent, .listen))
        #expect(c.server([.rst, .ack], seq: 0, ack: 101) == .updated)
        #expect(c.states() == (.reset, .reset))
    }

    @Test func resetForAnUnknownFlowCreatesNothing() {
        var tracker = TCPTracker(capacity: 8)
        let result = tracker.track(flow(clientPort: 1), TCPSegment(sequence: 1, acknowledgment: 0, flags: .rst, window: 0, payloadLength: 0), at: .zero)
        #expect(result == .ignored)
        #expect(tracker.count == 0)
    }

    @Test func simultaneousClose() {
        let c = Conversation()
        c.client(.syn, seq: 100)
        c.server([.syn, .ack], seq: 900, ack: 101)
        c.client(.ack, seq: 101, ack: 901)
        // Both FINs cross on the wire: neither acknowledges the other's FIN.
        c.client([.fin, .ack], seq: 101, ack: 901)
        c.server([.fin, .ack], seq: 901, ack: 101)
        #expect(c.states() == (.closing, .closing))
        c.client(.ack, seq: 102, ack: 902)
        #expect(c.states() == (.closing, .timeWait))
        c.server(.ack, seq: 902, ack: 102)
        #expect(c.states() == (.timeWait, .timeWait))
    }

    @Test func joiningMidstreamLearnsFromBothDirections() {
        let c = Conversation()
        // The first segment seen is server data; the session is oriented by it and knows no options.
        #expect(c.server([.psh, .ack], seq: 70_000, ack: 3_000, length: 50, window: 300) == .created)
        var session = c.session
        #expect(session.key == c.key.reversed)
        #expect(session.flags == .joinedMidstream)
        #expect(session.windowShift(.original) == nil)
        #expect(session.advertisedWindow(.original) == nil)
        // The client has not been seen, but its ACK position is known from... nothing yet: only the server's
        // ACK tells what the server expects.
        #expect(session.receiveNext(.original) == 3_000)
        #expect(session.receiveNext(.reply) == 70_050)
        #expect(session.sendNext(.reply) == nil)
        c.client(.ack, seq: 3_000, ack: 70_050)
        session = c.session
        #expect(session.sendNext(.reply) == 3_000)
        #expect(c.states() == (.established, .established))
    }

    @Test func synAckSeenFirstOrientsInitiatorToResponder() {
        let c = Conversation()
        #expect(c.server([.syn, .ack], seq: 900, ack: 101, options: synOptions(mss: 1200, scale: 5)) == .created)
        let session = c.session
        #expect(session.key == c.key)
        #expect(session.flags == .initiatorKnown)
        #expect(session.reply.mss == 1200)
        #expect(session.receiveNext(.reply) == 101)
        #expect(session.windowShift(.reply) == nil)  // the client's SYN (its options) was not seen
    }

    @Test func newConnectionReusingTheTupleRestartsTheRecord() {
        let c = Conversation()
        c.client(.syn, seq: 100)
        c.server([.syn, .ack], seq: 900, ack: 101)
        c.client(.ack, seq: 101, ack: 901)
        // A stray SYN with another ISN into the open connection is refused.
        #expect(c.client(.syn, seq: 77_777) == .ignored)
        #expect(c.session.original.initialSequence == 100)
        // The same SYN again is a retransmission.
        #expect(c.client(.syn, seq: 100) == .updated)
        c.client([.fin, .ack], seq: 101, ack: 901)
        c.server([.fin, .ack], seq: 901, ack: 102)
        c.client(.ack, seq: 102, ack: 902)
        #expect(c.states() == (.timeWait, .closed))
        #expect(c.client(.syn, seq: 50_000) == .created)
        #expect(c.states() == (.synSent, .listen))
        #expect(c.session.original.initialSequence == 50_000)
        #expect(c.tracker.statistics.restarted == 1)
        #expect(c.tracker.count == 1)
    }

    @Test func udpFlowsAreKeyedAndTimed() {
        var tracker = TCPTracker(capacity: 8)
        let key = flow(clientPort: 5353, protocolNumber: IPProtocolNumber.udp)
        do { let result = tracker.trackUDP(key, payloadLength: 100, at: MonotonicTime(nanoseconds: 10)); #expect(result == .created) }
        do { let result = tracker.trackUDP(key.reversed, payloadLength: 40, at: MonotonicTime(nanoseconds: 20)); #expect(result == .updated) }
        let session = tracker.session(for: key)!
        #expect(session.original.payloadBytes == 100 && session.reply.payloadBytes == 40)
        #expect(session.lastSeen == MonotonicTime(nanoseconds: 20))
        do { let result = tracker.trackUDP(flow(clientPort: 1), payloadLength: 1, at: .zero); #expect(result == .ignored) }
    }

    @Test func idleSessionsExpireByStateWithBoundedSweeps() {
        var timeouts = SessionTimeouts()
        timeouts.established = 1_000
        timeouts.transitory = 500
        timeouts.closed = 100
        timeouts.udp = 300
        var tracker = TCPTracker(capacity: 32, timeouts: timeouts, seed: 7)
        let t0 = MonotonicTime(nanoseconds: 10_000)
        func segment(_ flags: TCPFlags, _ seq: UInt32, _ ack: UInt32 = 0) -> TCPSegment {
            TCPSegment(sequence: seq, acknowledgment: ack, flags: flags, window: 100, payloadLength: 0)
        }
        let established = flow(clientPort: 1), handshaking = flow(clientPort: 2), reset = flow(clientPort: 3)
        for key in [established, reset] {
            tracker.track(key, segment(.syn, 1), at: t0)
            tracker.track(key.reversed, segment([.syn, .ack], 50, 2), at: t0)
            tracker.track(key, segment(.ack, 2, 51), at: t0)
        }
        tracker.track(handshaking, segment(.syn, 1), at: t0)
        tracker.track(reset, segment(.rst, 2), at: t0)
        tracker.trackUDP(flow(clientPort: 4, protocolNumber: IPProtocolNumber.udp), payloadLength: 1, at: t0)
        #expect(tracker.count == 4)

        func sweepAll(at offset: UInt64) -> Int {
            // 40 slots, 8 per call: five calls make one full pass.
            (0..<5).reduce(0) { sum, _ in sum + tracker.expire(now: t0 + offset, slotBudget: 8) }
        }
        #expect(sweepAll(at: 100) == 0)
        #expect(sweepAll(at: 101) == 1)  // the reset one
        #expect(tracker.session(for: reset) == nil)
        #expect(sweepAll(at: 301) == 1)  // UDP
        #expect(sweepAll(at: 501) == 1)  // the half-open one
        #expect(tracker.session(for: handshaking) == nil)
        #expect(tracker.session(for: established) != nil)
        #expect(sweepAll(at: 1_001) == 1)
        #expect(tracker.count == 0)
        #expect(tracker.statistics.expired == 4)
    }

    @Test func fullTrackerRefusesNewFlowsButKeepsTrackingOldOnes() {
        var tracker = TCPTracker(capacity: 2)
        let syn = TCPSegment(sequence: 1, acknowledgment: 0, flags: .syn, window: 1, payloadLength: 0)
        do { let result = tracker.track(flow(clientPort: 1), syn, at: .zero); #expect(result == .created) }
        do { let result = tracker.track(flow(clientPort: 2), syn, at: .zero); #expect(result == .created) }
        do { let result = tracker.track(flow(clientPort: 3), syn, at: .zero); #expect(result == .tableFull) }
        do { let result = tracker.track(flow(clientPort: 2).reversed, TCPSegment(sequence: 9, acknowledgment: 2, flags: [.syn, .ack], window: 1, payloadLength: 0), at: .zero); #expect(result == .updated) }
        #expect(tracker.statistics.tableFull == 1)
        #expect(tracker.table.refusedWhenFull == 1)
    }
}
