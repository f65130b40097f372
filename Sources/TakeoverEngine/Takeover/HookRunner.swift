import TakeoverLinux
public import TakeoverCore
public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the configured notify hooks after a state change, each on its own thread so the controller never
/// waits: argv is exactly the configured path and arguments (never a shell), and the change is passed in the
/// environment: TAKEOVER_NODE, TAKEOVER_GROUP, TAKEOVER_STATE (the new state), TAKEOVER_PREVIOUS_STATE,
/// TAKEOVER_REASON. A hook that outlives its timeout is killed; a failing hook is logged, never fatal.
public final class HookRunner: Sendable {
    private let hooks: [NotifyHook]
    private let nodeName: String
    private let log: Logger

    public init(hooks: [NotifyHook], nodeName: String, log: Logger) {
        self.hooks = hooks
        self.nodeName = nodeName
        self.log = log
    }

    public func run(group: UInt16, transition: FailoverTransition) {
        guard !hooks.isEmpty else { return }
        var environment = Self.inheritedEnvironment()
        environment["TAKEOVER_NODE"] = nodeName
        environment["TAKEOVER_GROUP"] = String(group)
        environment["TAKEOVER_STATE"] = transition.to.description
        environment["TAKEOVER_PREVIOUS_STATE"] = transition.from.description
        environment["TAKEOVER_REASON"] = transition.reason.rawValue
        for hook in hooks {
            let environment = environment
            let log = log
            let hookThread: () -> Void = {
                let process: ChildProcess
                do {
                    process = try ChildProcess.spawn([hook.path] + hook.arguments, environment: environment)
                } catch {
                    log.error("hook \(hook.path): cannot start: \(error)")
                    return
                }
                let deadline = ContinuousClock.now.advanced(by: hook.timeout)
                while process.isRunning && ContinuousClock.now < deadline { usleep(5_000) }
                if process.isRunning {
                    process.signal(SIGKILL)
                    // Reap it (bounded), so no zombie is left behind.
                    for _ in 0..<200 where process.isRunning { usleep(5_000) }
                    log.warning("hook \(hook.path): killed after \(hook.timeout)")
                } else if let status = process.terminationStatus, status != 0 {
                    log.warning("hook \(hook.path): exited with status \(status)")
                }
            }
            do {
                try LoopThread.startDetached(hookThread)
            } catch {
                log.error("hook \(hook.path): cannot start its thread: \(error)")
            }
        }
    }

    /// The daemon's own environment (`environ`), which the hooks inherit under the TAKEOVER_ variables. Read
    /// here rather than through Foundation's ProcessInfo, which would link ICU into the static daemon.
    private static func inheritedEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let variable = String(cString: pointer)
            if let separator = variable.firstIndex(of: "=") {
                environment[String(variable[..<separator])] = String(variable[variable.index(after: separator)...])
            }
            entry += 1
        }
        return environment
    }
}
