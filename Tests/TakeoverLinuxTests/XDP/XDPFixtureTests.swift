import Foundation
import TakeoverCore
import TakeoverLinux
import Testing

/// One row of the fixture table: a frame, the mode, whether an AF_XDP socket is bound, and what must happen.
struct XDPFixture: CustomTestStringConvertible, Sendable {
    let name: String
    let mode: XDPMode
    var socketBound = true
    let frame: [UInt8]
    let verdict: XDPVerdict
    /// nil: the frame must leave unchanged.
    var output: [UInt8]? = nil
    let outcome: XDPOutcome

    var testDescription: String { "\(mode): \(name)" }
}

private typealias F = Fixture

private let peerIPv4Frame = F.ethernet(to: F.peerMAC, from: F.clientMAC, type: F.etherTypeIPv4,
                                       payload: F.ipv4Packet(from: F.clientIPv4, to: F.watchedIPv4))
private let vlanPeerIPv4Frame = F.ethernet(to: F.peerMAC, from: F.clientMAC, vlans: [(F.etherType8021Q, 100)],
                                           type: F.etherTypeIPv4, payload: F.ipv4Packet(from: F.clientIPv4, to: F.watchedIPv4))
private let qinqPeerIPv4Frame = F.ethernet(to: F.peerMAC, from: F.clientMAC,
                                           vlans: [(F.etherType8021AD, 10), (F.etherType8021Q, 100)],
                                           type: F.etherTypeIPv4, payload: F.ipv4Packet(from: F.clientIPv4, to: F.watchedIPv4))
private let unrelatedFrame = F.ethernet(to: F.ownMAC, from: F.clientMAC, type: F.etherTypeIPv4,
                                        payload: F.ipv4Packet(from: F.clientIPv4, to: [192, 0, 2, 1]))
private let peerReplyFrame = F.ethernet(to: F.clientMAC, from: F.peerMAC, type: F.etherTypeIPv4,
                                        payload: F.ipv4Packet(from: F.watchedIPv4, to: F.clientIPv4))
private let peerHeartbeatFrame = F.ethernet(to: F.ownMAC, from: F.peerMAC, type: F.etherTypeIPv4,
                                            payload: F.ipv4Packet(from: F.watchedIPv4, to: [192, 0, 2, 1]))
private let peerBroadcastARP = F.ethernet(to: F.broadcastMAC, from: F.peerMAC, type: F.etherTypeARP,
                                          payload: F.arp(operation: 1, senderMAC: F.peerMAC, senderIP: F.watchedIPv4,
                                                         targetMAC: [0, 0, 0, 0, 0, 0], targetIP: F.clientIPv4))
private let broadcastARPForWatched = F.ethernet(to: F.broadcastMAC, from: F.clientMAC, type: F.etherTypeARP,
                                                payload: F.arpRequest(for: F.watchedIPv4))
private let vlanBroadcastARPForWatched = F.ethernet(to: F.broadcastMAC, from: F.clientMAC, vlans: [(F.etherType8021Q, 7)],
                                                    type: F.etherTypeARP, payload: F.arpRequest(for: F.watchedIPv4))
private let unicastARPToPeerForWatched = F.ethernet(to: F.peerMAC, from: F.clientMAC, type: F.etherTypeARP,
                                                    payload: F.arpRequest(for: F.watchedIPv4))
private let nsForWatched = F.ethernet(to: F.solicitedNodeMAC(F.watchedIPv6), from: F.clientMAC, type: F.etherTypeIPv6,
                                      payload: F.neighborSolicitation(for: F.watchedIPv6))
private let vlanNSForWatched = F.ethernet(to: F.solicitedNodeMAC(F.watchedIPv6), from: F.clientMAC,
                                          vlans: [(F.etherType8021Q, 7)], type: F.etherTypeIPv6,
                                          payload: F.neighborSolicitation(for: F.watchedIPv6))

