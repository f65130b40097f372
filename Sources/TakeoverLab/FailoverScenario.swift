import Foundation
public import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// The failure a scenario injects into the primary.
public enum FailureKind: String, Sendable, Codable, CaseIterable {
    /// Every link of the primary goes down (its cable pulled): no more frames from it at all.
    case linkCut = "link-cut"
    /// The engine's processes get SIGKILL and the service on the primary dies with them (its sockets closed).
    /// The primary's kernel stays up and keeps whatever address the engine had added, as after a daemon crash.
    case kill = "sigkill"
    /// The primary machine dies: its stack is silenced (nftables netdev ingress and egress drop on its links, its
    /// carrier stays up) and the engine and service get SIGKILL. Unlike `.kill`, its kernel cannot close the
    /// service's connections with a FIN of its own, so a standby can keep them (`resume`).
    case crash
    /// The engine's processes get SIGSTOP (the service keeps running); SIGCONT after the settle time. Must not
    /// end with two owners.
    case freeze = "sigstop"
    /// The heartbeat on the service segment is dropped at the primary's hub port (nftables, both directions): takeover's
    /// second channel (the dedicated link) holds, so it must not fail over; VRRP and CARP have one channel only.
    case partition
    /// The engine on the primary gets SIGTERM: a graceful handoff.
    case handoff
    /// Every heartbeat channel is cut (the service segment's heartbeats dropped at the primary's hub port, the
    /// dedicated link down); the primary and its service stay up and answer clients. With `peer-traffic` the standby
    /// must not take over (the peer's frames prove it alive); without it, any heartbeat-only system does.
    case heartbeatCut = "heartbeat-cut"
}

/// One run's settings.
public struct FailoverScenario: Sendable {
    public var system: FailoverSystem
    public var failure: FailureKind
    public var topology: FailoverHub.Topology = .hub
    /// The engines' preemption (takeover `preempt`, keepalived without `nopreempt`, ucarp `-P`).
    public var preempt = false
    public var probeInterval: Duration = .milliseconds(1)
    /// Probing before the failure (steady state).
    public var before: Duration = .milliseconds(500)
    /// Watching after the failure; nil: the system's own settle time.
    public var after: Duration?
    /// For `.freeze`: watching after SIGCONT; with `recover`: watching after the recovery.
    public var afterResume: Duration = .seconds(1)
    /// After `after`, undo the failure and watch `afterResume` more: links up again, the partition lifted, the
    /// frozen engine continued (always, for `.freeze`). With `preempt`, this is a failback.
    public var recover = false
    public var takeoverExecutable: String
    /// The TCP echo service for `takeover` with `tcp-policy = "resume"` (it must take the resumed connections):
    /// `takeover-resume-demo`, by default next to `takeoverExecutable`.
    public var resumeServiceExecutable: String
    /// Namespace label (letters and digits, ≤ 10).
    public var label = "failover"
    /// Also keep the per-probe samples (for a picture of the run).
    public var keepSamples = false

    public init(system: FailoverSystem, failure: FailureKind, takeoverExecutable: String) {
        self.system = system
        self.failure = failure
        self.takeoverExecutable = takeoverExecutable
        resumeServiceExecutable = URL(fileURLWithPath: takeoverExecutable).deletingLastPathComponent()
            .appendingPathComponent("takeover-resume-demo").path
    }

    /// The TCP service is `takeover-resume-demo` (resumed connections go to it), not the lab's echo.
    var resumesTCP: Bool {
        if case .takeover(_, _, "resume", _) = system { true } else { false }
    }
}

