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
        init(_ body: @escaping () -> Void, exited: EventFD) {
            self.body = body
            self.exited = exited
        }
    }

    private let thread: pthread_t
    private let exited: EventFD
    private let joined = Atomic<Bool>(false)

    /// Starts `body` on a new thread.
    public init(_ body: sending @escaping () -> Void) throws(SystemCallError) {
        let exited = try EventFD()
        let context = Unmanaged.passRetained(Job(body, exited: exited)).toOpaque()
        var thread = pthread_t()
        do {
            try negativeErrnoCall("pthread_create") {
                -pthread_create(&thread, nil, { context in
                    let job = Unmanaged<Job>.fromOpaque(context!).takeRetainedValue()
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
