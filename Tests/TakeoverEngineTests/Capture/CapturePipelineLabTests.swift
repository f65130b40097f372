import Foundation
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import TakeoverLinux
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Root tests: the standby's pipeline over a real libpcap capture and over AF_XDP on a hub lab (client,
/// primary, standby), fed by the client's and the primary's own kernel stacks. What the pipeline tracks is
/// checked against the endpoints' kernels (TCP_REPAIR on the client's socket) and against tshark's reading
/// of a tcpdump capture taken at the same time (on the standby with libpcap, on the client with AF_XDP).
@Suite(.serialized) struct CapturePipelineLabTests {
    static let python = "/usr/bin/python3"
    static let tcpPort: UInt16 = 5102
    static let udpPort: UInt16 = 5101

    /// Echoes every TCP connection's bytes until the client closes, and every UDP datagram.
    static let echoServer = """
        import socket, threading
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("0.0.0.0", \(udpPort)))
        def echo_udp():
            while True:
                data, peer = udp.recvfrom(4096)
                udp.sendto(data, peer)
        threading.Thread(target=echo_udp, daemon=True).start()
        tcp = socket.socket()
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("0.0.0.0", \(tcpPort)))
        tcp.listen(4)
        print("ready", flush=True)
        while True:
            connection, _ = tcp.accept()
            while True:
                data = connection.recv(65536)
                if not data:
                    break
                connection.sendall(data)
            connection.close()
        """

    struct Lab {
        let lab: NetworkLab
        let client: LabInterface
        let primary: LabInterface
        let standby: LabInterface
        let clientIP: IPv4Address
        let primaryIP: IPv4Address

        init(_ label: String) throws {
            let base = try FailoverHub(label)
            (lab, client, primary, standby) = (base.lab, base.client, base.primary, base.standby)
            clientIP = try #require(client.ipv4)
            primaryIP = try #require(primary.ipv4)
        }

        /// The standby's capture of the primary's traffic, as the engine opens it.
        func openCapture() throws -> PcapCapture {
            let capture = try lab.withNamespace(of: standby.host) {
                try PcapCapture(
                    PcapCaptureConfiguration(interface: "eth0", delivery: .blocks(timeout: .milliseconds(1))))
            }
            try capture.setFilter(PeerCaptureFilter(peerMAC: primary.mac, watchedAddresses: [.v4(primaryIP)]))
            return capture
        }

        /// The standby's pipeline over `backend`. For AF_XDP, the XDP program goes on the standby's eth0 in
        /// monitor mode (frames to and from the primary's MAC are redirected to the socket).
        func startPipeline(
            _ backend: Backend = .libpcap, _ configuration: CapturePipelineConfiguration? = nil
        ) throws -> StandbyPipeline {
            let configuration =
                configuration ?? CapturePipelineConfiguration(peerMAC: primary.mac, sessionCapacity: 1024)
            switch backend {
            case .libpcap:
                return try StandbyPipeline(
                    pipeline: CapturePipeline(
                        source: try openCapture(), configuration: configuration, clock: MonotonicClock.now),
                    detach: {})
            case .afxdp:
                let (standbyMAC, primaryMAC) = (standby.mac, primary.mac)
                let (attachment, socket) = try lab.withNamespace(of: standby.host) {
                    let program = try XDPProgram()
                    try program.configure(ownMAC: standbyMAC, peerMAC: primaryMAC)
                    let attachment = try program.attach(toInterface: "eth0")
                    try program.setMode(.monitor)
                    let socket = try AFXDPSocket(
                        interface: "eth0", configuration: AFXDPConfiguration(transmitFrameCount: 0), program: program)
                    return (attachment, socket)
                }
                let pipeline = try CapturePipeline(
                    source: AFXDPPacketSource(socket, clock: MonotonicClock.now), configuration: configuration,
                    clock: MonotonicClock.now)
                // Interface indexes belong to the namespace: detach there, after the socket is gone.
                return StandbyPipeline(
                    pipeline: pipeline,
                    detach: { [lab, standby] in
                        _ = try? lab.withNamespace(of: standby.host) { try attachment.detach() }
                    })
            }
        }

