#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Linux capabilities a thread can give up (numbers from <linux/capability.h>).
public enum LinuxCapability: UInt32, Sendable, CaseIterable {
    case netAdmin = 12
    case netRaw = 13
    case sysAdmin = 21
    case bpf = 39
}

/// Which of the calling thread's effective capabilities to clear before the body runs.
public enum CapabilityDrop: Sendable, Equatable {
    case none
    case some([LinuxCapability])
    /// The whole effective set: what an unprivileged caller gets.
    case all
}

/// Running code inside a named network namespace (`ip netns add NAME` → `/run/netns/NAME`), optionally with
/// fewer capabilities.
///
/// `setns(2)` and `capset(2)` change the calling *thread* only, and a thread that has switched should not go
/// back to serving other work, so each call gets a fresh thread that joins the namespace, drops what it was
/// asked to, runs the body and ends. Sockets created in the body belong to that namespace for good and may be
/// used from any thread afterwards.
public enum NetworkNamespace {
    /// The bind-mount `ip netns` creates for `name`.
    public static func path(of name: String) -> String { "/run/netns/\(name)" }

    /// Runs `body` on a new thread that has joined the network namespace `name` (nil: stay in ours) and
    /// dropped `capabilities`, waits for it, and returns its result or rethrows its error. The thread is joined
    /// before this returns, so `body` never outlives the call. Throws `SystemCallError` when the namespace
    /// cannot be entered or the capabilities not dropped.
    public static func run<Result>(
        in name: String?, dropping capabilities: CapabilityDrop = .none, _ body: () throws -> Result
    ) throws -> Result {
        try withoutActuallyEscaping(body) { body in
            let job = Job<Result> {
                if let name { try enter(path(of: name)) }
                try drop(capabilities)
                return try body()
            }
            var thread = pthread_t()
            let context = Unmanaged.passRetained(job).toOpaque()
            let created = pthread_create(&thread, nil, { context in
                let job = Unmanaged<AnyObject>.fromOpaque(context!).takeRetainedValue() as! any ThreadJob
                job.run()
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

    private static func enter(_ path: String) throws(SystemCallError) {
        let descriptor = try systemCall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = try? systemCall("close") { close(descriptor) } }
        let setns = try libcFunction("setns", as: (@convention(c) (Int32, Int32) -> Int32).self)
        try systemCall("setns(\(path), CLONE_NEWNET)") { setns(descriptor, cloneNewNetwork) }
    }

    /// Clears capabilities from this thread's effective set; the permitted set is kept (the thread ends soon).
    private static func drop(_ capabilities: CapabilityDrop) throws(SystemCallError) {
        if capabilities == .none { return }
        typealias CapabilityCall = @convention(c) (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32
        let capget = try libcFunction("capget", as: CapabilityCall.self)
        let capset = try libcFunction("capset", as: CapabilityCall.self)
        // struct __user_cap_header_struct { u32 version; int pid; } with _LINUX_CAPABILITY_VERSION_3, then two
        // struct __user_cap_data_struct { u32 effective, permitted, inheritable; } for bits 0–31 and 32–63.
        var header: (UInt32, Int32) = (0x2008_0522, 0)
        var data: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0)
        try systemCall("capget") { capget(&header, &data) }
        switch capabilities {
        case .none: return
        case .all: (data.0, data.3) = (0, 0)
        case .some(let list):
            for capability in list {
                if capability.rawValue < 32 {
                    data.0 &= ~(1 << capability.rawValue)
                } else {
                    data.3 &= ~(1 << (capability.rawValue - 32))
                }
            }
        }
        try systemCall("capset") { capset(&header, &data) }
    }

    /// A libc function that Swift's Glibc module does not declare (setns is declared only under _GNU_SOURCE;
    /// capget/capset in no header Swift imports), looked up by name with its C calling convention.
    private static func libcFunction<Function>(_ name: String, as type: Function.Type) throws(SystemCallError) -> Function {
        guard let symbol = dlsym(nil, name) else { throw SystemCallError("dlsym(\(name))", errno: ENOSYS) }
        return unsafeBitCast(symbol, to: type)
    }
}

/// `CLONE_NEWNET` from <sched.h>.
private let cloneNewNetwork: Int32 = 0x4000_0000

private protocol ThreadJob: AnyObject {
    func run()
}

/// The closure and its outcome, handed to the thread and read back after `pthread_join` (which orders the
/// thread's writes before the joiner's reads).
private final class Job<Value>: ThreadJob {
    let body: () throws -> Value
    var outcome: Result<Value, any Error>?

    init(_ body: @escaping () throws -> Value) { self.body = body }

    func run() { outcome = Result { try body() } }
}
