import TakeoverCore
import Testing

@Suite struct UnansweredRequestCounterTests {
    static func ms(_ value: Double) -> MonotonicTime { MonotonicTime(nanoseconds: UInt64(value * 1_000_000)) }
    static let rule = UnansweredRequestRule(window: 8_000_000, minimumFrames: 2, missedIntervals: 1)

    /// `frameToPeer` outside `#expect` (which cannot hold a mutating call).
    func counts(_ counter: inout UnansweredRequestCounter, _ time: MonotonicTime) -> Bool { counter.frameToPeer(at: time) }

    @Test func countsClientFramesAfterThePeersLastFrameWithinTheWindow() {
        var counter = UnansweredRequestCounter(rule: Self.rule)
        // No peer frame seen yet: this standby may not see the peer's traffic at all, so nothing counts.
        #expect(!counts(&counter, Self.ms(1)))
        #expect(!counts(&counter, Self.ms(2)))
        #expect(counter.evidence == nil)
        counter.frameFromPeer(at: Self.ms(3))
        #expect(!counts(&counter, Self.ms(4)))
        #expect(counts(&counter, Self.ms(5)), "the second frame is the evidence")
        #expect(counter.evidence == Self.ms(5))
        #expect(!counts(&counter, Self.ms(6)), "later frames do not move it")
        #expect(counter.evidence == Self.ms(5))
        // The peer answers: a new run, the old evidence is gone.
        counter.frameFromPeer(at: Self.ms(7))
        #expect(counter.evidence == nil)
        // A frame stamped before the run's start (another queue) does not end the run.
        #expect(!counts(&counter, Self.ms(8)))
        counter.frameFromPeer(at: Self.ms(6.5))
        #expect(counts(&counter, Self.ms(9)))
        #expect(counter.evidence == Self.ms(9))
    }

    @Test func framesLaterThanTheWindowAfterThePeersFrameAreNotEvidence() {
        var counter = UnansweredRequestCounter(rule: Self.rule)
        counter.frameFromPeer(at: Self.ms(10))
        #expect(!counts(&counter, Self.ms(17)))
        // 8 ms after the peer's frame is still inside; 8 ms + 1 µs is not.
        #expect(!counts(&counter, Self.ms(18.001)))
        #expect(counter.evidence == nil)
        #expect(counts(&counter, Self.ms(18)))
    }
}

@Suite struct UnansweredRequestRuleTests {
    static func ms(_ value: Double) -> MonotonicTime { MonotonicTime(nanoseconds: UInt64((value * 1_000_000).rounded())) }
    static let justAfter10 = MonotonicTime(nanoseconds: 10_000_001)

    struct Row: CustomTestStringConvertible, Sendable {
        enum Event: Sendable {
            case heartbeat(channel: Int, at: MonotonicTime)
            case peerFrame(at: MonotonicTime)
            case evidence(at: MonotonicTime)
            /// A look; the rule expected to decide (nil: alive), and the next deadline afterwards (nil: none).
            case look(at: MonotonicTime, decides: FailureDetector.Rule?, next: MonotonicTime?)
        }
        var name: String
        var usesPeerTraffic = false
        var events: [Event]
        var testDescription: String { name }
    }

    /// 10 ms × 3 on two channels; W = 8 ms, N = 2, one missed interval. Both channels heard at 0.
    static func detector(usesPeerTraffic: Bool) -> FailureDetector {
        FailureDetector(
            configuration: .init(
                channelCount: 2, interval: 10_000_000, missCount: 3, usesPeerTraffic: usesPeerTraffic,
                unansweredRequests: UnansweredRequestRule(window: 8_000_000, minimumFrames: 2, missedIntervals: 1)),
            start: .zero)
    }

