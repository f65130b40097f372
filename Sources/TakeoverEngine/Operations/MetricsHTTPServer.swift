public import Logging
import Synchronization
import TakeoverCore
public import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A deliberately tiny HTTP/1.1 server for Prometheus: `GET /metrics` and nothing else, one connection at a
/// time, `Connection: close`, on a thread of its own (`takeover-metrics`). No NIO, no async runtime: the
/// embedded build keeps it. A request must arrive whole within `requestTimeout` and fit `maximumRequestBytes`;
/// anything else is answered 400/404/405 or dropped, and never reaches the engine.
public final class MetricsHTTPServer: Sendable {
    /// Where it listens (the port the kernel chose, when 0 was asked for).
    public let address: SocketAddress
    private let stop: EventFD
    private let stopRequested: StopFlag
    private let thread: LoopThread

    static let maximumRequestBytes = 8192
    static let requestTimeout: Duration = .seconds(2)

    public init(
        address: SocketAddress, render: @escaping @Sendable () -> [UInt8],
        log: Logger = Logger(label: "takeover.metrics")
    ) throws(SystemCallError) {
        let listener = try StreamSocket.listenTCP(address)
        self.address = (try? listener.localAddress()) ?? address
        let stop = try EventFD()
        let flag = StopFlag()
        let server = Handoff(listener)
        thread = try LoopThread(name: "takeover-metrics") {
            Self.serve(listener: server.value, stop: stop, stopRequested: flag, render: render, log: log)
        }
        self.stop = stop
        stopRequested = flag
    }

    @discardableResult
    public func shutdown(timeout: Duration = .seconds(2)) -> Bool {
        stopRequested.value.store(true, ordering: .releasing)
        try? stop.signal()
        return thread.join(timeoutNanoseconds: timeout.wholeNanoseconds)
    }

    private static func serve(
        listener: StreamSocket, stop: EventFD, stopRequested: StopFlag, render: @Sendable () -> [UInt8], log: Logger
    ) {
        defer { listener.close() }
        var poller = PollSet(fileDescriptors: [stop.fileDescriptor, listener.fileDescriptor])
        while !stopRequested.isSet {
            guard (try? poller.wait(timeoutMilliseconds: 1000)) != nil else { continue }
            if poller.isReady(0) { return }
            guard poller.isReady(1) else { continue }
            while let result = try? listener.accept(), case .done(let connection) = result {
                handle(connection, render: render, log: log)
                connection.close()
            }
        }
    }

    /// Reads one request head and answers it.
    static func handle(_ connection: StreamSocket, render: () -> [UInt8], log: Logger) {
        let deadline = MonotonicClock.now() + requestTimeout.wholeNanoseconds
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        while !request.containsSequence(terminator) {
            guard request.count < maximumRequestBytes else {
                return respond(connection, status: "431 Request Header Fields Too Large", body: [])
            }
            do {
                let result = try chunk.withUnsafeMutableBytes { (buffer) throws(SystemCallError) in try connection.read(into: buffer) }
                switch result {
                case .done(0): return
                case .done(let count): request += chunk[..<count]
                case .wouldBlock: try connection.waitUntil(POLLIN, deadline: deadline)
                }
            } catch {
                return
            }
        }
        let requestLine = request.prefix { $0 != UInt8(ascii: "\r") }.split(separator: UInt8(ascii: " "))
        guard requestLine.count == 3, requestLine[2].starts(with: Array("HTTP/1.".utf8)) else {
            return respond(connection, status: "400 Bad Request", body: [])
        }
        guard Array(requestLine[0]) == Array("GET".utf8) else {
            return respond(connection, status: "405 Method Not Allowed", extraHeaders: "Allow: GET\r\n", body: [])
        }
        let target = requestLine[1].prefix { $0 != UInt8(ascii: "?") }
        guard Array(target) == Array("/metrics".utf8) else {
            return respond(connection, status: "404 Not Found", body: Array("try /metrics\n".utf8))
        }
        respond(
            connection, status: "200 OK", contentType: "text/plain; version=0.0.4; charset=utf-8", body: render())
    }

    private static func respond(
        _ connection: StreamSocket, status: String, contentType: String = "text/plain; charset=utf-8",
        extraHeaders: String = "", body: [UInt8]
    ) {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
            + "Connection: close\r\n\(extraHeaders)\r\n"
        try? connection.writeAll(Array(head.utf8) + body, timeout: requestTimeout)
        connection.shutdownWrite()
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs anywhere (a request head ends with an empty line; requests are a few KiB).
    fileprivate func containsSequence(_ needle: [UInt8]) -> Bool {
        indices.contains { self[$0...].starts(with: needle) }
    }
}
