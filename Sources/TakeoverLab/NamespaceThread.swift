import Foundation
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// Capabilities a lab thread can give up, to test what happens without them.
public enum LabCapability: UInt32, Sendable, CaseIterable {
    case netAdmin = 12
    case netRaw = 13
}

/// Runs code with a different network namespace (and optionally fewer capabilities) on a thread of its own.
///
/// Why a thread and not `ip netns exec`: the network namespace and the capability sets are per thread
/// in Linux, so a fresh thread can `setns` and `capset` without touching the rest of the test process,
/// and the code under test runs in-process with its results and errors as ordinary Swift values.
/// Sockets opened there stay in that namespace after the thread ends, so a capture opened this way can
/// be read from any thread.
enum NamespaceThread {
    private final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    static func run<R>(
        namespace: String, dropping capabilities: [LabCapability], _ body: () throws -> R
    ) throws -> R {
        try withoutActuallyEscaping(body) { body in
            var outcome: Result<R, any Error> = .failure(LabError.namespaceEntryFailed(namespace: namespace, reason: "thread did not run"))
            let job = Job {
                outcome = Result {
                    try enter(namespace)
                    try drop(capabilities)
                    return try body()
                }
            }
            var thread = pthread_t()
            let context = Unmanaged.passRetained(job).toOpaque()
            let created = pthread_create(&thread, nil, { context in
                Unmanaged<Job>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, context)
            guard created == 0 else {
                Unmanaged<Job>.fromOpaque(context).release()
                throw LabError.namespaceEntryFailed(namespace: namespace, reason: "pthread_create: \(created)")
            }
            // The job finishes before this returns, so the non-escaping body never outlives the call.
            pthread_join(thread, nil)
            return try outcome.get()
        }
    }

    /// Moves the calling thread into the named namespace (the file `ip netns add` made).
    private static func enter(_ namespace: String) throws {
        let path = "/run/netns/\(namespace)"
        let descriptor = try systemCall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = try? systemCall("close") { close(descriptor) } }
        // glibc declares setns only under _GNU_SOURCE, which Swift's Glibc module does not define.
        let setns = try libcFunction("setns", as: (@convention(c) (Int32, Int32) -> Int32).self)
        let cloneNewNetwork: Int32 = 0x4000_0000  // CLONE_NEWNET
        try systemCall("setns(\(path))") { setns(descriptor, cloneNewNetwork) }
    }

    /// Clears `capabilities` from this thread's effective set (capset acts on the calling thread only).
    private static func drop(_ capabilities: [LabCapability]) throws {
        guard !capabilities.isEmpty else { return }
        // glibc exports capget/capset but declares them in no header Swift imports.
        typealias CapabilityCall = @convention(c) (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32
        let capget = try libcFunction("capget", as: CapabilityCall.self)
        let capset = try libcFunction("capset", as: CapabilityCall.self)
        // struct __user_cap_header_struct { u32 version; int pid; } with _LINUX_CAPABILITY_VERSION_3, and
        // two struct __user_cap_data_struct { u32 effective, permitted, inheritable; } (bits 0-31, 32-63).
        var header: (UInt32, Int32) = (0x2008_0522, 0)
        var data: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0)
        try systemCall("capget") { capget(&header, &data) }
        for capability in capabilities where capability.rawValue < 32 {
            data.0 &= ~(1 << capability.rawValue)
        }
        try systemCall("capset") { capset(&header, &data) }
    }

    /// A libc function that Swift's Glibc module does not declare, looked up by name.
    private static func libcFunction<F>(_ name: String, as type: F.Type) throws -> F {
        guard let symbol = dlsym(nil, name) else {
            throw LabError.namespaceEntryFailed(namespace: "", reason: "\(name) not found in libc")
        }
        return unsafeBitCast(symbol, to: type)
    }
}
