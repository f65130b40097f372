import Foundation
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `takeover run` binary, twice, under the failover lab's scenario runner (TakeoverLab): a client probing
/// the group address over UDP and TCP every 1 ms, a capture on the hub proving who answered for the address. The
/// bounds are functional and generous (the latency goals belong to `takeover-bench failover`); every run stays well
/// under a minute. Root; the lab tears itself down.
@Suite("takeover run: failure scenarios in the failover lab", .serialized)
struct FailoverScenarioLabTests {
    static let system = FailoverSystem.takeover(interval: .milliseconds(10), missCount: 3, tcpPolicy: "none")

    static func scenario(_ failure: FailureKind, _ label: String) -> FailoverScenario {
        var scenario = FailoverScenario(system: system, failure: failure, takeoverExecutable: takeoverExecutable)
        scenario.label = label
        scenario.after = .milliseconds(1500)
        return scenario
    }

    static func describe(_ result: FailoverRunResult) -> String {
        "udp gap \(Double(result.udpGap) / 1e6) ms, lost \(result.udpLost); tcp stall \(Double(result.tcpStall) / 1e6) ms, "
            + "\(result.tcpReconnects) reconnects; client stalled \(result.clientStall.map { "\(Double($0) / 1e6) ms" } ?? "?"); announcement \(result.firstAnnouncement.map { "\(Double($0) / 1e6) ms" } ?? "none"); "
            + "dual-owner windows \(result.dualOwnerWindows), claim conflicts \(result.claimConflicts); owners at end \(result.ownersAtEnd); last answer from "
            + "\(result.lastAnswerer ?? "nobody")\nownership moves: \(result.ownershipMoves)\nstandby log:\n\(result.standbyLog)"
    }

    @Test("primary SIGKILL (engine and service): the standby announces and serves the client within 1 s")
    func primaryKilled() throws {
        let result = try FailoverScenarioRunner.run(Self.scenario(.kill, "fskill"))
        let text = Self.describe(result)
        #expect(result.firstAnnouncement.map { $0 < 1_000_000_000 } == true, "\(text)")
        #expect(result.udpGap < 1_000_000_000, "the client was served again within 1 s: \(text)")
        #expect(result.lastAnswerer == "standby", "\(text)")
        #expect(result.ownersAtEnd.contains("standby"), "\(text)")
        // The killed primary's kernel keeps the address and still answers the client's TCP segments (with resets:
        // its service is gone), which the standby cannot stop; those are not claims. No ARP claim or service answer
        // (UDP) from both MACs, ever.
        #expect(result.claimConflicts.isEmpty, "\(text)")
    }

    @Test(
        "primary crash (SIGKILL, stack silenced) with tcp-policy resume: the client's TCP stream goes on with the standby's takeover-resume-demo, nothing lost"
    )
    func primaryCrashedResumed() throws {
        var scenario = Self.scenario(.crash, "fsresume")
        scenario.system = .takeover(interval: .milliseconds(10), missCount: 3, tcpPolicy: "resume")
        scenario.after = .milliseconds(800)
        let result = try FailoverScenarioRunner.run(scenario)
        let text = Self.describe(result)
        #expect(result.standbyLog.contains("resumed ("), "the standby resumed the client's connection: \(text)")
        #expect(result.tcpReconnects == 0, "\(text)")
        #expect(result.tcpLost == 0 && result.tcpDuplicated == 0, "\(text)")
        #expect(result.tcpRequests > 500, "\(text)")
        #expect(result.tcpStall < 1_000_000_000, "\(text)")
        #expect(result.ownersAtEnd == ["standby"], "\(text)")
        // The client's own lateness is measured on both threads: ticks 1 ms apart, so the longest gap is at least
        // about one interval, and the run's length bounds it. Steal is read from /proc/stat (0 on bare metal).
        for lateness in [result.udpSendGap, result.tcpTickGap] {
            #expect(lateness.map { (900_000..<3_000_000_000).contains($0) } == true, "\(text)")
        }
        #expect(result.hostSteal != nil, "\(text)")
        // Where they lay, for the summary's overlap test: the spans agree with the figures.
        #expect(result.gapSpans?.map(\.length) == [result.udpGap, result.tcpStall], "\(text)")
        #expect(result.clientStallSpans?.map(\.length) == [result.udpSendGap, result.tcpTickGap].compactMap { $0 }, "\(text)")
        print("MEASURED fsresume: \(text.prefix { $0 != "\n" })")
    }