    static let rows: [Row] = [
        Row(name: "fires: both channels missed one interval, two client frames unanswered, the peer silent for 8 ms",
            events: [
                .peerFrame(at: ms(2)), .evidence(at: ms(5)),
                .look(at: ms(5), decides: nil, next: justAfter10),
                .look(at: ms(10), decides: nil, next: justAfter10),
                .look(at: justAfter10, decides: .unansweredRequests(frames: 2, peerSilence: 8_000_001), next: nil),
            ]),
        Row(name: "waits for the heartbeat point when the peer's silence is over first",
            events: [
                .peerFrame(at: ms(0.5)), .evidence(at: ms(1)),
                .look(at: ms(9), decides: nil, next: justAfter10),
                .look(at: justAfter10, decides: .unansweredRequests(frames: 2, peerSilence: 9_500_001), next: nil),
            ]),
        Row(name: "does not fire while one channel is alive (and the miss count never runs out)",
            events: [
                .peerFrame(at: ms(2)), .evidence(at: ms(5)),
                .heartbeat(channel: 1, at: ms(9)),
                .look(at: justAfter10, decides: nil, next: MonotonicTime(nanoseconds: 19_000_001)),
                .heartbeat(channel: 1, at: ms(19)),
                .look(at: ms(20), decides: nil, next: MonotonicTime(nanoseconds: 29_000_001)),
                .heartbeat(channel: 1, at: ms(29)),
                .look(at: ms(30.5), decides: nil, next: MonotonicTime(nanoseconds: 39_000_001)),
            ]),
        Row(name: "does not fire without client frames: the miss count decides at 30 ms",
            events: [
                .peerFrame(at: ms(2)),
                .look(at: ms(5), decides: nil, next: justAfter10),
                .look(at: justAfter10, decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: ms(20), decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: MonotonicTime(nanoseconds: 30_000_001), decides: .missedHeartbeats(count: 3), next: nil),
            ]),
        Row(name: "does not fire when the peer answered after the requests",
            events: [
                .peerFrame(at: ms(2)), .evidence(at: ms(5)), .peerFrame(at: ms(6)),
                .look(at: justAfter10, decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: ms(20), decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: MonotonicTime(nanoseconds: 30_000_001), decides: .missedHeartbeats(count: 3), next: nil),
            ]),
        Row(name: "is off while no frame from the peer was ever seen (no hub or mirror): whatever clients send",
            events: [
                .evidence(at: ms(5)),
                .look(at: justAfter10, decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: ms(20), decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: MonotonicTime(nanoseconds: 30_000_001), decides: .missedHeartbeats(count: 3), next: nil),
            ]),
        Row(name: "evidence further than W after the peer's last frame is not the peer's silence",
            events: [
                .peerFrame(at: ms(2)), .evidence(at: ms(10.5)),
                .look(at: ms(12), decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: ms(21), decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: MonotonicTime(nanoseconds: 30_000_001), decides: .missedHeartbeats(count: 3), next: nil),
            ]),
        Row(name: "does not fire at the look that ends our own 25 ms stall: the stall moves the silence and the evidence",
            events: [
                .peerFrame(at: ms(2)), .evidence(at: ms(5)),
                .look(at: ms(0.1), decides: nil, next: justAfter10),
                // 24.9 ms without a look: 14.9 ms excused (heartbeats as heard at 14.9, the peer's frame at 16.9,
                // the evidence at 19.9), and the rule's silences count again from 25: one more interval.
                .look(at: ms(25), decides: nil, next: MonotonicTime(nanoseconds: 35_000_001)),
                .look(at: MonotonicTime(nanoseconds: 35_000_001), decides: .unansweredRequests(frames: 2, peerSilence: 18_100_001), next: nil),
            ]),
        Row(name: "with peer traffic counting as life, the rule still fires on the peer's silence",
            usesPeerTraffic: true,
            events: [
                .peerFrame(at: ms(2)), .evidence(at: ms(5)),
                .look(at: ms(5), decides: nil, next: justAfter10),
                .look(at: justAfter10, decides: .unansweredRequests(frames: 2, peerSilence: 8_000_001), next: nil),
            ]),
        Row(name: "a heartbeat after the failure gives a deadline again at once",
            events: [
                .look(at: ms(10), decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: ms(20), decides: nil, next: MonotonicTime(nanoseconds: 30_000_001)),
                .look(at: MonotonicTime(nanoseconds: 30_000_001), decides: .missedHeartbeats(count: 3), next: nil),
                .look(at: ms(40), decides: .missedHeartbeats(count: 3), next: nil),
                .heartbeat(channel: 0, at: ms(100)),
                .look(at: ms(100), decides: nil, next: MonotonicTime(nanoseconds: 130_000_001)),
            ]),
    ]

