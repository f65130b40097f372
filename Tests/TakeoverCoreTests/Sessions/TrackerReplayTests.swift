import Foundation
import Testing
import TakeoverCore

/// Replays real kernel TCP connections (Fixtures/tcp, recorded by record.sh in network namespaces) through
/// the frame parser and the tracker, and checks the tracked state against tshark's dissection of the same
/// frames, after every frame.
@Suite struct TrackerReplayTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tcp")

    /// One line of NAME.expected.tsv: tshark's view of one frame (raw sequence numbers).
    struct Dissection {
        let fields: [String: String]
        func text(_ name: String) -> String { fields[name] ?? "" }
        func number(_ name: String) -> UInt32? { UInt32(text(name)) }
        func signed(_ name: String) -> Int? { Int(text(name)) }
        var flags: TCPFlags { TCPFlags(rawValue: UInt16(text("tcp.flags").dropFirst(2), radix: 16)!) }
        var isRetransmission: Bool { !text("tcp.analysis.retransmission").isEmpty || !text("tcp.analysis.out_of_order").isEmpty }
        var optionKinds: [Int] { text("tcp.option_kind").split(separator: ",").compactMap { Int($0) } }
    }

    static func load(_ name: String) throws -> (PcapFile, [Dissection]) {
        let pcap = try PcapFile(bytes: Array(try Data(contentsOf: fixtures.appendingPathComponent("\(name).pcap"))))
        let lines = try String(contentsOf: fixtures.appendingPathComponent("\(name).expected.tsv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        let header = lines[0]
        let rows = lines.dropFirst().map { values in
            Dissection(fields: Dictionary(uniqueKeysWithValues: zip(header, values + Array(repeating: "", count: max(0, header.count - values.count)))))
        }
        return (pcap, rows)
    }

    struct Scenario: Sendable, CustomTestStringConvertible {
        let name: String
        let clientEnd: TCPEndpointState
        let serverEnd: TCPEndpointState
        var testDescription: String { name }
    }

    static let scenarios = [
        Scenario(name: "ipv4-fin", clientEnd: .timeWait, serverEnd: .closed),
        Scenario(name: "ipv4-rst", clientEnd: .reset, serverEnd: .reset),
        Scenario(name: "ipv4-retransmit", clientEnd: .timeWait, serverEnd: .closed),
        Scenario(name: "ipv4-sack", clientEnd: .timeWait, serverEnd: .closed),
        Scenario(name: "ipv4-window-scale", clientEnd: .timeWait, serverEnd: .closed),
        Scenario(name: "ipv6-fin", clientEnd: .timeWait, serverEnd: .closed),
    ]

    @Test(arguments: scenarios)
    func trackedStateMatchesTshark(_ scenario: Scenario) throws {
        let (pcap, dissections) = try Self.load(scenario.name)
        try #require(pcap.records.count == dissections.count)
        var tracker = TCPTracker(capacity: 16)
        var firstKey: FlowKey?
        for (record, expected) in zip(pcap.records, dissections) {
            let frameNumber = expected.text("frame.number")
            let parsed = try record.data.withUnsafeBytes { bytes in try FrameParser.parse(bytes) }
            let key = try #require(parsed.flow, "frame \(frameNumber)")
            let segment = try #require(parsed.tcp?.segment, "frame \(frameNumber)")
            #expect(segment.sequence == expected.number("tcp.seq_raw"), "frame \(frameNumber)")
            firstKey = firstKey ?? key

            let before = tracker.session(for: key)
            let result = tracker.track(key, segment, at: MonotonicTime(nanoseconds: record.timestampNanoseconds))
            #expect(result != .ignored && result != .tableFull, "frame \(frameNumber)")
            let tracked = tracker.session(for: key)
            let session = try #require(tracked)
            let side = session.side(sending: key)
            let sender = session.endpoint(side)
            let flags = expected.flags

            // Highest sequence sent: tshark's next sequence for in-order frames; unchanged by the frames tshark
            // calls retransmissions or out-of-order.
            if expected.isRetransmission, let before {
                #expect(session.sendNext(side) == before.sendNext(side), "frame \(frameNumber): a retransmission moved SND.NXT")
            } else {
                #expect(session.sendNext(side) == expected.number("tcp.nxtseq"), "frame \(frameNumber)")
            }
            if flags.contains(.ack) {
                #expect(sender.acknowledgment == expected.number("tcp.ack_raw"), "frame \(frameNumber)")
                // What the receiver of the ACK's sender expects now is at least what was acknowledged.
                #expect(session.receiveNext(side) == expected.number("tcp.ack_raw"), "frame \(frameNumber)")
            }
            #expect(UInt32(sender.window) == expected.number("tcp.window_size_value"), "frame \(frameNumber)")
            if !expected.text("tcp.options.timestamp.tsval").isEmpty {
                #expect(sender.timestampValue == expected.number("tcp.options.timestamp.tsval"), "frame \(frameNumber)")
                #expect(sender.timestampEcho == expected.number("tcp.options.timestamp.tsecr"), "frame \(frameNumber)")
            }
            if flags.contains(.syn) {
                #expect(UInt32(sender.mss) == expected.number("tcp.options.mss_val"), "frame \(frameNumber)")
                #expect(sender.sackPermitted == expected.optionKinds.contains(4), "frame \(frameNumber)")
                if let shift = expected.number("tcp.options.wscale.shift") {
                    #expect(sender.flags.contains(.offeredWindowScale) && UInt32(sender.windowScale) == shift, "frame \(frameNumber)")
                }
            } else if let factor = expected.signed("tcp.window_size_scalefactor") {
                // tshark: the multiplier, or -1 (unknown) / -2 (scaling not in use).
                switch factor {
                case -1: #expect(session.windowShift(side) == nil, "frame \(frameNumber)")
                case -2: #expect(session.windowShift(side) == 0, "frame \(frameNumber)")
                default:
                    #expect(session.windowShift(side).map { 1 << Int($0) } == factor, "frame \(frameNumber)")
                    #expect(session.advertisedWindow(side) == UInt32(sender.window) * UInt32(factor), "frame \(frameNumber)")
                }
            }
        }

        // At the end: one session, oriented client → server, both handshake options known, closed as recorded.
        #expect(tracker.count == 1)
        let clientToServer = try #require(firstKey)
        let tracked = tracker.session(for: clientToServer)
        let session = try #require(tracked)
        #expect(session.key == firstKey)
        #expect(session.flags.isSuperset(of: [.initiatorKnown, .handshakeSeen]))
        #expect(session.state(.original) == scenario.clientEnd)
        #expect(session.state(.reply) == scenario.serverEnd)
        // Each side's next expected sequence is the other side's last next-sequence in tshark's dissection.
        for side in [SessionSide.original, .reply] {
            let senderPort = side == .original ? session.key.sourcePort : session.key.destinationPort
            let lastFromSender = dissections.last { $0.number("tcp.srcport") == UInt32(senderPort) && !$0.flags.contains(.rst) }
            #expect(session.receiveNext(side.other) == lastFromSender?.number("tcp.nxtseq"))
        }
    }

    /// The recordings cover what they are named for, so the checks above exercise those paths.
    @Test func fixturesCoverRetransmissionSACKAndWindowScaling() throws {
        let (_, retransmit) = try Self.load("ipv4-retransmit")
        #expect(retransmit.contains { $0.isRetransmission })
        let (_, sack) = try Self.load("ipv4-sack")
        #expect(sack.contains { $0.isRetransmission })
        #expect(sack.contains { !$0.text("tcp.options.sack_le").isEmpty })
        let (_, scaled) = try Self.load("ipv4-window-scale")
        #expect(scaled.contains { ($0.signed("tcp.window_size_scalefactor") ?? 0) > 1 })
        let (_, reset) = try Self.load("ipv4-rst")
        #expect(reset.contains { $0.flags.contains(.rst) })
        let (_, ipv6) = try Self.load("ipv6-fin")
        #expect(ipv6.allSatisfy { !$0.text("ipv6.src").isEmpty })
    }
}
