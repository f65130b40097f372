import Foundation
import Glibc
import TakeoverCore
import TakeoverLinux
import Testing

/// The AF_XDP backend on a veth pair between a client and a standby namespace (XDPAttachTests.makeLab:
/// c0 192.0.2.2/24, whose neighbour table maps 192.0.2.3 to the peer's MAC; s0 with the takeover program in
/// monitor mode). Real traffic from the client's kernel stack; TEST-NET-1 only. Root only; every namespace is
/// deleted in a `defer`, every loop is bounded in count and time.
@Suite("AF_XDP socket (root, namespaces)")
struct AFXDPSocketTests {
    static let peerMAC = XDPAttachTests.peerMAC
    static let clientIPv4 = IPv4Address(192, 0, 2, 2)
    static let peerOnlyIPv4 = IPv4Address(XDPAttachTests.peerOnlyIPv4)!
    static let standbyIPv4 = IPv4Address(192, 0, 2, 4)  // source of what the standby transmits; nobody owns it

    struct Hosts {
        var client: String
        var standby: String
        var clientMAC: MACAddress
        var standbyMAC: MACAddress
    }

    static func makeHosts(_ lab: NamespaceLab) throws -> Hosts {
        let (client, standby) = try XDPAttachTests.makeLab(lab)
        return Hosts(client: client, standby: standby, clientMAC: try XDPAttachTests.interfaceMAC(client, "c0"),
                     standbyMAC: try XDPAttachTests.interfaceMAC(standby, "s0"))
    }

    /// The program on s0, configured with the peer's MAC, in monitor mode. Call on the standby's thread.
    static func monitoringProgram(ownMAC: MACAddress) throws -> (XDPProgram, XDPAttachment) {
        let program = try XDPProgram()
        try program.configure(ownMAC: ownMAC, peerMAC: peerMAC)
        let attachment = try program.attach(toInterface: "s0")
        try program.setMode(.monitor)
        return (program, attachment)
    }

    static func payload(round: Int, index: Int) -> [UInt8] {
        Array("takeover AF_XDP test round \(round) datagram \(index)".utf8)
    }

    // MARK: Receive

    struct ReceiveObservations: Sendable {
        var bindMode: AFXDPBindMode
        var copyModeReason: String?
        var pingFrames: [[UInt8]]
        var roundsOfFrames: [[[UInt8]]]
        var lateFrames: [[UInt8]]
        var statistics: AFXDPStatistics
        var redirected: UInt64
    }

    /// ping and a UDP socket in the client send to the peer's MAC; the socket receives exactly those frames, in
    /// order, intact (MACs, addresses, ports, lengths, IPv4 checksum, payload), and — with a 64-frame UMEM — ten
    /// times as many frames as it holds, so frames are recycled.
    @Test func receivesExactlyTheClientsFramesAndRecyclesThem() throws {
        let lab = NamespaceLab(test: "xrx")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let sender = try LabUDPSocket.open(in: hosts.client, address: Self.clientIPv4)
        defer { sender.close() }
        let rounds = 20
        let perRound = 32
        let receiverPort: UInt16 = 9  // discard; nobody listens on the peer's address anyway

        let seen = try NamespaceLab.inNamespace(hosts.standby) {
            let (program, attachment) = try Self.monitoringProgram(ownMAC: hosts.standbyMAC)
            defer { try? attachment.detach() }
            let socket = try AFXDPSocket(interface: "s0", queue: 0,
                                         configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 0),
                                         program: program)
            let before = try program.counters()
            try NamespaceLab.run(["ip", "netns", "exec", hosts.client, "ping", "-c", "2", "-i", "0.2", "-W", "0.2",
                                  "\(Self.peerOnlyIPv4)"], allowFailure: true)
            let pingFrames = try socket.receiveCopies(expected: 2, timeout: .seconds(2))
            var roundsOfFrames: [[[UInt8]]] = []
            for round in 0..<rounds {
                for index in 0..<perRound {
                    try sender.send(Self.payload(round: round, index: index), to: Self.peerOnlyIPv4, port: receiverPort)
                }
                roundsOfFrames.append(try socket.receiveCopies(expected: perRound, timeout: .seconds(2)))
            }
            let late = try socket.receiveCopies(expected: 1, timeout: .milliseconds(200))
            return ReceiveObservations(
                bindMode: socket.bindMode, copyModeReason: socket.copyModeReason, pingFrames: pingFrames,
                roundsOfFrames: roundsOfFrames, lateFrames: late, statistics: try socket.statistics(),
                redirected: try program.counters().since(before)[.monitorRedirected].packets)
        }

