import CoreMetrics
import Prometheus
import Synchronization

/// The engine's figures as swift-metrics counters, gauges and timers, refreshed from the engine's own counters
/// when scraped — nothing is added to the hot paths: the data plane, the controller and the responder already
/// count, and a scrape reads their snapshots (the same ones `takeover status` reads) and moves the metrics by
/// the difference since the last scrape.
///
/// `render()` gives the Prometheus text exposition format (swift-prometheus renders it, without NIO). Metric
/// names (docs/control.md lists them): `takeover_group_state`, `takeover_heartbeats_*_total`,
/// `takeover_xdp_packets_total`, `takeover_responder_*_total`, `takeover_sessions`, `takeover_capture_*_total`,
/// `takeover_transitions_total`, `takeover_failover_step_seconds`.
public final class MetricsExporter: Sendable {
    private let source: @Sendable () -> StatusReport
    private let registry: PrometheusCollectorRegistry
    private let factory: any MetricsFactory
    private let state = Mutex(ScrapeState())

    private struct ScrapeState {
        var counters: [String: (metric: CoreMetrics.Counter, last: UInt64)] = [:]
        var gauges: [String: CoreMetrics.Gauge] = [:]
        var timers: [String: CoreMetrics.Timer] = [:]
        /// The newest failover timeline already recorded in the histograms.
        var recordedTimeline: UInt64 = 0
    }