/// What one run measured. Durations in ns. Times of events are relative to the failure (ns, may be nil when the
/// event was not seen).
public struct FailoverRunResult: Sendable, Codable {
    public var system: String
    public var failure: String
    public var topology: String
    /// The longest time between two consecutive UDP answers the client received.
    public var udpGap: UInt64
    /// The longest time between two of the client's own probe sends: the instrument's lateness (its thread shares
    /// the machine with the systems under test). A UDP gap much longer than the failover, with a send gap as long,
    /// is the client's. nil in older reports.
    public var udpSendGap: UInt64?
    /// The TCP client thread's longest time between two of its timer ticks while connected: its lateness, like
    /// `udpSendGap`. nil in older reports.
    public var tcpTickGap: UInt64?
    /// Where the client's longest stall of each thread lay (UDP sends, TCP ticks), and where the run's UDP gap and TCP
    /// stall lay: a client stall overlapping a gap may have made it (`clientStalledDuringGap`). nil in older reports.
    public var clientStallSpans: [Span]?
    public var gapSpans: [Span]?
    /// Steal time of the VM's CPUs while the client probed (`HostSteal`, 10 ms resolution): the host not running
    /// them. nil in older reports or without /proc/stat.
    public var hostSteal: UInt64?
    public var udpSent: Int
    public var udpLost: Int
    public var udpDuplicated: Int
    /// The longest time between two consecutive TCP responses (across reconnects).
    public var tcpStall: UInt64
    public var tcpRequests: Int
    public var tcpReconnects: Int
    public var tcpLost: Int
    public var tcpDuplicated: Int
    /// From the hub's capture: the standby's first master advertisement (our heartbeat with state active, or a
    /// VRRP/CARP advert), first gratuitous ARP, and first answer of any kind for the group address, after the failure.
    public var detection: UInt64?
    public var firstAnnouncement: UInt64?
    public var firstAnswer: UInt64?
    /// From the same capture: the new owner's first UDP answer (the service's echo) on the wire. Against the client's
    /// UDP gap it tells a late service from a late client.
    public var firstUDPAnswer: UInt64?
    /// Windows in which two MACs sent frames from the group address, every kind counted (see `OwnershipTimeline`).
    public var dualOwnerWindows: [OwnershipTimeline.DualOwnerWindow]
    /// The same, counting only claims of the address and service answers: ARP replies, gratuitous ARP, UDP and
    /// ICMP. Leaves out TCP segments, which a frozen primary's kernel still retransmits on connections it had before
    /// the failure (its stack runs on; only the engine is stopped).
    public var claimConflicts: [OwnershipTimeline.DualOwnerWindow]
    /// The same, counting ARP claims only (replies and gratuitous). After SIGSTOP the frozen primary's kernel keeps
    /// the address and its service keeps running, so a probe that reaches both hosts during the switch (a hub floods
    /// it, XDP takes it on the standby) is answered by both: that is the scenario, not a claim. nil in older reports.
    public var arpClaimConflicts: [OwnershipTimeline.DualOwnerWindow]?
    /// The standby answered for the group address before the failure was injected: a false failover (the
    /// steady state was not steady), which also makes the run's other figures meaningless.
    public var standbyAnsweredBeforeFailure: Bool
    /// Hosts holding the group address when the run ended (after a link cut: reachable hosts only).
    public var ownersAtEnd: [String]
    /// Every change of the MAC answering for the group address, from the capture: "+39.2 ms standby ARP reply"
    /// (at most 64), to see what a dual-owner window was made of.
    public var ownershipMoves: [String] = []
    /// The host whose MAC sent the capture's last answer for the group address.
    public var lastAnswerer: String?
    /// When the failure was undone (links up, partition lifted, SIGCONT), if it was.
    public var recovery: UInt64?
    /// Per-probe samples relative to the failure: (send time, round trip or nil when unanswered), when kept.
    public var samples: [ProbePoint]?
    /// The standby's log (takeover and keepalived log to standard error), trimmed.
    public var standbyLog: String
    /// takeover only, from the standby's own timeline (`takeover status --json`, read after the watch): when it decided
    /// that the peer failed (ns from the failure), and when each takeover step finished (ns after that decision).
    public var standbyDecision: UInt64?
    public var standbySteps: [EngineStep]?

