import Foundation
import Logging
import Synchronization
import TakeoverCore
import TakeoverLab
import TakeoverLinux
import TakeoverResume
import Testing

@testable import TakeoverEngine

#if canImport(Glibc)
    import Glibc
#endif

/// The handoff message and its Unix socket (no root), the fallback accounting of `ResumeTCPRecovery`, and the
/// kernel-side failures it reports (root, in a lab namespace).
@Suite(.serialized) struct ResumeHandoffTests {
    static func marker(ipv6: Bool, contextLength: UInt32 = 5) -> ResumedSessionMarker {
        let server = ResumeEndpoint(address: ipv6 ? [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [0x20] : [192, 0, 2, 20], port: 7000)
        let client = ResumeEndpoint(address: ipv6 ? [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [0x10] : [192, 0, 2, 10], port: 40_000)
        return ResumedSessionMarker(
            server: server, client: client, serverInitialSequence: 0xFFFF_FF00, clientInitialSequence: 1000,
            sendUnacknowledged: 0xFFFF_FFF0, sendNext: 0x10, contextStart: 2000, answerPoint: 2000 + contextLength,
            peerAcknowledged: 2010, receiveNext: 2020)
    }

    @Test(arguments: [false, true])
    func theMessageRoundTrips(ipv6: Bool) throws {
        let marker = Self.marker(ipv6: ipv6)
        let bytes = ResumeHandoffMessage.encode(marker, context: [1, 2, 3, 4, 5])
        #expect(bytes.count == ResumeHandoffMessage.headerLength + 5)
        #expect(Array(bytes[0..<4]) == Array("TKRS".utf8) && bytes[4] == 1 && bytes[5] == (ipv6 ? 6 : 4))
        let (decoded, context) = try bytes.withUnsafeBytes { try ResumeHandoffMessage.decode($0) }
        #expect(decoded == marker && context == [1, 2, 3, 4, 5])
        // Offsets across the 2^32 wrap of the server's sequence space.
        #expect(decoded.serverBytesSent == 0x10 &- 0xFFFF_FF00 &- 1 && decoded.sendQueueLength == 0x20)
        #expect(decoded.receiveQueueLength == 15 && decoded.receiveQueueOffset == 1004 && decoded.contextOffset == 999)
        #expect(decoded.server.description == (ipv6 ? "[2001:db8:0:0:0:0:0:20]:7000" : "192.0.2.20:7000"))
    }

    @Test func damagedMessagesAreRefusedWithTheirReason() {
        let good = ResumeHandoffMessage.encode(Self.marker(ipv6: false), context: [1, 2, 3, 4, 5])
        func decode(_ bytes: [UInt8]) -> ResumeHandoffError? {
            do {
                _ = try bytes.withUnsafeBytes { try ResumeHandoffMessage.decode($0) }
                return nil
            } catch { return error as? ResumeHandoffError }
        }
        #expect(decode(Array(good.prefix(79))) == .malformed("79 bytes, shorter than the header"))
        var badMagic = good
        badMagic[0] = 0
        #expect(decode(badMagic) == .malformed("bad magic"))
        var badVersion = good
        badVersion[4] = 2
        #expect(decode(badVersion) == .malformed("version 2"))
        var badFamily = good
        badFamily[5] = 5
        #expect(decode(badFamily) == .malformed("address family 5"))
        #expect(decode(Array(good.dropLast())) != nil, "context shorter than declared")
        var badLength = good
        badLength[79] = 6
        #expect(decode(badLength) != nil, "declared context disagrees with the marker")
    }

    @Test func aSocketTravelsWithItsMarkerToTheReceiver() throws {
        let path = "/tmp/takeover-handoff-\(getpid()).sock"
        let receiver = try ResumedSessionReceiver(path: path, nonBlocking: true)
        #expect(try receiver.receive() == nil, "nothing waiting")
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[1]) }
        let sender = try ResumedSessionSender(path: path)
        let marker = Self.marker(ipv6: true)
        try sender.send(socket: pair[0], marker: marker, context: [9, 8, 7, 6, 5])
        close(pair[0])  // the receiver's copy keeps the socket open
        let received = try #require(try receiver.receive())
        defer { close(received.socket) }
        #expect(received.marker == marker && received.context == [9, 8, 7, 6, 5])
        #expect(received.socket >= 0)
        // The received descriptor is the same socket: bytes written on it come out of the other end.
        #expect(write(received.socket, "hi", 2) == 2)
        var buffer = [UInt8](repeating: 0, count: 2)
        #expect(read(pair[1], &buffer, 2) == 2 && buffer == Array("hi".utf8))
        // A message without a socket is refused.
        let raw = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(raw) }
        let message = ResumeHandoffMessage.encode(marker, context: [1, 2, 3, 4, 5])
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(raw, message, message.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(sent == message.count)
        #expect(throws: ResumeHandoffError.missingSocket) { try receiver.receive() }
    }