    @Test(arguments: rows) func decides(_ row: Row) {
        var detector = Self.detector(usesPeerTraffic: row.usesPeerTraffic)
        for event in row.events {
            switch event {
            case .heartbeat(let channel, let time): detector.heartbeatReceived(onChannel: channel, at: time)
            case .peerFrame(let time): detector.peerTrafficSeen(at: time)
            case .evidence(let time): detector.unansweredRequestsSeen(at: time)
            case .look(let time, let decides, let next):
                let verdict = detector.tick(at: time)
                #expect(verdict.rule == decides, "at \(time.nanoseconds) ns")
                #expect(verdict.peerFailed == (decides != nil), "at \(time.nanoseconds) ns")
                #expect(detector.nextDeadline(after: time) == next, "after \(time.nanoseconds) ns")
            }
        }
    }

    @Test func awaitsEvidenceOnlyOnceEveryChannelMissedAnInterval() {
        var detector = Self.detector(usesPeerTraffic: false)
        detector.peerTrafficSeen(at: Self.ms(2))
        _ = detector.tick(at: Self.ms(5))
        #expect(!detector.awaitsUnansweredEvidence(at: Self.ms(5)))
        _ = detector.tick(at: Self.justAfter10)
        #expect(detector.awaitsUnansweredEvidence(at: Self.justAfter10), "both channels missed one interval, no evidence")
        // The capture's report arrives late (its frames are within W of the peer's last one): a look at once fires.
        detector.unansweredRequestsSeen(at: Self.ms(6))
        #expect(!detector.awaitsUnansweredEvidence(at: Self.ms(10.5)))
        #expect(detector.nextDeadline(after: Self.ms(10.5)) == Self.justAfter10, "already due")
        let verdict = detector.tick(at: Self.ms(10.5))
        #expect(verdict.rule == .unansweredRequests(frames: 2, peerSilence: 8_500_000))
    }

    @Test func isOffWithoutTheRule() {
        var detector = FailureDetector(
            configuration: .init(channelCount: 2, interval: 10_000_000, missCount: 3, usesPeerTraffic: false), start: .zero)
        detector.peerTrafficSeen(at: Self.ms(2))
        detector.unansweredRequestsSeen(at: Self.ms(5))
        _ = detector.tick(at: Self.ms(10))
        let verdict = detector.tick(at: Self.ms(20))
        #expect(!verdict.peerFailed)
        #expect(detector.nextDeadline(after: Self.ms(20)) == MonotonicTime(nanoseconds: 30_000_001))
        #expect(!detector.awaitsUnansweredEvidence(at: Self.ms(20)))
    }
}

@Suite struct DeadlineTimerTests {
    static func ms(_ value: UInt64) -> MonotonicTime { MonotonicTime(nanoseconds: value * 1_000_000) }

    struct Step: Sendable {
        var deadline: MonotonicTime?
        var now: MonotonicTime
        var fired = false
        var expected: DeadlineTimer.Action
    }

    static let steps: [(String, [Step])] = [
        ("a first deadline is armed; a later one keeps the earlier arming (it fires early and plans again)", [
            Step(deadline: ms(30), now: ms(0), expected: .arm(ms(30))),
            Step(deadline: ms(35), now: ms(5), expected: .keep),
            Step(deadline: ms(35), now: ms(30), fired: true, expected: .arm(ms(35))),
        ]),
        ("an earlier deadline (the unanswered rule's) is armed at once, not at the next tick", [
            Step(deadline: ms(30), now: ms(0), expected: .arm(ms(30))),
            Step(deadline: ms(12), now: ms(6), expected: .arm(ms(12))),
            Step(deadline: ms(12), now: ms(7), expected: .keep),
        ]),
        ("after a long silence (no deadline while failed) the first heartbeat's deadline is armed at once", [
            Step(deadline: ms(30), now: ms(0), expected: .arm(ms(30))),
            Step(deadline: nil, now: ms(30), fired: true, expected: .keep),
            Step(deadline: nil, now: ms(40), expected: .keep),
            Step(deadline: ms(530), now: ms(500), expected: .arm(ms(530))),
        ]),
        ("a deadline already due is judged now, and disarms the plan", [
            Step(deadline: ms(30), now: ms(0), expected: .arm(ms(30))),
            Step(deadline: ms(10), now: ms(11), expected: .judgeNow),
            Step(deadline: ms(40), now: ms(12), expected: .arm(ms(40))),
        ]),
    ]

    @Test(arguments: 0..<steps.count) func plans(_ index: Int) {
        let (name, steps) = Self.steps[index]
        var timer = DeadlineTimer()
        for (number, step) in steps.enumerated() {
            if step.fired { timer.fired() }
            let action = timer.plan(deadline: step.deadline, now: step.now)
            #expect(action == step.expected, "\(name), step \(number)")
        }
    }
}