/// The table. Every row also asserts that exactly one counter moved: `outcome`, by one frame of its length.
let xdpFixtures: [XDPFixture] = [
    // off
    XDPFixture(name: "frame to the peer's MAC passes untouched", mode: .off, frame: peerIPv4Frame,
               verdict: .pass, outcome: .passedOff),
    XDPFixture(name: "ARP for a watched IP passes untouched", mode: .off, frame: broadcastARPForWatched,
               verdict: .pass, outcome: .passedOff),

    // monitor
    XDPFixture(name: "frame to the peer's MAC → socket", mode: .monitor, frame: peerIPv4Frame,
               verdict: .redirect, outcome: .monitorRedirected),
    XDPFixture(name: "frame to the peer's MAC, no socket → pass", mode: .monitor, socketBound: false,
               frame: peerIPv4Frame, verdict: .pass, outcome: .monitorNoSocket),
    XDPFixture(name: "peer's frame to a client → socket", mode: .monitor, frame: peerReplyFrame,
               verdict: .redirect, outcome: .monitorRedirected),
    XDPFixture(name: "peer's frame to us (heartbeat) stays with the stack", mode: .monitor, frame: peerHeartbeatFrame,
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "peer's broadcast stays with the stack", mode: .monitor, frame: peerBroadcastARP,
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "unrelated frame passes", mode: .monitor, frame: unrelatedFrame,
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "802.1Q frame to the peer's MAC → socket", mode: .monitor, frame: vlanPeerIPv4Frame,
               verdict: .redirect, outcome: .monitorRedirected),
    XDPFixture(name: "QinQ frame to the peer's MAC → socket", mode: .monitor, frame: qinqPeerIPv4Frame,
               verdict: .redirect, outcome: .monitorRedirected),
    XDPFixture(name: "bare Ethernet header announcing a VLAN tag is not redirected", mode: .monitor,
               frame: F.peerMAC + F.clientMAC + F.etherType8021Q, verdict: .pass, outcome: .passedMalformed),
    XDPFixture(name: "half a VLAN tag is not redirected", mode: .monitor,
               frame: F.peerMAC + F.clientMAC + F.etherType8021Q + [0x00], verdict: .pass, outcome: .passedMalformed),
    XDPFixture(name: "three VLAN tags (beyond QinQ) are not redirected", mode: .monitor,
               frame: F.ethernet(to: F.peerMAC, from: F.clientMAC,
                                 vlans: [(F.etherType8021AD, 1), (F.etherType8021Q, 2), (F.etherType8021Q, 3)],
                                 type: F.etherTypeIPv4, payload: F.ipv4Packet(from: F.clientIPv4, to: F.watchedIPv4)),
               verdict: .pass, outcome: .passedMalformed),

    // takeover
    XDPFixture(name: "frame to the peer's MAC is rewritten to ours and passes", mode: .takeover, frame: peerIPv4Frame,
               verdict: .pass, output: F.rewritingDestination(peerIPv4Frame, to: F.ownMAC), outcome: .takeoverRewritten),
    XDPFixture(name: "802.1Q frame to the peer's MAC is rewritten, tag kept", mode: .takeover, frame: vlanPeerIPv4Frame,
               verdict: .pass, output: F.rewritingDestination(vlanPeerIPv4Frame, to: F.ownMAC),
               outcome: .takeoverRewritten),
    XDPFixture(name: "QinQ frame to the peer's MAC is rewritten, tags kept", mode: .takeover, frame: qinqPeerIPv4Frame,
               verdict: .pass, output: F.rewritingDestination(qinqPeerIPv4Frame, to: F.ownMAC),
               outcome: .takeoverRewritten),
    XDPFixture(name: "peer's own frame to a client passes untouched", mode: .takeover, frame: peerReplyFrame,
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "unrelated frame passes", mode: .takeover, frame: unrelatedFrame,
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "broadcast ARP request for a watched IP → socket", mode: .takeover, frame: broadcastARPForWatched,
               verdict: .redirect, outcome: .neighborRedirected),
    XDPFixture(name: "broadcast ARP request for a watched IP, no socket → pass", mode: .takeover, socketBound: false,
               frame: broadcastARPForWatched, verdict: .pass, outcome: .neighborNoSocket),
    XDPFixture(name: "802.1Q broadcast ARP request for a watched IP → socket", mode: .takeover,
               frame: vlanBroadcastARPForWatched, verdict: .redirect, outcome: .neighborRedirected),
    XDPFixture(name: "unicast ARP request to the peer's MAC → rewritten, then socket", mode: .takeover,
               frame: unicastARPToPeerForWatched, verdict: .redirect,
               output: F.rewritingDestination(unicastARPToPeerForWatched, to: F.ownMAC), outcome: .neighborRedirected),
    XDPFixture(name: "ARP request for an unwatched IP passes", mode: .takeover,
               frame: F.ethernet(to: F.broadcastMAC, from: F.clientMAC, type: F.etherTypeARP,
                                 payload: F.arpRequest(for: F.otherIPv4)),
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "ARP reply about a watched IP passes", mode: .takeover,
               frame: F.ethernet(to: F.clientMAC, from: F.ownMAC, type: F.etherTypeARP,
                                 payload: F.arp(operation: 2, senderMAC: F.ownMAC, senderIP: F.watchedIPv4,
                                                targetMAC: F.clientMAC, targetIP: F.clientIPv4)),
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "truncated ARP request for a watched IP is not redirected", mode: .takeover,
               frame: Array(broadcastARPForWatched.prefix(14 + 27)), verdict: .pass, outcome: .passedMalformed),
    XDPFixture(name: "neighbour solicitation for a watched IPv6 address → socket", mode: .takeover,
               frame: nsForWatched, verdict: .redirect, outcome: .neighborRedirected),
    XDPFixture(name: "802.1Q neighbour solicitation for a watched IPv6 address → socket", mode: .takeover,
               frame: vlanNSForWatched, verdict: .redirect, outcome: .neighborRedirected),
    XDPFixture(name: "neighbour solicitation for an unwatched address passes", mode: .takeover,
               frame: F.ethernet(to: F.solicitedNodeMAC(F.otherIPv6), from: F.clientMAC, type: F.etherTypeIPv6,
                                 payload: F.neighborSolicitation(for: F.otherIPv6)),
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "ICMPv6 echo request to a watched address passes", mode: .takeover,
               frame: F.ethernet(to: F.ownMAC, from: F.clientMAC, type: F.etherTypeIPv6,
                                 payload: F.ipv6Packet(nextHeader: 58, from: F.clientIPv6, to: F.watchedIPv6,
                                                       payload: [128, 0, 0, 0, 0, 1, 0, 1])),
               verdict: .pass, outcome: .passedUnrelated),
    XDPFixture(name: "neighbour solicitation cut before its target is not redirected", mode: .takeover,
               frame: Array(nsForWatched.prefix(14 + 40 + 20)), verdict: .pass, outcome: .passedMalformed),
    XDPFixture(name: "IPv6 header cut short is not redirected", mode: .takeover,
               frame: Array(nsForWatched.prefix(14 + 30)), verdict: .pass, outcome: .passedMalformed),
]

