import Testing
import TakeoverCore
import TakeoverEngine

/// The controller's pieces that need no network: configuration checks and the recording actions' bookkeeping.
@Suite struct FailoverControllerTests {
    static let channel = HeartbeatChannel(
        name: "hub1", interface: "eth0", localAddress: IPAddress("192.0.2.1")!, peerAddress: IPAddress("192.0.2.2")!,
        port: 7400)

    @Test func invalidConfigurationsAreRefusedWithEveryReason() throws {
        let mixed = HeartbeatChannel(
            name: "mixed", interface: nil, localAddress: IPAddress("192.0.2.1")!, peerAddress: IPAddress("2001:db8::2")!,
            port: 7400)
        let configuration = FailoverControllerConfiguration(
            nodeID: 1, channels: [Self.channel, mixed], groups: [FailoverGroup(id: 1, priority: 1), FailoverGroup(id: 1, priority: 2)],
            interval: .zero, missCount: 0)
        #expect(configuration.problems.count == 4, "\(configuration.problems)")
        let key = try HMACAuthenticator(key: Array(repeating: 1, count: 32))
        #expect(throws: FailoverControllerError.invalidConfiguration(configuration.problems)) {
            try FailoverController(configuration: configuration, authenticator: key, actions: RecordingFailoverActions())
        }
        let nine = FailoverControllerConfiguration(
            nodeID: 1, channels: Array(repeating: Self.channel, count: 9), groups: [FailoverGroup(id: 1, priority: 1)])
        #expect(nine.problems == ["1 to 8 heartbeat channels are needed, not 9"])
        let fine = FailoverControllerConfiguration(nodeID: 1, channels: [Self.channel], groups: [FailoverGroup(id: 1, priority: 1)])
        #expect(fine.problems.isEmpty)
        #expect(fine.failureWindow == .milliseconds(30))
    }

    @Test func servingPeriodsOverlapOnlyWhenTheyShareAMoment() {
        typealias Period = RecordingFailoverActions.ServingPeriod
        func at(_ n: UInt64) -> MonotonicTime { MonotonicTime(nanoseconds: n) }
        let first = Period(group: 7, from: at(10), until: at(20))
        #expect(!first.overlaps(Period(group: 7, from: at(20), until: at(30))), "one ends as the other begins")
        #expect(first.overlaps(Period(group: 7, from: at(19), until: at(30))))
        #expect(first.overlaps(Period(group: 7, from: at(0), until: nil)), "still serving")
        #expect(!first.overlaps(Period(group: 7, from: at(0), until: at(10))))
    }
}
