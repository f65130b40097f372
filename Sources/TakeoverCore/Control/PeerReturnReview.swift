/// What the peer's first heartbeat after we judged it failed says about that judgement. Pure.
///
/// A peer that is heard again in the same incarnation did not restart, so its heartbeats across our silence tell what
/// the silence was. The two heartbeats are the newest accepted before the decision and the first accepted after it;
/// their send times are on the peer's clock and their receive times on ours, so only differences within one clock are
/// compared (no clock offset is assumed):
/// - the peer's send spacing across the silence — within the window, it sent in time and the datagrams came late;
/// - the datagrams it numbered between them — several per interval, it sent and they were lost; hardly any, it sent
///   nothing (its own stall);
/// - how much later than the fastest delivery seen on that channel the returning heartbeat arrived (receive − send,
///   minus the smallest receive − send; a constant clock offset cancels).
public struct PeerReturnReview: Hashable, Sendable {
    /// One accepted heartbeat: our receive time, the peer's send time and sequence (per group).
    public struct Heartbeat: Hashable, Sendable {
        public var received: MonotonicTime
        public var sent: UInt64
        public var sequence: UInt64
        public var group: UInt16
        public var incarnation: UInt64
        public var channel: Int

        public init(received: MonotonicTime, sent: UInt64, sequence: UInt64, group: UInt16, incarnation: UInt64, channel: Int) {
            self.received = received
            self.sent = sent
            self.sequence = sequence
            self.group = group
            self.incarnation = incarnation
            self.channel = channel
        }

        /// Receive time minus send time, wrapping: meaningful only against another heartbeat's.
        public var transit: UInt64 { received.nanoseconds &- sent }
    }

    public enum Finding: Hashable, Sendable {
        /// The peer sent its next heartbeat within the window; it arrived after we had decided.
        case heartbeatsDelayed
        /// The peer kept sending but none of it arrived for longer than the window (loss on every channel).
        case heartbeatsLost
        /// The peer sent nothing for longer than the window: its own stall (scheduler, SIGSTOP, a paused VM).
        case peerStalled
    }

    public var finding: Finding
    /// From our decision to the returning heartbeat (ns).
    public var heardAfter: UInt64
    /// The peer's send times of the last heartbeat before and the first after (ns, its clock).
    public var peerSendGap: UInt64
    /// Datagrams the peer numbered between them, for their group (every channel's); nil when the two are of
    /// different groups.
    public var unheard: UInt64?
    /// How much later than the fastest delivery seen on its channel the returning heartbeat arrived (ns).
    public var deliveryExcess: UInt64

    /// nil when the peer restarted (another incarnation): then the judgement was right.
    /// - Parameters:
    ///   - fastestTransit: the smallest `transit` seen on the returning heartbeat's channel, itself included.
    ///   - window: the detector's window (interval × miss count); `channelCount` heartbeats go out per interval.
    public init?(
        before: Heartbeat, after: Heartbeat, decidedAt decision: MonotonicTime, fastestTransit: UInt64,
        window: UInt64, channelCount: Int
    ) {
        guard before.incarnation == after.incarnation else { return nil }
        heardAfter = after.received.nanoseconds(since: decision)
        peerSendGap = after.sent >= before.sent ? after.sent - before.sent : 0
        unheard = before.group == after.group && after.sequence > before.sequence ? after.sequence - before.sequence - 1 : nil
        deliveryExcess = after.transit &- fastestTransit
        if deliveryExcess > 1 << 62 { deliveryExcess = 0 }  // a faster delivery than the fastest: no excess
        if peerSendGap <= window {
            finding = .heartbeatsDelayed
        } else if let unheard, unheard < UInt64(channelCount) {
            // Fewer than one interval's datagrams between them: nothing went out during the gap.
            finding = .peerStalled
        } else {
            finding = .heartbeatsLost
        }
    }
}

extension PeerReturnReview: CustomStringConvertible {
    /// "heard again 0.42 ms after it was judged failed: its heartbeats went out in time (1.00 ms apart across our
    /// silence) and arrived late (4.21 ms slower than the fastest delivery seen)".
    public var description: String {
        let cause =
            switch finding {
            case .heartbeatsDelayed:
                "its heartbeats went out in time (\(Milliseconds(peerSendGap)) ms apart across our silence) and arrived "
                    + "late (\(Milliseconds(deliveryExcess)) ms slower than the fastest delivery seen): a delay on the way "
                    + "or in this host's receive path, not a failure of the peer"
            case .heartbeatsLost:
                "\(unheard.map { "\($0) of its heartbeats" } ?? "its heartbeats") sent in \(Milliseconds(peerSendGap)) ms "
                    + "never arrived: lost on every channel"
            case .peerStalled:
                "it sent nothing for \(Milliseconds(peerSendGap)) ms: the peer itself stalled"
            }
        return "heard again \(Milliseconds(heardAfter)) ms after it was judged failed: \(cause)"
    }
}

/// Nanoseconds printed as milliseconds with two decimals ("4.21").
public struct Milliseconds: CustomStringConvertible, Sendable {
    public var nanoseconds: UInt64

    public init(_ nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public var description: String {
        let hundredths = (nanoseconds + 5_000) / 10_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
