public import Logging
public import ServiceLifecycle
import TakeoverCore
public import TakeoverLinux

/// The engine as a swift-service-lifecycle `Service`: `run` starts it and returns after a graceful shutdown
/// (SIGTERM/SIGINT in a `ServiceGroup` with those signals), having handed the groups it serves to the peer,
/// detached XDP and removed the addresses it added (`Engine.shutdown`).
public struct EngineService: Service {
    public let engine: Engine
    public let shutdownTimeout: Duration

    public init(engine: Engine, shutdownTimeout: Duration = .seconds(5)) {
        self.engine = engine
        self.shutdownTimeout = shutdownTimeout
    }

    public func run() async throws {
        try engine.start()
        // Returns on graceful shutdown; throws when the task is cancelled — both end the same way.
        try? await gracefulShutdown()
        guard engine.shutdown(timeout: shutdownTimeout) else { throw EngineStopError(timeout: shutdownTimeout) }
    }
}

public struct EngineStopError: Error, CustomStringConvertible {
    public var timeout: Duration
    public var description: String { "the failover controller did not stop within \(timeout)" }
}

/// The control socket as a `Service`: listens from `run` until graceful shutdown, then removes the socket.
public struct ControlService: Service {
    public let path: String
    public let handler: any ControlCommandHandler
    public let log: Logger

    public init(path: String, handler: any ControlCommandHandler, log: Logger) {
        self.path = path
        self.handler = handler
        self.log = log
    }

    public func run() async throws {
        let server = try ControlServer(path: path, handler: handler, log: log)
        log.notice("control socket on \(path)")
        try? await gracefulShutdown()
        server.shutdown()
    }
}

/// The Prometheus endpoint as a `Service`.
public struct MetricsService: Service {
    public let address: SocketAddress
    public let exporter: MetricsExporter
    public let log: Logger

    public init(address: SocketAddress, exporter: MetricsExporter, log: Logger) {
        self.address = address
        self.exporter = exporter
        self.log = log
    }

    public func run() async throws {
        let server = try MetricsHTTPServer(address: address, render: { [exporter] in exporter.render() }, log: log)
        log.notice("metrics on http://\(server.address)/metrics")
        try? await gracefulShutdown()
        server.shutdown()
    }
}

extension Engine {
    /// What `takeover run` runs: the engine, then its control socket and (when `metrics.enabled`) its metrics
    /// endpoint, as the configuration says. In a `ServiceGroup` a graceful shutdown stops them in reverse: the
    /// metrics and the control socket first, the engine (handing over to the peer) last.
    public func daemonServices(
        logger: Logger, sessions: (@Sendable () -> StatusReport.Sessions?)? = nil
    ) -> [any Service] {
        let control = EngineControl(engine: self, sessions: sessions)
        var services: [any Service] = [
            EngineService(engine: self),
            ControlService(path: configuration.control.socketPath, handler: control, log: logger),
        ]
        if configuration.metrics.enabled {
            services.append(
                MetricsService(
                    address: SocketAddress(configuration.metrics.address, port: configuration.metrics.port),
                    exporter: MetricsExporter(control: control), log: logger))
        }
        return services
    }
}

extension FailoverStateChange {
    /// An `AsyncStream` of state changes and the callback that feeds it, for `Engine(configuration:onStateChange:)`:
    ///
    ///     let (changes, onStateChange) = FailoverStateChange.stream()
    ///     let engine = try Engine(configuration: configuration, onStateChange: onStateChange)
    ///     for await change in changes { … }
    ///
    /// The callback never blocks the controller thread: the stream buffers the newest `bufferSize` changes.
    public static func stream(
        bufferSize: Int = 64
    ) -> (changes: AsyncStream<FailoverStateChange>, onStateChange: @Sendable (FailoverStateChange) -> Void) {
        let (stream, continuation) = AsyncStream.makeStream(of: FailoverStateChange.self, bufferingPolicy: .bufferingNewest(bufferSize))
        return (stream, { continuation.yield($0) })
    }
}
