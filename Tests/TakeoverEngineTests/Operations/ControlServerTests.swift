import Foundation
import Synchronization
import TakeoverCore
@testable import TakeoverEngine
import TakeoverLinux
import Testing

/// A handler that records what it was asked and answers from fixed values.
final class RecordingHandler: ControlCommandHandler {
    let calls = Mutex<[String]>([])

    func status() -> StatusReport {
        calls.withLock { $0.append("status") }
        return StatusReport.sample
    }

    func takeover(group: UInt16) -> Result<String, ControlError> {
        calls.withLock { $0.append("takeover \(group)") }
        return group == 1 ? .success("group 1: takeover accepted") : .failure(ControlError(.unknownGroup, "no group \(group)"))
    }

    func release(group: UInt16) -> Result<String, ControlError> {
        calls.withLock { $0.append("release \(group)") }
        return .failure(ControlError(.refused, CommandRefusal.peerNotAlive.rawValue))
    }

    func announce() -> Result<[AnnouncedAddresses], ControlError> {
        calls.withLock { $0.append("announce") }
        return .success([AnnouncedAddresses(interface: "eth0", addresses: ["192.0.2.100"])])
    }

    func capturePlan() -> Result<CapturePlan, ControlError> {
        .failure(ControlError(.failed, "no capture in this test"))
    }
}

/// A blocking client of the control socket that reads replies line by line.
final class LineClient {
    let socket: StreamSocket
    private var buffered: [UInt8] = []

    init(_ path: String) throws {
        socket = try StreamSocket.connectUnix(path: path)
        try socket.setNonBlocking(true)
    }

    func send(_ text: String) throws { try socket.writeAll(Array(text.utf8), timeout: .seconds(2)) }

    func send(_ bytes: [UInt8]) throws { try socket.writeAll(bytes, timeout: .seconds(2)) }

    /// The next line, or nil when the server closed the connection (within 3 s).
    func line() throws -> String? {
        let deadline = MonotonicClock.now() + 3_000_000_000
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let newline = buffered.firstIndex(of: 10) {
                defer { buffered.removeSubrange(...newline) }
                return String(decoding: buffered[..<newline], as: UTF8.self)
            }
            let result: IOResult<Int>
            do {
                result = try chunk.withUnsafeMutableBytes { try socket.read(into: $0) }
            } catch let error as SystemCallError where error.errno == ECONNRESET {
                // The server closed with our unread request bytes in its queue: Linux reports a reset, not EOF.
                return nil
            }
            switch result {
            case .done(0): return nil
            case .done(let count): buffered += chunk[..<count]
            case .wouldBlock: try socket.waitUntil(Int32(POLLIN), deadline: deadline)
            }
        }
    }

    func reply() throws -> ControlReply? {
        guard let line = try line() else { return nil }
        return try JSONDecoder().decode(ControlReply.self, from: Data(line.utf8))
    }
}

