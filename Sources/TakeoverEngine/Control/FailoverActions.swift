public import TakeoverCore
import TakeoverLinux
import Synchronization

/// What the engine does when a group changes hands. The controller calls these on its own thread, in the
/// order the state machine decides, and never calls `startServing` for a group whose release has not
/// finished.
///
/// Both must return quickly — heartbeats and failure detection wait while they run. Slow work (a notify hook's
/// executable) belongs on another thread; a release may finish later from any thread (`releaseFinished()`).
public protocol FailoverActions: Sendable {
    /// The group entered `active`: answer for it (XDP takeover mode, ARP/ND responder, announcements, address,
    /// TCP recovery, hooks), stamping each step into `context`.
    func startServing(_ context: FailoverActionContext)
    /// The group entered `releasing`: undo `startServing`, then call `context.releaseFinished()` — before
    /// returning or later. Until then the group stays `releasing`, and the peer does not announce.
    func stopServing(_ context: FailoverActionContext)
}

/// Handed to an action: which group and transition, where to stamp its steps, and how to report a release done.
/// Sendable, so a release can finish on another thread.
public struct FailoverActionContext: Sendable {
    public let group: UInt16
    public let transition: FailoverTransition
    /// The timeline this transition's stamps go to (see `FailoverController.timelines`).
    public let timelineID: UInt64
    let timelines: TimelineStore
    let completeRelease: @Sendable (_ group: UInt16, _ timelineID: UInt64) -> Void

    /// Stamps the start of `step` now.
    public func stepStarted(_ step: String) {
        timelines.stamp(timelineID, step, .started, at: MonotonicClock.now())
    }

    /// Stamps the end of `step` now.
    public func stepFinished(_ step: String) {
        timelines.stamp(timelineID, step, .finished, at: MonotonicClock.now())
    }

    /// Runs `body` as `step`, stamped before and after (also when it throws).
    public func step<R, E: Error>(_ step: String, _ body: () throws(E) -> R) throws(E) -> R {
        stepStarted(step)
        defer { stepFinished(step) }
        return try body()
    }

    /// Reports that `stopServing` is done: the controller then completes the release (`.releaseCompleted`).
    /// Later calls for the same transition are ignored.
    public func releaseFinished() {
        completeRelease(group, timelineID)
    }
}

/// Actions that only record what was asked and when — for tests, the lab and dry runs. Each call is stamped
/// as one step ("serve" / "unserve") into the timeline, and kept with its start and end on the monotonic clock.
public final class RecordingFailoverActions: FailoverActions {
    public struct Record: Hashable, Sendable {
        public enum Kind: Hashable, Sendable {
            case startServing
            case stopServing
        }
        public var kind: Kind
        public var group: UInt16
        public var reason: TransitionReason
        public var timelineID: UInt64
        /// When the action began (serving: the first announcement would leave now).
        public var started: MonotonicTime
        /// When it was done (for a release: when `releaseFinished()` was called).
        public var finished: MonotonicTime
    }

    /// A serving period of one group, from `startServing` starting to `stopServing` finishing (nil: still serving).
    public struct ServingPeriod: Hashable, Sendable {
        public var group: UInt16
        public var from: MonotonicTime
        public var until: MonotonicTime?

        public init(group: UInt16, from: MonotonicTime, until: MonotonicTime?) {
            self.group = group
            self.from = from
            self.until = until
        }

        /// Whether the two periods share a moment.
        public func overlaps(_ other: ServingPeriod) -> Bool {
            let end = until ?? MonotonicTime(nanoseconds: .max)
            let otherEnd = other.until ?? MonotonicTime(nanoseconds: .max)
            return from < otherEnd && other.from < end
        }
    }

    private let releaseDelay: Duration
    private let storage = Mutex<[Record]>([])

    /// `releaseDelay`: how long a release takes; above zero it finishes on another thread, as a real release
    /// (removing an address over netlink, waiting for the XDP mode switch) may.
    public init(releaseDelay: Duration = .zero) {
        self.releaseDelay = releaseDelay
    }

    public var records: [Record] { storage.withLock { $0 } }

    /// The serving periods, in order, for every group.
    public var servingPeriods: [ServingPeriod] {
        var periods: [ServingPeriod] = []
        for record in records {
            switch record.kind {
            case .startServing:
                periods.append(ServingPeriod(group: record.group, from: record.started, until: nil))
            case .stopServing:
                if let open = periods.lastIndex(where: { $0.group == record.group && $0.until == nil }) {
                    periods[open].until = record.finished
                }
            }
        }
        return periods
    }

    public func startServing(_ context: FailoverActionContext) {
        let started = MonotonicClock.now()
        context.step("serve") {}
        append(.startServing, context, started: started, finished: MonotonicClock.now())
    }

    public func stopServing(_ context: FailoverActionContext) {
        let started = MonotonicClock.now()
        context.stepStarted("unserve")
        guard releaseDelay > .zero else {
            finishRelease(context, started: started)
            return
        }
        // A thread of its own rather than a task: a busy cooperative pool must not stretch the release.
        let delay = releaseDelay.nanoseconds
        do {
            try LoopThread.startDetached {
                Self.sleep(nanoseconds: delay)
                self.finishRelease(context, started: started)
            }
        } catch {
            finishRelease(context, started: started)
        }
    }

    private static func sleep(nanoseconds: UInt64) {
        guard let timer = try? TimerFD(), (try? timer.armOnce(afterNanoseconds: nanoseconds)) != nil else { return }
        var poller = PollSet(fileDescriptors: [timer.fileDescriptor])
        while (try? timer.readExpirations()) == 0 {
            _ = try? poller.wait(timeoutMilliseconds: -1)
        }
    }

    private func finishRelease(_ context: FailoverActionContext, started: MonotonicTime) {
        context.stepFinished("unserve")
        // Recorded before reporting, so the record's end precedes anything the peer does in response.
        append(.stopServing, context, started: started, finished: MonotonicClock.now())
        context.releaseFinished()
    }

    private func append(_ kind: Record.Kind, _ context: FailoverActionContext, started: MonotonicTime, finished: MonotonicTime) {
        let record = Record(
            kind: kind, group: context.group, reason: context.transition.reason, timelineID: context.timelineID,
            started: started, finished: finished)
        storage.withLock { $0.append(record) }
    }
}
