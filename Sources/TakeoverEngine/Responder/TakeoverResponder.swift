import Dispatch
import Synchronization
public import TakeoverCore
public import TakeoverLinux

// Takeover actions 2 and 3 (issue 4): answer ARP/ND for the peer's addresses from our own MAC, and announce
// them. One thread owns the packet source and sink, the `NeighborResponder` and the `AnnouncementSchedule`;
// other threads talk to it only through a small mailbox and read what it publishes.
//
//   controller ──takeOver / release / addClients──► mailbox ─┐
//                                                            ▼
//   AF_XDP capture ──ARP/ND it was handed in takeover mode──► inbox ─┐ (answered as if received here)
//                                                                    ▼
//   loop:  apply commands ─► send due announcements ─► wait for frames or a wake-up (≤ next deadline)
//             ▲                                          │
//             └──── publish status ◄── flush ◄── answer ◄┘
//
// The loop checks the mailbox through one atomic flag per iteration, so a quiet mailbox costs one load. Every
// command also signals an `EventFD` that the loop polls beside the source's descriptor (when the source is a
// `PollablePacketSource`, as libpcap is): a takeover is applied, and its first announcement sent, as soon as
// the loop thread runs — not at the end of a poll interval. Over a source that cannot be polled (the in-memory
// queue of tests) a command waits at most one poll interval. Answering stops and starts
// without restarting the thread. A release is applied before anything else in an iteration and confirmed to
// the caller only once applied: after `release` returns true nothing more is answered or announced.

/// Settings of a `TakeoverResponder`.
public struct TakeoverResponderConfiguration: Hashable, Sendable {
    /// The MAC we answer from (our own, not the peer's).
    public var mac: MACAddress
    /// The VLAN we answer on; nil: untagged frames only.
    public var vlan: VLANTag?
    /// Rounds, spacing and refresh of the takeover announcements, and the address and client capacities
    /// (shared with the responder).
    public var announcements: AnnouncementSchedule.Configuration
    /// The longest the loop waits before it looks at its mailbox again. Over a `PollablePacketSource` commands
    /// wake the loop at once and this only bounds an idle wait; over any other source it is the worst added
    /// latency of a command (a takeover's first announcement, a release).
    public var pollInterval: Duration
    /// Frames taken from the source per receive call.
    public var receiveBatch: Int
    /// `SCHED_FIFO` priority (1–99) of the loop thread, so a busy machine does not delay the answers (needs
    /// CAP_SYS_NICE); nil: an ordinary thread.
    public var realtimePriority: Int32?

    public init(
        mac: MACAddress, vlan: VLANTag? = nil, announcements: AnnouncementSchedule.Configuration = .init(),
        pollInterval: Duration = .milliseconds(1), receiveBatch: Int = 64, realtimePriority: Int32? = nil
    ) {
        precondition(pollInterval > .zero && receiveBatch > 0, "TakeoverResponder: poll interval and batch > 0")
        self.mac = mac
        self.vlan = vlan
        self.announcements = announcements
        self.pollInterval = pollInterval
        self.receiveBatch = receiveBatch
        self.realtimePriority = realtimePriority
    }
}

