import TakeoverCore
import TakeoverLinux
import Synchronization

/// A request to the controller thread.
enum ControllerCommand: Sendable {
    case takeover(group: UInt16)
    case release(group: UInt16)
    case releaseCompleted(group: UInt16, timelineID: UInt64)
    case shutdown
}

struct PendingCommand: Sendable {
    var command: ControllerCommand
    /// Resumed by the controller thread with the outcome (operator commands only).
    var reply: CheckedContinuation<Result<Void, FailoverCommandError>, Never>?

    func answer(_ result: Result<Void, FailoverCommandError>) {
        reply?.resume(returning: result)
    }
}

/// Everything other threads share with the controller thread. Each part has its own synchronisation:
/// the peer-traffic stamp is one atomic (the data plane writes it per frame), commands go through a locked
/// queue plus the eventfd that wakes the loop, and status and timelines sit behind their own locks.
final class ControllerShared: Sendable {
    struct Status {
        var running = false
        var groups: [FailoverGroupStatus]
        var counters: FailoverCounters
    }

    private struct Inbox {
        var commands: [PendingCommand] = []
        var closed = false
    }

    let wake: EventFD
    /// Latest frame seen from the peer (monotonic ns); 0: none yet.
    let peerTraffic = Atomic<UInt64>(0)
    /// Newest evidence of the unanswered-requests rule (monotonic ns of the N-th unanswered client frame); 0: none.
    let unansweredEvidence = Atomic<UInt64>(0)
    /// Set by the controller while its detector waits only for that evidence: a new report then wakes the loop
    /// (an eventfd write) instead of waiting for the next tick. Clear otherwise, so reports cost one atomic store.
    let awaitingUnansweredEvidence = Atomic(false)
    let timelines: TimelineStore
    let status: Mutex<Status>
    private let inbox = Mutex(Inbox())

    init(wake: EventFD, timelineCapacity: Int, status: Status) {
        self.wake = wake
        self.timelines = TimelineStore(capacity: timelineCapacity)
        self.status = Mutex(status)
    }

    /// Queues `pending` and wakes the loop; answers `.notRunning` at once when the loop has ended.
    func submit(_ pending: PendingCommand) {
        let accepted = inbox.withLock { inbox in
            guard !inbox.closed else { return false }
            inbox.commands.append(pending)
            return true
        }
        guard accepted else { return pending.answer(.failure(.notRunning)) }
        // Fails only for a bad descriptor, which this object owns for its whole life.
        try? wake.signal()
    }

    func takeCommands() -> [PendingCommand] {
        inbox.withLock { inbox in
            var taken: [PendingCommand] = []
            swap(&taken, &inbox.commands)
            return taken
        }
    }

    /// Refuses every later command and returns those still queued, so each is answered exactly once.
    func close() -> [PendingCommand] {
        inbox.withLock { inbox in
            inbox.closed = true
            var taken: [PendingCommand] = []
            swap(&taken, &inbox.commands)
            return taken
        }
    }

    /// Keeps the newest stamp when several threads report.
    func recordPeerTraffic(at time: MonotonicTime) {
        Self.storeNewest(time, in: peerTraffic)
    }

    /// Keeps the newest evidence; wakes the loop when it waits for it.
    func recordUnansweredRequests(at time: MonotonicTime) {
        guard Self.storeNewest(time, in: unansweredEvidence) else { return }
        if awaitingUnansweredEvidence.load(ordering: .relaxed) {
            // Fails only for a bad descriptor, which this object owns for its whole life.
            try? wake.signal()
        }
    }

    /// Raises `atomic` to `time` unless it is newer already; true when it moved.
    @discardableResult
    private static func storeNewest(_ time: MonotonicTime, in atomic: borrowing Atomic<UInt64>) -> Bool {
        var current = atomic.load(ordering: .relaxed)
        while current < time.nanoseconds {
            let (exchanged, original) = atomic.compareExchange(
                expected: current, desired: time.nanoseconds, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
