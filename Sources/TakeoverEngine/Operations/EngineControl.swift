import Dispatch
import Synchronization
import TakeoverCore
public import TakeoverLinux

/// The control socket's commands over a running `Engine`, and the status report they (and the metrics) read.
public final class EngineControl: ControlCommandHandler {
    public let engine: Engine
    /// Overrides where the session figures come from; nil: the engine's own trackers (`capturePipelines`, summed),
    /// absent from the report in stateless mode.
    private let sessions: (@Sendable () -> StatusReport.Sessions?)?
    /// Longest wait for the controller thread to apply an operator command.
    static let commandTimeout: Duration = .seconds(5)

    /// The responder's first-announcement and first-answer stamps of the last takeover, kept per timeline: the
    /// responder restarts both when an operator's `announce` restarts its schedule, and that must not rewrite
    /// the failover's own marks.
    private struct TimelineMarks {
        var timelineID: UInt64
        var firstAnnouncement: MonotonicTime?
        var firstAnswer: MonotonicTime?
    }
    private let marks = Mutex<TimelineMarks?>(nil)

    public init(engine: Engine, sessions: (@Sendable () -> StatusReport.Sessions?)? = nil) {
        self.engine = engine
        self.sessions = sessions
    }

    public func status() -> StatusReport {
        let configuration = engine.configuration
        let controller = engine.controller
        let now = MonotonicClock.now()
        let counters = controller.counters
        let groupStates = controller.groups
        let responders = engine.responderStatuses
        let groups = configuration.groups.map { group in
            let state = groupStates.first { $0.id == group.id }
            return StatusReport.Group(
                id: group.id, state: "\(state?.state ?? .initializing)", serving: state?.state.mayServe ?? false,
                interface: group.interface, addresses: group.addresses.map { "\($0.address)/\($0.prefixLength)" },
                peer: state?.peer.map { .init(nodeID: $0.nodeID, priority: $0.priority, state: "\($0.state)") })
        }
        var owned: [String] = []
        for group in configuration.groups where groupStates.first(where: { $0.id == group.id })?.state.mayServe == true {
            for address in group.addresses where !owned.contains("\(address.address)") { owned.append("\(address.address)") }
        }
        let heartbeats = counters.channels.map { channel in
            StatusReport.HeartbeatChannel(
                name: channel.name, sent: channel.sent, sendFailures: channel.sendFailures,
                sendQueueFull: channel.sendQueueFull, lastSendError: channel.lastSendError.map { "\($0)" },
                received: channel.received, receiveErrors: channel.receiveErrors, accepted: channel.heartbeats.accepted,
                rejected: .init(
                    malformed: channel.heartbeats.malformed, badTag: channel.heartbeats.badTag,
                    notForUs: channel.heartbeats.notForUs, wrongChannel: channel.heartbeats.wrongChannel,
                    staleIncarnation: channel.heartbeats.staleIncarnation, replayed: channel.heartbeats.replayed),
                lastAcceptedAgoMicroseconds: channel.lastAccepted.map { now.nanoseconds(since: $0) / 1000 })
        }
        let paths = engine.dataPlanes.map { plane in
            StatusReport.Path(
                interface: plane.interface,
                xdp: plane.xdp.map { attachment in
                    let outcomes = (try? attachment.program.counters()).map { counters in
                        Dictionary(uniqueKeysWithValues: XDPOutcome.allCases.map { ($0.metricName, counters[$0].packets) })
                    }
                    return .init(attachMode: "\(attachment.mode)", mode: "\(plane.currentMode)", packets: outcomes ?? [:])
                },
                xdpUnavailableReason: plane.xdpUnavailableReason,
                sessionCapture: engine.capturePipelines[plane.interface].map { _ in
                    engine.captureTaps[plane.interface] == nil ? "libpcap" : "af_xdp"
                },
                responder: responders[plane.interface].map { status in
                    .init(
                        running: status.isRunning, answering: status.isAnswering, addresses: status.addresses.map { "\($0)" },
                        framesReceived: status.framesReceived, framesFromInbox: status.framesFromInbox,
                        inboxDrops: status.inboxDrops, arpRepliesSent: status.responder.arpRepliesSent,
                        neighborAdvertisementsSent: status.responder.neighborAdvertisementsSent,
                        ignored: status.responder.ignored, unsent: status.responder.unsent,
                        announcementsSent: status.announcementsSent, announcementsDeferred: status.announcementsDeferred,
                        transmitFailures: status.transmitFailures, knownClients: status.knownClients,
                        lastError: status.lastError)
                })
        }
        return StatusReport(
            schemaVersion: StatusReport.currentSchemaVersion,
            node: .init(id: configuration.node.id, name: configuration.node.name),
            peer: .init(id: configuration.peer.id, name: configuration.peer.name),
            controller: .init(
                running: controller.isRunning, ticks: counters.ticks, lateTimerExpirations: counters.lateTimerExpirations,
                stallsExcused: counters.stallsExcused, transitions: counters.transitions,
                releaseTimeouts: counters.releaseTimeouts, loopErrors: counters.loopErrors,
                peerFailures: .init(
                    missedHeartbeats: counters.failuresByMissedHeartbeats,
                    unansweredRequests: counters.failuresByUnansweredRequests),
                peerReturns: .init(
                    heartbeatsDelayed: counters.peerReturns.heartbeatsDelayed,
                    heartbeatsLost: counters.peerReturns.heartbeatsLost, peerStalled: counters.peerReturns.peerStalled,
                    last: counters.lastPeerReturn.map(\.description)),
                stallsBeyondWindow: counters.stallsBeyondWindow,
                stallCover: .init(
                    placement: "\(counters.stallCover)", heartbeatsSent: counters.stallCoverHeartbeats,
                    sendFailures: counters.stallCoverSendFailures, stallsCovered: counters.stallsCovered)),
            groups: groups, ownedAddresses: owned, heartbeats: heartbeats, paths: paths, sessions: sessions.map { $0() }
                ?? StatusReport.Sessions(engine.capturePipelines.values.map { $0.statistics() }),
            lastFailover: controller.timelines.last.map { failoverReport($0, now: now, responders: responders) })
    }

