import ArgumentParser
import ServiceLifecycle
import Logging
import TakeoverCore
import TakeoverEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `takeover run`: the daemon, in the foreground (systemd's Type=simple). The engine, its control socket and its
/// metrics endpoint run as services of one swift-service-lifecycle `ServiceGroup`. SIGTERM or SIGINT is a
/// graceful shutdown: the metrics and the control socket close, then the groups this node serves go to the peer
/// (which takes over at once on our `release`), XDP is detached and the addresses we added are removed, and the
/// exit status is 0.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the takeover daemon in the foreground.",
        discussion: """
            Validates the configuration exactly as `takeover check` does and refuses to start on any problem. \
            Logs to standard error. Serves the control socket (control.socket) and, unless metrics.enabled is \
            false, Prometheus metrics (metrics.address). SIGTERM or SIGINT hands the served groups to the peer \
            and exits 0.
            """)

    @OptionGroup var options: ConfigurationOptions

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error.", valueName: "level"))
    var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level: unknown level '\(logLevel)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = DaemonLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let log = Logger(label: "takeover")
        let configuration: EngineConfiguration
        do {
            configuration = try ConfigurationLoader.load(file: options.config, environment: LinuxConfigurationEnvironment())
        } catch {
            writeToStandardError("\(options.config): \(error)\n")
            throw ExitCode.failure
        }
        let engine: Engine
        do {
            engine = try Engine(configuration: configuration, logger: log) { change in
                let transition = change.transition
                // Which detector rule decided, with its figures: "3 heartbeats missed", "unanswered requests: …".
                let rule = change.failure.map { " — \($0)" } ?? ""
                log.notice(
                    "group \(change.group): \(transition.from) → \(transition.to) (\(transition.reason.rawValue))\(rule)")
            }
        } catch {
            writeToStandardError("takeover: \(error)\n")
            throw ExitCode.failure
        }
        let services: [any Service]
        do {
            services = try engine.daemonServices(logger: log)
        } catch {
            // Not started: the engine's constructor attached XDP and opened its sockets; undo that.
            engine.shutdown()
            writeToStandardError("takeover: \(error)\n")
            throw ExitCode.failure
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: log))
        do {
            try await group.run()
        } catch {
            // The engine failed to start or did not stop in time: the group stopped the other services.
            engine.shutdown()
            writeToStandardError("takeover: \(error)\n")
            throw ExitCode.failure
        }
        log.notice("stopped")
    }
}
