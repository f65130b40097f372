import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TakeoverLab
import Testing

@testable import takeover_bench

/// The failover bench's arithmetic, on runs made up here (decoded from JSON, as `--from-json` reads them): which
/// runs count, the percentiles, the ratios to keepalived, the markdown and the JSON round trip.
@Suite struct FailoverSummaryTests {
    static let millisecond: UInt64 = 1_000_000

    /// One run's result: only what the summary reads is varied.
    static func run(
        _ system: String, _ scenario: String = "link-cut", gap: UInt64, stall: UInt64, falseFailover: Bool = false,
        owners: [String] = ["standby"], announcement: UInt64? = 3 * millisecond, reconnects: Int = 1,
        window: Bool = false
    ) throws -> FailoverRunResult {
        let windows = window ? #"[{"start": 1000, "end": 2000, "switches": 2}]"# : "[]"
        let json = """
            {"system": "\(system)", "failure": "\(scenario)", "topology": "hub", "udpGap": \(gap), "udpSent": 1000,
             "udpLost": 2, "udpDuplicated": 0, "tcpStall": \(stall), "tcpRequests": 900, "tcpReconnects": \(reconnects),
             "tcpLost": \(reconnects), "tcpDuplicated": 0, "detection": \(2 * millisecond),
             "firstAnnouncement": \(announcement.map(String.init) ?? "null"), "firstAnswer": \(4 * millisecond),
             "dualOwnerWindows": \(windows), "claimConflicts": [], "standbyAnsweredBeforeFailure": \(falseFailover),
             "ownersAtEnd": \(owners.map { "\"\($0)\"" }), "ownershipMoves": [], "standbyLog": ""}
            """
        return try JSONDecoder().decode(FailoverRunResult.self, from: Data(json.utf8))
    }

    static let systems = ["takeover 10ms", "keepalived 10ms", "takeover 1ms"]

    static func runs() throws -> [FailoverRunResult] {
        let ms = millisecond
        return [
            try run("keepalived 10ms", gap: 30 * ms, stall: 200 * ms),
            try run("keepalived 10ms", gap: 40 * ms, stall: 210 * ms),
            try run("keepalived 10ms", gap: 50 * ms, stall: 220 * ms, owners: ["primary", "standby"]),
            try run("takeover 10ms", gap: 20 * ms, stall: 21 * ms, reconnects: 0),
            try run("takeover 10ms", gap: 22 * ms, stall: 42 * ms, reconnects: 0, window: true),
            try run("takeover 10ms", gap: 24 * ms, stall: 63 * ms, reconnects: 0),
            // A false failover: its 500 ms gap measured the flapping, not the failover.
            try run("takeover 10ms", gap: 500 * ms, stall: 500 * ms, falseFailover: true, reconnects: 7),
            // Every 1 ms run was a false failover: nothing to show, no ratio.
            try run("takeover 1ms", gap: 9 * ms, stall: 9 * ms, falseFailover: true),
            // Another scenario, which must not mix in.
            try run("takeover 10ms", "crash", gap: 90 * ms, stall: 90 * ms),
        ]
    }

    @Test func validRunsOnlyPercentilesAndRatiosToKeepalived() throws {
        let cells = summarize(
            runs: try Self.runs(), failed: [FailedRun(system: "takeover 10ms", scenario: "link-cut")],
            systems: Self.systems, scenarios: ["link-cut"], topology: "hub")
        #expect(cells.map(\.system) == Self.systems)
        let takeover = try #require(cells.first { $0.system == "takeover 10ms" })
        let keepalived = try #require(cells.first { $0.system == "keepalived 10ms" })
        #expect(takeover.runs == 3 && takeover.falseFailovers == 1 && takeover.failedRuns == 1)
        #expect(takeover.tcpReconnects == 0, "the false failover's 7 reconnects are left out")
        #expect(Self.near(takeover.udpGapMs.p50, 22) && Self.near(takeover.udpGapMs.max, 24))
        #expect(Self.near(takeover.tcpStallMs.p50, 42) && Self.near(takeover.tcpStallMs.max, 63))
        #expect(Self.near(keepalived.udpGapMs.p50, 40) && Self.near(keepalived.tcpStallMs.p50, 210))
        #expect(Self.near(takeover.udpGapRatioToKeepalived ?? .nan, 22.0 / 40.0))
        #expect(Self.near(takeover.tcpStallRatioToKeepalived ?? .nan, 42.0 / 210.0))
        #expect(takeover.ratioReference == "keepalived 10ms")
        #expect(keepalived.udpGapRatioToKeepalived == nil && keepalived.ratioReference == nil)
        #expect(takeover.dualOwnerWindows == 1 && takeover.claimConflicts == 0)
        #expect(keepalived.runsEndingWithTwoOwners == 1 && takeover.runsEndingWithTwoOwners == 0)
        #expect(takeover.runsWhereStandbyTookOver == 3)

        let empty = try #require(cells.first { $0.system == "takeover 1ms" })
        #expect(empty.runs == 0 && empty.falseFailovers == 1)
        #expect(empty.udpGapMs.p50.isNaN && empty.udpGapRatioToKeepalived == nil)
    }