    /// Buckets of the failover timeline histograms: from a millisecond to ten seconds.
    static let failoverBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
        .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(500), .seconds(1), .seconds(2),
        .seconds(5), .seconds(10),
    ]

    /// `source` is read once per scrape (`EngineControl.status`).
    public init(source: @escaping @Sendable () -> StatusReport) {
        self.source = source
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["takeover_failover_step_seconds"] = Self.failoverBuckets
        self.registry = registry
        self.factory = factory
    }

    public convenience init(control: EngineControl) {
        self.init(source: { control.status() })
    }

    /// Refreshes every metric from a new status snapshot and renders the exposition text.
    public func render() -> [UInt8] {
        let status = source()
        state.withLock { state in update(&state, from: status) }
        return registry.emitToBuffer()
    }

    private func update(_ state: inout ScrapeState, from status: StatusReport) {
        func counter(_ name: String, _ dimensions: [(String, String)], _ value: UInt64) {
            let key = name + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
            let entry = state.counters[key] ?? (CoreMetrics.Counter(label: name, dimensions: dimensions, factory: factory), 0)
            // A source restarted from zero (a responder thread replaced) counts on from its new value.
            let delta = value >= entry.last ? value - entry.last : value
            if delta > 0 { entry.metric.increment(by: Int64(clamping: delta)) }
            state.counters[key] = (entry.metric, value)
        }
        func gauge(_ name: String, _ dimensions: [(String, String)], _ value: Double) {
            let key = name + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
            let metric = state.gauges[key] ?? CoreMetrics.Gauge(label: name, dimensions: dimensions, factory: factory)
            state.gauges[key] = metric
            metric.record(value)
        }

        let states = ["initializing", "standby", "active", "releasing", "stopped"]
        for group in status.groups {
            for name in states {
                gauge("takeover_group_state", [("group", "\(group.id)"), ("state", name)], group.state == name ? 1 : 0)
            }
        }
        counter("takeover_transitions_total", [("node", status.node.name)], status.controller.transitions)
        counter("takeover_controller_ticks_total", [("node", status.node.name)], status.controller.ticks)
        counter("takeover_controller_stalls_excused_total", [("node", status.node.name)], status.controller.stallsExcused)
        if let failures = status.controller.peerFailures {
            for (rule, value) in [
                ("missed_heartbeats", failures.missedHeartbeats), ("unanswered_requests", failures.unansweredRequests),
            ] {
                counter("takeover_peer_failures_total", [("node", status.node.name), ("rule", rule)], value)
            }
        }
        if let stalls = status.controller.stallsBeyondWindow {
            counter("takeover_controller_stalls_beyond_window_total", [("node", status.node.name)], stalls)
        }
        if let cover = status.controller.stallCover {
            counter("takeover_stall_cover_heartbeats_total", [("node", status.node.name)], cover.heartbeatsSent)
            counter("takeover_stalls_covered_total", [("node", status.node.name)], cover.stallsCovered)
        }
        if let returns = status.controller.peerReturns {
            for (finding, value) in [
                ("heartbeats_delayed", returns.heartbeatsDelayed), ("heartbeats_lost", returns.heartbeatsLost),
                ("peer_stalled", returns.peerStalled),
            ] {
                counter("takeover_peer_returns_total", [("node", status.node.name), ("finding", finding)], value)
            }
        }
        gauge("takeover_owned_addresses", [("node", status.node.name)], Double(status.ownedAddresses.count))

        for channel in status.heartbeats {
            let dimensions = [("channel", channel.name)]
            counter("takeover_heartbeats_sent_total", dimensions, channel.sent)
            counter("takeover_heartbeat_send_failures_total", dimensions, channel.sendFailures + channel.sendQueueFull)
            counter("takeover_heartbeats_received_total", dimensions, channel.received)
            counter("takeover_heartbeats_accepted_total", dimensions, channel.accepted)
            let rejected = channel.rejected
            for (reason, value) in [
                ("malformed", rejected.malformed), ("bad_tag", rejected.badTag), ("not_for_us", rejected.notForUs),
                ("wrong_channel", rejected.wrongChannel), ("stale_incarnation", rejected.staleIncarnation),
                ("replayed", rejected.replayed),
            ] {
                counter("takeover_heartbeats_rejected_total", dimensions + [("reason", reason)], value)
            }
        }

        for path in status.paths {
            let interface = [("interface", path.interface)]
            if let xdp = path.xdp {
                for (outcome, packets) in xdp.packets {
                    counter("takeover_xdp_packets_total", interface + [("outcome", outcome)], packets)
                }
            }
            if let responder = path.responder {
                counter("takeover_responder_frames_received_total", interface, responder.framesReceived)
                counter("takeover_responder_frames_from_capture_total", interface, responder.framesFromInbox)
                counter("takeover_responder_drops_total", interface + [("cause", "inbox")], responder.inboxDrops)
                counter("takeover_responder_replies_total", interface + [("kind", "arp")], responder.arpRepliesSent)
                counter("takeover_responder_replies_total", interface + [("kind", "neighbor_advertisement")], responder.neighborAdvertisementsSent)
                counter("takeover_responder_ignored_total", interface, responder.ignored)
                counter("takeover_responder_announcements_total", interface, responder.announcementsSent)
                counter("takeover_responder_drops_total", interface + [("cause", "unsent")], responder.unsent)
                counter("takeover_responder_drops_total", interface + [("cause", "transmit_failure")], responder.transmitFailures)
                gauge("takeover_responder_known_clients", interface, Double(responder.knownClients))
            }
        }

        if let sessions = status.sessions {
            let node = [("node", status.node.name)]
            gauge("takeover_sessions", node, Double(sessions.count))
            counter("takeover_capture_frames_total", node, sessions.framesReceived)
            counter("takeover_capture_records_tracked_total", node, sessions.recordsTracked)
            counter("takeover_capture_dropped_total", node, sessions.dropped)
        }

        // The failover timeline: each transition once, each finished step as time since the decision.
        if let failover = status.lastFailover {
            // Record once the timeline is complete enough: every step finished, and for a takeover the first
            // announcement out. A later scrape of the same transition records nothing.
            let complete = failover.steps.allSatisfy { $0.finishedAfterMicroseconds != nil }
                && (failover.to != "active" || failover.firstAnnouncementAfterMicroseconds != nil)
            if complete && failover.id > state.recordedTimeline {
                state.recordedTimeline = failover.id
                let transition = failover.to == "active" ? "takeover" : failover.to == "releasing" ? "release" : failover.to
                func timer(_ step: String, _ microseconds: UInt64) {
                    let name = "takeover_failover_step_seconds"
                    let dimensions = [("transition", transition), ("step", step)]
                    let timerKey = name + dimensions.map { "|\($0.1)" }.joined()
                    let metric = state.timers[timerKey] ?? CoreMetrics.Timer(label: name, dimensions: dimensions, factory: factory)
                    state.timers[timerKey] = metric
                    metric.recordNanoseconds(Int64(clamping: microseconds * 1000))
                }
                for step in failover.steps {
                    if let finished = step.finishedAfterMicroseconds { timer(step.step, finished) }
                }
                if let first = failover.firstAnnouncementAfterMicroseconds { timer("first_announcement", first) }
                if let first = failover.firstClientAnswerAfterMicroseconds { timer("first_client_answer", first) }
            }
        }
    }
}
