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

    /// The authenticator reuses one keyed HMAC state for every message: using it must never change it.
    @Test func theKeyedAuthenticatorGivesTheSameTagsAsAFreshOneInAnyOrder() throws {
        let key = Array(0..<32 as Range<UInt8>)
        let reused = try HMACAuthenticator(key: key)
        let messages = (0..<5).map { index in [UInt8](repeating: UInt8(index), count: 48) }
        func tag(_ authenticator: HMACAuthenticator, _ message: [UInt8]) -> [UInt8] {
            var tag = [UInt8](repeating: 0, count: 32)
            message.withUnsafeBytes { m in tag.withUnsafeMutableBytes { authenticator.writeTag(over: m, into: $0) } }
            return tag
        }
        for message in messages + messages.reversed() {
            let expected = tag(try HMACAuthenticator(key: key), message)
            #expect(tag(reused, message) == expected)
            let valid = message.withUnsafeBytes { m in expected.withUnsafeBytes { reused.isValidTag($0, over: m) } }
            #expect(valid)
        }
        let wrong = messages[0].withUnsafeBytes { m in tag(reused, messages[1]).withUnsafeBytes { reused.isValidTag($0, over: m) } }
        #expect(!wrong)
    }
}