    /// Within HdrHistogram's resolution at three significant digits (0.1 %), twice over for a ratio of two.
    static func near(_ value: Double, _ expected: Double) -> Bool { abs(value - expected) <= expected * 0.002 }

    @Test func percentilesOfAHundredValues() {
        let percentiles = Percentiles(nanoseconds: (1...100).map { UInt64($0) * Self.millisecond })
        #expect(Self.near(percentiles.p50, 50) && Self.near(percentiles.p90, 90))
        #expect(Self.near(percentiles.p99, 99) && Self.near(percentiles.max, 100))
    }

    @Test func markdownHasARowPerSystemWithItsFiguresAndDashesForNothing() throws {
        let cells = summarize(
            runs: try Self.runs(), failed: [], systems: Self.systems, scenarios: ["link-cut", "crash"],
            topology: "hub")
        let report = Report(
            date: "2026-11-22", command: "takeover-bench failover", machine: "test", repetitions: 3, cells: cells,
            runs: try Self.runs(), failedRuns: [], errors: ["takeover 1ms link-cut rep 2: the lab did not become ready"])
        let text = summary(report)
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| takeover 10ms ") }
        #expect(rows.count == 2, "one row per scenario: \(text)")
        #expect(
            rows.contains { $0.contains("| 22.0 / 24.0 / 24.0 / 24.0 |") && $0.hasSuffix("| 0.55 | 0.20 | 0 | 24.0 / 24.0, 63.0 / 63.0 | — |") },
            "\(rows)")
        let empty = try #require(text.split(separator: "\n").first { $0.hasPrefix("| takeover 1ms | 0 ") })
        #expect(empty.contains("| — / — / — / — |") && empty.hasSuffix("| — | — | 0 | — / —, — / — | — |"), "\(empty)")
        #expect(!text.contains("client stalled):"), "no bound, no client-stall sentence: \(text)")
        #expect(text.contains("### crash") && text.contains("### link-cut"))
        #expect(text.contains("Ratios: p50 of the system divided by p50 of keepalived 10ms"))
        #expect(text.contains("- takeover 1ms link-cut rep 2: the lab did not become ready"))
    }

    /// The standby's own timeline: the decision after the failure and each step's end, as p50s, steps in the order
    /// they ran; cells of systems without one (keepalived) have none.
    @Test func theStandbysTimelineIsSummarizedPerStep() throws {
        let ms = Self.millisecond
        func timed(_ decision: UInt64, _ steps: [(String, UInt64?)]) throws -> FailoverRunResult {
            var run = try Self.run("takeover 1ms", gap: 5 * ms, stall: 5 * ms)
            run.standbyDecision = decision
            run.standbySteps = steps.map { FailoverRunResult.EngineStep(step: $0.0, finishedAfter: $0.1) }
            return run
        }
        let runs = [
            try timed(3 * ms, [("xdp-takeover", 10_000), ("responder", 30_000), ("address-add", 400_000)]),
            try timed(4 * ms, [("xdp-takeover", 20_000), ("responder", 40_000), ("tcp-rebuild", 300_000), ("address-add", 600_000)]),
            try timed(5 * ms, [("xdp-takeover", 30_000), ("responder", nil), ("address-add", 800_000)]),
            try Self.run("keepalived 10ms", gap: 40 * ms, stall: 200 * ms),
        ]
        let cells = summarize(
            runs: runs, failed: [], systems: ["takeover 1ms", "keepalived 10ms"], scenarios: ["link-cut"], topology: "hub")
        let takeover = try #require(cells.first { $0.system == "takeover 1ms" })
        #expect(Self.near(try #require(takeover.standbyDecisionMs).p50, 4))
        let steps = try #require(takeover.standbyStepsMs)
        #expect(steps.map(\.step) == ["xdp-takeover", "responder", "address-add", "tcp-rebuild"])
        #expect(Self.near(steps[0].finishedMs.p50, 0.02) && Self.near(steps[2].finishedMs.p50, 0.6))
        #expect(Self.near(steps[1].finishedMs.max, 0.04), "a step without an end counts nowhere")
        #expect(cells.first { $0.system == "keepalived 10ms" }?.standbyDecisionMs == nil)
        let text = summary(
            Report(date: "2026-11-22", command: "takeover-bench failover", machine: "test", repetitions: 3, cells: cells,
                   runs: runs, failedRuns: [], errors: []))
        #expect(text.contains("### The standby's own timeline"))
        #expect(
            text.contains("| link-cut | takeover 1ms | 4.00 | xdp-takeover 0.02 · responder 0.03 · address-add 0.60 · tcp-rebuild 0.30 |"),
            "\(text)")
    }

    /// A run whose client thread (UDP sends or TCP ticks) stalled beyond the bound during the run's UDP gap or TCP
    /// stall is counted apart and left out of the times and the ratio, for every system alike; the counts, the
    /// all-runs percentiles and the host's steal keep it. A stall elsewhere in the run leaves a long gap counted, and a run
    /// without the spans (an older report) is never left out.
    @Test func runsWhoseClientStalledDuringTheGapAreCountedApart() throws {
        let ms = Int64(Self.millisecond)
        func span(_ start: Int64, _ end: Int64) -> Span { Span(start: start * ms, end: end * ms) }
        func run(_ system: String, gap: Span?, stall: Span?, steal: UInt64? = nil) throws -> FailoverRunResult {
            var run = try Self.run(system, gap: gap?.length ?? 6 * Self.millisecond, stall: gap?.length ?? 6 * Self.millisecond)
            run.gapSpans = gap.map { [$0] }
            run.clientStallSpans = stall.map { [span(-200, -198), $0] }
            run.hostSteal = steal
            return run
        }
        let runs = [
            try run("takeover 1ms", gap: span(0, 4), stall: span(-100, -98)),
            try run("takeover 1ms", gap: span(0, 5), stall: span(0, 5)),
            try run("takeover 1ms", gap: span(100, 175), stall: span(100, 175), steal: 70 * Self.millisecond),
            // A slow failover with the client stalled only later: the 20 ms gap is the failover's and stays.
            try run("takeover 1ms", gap: span(0, 20), stall: span(300, 312)),
            try run("takeover 1ms", gap: nil, stall: nil),
            try run("keepalived 10ms", gap: span(0, 40), stall: span(0, 2), steal: 10 * Self.millisecond),
            try run("keepalived 10ms", gap: span(0, 90), stall: span(10, 70)),
        ]
        #expect(runs[2].clientStalledDuringGap(longerThan: 5 * Self.millisecond))
        #expect(!runs[1].clientStalledDuringGap(longerThan: 5 * Self.millisecond), "5 ms is within the bound")
        #expect(!runs[3].clientStalledDuringGap(longerThan: 5 * Self.millisecond))
        let cells = summarize(
            runs: runs, failed: [], systems: ["takeover 1ms", "keepalived 10ms"], scenarios: ["link-cut"], topology: "hub",
            clientStallBound: .milliseconds(5))
        let takeover = try #require(cells.first { $0.system == "takeover 1ms" })
        let keepalived = try #require(cells.first { $0.system == "keepalived 10ms" })
        #expect(takeover.runs == 4 && takeover.clientStalledRuns == 1)
        #expect(takeover.tcpReconnects == 5 && takeover.tcpLost == 5, "a stalled client lengthens a gap; its losses still count")
        #expect(takeover.runsWhereStandbyTookOver == 5)
        #expect(Self.near(takeover.udpGapMs.max, 20) && Self.near(takeover.udpGapMs.p50, 5))
        #expect(Self.near(try #require(takeover.udpGapAllRunsMs).max, 75))
        #expect(Self.near(try #require(takeover.hostStealMaxMs), 70))
        #expect(keepalived.runs == 1 && keepalived.clientStalledRuns == 1)
        #expect(Self.near(takeover.udpGapRatioToKeepalived ?? .nan, 5.0 / 40.0), "the ratio compares counted runs only")

        let unbounded = summarize(
            runs: runs, failed: [], systems: ["takeover 1ms"], scenarios: ["link-cut"], topology: "hub", clientStallBound: nil)
        #expect(unbounded[0].runs == 5 && unbounded[0].clientStalledRuns == 0)

        let text = summary(
            Report(date: "2026-11-22", command: "takeover-bench failover", machine: "test", repetitions: 5, cells: cells,
                   runs: runs, failedRuns: [], errors: [], clientStallBoundMs: 5))
        #expect(text.contains("did not run for more than 5.00 ms during the run's UDP gap or TCP stall (client stalled)"), "\(text)")
        let row = try #require(text.split(separator: "\n").first { $0.hasPrefix("| takeover 1ms | 4 ") })
        #expect(row.hasSuffix("| 1 | 75.0 / 75.0, 75.0 / 75.0 | 70.0 |") && row.contains("| 5/5 |"), "\(row)")
    }

    /// `failover.json` written, then summarized again (`--from-json`): the same cells, NaN included.
    @Test func writtenReportSummarizesAgainToTheSameCells() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("takeover-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let runs = try Self.runs()
        let cells = summarize(runs: runs, failed: [], systems: Self.systems, scenarios: ["link-cut"], topology: "hub")
        let report = Report(
            date: "2026-11-22", command: "test", machine: "test", repetitions: 3, cells: cells, runs: runs,
            failedRuns: [], errors: [])
        _ = try write(report, to: directory.path + "/first")
        try resummarize(directory.path + "/first/failover.json", into: directory.path + "/again")
        let again = try JSONDecoder().decode(
            Report.self,
            from: Data(contentsOf: directory.appendingPathComponent("again/failover.json")),
            nonConformingFloats: true)
        #expect(again.summarizedFrom == directory.path + "/first/failover.json")
        #expect(again.cells.map(\.system) == cells.map(\.system))
        #expect(again.cells.map(\.runs) == cells.map(\.runs))
        #expect(again.cells.map(\.udpGapMs.p50).map { $0.isNaN ? -1 : $0 } == cells.map(\.udpGapMs.p50).map { $0.isNaN ? -1 : $0 })
        #expect(again.cells.map(\.tcpStallRatioToKeepalived) == cells.map(\.tcpStallRatioToKeepalived))
        #expect(FileManager.default.fileExists(atPath: directory.path + "/again/summary.md"))
    }
}

