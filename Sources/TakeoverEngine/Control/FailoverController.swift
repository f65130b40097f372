public import TakeoverCore
import TakeoverLinux
import Synchronization

/// Runs failover for one node: heartbeats on every channel, the failure detector, one state machine per group,
/// and the actions their transitions call for.
///
/// All of it runs on ONE dedicated thread (not a task on the cooperative pool: heartbeats down to 1 ms need a
/// loop whose latency does not depend on what else the process is awaiting). The thread waits in `poll` on a
/// periodic `timerfd`, every channel's socket and an `eventfd`; see `ControllerLoop` for one wake-up. Other
/// threads talk to it through `peerTrafficSeen(at:)` (an atomic), the operator commands and `shutdown` (a queue
/// plus the eventfd), and read `counters`, `groups` and `timelines` (snapshots under locks).
///
///     let controller = try FailoverController(configuration: configuration, authenticator: key, actions: engine)
///     try controller.start()
///     …
///     controller.shutdown(timeout: .seconds(5))   // releases every group, tells the peer, ends the thread
///
/// Sockets are opened by `init` in the calling thread's network namespace, and the thread started by `start`
/// inherits the namespace of the thread that calls `start`.
public final class FailoverController: Sendable {
    public let configuration: FailoverControllerConfiguration
    /// The incarnation in this node's heartbeats: the wall clock (ns) when the controller was made.
    public let incarnation: UInt64
    private let shared: ControllerShared
    /// The loop until `start` moves it onto its thread.
    private let pendingLoop: Mutex<ControllerLoop?>
    private let thread = Mutex<LoopThread?>(nil)
    /// Serialises `start` and `shutdown`, so a shutdown never misses a thread being started.
    private let startStop = Mutex(())
    /// The stall cover's counters, once started.
    private let coverCounters = Mutex<HeartbeatPublication?>(nil)

    /// Checks the configuration and opens the channel sockets, the timer and the wake-up descriptor.
    /// `onStateChange` is called on the controller thread after each transition, and `onDiagnostic` for what an
    /// operator should hear about the heartbeats (`FailoverDiagnostic`); both must return quickly.
    public init(
        configuration: FailoverControllerConfiguration, authenticator: HMACAuthenticator, actions: any FailoverActions,
        onStateChange: (@Sendable (FailoverStateChange) -> Void)? = nil,
        onDiagnostic: (@Sendable (FailoverDiagnostic) -> Void)? = nil
    ) throws(FailoverControllerError) {
        let problems = configuration.problems
        guard problems.isEmpty else { throw .invalidConfiguration(problems) }
        self.configuration = configuration
        incarnation = RealtimeClock.nanoseconds()
        let wake: EventFD
        do {
            wake = try EventFD()
        } catch {
            throw .setupFailed(error)
        }
        shared = ControllerShared(
            wake: wake, timelineCapacity: configuration.timelineCapacity,
            status: .init(
                groups: configuration.groups.map { FailoverGroupStatus(id: $0.id, state: .initializing, peer: nil) },
                counters: FailoverCounters(channelNames: configuration.channels.map(\.name))))
        pendingLoop = Mutex(
            try ControllerLoop(
                configuration: configuration, incarnation: incarnation, authenticator: authenticator, actions: actions,
                onStateChange: onStateChange, onDiagnostic: onDiagnostic, shared: shared))
    }

    /// Asks a running loop to shut down rather than leave its thread behind; does not wait.
    deinit {
        shared.submit(PendingCommand(command: .shutdown))
    }

    /// Starts the controller thread. Once only (`.alreadyStarted` after a start or a shutdown). Commands given
    /// before wait for it.
    public func start() throws(FailoverControllerError) {
        try startStop.withLock { (_) throws(FailoverControllerError) in
            guard pendingLoop.withLock({ $0 != nil }) else { throw .alreadyStarted }
            // Refused before the loop leaves `pendingLoop`, so a later `shutdown` still closes its sockets.
            let placement = try Self.placement(
                stallCover: configuration.stallCover, cpus: configuration.cpus, allowed: LoopThread.allowedCPUs())
            guard let loop = pendingLoop.withLock({ $0.take() }) else { throw .alreadyStarted }
            let scheduling = Self.scheduling(for: configuration.realtimePriority)
            loop.coverPlacement = placement
            shared.status.withLock {
                $0.counters.scheduling = scheduling
                $0.counters.stallCover = placement
            }
            coverCounters.withLock { $0 = loop.coverCounters }
            let priority: Int32? = if case .realtime(let priority) = scheduling { priority } else { nil }
            do throws(SystemCallError) {
                let started = try LoopThread(name: "takeover-ctl", realtimePriority: priority, cpu: placement.controllerCPU) {
                    loop.run()
                }
                thread.withLock { $0 = started }
            } catch {
                for pending in shared.close() { pending.answer(.failure(.notRunning)) }
                throw .setupFailed(error)
            }
        }
    }

