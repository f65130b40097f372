import Synchronization
public import TakeoverCore
public import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Settings of a `CapturePipeline`.
public struct CapturePipelineConfiguration: Sendable {
    /// The peer's MAC: frames from it are the peer's liveness signal and are flagged in records. `nil`
    /// when the pipeline watches no particular host (benchmarks).
    public var peerMAC: MACAddress?
    /// Slots of the ring between the receive and the tracker thread (a power of two). It absorbs the
    /// tracker's pauses: at 1 M frames/s, 4096 slots hold 4 ms.
    public var ringCapacity: Int
    /// Frames taken from the source per `receive` call, and records per tracker batch.
    public var batchSize: Int
    /// The receive thread's longest wait for frames: also how long `stop()` may wait for it to notice.
    public var receiveWaitTimeout: Duration
    /// The tracker thread's longest sleep when the ring is empty. It sleeps rather than spins: on a 2-core
    /// machine a spinning thread takes the CPU the kernel needs to deliver the frames. The first sleep after
    /// data is short (1/16 of this) and doubles while the ring stays empty, so a busy pipeline reacts fast and
    /// an idle one wakes rarely. The ring must hold what arrives meanwhile (4096 slots at 1 ms: 4 M frames/s).
    public var trackerIdleSleep: Duration
    /// Sessions the tracker holds (its table is allocated once, at start).
    public var sessionCapacity: Int
    public var timeouts: SessionTimeouts
    /// How often the tracker thread runs a bounded expiry sweep, and how many table slots each examines.
    public var expiryInterval: Duration
    public var expirySlotBudget: Int
    /// How often the receive thread reads the source's own counters.
    public var statisticsInterval: Duration
    /// The unanswered-requests rule's capture side: clients' frames to `peerMAC` since the peer's last frame are
    /// counted and the evidence reported (`unansweredRequestsSeen`); nil: off.
    public var unansweredRequests: UnansweredRequestRule?

    public init(
        peerMAC: MACAddress?, ringCapacity: Int = 4096, batchSize: Int = 64,
        receiveWaitTimeout: Duration = .milliseconds(20), trackerIdleSleep: Duration = .milliseconds(1),
        sessionCapacity: Int = 1 << 16, timeouts: SessionTimeouts = SessionTimeouts(),
        expiryInterval: Duration = .milliseconds(100), expirySlotBudget: Int = 1024,
        statisticsInterval: Duration = .milliseconds(100), unansweredRequests: UnansweredRequestRule? = nil
    ) {
        self.peerMAC = peerMAC
        self.ringCapacity = ringCapacity
        self.batchSize = batchSize
        self.receiveWaitTimeout = receiveWaitTimeout
        self.trackerIdleSleep = trackerIdleSleep
        self.sessionCapacity = sessionCapacity
        self.timeouts = timeouts
        self.expiryInterval = expiryInterval
        self.expirySlotBudget = expirySlotBudget
        self.statisticsInterval = statisticsInterval
        self.unansweredRequests = unansweredRequests
    }
}

/// How a pipeline ended, from `stop(timeout:)`.
public struct CapturePipelineStopResult: Sendable {
    /// Both threads ended within the timeout (if false, the one that did not is left running, never joined,
    /// and the pipeline's statistics may still move).
    public var joined: Bool
    /// The statistics after the final drain.
    public var statistics: CapturePipelineStatistics
    /// Why the receive thread ended early, if the source failed (its error's description).
    public var receiveFailure: String?
}

/// Receive thread → SPSC ring → tracker thread.
///
///     PacketSource ──waitForFrames/receive──► receive thread ──CaptureRecord──► SPSCRing ──► tracker thread
///       (kernel ring, AF_XDP RX, test queue)   parse, classify, count            (fixed)      TCPTracker
///                                              peer liveness (atomic)                          expiry sweeps
///
/// The receive thread owns the source; it parses each frame (`FrameClassification.classify`) into a
/// `CaptureRecord` written straight into a reserved ring slot, so a frame costs no allocation and one copy of
/// a 128-byte record (two cache lines; a test keeps it there). The tracker thread owns the ring's consumer
/// end and feeds `TCPTracker`, which sits behind a mutex taken once per drained batch so other threads can
/// query sessions (`session(for:)`, `withTracker`) — a query holds the tracker thread up, never the receive
/// thread; the ring absorbs it.
///
/// Bounded everywhere: the receive thread waits in the source (poll) at most `receiveWaitTimeout`, the
/// tracker sleeps when the ring is empty, the ring and the session table have fixed sizes, expiry sweeps a
/// fixed number of slots. Every lost frame is counted by cause (`CapturePipelineStatistics`).
///
/// The threads hold the pipeline until they end: call `stop(timeout:)`, which also releases the source.
public final class CapturePipeline: Sendable {
    public let configuration: CapturePipelineConfiguration