extension JSONDecoder {
    /// Decodes what `write` encoded: NaN and infinities as strings.
    fileprivate func decode<T: Decodable>(_ type: T.Type, from data: Data, nonConformingFloats: Bool) throws -> T {
        nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decode(type, from: data)
    }
}

/// The picture of one run: well-formed SVG, one dot per answered probe in the window, a red tick per lost one, and
/// the four marks in time order.
@Suite struct FailoverPictureTests {
    @Test func dotsTicksAndMarksInOrder() throws {
        var run = try FailoverSummaryTests.run("takeover 1ms", gap: 6_000_000, stall: 7_000_000)
        // Probes every 1 ms from 30 ms before the failure to 60 ms after; 5 lost from the failure on.
        run.samples = try (-30...60).map { index in
            let json = #"{"sent": \#(Int64(index) * 1_000_000)"# + (0..<5 ~= index ? "}" : #", "roundTrip": 150000}"#)
            return try JSONDecoder().decode(FailoverRunResult.ProbePoint.self, from: Data(json.utf8))
        }
        let svg = FailoverPicture.svg(run)
        let elements = SVGElements(svg)
        #expect(elements.wellFormed, "\(svg.prefix(400))")
        // The window opens 20 ms before the failure (it spans 100 ms after): probes from -20 to 60 ms are drawn.
        #expect(elements.count("circle") == 81 - 5)
        #expect(elements.lines(stroke: "#d02020") == 5)
        let marks = ["failure 0 ms", "detection 2 ms", "first announcement 3 ms", "first answer 4 ms"]
        let positions = marks.compactMap { svg.range(of: ">\($0)<")?.lowerBound }
        #expect(positions.count == 4 && positions == positions.sorted(), "\(marks) in \(svg)")
    }
}

/// Counts an SVG's elements with Foundation's XML parser (which also says whether it is well-formed).
final class SVGElements: NSObject, XMLParserDelegate {
    private var names: [String] = []
    private var strokes: [String] = []
    private(set) var wellFormed = false

    init(_ svg: String) {
        super.init()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = self
        wellFormed = parser.parse()
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        names.append(name)
        if name == "line" { strokes.append(attributes["stroke"] ?? "") }
    }

    func count(_ name: String) -> Int { names.filter { $0 == name }.count }
    func lines(stroke: String) -> Int { strokes.filter { $0 == stroke }.count }
}