    public struct EngineStep: Sendable, Codable, Hashable {
        public var step: String
        public var finishedAfter: UInt64?

        public init(step: String, finishedAfter: UInt64?) {
            self.step = step
            self.finishedAfter = finishedAfter
        }
    }

    public struct ProbePoint: Sendable, Codable {
        public var sent: Int64
        public var roundTrip: UInt64?
    }
}

public enum FailoverScenarioError: Error, CustomStringConvertible {
    case lab(LabError)
    case notReady(String)
    case other(String)

    public var description: String {
        switch self {
        case .lab(let error): "\(error)"
        case .notReady(let what): "the lab did not become ready: \(what)"
        case .other(let what): what
        }
    }
}

/// Runs one failover scenario end to end in a lab of its own: client, primary and standby (hub or mirror port), the
/// echo service on both servers, the system's daemons as real processes, a capture on the hub, the client's UDP
/// probes and TCP stream; injects the failure; returns the measurements. Everything it started is stopped and every
/// namespace deleted when it returns, also on failure.
public enum FailoverScenarioRunner {
    public static let groupAddress = IPv4Address(192, 0, 2, 100)
    public static let servicePort: UInt16 = 9000

    public static func run(_ scenario: FailoverScenario) throws -> FailoverRunResult {
        let topology = try FailoverHub(scenario.label, topology: scenario.topology, heartbeatLink: true)
        let lab = topology.lab
        var template = Array("/tmp/takeover-failover-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FailoverScenarioError.other("mkdtemp failed") }
        let scratch = String(cString: made)
        var echoes: [EchoService] = []
        var engines: [LabProcess] = []
        defer {
            for engine in engines { signalProcessTree(engine.processIdentifier, SIGCONT) }
            for echo in echoes { echo.stop() }
            lab.teardown()
            try? FileManager.default.removeItem(atPath: scratch)
        }

        let primary = FailoverNode(name: "primary", id: 1, priority: 200, lan: topology.primary, heartbeat: topology.primaryHeartbeat)
        let standby = FailoverNode(name: "standby", id: 2, priority: 100, lan: topology.standby, heartbeat: topology.standbyHeartbeat)
        let launcher = FailoverEngineLauncher(
            system: scenario.system, groupAddress: groupAddress.description, scratch: scratch,
            takeoverExecutable: scenario.takeoverExecutable, preempt: scenario.preempt)
        try launcher.prepare()
        // With resume, TCP is served by the demo service on each server (the lab stops it at teardown).
        var tcpServices: [LabProcess] = []
        for node in [primary, standby] {
            // UDP answers from the group address, as a real service's: the hub's capture then sees whose they are.
            echoes.append(
                try EchoService(
                    lab: lab, host: node.lan.host, port: servicePort, tcp: !scenario.resumesTCP, udpAddress: .v4(groupAddress)))
            guard scenario.resumesTCP else { continue }
            let service = try lab.start(in: node.lan.host, [
                scenario.resumeServiceExecutable, "--listen", "\(groupAddress):\(servicePort)",
                "--handoff", launcher.resumeSocket(for: node),
            ])
            guard service.waitForOutput(containing: "ready", timeout: .seconds(10)) else {
                throw FailoverScenarioError.notReady("\(scenario.resumeServiceExecutable): \(service.standardError)")
            }
            tcpServices.append(service)
        }
        // The hub's capture starts before any daemon, and the failure is prepared before the standby starts: starting
        // tcpdump allocates its packet ring inside one non-preemptible kernel call, which on this VM held a CPU for
        // 5–20 ms — long enough to delay a daemon's 1 ms heartbeats by a whole window (a false failover) when it
        // came during the standby's first second.
        let capturePath = scratch + "/hub.pcap"
        let capture = try lab.startTcpdump(
            in: LabHost(name: topology.hub.name, namespace: topology.hub.namespace), interface: topology.hub.bridge,
            ["-n", "-s", "128", "--time-stamp-precision=nano", "-w", capturePath,
             "arp or host \(groupAddress) or udp port 7410 or ip proto 112"])
        defer { capture.stop(grace: .zero) }
        // The primary first, until it serves; then the standby (started together, a non-preempting VRRP pair
        // elects whichever process happens to time out first).
        let primaryEngine = try launcher.start(primary, peer: standby, in: lab)
        engines.append(primaryEngine)
        guard waitUntil(timeout: scenario.system.startupBound, { holds(lab, primary.lan) }) else {
            throw FailoverScenarioError.notReady("the primary never took \(groupAddress): \(primaryEngine.standardError.suffix(2000))")
        }
        // A link cut through `ip` costs a process start (measured 27–116 ms on this loaded machine), one per link:
        // the dedicated heartbeat link used to stay up that much longer than the service link. One `ip -batch`
        // started now and blocked reading a FIFO cuts both links within microseconds of the write below.
        // A crash's silence is one nft ruleset on all the primary's links, prepared the same way.
        let failureBatch: PreparedBatch? =
            switch scenario.failure {
            case .linkCut:
                try PreparedBatch(
                    lab: lab, host: primary.lan.host, tool: .ip, fifo: scratch + "/link-cut.fifo",
                    commands: primary.links.map { "link set \($0.name) down\n" }.joined())
            case .crash:
                try PreparedBatch(
                    lab: lab, host: primary.lan.host, tool: .nft, fifo: scratch + "/silence.fifo",
                    commands: NetworkLab.silencingRuleset(devices: primary.links.map(\.name)))
            default: nil
            }
        defer { failureBatch?.cancel() }
        let standbyEngine = try launcher.start(standby, peer: primary, in: lab)
        engines.append(standbyEngine)

        let settled = waitUntil(timeout: scenario.system.startupBound) {
            guard holds(lab, primary.lan), !holds(lab, standby.lan) else { return false }
            guard let marker = launcher.standbyMarker else { return true }
            return standbyEngine.standardError.contains(marker) || standbyEngine.standardOutput.contains(marker)
        }
        guard settled else {
            throw FailoverScenarioError.notReady(
                "primary holds \(groupAddress): \(holds(lab, primary.lan)); standby: \(holds(lab, standby.lan)); "
                    + "primary log: \(primaryEngine.standardError.suffix(1500)) standby log: \(standbyEngine.standardError.suffix(1500))")
        }
        // Both settled; let the standby's first adverts and the primary's announcements pass.
        Thread.sleep(forTimeInterval: 0.3)

        let after = scenario.after ?? scenario.system.settleTime
        var total = scenario.before + after + .seconds(2)
        if scenario.recover || scenario.failure == .freeze { total += scenario.afterResume }
        let stealBefore = HostSteal.total()
        let udp = try UDPProber(
            lab: lab, host: topology.client.host, target: groupAddress, port: servicePort, interval: scenario.probeInterval,
            duration: total)
        let tcp = try TCPStreamProber(
            lab: lab, host: topology.client.host, target: groupAddress, port: servicePort, interval: scenario.probeInterval)
        // Stops the probes' threads when a step below throws (idempotent after the regular stop).
        defer {
            _ = udp.stop(drain: .zero)
            _ = tcp.stop(drain: .zero)
        }
        guard waitUntil(timeout: .seconds(3), { tcp.isConnected }) else {
            throw FailoverScenarioError.notReady("the client's TCP stream did not connect to \(groupAddress)")
        }
        sleep(scenario.before)
        // Collected before the failure's instant (a scan of /proc), so at it the failure is only signals and a write.
        let primaryProcesses = processTree(primaryEngine.processIdentifier)

        // The failure, stamped on both clocks: the capture is in wall-clock time, the probes in monotonic time.
        let failureWall = RealtimeClock.nanoseconds()
        let failureMonotonic = MonotonicClock.now().nanoseconds
        switch scenario.failure {
        case .linkCut:
            try failureBatch!.apply()
        case .kill:
            signalProcesses(primaryProcesses, SIGKILL)
            echoes[0].stop()
            if let service = tcpServices.first { kill(service.processIdentifier, SIGKILL) }
        case .crash:
            try failureBatch!.apply()
            signalProcesses(primaryProcesses, SIGKILL)
            echoes[0].stop()
            if let service = tcpServices.first { kill(service.processIdentifier, SIGKILL) }
        case .freeze:
            signalProcesses(primaryProcesses, SIGSTOP)
        case .partition:
            try partitionHeartbeat(topology)
        case .heartbeatCut:
            try partitionHeartbeat(topology)
            if let link = primary.heartbeat { try lab.setLink(link, up: false) }
        case .handoff:
            kill(primaryEngine.processIdentifier, SIGTERM)
        }
        sleep(after)
        let standbyTimeline =
            if case .takeover = scenario.system {
                engineTimeline(lab, standby, socket: launcher.controlSocket(for: standby), executable: scenario.takeoverExecutable,
                               failure: failureMonotonic)
            } else {
                nil as (decision: UInt64?, steps: [FailoverRunResult.EngineStep])?
            }
        let recovering = scenario.recover || scenario.failure == .freeze
        let recoveryWall = RealtimeClock.nanoseconds()
        if recovering {
            switch scenario.failure {
            case .linkCut:
                try lab.setLink(primary.lan, up: true)
                if let link = primary.heartbeat { try lab.setLink(link, up: true) }
            case .freeze: signalProcesses(primaryProcesses, SIGCONT)
            case .partition, .heartbeatCut:
                try lab.runChecked(
                    in: LabHost(name: topology.hub.name, namespace: topology.hub.namespace),
                    ["nft", "delete", "table", "bridge", "takeoverlab"])
                if scenario.failure == .heartbeatCut, let link = primary.heartbeat { try lab.setLink(link, up: true) }
            case .kill, .crash, .handoff: break
            }
            sleep(scenario.afterResume)
        }
        // Who holds the address, read while the client still talks: once its traffic stops, a standby with
        // `peer-traffic` rightly counts a primary whose heartbeats are cut as failed, a window later.
        // A primary whose links are cut (or a dead one) cannot answer, whatever it holds.
        let mute = (scenario.failure == .linkCut && !recovering) || scenario.failure == .crash
        let owners = [primary, standby].filter { holds(lab, $0.lan) && !(mute && $0.name == primary.name) }
            .map(\.name)
        let (samples, udpDuplicates) = udp.stop()
        let stream = tcp.stop()
        let hostSteal = HostSteal.total().flatMap { after in stealBefore.map { after >= $0 ? after - $0 : 0 } }
        capture.stop(grace: .seconds(3))

        let records = try PcapFile.read(capturePath).records
        let timeline = OwnershipTimeline(records: records, address: groupAddress, standbyIP: standby.lan.ipv4!)
        func relative(_ wall: UInt64?) -> UInt64? { wall.map { $0 >= failureWall ? $0 - failureWall : 0 } }

        // Gaps between consecutive answers, and the silence from the last answer to the end of probing: a client
        // that was never served again has a gap as long as the run's remainder.
        let answered = samples.compactMap(\.answered).sorted()
        func span(_ start: UInt64, _ end: UInt64) -> Span {
            Span(start: Int64(start) - Int64(failureMonotonic), end: Int64(end) - Int64(failureMonotonic))
        }
        func longest(_ times: [UInt64]) -> Span? {
            func length(_ pair: (UInt64, UInt64)) -> UInt64 { pair.1 > pair.0 ? pair.1 - pair.0 : 0 }
            return zip(times, times.dropFirst()).max { length($0) < length($1) }.map { span($0.0, max($0.0, $0.1)) }
        }
        let udpGapSpan = longest(answered + [samples.last?.sent ?? 0])
        let tcpStallSpan = longest(stream.responses + [stream.ended])
        let udpSendGapSpan = longest(samples.map(\.sent))
        let tcpTickGapSpan = stream.longestTickGap > 0
            ? span(stream.longestTickGapEnd - stream.longestTickGap, stream.longestTickGapEnd) : nil
        return FailoverRunResult(
            system: scenario.system.description, failure: scenario.failure.rawValue, topology: scenario.topology.rawValue,
            udpGap: udpGapSpan?.length ?? 0, udpSendGap: udpSendGapSpan?.length, tcpTickGap: stream.longestTickGap,
            clientStallSpans: [udpSendGapSpan, tcpTickGapSpan].compactMap { $0 },
            gapSpans: [udpGapSpan, tcpStallSpan].compactMap { $0 }, hostSteal: hostSteal,
            udpSent: samples.count, udpLost: samples.count - answered.count, udpDuplicated: udpDuplicates,
            tcpStall: tcpStallSpan?.length ?? 0, tcpRequests: stream.requestsSent, tcpReconnects: stream.reconnects, tcpLost: stream.lost,
            tcpDuplicated: stream.duplicated,
            detection: relative(timeline.firstMasterAdvertisement(after: failureWall)),
            firstAnnouncement: relative(timeline.firstAnnouncement(after: failureWall, excluding: primary.lan.mac)),
            firstAnswer: relative(timeline.firstAnswer(after: failureWall, excluding: primary.lan.mac)),
            firstUDPAnswer: relative(timeline.firstAnswer(after: failureWall, excluding: primary.lan.mac, kind: "UDP")),
            dualOwnerWindows: timeline.dualOwnerWindows().map {
                OwnershipTimeline.DualOwnerWindow(start: relative($0.start)!, end: relative($0.end)!, switches: $0.switches)
            },
            claimConflicts: timeline.dualOwnerWindows { $0.kind != "TCP" }.map {
                OwnershipTimeline.DualOwnerWindow(start: relative($0.start)!, end: relative($0.end)!, switches: $0.switches)
            },
            arpClaimConflicts: timeline.dualOwnerWindows { $0.kind == "gratuitous ARP" || $0.kind == "ARP reply" }.map {
                OwnershipTimeline.DualOwnerWindow(start: relative($0.start)!, end: relative($0.end)!, switches: $0.switches)
            },
            standbyAnsweredBeforeFailure: timeline.answers.contains { $0.time < failureWall && $0.mac == standby.lan.mac },
            ownersAtEnd: owners,
            ownershipMoves: moves(timeline, failureWall: failureWall, hosts: [primary, standby]),
            lastAnswerer: timeline.answers.last.flatMap { answer in
                [primary, standby].first { $0.lan.mac == answer.mac }?.name
            },
            recovery: recovering ? relative(recoveryWall) : nil,
            samples: scenario.keepSamples
                ? samples.map { sample in
                    FailoverRunResult.ProbePoint(
                        sent: Int64(sample.sent) - Int64(failureMonotonic), roundTrip: sample.answered.map { $0 - sample.sent })
                } : nil,
            standbyLog: String(standbyEngine.standardError.suffix(4000)),
            standbyDecision: standbyTimeline?.decision, standbySteps: standbyTimeline?.steps)
    }

    /// The standby's last transition to active from its status report: the decision's time from the failure (both
    /// on CLOCK_MONOTONIC, which every namespace shares) and each step's end. nil when it did not take over, or the
    /// report could not be read.
    static func engineTimeline(
        _ lab: NetworkLab, _ node: FailoverNode, socket: String, executable: String, failure: UInt64
    ) -> (decision: UInt64?, steps: [FailoverRunResult.EngineStep])? {
        guard let result = try? lab.run(in: node.lan.host, [executable, "status", "--json", "--socket", socket], timeout: .seconds(5)),
            result.succeeded,
            let report = try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any],
            let failover = report["lastFailover"] as? [String: Any], failover["to"] as? String == "active",
            let decided = failover["decidedAtMonotonicNanoseconds"] as? UInt64,
            let steps = failover["steps"] as? [[String: Any]]
        else { return nil }
        return (
            decided >= failure ? decided - failure : nil,
            steps.compactMap { step in
                (step["step"] as? String).map {
                    FailoverRunResult.EngineStep(step: $0, finishedAfter: (step["finishedAfterMicroseconds"] as? UInt64).map { $0 * 1000 })
                }
            })
    }