/// What the responder loop has done, as of its last iteration.
public struct TakeoverResponderStatus: Hashable, Sendable {
    /// The loop thread is running (false once it ended, by `shutdown` or a source failure).
    public var isRunning = true
    /// Answering and announcing for `addresses`.
    public var isAnswering = false
    public var addresses: [IPAddress] = []
    /// Addresses whose askers are remembered without an answer (`watch`).
    public var watchedAddresses: [IPAddress] = []
    /// Takeovers applied since the start.
    public var takeovers: UInt64 = 0
    /// When the loop applied the current (or last) takeover.
    public var takeoverAppliedAt: MonotonicTime?
    /// When the first announcement of the current (or last) takeover had been handed to the sink and flushed
    /// (before the rest of its round): the failover timeline's "first announcement on the wire".
    public var firstAnnouncementAt: MonotonicTime?
    /// When the current (or last) takeover's first answer to a client (ARP reply, neighbour advertisement) was
    /// handed to the sink: the failover timeline's "first client frame answered", as far as the responder sees.
    public var firstAnswerAt: MonotonicTime?
    /// When the loop applied the last release.
    public var releasedAt: MonotonicTime?
    public var responder = NeighborResponderCounters()
    public var framesReceived: UInt64 = 0
    /// Of `framesReceived`, those that came through the inbox (ARP/ND the AF_XDP capture diverted to us), and
    /// the frames the inbox dropped (full, or longer than a slot).
    public var framesFromInbox: UInt64 = 0
    public var inboxDrops: UInt64 = 0
    public var announcementsSent: UInt64 = 0
    /// Announcement rounds begun in the current (or last) takeover.
    public var announcementRounds = 0
    /// Times the sink had no free buffer for an announcement (it is retried).
    public var announcementsDeferred: UInt64 = 0
    /// Frames the sink refused with an error, or abandoned.
    public var transmitFailures: UInt64 = 0
    /// Clients the responder has learned (askers), and that the current takeover unicasts to.
    public var knownClients = 0
    public var announcedClients = 0
    /// The last error from the source or sink; a source error also ends the loop.
    public var lastError: String?
}

/// Why a takeover command was refused before reaching the loop.
public enum TakeoverResponderError: Error, Equatable, Sendable {
    /// More addresses than `announcements.addressCapacity`.
    case tooManyAddresses(count: Int, capacity: Int)
    /// The loop has ended.
    case notRunning
    /// The loop thread could not be started.
    case threadFailed(SystemCallError)
    /// The loop's wake-up descriptor (`eventfd`) could not be created.
    case wakeUpFailed(SystemCallError)
    /// The inbox already feeds another responder.
    case inboxTaken
}

/// Answers ARP and neighbor solicitations for taken-over addresses and sends the takeover announcements, on a
/// thread of its own, over any `PacketSource` and `PacketSink` (libpcap's `PcapCapture`, AF_XDP).
public final class TakeoverResponder: Sendable {
    public let configuration: TakeoverResponderConfiguration
    private let shared: ResponderShared
    private let thread: LoopThread

    /// Starts the loop thread, which from now on owns `source` and `sink` (they may be one object, such as a
    /// `PcapCapture`). It answers nothing until `takeOver`. `clock` stamps the status (the engine's monotonic
    /// clock; tests may inject another).
    ///
    /// `inbox`: frames another thread received for the responder (the AF_XDP capture's diverted ARP/ND), answered
    /// as if `source` had received them. It takes only one reader.
    public convenience init<Source: PacketSource, Sink: PacketSink>(
        source: sending Source, sink: sending Sink, configuration: TakeoverResponderConfiguration,
        inbox: FrameInbox? = nil, clock: @escaping @Sendable () -> MonotonicTime = MonotonicClock.now
    ) throws(TakeoverResponderError) {
        try self.init(
            loop: ResponderLoop(
                source: source, sink: sink, shared: ResponderShared(), configuration: configuration,
                inbox: try Self.reader(of: inbox), clock: clock),
            configuration: configuration)
    }

    /// As `init(source:sink:configuration:inbox:clock:)`, for a port that is both (`PcapCapture`, an AF_XDP
    /// socket).
    public convenience init<Port: PacketSource & PacketSink>(
        port: sending Port, configuration: TakeoverResponderConfiguration, inbox: FrameInbox? = nil,
        clock: @escaping @Sendable () -> MonotonicTime = MonotonicClock.now
    ) throws(TakeoverResponderError) {
        try self.init(
            loop: ResponderLoop(
                source: port, sink: port, shared: ResponderShared(), configuration: configuration,
                inbox: try Self.reader(of: inbox), clock: clock),
            configuration: configuration)
    }

