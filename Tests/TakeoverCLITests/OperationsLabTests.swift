import Foundation
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import Testing

/// The daemon's operator side, on the real `takeover run` in the failover lab (FailoverLabTests.Lab): the
/// control socket's commands through the CLI, the metrics endpoint scraped with curl, and a graceful stop.
@Suite("takeover status/takeover/release/announce/capture and metrics on running daemons", .serialized)
struct OperationsLabTests {
    func statusReport(_ socket: String) throws -> (report: StatusReport, json: String) {
        let result = try takeover("status", "--json", "--socket", socket)
        #expect(result.status == 0, "\(result.standardError)")
        return (try JSONDecoder().decode(StatusReport.self, from: Data(result.standardOutput.utf8)), result.standardOutput)
    }

    @Test("control socket round trips through the CLI; status --json matches docs/status.schema.json; metrics move")
    func operate() throws {
        let lab = try FailoverLabTests.Lab("ops")
        defer { lab.lab.teardown() }
        let (alpha, beta) = try lab.startNodes(alphaMetrics: "127.0.0.1:9464")
        #expect(alpha.waitForOutput(containing: "group 1: initializing → active", timeout: .seconds(10)), "\(alpha.standardError)")
        #expect(beta.waitForOutput(containing: "group 1: initializing → standby", timeout: .seconds(10)), "\(beta.standardError)")
        let alphaSocket = lab.controlSocket("alpha")
        let betaSocket = lab.controlSocket("beta")

        // status: JSON valid against the documented schema, and saying what the logs said.
        let (alphaStatus, json) = try statusReport(alphaSocket)
        let statusFile = try lab.scratch.file("status.json", json)
        let schemaCheck = try LabProcess.run(
            ["\(repositoryRoot)/scripts/validate-json-schema", "\(repositoryRoot)/docs/status.schema.json", statusFile],
            timeout: .seconds(30))
        #expect(schemaCheck.status == 0, "\(schemaCheck.standardOutput)\(schemaCheck.standardError)")
        #expect(alphaStatus.node.name == "alpha" && alphaStatus.peer.name == "beta")
        #expect(alphaStatus.groups.map(\.state) == ["active"] && alphaStatus.ownedAddresses == [FailoverLabTests.groupAddress])
        #expect(alphaStatus.heartbeats.count == 2 && alphaStatus.heartbeats.allSatisfy { $0.sent > 0 && $0.accepted > 0 })
        #expect(alphaStatus.groups.first?.peer?.state == "standby")
        #expect(alphaStatus.sessions != nil, "state-based mode: the tracker's figures are in the report")
        #expect(alphaStatus.lastFailover?.to == "active", "\(String(describing: alphaStatus.lastFailover))")
        let text = try takeover("status", "--socket", betaSocket)
        #expect(text.status == 0 && text.standardOutput.contains("group 1 on eth0: standby"), "\(text.standardOutput)")
        // 10 ms heartbeats: the stall cover is on by default, on the other CPU than the controller (two here).
        let cover = try #require(alphaStatus.controller.stallCover)
        #expect(cover.placement.hasPrefix("controller on CPU") && cover.placement.hasSuffix("for up to 50.00 ms"), "\(cover)")
        #expect(text.standardOutput.contains("stall cover: controller on CPU"), "\(text.standardOutput)")
        #expect(alpha.standardError.contains("heartbeats: controller on CPU"), "the start-up line says where: \(alpha.standardError)")

        // Metrics in alpha's namespace (loopback), scraped with curl, moving between scrapes.
        func scrape() throws -> String {
            try lab.lab.runChecked(in: lab.alpha, ["curl", "--silent", "--max-time", "5", "http://127.0.0.1:9464/metrics"])
        }
        func sent(_ body: String) -> Double? {
            body.split(separator: "\n").first { $0.hasPrefix(#"takeover_heartbeats_sent_total{channel="eth0"} "#) }
                .flatMap { Double($0.split(separator: " ").last!) }
        }
        let firstScrape = try scrape()
        #expect(firstScrape.contains(#"takeover_group_state{group="1",state="active"} 1"#), "\(firstScrape)")
        #expect(firstScrape.contains(#"takeover_sessions{node="alpha"}"#), "the tracker's gauge")
        #expect(firstScrape.contains(#"takeover_stall_cover_heartbeats_total{node="alpha"}"#), "\(firstScrape)")
        let firstSent = try #require(sent(firstScrape))
        Thread.sleep(forTimeInterval: 0.2)
        let secondSent = try #require(sent(try scrape()))
        #expect(secondSent > firstSent, "heartbeats every 10 ms: \(firstSent) → \(secondSent)")

        // Capture on the standby while a client pings alpha: beta's tracker reads AF_XDP, so the XDP program hands
        // it the client's frames to alpha's MAC, which never reach libpcap; the capture gets them from the tracker's
        // tap, beside what libpcap sees (alpha's heartbeats to beta).
        #expect(beta.standardError.contains("eth0: session tracking on AF_XDP"), "\(beta.standardError)")
        #expect(try statusReport(betaSocket).report.paths.first?.sessionCapture == "af_xdp")
        let pinging = try lab.lab.start(
            in: lab.client, ["ping", "-c", "8", "-i", "0.1", "-W", "1", FailoverLabTests.groupAddress])
        let monitorCapture = lab.scratch.path + "/beta-monitor.pcapng"
        let monitored = try takeover("capture", "--output", monitorCapture, "--duration", "700ms", "--socket", betaSocket)
        #expect(monitored.status == 0, "\(monitored.standardError)")
        #expect(pinging.waitForExit(timeout: .seconds(5)), "\(pinging.standardOutput)")
        let requests = try LabProcess.run(
            ["tshark", "-r", monitorCapture, "-Y", "icmp.type == 8", "-T", "fields", "-e", "eth.src", "-e", "eth.dst"],
            timeout: .seconds(30))
        let requestRows = requests.standardOutput.split(separator: "\n")
        #expect(
            requestRows.count >= 3 && requestRows.allSatisfy { $0 == "\(lab.clientLAN.mac)\t\(lab.alphaLAN.mac)" },
            "the client's echo requests to alpha, from the tap: \(requests.standardOutput)\(requests.standardError)")

        // Manual takeover on beta: beta serves, alpha stands by, and beta's timeline shows the announcement.
        let takeoverResult = try takeover("takeover", "--group", "1", "--socket", betaSocket)
        #expect(takeoverResult.status == 0, "\(takeoverResult.standardError)")
        #expect(beta.waitForOutput(containing: "standby → active", timeout: .seconds(3)), "\(beta.standardError)")
        #expect(alpha.waitForOutput(containing: "active → releasing", timeout: .seconds(3)), "\(alpha.standardError)")
        let served = waitUntil(timeout: .seconds(2)) {
            ((try? statusReport(betaSocket).report.lastFailover?.firstAnnouncementAfterMicroseconds) ?? nil) != nil
        }
        let betaStatus = try statusReport(betaSocket).report
        #expect(served, "beta's last failover: \(String(describing: betaStatus.lastFailover))")
        #expect(betaStatus.ownedAddresses == [FailoverLabTests.groupAddress])
        #expect(betaStatus.lastFailover?.steps.contains { $0.step == "address-add" && $0.finishedAfterMicroseconds != nil } == true)
        let alphaAfter = try statusReport(alphaSocket).report
        #expect(alphaAfter.ownedAddresses.isEmpty && alphaAfter.groups.first?.serving == false)
        // A client that asks (its neighbour entry flushed) is answered by beta's responder: the timeline's last mark.
        _ = try lab.lab.run(in: lab.client, ["ip", "neigh", "flush", "dev", "eth0"])
        #expect(try lab.ping(), "the client reaches the group address through beta")
        let answered = waitUntil(timeout: .seconds(2)) {
            ((try? statusReport(betaSocket).report.lastFailover?.firstClientAnswerAfterMicroseconds) ?? nil) != nil
        }
        #expect(answered, "beta's responder stamped its first answer")

        // Release refused on the node that does not serve; unknown group; announce again on beta.
        let refused = try takeover("release", "--group", "1", "--socket", alphaSocket)
        #expect(refused.status == 1 && refused.standardError.contains("refused"), "\(refused.standardError)")
        let unknown = try takeover("takeover", "--group", "9", "--socket", alphaSocket)
        #expect(unknown.status == 1 && unknown.standardError.contains("unknownGroup"), "\(unknown.standardError)")
        let beforeAnnounce = try statusReport(betaSocket).report
        let announcementsBefore = beforeAnnounce.paths.first?.responder?.announcementsSent ?? 0
        let announce = try takeover("announce", "--socket", betaSocket)
        #expect(announce.status == 0 && announce.standardOutput.contains("eth0: announced \(FailoverLabTests.groupAddress)"))
        let announcedAgain = waitUntil(timeout: .seconds(2)) {
            ((try? statusReport(betaSocket).report.paths.first?.responder?.announcementsSent) ?? 0) > announcementsBefore
        }
        #expect(announcedAgain, "the responder sent new announcements")
        let afterAnnounce = try statusReport(betaSocket).report.lastFailover
        #expect(
            afterAnnounce?.firstAnnouncementAfterMicroseconds == beforeAnnounce.lastFailover?.firstAnnouncementAfterMicroseconds
                && afterAnnounce?.firstClientAnswerAfterMicroseconds == beforeAnnounce.lastFailover?.firstClientAnswerAfterMicroseconds,
            "an operator's announce does not rewrite the takeover's timeline")

        // Capture on beta: alpha's heartbeats (from the peer's MAC) pass the filter; tshark reads the file.
        let capture = lab.scratch.path + "/beta.pcapng"
        let captured = try takeover("capture", "--output", capture, "--count", "5", "--socket", betaSocket)
        #expect(captured.status == 0 && captured.standardError.contains("5 frames"), "\(captured.standardError)")
        let decoded = try LabProcess.run(
            ["tshark", "-r", capture, "-T", "fields", "-e", "frame.interface_name", "-e", "eth.src"], timeout: .seconds(30))
        let rows = decoded.standardOutput.split(separator: "\n")
        #expect(rows.count == 5, "\(decoded.standardOutput)\(decoded.standardError)")
        #expect(rows.allSatisfy { $0.hasPrefix("eth0\t") }, "\(rows)")
        #expect(rows.contains { $0.hasSuffix(lab.alphaLAN.mac.description) }, "frames from alpha's MAC: \(rows)")
        let timed = try takeover("capture", "--output", capture, "--duration", "300ms", "--socket", betaSocket)
        #expect(timed.status == 0 && timed.standardError.contains("ended: duration"), "\(timed.standardError)")

        // Graceful stop: exit 0, sockets removed, nothing left on the links.
        #expect(beta.stop(grace: .seconds(5)) == 0, "\(beta.standardError)")
        #expect(alpha.waitForOutput(containing: "standby → active", timeout: .seconds(2)), "alpha takes the group back")
        #expect(alpha.stop(grace: .seconds(5)) == 0, "\(alpha.standardError)")
        for socket in [alphaSocket, betaSocket] { #expect(!FileManager.default.fileExists(atPath: socket)) }
        for host in [lab.alpha, lab.beta] {
            #expect(!(try lab.xdpAttached(host)), "no XDP program left")
            #expect(!(try lab.addresses(of: host).contains(FailoverLabTests.groupAddress)), "no added address left")
            let programs = try lab.lab.runChecked(in: host, ["bpftool", "net", "show", "dev", "eth0"])
            #expect(!programs.contains("takeover"), "\(programs)")
        }
        let gone = try takeover("status", "--socket", alphaSocket)
        #expect(gone.status == 1 && gone.standardError.contains("cannot connect"))
    }

    @Test("the metrics port taken: the daemon refuses to start, says why, exits 1 and leaves nothing behind")
    func metricsPortTaken() throws {
        let lab = try FailoverLabTests.Lab("opsport")
        defer { lab.lab.teardown() }
        let squatter = try lab.lab.start(in: lab.alpha, [
            "/usr/bin/python3", "-c",
            "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 9464)); s.listen(); print('listening', flush=True); time.sleep(30)",
        ])
        defer { squatter.stop() }
        #expect(squatter.waitForOutput(containing: "listening", timeout: .seconds(5)))
        let configuration = try lab.configuration(
            me: (1, "alpha", lab.alphaLAN, 11), peer: (2, "beta", lab.betaLAN, 12), metrics: "127.0.0.1:9464")
        let alpha = try lab.lab.start(in: lab.alpha, [takeoverExecutable, "run", "--config", configuration])
        #expect(alpha.waitForExit(timeout: .seconds(10)), "\(alpha.standardError)")
        #expect(alpha.stop() == 1)
        #expect(alpha.standardError.contains("metrics endpoint 127.0.0.1:9464"), "\(alpha.standardError)")
        #expect(!alpha.standardError.contains("→ active"), "it never served")
        #expect(!(try lab.xdpAttached(lab.alpha)), "the XDP program the engine attached is gone")
        #expect(!(try lab.addresses(of: lab.alpha).contains(FailoverLabTests.groupAddress)))
        #expect(!FileManager.default.fileExists(atPath: lab.controlSocket("alpha")), "the control socket is removed")
    }
}