    @Test func theEchoContextStartsWhereThePeerStoppedEchoing() {
        // The peer echoed 1003 bytes of the client's stream; the context starts at offset 999 with 5 bytes.
        var marker = Self.marker(ipv6: false)
        marker.serverInitialSequence = 0
        marker.sendNext = 1004
        let session = ResumedSession(socket: -1, marker: marker, context: [10, 11, 12, 13, 14])
        #expect(session.unechoedContext.map(Array.init) == [14])
        marker.sendNext = 990  // echoed less than the context reaches back to: cannot continue exactly
        #expect(ResumedSession(socket: -1, marker: marker, context: [10, 11, 12, 13, 14]).unechoedContext == nil)
    }

    // MARK: The recovery's accounting

    static func context() -> FailoverActionContext {
        FailoverActionContext(
            group: 1, transition: FailoverTransition(from: .standby, to: .active, reason: .peerFailed, at: .zero),
            timelineID: 1, timelines: TimelineStore(capacity: 4), completeRelease: { _, _ in })
    }

    /// A session the tracker joined mid-stream and one that closed: neither can be rebuilt.
    static func unresumableSessions() -> [Session] {
        var tracker = TCPTracker(capacity: 8, seed: 1)
        let toServer = FlowKey(
            source: FlowAddress(IPv4Address(192, 0, 2, 10)), destination: FlowAddress(IPv4Address(192, 0, 2, 20)),
            sourcePort: 40_000, destinationPort: 7000, protocolNumber: IPProtocolNumber.tcp)
        var closing = toServer
        closing.sourcePort = 40_001
        tracker.track(toServer, TCPSegment(sequence: 10, acknowledgment: 20, flags: [.ack, .psh], window: 10, payloadLength: 5), at: .zero)
        tracker.track(closing, TCPSegment(sequence: 10, acknowledgment: 0, flags: .syn, window: 10, payloadLength: 0), at: .zero)
        tracker.track(closing.reversed, TCPSegment(sequence: 90, acknowledgment: 11, flags: [.syn, .ack], window: 10, payloadLength: 0), at: .zero)
        tracker.track(closing, TCPSegment(sequence: 11, acknowledgment: 91, flags: [.fin, .ack], window: 10, payloadLength: 0), at: .zero)
        return [tracker.session(for: toServer)!, tracker.session(for: closing)!]
    }

    @Test func connectionsThatCannotResumeGoToTheFallbackCountedByReason() throws {
        let fallback = RecordingRecovery()
        let recovery = try ResumeTCPRecovery(
            payloads: SessionPayloadCapture(SessionPayloadStoreConfiguration(sessionCapacity: 4, bytesPerDirection: 1024)),
            handoffPath: "/tmp/takeover-nobody-\(getpid()).sock", fallback: fallback, log: Logger(label: "test"))
        let sessions = Self.unresumableSessions()
        recovery.recover(
            sessions, addresses: [.v4(IPv4Address(192, 0, 2, 20))], interface: "eth0", context: Self.context())
        #expect(waitUntil(timeout: .seconds(5)) { fallback.recovered.count == 2 })
        #expect(Set(fallback.recovered.map(\.key)) == Set(sessions.map(\.key)))
        let statistics = recovery.statistics
        #expect(statistics.refused[.handshakeNotSeen] == 1 && statistics.refused[.notEstablished] == 1)
        #expect(statistics.fellBack == 2 && statistics.resumed == 0)
    }

