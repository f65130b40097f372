import Foundation
import Synchronization
import TakeoverCore
import TakeoverLab
import TakeoverLinux
import Testing

@testable import TakeoverEngine

@Suite("metrics: Prometheus text over our own HTTP server, scraped with curl", .serialized)
struct MetricsTests {
    /// curl's output and its HTTP status.
    func curl(_ arguments: [String]) throws -> (status: Int, body: String) {
        let result = try LabProcess.run(
            ["curl", "--silent", "--max-time", "5", "--write-out", "\n%{http_code}"] + arguments, timeout: .seconds(10))
        var lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.removeLast()) ?? -1
        return (status, lines.joined(separator: "\n"))
    }

    /// The value of the sample line `name{labels}` (labels as Prometheus prints them), nil when absent.
    func value(_ body: String, _ sample: String) -> Double? {
        body.split(separator: "\n").first { $0.hasPrefix(sample + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    @Test("a scrape reads the engine's counters; values move between scrapes; each failover is recorded once")
    func scrape() throws {
        let report = Mutex(StatusReport.sample)
        let exporter = MetricsExporter(source: { report.withLock { $0 } })
        let server = try MetricsHTTPServer(
            address: SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 0), render: { exporter.render() })
        defer { server.shutdown() }
        let url = "http://\(server.address)/metrics"

        let first = try curl([url])
        #expect(first.status == 200)
        #expect(value(first.body, #"takeover_heartbeats_sent_total{channel="eth0"}"#) == 5, "\(first.body)")
        #expect(value(first.body, #"takeover_heartbeats_rejected_total{channel="eth0",reason="malformed"}"#) == 1)
        #expect(value(first.body, #"takeover_group_state{group="1",state="active"}"#) == 1)
        #expect(value(first.body, #"takeover_group_state{group="1",state="standby"}"#) == 0)
        #expect(value(first.body, #"takeover_xdp_packets_total{interface="eth0",outcome="passed_off"}"#) == 3)
        #expect(value(first.body, #"takeover_responder_replies_total{interface="eth0",kind="arp"}"#) == 2)
        #expect(value(first.body, #"takeover_sessions{node="alpha"}"#) == 3)
        #expect(first.body.contains("# TYPE takeover_heartbeats_sent_total counter"))
        let announcementCount = #"takeover_failover_step_seconds_count{transition="takeover",step="first_announcement"}"#
        #expect(value(first.body, announcementCount) == 1, "\(first.body)")
        let answer = #"takeover_failover_step_seconds_bucket{transition="takeover",step="first_client_answer",le="#
        #expect(value(first.body, answer + #""0.002"}"#) == 0 && value(first.body, answer + #""0.005"}"#) == 1, "2.5 ms")
        // 400 µs falls in the 0.0005 s bucket.
        #expect(value(first.body, #"takeover_failover_step_seconds_bucket{transition="takeover",step="first_announcement",le="0.0005"}"#) == 1)

        report.withLock { status in
            status.heartbeats[0].sent = 12
            status.groups[0].state = "standby"
            status.sessions?.count = 0
        }
        let second = try curl([url])
        #expect(value(second.body, #"takeover_heartbeats_sent_total{channel="eth0"}"#) == 12)
        #expect(value(second.body, #"takeover_group_state{group="1",state="active"}"#) == 0)
        #expect(value(second.body, #"takeover_group_state{group="1",state="standby"}"#) == 1)
        #expect(value(second.body, #"takeover_sessions{node="alpha"}"#) == 0)
        #expect(value(second.body, announcementCount) == 1, "the same transition is not recorded twice")

        report.withLock { $0.lastFailover?.id = 2 }
        #expect(value(try curl([url]).body, announcementCount) == 2, "a new transition is")
    }

    @Test("only GET /metrics: other paths 404, other methods 405, garbage 400; the server goes on")
    func strictHTTP() throws {
        let exporter = MetricsExporter(source: { StatusReport.sample })
        let server = try MetricsHTTPServer(
            address: SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 0), render: { exporter.render() })
        defer { server.shutdown() }
        #expect(try curl(["http://\(server.address)/"]).status == 404)
        #expect(try curl(["-X", "POST", "http://\(server.address)/metrics"]).status == 405)
        let junk = try StreamSocket.connectTCP(server.address)
        try junk.writeAll(Array("hello\r\n\r\n".utf8), timeout: .seconds(2))
        var reply = [UInt8](repeating: 0, count: 512)
        let count = try reply.withUnsafeMutableBytes { buffer in
            try junk.waitUntil(Int32(POLLIN), deadline: MonotonicClock.now() + 2_000_000_000)
            guard case .done(let count) = try junk.read(into: buffer) else { return 0 }
            return count
        }
        #expect(String(decoding: reply[..<count], as: UTF8.self).hasPrefix("HTTP/1.1 400"))
        #expect(try curl(["http://\(server.address)/metrics?x=1"]).status == 200)
    }
}