/// Runs every fixture through the loaded program with BPF_PROG_TEST_RUN (no NIC). Needs root (CAP_BPF).
@Suite("XDP fixtures (BPF_PROG_TEST_RUN)")
struct XDPFixtureTests {
    /// A loaded, configured program: our MAC, the peer's MAC, 192.0.2.10 and 2001:db8::10 watched.
    static func configuredProgram() throws -> XDPProgram {
        let program = try XDPProgram()
        try program.configure(ownMAC: MACAddress(2, 0, 0, 0, 0, 1), peerMAC: MACAddress(2, 0, 0, 0, 0, 2))
        try program.watch(.v4(IPv4Address(192, 0, 2, 10)))
        try program.watch(.v6(IPv6Address("2001:db8::10")!))
        return program
    }

    @Test(arguments: xdpFixtures)
    func fixture(_ fixture: XDPFixture) throws {
        let program = try Self.configuredProgram()
        try program.setMode(fixture.mode)
        if fixture.socketBound {  // queue 0: the queue test runs arrive on
            try program.registerSocket(fileDescriptor: PrivateLoopbackSocket.shared.fileDescriptor, queue: 0)
        }

        let before = try program.counters()
        let run = try program.testRun(frame: fixture.frame)
        let counted = try program.counters().since(before)

        #expect(run.verdict == fixture.verdict)
        #expect(run.output == (fixture.output ?? fixture.frame))
        for outcome in XDPOutcome.allCases {
            let expected = outcome == fixture.outcome
                ? XDPCount(packets: 1, bytes: UInt64(fixture.frame.count)) : XDPCount()
            #expect(counted[outcome] == expected, "counter \(outcome)")
        }
    }