        func startEchoServer() throws {
            let server = try lab.start(
                in: primary.host, [CapturePipelineLabTests.python, "-c", CapturePipelineLabTests.echoServer])
            guard server.waitForOutput(containing: "ready", timeout: .seconds(10)) else {
                throw LabError.launchFailed(
                    arguments: server.arguments, reason: "echo server not ready: \(server.standardError)")
            }
        }
    }

    enum Backend: String, CaseIterable, CustomStringConvertible {
        case libpcap
        case afxdp
        var description: String { rawValue }
    }

    /// The pipeline and whatever its backend needs undone after it stops (the XDP attachment).
    final class StandbyPipeline {
        let pipeline: CapturePipeline
        private var detach: (() -> Void)?

        init(pipeline: CapturePipeline, detach: @escaping () -> Void) {
            self.pipeline = pipeline
            self.detach = detach
        }

        /// Stops the pipeline (its source closes with it), then detaches. Idempotent.
        @discardableResult
        func stop() -> CapturePipelineStopResult {
            let result = pipeline.stop()
            detach?()
            detach = nil
            return result
        }
    }

    /// Runs a command outside any lab host (bounded: killed after 10 s); returns its exit status.
    static func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        try process.run()
        if !waitUntil(timeout: .seconds(10), { !process.isRunning }) { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    // MARK: TCP tracking against the kernels and tshark

    @Test(arguments: Backend.allCases)
    func pipelineTracksTheSessionAsTheClientsKernelAndTsharkSeeIt(backend: Backend) throws {
        let setup = try Lab("pipetcp")
        defer { setup.lab.teardown() }
        try setup.startEchoServer()
        let standby = try setup.startPipeline(backend)
        defer { standby.stop() }
        let pipeline = standby.pipeline

        // tcpdump at the same time: on the standby's interface with libpcap; with AF_XDP the program
        // redirects the primary's frames before any packet socket on the standby sees them, so on the client.
        let tcpdumpHost = backend == .libpcap ? setup.standby.host : setup.client.host
        let pcapPath = FileManager.default.temporaryDirectory.appendingPathComponent(
            "takeover-pipeline-\(getpid())-\(backend).pcap"
        ).path
        defer { try? FileManager.default.removeItem(atPath: pcapPath) }
        let tcpdump = try setup.lab.startTcpdump(
            in: tcpdumpHost, ["-U", "-n", "-w", pcapPath, "ether host \(setup.primary.mac) and tcp port \(Self.tcpPort)"])

        // The client's TCP connection: a socket opened in the client's namespace, used from here.
        let socket = try setup.lab.withNamespace(of: setup.client.host) {
            try TestSocket.connect(to: setup.primaryIP, port: Self.tcpPort)
        }
        defer { socket.close() }
        for size in [100, 1_448, 5_000, 40_000, 7] {
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
            try socket.sendAll(message)
            #expect(try socket.receive(exactly: size) == message)
        }
        // Some ICMP and UDP to the peer as well: counted, tracked (UDP), never mistaken for the session.
        let ping = try setup.lab.run(
            in: setup.client.host, ["ping", "-c", "2", "-i", "0.2", "-W", "1", "\(setup.primaryIP)"])
        #expect(ping.succeeded)

        let kernel = try TCPRepair.snapshot(socket: socket.descriptor)
        let flow = FlowKey(
            source: FlowAddress(setup.clientIP), destination: FlowAddress(setup.primaryIP),
            sourcePort: socket.localPort, destinationPort: Self.tcpPort, protocolNumber: IPProtocolNumber.tcp)
        // Bounded wait for the last ACK to reach the tracker.
        let caughtUp = waitUntil(timeout: .seconds(5)) {
            guard let session = pipeline.session(for: flow) else { return false }
            return session.sendNext(.original) == kernel.sendSequence
                && session.receiveNext(.original) == kernel.receiveSequence
        }
        let session = try #require(pipeline.session(for: flow))
        #expect(caughtUp)
        #expect(session.key == flow, "the client's SYN was seen: the client is the original side")
        #expect(session.flags.contains(.handshakeSeen))
        // The client's kernel: SND.NXT (all sent data acknowledged, so write_seq) and RCV.NXT.
        #expect(session.sendNext(.original) == kernel.sendSequence)
        #expect(session.receiveNext(.original) == kernel.receiveSequence)
        // The primary's side mirrors it.
        #expect(session.sendNext(.reply) == kernel.receiveSequence)
        #expect(session.receiveNext(.reply) == kernel.sendSequence)
        #expect(session.state(.original) == .established && session.state(.reply) == .established)

        // tshark's reading of the standby's tcpdump capture: the highest sequence each side reached.
        tcpdump.stop()
        let fields = try setup.lab.runChecked(
            in: tcpdumpHost,
            [
                "tshark", "-r", pcapPath, "-o", "tcp.relative_sequence_numbers:FALSE", "-T", "fields", "-e",
                "tcp.srcport",
                "-e", "tcp.seq", "-e", "tcp.len", "-e", "tcp.flags.syn", "-e", "tcp.flags.fin",
            ])
        var tsharkNext: [UInt16: UInt32] = [:]
        for line in fields.split(separator: "\n") {
            let columns = line.split(separator: "\t").map(String.init)
            guard columns.count == 5, let port = UInt16(columns[0]), let sequence = UInt32(columns[1]),
                let length = UInt32(columns[2])
            else { continue }
            let flagCount: UInt32 =
                (columns[3] == "1" || columns[3] == "True" ? 1 : 0)
                + (columns[4] == "1" || columns[4] == "True" ? 1 : 0)
            let end = sequence &+ length &+ flagCount
            tsharkNext[port] = tsharkNext[port].map { SequenceNumber.max($0, end) } ?? end
        }
        #expect(tsharkNext[socket.localPort] == session.sendNext(.original), "tshark: \(tsharkNext)")
        #expect(tsharkNext[Self.tcpPort] == session.sendNext(.reply), "tshark: \(tsharkNext)")

        let result = standby.stop()
        #expect(result.joined)
        #expect(result.receiveFailure == nil)
        let statistics = result.statistics
        #expect(statistics.totalDropped == 0, "\(statistics)")
        #expect(statistics.receive.peerFrames > 0 && statistics.lastPeerFrame != nil)
        #expect(statistics.receive.framesWithoutFlow >= 4, "ICMP echo requests and replies")
        #expect(statistics.recordsTracked == statistics.receive.recordsQueued)
    }

    // MARK: Malformed frames on the wire

    @Test(arguments: Backend.allCases)
    func malformedFramesFromTheClientAreCountedByReasonAndTheValidOnesStillTracked(backend: Backend) throws {
        let setup = try Lab("pipebad")
        defer { setup.lab.teardown() }
        // br_netfilter is loaded on this machine, and a bridge that calls iptables validates IPv4 headers and
        // silently drops bad ones: make the hub a plain L2 medium so malformed frames cross it.
        let hubNamespace = setup.client.hub.namespace
        let sysctl = try Self.run(
            [
                "/usr/sbin/ip", "netns", "exec", hubNamespace, "sysctl", "-q", "-w",
                "net.bridge.bridge-nf-call-iptables=0",
                "net.bridge.bridge-nf-call-ip6tables=0", "net.bridge.bridge-nf-call-arptables=0",
            ])
        try #require(sysctl == 0)
        let standby = try setup.startPipeline(backend)
        defer { standby.stop() }
        let pipeline = standby.pipeline

        let client = CaptureTestFrames.Endpoint(mac: setup.client.mac, ip: setup.clientIP, port: 33_000)
        let primary = CaptureTestFrames.Endpoint(mac: setup.primary.mac, ip: setup.primaryIP, port: 9)
        var badTotalLength = CaptureTestFrames.udp(from: client, to: primary, payload: 10)
        badTotalLength[16] = 0x05  // IPv4 total length 0x05xx: beyond the frame
        var badHeaderLength = CaptureTestFrames.udp(from: client, to: primary, payload: 10)
        badHeaderLength[14] = 0x44  // IHL 4
        var badDataOffset = CaptureTestFrames.tcp(from: client, to: primary, sequence: 1, flags: .ack)
        badDataOffset[34 + 12] = 0x40  // data offset 4
        let badUDPLength = CaptureTestFrames.udp(from: client, to: primary, payload: 10, claimedLength: 300)
        var valid = client
        valid.port = 33_999
        let frames: [([UInt8], Int)] = [
            (badTotalLength, 3), (badHeaderLength, 2), (badDataOffset, 1), (badUDPLength, 2),
            (CaptureTestFrames.udp(from: valid, to: primary, payload: 32), 1),
        ]
        let hex = frames.flatMap { frame, copies in
            Array(repeating: frame.map { String(format: "%02x", $0) }.joined(), count: copies)
        }
        let send = try setup.lab.run(
            in: setup.client.host,
            [
                Self.python, "-c",
                "import socket, sys\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('eth0', 0))\n"
                    + "for h in sys.argv[1:]: s.send(bytes.fromhex(h))",
            ] + hex)
        #expect(send.succeeded, "\(send.standardError)")

        let validFlow = FlowKey(
            source: FlowAddress(setup.clientIP), destination: FlowAddress(setup.primaryIP), sourcePort: valid.port,
            destinationPort: primary.port, protocolNumber: IPProtocolNumber.udp)
        #expect(
            waitUntil(timeout: .seconds(5)) {
                pipeline.statistics().receive.malformed.total >= 8 && pipeline.session(for: validFlow) != nil
            })
        let result = standby.stop()
        #expect(result.receiveFailure == nil)
        let malformed = result.statistics.receive.malformed
        #expect(malformed[.badIPv4TotalLength] == 3, "\(malformed)")
        #expect(malformed[.badIPv4HeaderLength] == 2, "\(malformed)")
        #expect(malformed[.badTCPDataOffset] == 1, "\(malformed)")
        #expect(malformed[.badUDPLength] == 2, "\(malformed)")
        #expect(malformed.total == 8, "\(malformed)")
        #expect(pipeline.session(for: validFlow)?.original.payloadBytes == 32)
    }

