import Synchronization
import TakeoverCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A dedicated OS thread for a loop that needs deterministic latency (the heartbeat loop), rather than a task
/// on Swift's cooperative pool. It starts in the creating thread's network namespace (Linux copies the
/// creator's namespaces into a new thread), and can be joined with a bounded wait.
public final class LoopThread: Sendable {
    private final class Job {
        let body: () -> Void
        let exited: EventFD
        let name: String?
        init(_ body: @escaping () -> Void, exited: EventFD, name: String?) {
            self.body = body
            self.exited = exited
            self.name = name
        }
    }

    private let thread: pthread_t
    private let exited: EventFD
    private let joined = Atomic<Bool>(false)

    /// Starts `body` on a new thread. With `realtimePriority` (1–99) the thread is scheduled `SCHED_FIFO` at
    /// that priority from its first instruction, so it preempts ordinary work on a busy machine; that needs
    /// CAP_SYS_NICE (`pthread_create` fails with EPERM otherwise). `name` (at most 15 bytes are kept) is what
    /// `top -H`, `ps -L` and `perf` show for the thread. With `cpu` the thread runs on that CPU only.
    public init(
        name: String? = nil, realtimePriority: Int32? = nil, cpu: Int? = nil, _ body: sending @escaping () -> Void
    ) throws(SystemCallError) {
        let exited = try EventFD()
        var attributes = pthread_attr_t()
        try negativeErrnoCall("pthread_attr_init") { -pthread_attr_init(&attributes) }
        defer { pthread_attr_destroy(&attributes) }
        if let realtimePriority {
            var parameters = sched_param(sched_priority: realtimePriority)
            try negativeErrnoCall("pthread_attr_setinheritsched") {
                -pthread_attr_setinheritsched(&attributes, Int32(PTHREAD_EXPLICIT_SCHED))
            }
            try negativeErrnoCall("pthread_attr_setschedpolicy(SCHED_FIFO)") {
                -pthread_attr_setschedpolicy(&attributes, SCHED_FIFO)
            }
            try negativeErrnoCall("pthread_attr_setschedparam(\(realtimePriority))") {
                -pthread_attr_setschedparam(&attributes, &parameters)
            }
        }
        if let cpu {
            var set = Self.cpuSet([cpu])
            try negativeErrnoCall("pthread_attr_setaffinity_np(CPU \(cpu))") {
                -linuxSetAffinity(&attributes, MemoryLayout<cpu_set_t>.size, &set)
            }
        }
        let context = Unmanaged.passRetained(Job(body, exited: exited, name: name)).toOpaque()
        var thread = pthread_t()
        do {
            try negativeErrnoCall("pthread_create") {
                -pthread_create(&thread, &attributes, { context in
                    let job = Unmanaged<Job>.fromOpaque(context!).takeRetainedValue()
                    if let name = job.name { LoopThread.nameCurrentThread(name) }
                    job.body()
                    // Tells `join` the thread is done; the join itself then returns at once.
                    try? job.exited.signal()
                    return nil
                }, context)
            }
        } catch {
            Unmanaged<Job>.fromOpaque(context).release()
            throw error
        }
        self.thread = thread
        self.exited = exited
    }

    /// Names the calling thread for the kernel (`comm` in ps, top and scheduler traces), cut to its 15 bytes.
    public static func nameCurrentThread(_ name: String) {
        _ = kernelThreadName(name).withCString { linuxSetThreadName(pthread_self(), $0) }
    }

    /// The longest prefix of whole characters that fits the kernel's 15 bytes.
    private static func kernelThreadName(_ name: String) -> String {
        var kept = ""
        for character in name {
            guard kept.utf8.count + character.utf8.count <= 15 else { break }
            kept.append(character)
        }
        return kept
    }

    /// The CPUs the calling thread may run on (`sched_getaffinity`), ascending; empty if it cannot be read.
    public static func allowedCPUs() -> [Int] {
        var set = cpu_set_t()
        guard linuxGetAffinity(0, MemoryLayout<cpu_set_t>.size, &set) == 0 else { return [] }
        let bitsPerWord = UInt.bitWidth
        return withUnsafeBytes(of: &set) { raw in
            let words = raw.bindMemory(to: UInt.self)
            return (0..<(words.count * bitsPerWord)).filter { words[$0 / bitsPerWord] & (1 << UInt($0 % bitsPerWord)) != 0 }
        }
    }

    static func cpuSet(_ cpus: [Int]) -> cpu_set_t {
        var set = cpu_set_t()
        let bitsPerWord = UInt.bitWidth
        withUnsafeMutableBytes(of: &set) { raw in
            let words = raw.bindMemory(to: UInt.self)
            for cpu in cpus where cpu >= 0 && cpu < words.count * bitsPerWord {
                words[cpu / bitsPerWord] |= 1 << UInt(cpu % bitsPerWord)
            }
        }
        return set
    }

    /// The calling thread's scheduling policy and priority (`SCHED_OTHER` is 0, `SCHED_FIFO` 1).
    public static func currentScheduling() -> (policy: Int32, priority: Int32) {
        var policy: Int32 = 0
        var parameters = sched_param()
        pthread_getschedparam(pthread_self(), &policy, &parameters)
        return (policy, parameters.sched_priority)
    }

    /// Starts `body` on a thread nobody joins: the system reaps it when it ends.
    public static func startDetached(_ body: sending @escaping () -> Void) throws(SystemCallError) {
        let thread = try LoopThread(body)
        guard thread.joined.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        try negativeErrnoCall("pthread_detach") { -pthread_detach(thread.thread) }
    }

    /// Waits up to `timeoutNanoseconds` for the thread to end and reaps it; true if it ended. A false return
    /// leaves the thread running (it is then never reaped); calling again later may still succeed.
    public func join(timeoutNanoseconds: UInt64) -> Bool {
        if joined.load(ordering: .acquiring) { return true }
        let deadline = MonotonicClock.now() + timeoutNanoseconds
        var poller = PollSet(fileDescriptors: [exited.fileDescriptor])
        while !poller.isReady(0) {
            let now = MonotonicClock.now()
            guard now < deadline else { return false }
            let milliseconds = Int32(clamping: (deadline.nanoseconds(since: now) + 999_999) / 1_000_000)
            guard (try? poller.wait(timeoutMilliseconds: milliseconds)) != nil else { return false }
        }
        // Exactly one caller reaps the thread.
        guard joined.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return true
        }
        pthread_join(thread, nil)
        return true
    }
}

/// glibc's `pthread_setname_np`, which Swift's Glibc module does not declare (it needs _GNU_SOURCE). Linked
/// directly rather than looked up with `dlsym`, which finds nothing in a fully static executable (the threads
/// then kept their creator's name).
@_silgen_name("pthread_setname_np")
private func linuxSetThreadName(_ thread: pthread_t, _ name: UnsafePointer<CChar>) -> Int32

/// glibc's `sched_getaffinity` and `pthread_attr_setaffinity_np` (also _GNU_SOURCE declarations), linked the same way.
@_silgen_name("sched_getaffinity")
private func linuxGetAffinity(_ pid: pid_t, _ size: Int, _ set: UnsafeMutablePointer<cpu_set_t>) -> Int32

@_silgen_name("pthread_attr_setaffinity_np")
private func linuxSetAffinity(
    _ attributes: UnsafeMutablePointer<pthread_attr_t>, _ size: Int, _ set: UnsafePointer<cpu_set_t>
) -> Int32