    static func moves(_ timeline: OwnershipTimeline, failureWall: UInt64, hosts: [FailoverNode]) -> [String] {
        var moves: [String] = []
        for (previous, next) in zip(timeline.answers, timeline.answers.dropFirst()) where previous.mac != next.mac {
            let offset = (Double(next.time) - Double(failureWall)) / 1e6
            let name = hosts.first { $0.lan.mac == next.mac }?.name ?? next.mac.description
            moves.append(String(format: "%+.1f ms ", offset) + "\(name) \(next.kind)")
            if moves.count == 64 { break }
        }
        return moves
    }

    /// True when `interface`'s host has the group address on it.
    static func holds(_ lab: NetworkLab, _ interface: LabInterface) -> Bool {
        let shown = (try? lab.runChecked(in: interface.host, ["ip", "-o", "-4", "address", "show", "dev", interface.name])) ?? ""
        return shown.contains(" \(groupAddress)/")
    }

    /// Drops the heartbeat protocols between the primary's port and the rest of the service segment, in the hub
    /// (nftables, bridge family, both directions): takeover's UDP heartbeats (port 7410) and VRRP/CARP (IP protocol
    /// 112). In the network, not in the host: ucarp sends its adverts past the host's own filter hooks. Other
    /// traffic, and the dedicated heartbeat link, flow on.
    static func partitionHeartbeat(_ topology: FailoverHub) throws {
        let port = topology.primary.hubPort
        let rules = """
            table bridge takeoverlab {
                chain forward {
                    type filter hook forward priority 0;
                    iifname "\(port)" udp dport 7410 drop
                    oifname "\(port)" udp dport 7410 drop
                    iifname "\(port)" ip protocol 112 drop
                    oifname "\(port)" ip protocol 112 drop
                }
            }

            """
        let hub = LabHost(name: topology.hub.name, namespace: topology.hub.namespace)
        try topology.lab.runChecked(in: hub, ["sh", "-c", "printf '%s' \"$0\" | nft -f -", rules])
    }

