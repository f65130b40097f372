import ArgumentParser
import Logging
import TakeoverCore
import TakeoverEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `takeover run`: the daemon, in the foreground (systemd's Type=simple). SIGTERM or SIGINT is a graceful stop:
/// the groups this node serves go to the peer (which takes over at once on our `release`), XDP is detached and
/// the addresses we added are removed, and the exit status is 0.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the takeover daemon in the foreground.",
        discussion: """
            Validates the configuration exactly as `takeover check` does and refuses to start on any problem. \
            Logs to standard error. SIGTERM or SIGINT hands the served groups to the peer and exits 0.
            """)

    @OptionGroup var options: ConfigurationOptions

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error.", valueName: "level"))
    var logLevel: String = "info"

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level: unknown level '\(logLevel)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
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
        // Block the stop signals before any thread starts, so every thread inherits the mask and only the
        // sigwait below receives them.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        let engine: Engine
        do {
            engine = try Engine(configuration: configuration, logger: log) { change in
                let transition = change.transition
                log.notice(
                    "group \(change.group): \(transition.from) → \(transition.to) (\(transition.reason.rawValue))")
            }
            try engine.start()
        } catch {
            writeToStandardError("takeover: \(error)\n")
            throw ExitCode.failure
        }
        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        log.notice("signal \(received): handing over and stopping")
        throw engine.shutdown() ? ExitCode.success : ExitCode.failure
    }
}