    private func failoverReport(
        _ timeline: FailoverTimeline, now: MonotonicTime, responders: [String: TakeoverResponderStatus]
    ) -> StatusReport.Failover {
        let decided = timeline.transition.at
        func after(_ time: MonotonicTime?) -> UInt64? { time.map { $0.nanoseconds(since: decided) / 1000 } }
        var steps: [StatusReport.Failover.Step] = []
        for event in timeline.events where !steps.contains(where: { $0.step == event.step }) {
            steps.append(
                .init(
                    step: event.step, startedAfterMicroseconds: after(timeline.stamp(of: event.step, .started)),
                    finishedAfterMicroseconds: after(timeline.stamp(of: event.step, .finished))))
        }
        let marks = self.marks(of: timeline, responders: responders)
        return StatusReport.Failover(
            id: timeline.id, group: timeline.group, from: "\(timeline.transition.from)", to: "\(timeline.transition.to)",
            reason: String(describing: timeline.transition.reason), reasonText: timeline.transition.reason.rawValue,
            decidedAgoMicroseconds: now.nanoseconds(since: decided) / 1000, decidedAtMonotonicNanoseconds: decided.nanoseconds,
            steps: steps,
            firstAnnouncementAfterMicroseconds: after(marks.firstAnnouncement),
            firstClientAnswerAfterMicroseconds: after(marks.firstAnswer),
            releaseFinishedAfterMicroseconds: after(timeline.releaseFinished))
    }

    /// The responder keeps the first announcement and first answer of its latest takeover; they belong to this
    /// timeline when they came after its decision. Once seen they are kept (see `marks`).
    private func marks(of timeline: FailoverTimeline, responders: [String: TakeoverResponderStatus]) -> TimelineMarks {
        let interface = engine.configuration.groups.first { $0.id == timeline.group }?.interface
        let responder = interface.flatMap { responders[$0] }
        func ofThisTakeover(_ time: MonotonicTime?) -> MonotonicTime? {
            time.flatMap { timeline.transition.to == .active && $0 >= timeline.transition.at ? $0 : nil }
        }
        return marks.withLock { cached in
            var current = cached?.timelineID == timeline.id ? cached! : TimelineMarks(timelineID: timeline.id)
            if current.firstAnnouncement == nil { current.firstAnnouncement = ofThisTakeover(responder?.firstAnnouncementAt) }
            if current.firstAnswer == nil { current.firstAnswer = ofThisTakeover(responder?.firstAnswerAt) }
            cached = current
            return current
        }
    }

