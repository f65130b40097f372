#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Running code inside a named network namespace (`ip netns add NAME` → `/run/netns/NAME`).
///
/// `setns(2)` changes the namespace of the calling *thread* only, and a thread that has switched should not go
/// back to serving other work, so each call gets a fresh thread that joins the namespace, runs the body and
/// ends. Sockets created in the body belong to that namespace for good and may be used from any thread after.
public enum NetworkNamespace {
    /// The bind-mount `ip netns` creates for `name`.
    public static func path(of name: String) -> String { "/run/netns/\(name)" }

    /// Runs `body` on a new thread that has joined the network namespace `name`, waits for it, and returns
    /// its result (or rethrows its error). Throws `SystemCallError` when the namespace cannot be entered.
    public static func run<Result: Sendable>(
        in name: String, _ body: @escaping @Sendable () throws -> Result
    ) throws -> Result {
        let job = Job(namespacePath: path(of: name), body: body)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(job).toOpaque()
        let created = pthread_create(&thread, nil, { context in
            let job = Unmanaged<AnyObject>.fromOpaque(context!).takeRetainedValue() as! any NamespaceJob
            job.runInsideNamespace()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<Job<Result>>.fromOpaque(context).release()
            throw SystemCallError("pthread_create", errno: created)
        }
        let joined = pthread_join(thread, nil)
        guard joined == 0 else { throw SystemCallError("pthread_join", errno: joined) }
        return try job.outcome!.get()
    }
}

private protocol NamespaceJob: AnyObject {
    func runInsideNamespace()
}

/// The closure and its outcome, handed to the thread and read back after `pthread_join` (which orders the
/// thread's writes before the joiner's reads).
private final class Job<Value: Sendable>: NamespaceJob, @unchecked Sendable {
    let namespacePath: String
    let body: @Sendable () throws -> Value
    var outcome: Result<Value, any Error>?

    init(namespacePath: String, body: @escaping @Sendable () throws -> Value) {
        self.namespacePath = namespacePath
        self.body = body
    }

    func runInsideNamespace() {
        do {
            try enter()
            outcome = .success(try body())
        } catch {
            outcome = .failure(error)
        }
    }

    private func enter() throws(SystemCallError) {
        let path = namespacePath
        let descriptor = try systemCall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = try? systemCall("close") { close(descriptor) } }
        try systemCall("setns(\(path), CLONE_NEWNET)") { linuxSetNamespace(descriptor, cloneNewNetwork) }
    }
}

/// `CLONE_NEWNET` from <sched.h>.
private let cloneNewNetwork: Int32 = 0x4000_0000

/// glibc's `setns(2)` wrapper. Glibc's Swift module does not export it (it is declared only under _GNU_SOURCE),
/// so it is bound by its C symbol: `int setns(int fd, int nstype)`.
@_silgen_name("setns")
private func linuxSetNamespace(_ descriptor: Int32, _ namespaceType: Int32) -> Int32
