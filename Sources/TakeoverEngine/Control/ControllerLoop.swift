import TakeoverCore
import TakeoverLinux
import Synchronization

/// The controller thread's state and loop. Everything here belongs to that one thread (the value is moved
/// into it at start); other threads reach it only through `ControllerShared`.
///
/// One wake-up of the loop, in this order:
///  1. every channel socket that is readable is drained (bounded): authentic, fresh heartbeats feed the failure
///     detector and their group's state machine — before the tick, so a heartbeat already queued counts;
///  2. commands (operator, release completions, shutdown);
///  3. the timer: one tick of the detector and of every group's machine, then one heartbeat per group per channel;
///     or, between ticks, the failure deadline's one-shot timer: the detector and the machines judge at the exact
///     moment the window runs out, not at the next tick (which took up to one interval more).
///  After any of these, the one-shot timer is planned again (`DeadlineTimer`): a heartbeat after a long silence,
///  or evidence of unanswered requests that brings the deadline earlier, arms it at once.
final class ControllerLoop {
    private enum Phase {
        case running
        /// Shutdown asked; waiting for every group to reach `stopped` (or the deadline).
        case stopping(deadline: MonotonicTime)
        /// Every group stopped; this many more ticks send the final heartbeats.
        case farewell(remaining: Int)
        case done
    }

    /// Datagrams read from one socket per wake-up at most, so a flood on one channel cannot starve the timer.
    private static let receiveBurst = 64

    private let configuration: FailoverControllerConfiguration
    private let interval: UInt64
    /// Interval × miss count: how long a peer with our settings waits for our heartbeats.
    private let window: UInt64
    private let sockets: [UDPSocket]
    private let timer: TimerFD
    /// One-shot, armed for the detector's next deadline (`deadlinePlan` says when to arm it).
    private let deadlineTimer: TimerFD
    private var deadlinePlan = DeadlineTimer()
    /// The last look failed the peer (to count each failure once, by its rule).
    private var peerJudgedFailed = false
    /// The unanswered-requests evidence as last given to the detector.
    private var evidenceLoaded: UInt64 = 0
    private let shared: ControllerShared
    private let actions: any FailoverActions
    private let onStateChange: (@Sendable (FailoverStateChange) -> Void)?

    private var receiver: HeartbeatReceiver<HMACAuthenticator>
    private var detector: FailureDetector
    private var machines: [FailoverStateMachine]
    /// Per group: the state and flags of our next heartbeats and their sequence numbers (+1 for every datagram on any
    /// channel; the receiver's replay window is per sender and group), shared with the stall cover.
    private let publication: HeartbeatPublication
    private let sender: HeartbeatSender
    /// Sends our heartbeats while this thread is late (`StallCover`); nil when off.
    private let cover: StallCover?
    /// Per group: the timeline of the release `stopServing` is working on.
    private var pendingRelease: [UInt64?]
    private var phase = Phase.running
    private var lastTick = MonotonicTime.zero
    /// Per channel: the peer's last accepted heartbeat (our receive time, its send time and sequence), for the
    /// gap counters — they tell a late sender from a lost datagram from a late receiver.
    private var lastPeerHeartbeat: [(received: MonotonicTime, sent: UInt64, sequence: UInt64)?]
    /// The peer's newest accepted heartbeat, and per channel the smallest receive − send time seen: what a
    /// `PeerReturnReview` compares the peer's first heartbeat after a failure with.
    private var newestPeerHeartbeat: PeerReturnReview.Heartbeat?
    private var fastestTransit: [UInt64]
    /// Since the detector failed the peer: when, and its newest heartbeat then (nil: no review pending).
    private var failureUnderReview: (decidedAt: MonotonicTime, before: PeerReturnReview.Heartbeat)?
    private let onDiagnostic: (@Sendable (FailoverDiagnostic) -> Void)?
    /// When the last `.ownStall` was reported, and how many were left unreported since (at most one a second).
    private var lastStallReport: MonotonicTime?
    private var unreportedStalls = 0
    /// Larger than a heartbeat, so an oversized datagram arrives whole enough to be counted as malformed.
    private let receiveBuffer: UnsafeMutableRawBufferPointer