    private static func reader(of inbox: FrameInbox?) throws(TakeoverResponderError) -> FrameInboxReader? {
        guard let inbox else { return nil }
        guard let reader = FrameInboxReader(inbox) else { throw .inboxTaken }
        return reader
    }

    private init<Source, Sink>(
        loop: ResponderLoop<Source, Sink>, configuration: TakeoverResponderConfiguration
    ) throws(TakeoverResponderError) {
        self.configuration = configuration
        shared = loop.shared
        // Erased to a non-generic reference, so the thread's closure captures no generic type.
        let runner: any ResponderLoopRunning = loop
        do {
            thread = try LoopThread(name: "takeover-resp", realtimePriority: configuration.realtimePriority) {
                runner.run()
            }
        } catch {
            throw .threadFailed(error)
        }
    }

    deinit { shared.requestStop() }

    /// Begins answering for `addresses` and announcing them: round 0 goes out at once, to the broadcast forms
    /// and then to every client the responder has learned plus `clients` (the session table's peers). Returns
    /// without waiting for the loop; `status.firstAnnouncementAt` tells when the first frame went out.
    /// A second takeover replaces the first's addresses and restarts the announcements.
    ///
    /// `onFirstAnnouncement` is called once, on the loop thread, right after the first frame was flushed, with
    /// the stamp `status.firstAnnouncementAt` gets — for the failover timeline (`context.stepFinished`). It
    /// must return quickly; it is dropped unused if a release or another takeover comes first.
    public func takeOver(
        addresses: [IPAddress], clients: some Sequence<KnownClient> = [KnownClient](),
        onFirstAnnouncement: (@Sendable (MonotonicTime) -> Void)? = nil
    ) throws(TakeoverResponderError) {
        let capacity = configuration.announcements.addressCapacity
        guard addresses.count <= capacity else { throw .tooManyAddresses(count: addresses.count, capacity: capacity) }
        try shared.post(
            .takeOver(addresses: addresses, clients: Array(clients), onFirstAnnouncement: onFirstAnnouncement))
    }

    /// Listens for ARP requests and solicitations for `addresses` (the live peer's, while we stand by) and
    /// remembers who asks, without answering: those askers get their unicast at the next takeover. Replaces
    /// the previous list; empty stops listening.
    public func watch(addresses: [IPAddress]) throws(TakeoverResponderError) {
        let capacity = configuration.announcements.addressCapacity
        guard addresses.count <= capacity else { throw .tooManyAddresses(count: addresses.count, capacity: capacity) }
        try shared.post(.watch(addresses))
    }

    /// Adds clients to announce to during the current takeover (they get their unicast in the next round).
    public func announce(to clients: some Sequence<KnownClient>) throws(TakeoverResponderError) {
        try shared.post(.addClients(Array(clients)))
    }

    /// Stops answering and announcing. Returns true once the loop has applied it — from then on it sends
    /// nothing until the next `takeOver` — or false if that did not happen within `timeout`.
    public func release(timeout: Duration = .seconds(1)) -> Bool {
        let applied = DispatchSemaphore(value: 0)
        guard (try? shared.post(.release(applied))) != nil else { return !shared.status.withLock(\.isAnswering) }
        return applied.wait(timeout: .now() + timeout.dispatchInterval) == .success
    }

    /// What the loop has done, as of its last iteration.
    public var status: TakeoverResponderStatus { shared.status.withLock { $0 } }

    /// When the first announcement of the current takeover went out (nil before it has).
    public var firstAnnouncementAt: MonotonicTime? { status.firstAnnouncementAt }

    /// Ends the loop thread; true if it ended within `timeout`. The source and sink are released with it.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(2)) -> Bool {
        shared.requestStop()
        return thread.join(timeoutNanoseconds: timeout.wholeNanoseconds)
    }
}