    @Test func withoutCapNetAdminTheRebuildSaysSo() throws {
        let lab = try NetworkLab("resumecap")
        defer { lab.teardown() }
        let host = try lab.addHost("standby")
        let connection = TCPRepairConnection(
            local: SocketAddress(.v4(IPv4Address(192, 0, 2, 20)), port: 7000),
            remote: SocketAddress(.v4(IPv4Address(192, 0, 2, 10)), port: 40_000), sendQueueSequence: 1, sendQueue: [],
            receiveQueueSequence: 1, receiveQueue: [], remoteMSS: 1460, windowScaling: false, sendWindowScale: 0,
            receiveWindowScale: 0, sack: false, timestamps: false, timestamp: 0, window: TCPRepairWindow())
        let result = try lab.withNamespace(of: host, dropping: [.netAdmin]) {
            Result { () throws(TCPRestoreError) in try TCPRepair.restore(connection) }
        }
        #expect(throws: TCPRestoreError.missingCapability) { try result.get() }
        #expect(TCPRestoreError.missingCapability.description.contains("CAP_NET_ADMIN"))
    }

    @Test func aRebuiltSocketNoServiceTakesFallsBackWithoutASound() throws {
        // A connection rebuilt in a lab namespace (nothing on its other end), with no receiver at the path.
        let lab = try NetworkLab("resumeho")
        defer { lab.teardown() }
        let host = try lab.addHost("standby")
        _ = try lab.connect(host, to: try lab.addHub(), addresses: ["192.0.2.30/24"])
        // A handshake and one exchange, fed to a tracker and to the payload store as the pipeline feeds them.
        let toServer = FlowKey(
            source: FlowAddress(IPv4Address(192, 0, 2, 10)), destination: FlowAddress(IPv4Address(192, 0, 2, 20)),
            sourcePort: 40_000, destinationPort: 7000, protocolNumber: IPProtocolNumber.tcp)
        let segments: [(FlowKey, TCPSegment)] = [
            (toServer, TCPSegment(sequence: 100, acknowledgment: 0, flags: .syn, window: 500, payloadLength: 0)),
            (toServer.reversed, TCPSegment(sequence: 900, acknowledgment: 101, flags: [.syn, .ack], window: 500, payloadLength: 0)),
            (toServer, TCPSegment(sequence: 101, acknowledgment: 901, flags: .ack, window: 500, payloadLength: 0)),
            (toServer, TCPSegment(sequence: 101, acknowledgment: 901, flags: [.ack, .psh], window: 500, payloadLength: 20)),
            (toServer.reversed, TCPSegment(sequence: 901, acknowledgment: 121, flags: [.ack, .psh], window: 500, payloadLength: 20)),
            (toServer, TCPSegment(sequence: 121, acknowledgment: 921, flags: .ack, window: 500, payloadLength: 0)),
        ]
        var tracker = TCPTracker(capacity: 8, seed: 1)
        let payloads = SessionPayloadCapture(SessionPayloadStoreConfiguration(sessionCapacity: 4, bytesPerDirection: 1024))
        let bytes = [UInt8](repeating: 0x61, count: 20)
        for (flow, segment) in segments {
            tracker.track(flow, segment, at: .zero)
            payloads.withStore { store in
                bytes.withUnsafeBytes { raw in
                    store.capture(flow, segment, payload: UnsafeRawBufferPointer(rebasing: raw[0..<Int(segment.payloadLength)]), at: .zero)
                }
            }
        }
        let tracked = tracker.session(for: toServer)
        let session = try #require(tracked)
        let fallback = RecordingRecovery()
        let recovery = try ResumeTCPRecovery(
            payloads: payloads, handoffPath: "/tmp/takeover-nobody-\(getpid()).sock", fallback: fallback,
            log: Logger(label: "test"))
        let rebuilt = try lab.withNamespace(of: host) { recovery.rebuild([session], addresses: [.v4(IPv4Address(192, 0, 2, 20))]) }
        let connection = try #require(try rebuilt.first?.get())
        let outcome = try lab.withNamespace(of: host) { recovery.release(connection) }
        guard case .failure(let failure) = outcome, case .handoffFailed = failure.reason else {
            Issue.record("expected a handoff failure, got \(outcome)")
            return
        }
        #expect(recovery.statistics.handoffFailures == 1 && recovery.statistics.fellBack == 1)
    }
}