    /// Opens the channel sockets and the timer in the calling thread's network namespace.
    init(
        configuration: FailoverControllerConfiguration, incarnation: UInt64, authenticator: HMACAuthenticator,
        actions: any FailoverActions, onStateChange: (@Sendable (FailoverStateChange) -> Void)?,
        onDiagnostic: (@Sendable (FailoverDiagnostic) -> Void)?, shared: ControllerShared
    ) throws(FailoverControllerError) {
        self.configuration = configuration
        let nodeID = configuration.nodeID
        interval = configuration.interval.nanoseconds
        window = interval * UInt64(configuration.missCount)
        self.actions = actions
        self.onStateChange = onStateChange
        self.onDiagnostic = onDiagnostic
        self.shared = shared
        var sockets: [UDPSocket] = []
        for channel in configuration.channels {
            do {
                sockets.append(
                    try UDPSocket(
                        bindingTo: SocketAddress(channel.localAddress, port: channel.port), device: channel.interface,
                        receiveBufferSize: channel.receiveBufferSize))
            } catch {
                throw .channelSetupFailed(channel: channel.name, error)
            }
        }
        self.sockets = sockets
        let peers = configuration.channels.map { SocketAddress($0.peerAddress, port: $0.port) }
        do {
            timer = try TimerFD()
            deadlineTimer = try TimerFD()
        } catch {
            throw .setupFailed(error)
        }
        receiver = HeartbeatReceiver(
            localNodeID: nodeID, groups: Set(configuration.groups.map(\.id)), authenticator: authenticator)
        let now = MonotonicClock.now()
        detector = Self.makeDetector(configuration, start: now)
        machines = Self.makeMachines(configuration, start: now)
        publication = HeartbeatPublication(groups: configuration.groups)
        let descriptors = sockets.map(\.fileDescriptor)
        sender = HeartbeatSender(
            nodeID: nodeID, incarnation: incarnation, authenticator: authenticator, peers: peers, sockets: descriptors)
        if let limit = configuration.stallCover {
            do {
                cover = try StallCover(
                    publication: publication,
                    sender: HeartbeatSender(
                        nodeID: nodeID, incarnation: incarnation, authenticator: authenticator, peers: peers,
                        sockets: descriptors),
                    interval: interval, limit: limit.nanoseconds)
            } catch {
                throw .setupFailed(error)
            }
        } else {
            cover = nil
        }
        pendingRelease = Array(repeating: nil, count: configuration.groups.count)
        lastPeerHeartbeat = Array(repeating: nil, count: configuration.channels.count)
        fastestTransit = Array(repeating: .max, count: configuration.channels.count)
        receiveBuffer = .allocate(byteCount: 2048, alignment: 8)
    }

    deinit {
        receiveBuffer.deallocate()
    }

    private static func makeDetector(_ configuration: FailoverControllerConfiguration, start: MonotonicTime) -> FailureDetector {
        FailureDetector(
            configuration: .init(
                channelCount: configuration.channels.count, interval: configuration.interval.nanoseconds,
                missCount: configuration.missCount, usesPeerTraffic: configuration.usesPeerTraffic,
                stallThreshold: configuration.stallThreshold?.nanoseconds,
                unansweredRequests: configuration.unansweredRequests),
            start: start)
    }

    private static func makeMachines(_ configuration: FailoverControllerConfiguration, start: MonotonicTime) -> [FailoverStateMachine] {
        configuration.groups.map { group in
            FailoverStateMachine(
                policy: .init(
                    nodeID: configuration.nodeID, priority: group.priority, preempt: group.preempt,
                    preemptDelay: group.preemptDelay.nanoseconds, failureWindow: configuration.failureWindow.nanoseconds,
                    startupWait: configuration.startupWait?.nanoseconds),
                group: group.id, start: start)
        }
    }

    // MARK: The loop