    @Test("primary frozen (SIGSTOP), then continued: the standby serves meanwhile, and it never ends with two owners")
    func primaryFrozenThenContinued() throws {
        var scenario = Self.scenario(.freeze, "fsstop")
        scenario.after = .seconds(1)
        scenario.afterResume = .seconds(2)
        let result = try FailoverScenarioRunner.run(scenario)
        let text = Self.describe(result)
        #expect(result.standbyLog.contains("standby → active"), "the standby took over while the primary was frozen: \(text)")
        #expect(result.ownersAtEnd.count == 1, "exactly one node holds the address at the end: \(text)")
        // The frozen primary's kernel still retransmits TCP segments of the connection it had, and its service (only the
        // engine is stopped) answers a probe that reaches it during the switch: those are not claims of the address.
        // No ARP claim from both MACs, ever; both serving only around the standby's first announcement.
        #expect(result.arpClaimConflicts?.isEmpty == true, "the capture never shows two MACs claiming the address: \(text)")
        let announced = try #require(result.firstAnnouncement)
        #expect(
            result.claimConflicts.allSatisfy { $0.start >= announced && $0.end < announced + 100_000_000 },
            "two MACs served the address only within 100 ms of the standby's announcement: \(text)")
    }

    @Test("graceful handoff (SIGTERM): the standby takes over at once, one owner throughout")
    func gracefulHandoff() throws {
        let result = try FailoverScenarioRunner.run(Self.scenario(.handoff, "fshand"))
        let text = Self.describe(result)
        #expect(result.standbyLog.contains("standby → active (peer is shutting down"), "\(text)")
        #expect(result.firstAnnouncement.map { $0 < 500_000_000 } == true, "\(text)")
        #expect(result.udpGap < 500_000_000, "\(text)")
        #expect(result.ownersAtEnd == ["standby"], "\(text)")
        #expect(result.lastAnswerer == "standby", "\(text)")
        #expect(result.dualOwnerWindows.isEmpty, "\(text)")
    }

    @Test("failback with preemption: the primary's links come back, it takes the address back, never two owners")
    func failbackWithPreemption() throws {
        var scenario = Self.scenario(.linkCut, "fsback")
        scenario.preempt = true
        scenario.recover = true
        scenario.after = .milliseconds(1500)
        scenario.afterResume = .seconds(3)
        let result = try FailoverScenarioRunner.run(scenario)
        let text = Self.describe(result)
        #expect(result.firstAnnouncement.map { $0 < 1_000_000_000 } == true, "the standby took over: \(text)")
        #expect(result.ownersAtEnd == ["primary"], "the preferred primary holds the address again: \(text)")
        #expect(result.lastAnswerer == "primary", "\(text)")
        #expect(result.dualOwnerWindows.isEmpty, "the capture never shows two MACs answering at once: \(text)")
    }

    @Test("forged heartbeats (wrong key) from a third host change nothing; replayed genuine ones do not keep a dead primary alive")
    func forgedAndReplayedHeartbeats() throws {
        let topology = try FailoverHub("fsforge", heartbeatLink: true)
        let lab = topology.lab
        let scratch = try ScratchDirectory()
        defer { lab.teardown() }
        let primary = FailoverNode(name: "primary", id: 1, priority: 200, lan: topology.primary, heartbeat: topology.primaryHeartbeat)
        let standby = FailoverNode(name: "standby", id: 2, priority: 100, lan: topology.standby, heartbeat: topology.standbyHeartbeat)
        let launcher = FailoverEngineLauncher(
            system: Self.system, groupAddress: "192.0.2.100", scratch: scratch.path, takeoverExecutable: takeoverExecutable,
            preempt: true)
        try launcher.prepare()
        let primaryEngine = try launcher.start(primary, peer: standby, in: lab)
        #expect(primaryEngine.waitForOutput(containing: "→ active", timeout: .seconds(10)), "\(primaryEngine.standardError)")
        let standbyEngine = try launcher.start(standby, peer: primary, in: lab)
        #expect(standbyEngine.waitForOutput(containing: "→ standby", timeout: .seconds(10)), "\(standbyEngine.standardError)")
        func transitions(_ engine: LabProcess) -> Int { engine.standardError.components(separatedBy: "group 1: ").count - 1 }
        let before = (transitions(primaryEngine), transitions(standbyEngine))

        // The intruder is the client's namespace: a third host on the hub. First it records genuine heartbeats.
        let intruder = topology.client
        let recording = scratch.path + "/genuine.pcap"
        let recorder = try lab.startTcpdump(
            in: intruder.host, ["-n", "-c", "100", "-w", recording, "udp dst port 7410 and src host 192.0.2.20"])
        #expect(recorder.waitForExit(timeout: .seconds(5)), "100 heartbeats in 5 s: \(recorder.standardError)")
        let genuine = try PcapFile.read(recording).records.map(\.data)
        #expect(genuine.count >= 50)

        // Forged: well-formed, newer incarnation, fresh sequence numbers, but tagged with another key. To the standby
        // "the primary is shutting down, take over" (release); to the primary "the standby wants the group" (ready, manual).
        let injector = try FrameInjector(lab: lab, host: intruder.host)
        let wrongKey = try HMACAuthenticator(key: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        func forged(from node: FailoverNode, to target: FailoverNode, flags: HeartbeatFlags, state: FailoverState, sequence: UInt64) throws -> [UInt8] {
            let message = HeartbeatMessage(
                flags: flags, group: 1, channel: 0, priority: 255, state: state, nodeID: UInt32(node.id),
                incarnation: now, sequence: sequence, sendTime: 0)
            var payload = [UInt8](repeating: 0, count: HeartbeatMessage.length)
            _ = try payload.withUnsafeMutableBytes { try message.encode(into: $0, authenticator: wrongKey) }
            return FrameInjector.udpFrame(
                from: intruder.mac, to: target.lan.mac, source: node.lan.ipv4!, destination: target.lan.ipv4!,
                sourcePort: 7410, destinationPort: 7410, payload: payload)
        }
        for sequence in UInt64(1)...100 {
            try injector.send(try forged(from: primary, to: standby, flags: .release, state: .releasing, sequence: 1_000_000 + sequence))
            try injector.send(try forged(from: standby, to: primary, flags: [.ready, .manual], state: .standby, sequence: 1_000_000 + sequence))
            usleep(5000)
        }
        // Replayed while the primary lives: old sequence numbers, nothing to change.
        for frame in genuine { try injector.send(frame) }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(transitions(primaryEngine) == before.0, "no release on the primary: \(primaryEngine.standardError)")
        #expect(transitions(standbyEngine) == before.1, "no takeover on the standby: \(standbyEngine.standardError)")
        let holdsPrimary = try lab.runChecked(in: primary.lan.host, ["ip", "-o", "address", "show", "dev", "eth0"])
        let holdsStandby = try lab.runChecked(in: standby.lan.host, ["ip", "-o", "address", "show", "dev", "eth0"])
        #expect(holdsPrimary.contains("192.0.2.100/24") && !holdsStandby.contains("192.0.2.100/24"))

        // The primary dies (links cut) while the intruder replays its genuine heartbeats every 5 ms: the standby must
        // not be fooled into thinking it alive, and takes over within its failure window plus a generous margin.
        try lab.setLink(primary.lan, up: false)
        try lab.setLink(primary.heartbeat!, up: false)
        let cut = ContinuousClock.now
        var tookOver = false
        var replayed = 0
        while ContinuousClock.now - cut < .seconds(2) && !tookOver {
            try injector.send(genuine[replayed % genuine.count])
            replayed += 1
            usleep(5000)
            tookOver = standbyEngine.standardError.contains("standby → active")
        }
        #expect(tookOver, "the standby took over within 2 s despite \(replayed) replayed heartbeats: \(standbyEngine.standardError)")
        #expect(ContinuousClock.now - cut < .seconds(1), "within 1 s")
        _ = primaryEngine.stop(grace: .seconds(3))
        _ = standbyEngine.stop(grace: .seconds(3))
    }
}
