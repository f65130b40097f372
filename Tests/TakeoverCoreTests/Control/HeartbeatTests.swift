import Testing
import TakeoverCore

/// A keyed test authenticator (FNV-1a over key + message, each tag byte through the splitmix64 finalizer). It
/// is not cryptographic; it lets the codec and receiver tests run without the crypto library, and a wrong key
/// or any changed bit really fails.
struct KeyedTestAuthenticator: MessageAuthenticator {
    var key: UInt64

    func tag(_ message: UnsafeRawBufferPointer) -> [UInt8] {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ key
        for byte in message { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return (0..<32).map { index in
            var z = hash &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1)
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }

    func writeTag(over message: UnsafeRawBufferPointer, into tag: UnsafeMutableRawBufferPointer) {
        for (index, byte) in self.tag(message).enumerated() { tag[index] = byte }
    }

    func isValidTag(_ tag: UnsafeRawBufferPointer, over message: UnsafeRawBufferPointer) -> Bool {
        zip(self.tag(message), tag).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

@Suite struct HeartbeatTests {
    static let key = KeyedTestAuthenticator(key: 0x5EC2E7)
    static let sample = HeartbeatMessage(
        flags: [.ready, .manual], group: 7, channel: 1, priority: 200, state: .standby, nodeID: 0xA1B2_C3D4,
        incarnation: 1_700_000_000_000_000_000, sequence: 42, sendTime: 123_456_789)

    static func encode(_ message: HeartbeatMessage, with key: KeyedTestAuthenticator = key) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xEE, count: HeartbeatMessage.length)
        let written = bytes.withUnsafeMutableBytes { try! message.encode(into: $0, authenticator: key) }
        precondition(written == HeartbeatMessage.length)
        return bytes
    }

    @Test func layoutMatchesTheDocumentedOffsets() {
        let bytes = Self.encode(Self.sample)
        #expect(bytes.count == 80)
        #expect(Array(bytes[0..<4]) == Array("TKHB".utf8))
        #expect(bytes[4] == 1 && bytes[5] == 1)
        #expect(Array(bytes[6..<8]) == [0, 0b1010], "ready | manual")
        #expect(Array(bytes[8..<10]) == [0, 7])
        #expect(bytes[10] == 1 && bytes[11] == 200 && bytes[12] == 1)
        #expect(Array(bytes[13..<16]) == [0, 0, 0])
        #expect(Array(bytes[16..<20]) == [0xA1, 0xB2, 0xC3, 0xD4])
        #expect(Array(bytes[32..<40]) == [0, 0, 0, 0, 0, 0, 0, 42])
    }

    @Test func roundTrips() throws {
        let bytes = Self.encode(Self.sample)
        let decoded = try bytes.withUnsafeBytes { try HeartbeatMessage(decoding: $0, authenticator: Self.key) }
        #expect(decoded == Self.sample)
    }

    @Test func everySingleBitFlipIsRejected() {
        let bytes = Self.encode(Self.sample)
        for bit in 0..<(bytes.count * 8) {
            var damaged = bytes
            damaged[bit / 8] ^= 1 << (bit % 8)
            let result = damaged.withUnsafeBytes { raw in
                Result { () throws(HeartbeatError) in try HeartbeatMessage(decoding: raw, authenticator: Self.key) }
            }
            #expect(throws: HeartbeatError.self, "bit \(bit)") { try result.get() }
        }
    }

    @Test func wrongKeyLengthAndMagicHaveTheirOwnReasons() {
        let bytes = Self.encode(Self.sample)
        #expect(throws: HeartbeatError.badTag) {
            try bytes.withUnsafeBytes { try HeartbeatMessage(decoding: $0, authenticator: KeyedTestAuthenticator(key: 1)) }
        }
        #expect(throws: HeartbeatError.wrongLength(79)) {
            try bytes.dropLast().withUnsafeBytes { try HeartbeatMessage(decoding: $0, authenticator: Self.key) }
        }
        var badMagic = bytes
        badMagic[0] = 0
        #expect(throws: HeartbeatError.badMagic) {
            try badMagic.withUnsafeBytes { try HeartbeatMessage(decoding: $0, authenticator: Self.key) }
        }
    }

    @Test func replayWindowAcceptsEachNumberOnce() {
        var window = ReplayWindow()
        // (sequence, accepted): late within the window is fine once; 64 or more below the highest is not.
        let table: [(UInt64, Bool)] = [
            (100, true), (100, false), (98, true), (98, false), (163, true), (99, false), (100 + 64 + 63, true),
            (1_000_000, true), (5, false),
        ]
        let results = table.map { window.accept($0.0) }
        #expect(results == table.map(\.1))
    }

    @Test func receiverCountsEveryRejectionByReason() throws {
        var receiver = HeartbeatReceiver(localNodeID: 9, groups: [7], authenticator: Self.key)
        func receive(_ message: HeartbeatMessage, channel: UInt8 = 1, key: KeyedTestAuthenticator = Self.key) -> Result<HeartbeatMessage, HeartbeatError> {
            Self.encode(message, with: key).withUnsafeBytes { receiver.receive($0, onChannel: channel) }
        }
        let first = receive(Self.sample)
        let again = receive(Self.sample)
        let forged = receive(Self.sample, key: KeyedTestAuthenticator(key: 2))
        let otherChannel = receive(Self.sample, channel: 0)
        #expect(try first.get() == Self.sample)
        #expect(again == .failure(.replayed))
        #expect(forged == .failure(.badTag))
        #expect(otherChannel == .failure(.wrongChannel), "a copy replayed onto another channel")
        var own = Self.sample
        own.nodeID = 9
        own.sequence = 50
        let looped = receive(own)
        #expect(looped == .failure(.notForUs), "our own heartbeat looped back")
        var otherGroup = Self.sample
        otherGroup.group = 8
        let foreign = receive(otherGroup)
        #expect(foreign == .failure(.notForUs))
        var older = Self.sample
        older.incarnation -= 1
        older.sequence = 1000
        let stale = receive(older)
        #expect(stale == .failure(.staleIncarnation))
        var restarted = Self.sample
        restarted.incarnation += 1
        restarted.sequence = 1
        let afterRestart = receive(restarted)
        #expect(try afterRestart.get() == restarted, "a restart may begin its sequence again")
        let short = [UInt8](repeating: 0, count: 3).withUnsafeBytes { receiver.receive($0, onChannel: 1) }
        #expect(short == .failure(.wrongLength(3)))
        let counters = receiver.counters
        #expect(counters.accepted == 2)
        #expect(counters.replayed == 1 && counters.badTag == 1 && counters.wrongChannel == 1)
        #expect(counters.notForUs == 2 && counters.staleIncarnation == 1 && counters.malformed == 1)
        #expect(counters.rejected == 7)
    }
}