    func run() {
        // The startup wait and the peer's first window count from when we start listening, not from setup.
        let start = MonotonicClock.now()
        detector = Self.makeDetector(configuration, start: start)
        machines = Self.makeMachines(configuration, start: start)
        // Our first heartbeats go out now: a stall before the first tick delays the next ones as much as any other.
        lastTick = start
        for group in machines.indices { publish(group) }
        startCover()
        shared.status.withLock { $0.running = true }
        do {
            try timer.arm(intervalNanoseconds: interval)
        } catch {
            shared.status.withLock { $0.counters.loopErrors += 1 }
        }
        // Say at once that we are here: a peer that is waiting to hand a group back hears it an interval sooner.
        for group in machines.indices { sendHeartbeats(group: group, at: start) }

        let timerIndex = 0
        let wakeIndex = sockets.count + 1
        let deadlineIndex = sockets.count + 2
        var poller = PollSet(
            fileDescriptors: [timer.fileDescriptor] + sockets.map(\.fileDescriptor)
                + [shared.wake.fileDescriptor, deadlineTimer.fileDescriptor])
        planDeadline()
        while true {
            if case .done = phase { break }
            do {
                // The timer wakes us every interval; the bound only guards against a timer that failed to arm.
                _ = try poller.wait(timeoutMilliseconds: Int32(clamping: max(interval / 1_000_000, 1) * 10))
            } catch {
                shared.status.withLock { $0.counters.loopErrors += 1 }
                continue
            }
            let now = MonotonicClock.now()
            var heard = false
            for channel in sockets.indices where poller.isReady(channel + 1) {
                if receive(onChannel: channel, at: now) { heard = true }
            }
            let woken = poller.isReady(wakeIndex)
            if woken {
                _ = try? shared.wake.drain()
                if shared.awaitingUnansweredEvidence.load(ordering: .relaxed) {
                    shared.status.withLock { $0.counters.unansweredEvidenceWakeups += 1 }
                }
                handleCommands(at: now)
            }
            let deadlinePassed = poller.isReady(deadlineIndex) && ((try? deadlineTimer.readExpirations()) ?? 0) > 0
            if deadlinePassed { deadlinePlan.fired() }
            if poller.isReady(timerIndex), let expirations = try? timer.readExpirations(), expirations > 0 {
                tick(at: now, expirations: expirations)
            } else if deadlinePassed {
                shared.status.withLock { $0.counters.deadlineJudgements += 1 }
                judge(at: now)
            } else if heard || woken {
                // New signs of life or new evidence: the next deadline may have moved.
                planDeadline()
            }
        }
        try? timer.disarm()
        try? deadlineTimer.disarm()
        // Done sending: the cover stops covering at once, and ends before the sockets can close.
        publication.lastSent.store(0, ordering: .releasing)
        cover?.shutdown()
        shared.status.withLock { $0.running = false }
        for pending in shared.close() { pending.answer(.failure(.notRunning)) }
    }

    // MARK: Receiving

