#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A child process started with `posix_spawn`.
///
/// Why not Foundation's `Process`: on Linux its `run()` over-reads `/proc/self/fd` directory entries and crashes
/// intermittently (swift-corelibs-foundation PR #5472, present in Swift 6.3.1; seen here in the tests). This also
/// lets the child start with an empty signal mask and default dispositions, so SIGTERM reaches it even when it
/// is spawned from a thread that blocks signals (the daemon blocks SIGTERM/SIGINT to `sigwait` for them).
public final class ChildProcess: Sendable {
    public let processIdentifier: Int32
    /// The exit status once the child has been reaped.
    private let reaped = Mutex<Int32?>(nil)

    private init(processIdentifier: Int32) { self.processIdentifier = processIdentifier }

    /// Starts `arguments` (the first is looked up in PATH when it has no slash). Standard input is /dev/null;
    /// standard output and error go to the given files (created or truncated, mode 0600), or to /dev/null.
    public static func spawn(
        _ arguments: [String], environment: [String: String]? = nil, standardOutput: String? = nil,
        standardError: String? = nil
    ) throws(SystemCallError) -> ChildProcess {
        precondition(!arguments.isEmpty, "ChildProcess.spawn: no program")
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let outputFlags = O_WRONLY | O_CREAT | O_TRUNC  // no O_CLOEXEC: these are the child's own 1 and 2
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput ?? "/dev/null", outputFlags, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, standardError ?? "/dev/null", outputFlags, 0o600)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let environmentStrings = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        var pid = pid_t()
        let result = withCStrings(arguments) { argv in
            if let environmentStrings {
                return withCStrings(environmentStrings) { envp in posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp) }
            }
            return posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        }
        // posix_spawn returns the error number instead of setting errno.
        guard result == 0 else { throw SystemCallError("posix_spawnp(\(arguments[0]))", errno: result) }
        return ChildProcess(processIdentifier: pid)
    }

    /// Whether the child is still running; reaps it (without blocking) once it has exited.
    public var isRunning: Bool { reapIfExited() == nil }

    /// Exit status, or for a child ended by a signal the signal's number (as Foundation reports it); nil while
    /// it runs.
    public var terminationStatus: Int32? { reapIfExited() }

    public func signal(_ signal: Int32) {
        if isRunning { kill(processIdentifier, signal) }
    }

    private func reapIfExited() -> Int32? {
        reaped.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(processIdentifier, &raw, WNOHANG)
            guard result == processIdentifier else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out: Swift does not import the macros.
            let terminatingSignal = raw & 0x7F
            status = terminatingSignal == 0 ? (raw >> 8) & 0xFF : terminatingSignal
            return status
        }
    }
}

/// Runs `body` with a NULL-terminated C array of the strings, valid only during the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
