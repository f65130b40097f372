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

/// A listening control socket as a `Service`: serves until graceful shutdown, then closes and removes the socket.
/// The server is opened before the group runs (`Engine.daemonServices`), so a path that cannot be used stops the
/// daemon before the engine serves anything.
public struct ControlService: Service {
    public let server: ControlServer

    public init(server: ControlServer) { self.server = server }

    public func run() async throws {
        try? await gracefulShutdown()
        server.shutdown()
    }
}

/// A listening metrics endpoint as a `Service` (opened before the group runs, like `ControlService`).
public struct MetricsService: Service {
    public let server: MetricsHTTPServer

    public init(server: MetricsHTTPServer) { self.server = server }

    public func run() async throws {
        try? await gracefulShutdown()
        server.shutdown()
    }
}

extension Engine {
    /// What `takeover run` runs: the engine, its control socket and (when `metrics.enabled`) its metrics endpoint,
    /// as the configuration says. The sockets are opened here, before anything runs: a control path in use or a
    /// metrics port taken throws, and nothing was served. In a `ServiceGroup` a graceful shutdown stops them in
    /// reverse: the metrics and the control socket first, the engine (handing over to the peer) last.
    public func daemonServices(
        logger: Logger, sessions: (@Sendable () -> StatusReport.Sessions?)? = nil
    ) throws(DaemonSetupError) -> [any Service] {
        let control = EngineControl(engine: self, sessions: sessions)
        let controlServer: ControlServer
        do {
            controlServer = try ControlServer(path: configuration.control.socketPath, handler: control, log: logger)
        } catch {
            throw .controlSocket(error)
        }
        logger.notice("control socket on \(configuration.control.socketPath)")
        var services: [any Service] = [EngineService(engine: self), ControlService(server: controlServer)]
        if configuration.metrics.enabled {
            let address = SocketAddress(configuration.metrics.address, port: configuration.metrics.port)
            let exporter = MetricsExporter(control: control)
            do {
                let server = try MetricsHTTPServer(address: address, render: { exporter.render() }, log: logger)
                logger.notice("metrics on http://\(server.address)/metrics")
                services.append(MetricsService(server: server))
            } catch {
                controlServer.shutdown()
                throw .metricsEndpoint(address, error)
            }
        }
        return services
    }
}

/// Why `daemonServices` could not open the daemon's sockets.
public enum DaemonSetupError: Error, CustomStringConvertible {
    case controlSocket(SystemCallError)
    case metricsEndpoint(SocketAddress, SystemCallError)

    public var description: String {
        switch self {
        case .controlSocket(let error): "control socket (control.socket): \(error)"
        case .metricsEndpoint(let address, let error): "metrics endpoint \(address) (metrics.address): \(error)"
        }
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