    @Test func modeFlipsTakeEffectWithoutReload() throws {
        let program = try Self.configuredProgram()
        let id = program.programID
        let expectations: [(XDPMode, XDPOutcome, [UInt8])] = [
            (.off, .passedOff, peerIPv4Frame),
            (.monitor, .monitorNoSocket, peerIPv4Frame),
            (.takeover, .takeoverRewritten, F.rewritingDestination(peerIPv4Frame, to: F.ownMAC)),
            (.off, .passedOff, peerIPv4Frame),
        ]
        for (mode, outcome, output) in expectations {
            try program.setMode(mode)
            #expect(try program.mode() == mode)
            let before = try program.counters()
            let run = try program.testRun(frame: peerIPv4Frame)
            #expect(run.output == output, "\(mode)")
            #expect(try program.counters().since(before)[outcome].packets == 1, "\(mode)")
        }
        #expect(program.programID == id)
    }

    @Test func unwatchedAddressesAreNoLongerSelected() throws {
        let program = try Self.configuredProgram()
        try program.setMode(.takeover)
        try program.unwatch(.v4(IPv4Address(192, 0, 2, 10)))
        try program.unwatch(.v6(IPv6Address("2001:db8::10")!))
        try program.unwatch(.v6(IPv6Address("2001:db8::99")!))  // never watched: not an error
        let before = try program.counters()
        _ = try program.testRun(frame: broadcastARPForWatched)
        _ = try program.testRun(frame: nsForWatched)
        #expect(try program.counters().since(before)[.passedUnrelated].packets == 2)
    }

    @Test func unregisteredSocketFallsBackToPass() throws {
        let program = try Self.configuredProgram()
        try program.setMode(.monitor)
        try program.registerSocket(fileDescriptor: PrivateLoopbackSocket.shared.fileDescriptor, queue: 0)
        #expect(try program.testRun(frame: peerIPv4Frame).verdict == .redirect)
        try program.unregisterSocket(queue: 0)
        #expect(try program.testRun(frame: peerIPv4Frame).verdict == .pass)
        let counters = try program.counters()
        #expect(counters[.monitorRedirected].packets == 1)
        #expect(counters[.monitorNoSocket].packets == 1)
    }

    @Test func frameShorterThanEthernetIsRefusedByTheKernel() throws {
        let program = try Self.configuredProgram()
        #expect(throws: XDPError.self) { try program.testRun(frame: Array(F.peerMAC + F.clientMAC)) }
    }

    /// CI's proof that the object inside the binary is what bpf/ builds today.
    @Test func embeddedObjectMatchesSources() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let check = Process()
        check.executableURL = root.appendingPathComponent("bpf/check-embedded")
        let output = Pipe()
        check.standardOutput = output
        check.standardError = output
        try check.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        check.waitUntilExit()
        #expect(check.terminationStatus == 0, "\(text)")
    }
}