    private let ring: SPSCRing<CaptureRecord>
    private let tracker: Mutex<TCPTracker>
    private let receiveCounters = Mutex(CaptureReceiveCounters())
    private let sourceCounters = Mutex(PacketSourceStatistics())
    private let trackerCounters = Mutex(TrackerSideCounters())
    private let receiveFailure = Mutex<String?>(nil)
    /// Nanoseconds of the newest frame from the peer's MAC; 0 before the first.
    private let lastPeerFrameNanoseconds = Atomic<UInt64>(0)
    private let stopReceiving = Atomic(false)
    private let stopTracking = Atomic(false)
    /// Set once by `init` after both threads started; nil only while `init` runs (the threads need `self`).
    private let threads = Mutex<(receive: LoopThread, tracker: LoopThread)?>(nil)
    private let stopped = Mutex<CapturePipelineStopResult?>(nil)
    /// Where the receive thread copies TCP payload for the `resume` policy; nil when no one needs it.
    public let payloads: SessionPayloadCapture?

    private struct TrackerSideCounters: Sendable {
        var recordsTracked: UInt64 = 0
        var expirySweeps: UInt64 = 0
    }

    /// Starts both threads; `source` moves to the receive thread for good, which releases it (closing a
    /// capture or socket) before it ends: once `stop` has joined, the source is gone. `clock` is the
    /// monotonic clock expiry runs on (the one frame timestamps use).
    /// `peerTrafficSeen`, when given, is called on the receive thread with the newest peer frame's time,
    /// at most once per batch (`FailoverController.peerTrafficSeen(at:)` fits: an atomic store).
    /// `unansweredRequestsSeen`, when given, is called on the receive thread with the unanswered-requests evidence
    /// (`configuration.unansweredRequests`), at most once per batch (`FailoverController.unansweredRequestsSeen(at:)`).
    /// `payloads`, when given, receives every TCP segment's payload on the receive thread, copied once from the
    /// frame into its preallocated windows (under its lock, taken once per batch).
    /// Throws when a thread cannot be created (`pthread_create`, or the eventfd its join waits on); then the
    /// source is released and the tracker thread, if it had started, is stopped (joined within 2 s).
    public init<Source: PacketSource & ~Copyable & SendableMetatype>(
        source: consuming Source, configuration: CapturePipelineConfiguration,
        clock: @escaping @Sendable () -> MonotonicTime,
        peerTrafficSeen: (@Sendable (MonotonicTime) -> Void)? = nil,
        unansweredRequestsSeen: (@Sendable (MonotonicTime) -> Void)? = nil,
        payloads: SessionPayloadCapture? = nil
    ) throws(SystemCallError) {
        precondition(configuration.batchSize > 0, "CapturePipeline: batch size must be positive")
        self.configuration = configuration
        self.payloads = payloads
        ring = SPSCRing(capacity: configuration.ringCapacity)
        // On 2 MiB pages where the kernel gives them: a large table's random lookups then miss the TLB far less.
        tracker = Mutex(
            TCPTracker(
                capacity: configuration.sessionCapacity, timeouts: configuration.timeouts,
                memory: HugePageSessionMemory()))

        let box = SourceBox(source)
        // Named so that top -H, perf and gdb show which is which. The tracker first: it does not own the
        // source, so if the receive thread then cannot start, stopping the tracker is all there is to undo.
        let tracker = try LoopThread(name: "takeover-track") { [self] in runTrackerLoop(clock: clock) }
        let receive: LoopThread
        do {
            receive = try LoopThread(name: "takeover-rx") { [self] in
                runReceiveLoop(box, peerTrafficSeen: peerTrafficSeen, unansweredRequestsSeen: unansweredRequestsSeen)
            }
        } catch {
            // Nothing reached the ring, so the tracker leaves after at most one idle sleep.
            stopTracking.store(true, ordering: .releasing)
            _ = tracker.join(timeoutNanoseconds: 2_000_000_000)
            throw error
        }
        threads.withLock { $0 = (receive, tracker) }
    }

    // MARK: Queries (any thread)