@Suite struct FailureDetectorTests {
    static let ms: UInt64 = 1_000_000
    func at(_ milliseconds: UInt64) -> MonotonicTime { MonotonicTime(nanoseconds: milliseconds * Self.ms) }
    static func at(microseconds: UInt64) -> MonotonicTime { MonotonicTime(nanoseconds: microseconds * 1_000) }

    @Test func failsOnlyWhenEveryChannelAndTheTrafficAreSilent() {
        var detector = FailureDetector(configuration: .init(channelCount: 2, interval: Self.ms, missCount: 3), start: at(0))
        let early = (1...4).map { detector.tick(at: at(UInt64($0))).peerFailed }
        #expect(early == [false, false, false, true])
        detector.heartbeatReceived(onChannel: 1, at: at(4))
        let verdict = detector.tick(at: at(5))
        #expect(!verdict.peerFailed && verdict.liveChannels == 1)
        detector.peerTrafficSeen(at: at(8))
        // Channels silent after 7 ms, but the peer's frames are still seen until 8 + 3.
        let later = (6...12).map { detector.tick(at: at(UInt64($0))).peerFailed }
        #expect(later == [false, false, false, false, false, false, true])
    }

    @Test func trafficIsIgnoredWhenDisabled() {
        var detector = FailureDetector(
            configuration: .init(channelCount: 1, interval: Self.ms, missCount: 2, usesPeerTraffic: false), start: at(0))
        detector.peerTrafficSeen(at: at(3))
        let failed = [1, 2, 3].map { detector.tick(at: at($0)).peerFailed }
        #expect(failed == [false, false, true])
    }

