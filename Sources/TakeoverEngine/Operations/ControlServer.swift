import FoundationEssentials
public import Logging
import TakeoverCore
import Synchronization
public import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What the control socket's commands do; `EngineControl` implements it over an `Engine`. Called on the
/// control thread, one request at a time; each must return within a few seconds.
public protocol ControlCommandHandler: Sendable {
    func status() -> StatusReport
    func takeover(group: UInt16) -> Result<String, ControlError>
    func release(group: UInt16) -> Result<String, ControlError>
    func announce() -> Result<[AnnouncedAddresses], ControlError>
    /// What a `capture` streams: the interfaces and their filters (opened on the capture's own thread).
    func capturePlan() -> Result<CapturePlan, ControlError>
}

/// The interfaces a capture opens, each with the libpcap filter the engine's selection amounts to.
public struct CapturePlan: Hashable, Sendable {
    public var interfaces: [(name: String, filter: String)] { zip(names, filters).map { ($0, $1) } }
    var names: [String]
    var filters: [String]
    /// Per interface name, the AF_XDP tracker's tap: the frames the XDP program redirects, which libpcap misses.
    public var taps: [String: CaptureTap]

    public init(interfaces: [(name: String, filter: String)], taps: [String: CaptureTap] = [:]) {
        names = interfaces.map(\.name)
        filters = interfaces.map(\.filter)
        self.taps = taps
    }
}

/// The daemon's control socket: a root-only Unix stream socket speaking line-delimited JSON (docs/control.md).
///
/// One thread (`takeover-ctl-sock`) waits in `poll` on a stop eventfd, the listening socket and every open
/// connection. It reads requests into a bounded per-connection buffer (`ControlLimits.maximumRequestBytes`),
/// answers each complete line in turn, and closes connections that overflow, idle or hang up. A malformed
/// request gets an error reply; nothing a client sends can end the loop. `capture` hands its connection to a
/// thread of its own (at most `ControlLimits.maximumCaptures`), which streams frames until its count, its
/// duration, the client's hang-up or the server's shutdown.
///
/// Authentication is the kernel's: the socket's directory is 0700 and the socket 0600, and every accepted
/// connection's SO_PEERCRED user must be in `allowedUserIDs` (root only, by default) — a check that holds
/// even if the file modes were loosened.
public final class ControlServer: Sendable {
    public let path: String
    private let stop: EventFD
    private let stopRequested: StopFlag
    private let thread: LoopThread

    public init(
        path: String, handler: any ControlCommandHandler, allowedUserIDs: Set<UInt32> = [0],
        log: Logger = Logger(label: "takeover.control")
    ) throws(SystemCallError) {
        let listener = try StreamSocket.listenUnix(path: path)
        let stop = try EventFD()
        let flag = StopFlag()
        let loop = ControlLoop(
            path: path, listener: listener, stop: stop, stopRequested: flag, handler: handler, allowedUserIDs: allowedUserIDs,
            log: log)
        do {
            thread = try LoopThread(name: "takeover-ctl-sock") { loop.run() }
        } catch {
            unlink(path)
            throw error
        }
        self.path = path
        self.stop = stop
        stopRequested = flag
    }

    /// Ends the loop (closing every connection and removing the socket file) and tells running captures to
    /// end; true if the loop ended within `timeout`.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(2)) -> Bool {
        stopRequested.value.store(true, ordering: .releasing)
        try? stop.signal()
        return thread.join(timeoutNanoseconds: timeout.wholeNanoseconds)
    }
}

final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Moves a non-Sendable value to another thread that becomes its only user.
final class Handoff<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The control thread's state: owned by that thread alone.
final class ControlLoop: @unchecked Sendable {
    private struct Connection {
        var socket: StreamSocket
        var buffer: [UInt8] = []
        var lastActivity: MonotonicTime
    }