/// A command for the loop.
enum ResponderCommand: Sendable {
    case takeOver(
        addresses: [IPAddress], clients: [KnownClient], onFirstAnnouncement: (@Sendable (MonotonicTime) -> Void)?)
    case addClients([KnownClient])
    case watch([IPAddress])
    case release(DispatchSemaphore)
}

/// What the loop and the other threads share.
final class ResponderShared: Sendable {
    let stopRequested = Atomic<Bool>(false)
    /// Set with the mailbox's lock held, cleared by the loop when it empties the mailbox: the loop's cheap check.
    let commandsPending = Atomic<Bool>(false)
    let mailbox = Mutex<[ResponderCommand]>([])
    let status = Mutex(TakeoverResponderStatus())
    /// Signalled after every command and at stop: the loop polls it beside the source's descriptor.
    let wakeUp: EventFD
    private let hasExited = Atomic<Bool>(false)

    init() throws(TakeoverResponderError) {
        do { wakeUp = try EventFD() } catch { throw .wakeUpFailed(error) }
    }

    func post(_ command: ResponderCommand) throws(TakeoverResponderError) {
        guard !stopRequested.load(ordering: .acquiring) else { throw .notRunning }
        // Checked under the lock `markExited` takes: a command is either refused or seen by the exiting loop.
        try mailbox.withLock { commands throws(TakeoverResponderError) in
            guard !hasExited.load(ordering: .acquiring) else { throw .notRunning }
            commands.append(command)
            commandsPending.store(true, ordering: .releasing)
        }
        // After the command is in the mailbox (signals coalesce: one wake-up may carry several commands). If the
        // write failed, the loop still finds the command within its poll interval.
        _ = try? wakeUp.signal()
    }

    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        _ = try? wakeUp.signal()
    }

    /// The loop's commands, oldest first; empty (without locking) when none are pending.
    func takeCommands() -> [ResponderCommand] {
        guard commandsPending.load(ordering: .acquiring) else { return [] }
        return mailbox.withLock { commands in
            commandsPending.store(false, ordering: .releasing)
            defer { commands.removeAll(keepingCapacity: true) }
            return commands
        }
    }

    /// Called by the loop as it ends (answering nothing any more): confirms the releases it did not get to,
    /// so no caller waits its whole timeout for a loop that is gone, and refuses later commands.
    func markExited() {
        let unapplied = mailbox.withLock { commands in
            hasExited.store(true, ordering: .releasing)
            defer { commands = [] }
            return commands
        }
        for case .release(let applied) in unapplied { applied.signal() }
    }
}

protocol ResponderLoopRunning: AnyObject, Sendable {
    func run()
}

/// The loop thread's state. Handed to the thread at start and touched only by it afterwards, which is why
/// the non-Sendable source and sink may live here.
final class ResponderLoop<Source: PacketSource, Sink: PacketSink>: ResponderLoopRunning, @unchecked Sendable {
    private var source: Source
    private var sink: Sink
    /// The source's descriptor and the wake-up descriptor, when the source can be polled.
    private var pollSet: PollSet?
    /// The last receive stopped at its limit: more frames may be waiting where poll does not see them.
    private var receiveCutShort = false
    private var responder: NeighborResponder
    private var schedule: AnnouncementSchedule
    private let configuration: TakeoverResponderConfiguration
    private let clock: @Sendable () -> MonotonicTime
    let shared: ResponderShared
    /// The loop's own copy of the status, published (copied under the lock) when it changed.
    private var status = TakeoverResponderStatus()
    private var statusChanged = false
    private var pendingFlush = false
    /// The sink refused an announcement for want of a buffer: retry soon, not at once.
    private var announcementDeferred = false
    /// The current takeover's `onFirstAnnouncement`, until called.
    private var firstAnnouncementCallback: (@Sendable (MonotonicTime) -> Void)?
    /// Frames another thread received for us (see `FrameInbox`); polled as descriptor 2.
    private let inbox: FrameInboxReader?