    @Test func ourOwnStallDoesNotCountAsMisses() {
        var detector = FailureDetector(configuration: .init(channelCount: 2, interval: Self.ms, missCount: 3), start: at(0))
        detector.heartbeatReceived(onChannel: 0, at: at(1))
        _ = detector.tick(at: at(1))
        // Frozen for 100 ms: no ticks, no heartbeats processed.
        let verdict = detector.tick(at: at(101))
        #expect(verdict.stall == 99 * Self.ms)
        #expect(!verdict.peerFailed, "the silence was ours")
        #expect(detector.stallsExcused == 1)
        // Deadlines moved forward by the 99 ms stall: channel 0 counts as heard at 100, so it is missing after 103.
        let after = [102, 103, 104].map { detector.tick(at: at($0)).peerFailed }
        #expect(after == [false, false, true])
    }

    /// One row: a detector (1 ms interval unless given), then events in time order; each look's verdict and the
    /// failure deadline after it are compared.
    struct Row: CustomTestStringConvertible, Sendable {
        enum Event: Sendable {
            case heartbeat(channel: Int, at: MonotonicTime)
            case traffic(at: MonotonicTime)
            /// A look of the loop; expected: failed?, stall excused (µs), failure deadline afterwards (µs).
            case look(at: MonotonicTime, failed: Bool, stall: UInt64 = 0, deadline: UInt64)
        }
        var name: String
        var configuration: FailureDetector.Configuration
        var events: [Event]
        var testDescription: String { name }
    }

    static func µs(_ microseconds: UInt64) -> MonotonicTime { at(microseconds: microseconds) }
    static let oneMsTimesThree = FailureDetector.Configuration(channelCount: 2, interval: ms, missCount: 3, usesPeerTraffic: false)

    static let rows: [Row] = [
        Row(name: "the deadline is the newest heartbeat plus the window, judged exactly there, not at the next tick",
            configuration: oneMsTimesThree,
            events: [
                .heartbeat(channel: 0, at: µs(1_000)), .heartbeat(channel: 1, at: µs(1_200)),
                .look(at: µs(1_200), failed: false, deadline: 4_200),
                // One more heartbeat on channel 1 moves it; a heartbeat on the other channel that is older does not.
                .heartbeat(channel: 1, at: µs(2_100)), .heartbeat(channel: 0, at: µs(2_000)),
                .look(at: µs(2_200), failed: false, deadline: 5_100),
                .look(at: µs(3_200), failed: false, deadline: 5_100),
                .look(at: µs(4_200), failed: false, deadline: 5_100),
                // A silence of exactly the window is still alive; 1 ns more is failed: at 5.1 ms, not at the 5.2 tick.
                .look(at: MonotonicTime(nanoseconds: 5_100_000), failed: false, deadline: 5_100),
                .look(at: MonotonicTime(nanoseconds: 5_100_001), failed: true, deadline: 5_100),
            ]),
        Row(name: "a 4 ms stall of ours at 1 ms × 3 is excused (the former 5 ms threshold judged it: a false failover)",
            configuration: oneMsTimesThree,
            events: [
                .look(at: µs(1_000), failed: false, deadline: 3_000),
                .heartbeat(channel: 0, at: µs(2_000)), .heartbeat(channel: 1, at: µs(2_000)),
                .look(at: µs(2_000), failed: false, deadline: 5_000),
                // Nothing looked for 4 ms; the 3 ms beyond one interval are ours, the heartbeats count as heard at 5.
                .look(at: µs(6_000), failed: false, stall: 3_000, deadline: 8_000),
                .look(at: µs(7_000), failed: false, deadline: 8_000),
                .look(at: MonotonicTime(nanoseconds: 8_000_001), failed: true, stall: 0, deadline: 8_000),
            ]),
        Row(name: "a look up to 1.5 intervals late is not a stall; beyond it the excess over one interval is",
            configuration: oneMsTimesThree,
            events: [
                .heartbeat(channel: 0, at: µs(1_000)),
                .look(at: µs(1_000), failed: false, deadline: 4_000),
                .look(at: µs(2_500), failed: false, deadline: 4_000),
                .look(at: µs(4_100), failed: false, stall: 600, deadline: 4_600),
                .look(at: µs(4_601), failed: true, deadline: 4_600),
            ]),
        Row(name: "peer traffic is a second sign of life: it alone holds the deadline when the channels are silent",
            configuration: .init(channelCount: 2, interval: ms, missCount: 3, usesPeerTraffic: true),
            events: [
                .look(at: µs(1_000), failed: false, deadline: 3_000),
                .heartbeat(channel: 0, at: µs(1_000)),
                .traffic(at: µs(1_800)),
                .look(at: µs(1_900), failed: false, deadline: 4_800),
                .look(at: µs(2_900), failed: false, deadline: 4_800),
                .look(at: µs(3_900), failed: false, deadline: 4_800),
                .look(at: µs(4_700), failed: false, deadline: 4_800),
                .look(at: MonotonicTime(nanoseconds: 4_800_001), failed: true, deadline: 4_800),
            ]),
        Row(name: "10 ms × 3: decides at 30 ms of silence, not on the 10 ms tick after it",
            configuration: .init(channelCount: 2, interval: 10 * ms, missCount: 3, usesPeerTraffic: false),
            events: [
                .heartbeat(channel: 0, at: µs(4_000)), .heartbeat(channel: 1, at: µs(4_000)),
                .look(at: µs(10_000), failed: false, deadline: 34_000),
                .look(at: µs(20_000), failed: false, deadline: 34_000),
                .look(at: µs(30_000), failed: false, deadline: 34_000),
                .look(at: MonotonicTime(nanoseconds: 34_000_001), failed: true, deadline: 34_000),
            ]),
    ]