    // MARK: Drops under a flood

    @Test(arguments: Backend.allCases)
    func aTinyRingUnderAFloodCountsItsDropsAndLosesNoneSilently(backend: Backend) throws {
        let setup = try Lab("pipering")
        defer { setup.lab.teardown() }
        let flows = 16
        let standby = try setup.startPipeline(
            backend,
            CapturePipelineConfiguration(
                peerMAC: setup.primary.mac, ringCapacity: 2, batchSize: 64, trackerIdleSleep: .milliseconds(20),
                sessionCapacity: 1024))
        defer { standby.stop() }
        let pipeline = standby.pipeline

        // UDP from the client to the primary's MAC, paced at 20 000 frames/s — slow enough for the hub to carry
        // every frame (its drops would be the medium's, invisible to the standby), far too fast for a two-slot
        // ring whose consumer naps 20 ms. Bounded in count and time.
        let report = try setup.lab.withNamespace(of: setup.client.host) {
            try TrafficGenerator.run(
                TrafficGenerator.Configuration(
                    interface: "eth0", sourceMAC: setup.client.mac, destinationMAC: setup.primary.mac,
                    sourceIP: setup.clientIP, destinationIP: setup.primaryIP, flowCount: flows, maximumFrames: 20_000,
                    maximumDuration: .seconds(3), framesPerSecond: 20_000))
        }
        #expect(report.framesSent > 0)
        // Let the capture settle: the kernel ring drained, the last counters read.
        _ = waitUntil(timeout: .seconds(3)) {
            let before = pipeline.statistics().receive.framesReceived
            Thread.sleep(forTimeInterval: 0.2)
            return pipeline.statistics().receive.framesReceived == before
        }
        let result = standby.stop()
        #expect(result.joined)
        let statistics = result.statistics
        let receive = statistics.receive
        #expect(receive.droppedRingFull > 0, "\(statistics)")
        #expect(
            receive.framesReceived
                == receive.recordsQueued + receive.framesWithoutFlow + receive.droppedRingFull + receive.malformed.total
        )
        #expect(statistics.recordsTracked == receive.recordsQueued)
        // Every frame sent is on the books: received by the pipeline, or dropped by the kernel ring or the
        // interface (the lab's own ARP may add a few frames received, never fewer).
        let accounted = receive.framesReceived + statistics.source.dropped + statistics.source.interfaceDropped
        #expect(accounted >= UInt64(report.framesSent), "sent \(report.framesSent), \(statistics)")
        let generatorSessions = pipeline.sessions { $0.key.protocolNumber == IPProtocolNumber.udp }
        #expect(!generatorSessions.isEmpty && generatorSessions.count <= flows)
        print(
            "tiny ring flood (\(backend)): \(report); pipeline: received \(receive.framesReceived), "
                + "queued \(receive.recordsQueued), ring full \(receive.droppedRingFull), "
                + "kernel ring dropped \(statistics.source.dropped)")
    }
}
