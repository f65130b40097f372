public import TakeoverCore
import Synchronization

/// What happened, and when, for one transition of one group: the decision and every action step, stamped on
/// the monotonic clock (`MonotonicClock`, shared by all threads and namespaces of the machine).
public struct FailoverTimeline: Hashable, Sendable {
    public struct Event: Hashable, Sendable {
        public enum Kind: Hashable, Sendable {
            case started
            case finished
        }
        public var step: String
        public var kind: Kind
        public var at: MonotonicTime
    }

    /// Unique within one controller, increasing.
    public var id: UInt64
    public var group: UInt16
    /// From, to, why — and `at`, the moment of the decision (for a takeover: the failure decided).
    public var transition: FailoverTransition
    /// In stamping order. The controller stamps `FailoverTimeline.startServing` / `.stopServing` around the
    /// action call; the action implementation stamps its own steps in between (and after, for a release it
    /// finishes asynchronously).
    public var events: [Event]
    /// When the controller learned that `stopServing` finished (releases only).
    public var releaseFinished: MonotonicTime?
    /// For a takeover because the peer failed: which rule of the detector decided, with its figures.
    public var failure: FailureDetector.Rule?

    /// The step names the controller itself stamps around the action calls.
    public static let startServing = "startServing"
    public static let stopServing = "stopServing"

    public func stamp(of step: String, _ kind: Event.Kind) -> MonotonicTime? {
        events.first { $0.step == step && $0.kind == kind }?.at
    }
}

/// The timelines of the last transitions, shared by the controller thread (which opens them), the action
/// implementations (which stamp into them, from any thread) and readers.
final class TimelineStore: Sendable {
    private struct Storage {
        var timelines: [FailoverTimeline] = []
        var nextID: UInt64 = 1
    }

    private let capacity: Int
    private let storage = Mutex(Storage())

    init(capacity: Int) { self.capacity = capacity }

    func open(group: UInt16, transition: FailoverTransition, failure: FailureDetector.Rule? = nil) -> UInt64 {
        storage.withLock { storage in
            let id = storage.nextID
            storage.nextID += 1
            if storage.timelines.count == capacity { storage.timelines.removeFirst() }
            var events: [FailoverTimeline.Event] = []
            events.reserveCapacity(16)
            storage.timelines.append(
                FailoverTimeline(
                    id: id, group: group, transition: transition, events: events, releaseFinished: nil, failure: failure))
            return id
        }
    }

    func stamp(_ id: UInt64, _ step: String, _ kind: FailoverTimeline.Event.Kind, at time: MonotonicTime) {
        storage.withLock { storage in
            // Newest last, and stamps go to recent transitions: search from the end.
            guard let index = storage.timelines.lastIndex(where: { $0.id == id }) else { return }
            storage.timelines[index].events.append(.init(step: step, kind: kind, at: time))
        }
    }

    func releaseFinished(_ id: UInt64, at time: MonotonicTime) {
        storage.withLock { storage in
            guard let index = storage.timelines.lastIndex(where: { $0.id == id }) else { return }
            storage.timelines[index].releaseFinished = time
        }
    }

    var all: [FailoverTimeline] { storage.withLock { $0.timelines } }
}
