import TakeoverCore
import Testing

/// Restarting a session record for a new connection on the same 4-tuple: what may restart it, and which side
/// the restarting SYN lands on.
@Suite("TCP tracker restarts")
struct TCPTrackerRestartTests {
    /// Found by fuzzing (fuzz/regressions/syn-rst-restarts-handshake): a SYN+RST without ACK was taken for a
    /// new connection's SYN, so it wiped a session in its handshake and left a record made of a RST alone.
    /// A receiver checks RST before SYN (RFC 9293 §3.10.7.4): it is a RST, here outside the window.
    @Test func synWithResetNeverRestartsASession() {
        let c = Conversation()
        #expect(c.server([.syn, .ack], seq: 900, ack: 101) == .created)
        #expect(c.server([.syn, .rst], seq: 2_936_946_351) == .ignored)
        #expect(c.session.key == c.key)
        #expect(c.session.reply.initialSequence == 900)
        #expect(c.session.reply.nextSequence == 901)
        #expect(!c.session.flags.contains(.reset))
        #expect(c.tracker.statistics.restarted == 0)
    }

    /// A SYN+RST inside the window still resets, as the receiver would; it does not start anything.
    @Test func synWithResetInsideTheWindowIsAReset() {
        let c = Conversation()
        c.client(.syn, seq: 100)
        c.server([.syn, .ack], seq: 900, ack: 101)
        c.client(.ack, seq: 101, ack: 901)
        #expect(c.server([.syn, .rst], seq: 901) == .updated)
        #expect(c.session.flags.contains(.reset))
        #expect(c.session.original.initialSequence == 100)
        #expect(c.tracker.statistics.restarted == 0)
    }

    /// When the former responder opens the new connection, the record turns around with it: the SYN's sender
    /// becomes the original side and its sequence lands there, not on the side it held before.
    @Test func newConnectionFromTheFormerResponderIsRecordedOnItsSide() {
        let c = Conversation()
        c.client(.syn, seq: 100)
        c.server([.syn, .ack], seq: 900, ack: 101)
        c.client(.ack, seq: 101, ack: 901)
        c.client([.fin, .ack], seq: 101, ack: 901)
        c.server([.fin, .ack], seq: 901, ack: 102)
        c.client(.ack, seq: 102, ack: 902)
        #expect(c.server(.syn, seq: 70_000) == .created)
        #expect(c.tracker.statistics.restarted == 1)
        #expect(c.session.key == c.key.reversed)
        #expect(c.session.original.initialSequence == 70_000)
        #expect(c.session.original.nextSequence == 70_001)
        #expect(c.session.state(.original) == .synSent)
        #expect(!c.session.reply.flags.contains(.sequenceKnown))
        #expect(c.session.sendNext(.reply) == nil)
    }
}
