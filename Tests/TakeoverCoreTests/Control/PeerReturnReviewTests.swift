import TakeoverCore
import Testing

@Suite struct PeerReturnReviewTests {
    typealias Heartbeat = PeerReturnReview.Heartbeat

    static let ms: UInt64 = 1_000_000
    /// 1 ms interval, miss count 3, two channels: the peer numbers two datagrams per interval.
    static let window = 3 * ms
    /// The peer's monotonic clock runs 7 s ahead of ours: only differences within one clock may matter.
    static let offset: UInt64 = 7_000 * ms

    /// A heartbeat the peer sent at `sent` ms (its clock minus the offset) that we received at `received` ms.
    static func heartbeat(
        sent: Double, received: Double, sequence: UInt64, group: UInt16 = 1, incarnation: UInt64 = 5, channel: Int = 0
    ) -> Heartbeat {
        Heartbeat(
            received: MonotonicTime(nanoseconds: UInt64(received * 1e6)), sent: UInt64(sent * 1e6) + offset,
            sequence: sequence, group: group, incarnation: incarnation, channel: channel)
    }

    /// Before: sent at 100 ms, received 0.05 ms later (the fastest delivery seen); we decided at 103.06 ms.
    static let before = heartbeat(sent: 100, received: 100.05, sequence: 200, channel: 1)
    static let decision = MonotonicTime(nanoseconds: 103_060_000)
    static let fastest = before.transit

    static func review(_ after: Heartbeat, fastest: UInt64 = fastest) -> PeerReturnReview? {
        PeerReturnReview(
            before: before, after: after, decidedAt: decision, fastestTransit: min(fastest, after.transit),
            window: window, channelCount: 2)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var after: Heartbeat
        var finding: PeerReturnReview.Finding
        var heardAfter: Double
        var sendGap: Double
        var unheard: UInt64?
        var excess: Double
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // The very next heartbeat, sent 1 ms later, held 4.2 ms somewhere: on time, delivered late.
        Case(name: "delayed", after: heartbeat(sent: 101, received: 105.25, sequence: 201), finding: .heartbeatsDelayed,
             heardAfter: 2.19, sendGap: 1, unheard: 0, excess: 4.2),
        // Sent exactly one window after: still the peer's own schedule, so delayed, not stalled.
        Case(name: "delayed at the window", after: heartbeat(sent: 103, received: 104.0, sequence: 206),
             finding: .heartbeatsDelayed, heardAfter: 0.94, sendGap: 3, unheard: 5, excess: 0.95),
        // 50 ms of its heartbeats (2 per ms) never arrived: a cut that healed.
        Case(name: "lost", after: heartbeat(sent: 150, received: 150.05, sequence: 300), finding: .heartbeatsLost,
             heardAfter: 46.99, sendGap: 50, unheard: 99, excess: 0),
        // Sent 20 ms later with the next number: the peer sent nothing in between.
        Case(name: "stalled", after: heartbeat(sent: 120, received: 120.06, sequence: 201), finding: .peerStalled,
             heardAfter: 17.0, sendGap: 20, unheard: 0, excess: 0.01),
        // Another group's numbering says nothing of the loss: a wide gap without it counts as lost.
        Case(name: "other group", after: heartbeat(sent: 120, received: 120.05, sequence: 3, group: 2),
             finding: .heartbeatsLost, heardAfter: 16.99, sendGap: 20, unheard: nil, excess: 0),
        // Faster than the fastest seen before: no excess (never a wrapped huge number).
        Case(name: "faster", after: heartbeat(sent: 101, received: 101.02, sequence: 201), finding: .heartbeatsDelayed,
             heardAfter: 0, sendGap: 1, unheard: 0, excess: 0),
    ]

    @Test(arguments: cases) func findsWhatTheSilenceWas(_ example: Case) throws {
        let review = try #require(Self.review(example.after))
        #expect(review.finding == example.finding)
        #expect(Self.close(review.heardAfter, example.heardAfter), "heard after \(review.heardAfter)")
        #expect(Self.close(review.peerSendGap, example.sendGap), "send gap \(review.peerSendGap)")
        #expect(review.unheard == example.unheard)
        #expect(Self.close(review.deliveryExcess, example.excess), "excess \(review.deliveryExcess)")
    }

    @Test func aRestartedPeerIsNotReviewed() {
        #expect(Self.review(Self.heartbeat(sent: 101, received: 101.05, sequence: 1, incarnation: 6)) == nil)
    }

    @Test func theFastestDeliveryCancelsAClockBehindOurs() throws {
        // The peer's clock behind ours: receive − send wraps, and the excess is still the extra delay.
        let behind: UInt64 = 3_000 * Self.ms
        let before = Heartbeat(received: MonotonicTime(nanoseconds: behind + 100 * Self.ms), sent: 99_990_000, sequence: 10,
                               group: 1, incarnation: 1, channel: 0)
        let after = Heartbeat(received: MonotonicTime(nanoseconds: behind + 106 * Self.ms), sent: 100_990_000, sequence: 11,
                              group: 1, incarnation: 1, channel: 0)
        let review = try #require(
            PeerReturnReview(
                before: before, after: after, decidedAt: MonotonicTime(nanoseconds: behind + 103 * Self.ms),
                fastestTransit: before.transit, window: Self.window, channelCount: 2))
        #expect(review.finding == .heartbeatsDelayed)
        #expect(review.deliveryExcess == 5 * Self.ms)
        #expect(review.heardAfter == 3 * Self.ms)
    }

    @Test func describesTheFindingInOneLine() throws {
        let delayed = try #require(Self.review(Self.heartbeat(sent: 101, received: 105.25, sequence: 201)))
        #expect(
            delayed.description
                == "heard again 2.19 ms after it was judged failed: its heartbeats went out in time (1.00 ms apart across "
                + "our silence) and arrived late (4.20 ms slower than the fastest delivery seen): a delay on the way or in "
                + "this host's receive path, not a failure of the peer")
        let stalled = try #require(Self.review(Self.heartbeat(sent: 120, received: 120.06, sequence: 201)))
        #expect(stalled.description == "heard again 17.00 ms after it was judged failed: it sent nothing for 20.00 ms: the peer itself stalled")
        let lost = try #require(Self.review(Self.heartbeat(sent: 150, received: 150.05, sequence: 300)))
        #expect(lost.description.hasSuffix("99 of its heartbeats sent in 50.00 ms never arrived: lost on every channel"))
        #expect(Milliseconds(4_995_000).description == "5.00" && Milliseconds(40_000).description == "0.04")
    }

    static func close(_ nanoseconds: UInt64, _ milliseconds: Double) -> Bool {
        abs(Double(nanoseconds) / 1e6 - milliseconds) < 0.001
    }
}