@Suite("control socket: protocol, limits, authentication", .serialized)
struct ControlServerTests {
    /// A fresh directory for the socket (removed afterwards).
    static func socketDirectory() throws -> String {
        var template = Array("/tmp/takeover-ctl-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        return String(cString: made)
    }

    @Test("round trips: status, takeover, release, announce; the socket is 0600 in a 0700 directory and goes at shutdown")
    func roundTrips() throws {
        let directory = try Self.socketDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/run/control.sock"
        let handler = RecordingHandler()
        let server = try ControlServer(path: path, handler: handler)
        var status = stat()
        #expect(lstat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(stat(directory + "/run", &status) == 0 && status.st_mode & 0o777 == 0o700, "the directory it made")

        let client = try LineClient(path)
        try client.send("{\"command\":\"status\"}\n")
        let statusReply = try #require(try client.reply())
        #expect(statusReply.ok && statusReply.status == StatusReport.sample)
        // Several requests in one write are answered in order on the same connection.
        try client.send("{\"command\":\"takeover\",\"group\":1}\n{\"command\":\"release\",\"group\":1}\n{\"command\":\"announce\"}\n")
        let takeover = try #require(try client.reply())
        #expect(takeover.ok && takeover.message == "group 1: takeover accepted")
        let release = try #require(try client.reply())
        #expect(!release.ok && release.error?.code == .refused && release.error?.message == CommandRefusal.peerNotAlive.rawValue)
        let announce = try #require(try client.reply())
        #expect(announce.announced == [AnnouncedAddresses(interface: "eth0", addresses: ["192.0.2.100"])])
        try client.send("{\"command\":\"takeover\",\"group\":7}\n")
        #expect(try client.reply()?.error?.code == .unknownGroup)
        #expect(handler.calls.withLock { $0 } == ["status", "takeover 1", "release 1", "announce", "takeover 7"])

        #expect(server.shutdown())
        #expect(lstat(path, &status) != 0, "the socket file is removed at shutdown")
        #expect(try client.line() == nil, "open connections are closed")
    }

    @Test("malformed requests get an error reply and the connection and the server go on")
    func malformed() throws {
        let directory = try Self.socketDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/control.sock"
        let server = try ControlServer(path: path, handler: RecordingHandler())
        defer { server.shutdown() }
        let client = try LineClient(path)
        let cases: [(String, ControlError.Code)] = [
            ("not json", .malformedRequest),
            ("[1,2,3]", .malformedRequest),
            ("{\"command\":\"reboot\"}", .malformedRequest),
            ("{\"command\":\"status\",\"group\":\"one\"}", .malformedRequest),
            ("{}", .malformedRequest),
            ("{\"command\":\"takeover\"}", .invalidArgument),
            ("{\"command\":\"takeover\",\"group\":70000}", .malformedRequest),
            ("{\"command\":\"capture\",\"count\":0}", .invalidArgument),
            ("{\"command\":\"capture\",\"durationMilliseconds\":-5}", .invalidArgument),
            ("{\"command\":\"capture\",\"count\":5}", .failed),
        ]
        for (request, code) in cases {
            try client.send(request + "\n")
            let reply = try #require(try client.reply(), "\(request)")
            #expect(!reply.ok && reply.error?.code == code, "\(request): \(String(describing: reply.error))")
        }
        // Binary junk with a newline: an error reply, not a crash.
        try client.send([0xFF, 0x00, 0xFE, 0x7B, 10])
        #expect(try client.reply()?.error?.code == .malformedRequest)
        try client.send("{\"command\":\"status\"}\n")
        #expect(try client.reply()?.ok == true, "the same connection still works")
    }

    @Test("a request longer than the limit is refused and its connection closed; others are unaffected")
    func oversized() throws {
        let directory = try Self.socketDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/control.sock"
        let server = try ControlServer(path: path, handler: RecordingHandler())
        defer { server.shutdown() }
        let bystander = try LineClient(path)
        let flooder = try LineClient(path)
        // No newline at all: the server must not buffer without bound.
        try flooder.send([UInt8](repeating: UInt8(ascii: "a"), count: ControlLimits.maximumRequestBytes * 4))
        let reply = try #require(try flooder.reply())
        #expect(reply.error?.code == .requestTooLarge)
        #expect(try flooder.line() == nil, "closed after the refusal")
        try bystander.send("{\"command\":\"status\"}\n")
        #expect(try bystander.reply()?.ok == true)
    }

    @Test("SO_PEERCRED decides: a uid outside the allowed set is refused before any command")
    func authentication() throws {
        let directory = try Self.socketDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/control.sock"
        let handler = RecordingHandler()
        // This test runs as root (uid 0); allowing only another uid makes the kernel-reported uid the reason.
        let server = try ControlServer(path: path, handler: handler, allowedUserIDs: [4242])
        defer { server.shutdown() }
        let client = try LineClient(path)
        #expect(try client.socket.peerCredentials().userID == 0, "the server side is root too")
        try? client.send("{\"command\":\"status\"}\n")
        let reply = try #require(try client.reply())
        #expect(reply.error?.code == .notAuthorized && reply.error?.message.contains("uid \(getuid())") == true)
        #expect(try client.line() == nil)
        #expect(handler.calls.withLock { $0 }.isEmpty, "no command reached the handler")
    }

    @Test("a second server refuses a socket another one listens on; a stale socket file is replaced")
    func socketOwnership() throws {
        let directory = try Self.socketDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/control.sock"
        let first = try ControlServer(path: path, handler: RecordingHandler())
        #expect(throws: SystemCallError.self) { try ControlServer(path: path, handler: RecordingHandler()) }
        first.shutdown()
        // A socket file nobody listens on (a crashed daemon's) is taken over.
        let stale = try StreamSocket.listenUnix(path: path)
        stale.close()
        let second = try ControlServer(path: path, handler: RecordingHandler())
        let client = try LineClient(path)
        try client.send("{\"command\":\"status\"}\n")
        #expect(try client.reply()?.ok == true)
        second.shutdown()
        // A regular file in the way is never removed.
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep".utf8)))
        #expect(throws: SystemCallError.self) { try ControlServer(path: path, handler: RecordingHandler()) }
        #expect(FileManager.default.contents(atPath: path) == Data("keep".utf8))
    }
}

extension StatusReport {
    /// A report with every optional part present.
    static let sample = StatusReport(
        schemaVersion: StatusReport.currentSchemaVersion, node: .init(id: 1, name: "alpha"), peer: .init(id: 2, name: "beta"),
        controller: .init(running: true, ticks: 10, lateTimerExpirations: 0, stallsExcused: 0, transitions: 1, releaseTimeouts: 0, loopErrors: 0),
        groups: [
            .init(
                id: 1, state: "active", serving: true, interface: "eth0", addresses: ["192.0.2.100/24"],
                peer: .init(nodeID: 2, priority: 100, state: "standby"))
        ],
        ownedAddresses: ["192.0.2.100"],
        heartbeats: [
            .init(
                name: "eth0", sent: 5, sendFailures: 0, sendQueueFull: 0, lastSendError: nil, received: 4, receiveErrors: 0,
                accepted: 3, rejected: .init(malformed: 1, badTag: 0, notForUs: 0, wrongChannel: 0, staleIncarnation: 0, replayed: 0),
                lastAcceptedAgoMicroseconds: 1200)
        ],
        paths: [
            .init(
                interface: "eth0", xdp: .init(attachMode: "generic", mode: "monitor", packets: ["passed_off": 3]),
                xdpUnavailableReason: nil, sessionCapture: "af_xdp",
                responder: .init(
                    running: true, answering: true, addresses: ["192.0.2.100"], framesReceived: 9, framesFromInbox: 2, inboxDrops: 0,
                    arpRepliesSent: 2,
                    neighborAdvertisementsSent: 0, ignored: 7, unsent: 0, announcementsSent: 4, announcementsDeferred: 0,
                    transmitFailures: 0, knownClients: 1, lastError: nil))
        ],
        sessions: .init(count: 3, framesReceived: 100, recordsTracked: 90, dropped: 0),
        lastFailover: .init(
            id: 1, group: 1, from: "standby", to: "active", reason: "peerFailed", reasonText: TransitionReason.peerFailed.rawValue,
            decidedAgoMicroseconds: 5_000_000,
            steps: [.init(step: "startServing", startedAfterMicroseconds: 10, finishedAfterMicroseconds: 900)],
            firstAnnouncementAfterMicroseconds: 400, firstClientAnswerAfterMicroseconds: 2500,
            releaseFinishedAfterMicroseconds: nil))
}
