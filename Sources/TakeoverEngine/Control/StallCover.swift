import Synchronization
import TakeoverCore
import TakeoverLinux

/// What the controller thread publishes for the stall cover, lock-free (the cover runs exactly when the controller
/// may be stuck, so it must never wait for it).
final class HeartbeatPublication: Sendable {
    final class Group: Sendable {
        let id: UInt16
        let priority: UInt8
        /// The machine's state and flags for the next heartbeat: state in bits 0–7, flags in 8–23, bit 63 set once
        /// published.
        let template = Atomic<UInt64>(0)
        /// +1 for every datagram of this group on any channel, from either thread, so each number goes out once.
        let sequence = Atomic<UInt64>(0)

        init(id: UInt16, priority: UInt8) {
            self.id = id
            self.priority = priority
        }

        func publish(state: FailoverState, flags: HeartbeatFlags) {
            template.store(1 << 63 | UInt64(flags.rawValue) << 8 | UInt64(state.rawValue), ordering: .releasing)
        }

        /// Draws the next sequence number, then reads the template: a number drawn after the controller's drew
        /// its own sees the template it published before drawing, so the peer never gets an older state under a
        /// newer number.
        func next() -> (sequence: UInt64, state: FailoverState, flags: HeartbeatFlags)? {
            let sequence = self.sequence.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
            let packed = template.load(ordering: .acquiring)
            guard packed >> 63 == 1, let state = FailoverState(rawValue: UInt8(truncatingIfNeeded: packed)) else { return nil }
            return (sequence, state, HeartbeatFlags(rawValue: UInt16(truncatingIfNeeded: packed >> 8)))
        }
    }

    let groups: [Group]
    /// When the controller last sent its heartbeats (monotonic ns); 0: it does not send (not started, or done).
    let lastSent = Atomic<UInt64>(0)
    /// Heartbeats the cover sent, the sends the kernel refused, and the stalls it covered.
    let coverSent = Atomic<UInt64>(0)
    let coverSendFailures = Atomic<UInt64>(0)
    let stallsCovered = Atomic<UInt64>(0)

    init(groups: [FailoverGroup]) {
        self.groups = groups.map { Group(id: $0.id, priority: $0.priority) }
    }
}

/// Encodes and sends one heartbeat; the controller thread and the stall cover each own one (its buffer is used by
/// one thread only: the cover's moves into the cover thread when it starts).
struct HeartbeatSender: ~Copyable, @unchecked Sendable {
    let nodeID: UInt32
    let incarnation: UInt64
    let authenticator: HMACAuthenticator
    let peers: [SocketAddress]
    let sockets: [Int32]
    private let buffer: UnsafeMutableRawBufferPointer

    init(nodeID: UInt32, incarnation: UInt64, authenticator: HMACAuthenticator, peers: [SocketAddress], sockets: [Int32]) {
        self.nodeID = nodeID
        self.incarnation = incarnation
        self.authenticator = authenticator
        self.peers = peers
        self.sockets = sockets
        buffer = .allocate(byteCount: HeartbeatMessage.length, alignment: 8)
    }

    deinit { buffer.deallocate() }

    func send(
        group: HeartbeatPublication.Group, state: FailoverState, flags: HeartbeatFlags, sequence: UInt64, channel: Int,
        at now: MonotonicTime
    ) -> Result<IOResult<Int>, SystemCallError> {
        let message = HeartbeatMessage(
            flags: flags, group: group.id, channel: UInt8(channel), priority: group.priority, state: state,
            nodeID: nodeID, incarnation: incarnation, sequence: sequence, sendTime: now.nanoseconds)
        do {
            _ = try message.encode(into: buffer, authenticator: authenticator)
        } catch {
            preconditionFailure("the send buffer holds one heartbeat: \(error)")
        }
        do {
            return .success(try UDPSocket.send(UnsafeRawBufferPointer(buffer), to: peers[channel], on: sockets[channel]))
        } catch {
            return .failure(error)
        }
    }
}