    public func takeover(group: UInt16) -> Result<String, ControlError> {
        operatorCommand(group: group) { controller, group throws(FailoverCommandError) in
            try await controller.requestTakeover(group: group)
        }.map { "group \(group): takeover accepted" }
    }

    public func release(group: UInt16) -> Result<String, ControlError> {
        operatorCommand(group: group) { controller, group throws(FailoverCommandError) in
            try await controller.requestRelease(group: group)
        }.map { "group \(group): release accepted" }
    }

    /// Runs an async controller command from the control thread and waits (bounded) for its answer.
    private func operatorCommand(
        group: UInt16,
        _ body: @escaping @Sendable (FailoverController, UInt16) async throws(FailoverCommandError) -> Void
    ) -> Result<Void, ControlError> {
        let outcome = Mutex<Result<Void, FailoverCommandError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let controller = engine.controller
        Task {
            let result: Result<Void, FailoverCommandError>
            do throws(FailoverCommandError) {
                try await body(controller, group)
                result = .success(())
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        let (seconds, attoseconds) = Self.commandTimeout.components
        guard done.wait(timeout: .now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))) == .success,
            let result = outcome.withLock({ $0 })
        else {
            return .failure(ControlError(.failed, "the controller did not answer within \(Self.commandTimeout)"))
        }
        return result.mapError { error in
            switch error {
            case .refused(let refusal): ControlError(.refused, refusal.rawValue)
            case .unknownGroup(let group): ControlError(.unknownGroup, "no group \(group) on this node")
            case .notRunning: ControlError(.notRunning, error.description)
            }
        }
    }

    public func announce() -> Result<[AnnouncedAddresses], ControlError> {
        // Keep the last takeover's marks before the responder restarts them.
        if let last = engine.controller.timelines.last { _ = marks(of: last, responders: engine.responderStatuses) }
        return .success(
            engine.announceServedAddresses().sorted { $0.key < $1.key }.map {
                AnnouncedAddresses(interface: $0.key, addresses: $0.value.map { "\($0)" })
            })
    }

    /// Every interface, with the standby's selection (the peer's MAC, and ARP/ND about every group address
    /// there): what the engine's XDP program or libpcap fallback watches; and where the session tracker reads
    /// AF_XDP, its tap (the program's redirects never reach libpcap).
    public func capturePlan() -> Result<CapturePlan, ControlError> {
        let configuration = engine.configuration
        return .success(
            CapturePlan(
                interfaces: configuration.interfaces.map { interface in
                    let addresses = configuration.groups.filter { $0.interface == interface.name }.flatMap {
                        $0.addresses.map(\.address)
                    }
                    return (interface.name, PeerCaptureFilter(peerMAC: interface.peerMAC, watchedAddresses: addresses).expression)
                },
                taps: engine.captureTaps))
    }
}

extension XDPOutcome {
    /// The outcome's name in the status report and the metrics' `outcome` label.
    public var metricName: String {
        switch self {
        case .passedOff: "passed_off"
        case .passedUnrelated: "passed_unrelated"
        case .passedMalformed: "passed_malformed"
        case .monitorRedirected: "monitor_redirected"
        case .monitorNoSocket: "monitor_no_socket"
        case .takeoverRewritten: "takeover_rewritten"
        case .neighborRedirected: "neighbor_redirected"
        case .neighborNoSocket: "neighbor_no_socket"
        }
    }
}

extension StatusReport.Sessions {
    /// The session trackers' figures summed over the interfaces (each `CapturePipeline.statistics()`); nil for
    /// none, so a stateless engine's report has no `sessions`.
    public init?(_ pipelines: [CapturePipelineStatistics]) {
        guard !pipelines.isEmpty else { return nil }
        self.init(
            count: pipelines.reduce(0) { $0 + $1.sessionCount },
            framesReceived: pipelines.reduce(0) { $0 + $1.receive.framesReceived },
            recordsTracked: pipelines.reduce(0) { $0 + $1.recordsTracked },
            dropped: pipelines.reduce(0) { $0 + $1.totalDropped })
    }
}