        #expect(seen.bindMode == .copy, "veth has no zero-copy")
        let reason = try #require(seen.copyModeReason)
        #expect(reason.contains("zero-copy refused by s0") && reason.contains("errno"), "\(reason)")

        #expect(seen.pingFrames.count == 2, "\(seen.pingFrames)")
        for frame in seen.pingFrames {  // ICMP echo requests from c0 to the address it maps to the peer's MAC
            #expect(frame.count >= 42 && Array(frame[0..<6]) == Self.peerMAC.octets
                && Array(frame[6..<12]) == hosts.clientMAC.octets && frame[23] == 1 && frame[34] == 8
                && Array(frame[30..<34]) == [192, 0, 2, 3], "\(frame)")
        }
        for (round, frames) in seen.roundsOfFrames.enumerated() {
            let fields = frames.map { LabUDPFrame.read($0, checkUDPChecksum: false) }
            let expected = (0..<perRound).map { index in
                LabUDPFrame.Fields(
                    destinationMAC: Self.peerMAC, sourceMAC: hosts.clientMAC, sourceIP: Self.clientIPv4,
                    destinationIP: Self.peerOnlyIPv4, sourcePort: sender.port, destinationPort: receiverPort,
                    payload: Self.payload(round: round, index: index))
            }
            let firstMismatch = fields.indices.first { $0 >= expected.count || fields[$0] != expected[$0] }
            #expect(fields.count == perRound && firstMismatch == nil,
                    "round \(round): \(fields.count) frames, first mismatch \(firstMismatch.map { "\(frames[$0])" } ?? "none")")
        }
        #expect(seen.lateFrames.isEmpty, "nothing else reaches the socket: \(seen.lateFrames)")
        let total = UInt64(2 + rounds * perRound)
        #expect(seen.statistics.receivedFrames == total && seen.redirected == total, "\(seen.statistics)")
        #expect(seen.statistics.receiveDrops == 0 && seen.statistics.kernel.fillRingEmpty == 0, "\(seen.statistics)")
        // Every frame is back with the kernel, ready for the next: recycled, not leaked.
        #expect(seen.statistics.receiveFramesWithKernel == 64 && seen.statistics.receiveFramesFree == 0)
    }

    struct DropObservations: Sendable {
        var redirected: UInt64
        var received: Int
        var statistics: AFXDPStatistics
    }

    /// A 16-frame socket that does not read while 48 frames arrive: 16 are received, 32 are counted as drops by
    /// the kernel, and the program's redirect count is exactly the sum — no frame is lost uncounted.
    @Test func everyDropIsCounted() throws {
        let lab = NamespaceLab(test: "xdrop")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let sender = try LabUDPSocket.open(in: hosts.client, address: Self.clientIPv4)
        defer { sender.close() }
        let sent = 48

        let seen = try NamespaceLab.inNamespace(hosts.standby) {
            let (program, attachment) = try Self.monitoringProgram(ownMAC: hosts.standbyMAC)
            defer { try? attachment.detach() }
            let socket = try AFXDPSocket(interface: "s0", queue: 0,
                                         configuration: AFXDPConfiguration(frameCount: 16, transmitFrameCount: 0),
                                         program: program)
            let before = try program.counters()
            for index in 0..<sent {
                try sender.send(Self.payload(round: 0, index: index), to: Self.peerOnlyIPv4, port: 9)
            }
            // Wait (bounded) until the program has seen every frame, still without reading.
            var redirected: UInt64 = 0
            for _ in 0..<200 where redirected < UInt64(sent) {
                redirected = try program.counters().since(before)[.monitorRedirected].packets
                if redirected < UInt64(sent) { usleep(10_000) }
            }
            let frames = try socket.receiveCopies(expected: sent, timeout: .milliseconds(300))
            return DropObservations(redirected: redirected, received: frames.count, statistics: try socket.statistics())
        }

        #expect(seen.redirected == UInt64(sent))
        #expect(seen.received == 16, "the socket holds 16 frames")
        #expect(seen.statistics.receivedFrames == 16)
        #expect(seen.statistics.receiveDrops == UInt64(sent - 16), "\(seen.statistics)")
        #expect(seen.statistics.receivedFrames + seen.statistics.receiveDrops == seen.redirected)
        #expect(seen.statistics.kernel.fillRingEmpty > 0, "the kernel saw the fill ring empty: \(seen.statistics)")
    }

    // MARK: Transmit

    struct TransmitObservations: Sendable {
        var received: [[UInt8]?]
        var invalidLength: AFXDPError?
        var afterInvalid: AFXDPStatistics
        var outcomes: [AFXDPTransmitOutcome]
        var batchQueued: [Int]
        var statistics: AFXDPStatistics
        var overAskQueued: Int
        var overAskStatistics: AFXDPStatistics
        var oversizedStatistics: AFXDPStatistics
        var strayDatagram: [UInt8]?
    }

    /// The standby builds UDP datagrams in UMEM frames and sends them to the client, three times its 32 transmit
    /// frames (so frames come back through the completion ring); the client's UDP socket receives each one.
    @Test func transmitsFramesBuiltInPlace() throws {
        let lab = NamespaceLab(test: "xtx")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let receiver = try LabUDPSocket.open(in: hosts.client, address: Self.clientIPv4)
        defer { receiver.close() }
        let sourcePort: UInt16 = 40_000
        let batches = 6
        let perBatch = 16
        @Sendable func fields(_ round: Int, _ index: Int, padding: Int = 0) -> LabUDPFrame.Fields {
            LabUDPFrame.Fields(
                destinationMAC: hosts.clientMAC, sourceMAC: hosts.standbyMAC, sourceIP: Self.standbyIPv4,
                destinationIP: Self.clientIPv4, sourcePort: sourcePort, destinationPort: receiver.port,
                payload: Self.payload(round: round, index: index) + [UInt8](repeating: 0, count: padding))
        }

        let seen = try NamespaceLab.inNamespace(hosts.standby) {
            let socket = try AFXDPSocket(interface: "s0", queue: 0,
                                         configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 32))
            var outcomes: [AFXDPTransmitOutcome] = []
            // One frame on its own, and one the builder abandons.
            outcomes.append(try socket.transmit { LabUDPFrame.write(fields(100, 0), into: $0) })
            outcomes.append(try socket.transmit { _ in 0 })
            try socket.flush()
            var datagrams: [[UInt8]?] = [try receiver.receive(timeout: .seconds(2))]
            var queued: [Int] = []
            for batch in 0..<batches {
                queued.append(try socket.transmit(count: perBatch) { index, buffer in
                    LabUDPFrame.write(fields(batch, index), into: buffer)
                })
                try socket.flush()
                for _ in 0..<perBatch { datagrams.append(try receiver.receive(timeout: .seconds(2))) }
            }
            // Completions arrive as the veth frees the frames; wait for them, bounded.
            var statistics = try socket.statistics()
            for _ in 0..<100 where statistics.transmitFramesInFlight > 0 {
                usleep(10_000)
                try socket.flush()
                statistics = try socket.statistics()
            }
            // A builder claiming more than the buffer holds: an error, and every frame of the batch goes back.
            var invalidLength: AFXDPError?
            do {
                _ = try socket.transmit(count: 4) { index, buffer in index == 2 ? buffer.count + 1 : 60 }
            } catch let error as AFXDPError {
                invalidLength = error
            }
            let afterInvalid = try socket.statistics()
            // Asking for more frames than the pool holds: the rest are refused and counted, not built.
            let overAsk = try socket.transmit(count: 40) { index, buffer in
                LabUDPFrame.write(fields(200, index), into: buffer)
            }
            try socket.flush()
            for _ in 0..<overAsk { datagrams.append(try receiver.receive(timeout: .seconds(2))) }
            let overAskStatistics = try socket.statistics()
            // A frame longer than the veth's MTU allows: the device drops it, the kernel completes it, it is counted.
            let oversized = try socket.transmit { LabUDPFrame.write(fields(300, 0, padding: 1600), into: $0) }
            try socket.flush()
            return TransmitObservations(received: datagrams, invalidLength: invalidLength, afterInvalid: afterInvalid,
                                        outcomes: outcomes + [oversized], batchQueued: queued, statistics: statistics,
                                        overAskQueued: overAsk, overAskStatistics: overAskStatistics,
                                        oversizedStatistics: try socket.statistics(),
                                        strayDatagram: try receiver.receive(timeout: .milliseconds(100)))
        }

        let oversizedLength = LabUDPFrame.headerLength + Self.payload(round: 300, index: 0).count + 1600
        #expect(seen.outcomes == [.submitted(length: LabUDPFrame.headerLength + Self.payload(round: 100, index: 0).count),
                                  .abandoned, .submitted(length: oversizedLength)])
        #expect(seen.batchQueued == Array(repeating: perBatch, count: batches))
        let expectedPayloads = [Self.payload(round: 100, index: 0)]
            + (0..<batches).flatMap { batch in (0..<perBatch).map { Self.payload(round: batch, index: $0) } }
            + (0..<seen.overAskQueued).map { Self.payload(round: 200, index: $0) }
        #expect(seen.received == expectedPayloads.map(Optional.some))
        #expect(seen.overAskQueued == 32)
        let first = seen.statistics
        #expect(first.transmitSubmitted == UInt64(1 + batches * perBatch) && first.transmitAbandoned == 1, "\(first)")
        #expect(first.transmitCompleted == first.transmitSubmitted && first.transmitFramesInFlight == 0, "\(first)")
        #expect(first.transmitDrops == 0 && first.transmitKicks > 0, "\(first)")
        #expect(seen.invalidLength == .invalidFrameLength(2049, capacity: 2048))
        #expect(seen.afterInvalid.transmitFramesFree == 32 && seen.afterInvalid.transmitSubmitted == first.transmitSubmitted,
                "\(seen.afterInvalid)")
        let last = seen.overAskStatistics
        #expect(last.transmitNoBuffer == 8 && last.transmitDrops == 8, "\(last)")
        #expect(last.transmitSubmitted == first.transmitSubmitted + 32)
        let oversized = seen.oversizedStatistics
        #expect(oversized.transmitDroppedByDevice == 1 && oversized.transmitDrops == last.transmitDrops + 1, "\(oversized)")
        #expect(oversized.transmitCompleted == oversized.transmitSubmitted && oversized.transmitFramesFree == 32, "\(oversized)")
        #expect(seen.strayDatagram == nil)
    }

    struct ResponderObservations: Sendable {
        var answered: Int
        var replies: [[UInt8]?]
        var statistics: AFXDPStatistics
    }

    /// The responder's pattern: a receive handler answers each frame to the peer's MAC by building the reply in a
    /// transmit frame of the same socket, in place, from the request's fields (addresses and ports swapped,
    /// from our MAC). The client's UDP socket receives every reply.
    @Test func receiveHandlerAnswersThroughTransmit() throws {
        let lab = NamespaceLab(test: "xecho")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let client = try LabUDPSocket.open(in: hosts.client, address: Self.clientIPv4)
        defer { client.close() }
        let requests = 24

        let seen = try NamespaceLab.inNamespace(hosts.standby) {
            let (program, attachment) = try Self.monitoringProgram(ownMAC: hosts.standbyMAC)
            defer { try? attachment.detach() }
            let socket = try AFXDPSocket(interface: "s0", queue: 0,
                                         configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 16),
                                         program: program)
            var answered = 0
            var replies: [[UInt8]?] = []
            for index in 0..<requests {
                try client.send(Self.payload(round: 7, index: index), to: Self.peerOnlyIPv4, port: 7)
                guard try socket.waitForFrames(timeout: .seconds(2)) else { break }
                try socket.receive(limit: 8) { request in
                    guard let fields = LabUDPFrame.read(Array(request.bytes), checkUDPChecksum: false) else { return }
                    let reply = LabUDPFrame.Fields(
                        destinationMAC: fields.sourceMAC, sourceMAC: hosts.standbyMAC, sourceIP: fields.destinationIP,
                        destinationIP: fields.sourceIP, sourcePort: fields.destinationPort,
                        destinationPort: fields.sourcePort, payload: fields.payload.reversed())
                    if case .submitted = try? socket.transmit({ LabUDPFrame.write(reply, into: $0) }) { answered += 1 }
                }
                try socket.flush()
                replies.append(try client.receive(timeout: .seconds(2)))
            }
            return ResponderObservations(answered: answered, replies: replies, statistics: try socket.statistics())
        }

        #expect(seen.answered == requests)
        #expect(seen.replies == (0..<requests).map { Self.payload(round: 7, index: $0).reversed() })
        #expect(seen.statistics.receivedFrames == UInt64(requests) && seen.statistics.transmitSubmitted == UInt64(requests))
        #expect(seen.statistics.receiveDrops == 0 && seen.statistics.transmitDrops == 0, "\(seen.statistics)")
    }

    // MARK: Waiting, errors

    @Test func waitingForFramesIsBoundedByItsTimeout() throws {
        let lab = NamespaceLab(test: "xwait")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let (ready, elapsed) = try NamespaceLab.inNamespace(hosts.standby) {
            let socket = try AFXDPSocket(interface: "s0", configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 0))
            let clock = ContinuousClock()
            let start = clock.now
            let ready = try socket.waitForFrames(timeout: .milliseconds(100))
            return (ready, clock.now - start)
        }
        #expect(!ready)
        #expect(elapsed >= .milliseconds(95) && elapsed < .seconds(2), "\(elapsed)")
    }

    struct ErrorObservations: Sendable {
        var missingQueue: AFXDPError?
        var busyQueue: AFXDPError?
        var zeroCopyOnly: AFXDPError?
        var afterClose: AFXDPError?
    }

    @Test func bindFailuresNameInterfaceQueueAndErrno() throws {
        let lab = NamespaceLab(test: "xbind")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let small = AFXDPConfiguration(frameCount: 64, transmitFrameCount: 16)
        let seen = try NamespaceLab.inNamespace(hosts.standby) {
            func failure(_ body: () throws -> Void) -> AFXDPError? {
                do { try body() } catch let error as AFXDPError { return error } catch {}
                return nil
            }
            var observations = ErrorObservations()
            observations.missingQueue = failure { _ = try AFXDPSocket(interface: "s0", queue: 7, configuration: small) }
            var zeroCopyOnly = small
            zeroCopyOnly.bindPreference = .zeroCopyOnly
            observations.zeroCopyOnly = failure { _ = try AFXDPSocket(interface: "s0", configuration: zeroCopyOnly) }
            let holder = try AFXDPSocket(interface: "s0", configuration: small)
            observations.busyQueue = failure { _ = try AFXDPSocket(interface: "s0", configuration: small) }
            holder.close()
            observations.afterClose = failure { _ = try holder.receive(limit: 1) { _ in } }
            return observations
        }

        func expectBindFailure(_ error: AFXDPError?, queue: UInt32, errno expected: Int32, hint: String) {
            guard case .bindFailed(let interface, let failedQueue, let call) = error else {
                Issue.record("expected bindFailed, got \(String(describing: error))")
                return
            }
            #expect(interface == "s0" && failedQueue == queue && call.errno == expected, "\(call)")
            let text = error!.description
            #expect(text.contains("s0 queue \(queue)") && text.contains("errno \(expected)") && text.contains(hint), "\(text)")
        }
        expectBindFailure(seen.missingQueue, queue: 7, errno: EINVAL, hint: "queue may not exist")
        expectBindFailure(seen.zeroCopyOnly, queue: 0, errno: EOPNOTSUPP, hint: "no zero-copy support")
        expectBindFailure(seen.busyQueue, queue: 0, errno: EBUSY, hint: "another AF_XDP socket")
        #expect(seen.afterClose == .closed)
    }

    /// Deleting the interface unbinds the socket in the kernel; the next quiet wait and the next flush say so
    /// instead of waiting forever, and the socket still closes cleanly.
    @Test func interfaceRemovalIsReported() throws {
        let lab = NamespaceLab(test: "xgone")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let (waitError, flushError) = try NamespaceLab.inNamespace(hosts.standby) { () -> (AFXDPError?, AFXDPError?) in
            let socket = try AFXDPSocket(interface: "s0",
                                         configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 16))
            defer { socket.close() }
            try NamespaceLab.run(["ip", "-n", hosts.standby, "link", "del", "s0"])
            var waitError: AFXDPError?
            do { _ = try socket.waitForFrames(timeout: .milliseconds(50)) } catch let error as AFXDPError { waitError = error }
            var flushError: AFXDPError?
            do {
                _ = try socket.transmit { buffer in
                    buffer.initializeMemory(as: UInt8.self, repeating: 0)
                    return 60
                }
                try socket.flush()
            } catch let error as AFXDPError {
                flushError = error
            }
            return (waitError, flushError)
        }
        for error in [waitError, flushError] {
            guard case .unbound(let interface, let queue, let call) = error else {
                Issue.record("expected unbound, got \(String(describing: error))")
                continue
            }
            #expect(interface == "s0" && queue == 0 && [ENETDOWN, ENXIO].contains(call.errno), "\(call)")
            #expect(error!.description.contains("went away"))
        }
    }

    struct DownObservations: Sendable {
        var flushError: AFXDPError?
        var whileDown: AFXDPStatistics
        var afterUp: AFXDPStatistics
        var datagram: [UInt8]?
    }

    /// A flush while the interface is down says so; the frame stays queued and leaves with the next flush after
    /// the interface is up again.
    @Test func interfaceDownKeepsFramesQueued() throws {
        let lab = NamespaceLab(test: "xdown")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let receiver = try LabUDPSocket.open(in: hosts.client, address: Self.clientIPv4)
        defer { receiver.close() }
        let payload = Self.payload(round: 400, index: 0)
        let seen = try NamespaceLab.inNamespace(hosts.standby) {
            let socket = try AFXDPSocket(interface: "s0",
                                         configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 16))
            try NamespaceLab.run(["ip", "-n", hosts.standby, "link", "set", "s0", "down"])
            _ = try socket.transmit { buffer in
                LabUDPFrame.write(LabUDPFrame.Fields(
                    destinationMAC: hosts.clientMAC, sourceMAC: hosts.standbyMAC, sourceIP: Self.standbyIPv4,
                    destinationIP: Self.clientIPv4, sourcePort: 40_000, destinationPort: receiver.port,
                    payload: payload), into: buffer)
            }
            var flushError: AFXDPError?
            do { try socket.flush() } catch let error as AFXDPError { flushError = error }
            let whileDown = try socket.statistics()
            try NamespaceLab.run(["ip", "-n", hosts.standby, "link", "set", "s0", "up"])
            try socket.flush()
            let datagram = try receiver.receive(timeout: .seconds(2))
            return DownObservations(flushError: flushError, whileDown: whileDown, afterUp: try socket.statistics(),
                                    datagram: datagram)
        }
        guard case .interfaceDown("s0", let call) = seen.flushError else {
            Issue.record("expected interfaceDown, got \(String(describing: seen.flushError))")
            return
        }
        #expect(call.errno == ENETDOWN && seen.flushError!.description.contains("s0 is down"))
        #expect(seen.whileDown.transmitFramesInFlight == 1 && seen.whileDown.transmitCompleted == 0)
        #expect(seen.datagram == payload)
        #expect(seen.afterUp.transmitCompleted == 1 && seen.afterUp.transmitDrops == 0, "\(seen.afterUp)")
    }

    @Test func missingInterfaceAndInvalidConfigurationAreNamed() throws {
        #expect(throws: AFXDPError.interfaceNotFound("tkxmissing0")) {
            try AFXDPSocket(interface: "tkxmissing0")
        }
        let invalid: [(AFXDPConfiguration, String)] = [
            (AFXDPConfiguration(frameCount: 0), "frameCount"),
            (AFXDPConfiguration(frameCount: 64, transmitFrameCount: 65), "transmitFrameCount"),
            (AFXDPConfiguration(frameCount: 64, transmitFrameCount: 0, fillRingSize: 100), "fill ring size 100"),
            (AFXDPConfiguration(frameSize: .bytes2048, frameHeadroom: 2000), "frameHeadroom"),
        ]
        for (configuration, named) in invalid {
            do {
                _ = try AFXDPSocket(interface: "lo", configuration: configuration)
                Issue.record("accepted \(configuration)")
            } catch {
                guard case .invalidConfiguration(let reason) = error else {
                    Issue.record("expected invalidConfiguration, got \(error)")
                    continue
                }
                #expect(reason.contains(named), "\(reason)")
            }
        }
        let derived = try AFXDPConfiguration(frameCount: 4096, transmitFrameCount: 512).validated()
        #expect(derived == AFXDPConfiguration.RingSizes(fill: 4096, receive: 4096, transmit: 512, completion: 512))
    }

    @Test func withoutCapabilitiesTheErrorSaysWhatIsNeeded() throws {
        let lab = NamespaceLab(test: "xcaps")
        defer { lab.destroy() }
        let hosts = try Self.makeHosts(lab)
        let error = try NamespaceLab.inNamespace(hosts.standby, withoutCapabilities: true) { () -> AFXDPError? in
            do { _ = try AFXDPSocket(interface: "s0", configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 0)) }
            catch let error as AFXDPError { return error }
            return nil
        }
        guard case .insufficientPrivileges(let call) = try #require(error) else {
            Issue.record("expected insufficientPrivileges, got \(String(describing: error))")
            return
        }
        #expect(call.errno == EPERM)
        let text = error!.description
        #expect(text.contains("CAP_NET_RAW") && text.contains("libpcap"), "\(text)")
    }
}
