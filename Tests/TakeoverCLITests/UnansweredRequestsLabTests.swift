import Foundation
import TakeoverCore
import TakeoverLab
import Testing

/// The unanswered-requests rule with the real daemons (10 ms heartbeats × 3, two channels, W = 8 ms, N = 2, k = 1):
/// a client streaming to the group address makes the standby decide a link cut by the new rule, before the miss
/// count; an idle client leaves it to the miss count; cutting every heartbeat channel while the peer answers its
/// clients fails nothing over. Root; the bounds are functional (the figures belong to `takeover-bench failover`).
@Suite("takeover run: the unanswered-requests rule in the failover lab", .serialized)
struct UnansweredRequestsLabTests {
    static func system(peerTraffic: Bool = false) -> FailoverSystem {
        .takeover(
            interval: .milliseconds(10), missCount: 3, tcpPolicy: "none",
            detection: TakeoverDetection(unansweredWindow: .milliseconds(8), peerTraffic: peerTraffic))
    }

    /// The daemon's takeover line, e.g. "standby → active (peer failed: …) — unanswered requests: 2 client frames,
    /// peer silent for 8.04 ms".
    static func takeoverLine(_ log: String) -> String? {
        log.split(separator: "\n").first { $0.contains("standby → active") }.map(String.init)
    }

    @Test("link cut, client streaming: the standby decides by unanswered requests, before three missed heartbeats")
    func linkCutWhileStreaming() throws {
        var scenario = FailoverScenario(system: Self.system(), failure: .linkCut, takeoverExecutable: takeoverExecutable)
        scenario.label = "unstream"
        scenario.after = .milliseconds(800)
        let result = try FailoverScenarioRunner.run(scenario)
        let text = FailoverScenarioLabTests.describe(result)
        let line = Self.takeoverLine(result.standbyLog) ?? ""
        #expect(line.contains("clients' requests to the peer went unanswered"), "\(text)")
        // The rule is named only when the miss-count rule did not hold yet: decided before 30 ms of silence.
        #expect(line.contains("— unanswered requests: 2 client frames, peer silent for "), "\(text)")
        #expect(result.firstAnnouncement.map { $0 < 1_000_000_000 } == true, "\(text)")
        #expect(result.udpGap < 1_000_000_000, "\(text)")
        #expect(result.lastAnswerer == "standby", "\(text)")
        #expect(result.claimConflicts.isEmpty, "\(text)")
        print("MEASURED unstream: \(line) | \(text.prefix { $0 != "\n" })")
    }

    @Test("link cut, client idle: no evidence, the miss count decides (3 heartbeats missed)")
    func linkCutWhileIdle() throws {
        let lab = try FailoverLabTests.Lab("unidle")
        defer { lab.lab.teardown() }
        let (alpha, beta) = try lab.startNodes(unansweredWindow: .milliseconds(8))
        defer {
            _ = beta.stop(grace: .seconds(5))
            _ = alpha.stop(grace: .seconds(5))
        }
        #expect(alpha.waitForOutput(containing: "group 1: initializing → active", timeout: .seconds(10)), "\(alpha.standardError)")
        #expect(beta.waitForOutput(containing: "group 1: initializing → standby", timeout: .seconds(10)), "\(beta.standardError)")
        // Alpha's frames reach beta's capture (the rule has seen the peer's traffic); then nothing goes to alpha.
        #expect(try lab.ping())
        Thread.sleep(forTimeInterval: 0.3)
        for link in lab.alphaLinks { try lab.lab.setLink(link, up: false) }
        #expect(beta.waitForOutput(containing: "group 1: standby → active", timeout: .seconds(5)), "\(beta.standardError)")
        let line = Self.takeoverLine(beta.standardError) ?? ""
        #expect(line.contains("(peer failed: every channel silent and no peer traffic) — 3 heartbeats missed"), "\(beta.standardError)")
    }

    @Test("the service segment's heartbeat partitioned, the primary alive and answering its streaming client: no takeover")
    func heartbeatPartitionPeerAnswering() throws {
        var scenario = FailoverScenario(system: Self.system(), failure: .partition, takeoverExecutable: takeoverExecutable)
        scenario.label = "unpart"
        scenario.after = .seconds(1)
        let result = try FailoverScenarioRunner.run(scenario)
        let text = FailoverScenarioLabTests.describe(result)
        #expect(Self.takeoverLine(result.standbyLog) == nil, "the standby stayed standby: \(text)")
        #expect(result.ownersAtEnd == ["primary"], "\(text)")
        #expect(result.lastAnswerer == "primary", "\(text)")
        #expect(result.udpGap < 500_000_000, "the client was served throughout: \(text)")
    }

    @Test("every heartbeat channel cut, the primary answering its streaming client: the unanswered rule never fires (the miss count does, peer-traffic off)")
    func heartbeatChannelsCutPeerAnswering() throws {
        var scenario = FailoverScenario(system: Self.system(), failure: .heartbeatCut, takeoverExecutable: takeoverExecutable)
        scenario.label = "unhbcut"
        scenario.after = .milliseconds(800)
        let result = try FailoverScenarioRunner.run(scenario)
        let text = FailoverScenarioLabTests.describe(result)
        let line = Self.takeoverLine(result.standbyLog) ?? ""
        // With heartbeats alone the standby cannot tell this from a dead peer after the miss count (split brain, as
        // keepalived's partition); what it must not do is decide earlier on "unanswered" requests the peer answered.
        #expect(line.contains("— 3 heartbeats missed"), "\(text)")
        #expect(!result.standbyLog.contains("unanswered requests:"), "\(text)")
    }

    /// Issue #4's rule for `peer-traffic`: the peer is failed only when, beside every channel, its own frames have
    /// gone silent too. The owners are read while the client still talks (once it stops, the primary sends nothing
    /// and the standby rightly takes over a window later).
    @Test("every heartbeat channel cut, the primary answering its streaming client, peer-traffic on: its frames keep it alive")
    func heartbeatChannelsCutPeerTrafficKeepsThePrimary() throws {
        var scenario = FailoverScenario(
            system: Self.system(peerTraffic: true), failure: .heartbeatCut, takeoverExecutable: takeoverExecutable)
        scenario.label = "unhbpt"
        scenario.after = .milliseconds(800)
        let result = try FailoverScenarioRunner.run(scenario)
        let text = FailoverScenarioLabTests.describe(result)
        #expect(result.ownersAtEnd == ["primary"], "no split brain: \(text)")
        #expect(result.lastAnswerer == "primary", "\(text)")
        #expect(result.udpGap < 500_000_000, "the client was served throughout: \(text)")
    }
}