    /// Drains one channel (bounded); true when a heartbeat was accepted.
    private func receive(onChannel channel: Int, at now: MonotonicTime) -> Bool {
        var heard = false
        for _ in 0..<Self.receiveBurst {
            let datagram: ReceivedDatagram
            do {
                guard case .done(let received) = try sockets[channel].receive(into: receiveBuffer) else { return heard }
                datagram = received
            } catch {
                shared.status.withLock { $0.counters.channels[channel].receiveErrors += 1 }
                return heard
            }
            let result = receiver.receive(
                UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<datagram.length]), onChannel: UInt8(channel))
            shared.status.withLock { status in
                status.counters.channels[channel].received += 1
                status.counters.channels[channel].heartbeats.count(result)
                if case .success = result { status.counters.channels[channel].lastAccepted = now }
            }
            guard case .success(let message) = result,
                let group = machines.firstIndex(where: { $0.group == message.group })
            else { continue }
            detector.heartbeatReceived(onChannel: channel, at: now)
            heard = true
            countGap(message, onChannel: channel, at: now)
            review(message, onChannel: channel, at: now)
            handle(.heartbeat(message), group: group, at: now)
        }
        return heard
    }

    // MARK: Ticking

    private func tick(at now: MonotonicTime, expirations: UInt64) {
        let gap = now.nanoseconds(since: lastTick)
        lastTick = now
        shared.status.withLock { status in
            status.counters.ticks += 1
            status.counters.lateTimerExpirations += expirations - 1
            status.counters.longestTickGap = max(status.counters.longestTickGap, gap)
            if gap > window { status.counters.stallsBeyondWindow += 1 }
        }
        if gap > window { reportStall(gap, at: now) }
        judge(at: now)
        for group in machines.indices { sendHeartbeats(group: group, at: now) }
        advanceShutdown(at: now, ticked: true)
    }

    /// One evaluation of the detector and every group's machine; then the deadline timer is planned again.
    private func judge(at now: MonotonicTime) {
        evaluate(at: now)
        planDeadline()
    }

    private func evaluate(at now: MonotonicTime) {
        loadSharedSignals()
        let verdict = detector.tick(at: now)
        let newFailure = verdict.peerFailed && !peerJudgedFailed
        peerJudgedFailed = verdict.peerFailed
        if newFailure, failureUnderReview == nil, let newest = newestPeerHeartbeat {
            failureUnderReview = (now, newest)
        }
        shared.status.withLock { status in
            status.counters.stallsExcused = detector.stallsExcused
            if verdict.stall > 0 { status.counters.longestStallExcused = max(status.counters.longestStallExcused, verdict.stall) }
            if verdict.peerFailed, machines.contains(where: { $0.peer != nil }) { status.counters.lastFailureSilence = verdict.silence }
            if newFailure, let rule = verdict.rule {
                status.counters.lastFailureRule = rule
                switch rule {
                case .missedHeartbeats: status.counters.failuresByMissedHeartbeats += 1
                case .unansweredRequests: status.counters.failuresByUnansweredRequests += 1
                }
            }
        }
        for group in machines.indices { handle(.tick(verdict), group: group, at: now, failure: verdict.rule) }
    }

    /// What the data plane published since the last look: the peer's newest frame, the newest unanswered-requests
    /// evidence.
    private func loadSharedSignals() {
        let traffic = shared.peerTraffic.load(ordering: .relaxed)
        if traffic != 0 { detector.peerTrafficSeen(at: MonotonicTime(nanoseconds: traffic)) }
        let evidence = shared.unansweredEvidence.load(ordering: .relaxed)
        if evidence != 0 { detector.unansweredRequestsSeen(at: MonotonicTime(nanoseconds: evidence)) }
        evidenceLoaded = evidence
    }

    /// Arms the one-shot timer for the detector's next deadline when it moved earlier or nothing is armed (the
    /// first heartbeat after a long silence, new evidence of unanswered requests), or looks at once when it is due.
    /// A later deadline keeps the earlier arming: it fires early, and that look plans again. No deadline (the peer
    /// is failed and nothing was heard since) arms nothing, so the loop does not spin while the peer is down.
    /// Also tells the data plane whether new evidence should wake us.
    private func planDeadline() {
        // Bounded: a look leaves no deadline that is due; one more round covers evidence racing the flag.
        for _ in 0..<3 {
            loadSharedSignals()
            let now = MonotonicClock.now()
            let action = deadlinePlan.plan(deadline: detector.nextDeadline(after: now), now: now)
            let awaiting = detector.awaitsUnansweredEvidence(at: now)
            shared.awaitingUnansweredEvidence.store(awaiting, ordering: .relaxed)
            switch action {
            case .keep:
                break
            case .arm(let deadline):
                do {
                    try deadlineTimer.armOnce(afterNanoseconds: deadline.nanoseconds(since: now))
                } catch {
                    shared.status.withLock { $0.counters.loopErrors += 1 }
                }
            case .judgeNow:
                shared.status.withLock { $0.counters.deadlineJudgements += 1 }
                evaluate(at: now)
                continue
            }
            // Evidence stored after our load but before the flag was up did not wake us: look again.
            guard awaiting, shared.unansweredEvidence.load(ordering: .relaxed) != evidenceLoaded else { return }
        }
    }

    /// Gap counters for one accepted heartbeat (measurement only; the detector does not use them).
    private func countGap(_ message: HeartbeatMessage, onChannel channel: Int, at now: MonotonicTime) {
        defer { lastPeerHeartbeat[channel] = (now, message.sendTime, message.sequence) }
        guard let last = lastPeerHeartbeat[channel], message.sequence > last.sequence else { return }
        let gap = now.nanoseconds(since: last.received)
        // Nothing sent in between on any channel: consecutive ticks of the peer, so a wide spacing is its lateness.
        let consecutive = message.sequence - last.sequence == UInt64(sockets.count)
        let spacing = message.sendTime > last.sent ? message.sendTime - last.sent : 0
        let lateThreshold = interval + interval / 2
        shared.status.withLock { status in
            status.counters.channels[channel].longestGap = max(status.counters.channels[channel].longestGap, gap)
            if gap > lateThreshold { status.counters.channels[channel].lateArrivals += 1 }
            if consecutive {
                status.counters.channels[channel].peerLongestSendSpacing =
                    max(status.counters.channels[channel].peerLongestSendSpacing, spacing)
                if spacing > lateThreshold { status.counters.channels[channel].peerLateSends += 1 }
            } else {
                status.counters.channels[channel].sequenceGaps += 1
            }
        }
    }

    /// Our heartbeats went out `gap` apart, more than a peer with our settings waits: it may have taken over.
    /// Said at most once a second (with the count of those not said), since a stalling machine stalls often.
    private func reportStall(_ gap: UInt64, at now: MonotonicTime) {
        if let last = lastStallReport, now.nanoseconds(since: last) < 1_000_000_000 {
            unreportedStalls += 1
            return
        }
        lastStallReport = now
        onDiagnostic?(.ownStall(gap: gap, window: window, unreported: unreportedStalls))
        unreportedStalls = 0
    }

    /// Keeps the newest heartbeat (receive times only grow: one loop, one clock) and the fastest delivery per channel; the first heartbeat after a failure was
    /// decided is reviewed against the newest before it (counted, and reported to `onDiagnostic`).
    private func review(_ message: HeartbeatMessage, onChannel channel: Int, at now: MonotonicTime) {
        let heartbeat = PeerReturnReview.Heartbeat(
            received: now, sent: message.sendTime, sequence: message.sequence, group: message.group,
            incarnation: message.incarnation, channel: channel)
        // Compared as a signed difference: the peer's clock may be far ahead of or behind ours.
        if Int64(bitPattern: heartbeat.transit &- fastestTransit[channel]) < 0 || fastestTransit[channel] == .max {
            fastestTransit[channel] = heartbeat.transit
        }
        if let (decidedAt, before) = failureUnderReview {
            failureUnderReview = nil
            if let review = PeerReturnReview(
                before: before, after: heartbeat, decidedAt: decidedAt, fastestTransit: fastestTransit[channel],
                window: window, channelCount: sockets.count)
            {
                shared.status.withLock { status in
                    status.counters.peerReturns.count(review.finding)
                    status.counters.lastPeerReturn = review
                }
                onDiagnostic?(.peerReturned(review))
            }
        }
        newestPeerHeartbeat = heartbeat
    }

    // MARK: Commands

    private func handleCommands(at now: MonotonicTime) {
        for pending in shared.takeCommands() {
            switch pending.command {
            case .takeover(let id), .release(let id):
                guard case .running = phase else {
                    pending.answer(.failure(.refused(.shuttingDown)))
                    continue
                }
                guard let group = machines.firstIndex(where: { $0.group == id }) else {
                    pending.answer(.failure(.unknownGroup(id)))
                    continue
                }
                let input: FailoverInput = if case .takeover = pending.command { .operatorTakeover } else { .operatorRelease }
                let outcome = handle(input, group: group, at: now)
                pending.answer(outcome.refusal.map { .failure(.refused($0)) } ?? .success(()))
            case .releaseCompleted(let id, let timelineID):
                guard let group = machines.firstIndex(where: { $0.group == id }), pendingRelease[group] == timelineID
                else { continue }
                completeRelease(group: group, at: now)
            case .shutdown:
                guard case .running = phase else { continue }
                phase = .stopping(deadline: now + configuration.releaseTimeout.nanoseconds)
                for group in machines.indices { handle(.shutdown, group: group, at: now) }
            }
        }
        advanceShutdown(at: now, ticked: false)
    }

    private func completeRelease(group: Int, at now: MonotonicTime) {
        guard let timelineID = pendingRelease[group] else { return }
        pendingRelease[group] = nil
        shared.timelines.releaseFinished(timelineID, at: now)
        handle(.releaseCompleted, group: group, at: now)
    }

    private func advanceShutdown(at now: MonotonicTime, ticked: Bool) {
        switch phase {
        case .running, .done:
            return
        case .stopping(let deadline):
            if now >= deadline {
                for group in machines.indices where machines[group].state == .releasing {
                    shared.status.withLock { $0.counters.releaseTimeouts += 1 }
                    completeRelease(group: group, at: now)
                }
            }
            // Entering `stopped` sent the first final heartbeat already.
            if machines.allSatisfy({ $0.state == .stopped }) {
                phase = configuration.finalHeartbeats > 1 ? .farewell(remaining: configuration.finalHeartbeats - 1) : .done
            }
        case .farewell(let remaining):
            // The tick that brought us here sent one more.
            guard ticked else { return }
            phase = remaining > 1 ? .farewell(remaining: remaining - 1) : .done
        }
    }

    // MARK: The state machines and the actions

    @discardableResult
    private func handle(
        _ input: FailoverInput, group: Int, at now: MonotonicTime, failure: FailureDetector.Rule? = nil
    ) -> FailoverOutcome {
        let outcome = machines[group].handle(input, at: now)
        let machine = machines[group]
        publish(group)
        shared.status.withLock { status in
            status.groups[group].state = machine.state
            status.groups[group].peer = machine.peer
        }
        guard let transition = outcome.transition else { return outcome }
        shared.status.withLock { $0.counters.transitions += 1 }
        let decidedBy = transition.reason == .peerFailed || transition.reason == .peerUnanswered ? failure : nil
        let timelineID = shared.timelines.open(group: machine.group, transition: transition, failure: decidedBy)
        if outcome.startServing || outcome.stopServing {
            let shared = self.shared
            let context = FailoverActionContext(
                group: machine.group, transition: transition, timelineID: timelineID, timelines: shared.timelines,
                completeRelease: { group, timelineID in
                    shared.submit(PendingCommand(command: .releaseCompleted(group: group, timelineID: timelineID)))
                })
            if outcome.startServing {
                context.step(FailoverTimeline.startServing) { actions.startServing(context) }
            } else {
                pendingRelease[group] = timelineID
                context.step(FailoverTimeline.stopServing) { actions.stopServing(context) }
            }
        }
        if outcome.sendHeartbeatNow { sendHeartbeats(group: group, at: MonotonicClock.now()) }
        onStateChange?(
            FailoverStateChange(group: machine.group, transition: transition, timelineID: timelineID, failure: decidedBy))
        return outcome
    }

    // MARK: Sending

    /// What the stall cover sends for `group` until the machine changes again.
    private func publish(_ group: Int) {
        publication.groups[group].publish(state: machines[group].state, flags: machines[group].outgoingFlags)
    }

    private func sendHeartbeats(group: Int, at now: MonotonicTime) {
        let published = publication.groups[group]
        for channel in sockets.indices {
            guard let next = published.next() else { continue }
            let outcome = sender.send(
                group: published, state: next.state, flags: next.flags, sequence: next.sequence, channel: channel, at: now)
            shared.status.withLock { status in
                switch outcome {
                case .success(.done): status.counters.channels[channel].sent += 1
                case .success(.wouldBlock): status.counters.channels[channel].sendQueueFull += 1
                case .failure(let error):
                    status.counters.channels[channel].sendFailures += 1
                    status.counters.channels[channel].lastSendError = error
                }
            }
        }
        publication.lastSent.store(now.nanoseconds, ordering: .releasing)
    }

    // MARK: The stall cover

    /// Where the cover runs: set by `FailoverController.start` before the loop's thread starts.
    var coverPlacement: StallCoverPlacement = .off

    /// The shared counters of the cover, for `FailoverController.counters`.
    var coverCounters: HeartbeatPublication { publication }

    private func startCover() {
        guard let cover, case .running(_, let coverCPU, _, _) = coverPlacement else { return }
        do {
            try cover.start(cpu: coverCPU, realtimePriority: configuration.realtimePriority)
        } catch {
            shared.status.withLock { $0.counters.stallCover = .unavailable("the cover thread did not start: \(error)") }
        }
    }
}