    /// Whether `SCHED_FIFO` at `priority` is permitted here, found by asking for it: a thread that does nothing
    /// is started with it. Refused (no CAP_SYS_NICE, no RT budget): ordinary scheduling, said in the counters.
    private static func scheduling(for priority: Int32?) -> ControllerScheduling {
        guard let priority else { return .ordinary }
        do {
            let probe = try LoopThread(name: "takeover-rtprobe", realtimePriority: priority) {}
            _ = probe.join(timeoutNanoseconds: 1_000_000_000)
            return .realtime(priority: priority)
        } catch {
            return .realtimeRefused(error)
        }
    }

    /// Where the threads run, given the CPUs this process may use (`allowed`, ascending). Configured `cpus`: exactly
    /// there (the controller on the first, the cover on the second), or `.cpuNotAllowed` for one outside `allowed` —
    /// never silently elsewhere. Otherwise the controller on the highest allowed CPU and the cover on the next lower
    /// one, so one CPU's stall cannot hold both; without a cover the controller is not pinned, and with one CPU
    /// allowed the cover is unavailable.
    static func placement(
        stallCover limit: Duration?, cpus: [Int]?, allowed: [Int]
    ) throws(FailoverControllerError) -> StallCoverPlacement {
        if let cpus {
            if let refused = cpus.first(where: { !allowed.contains($0) }) {
                throw .cpuNotAllowed(cpu: refused, allowed: allowed)
            }
            // `problems` (checked by `init`) requires a second CPU while the cover is on.
            guard let limit else { return .offControllerPinned(controllerCPU: cpus[0]) }
            return .running(controllerCPU: cpus[0], coverCPU: cpus[1], limit: limit.nanoseconds, chosen: .configured)
        }
        guard let limit else { return .off }
        guard allowed.count >= 2 else {
            return .unavailable("\(allowed.count) CPU allowed; the cover needs a second one")
        }
        return .running(
            controllerCPU: allowed[allowed.count - 1], coverCPU: allowed[allowed.count - 2], limit: limit.nanoseconds,
            chosen: .highestAllowed)
    }

    /// How the controller thread is scheduled (`.ordinary` before `start`).
    public var scheduling: ControllerScheduling { shared.status.withLock { $0.counters.scheduling } }

    /// The data plane saw a frame from the peer's MAC at `time`: the peer is alive, whatever its heartbeats do
    /// (when `usesPeerTraffic`). Lock-free; safe from any thread, at any rate.
    @inline(__always)
    public func peerTrafficSeen(at time: MonotonicTime) {
        shared.recordPeerTraffic(at: time)
    }

    /// The capture counted the unanswered-requests rule's N client frames to the peer since its last frame, the
    /// N-th at `time` (`UnansweredRequestCounter.evidence`). Lock-free, no allocation; wakes the controller thread
    /// (one eventfd write) only while its detector waits for exactly this.
    @inline(__always)
    public func unansweredRequestsSeen(at time: MonotonicTime) {
        shared.recordUnansweredRequests(at: time)
    }

    /// Operator: serve `group` now — at once when the peer is gone, else by asking the peer to release it.
    public func requestTakeover(group: UInt16) async throws(FailoverCommandError) {
        try await command(.takeover(group: group))
    }

    /// Operator: hand `group` to the peer (refused when we do not serve it or the peer is not alive).
    public func requestRelease(group: UInt16) async throws(FailoverCommandError) {
        try await command(.release(group: group))
    }

    private func command(_ command: ControllerCommand) async throws(FailoverCommandError) {
        let result = await withCheckedContinuation { continuation in
            shared.submit(PendingCommand(command: command, reply: continuation))
        }
        try result.get()
    }

    /// Graceful stop: every group serving is released (`stopServing`), the peer is told (`release` in the last
    /// heartbeats, so it takes over at once), and the thread ends. Waits up to `timeout` for the thread; true
    /// when it ended (or never started).
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(5)) -> Bool {
        let running = startStop.withLock { _ -> LoopThread? in
            if pendingLoop.withLock({ $0.take() }) != nil {
                // Never started, nothing served: the loop (and its sockets) goes; queued commands are refused.
                for pending in shared.close() { pending.answer(.failure(.notRunning)) }
                return nil
            }
            guard let running = thread.withLock({ $0 }) else { return nil }
            shared.submit(PendingCommand(command: .shutdown))
            return running
        }
        return running?.join(timeoutNanoseconds: timeout.nanoseconds) ?? true
    }

    /// Whether the controller thread is in its loop.
    public var isRunning: Bool { shared.status.withLock { $0.running } }

    public var counters: FailoverCounters {
        var counters = shared.status.withLock { $0.counters }
        if let cover = coverCounters.withLock({ $0 }) {
            counters.stallCoverHeartbeats = cover.coverSent.load(ordering: .relaxed)
            counters.stallCoverSendFailures = cover.coverSendFailures.load(ordering: .relaxed)
            counters.stallsCovered = cover.stallsCovered.load(ordering: .relaxed)
        }
        return counters
    }

    public var groups: [FailoverGroupStatus] { shared.status.withLock { $0.groups } }

    public func state(of group: UInt16) -> FailoverState? {
        shared.status.withLock { status in status.groups.first { $0.id == group }?.state }
    }

    /// The timelines of the last transitions (at most `configuration.timelineCapacity`), oldest first.
    public var timelines: [FailoverTimeline] { shared.timelines.all }
}