    /// A snapshot of every counter.
    public func statistics() -> CapturePipelineStatistics {
        let (trackerStatistics, sessionCount) = tracker.withLock { ($0.statistics, $0.count) }
        let trackerSide = trackerCounters.withLock { $0 }
        return CapturePipelineStatistics(
            receive: receiveCounters.withLock { $0 }, source: sourceCounters.withLock { $0 },
            recordsTracked: trackerSide.recordsTracked, tracker: trackerStatistics, sessionCount: sessionCount,
            expirySweeps: trackerSide.expirySweeps, lastPeerFrame: lastPeerFrame)
    }

    /// The newest frame seen from the peer's MAC, `nil` before the first (lock-free).
    public var lastPeerFrame: MonotonicTime? {
        let nanoseconds = lastPeerFrameNanoseconds.load(ordering: .relaxed)
        return nanoseconds == 0 ? nil : MonotonicTime(nanoseconds: nanoseconds)
    }

    /// A copy of the session of `flow` (either direction), as tracked up to the last drained batch.
    public func session(for flow: FlowKey) -> Session? {
        tracker.withLock { $0.session(for: flow) }
    }

    /// Every session matching `predicate`, copied out (allocates; for takeover and diagnostics, not the
    /// data path). Holds the tracker thread for one pass over the table.
    public func sessions(where predicate: (Session) -> Bool = { _ in true }) -> [Session] {
        tracker.withLock { tracker in
            var matching: [Session] = []
            tracker.table.forEach { session in if predicate(session) { matching.append(session) } }
            return matching
        }
    }

    /// Runs `body` with the tracker, under the lock the tracker thread takes per batch: keep it short.
    public func withTracker<R>(_ body: (borrowing TCPTracker) throws -> R) rethrows -> R {
        try tracker.withLock { tracker in try body(tracker) }
    }

    /// Records waiting in the ring (a snapshot).
    public var queuedRecords: Int { ring.count }

    // MARK: Stopping

    /// Stops the receive thread, lets the tracker drain what is in the ring, stops it, and waits at most
    /// `timeout` in all for both. Idempotent: later calls return the first result.
    @discardableResult
    public func stop(timeout: Duration = .seconds(2)) -> CapturePipelineStopResult {
        // Serialised: a second caller waits for the first and gets its result, so the timeout is the first
        // caller's and one result describes the pipeline's end.
        stopped.withLock { stopped in
            if let result = stopped { return result }
            guard let (receiveThread, trackerThread) = threads.withLock({ $0 }) else {
                preconditionFailure("CapturePipeline: init starts both threads")
            }
            let deadline = MonotonicClock.now() + timeout.wholeNanoseconds
            stopReceiving.store(true, ordering: .releasing)
            let receiveJoined = receiveThread.join(timeoutNanoseconds: Self.nanoseconds(until: deadline))
            // Only once the producer is gone is "ring empty" final: then the tracker may drain and leave.
            stopTracking.store(true, ordering: .releasing)
            let trackerJoined = trackerThread.join(timeoutNanoseconds: Self.nanoseconds(until: deadline))
            let result = CapturePipelineStopResult(
                joined: receiveJoined && trackerJoined, statistics: statistics(),
                receiveFailure: receiveFailure.withLock { $0 })
            stopped = result
            return result
        }
    }

    private static func nanoseconds(until deadline: MonotonicTime) -> UInt64 {
        let now = MonotonicClock.now()
        return now < deadline ? deadline.nanoseconds(since: now) : 0
    }

    // MARK: Receive thread