    init(
        source: Source, sink: Sink, shared: ResponderShared, configuration: TakeoverResponderConfiguration,
        inbox: FrameInboxReader? = nil, clock: @escaping @Sendable () -> MonotonicTime
    ) {
        if let readiness = (source as? any PollablePacketSource)?.readinessDescriptor {
            pollSet = PollSet(
                fileDescriptors: [readiness, shared.wakeUp.fileDescriptor] + (inbox.map { [$0.inbox.wakeUp.fileDescriptor] } ?? []))
        }
        self.inbox = inbox
        self.source = source
        self.sink = sink
        self.shared = shared
        self.configuration = configuration
        self.clock = clock
        responder = NeighborResponder(
            mac: configuration.mac, vlan: configuration.vlan,
            addressCapacity: configuration.announcements.addressCapacity,
            clientCapacity: configuration.announcements.clientCapacity)
        schedule = AnnouncementSchedule(configuration: configuration.announcements)
    }

    func run() {
        defer {
            status.isRunning = false
            status.isAnswering = false
            publish()
            shared.markExited()
        }
        publish()
        while !shared.stopRequested.load(ordering: .acquiring) {
            for command in shared.takeCommands() { apply(command) }
            if let inbox { inbox.drain { handle($0) } }
            sendDueAnnouncements()
            // Before the wait, which may be long now that commands wake the loop: the status must not lag it.
            if statusChanged { publish() }
            do {
                if try receiveCutShort || waitForFrames() {
                    var handler = LoopFrameHandler(loop: self)
                    let received = try source.receive(limit: configuration.receiveBatch, into: &handler)
                    receiveCutShort = received >= configuration.receiveBatch
                }
            } catch {
                status.lastError = "receive: \(error)"
                break
            }
            flush()
        }
    }

    private func apply(_ command: ResponderCommand) {
        let now = clock()
        switch command {
        case .takeOver(let addresses, let clients, let onFirstAnnouncement):
            firstAnnouncementCallback = onFirstAnnouncement
            responder.owned.removeAll()
            // The count was checked by `takeOver`, so every insert fits.
            for address in addresses { _ = try? responder.owned.insert(address) }
            try? schedule.start(at: now, addresses: responder.owned)
            schedule.addClients(from: responder.clients)
            schedule.addClients(clients)
            status.isAnswering = true
            status.addresses = addresses
            status.takeovers += 1
            status.takeoverAppliedAt = now
            status.firstAnnouncementAt = nil
            status.firstAnswerAt = nil
        case .addClients(let clients):
            if schedule.isActive { schedule.addClients(clients) }
        case .watch(let addresses):
            responder.watched.removeAll()
            for address in addresses { _ = try? responder.watched.insert(address) }  // count checked by `watch`
            status.watchedAddresses = addresses
        case .release(let applied):
            firstAnnouncementCallback = nil
            responder.owned.removeAll()
            schedule.stop()
            announcementDeferred = false
            status.isAnswering = false
            status.addresses = []
            status.releasedAt = now
            publish()
            applied.signal()
        }
        statusChanged = true
    }

    private func sendDueAnnouncements() {
        guard let deadline = schedule.nextDeadline else { return }
        let now = clock()
        guard deadline <= now else { return }
        announcementDeferred = false
        let mac = configuration.mac
        let vlan = configuration.vlan
        let sent = schedule.due(at: now) { announcement in
            do {
                switch try sink.transmit(announcement.frame(from: mac, vlan: vlan)) {
                case .submitted:
                    if status.firstAnnouncementAt == nil {
                        // The timeline's moment: the takeover's first frame handed to the wire, not its round.
                        pendingFlush = true
                        flush()
                        let stamp = clock()
                        status.firstAnnouncementAt = stamp
                        firstAnnouncementCallback?(stamp)
                        firstAnnouncementCallback = nil
                    }
                    return true
                case .noBufferAvailable:
                    status.announcementsDeferred += 1
                    announcementDeferred = true
                    return false
                case .abandoned:
                    status.transmitFailures += 1
                    return true  // it will never fit: skip it rather than retry forever
                }
            } catch {
                status.transmitFailures += 1
                status.lastError = "transmit: \(error)"
                return true
            }
        }
        status.announcementRounds = schedule.roundsStarted
        status.announcedClients = schedule.clients.count
        guard sent > 0 else { return }
        status.announcementsSent += UInt64(sent)
        pendingFlush = true
        flush()
        statusChanged = true
    }