/// A second thread, on another CPU than the controller's, that sends our heartbeats while the controller thread is
/// late — for at most `limit` after its last ones.
///
/// Why: a `SCHED_FIFO` thread is not immune to waiting. On a kernel with preemption model "none" (common on VMs,
/// and this lab's), it waits for any non-preemptible kernel work of another task on its CPU (a packet-ring
/// allocation held a CPU for 5–20 ms here), and a VM's vCPU can be descheduled by its host (a wake-up on an idle
/// vCPU waited 21.6 ms here). At 1 ms heartbeats the peer took over from such a stall (bench/RESULTS.md). Two
/// threads on two CPUs are rarely stuck at once.
///
/// What it costs: a controller that hangs while the process lives (a deadlocked callback) is judged failed `limit`
/// later; a crash, SIGKILL, SIGSTOP or lost link is not (the cover dies, stops or loses the link with it). While the
/// controller keeps time the cover sends nothing.
final class StallCover: Sendable {
    private let publication: HeartbeatPublication
    private let interval: UInt64
    private let limit: UInt64
    private let stop: EventFD
    /// Made and armed before the thread starts, so a failure is the caller's to report; moves into the thread.
    private let timer: Mutex<TimerFD?>
    private let thread = Mutex<LoopThread?>(nil)
    private let sender: Mutex<HeartbeatSender?>

    init(publication: HeartbeatPublication, sender: consuming HeartbeatSender, interval: UInt64, limit: UInt64) throws(SystemCallError) {
        self.publication = publication
        self.interval = interval
        self.limit = limit
        stop = try EventFD()
        timer = Mutex(try TimerFD())
        self.sender = Mutex(sender)
    }

    /// Starts the thread on `cpu`, its timer ticking every interval.
    func start(cpu: Int, realtimePriority: Int32?) throws(SystemCallError) {
        let interval = interval
        try timer.withLock { (timer) throws(SystemCallError) in try timer?.arm(intervalNanoseconds: interval) }
        let started = try LoopThread(name: "takeover-cover", realtimePriority: realtimePriority, cpu: cpu) { [self] in
            guard let sender = self.sender.withLock({ $0.take() }), let timer = self.timer.withLock({ $0.take() }) else {
                return
            }
            self.run(sender, timer)
        }
        thread.withLock { $0 = started }
    }

    /// Ends the thread and waits for it (bounded); after this the channel sockets may close.
    func shutdown() {
        try? stop.signal()
        _ = thread.withLock { $0 }?.join(timeoutNanoseconds: 1_000_000_000)
    }

    private func run(_ sender: borrowing HeartbeatSender, _ timer: TimerFD) {
        var poller = PollSet(fileDescriptors: [timer.fileDescriptor, stop.fileDescriptor])
        var covering = false
        while true {
            guard (try? poller.wait(timeoutMilliseconds: 1000)) != nil else { continue }
            if poller.isReady(1) { return }
            guard poller.isReady(0), ((try? timer.readExpirations()) ?? 0) > 0 else { continue }
            let now = MonotonicClock.now()
            let last = publication.lastSent.load(ordering: .acquiring)
            let late = last == 0 ? 0 : now.nanoseconds(since: MonotonicTime(nanoseconds: last))
            guard late > interval + interval / 2 && late <= limit else {
                covering = false
                continue
            }
            if !covering {
                covering = true
                publication.stallsCovered.wrappingAdd(1, ordering: .relaxed)
            }
            for group in publication.groups {
                for channel in sender.sockets.indices {
                    guard let next = group.next() else { continue }
                    switch sender.send(group: group, state: next.state, flags: next.flags, sequence: next.sequence,
                                       channel: channel, at: now) {
                    case .success(.done): publication.coverSent.wrappingAdd(1, ordering: .relaxed)
                    case .success(.wouldBlock), .failure: publication.coverSendFailures.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
        }
    }
}