    private let path: String
    private let listener: StreamSocket
    private let stop: EventFD
    private let stopRequested: StopFlag
    private let handler: any ControlCommandHandler
    private let allowedUserIDs: Set<UInt32>
    private let log: Logger
    private var connections: [Connection] = []
    private let capturesRunning = Atomic<Int>(0)
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    init(
        path: String, listener: StreamSocket, stop: EventFD, stopRequested: StopFlag, handler: any ControlCommandHandler,
        allowedUserIDs: Set<UInt32>, log: Logger
    ) {
        self.path = path
        self.listener = listener
        self.stop = stop
        self.stopRequested = stopRequested
        self.handler = handler
        self.allowedUserIDs = allowedUserIDs
        self.log = log
    }

    func run() {
        var readBuffer = [UInt8](repeating: 0, count: 4096)
        while !stopRequested.isSet {
            var poller = PollSet(fileDescriptors: [stop.fileDescriptor, listener.fileDescriptor] + connections.map(\.socket.fileDescriptor))
            do {
                _ = try poller.wait(timeoutMilliseconds: 1000)
            } catch {
                log.error("control socket: \(error)")
                continue
            }
            if poller.isReady(0) { break }
            if poller.isReady(1) { acceptWaiting() }
            let now = MonotonicClock.now()
            // Backwards, so closing one does not shift the indexes still to visit.
            for index in stride(from: poller.count - 3, through: 0, by: -1) where index < connections.count {
                if poller.isReady(index + 2) {
                    service(index, readBuffer: &readBuffer, now: now)
                } else if now.nanoseconds(since: connections[index].lastActivity) > ControlLimits.idleTimeout.wholeNanoseconds {
                    connections.remove(at: index)
                }
            }
        }
        connections.removeAll()
        listener.close()
        unlink(path)
    }

    private func acceptWaiting() {
        while true {
            let accepted: StreamSocket
            do {
                guard case .done(let socket) = try listener.accept() else { return }
                accepted = socket
            } catch {
                log.warning("control socket: \(error)")
                return
            }
            let credentials: PeerCredentials
            do {
                credentials = try accepted.peerCredentials()
            } catch {
                log.warning("control socket: no peer credentials: \(error)")
                continue
            }
            guard allowedUserIDs.contains(credentials.userID) else {
                log.warning("control socket: refused pid \(credentials.processID) (uid \(credentials.userID))")
                reply(.failure(ControlError(.notAuthorized, "uid \(credentials.userID) may not use the control socket")), to: accepted)
                continue
            }
            guard connections.count < ControlLimits.maximumConnections else {
                reply(.failure(ControlError(.busy, "too many control connections")), to: accepted)
                continue
            }
            connections.append(Connection(socket: accepted, lastActivity: MonotonicClock.now()))
        }
    }