    /// Waits until frames are ready, a command or stop arrives, or the next announcement is due; true when
    /// frames are ready.
    private func waitForFrames() throws -> Bool {
        guard pollSet != nil else { return try source.waitForFrames(timeout: waitTimeout()) }
        // poll counts whole milliseconds: round up, so a wait for a deadline never ends just before it.
        let milliseconds = Int32(clamping: (waitTimeout().wholeNanoseconds + 999_999) / 1_000_000)
        _ = try pollSet!.wait(timeoutMilliseconds: milliseconds)
        if pollSet!.isReady(1) { _ = try? shared.wakeUp.drain() }
        if let inbox, pollSet!.isReady(2) { _ = try? inbox.inbox.wakeUp.drain() }  // its frames: next iteration
        return pollSet!.isReady(0)
    }

    fileprivate func handle(_ frame: ReceivedFrame) {
        status.framesReceived += 1
        statusChanged = true
        // Neither answering nor watching: the frames are drained (the ring must not fill) but not looked at.
        guard !responder.owned.isEmpty || !responder.watched.isEmpty else { return }
        do {
            if case .answered = try responder.respond(toFrame: frame.bytes, via: &sink) {
                pendingFlush = true
                if status.firstAnswerAt == nil { status.firstAnswerAt = clock() }
            }
        } catch {
            status.transmitFailures += 1
            status.lastError = "transmit: \(error)"
        }
    }

    private func flush() {
        guard pendingFlush else { return }
        pendingFlush = false
        do { try sink.flush() } catch {
            status.transmitFailures += 1
            status.lastError = "flush: \(error)"
        }
    }

    /// Until the next announcement is due, but never longer than the poll interval (the mailbox) and, when
    /// the sink was out of buffers, a short pause before retrying.
    private func waitTimeout() -> Duration {
        // A refused round stays due (its deadline is in the past): waiting until it would be a busy loop.
        if announcementDeferred { return min(configuration.pollInterval, .microseconds(200)) }
        var timeout = configuration.pollInterval
        if let deadline = schedule.nextDeadline {
            let now = clock()
            let untilDeadline = Duration.nanoseconds(Int64(clamping: deadline.nanoseconds(since: now)))
            timeout = min(timeout, untilDeadline)
        }
        return timeout
    }

    private func publish() {
        status.responder = responder.counters
        if let counters = inbox?.inbox.counters {
            status.framesFromInbox = counters.delivered
            status.inboxDrops = counters.droppedFull + counters.droppedTooLong
        }
        status.knownClients = responder.clients.count
        let snapshot = status
        shared.status.withLock { $0 = snapshot }
        statusChanged = false
    }
}

/// Lends the source's frames to the loop without a closure, so a libpcap receive allocates nothing.
private struct LoopFrameHandler<Source: PacketSource, Sink: PacketSink>: ReceivedFrameHandler {
    // unowned(unsafe): the loop runs the receive that uses this handler, so it outlives it; no reference counting.
    unowned(unsafe) let loop: ResponderLoop<Source, Sink>
    func handle(_ frame: ReceivedFrame) { loop.handle(frame) }
}

extension Duration {
    fileprivate var dispatchInterval: DispatchTimeInterval { .nanoseconds(Int(clamping: wholeNanoseconds)) }
}
