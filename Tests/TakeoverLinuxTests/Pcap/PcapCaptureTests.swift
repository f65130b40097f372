import Foundation
import Testing
import TakeoverCore
import TakeoverLab
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// Root tests of the libpcap backend on a hub lab: client and primary talk through their kernels' own
/// stacks; the standby captures.
///
/// The capture is opened on a thread that entered the standby's namespace (`NetworkLab.withNamespace`)
/// rather than in a helper run under `ip netns exec`: namespaces are per thread, the packet socket stays
/// in the standby's namespace afterwards, and the test reads it in-process, so assertions see the
/// backend's real `ReceivedFrame`s, errors and counters instead of a helper's printout.
@Suite(.serialized) struct PcapCaptureTests {
    static let python = "/usr/bin/python3"
    static let udpPort: UInt16 = 5001
    static let tcpPort: UInt16 = 5002

    /// Echo servers on the primary: UDP and TCP, each answering one message per exchange.
    static let echoServer = """
        import socket, threading
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("192.0.2.20", \(udpPort)))
        tcp = socket.socket()
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("192.0.2.20", \(tcpPort)))
        tcp.listen(4)
        def echo_udp():
            while True:
                data, peer = udp.recvfrom(2048)
                udp.sendto(data, peer)
        threading.Thread(target=echo_udp, daemon=True).start()
        print("ready", flush=True)
        while True:
            connection, _ = tcp.accept()
            connection.sendall(connection.recv(2048))
            connection.close()
        """

    /// One UDP exchange and one TCP connection from the client, each checked end to end.
    static let echoClient = """
        import socket
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.settimeout(3)
        udp.sendto(b"udp-to-primary", ("192.0.2.20", \(udpPort)))
        assert udp.recvfrom(2048)[0] == b"udp-to-primary"
        tcp = socket.create_connection(("192.0.2.20", \(tcpPort)), timeout=3)
        tcp.sendall(b"tcp-to-primary")
        assert tcp.recv(2048) == b"tcp-to-primary"
        tcp.close()
        print("exchanged")
        """

    struct Lab {
        let lab: NetworkLab
        let client: LabInterface
        let primary: LabInterface
        let standby: LabInterface
        let bystander: LabInterface

        init(_ label: String) throws {
            let base = try FailoverHub(label)
            (lab, client, primary, standby) = (base.lab, base.client, base.primary, base.standby)
            bystander = try lab.connect(try lab.addHost("bystander"), to: base.hub, addresses: ["192.0.2.40/24"])
        }

        func openCapture(_ delivery: PcapCaptureConfiguration.Delivery) throws -> PcapCapture {
            try lab.withNamespace(of: standby.host) {
                try PcapCapture(PcapCaptureConfiguration(interface: "eth0", delivery: delivery))
            }
        }
    }