    @Test(arguments: rows) func judgesAtTheDeadline(_ row: Row) {
        var detector = FailureDetector(configuration: row.configuration, start: .zero)
        for event in row.events {
            switch event {
            case .heartbeat(let channel, let time): detector.heartbeatReceived(onChannel: channel, at: time)
            case .traffic(let time): detector.peerTrafficSeen(at: time)
            case .look(let time, let failed, let stall, let deadline):
                let verdict = detector.tick(at: time)
                #expect(verdict.peerFailed == failed, "at \(time.nanoseconds) ns")
                #expect(verdict.stall == stall * 1_000, "at \(time.nanoseconds) ns")
                #expect(detector.failureDeadline.nanoseconds == deadline * 1_000 + 1, "after \(time.nanoseconds) ns")
            }
        }
    }

    @Test func theStallThresholdStaysBelowTheWindow() {
        #expect(FailureDetector.Configuration(channelCount: 2, interval: Self.ms, missCount: 3).stallThreshold == 1_500_000)
        #expect(FailureDetector.Configuration(channelCount: 2, interval: 10 * Self.ms, missCount: 3).stallThreshold == 15 * Self.ms)
        // One miss: the window is one interval; a look later than that is a stall.
        #expect(FailureDetector.Configuration(channelCount: 1, interval: Self.ms, missCount: 1).stallThreshold == Self.ms)
        #expect(FailureDetector.Configuration(channelCount: 1, interval: Self.ms, missCount: 3, stallThreshold: 7).stallThreshold == 7)
    }

    @Test func silenceIsMeasuredFromTheNewestSignOfLife() {
        var detector = FailureDetector(configuration: Self.oneMsTimesThree, start: .zero)
        detector.heartbeatReceived(onChannel: 1, at: at(2))
        _ = detector.tick(at: at(2))
        _ = detector.tick(at: at(3))
        _ = detector.tick(at: at(4))
        let verdict = detector.tick(at: MonotonicTime(nanoseconds: 5_000_001))
        #expect(verdict.peerFailed && verdict.silence == 3_000_001)
    }
}