    /// Reads what the connection sent and answers every complete line; closes it on end of stream, an error,
    /// an overlong line, or a capture (which takes the connection).
    private func service(_ index: Int, readBuffer: inout [UInt8], now: MonotonicTime) {
        let socket = connections[index].socket
        let result: IOResult<Int>
        do {
            result = try readBuffer.withUnsafeMutableBytes { (buffer) throws(SystemCallError) in try socket.read(into: buffer) }
        } catch {
            connections.remove(at: index)
            return
        }
        guard case .done(let count) = result else { return }
        guard count > 0 else {
            connections.remove(at: index)
            return
        }
        connections[index].lastActivity = now
        connections[index].buffer.append(contentsOf: readBuffer[..<count])
        while let newline = connections[index].buffer.firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(connections[index].buffer[..<newline])
            connections[index].buffer.removeSubrange(...newline)
            guard line.count <= ControlLimits.maximumRequestBytes else { return refuseTooLarge(index) }
            switch answer(line) {
            case .reply(let reply):
                guard self.reply(reply, to: socket) else {
                    connections.remove(at: index)
                    return
                }
            case .capture(let request, let plan):
                let connection = connections.remove(at: index)
                startCapture(request, plan: plan, socket: connection.socket)
                return
            }
        }
        if connections[index].buffer.count > ControlLimits.maximumRequestBytes { refuseTooLarge(index) }
    }

    private func refuseTooLarge(_ index: Int) {
        reply(
            .failure(ControlError(.requestTooLarge, "a request line may be at most \(ControlLimits.maximumRequestBytes) bytes")),
            to: connections[index].socket)
        connections.remove(at: index)
    }

    private enum Answer {
        case reply(ControlReply)
        case capture(ControlRequest, CapturePlan)
    }

    private func answer(_ line: [UInt8]) -> Answer {
        let request: ControlRequest
        do {
            request = try JSONDecoder().decode(ControlRequest.self, from: Data(line))
        } catch {
            return .reply(.failure(ControlError(.malformedRequest, "not a control request: \(Self.describe(error))")))
        }
        switch request.command {
        case .status:
            return .reply(ControlReply(status: handler.status()))
        case .takeover, .release:
            guard let group = request.group else {
                return .reply(.failure(ControlError(.invalidArgument, "\(request.command.rawValue) needs a group")))
            }
            let outcome = request.command == .takeover ? handler.takeover(group: group) : handler.release(group: group)
            switch outcome {
            case .success(let message): return .reply(ControlReply(message: message))
            case .failure(let error): return .reply(.failure(error))
            }
        case .announce:
            switch handler.announce() {
            case .success(let announced):
                return .reply(ControlReply(message: announced.isEmpty ? "this node serves no address" : "announced", announced: announced))
            case .failure(let error): return .reply(.failure(error))
            }
        case .capture:
            if let count = request.count, !(1...ControlLimits.maximumCaptureFrames).contains(count) {
                return .reply(.failure(ControlError(.invalidArgument, "count must be 1…\(ControlLimits.maximumCaptureFrames)")))
            }
            if let duration = request.durationMilliseconds, !(1...ControlLimits.maximumCaptureMilliseconds).contains(duration) {
                return .reply(.failure(ControlError(.invalidArgument, "durationMilliseconds must be 1…\(ControlLimits.maximumCaptureMilliseconds)")))
            }
            switch handler.capturePlan() {
            case .success(let plan): return .capture(request, plan)
            case .failure(let error): return .reply(.failure(error))
            }
        }
    }

    /// The decoder's complaint without Foundation's nested context dump.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): context.debugDescription
        case DecodingError.keyNotFound(let key, _): "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default: "\(error)"
        }
    }

    /// Writes `reply` and a newline; false if the client did not take it in time.
    @discardableResult
    private func reply(_ reply: ControlReply, to socket: StreamSocket) -> Bool {
        do {
            var line = [UInt8](try encoder.encode(reply))
            line.append(UInt8(ascii: "\n"))
            try socket.writeAll(line, timeout: ControlLimits.replyTimeout)
            return true
        } catch {
            log.warning("control socket: reply not sent: \(error)")
            return false
        }
    }

    private func startCapture(_ request: ControlRequest, plan: CapturePlan, socket: StreamSocket) {
        let running = capturesRunning.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        guard running <= ControlLimits.maximumCaptures else {
            capturesRunning.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            reply(.failure(ControlError(.busy, "\(ControlLimits.maximumCaptures) captures are running already")), to: socket)
            return
        }
        let limit = request.count ?? (request.durationMilliseconds == nil ? ControlLimits.defaultCaptureFrames : nil)
        let duration = request.durationMilliseconds.map { Duration.milliseconds($0) }
        let streamer = CaptureStreamer(
            plan: plan, socket: Handoff(socket), frameLimit: limit, duration: duration, stopRequested: stopRequested,
            log: log)
        let counter = Handoff(self)
        do {
            try LoopThread.startDetached {
                streamer.run()
                counter.value.capturesRunning.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            }
        } catch {
            capturesRunning.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            reply(.failure(ControlError(.failed, "capture thread: \(error)")), to: socket)
        }
    }
}