    static func monotonicNow() -> MonotonicTime {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return MonotonicTime(nanoseconds: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec))
    }

    /// Receives until `done` holds for what was received or `timeout` passes (bounded in time and by the
    /// number of rounds).
    static func collect(
        from capture: PcapCapture, timeout: Duration, until done: ([FrameSummary]) -> Bool
    ) throws -> [FrameSummary] {
        var frames: [FrameSummary] = []
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var rounds = 0
        while ContinuousClock.now < deadline, rounds < 10_000, !done(frames) {
            rounds += 1
            guard try capture.waitForFrames(timeout: .milliseconds(20)) else { continue }
            _ = try capture.receive(limit: 64) { frame in
                if let summary = FrameSummary(frame) { frames.append(summary) }
            }
        }
        return frames
    }

    // MARK: Selection

    @Test(arguments: [PcapCaptureConfiguration.Delivery.immediate, .blocks(timeout: .milliseconds(2))])
    func standbyCapturesThePeersTrafficBothWaysAndNothingElse(delivery: PcapCaptureConfiguration.Delivery) throws {
        let setup = try Lab("sel")
        let lab = setup.lab
        defer { lab.teardown() }
        let primaryIP = try #require(setup.primary.ipv4)
        let clientIP = try #require(setup.client.ipv4)
        let bystanderIP = try #require(setup.bystander.ipv4)

        let capture = try setup.openCapture(delivery)
        defer { capture.close() }
        try capture.setFilter(PeerCaptureFilter(peerMAC: setup.primary.mac, watchedAddresses: [.v4(primaryIP)]))
        // Frames that crossed the hub before the filter went in may sit in the ring: drain them.
        _ = try Self.collect(from: capture, timeout: .milliseconds(50)) { _ in false }

        let server = try lab.start(in: setup.primary.host, [Self.python, "-c", Self.echoServer])
        #expect(server.waitForOutput(containing: "ready", timeout: .seconds(10)))
        let before = Self.monotonicNow()

        // The peer's traffic: ICMP, UDP, TCP from the client's kernel stack.
        let ping = try lab.run(in: setup.client.host, ["ping", "-c", "2", "-i", "0.2", "-W", "1", "\(primaryIP)"])
        #expect(ping.succeeded, "\(ping.standardOutput)")
        let exchange = try lab.run(in: setup.client.host, [Self.python, "-c", Self.echoClient])
        #expect(exchange.standardOutput.contains("exchanged"), "\(exchange.standardError)")
        // Traffic the standby must not capture: the client and a bystander (ARP for .40, ICMP).
        let other = try lab.run(in: setup.client.host, ["ping", "-c", "2", "-i", "0.2", "-W", "1", "\(bystanderIP)"])
        #expect(other.succeeded)

        func seen(_ frames: [FrameSummary], _ predicate: (FrameSummary) -> Bool) -> Bool { frames.contains(where: predicate) }
        let toPrimary = { (f: FrameSummary) in f.source == setup.client.mac && f.destination == setup.primary.mac }
        let fromPrimary = { (f: FrameSummary) in f.source == setup.primary.mac && f.destination == setup.client.mac }
        let expectations: [(String, (FrameSummary) -> Bool)] = [
            ("ICMP echo request to the peer", { toPrimary($0) && $0.icmpType == 8 }),
            ("ICMP echo reply from the peer", { fromPrimary($0) && $0.icmpType == 0 }),
            ("UDP to the peer", { toPrimary($0) && $0.destinationPort == Self.udpPort && $0.payload == Array("udp-to-primary".utf8) }),
            ("UDP from the peer", { fromPrimary($0) && $0.sourcePort == Self.udpPort && $0.payload == Array("udp-to-primary".utf8) }),
            ("TCP SYN to the peer", { toPrimary($0) && $0.destinationPort == Self.tcpPort && $0.isSYN }),
            ("TCP SYN-ACK from the peer", { fromPrimary($0) && $0.sourcePort == Self.tcpPort && $0.isSYNACK }),
            ("TCP data to the peer", { toPrimary($0) && $0.destinationPort == Self.tcpPort && $0.payload == Array("tcp-to-primary".utf8) }),
            ("TCP data from the peer", { fromPrimary($0) && $0.sourcePort == Self.tcpPort && $0.payload == Array("tcp-to-primary".utf8) }),
        ]
        let frames = try Self.collect(from: capture, timeout: .seconds(5)) { frames in
            expectations.allSatisfy { seen(frames, $0.1) }
        }
        let after = Self.monotonicNow()

        for (what, predicate) in expectations {
            #expect(seen(frames, predicate), "missing: \(what); captured \(frames)")
        }
        for frame in frames {
            let aboutThePeer =
                frame.source == setup.primary.mac || frame.destination == setup.primary.mac
                || frame.arpSender == primaryIP || frame.arpTarget == primaryIP
            #expect(aboutThePeer, "captured a frame that is not the peer's: \(frame)")
            #expect(frame.ipSource != bystanderIP && frame.ipDestination != bystanderIP, "\(frame)")
            #expect(frame.arpTarget != bystanderIP, "\(frame)")
            #expect(frame.capturedLength == frame.wireLength)  // 65535-byte snapshot: nothing cut
            // Kernel stamps converted to the monotonic clock land inside the test's own window.
            #expect(frame.timestamp >= before && frame.timestamp <= after, "\(frame.timestamp) not in \(before)...\(after)")
        }
        #expect(frames.contains { $0.ipSource == clientIP })
        let statistics = try capture.statistics()
        #expect(statistics.received >= UInt64(frames.count))
        #expect(statistics.dropped == 0)
        server.stop()
    }

    @Test func neighbourDiscoveryAboutTheWatchedIPv6AddressIsCaptured() throws {
        let lab = try NetworkLab("nd")
        defer { lab.teardown() }
        let hub = try lab.addHub()
        let client = try lab.connect(try lab.addHost("client"), to: hub, addresses: ["2001:db8::10/64"])
        let primary = try lab.connect(try lab.addHost("primary"), to: hub, addresses: ["2001:db8::20/64"])
        let standby = try lab.connect(try lab.addHost("standby"), to: hub, addresses: ["2001:db8::30/64"])
        _ = try lab.connect(try lab.addHost("bystander"), to: hub, addresses: ["2001:db8::40/64"])
        let watched = try #require(IPv6Address("2001:db8::20"))
        let other = try #require(IPv6Address("2001:db8::40"))

        // The ND clause alone is under test: watch the address but give a MAC no host has.
        let capture = try lab.withNamespace(of: standby.host) {
            try PcapCapture(PcapCaptureConfiguration(interface: "eth0", delivery: .immediate))
        }
        defer { capture.close() }
        let unusedMAC = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x01)
        try capture.setFilter(PeerCaptureFilter(peerMAC: unusedMAC, watchedAddresses: [.v6(watched)]))

        for target in ["2001:db8::20", "2001:db8::40"] {
            let ping = try lab.run(in: client.host, ["ping", "-6", "-c", "1", "-W", "2", target])
            #expect(ping.succeeded, "\(ping.standardOutput)\(ping.standardError)")
        }
        let frames = try Self.collect(from: capture, timeout: .seconds(3)) { frames in
            frames.contains { $0.icmpv6Type == 135 && $0.source == client.mac }
                && frames.contains { $0.icmpv6Type == 136 && $0.source == primary.mac }
        }
        #expect(frames.contains { $0.icmpv6Type == 135 && $0.source == client.mac && $0.neighbourTarget == watched }, "\(frames)")
        #expect(frames.contains { $0.icmpv6Type == 136 && $0.source == primary.mac && $0.neighbourTarget == watched }, "\(frames)")
        for frame in frames {
            // Not the echo traffic, not MLD, not ND about the bystander.
            #expect(frame.neighbourTarget == watched, "\(frame)")
            #expect(frame.neighbourTarget != other)
        }
    }

    @Test func ringOverflowIsCountedAsDrops() throws {
        let setup = try Lab("drops")
        let lab = setup.lab
        defer { lab.teardown() }
        // A ring of a few dozen slots that nobody reads while the client sends a burst at the peer's MAC.
        let capture = try lab.withNamespace(of: setup.standby.host) {
            try PcapCapture(
                PcapCaptureConfiguration(interface: "eth0", snapshotLength: 128, bufferSize: 64 << 10, delivery: .immediate))
        }
        defer { capture.close() }
        try capture.setFilter("ether dst \(setup.primary.mac) and ether proto 0x88b5")
        let sent = 2000
        let burst = """
            import socket
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            s.bind(("eth0", 0))
            frame = bytes.fromhex("\(setup.primary.mac.description.replacingOccurrences(of: ":", with: ""))"
                                  "\(setup.client.mac.description.replacingOccurrences(of: ":", with: ""))88b5") + bytes(46)
            for _ in range(\(sent)):
                s.send(frame)
            print("sent")
            """
        let result = try lab.run(in: setup.client.host, [Self.python, "-c", burst])
        #expect(result.standardOutput.contains("sent"), "\(result.standardError)")

        var delivered = 0
        let deadline = ContinuousClock.now.advanced(by: .seconds(3))
        while ContinuousClock.now < deadline, delivered < sent {
            guard try capture.waitForFrames(timeout: .milliseconds(50)) else { break }
            delivered += try capture.receive(limit: 256) { _ in }
        }
        let statistics = try capture.statistics()
        #expect(statistics.dropped > 0)
        #expect(delivered > 0 && delivered < sent)
        // Nothing vanishes silently: every frame of the burst was either delivered or counted as dropped.
        #expect(UInt64(delivered) + statistics.dropped == UInt64(sent), "delivered \(delivered), \(statistics)")
    }

    @Test(arguments: [PcapCaptureConfiguration.Delivery.immediate, .blocks(timeout: .milliseconds(1))])
    func waitingOnAQuietCaptureIsBounded(delivery: PcapCaptureConfiguration.Delivery) throws {
        let setup = try Lab("quiet")
        defer { setup.lab.teardown() }
        let capture = try setup.openCapture(delivery)
        defer { capture.close() }
        try capture.setFilter("ether host 02:00:00:00:00:01")  // no host has it
        _ = try capture.receive(limit: 1024) { _ in }

        let clock = ContinuousClock()
        let started = clock.now
        #expect(try !capture.waitForFrames(timeout: .milliseconds(100)))
        let waited = clock.now - started
        #expect(waited >= .milliseconds(90) && waited < .seconds(2), "\(waited)")
        let instant = clock.now
        #expect(try !capture.waitForFrames(timeout: .seconds(-1)))  // negative: no wait, not "forever"
        #expect(clock.now - instant < .seconds(1))
        #expect(try capture.receive(limit: 64) { _ in Issue.record("nothing should match") } == 0)
    }

    @Test func ringVersionFollowsTheDeliveryMode() throws {
        let lab = try NetworkLab("ring")
        defer { lab.teardown() }
        let host = try lab.addHost("standby")
        _ = try lab.connect(host, to: try lab.addHub(), addresses: ["198.51.100.3/24"])
        let (immediate, blocks) = try lab.withNamespace(of: host) {
            let immediate = try PcapCapture(PcapCaptureConfiguration(interface: "eth0", delivery: .immediate))
            let blocks = try PcapCapture(PcapCaptureConfiguration(interface: "eth0", delivery: .blocks(timeout: .milliseconds(1))))
            return (immediate.ringVersion, blocks.ringVersion)
        }
        // libpcap 1.10 gives up TPACKET_V3 in immediate mode (V3 blocks cannot hand over single frames).
        #expect(immediate == .v2)
        #expect(blocks == .v3)
    }

    // MARK: Transmit

    @Test func injectedFrameIsSeenByTcpdumpOnTheClient() throws {
        let setup = try Lab("inject")
        let lab = setup.lab
        defer { lab.teardown() }
        let capture = try setup.openCapture(.immediate)
        defer { capture.close() }

        // An IEEE local-experimental EtherType (0x88b5): no protocol stack reacts to it.
        let watcher = try lab.startTcpdump(in: setup.client.host, ["-n", "-e", "-x", "-l", "-U", "ether proto 0x88b5"])

        let marker = Array("takeover-inject".utf8)
        let frameLength = 60
        let outcome = try capture.transmit { buffer in
            setup.client.mac.write(to: buffer, at: 0)
            setup.standby.mac.write(to: buffer, at: 6)
            buffer.storeBigEndian(UInt16(0x88B5), at: 12)
            buffer.storeBigEndian(UInt16(0x0001), at: 14)
            for (index, byte) in marker.enumerated() { buffer[16 + index] = byte }
            for index in (16 + marker.count)..<frameLength { buffer[index] = 0 }
            return frameLength
        }
        try capture.flush()
        #expect(outcome == .submitted(length: frameLength))

        let hexMarker = "0001 " + stride(from: 0, to: 6, by: 2).map { index in
            marker[index...index + 1].map { String(format: "%02x", $0) }.joined()
        }.joined(separator: " ")
        let arrived = waitUntil(timeout: .seconds(3)) { watcher.standardOutput.contains(hexMarker) }
        watcher.stop()
        #expect(arrived, "tcpdump saw: \(watcher.standardOutput)")
        #expect(watcher.standardOutput.contains("\(setup.standby.mac) > \(setup.client.mac)"))
        #expect(watcher.standardOutput.contains("length \(frameLength)"))
    }

    @Test func transmitAbandonsEmptyFramesAndRefusesOversizedOnes() throws {
        let setup = try Lab("txerr")
        defer { setup.lab.teardown() }
        let capture = try setup.openCapture(.immediate)
        defer { capture.close() }
        var lent = 0
        #expect(try capture.transmit { buffer in lent = buffer.count; return 0 } == .abandoned)
        #expect(lent == capture.maximumFrameLength)
        #expect(throws: PcapCaptureError.frameTooLong(length: lent + 1, maximum: lent)) {
            try capture.transmit { buffer in buffer.count + 1 }
        }
        capture.close()
        #expect(throws: PcapCaptureError.closed) { try capture.transmit { _ in 60 } }
        #expect(throws: PcapCaptureError.closed) { try capture.receive(limit: 1) { _ in } }
    }

    // MARK: Errors

    @Test func badFilterIsRejectedWithLibpcapsReason() throws {
        let lab = try NetworkLab("filter")
        defer { lab.teardown() }
        let host = try lab.addHost("standby")
        _ = try lab.connect(host, to: try lab.addHub(), addresses: ["198.51.100.3/24"])
        let capture = try lab.withNamespace(of: host) { try PcapCapture(PcapCaptureConfiguration(interface: "eth0")) }
        defer { capture.close() }

        let expression = "ether hots 02:74:6b:00:00:01"
        do {
            try capture.setFilter(expression)
            Issue.record("a filter that does not compile was accepted")
        } catch {
            guard case .badFilter(let rejected, let message) = error else {
                Issue.record("wrong error: \(error)")
                return
            }
            #expect(rejected == expression)
            #expect(!message.isEmpty)
            #expect(error.description.contains("does not compile"))
        }
        #expect(throws: Never.self) { try capture.setFilter("ether host 02:74:6b:00:00:01") }
    }

    @Test func missingInterfaceSaysSo() throws {
        let lab = try NetworkLab("nodev")
        defer { lab.teardown() }
        let host = try lab.addHost("standby")
        let error = try lab.withNamespace(of: host) { () -> PcapCaptureError? in
            do {
                _ = try PcapCapture(PcapCaptureConfiguration(interface: "eth7"))
                return nil
            } catch let error as PcapCaptureError { return error }
        }
        guard case .noSuchInterface(let interface, _) = error else {
            Issue.record("expected noSuchInterface, got \(String(describing: error))")
            return
        }
        #expect(interface == "eth7")
        #expect(error!.description.contains("no interface named eth7"))
    }

    @Test func missingPrivilegeNamesTheCapabilityAndTheFallback() throws {
        let lab = try NetworkLab("noperm")
        defer { lab.teardown() }
        let host = try lab.addHost("standby")
        _ = try lab.connect(host, to: try lab.addHub(), addresses: ["198.51.100.3/24"])
        let error = try lab.withNamespace(of: host, dropping: [.netRaw]) { () -> PcapCaptureError? in
            do {
                _ = try PcapCapture(PcapCaptureConfiguration(interface: "eth0"))
                return nil
            } catch let error as PcapCaptureError { return error }
        }
        guard case .permissionDenied(let interface, _) = error else {
            Issue.record("expected permissionDenied, got \(String(describing: error))")
            return
        }
        #expect(interface == "eth0")
        #expect(error!.description.contains("CAP_NET_RAW"))
        #expect(error!.description.contains("stateless mode"))
    }

    @Test func promiscuousCaptureNeedsOnlyCAPNETRAW() throws {
        let lab = try NetworkLab("promisc")
        defer { lab.teardown() }
        let host = try lab.addHost("standby")
        _ = try lab.connect(host, to: try lab.addHub(), addresses: ["198.51.100.3/24"])
        let promiscuity = { () throws -> String in
            try lab.runChecked(in: host, ["ip", "-d", "link", "show", "dev", "eth0"])
        }
        #expect(try promiscuity().contains("promiscuity 0"))
        // Linux grants PACKET_MR_PROMISC to anyone who may open the packet socket.
        let capture = try lab.withNamespace(of: host, dropping: [.netAdmin]) {
            try PcapCapture(PcapCaptureConfiguration(interface: "eth0", promiscuous: true))
        }
        #expect(try promiscuity().contains("promiscuity 1"))
        capture.close()
        #expect(try promiscuity().contains("promiscuity 0"))
    }

    @Test func peerFilterExpressionCompilesWithoutADevice() throws {
        let filter = PeerCaptureFilter(
            peerMAC: MACAddress(0x02, 0x74, 0x6B, 0x00, 0x00, 0x02),
            watchedAddresses: [.v4(IPv4Address(192, 0, 2, 20)), .v6(IPv6Address("2001:db8::20")!)])
        try PeerCaptureFilter.validate(filter.expression)
        #expect(filter.expression.hasPrefix("ether host 02:74:6b:00:00:02 or (arp host 192.0.2.20)"))
        #expect(filter.expression.contains("ip6[48:4] = 0x20010db8 and ip6[52:4] = 0x0 and ip6[56:4] = 0x0 and ip6[60:4] = 0x20"))
        #expect(throws: PcapCaptureError.self) { try PeerCaptureFilter.validate("arp host") }
    }
}