    private func runReceiveLoop<Source: PacketSource & ~Copyable>(
        _ box: SourceBox<Source>, peerTrafficSeen: (@Sendable (MonotonicTime) -> Void)?,
        unansweredRequestsSeen: (@Sendable (MonotonicTime) -> Void)?
    ) {
        guard let producer = ring.claimProducer() else { preconditionFailure("the pipeline's ring has one producer") }
        let batchSize = configuration.batchSize
        let statisticsInterval = configuration.statisticsInterval
        // Per-frame work as a value, not a closure: over libpcap a closure would cost a heap box per batch.
        var batch = CaptureBatchHandler(
            producer: producer, peerMAC: configuration.peerMAC, batchSize: batchSize,
            unansweredRequests: configuration.unansweredRequests)
        var lastStatisticsRead = ContinuousClock.now
        do {
            while !stopReceiving.load(ordering: .acquiring) {
                if try box.source!.waitForFrames(timeout: configuration.receiveWaitTimeout) {
                    if let payloads {
                        // The batch runs under the store's lock; the handler holds a pointer to the store until
                        // `finish`, inside this access.
                        try payloads.withStore { (store: inout SessionPayloadStore) throws(Source.ReceiveError) in
                            try withUnsafeMutablePointer(to: &store) { (store) throws(Source.ReceiveError) in
                                batch.begin(payloadStore: store)
                                _ = try box.source!.receive(limit: batchSize, into: &batch)
                            }
                        }
                    } else {
                        batch.begin(payloadStore: nil)
                        _ = try box.source!.receive(limit: batchSize, into: &batch)
                    }
                    let signals = batch.finish()
                    let newestPeerFrame = signals.newestPeerFrame
                    if newestPeerFrame != 0 {
                        // Single writer, so a load and a store suffice; max keeps a late batch from going back.
                        if newestPeerFrame > lastPeerFrameNanoseconds.load(ordering: .relaxed) {
                            lastPeerFrameNanoseconds.store(newestPeerFrame, ordering: .relaxed)
                        }
                        peerTrafficSeen?(MonotonicTime(nanoseconds: newestPeerFrame))
                    }
                    // After the peer's frame: the controller then never sees evidence older than the frame it ends.
                    if signals.unansweredEvidence != 0 {
                        unansweredRequestsSeen?(MonotonicTime(nanoseconds: signals.unansweredEvidence))
                    }
                    let snapshot = batch.counters
                    receiveCounters.withLock { $0 = snapshot }
                }
                if ContinuousClock.now - lastStatisticsRead >= statisticsInterval {
                    let sourceStatistics = try box.source!.statistics()
                    sourceCounters.withLock { $0 = sourceStatistics }
                    lastStatisticsRead = ContinuousClock.now
                }
            }
            let sourceStatistics = try box.source!.statistics()
            sourceCounters.withLock { $0 = sourceStatistics }
        } catch {
            receiveFailure.withLock { $0 = "\(error)" }
        }
        // Released here, on this thread, so the source is closed by the time `stop` sees the thread end.
        _ = box.source.take()
    }

    // MARK: Tracker thread

    private func runTrackerLoop(clock: @Sendable () -> MonotonicTime) {
        guard var consumer = ring.claimConsumer() else { preconditionFailure("the pipeline's ring has one consumer") }
        let batchSize = configuration.batchSize
        let expiryInterval = configuration.expiryInterval.wholeNanoseconds
        let slotBudget = configuration.expirySlotBudget
        let longestSleep = configuration.trackerIdleSleep.wholeNanoseconds
        var idleSleep = longestSleep / 16
        var side = TrackerSideCounters()
        var lastSweep = clock()
        // Each drained record's flow hash, from its prefetch to its track (hashed once); allocated once here.
        let hashes = UnsafeMutableBufferPointer<FlowHash>.allocate(capacity: batchSize)
        defer { hashes.deallocate() }
        while true {
            // Read the flag before looking at the ring: if it was set, the producer had already finished, so
            // an empty ring after this point means nothing more will come.
            let finishing = stopTracking.load(ordering: .acquiring)
            let count = consumer.peek(batchSize)
            if count > 0 {
                tracker.withLock { tracker in
                    // Each record's tags, then its session, are requested groups ahead of its track, so the
                    // batch's cache misses overlap one another and the tracking work.
                    tracker.forEachPrefetched(count: count, hashes: hashes, key: { consumer[$0].flow }) {
                        tracker, index, hash in
                        let record = consumer[index]
                        switch record.transport {
                        case .tcp(let segment):
                            tracker.track(record.flow, segment, at: record.timestamp, hash: hash)
                        case .udp(let length):
                            tracker.trackUDP(record.flow, payloadLength: Int(length), at: record.timestamp, hash: hash)
                        }
                    }
                }
                consumer.release(count)
                side.recordsTracked &+= UInt64(count)
            }
            let now = clock()
            if now.nanoseconds(since: lastSweep) >= expiryInterval {
                tracker.withLock { _ = $0.expire(now: now, slotBudget: slotBudget) }
                side.expirySweeps &+= 1
                lastSweep = now
            }
            let snapshot = side
            trackerCounters.withLock { $0 = snapshot }
            if count == 0 {
                if finishing { return }
                sleep(nanoseconds: idleSleep)
                idleSleep = Swift.min(idleSleep * 2, longestSleep)
            } else {
                idleSleep = longestSleep / 16
            }
        }
    }
}

/// The tracker's idle sleep. An interrupted sleep just ends early: the loop looks at the ring again.
private func sleep(nanoseconds: UInt64) {
    var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    _ = nanosleep(&request, nil)
}

/// Carries the source, which may be `~Copyable`, to the receive thread. Only that thread touches it after
/// `init` hands it over, hence the unchecked `Sendable`.
private final class SourceBox<Source: PacketSource & ~Copyable>: @unchecked Sendable {
    var source: Source?
    init(_ source: consuming Source) { self.source = consume source }
}