    private static func sleep(_ duration: Duration) {
        Thread.sleep(forTimeInterval: Double(duration.labNanoseconds) / 1e9)
    }
}

/// Where a duration lay: ns from the failure (negative before it).
public struct Span: Sendable, Codable, Equatable {
    public var start: Int64
    public var end: Int64

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    public var length: UInt64 { UInt64(max(end - start, 0)) }

    public func overlaps(_ other: Span) -> Bool { start < other.end && other.start < end }
}

extension FailoverRunResult {
    /// The client's own stall, longer than `bound`, overlapped the run's UDP gap or TCP stall: the client neither
    /// asked nor heard during part of it, so the figure may measure the client (or the VM under it) rather than the
    /// failover. A stall elsewhere in the run changes neither figure. False without the spans (older reports).
    public func clientStalledDuringGap(longerThan bound: UInt64) -> Bool {
        guard let stalls = clientStallSpans, let gaps = gapSpans else { return false }
        return stalls.contains { stall in stall.length > bound && gaps.contains { stall.overlaps($0) } }
    }

    /// The client's own longest stall, UDP or TCP thread (nil in older reports): while it lasts the client neither
    /// asks nor hears, so the run's gaps measure the client (or the VM under it), not the failover.
    public var clientStall: UInt64? {
        switch (udpSendGap, tcpTickGap) {
        case (nil, nil): nil
        case let (udp, tcp): max(udp ?? 0, tcp ?? 0)
        }
    }
}
