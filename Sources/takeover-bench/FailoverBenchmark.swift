// takeover-bench failover: client-visible failover, side by side with keepalived and ucarp, in a namespace lab.
//
//     takeover-bench failover [--reps N] [--systems takeover:1ms,takeover:10ms,keepalived:10ms,keepalived:1s,ucarp:1s]
//         [--scenarios link-cut,sigkill,sigstop,partition,handoff] [--miss-count 3] [--tcp-policy none]
//         [--topology hub|mirror] [--takeover PATH] [--out DIR]
//
// Every run builds its own lab (FailoverScenarioRunner); the systems take turns within each repetition, so a slow
// moment of the machine falls on all of them alike.
import Foundation
import Histogram
import TakeoverLab

#if canImport(Glibc)
    import Glibc
#endif

struct FailoverBenchmarkOptions {
    var repetitions = 5
    var systems: [FailoverSystem] = [
        .takeover(interval: .milliseconds(1), missCount: 3, tcpPolicy: "none"),
        .takeover(interval: .milliseconds(10), missCount: 3, tcpPolicy: "none"),
        .keepalived(advertInterval: .milliseconds(10)),
    ]
    var scenarios: [FailureKind] = [.linkCut]
    var topology: FailoverHub.Topology = .hub
    var takeoverExecutable: String
    var output: String
    /// Recompute the summary from an earlier report's runs instead of running anything.
    var fromJSON: String?
    /// Runs whose client stalled longer than this are counted apart and left out of the figures (nil: none are).
    var clientStallBound: Duration? = .milliseconds(5)

    static let usage = """
        usage: takeover-bench failover [--reps N] [--systems LIST] [--scenarios LIST] [--miss-count N]
                                       [--tcp-policy none|reset|resume] [--topology hub|mirror] [--client-stall-bound D]
                                       [--takeover PATH] [--out DIR]
               takeover-bench failover --from-json FILE [--client-stall-bound D] --out DIR
                                       (summarize an earlier report's runs again)
          --systems    comma-separated: takeover:INTERVAL[:POLICY][+OPTION…], keepalived:INTERVAL (≥ 10ms), ucarp:SECONDSs
                       (default takeover:1ms,takeover:10ms,keepalived:10ms); takeover options: +unanswered[=W]
                       (the unanswered-requests rule, W default 0.8 × INTERVAL), +peer-traffic,
                       +stall-cover=LIMIT (0: off; default: the daemon's)
          --scenarios  comma-separated: \(FailureKind.allCases.map(\.rawValue).joined(separator: ", ")) (default link-cut)
          --client-stall-bound  a run whose client thread (UDP or TCP) did not run for longer than this during its
                       UDP gap or TCP stall is counted apart and left out of the percentiles, which then also show
                       all runs (default 5ms; 0: keep all)
        """

    init(_ arguments: ArraySlice<String>) throws {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        takeoverExecutable = directory + "/takeover"
        let stamp = ISO8601DateFormatter().string(from: Date()).prefix(16).replacingOccurrences(of: ":", with: "")
        output = "bench/results/failover-\(stamp)"
        var missCount = 3
        var policy = "none"
        var systemsText: String?
        var rest = arguments
        while let flag = rest.popFirst() {
            func value() throws -> String {
                guard let value = rest.popFirst() else { throw BenchError.usage("\(flag) needs a value\n\(Self.usage)") }
                return value
            }
            switch flag {
            case "--reps":
                repetitions = try Int(value()).flatMap { (1...1000).contains($0) ? $0 : nil } ?? { throw BenchError.usage("--reps: 1 to 1000") }()
            case "--systems": systemsText = try value()
            case "--scenarios":
                scenarios = try value().split(separator: ",").map { name in
                    guard let kind = FailureKind(rawValue: String(name)) else { throw BenchError.usage("unknown scenario \(name)\n\(Self.usage)") }
                    return kind
                }
            case "--miss-count":
                missCount = try Int(value()).flatMap { (1...1000).contains($0) ? $0 : nil } ?? { throw BenchError.usage("--miss-count: 1 to 1000") }()
            case "--tcp-policy":
                policy = try value()
                guard ["none", "reset", "resume"].contains(policy) else { throw BenchError.usage("--tcp-policy: none, reset or resume") }
            case "--topology":
                topology = try FailoverHub.Topology(rawValue: value()) ?? { throw BenchError.usage("--topology: hub or mirror") }()
            case "--takeover": takeoverExecutable = try value()
            case "--out": output = try value()
            case "--from-json": fromJSON = try value()
            case "--client-stall-bound":
                let text = try value()
                clientStallBound = try text == "0" ? nil : Self.duration(text) ?? { throw BenchError.usage("--client-stall-bound: a duration like 5ms, or 0") }()
            default: throw BenchError.usage("unknown option \(flag)\n\(Self.usage)")
            }
        }
        if let systemsText {
            systems = try systemsText.split(separator: ",").map { try Self.system(String($0), missCount: missCount, policy: policy) }
        } else {
            systems = systems.map {
                if case .takeover(let interval, _, _, let detection) = $0 {
                    .takeover(interval: interval, missCount: missCount, tcpPolicy: policy, detection: detection)
                } else { $0 }
            }
        }
    }

    static func system(_ text: String, missCount: Int, policy: String) throws -> FailoverSystem {
        // takeover:10ms:resume+unanswered=8ms+peer-traffic: the options after the first "+".
        let pieces = text.split(separator: "+").map(String.init)
        let parts = (pieces.first ?? "").split(separator: ":", maxSplits: 2).map(String.init)
        guard parts.count >= 2, let interval = duration(parts[1]), pieces.count == 1 || parts[0] == "takeover" else {
            throw BenchError.usage("bad system \(text)\n\(usage)")
        }
        // takeover:INTERVAL:POLICY overrides --tcp-policy, so one invocation can compare the policies.
        guard parts.count == 2 || (parts[0] == "takeover" && ["none", "reset", "resume"].contains(parts[2])) else {
            throw BenchError.usage("bad system \(text)\n\(usage)")
        }
        switch parts[0] {
        case "takeover":
            var detection = TakeoverDetection()
            for option in pieces.dropFirst() {
                let pair = option.split(separator: "=", maxSplits: 1).map(String.init)
                switch (pair[0], pair.count == 2 ? pair[1] : nil) {
                case ("unanswered", nil): detection.unansweredWindow = interval * 4 / 5
                case ("unanswered", let window?):
                    guard let window = duration(window) else { throw BenchError.usage("bad window in \(text)\n\(usage)") }
                    detection.unansweredWindow = window
                case ("peer-traffic", nil): detection.peerTraffic = true
                case ("stall-cover", let limit?):
                    guard let limit = limit == "0" ? .zero : duration(limit) else {
                        throw BenchError.usage("bad stall-cover in \(text)\n\(usage)")
                    }
                    detection.stallCover = limit
                default: throw BenchError.usage("unknown takeover option \(option)\n\(usage)")
                }
            }
            return .takeover(
                interval: interval, missCount: missCount, tcpPolicy: parts.count == 3 ? parts[2] : policy, detection: detection)
        case "keepalived":
            guard interval >= .milliseconds(10) else { throw BenchError.usage("keepalived's advert_int minimum is 10ms") }
            return .keepalived(advertInterval: interval)
        case "ucarp":
            guard interval >= .seconds(1), interval.components.attoseconds == 0 else { throw BenchError.usage("ucarp: whole seconds, ≥ 1s") }
            return .ucarp(advertBase: Int(interval.components.seconds))
        default: throw BenchError.usage("unknown system \(parts[0])\n\(usage)")
        }
    }

    static func duration(_ text: String) -> Duration? {
        for (suffix, scale) in [("ms", 1_000_000.0), ("us", 1000.0), ("s", 1_000_000_000.0)] where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number > 0 else { return nil }
            return .nanoseconds(Int64(number * scale))
        }
        return nil
    }
}

/// Percentiles of one measure over the runs of one cell, in ms.
struct Percentiles: Codable {
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double

    /// From nanosecond values, through an HdrHistogram in µs (3 significant digits).
    init(nanoseconds values: [UInt64]) {
        var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        for value in values { _ = histogram.record(Swift.min(value / 1000, 600_000_000)) }
        func ms(_ percentile: Double) -> Double { values.isEmpty ? .nan : Double(histogram.valueAtPercentile(percentile)) / 1000 }
        p50 = ms(50)
        p90 = ms(90)
        p99 = ms(99)
        self.max = values.isEmpty ? .nan : Double(histogram.max) / 1000
    }
}

struct Cell: Codable {
    var system: String
    var scenario: String
    var topology: String
    var runs: Int
    var failedRuns: Int
    var udpGapMs: Percentiles
    var tcpStallMs: Percentiles
    var detectionMs: Percentiles
    var firstAnnouncementMs: Percentiles
    var firstAnswerMs: Percentiles
    var tcpReconnects: Int
    var udpLost: Int
    var tcpLost: Int
    var tcpDuplicated: Int
    var dualOwnerWindows: Int
    /// Windows counting only ARP claims and UDP/ICMP answers (not TCP segments of pre-failure connections).
    var claimConflicts: Int
    var runsEndingWithTwoOwners: Int
    /// Runs in which the standby answered for the address before the failure (a false failover).
    var falseFailovers: Int
    var runsWhereStandbyTookOver: Int
    /// p50 against keepalived's p50 in the same scenario (nil for keepalived itself or without one).
    var udpGapRatioToKeepalived: Double?
    var tcpStallRatioToKeepalived: Double?
    var ratioReference: String?
    /// takeover only, from the standby's own timeline: its decision after the failure, and each takeover step's end
    /// after the decision, in the order the steps ran (absent in older reports).
    var standbyDecisionMs: Percentiles?
    var standbyStepsMs: [StepTime]?
    /// Runs whose client stalled beyond the report's bound during their UDP gap or TCP stall: left out of the times
    /// above (percentiles, ratios, the standby's timeline) and kept in the counts (absent in older reports).
    var clientStalledRuns: Int?
    /// UDP gap and TCP stall over every run without a false failover, the client-stalled ones included.
    var udpGapAllRunsMs: Percentiles?
    var tcpStallAllRunsMs: Percentiles?
    /// The most steal time (the host not running the VM's CPUs) in one run, counted runs and stalled alike.
    var hostStealMaxMs: Double?
}

struct StepTime: Codable {
    var step: String
    var finishedMs: Percentiles
}

struct FailedRun: Codable {
    var system: String
    var scenario: String
}

struct Report: Codable {
    var date: String
    var command: String
    var machine: String
    var repetitions: Int
    var cells: [Cell]
    var runs: [FailoverRunResult]
    var failedRuns: [FailedRun]?
    var errors: [String]
    /// Set when the cells were recomputed from an earlier report's runs (`--from-json`).
    var summarizedFrom: String?
    /// `--client-stall-bound` in ms; nil: no run was left out for it.
    var clientStallBoundMs: Double?
}

/// One cell per system and scenario. Runs with a false failover (the standby answered before the failure) are
/// counted but left out of every figure: their gap and stall measure the flapping, not the failover. So are runs
/// whose client stalled longer than `clientStallBound` during their UDP gap or TCP stall: while its thread does not
/// run it neither asks nor hears, so that gap may measure the client (on the lab's shared CPUs) or the VM under it.
/// Both are applied to every system alike, and the cell keeps the percentiles over all runs too. A client's stall
/// leaves the run in every count (reconnects, losses, dual-owner windows, owners, takeovers).
func summarize(
    runs all: [FailoverRunResult], failed: [FailedRun], systems: [String], scenarios: [String], topology: String,
    clientStallBound: Duration? = nil
) -> [Cell] {
    func clientStalled(_ run: FailoverRunResult) -> Bool {
        guard let clientStallBound else { return false }
        return run.clientStalledDuringGap(longerThan: clientStallBound.labNanoseconds)
    }
    var cells: [Cell] = []
    for scenario in scenarios {
        func withoutFalseFailovers(_ system: String) -> [FailoverRunResult] {
            all.filter { $0.system == system && $0.failure == scenario && !$0.standbyAnsweredBeforeFailure }
        }
        func valid(_ system: String) -> [FailoverRunResult] { withoutFalseFailovers(system).filter { !clientStalled($0) } }
        let reference = systems.first { $0 == "keepalived 10ms" } ?? systems.first { $0.hasPrefix("keepalived") }
        let referenceRuns = reference.map(valid) ?? []
        let referenceUDP = Percentiles(nanoseconds: referenceRuns.map(\.udpGap)).p50
        let referenceTCP = Percentiles(nanoseconds: referenceRuns.map(\.tcpStall)).p50
        for system in systems {
            let runs = valid(system)
            let unfiltered = withoutFalseFailovers(system)
            let udp = Percentiles(nanoseconds: runs.map(\.udpGap))
            let tcp = Percentiles(nanoseconds: runs.map(\.tcpStall))
            let isReference = system == reference
            cells.append(Cell(
                system: system, scenario: scenario, topology: topology, runs: runs.count,
                failedRuns: failed.filter { $0.system == system && $0.scenario == scenario }.count, udpGapMs: udp, tcpStallMs: tcp,
                detectionMs: Percentiles(nanoseconds: runs.compactMap(\.detection)),
                firstAnnouncementMs: Percentiles(nanoseconds: runs.compactMap(\.firstAnnouncement)),
                firstAnswerMs: Percentiles(nanoseconds: runs.compactMap(\.firstAnswer)),
                // Counts of what went wrong cover the client-stalled runs too: a stall can lengthen a gap, not lose a byte.
                tcpReconnects: unfiltered.reduce(0) { $0 + $1.tcpReconnects }, udpLost: unfiltered.reduce(0) { $0 + $1.udpLost },
                tcpLost: unfiltered.reduce(0) { $0 + $1.tcpLost }, tcpDuplicated: unfiltered.reduce(0) { $0 + $1.tcpDuplicated },
                dualOwnerWindows: unfiltered.reduce(0) { $0 + $1.dualOwnerWindows.count },
                claimConflicts: unfiltered.reduce(0) { $0 + $1.claimConflicts.count },
                runsEndingWithTwoOwners: unfiltered.filter { $0.ownersAtEnd.count > 1 }.count,
                falseFailovers: all.filter { $0.system == system && $0.failure == scenario && $0.standbyAnsweredBeforeFailure }.count,
                runsWhereStandbyTookOver: unfiltered.filter { $0.firstAnnouncement != nil }.count,
                udpGapRatioToKeepalived: isReference || referenceRuns.isEmpty || runs.isEmpty ? nil : udp.p50 / referenceUDP,
                tcpStallRatioToKeepalived: isReference || referenceRuns.isEmpty || runs.isEmpty ? nil : tcp.p50 / referenceTCP,
                ratioReference: isReference ? nil : reference,
                standbyDecisionMs: runs.contains { $0.standbyDecision != nil }
                    ? Percentiles(nanoseconds: runs.compactMap(\.standbyDecision)) : nil,
                standbyStepsMs: stepTimes(runs),
                clientStalledRuns: unfiltered.filter(clientStalled).count,
                udpGapAllRunsMs: Percentiles(nanoseconds: unfiltered.map(\.udpGap)),
                tcpStallAllRunsMs: Percentiles(nanoseconds: unfiltered.map(\.tcpStall)),
                hostStealMaxMs: unfiltered.compactMap(\.hostSteal).max().map { Double($0) / 1e6 }))
        }
    }
    return cells
}

/// Per step of the standby's timeline, in the order they first ran: when it finished after the decision.
func stepTimes(_ runs: [FailoverRunResult]) -> [StepTime]? {
    var order: [String] = []
    var finished: [String: [UInt64]] = [:]
    for run in runs {
        for step in run.standbySteps ?? [] {
            if finished[step.step] == nil { order.append(step.step) }
            finished[step.step, default: []].append(contentsOf: step.finishedAfter.map { [$0] } ?? [])
        }
    }
    return order.isEmpty ? nil : order.map { StepTime(step: $0, finishedMs: Percentiles(nanoseconds: finished[$0]!)) }
}

/// Writes failover.json and summary.md into `directory`; returns the markdown.
func write(_ report: Report, to directory: String) throws -> String {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try encoder.encode(report).write(to: URL(fileURLWithPath: directory + "/failover.json"))
    let markdown = summary(report)
    try Data(markdown.utf8).write(to: URL(fileURLWithPath: directory + "/summary.md"))
    return markdown
}

/// `takeover-bench failover --from-json FILE --out DIR`: the cells recomputed from an earlier report's runs.
func resummarize(_ path: String, into directory: String, clientStallBound: Duration? = nil) throws {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    var report = try decoder.decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    func ordered(_ values: [String]) -> [String] { values.reduce(into: []) { if !$0.contains($1) { $0.append($1) } } }
    // Older reports carry failures as text only: "<system> <scenario> rep N: …".
    let failed = report.failedRuns ?? report.errors.compactMap { error in
        report.cells.first { error.hasPrefix("\($0.system) \($0.scenario) rep") }.map { FailedRun(system: $0.system, scenario: $0.scenario) }
    }
    report.cells = summarize(
        runs: report.runs, failed: failed, systems: ordered(report.cells.map(\.system)),
        scenarios: ordered(report.cells.map(\.scenario)), topology: report.cells.first?.topology ?? "hub",
        clientStallBound: clientStallBound)
    report.clientStallBoundMs = clientStallBound.map(milliseconds)
    report.failedRuns = failed
    report.summarizedFrom = path
    print(try write(report, to: directory))
}

func runFailover(_ options: FailoverBenchmarkOptions) throws {
    if let source = options.fromJSON {
        return try resummarize(source, into: options.output, clientStallBound: options.clientStallBound)
    }
    guard FileManager.default.isExecutableFile(atPath: options.takeoverExecutable) else {
        throw BenchError.failed("no takeover executable at \(options.takeoverExecutable) (build it, or pass --takeover)")
    }
    try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
    let total = options.repetitions * options.systems.count * options.scenarios.count
    var results: [String: [FailoverRunResult]] = [:]
    var failedRuns: [FailedRun] = []
    var errors: [String] = []
    var pictureRun: FailoverRunResult?
    var done = 0
    let started = Date()
    func key(_ system: FailoverSystem, _ kind: FailureKind) -> String { "\(system)|\(kind.rawValue)" }

    for kind in options.scenarios {
        for repetition in 1...options.repetitions {
            for system in options.systems {
                done += 1
                let elapsed = Date().timeIntervalSince(started)
                let remaining = done > 1 ? elapsed / Double(done - 1) * Double(total - done + 1) : 0
                progress("[\(done)/\(total)] \(kind.rawValue) · \(system) · rep \(repetition)/\(options.repetitions) "
                    + "(elapsed \(Int(elapsed)) s, ~\(Int(remaining)) s left)")
                var scenario = FailoverScenario(system: system, failure: kind, takeoverExecutable: options.takeoverExecutable)
                scenario.topology = options.topology
                scenario.label = "bench"
                scenario.keepSamples = pictureRun == nil && system == options.systems[0]
                do {
                    let result = try FailoverScenarioRunner.run(scenario)
                    results[key(system, kind), default: []].append(result)
                    // The picture shows a run whose failover followed the failure.
                    if scenario.keepSamples, result.firstAnnouncement != nil, !result.standbyAnsweredBeforeFailure { pictureRun = result }
                    progress(String(
                        format: "    udp gap %.1f ms (lost %d) · tcp stall %.1f ms, %d reconnects · client stalled %.1f ms (UDP %.1f, TCP %.1f%@) · host steal %.0f ms · announce %@ · first UDP answer on the wire %@ · dual owners %d (ARP/UDP %d) · owners at end %@",
                        Double(result.udpGap) / 1e6, result.udpLost,
                        Double(result.tcpStall) / 1e6, result.tcpReconnects, Double(result.clientStall ?? 0) / 1e6,
                        Double(result.udpSendGap ?? 0) / 1e6, Double(result.tcpTickGap ?? 0) / 1e6,
                        options.clientStallBound.map { result.clientStalledDuringGap(longerThan: $0.labNanoseconds) } == true
                            ? "; during the gap: left out" : "",
                        Double(result.hostSteal ?? 0) / 1e6,
                        result.firstAnnouncement.map { String(format: "%.2f ms", Double($0) / 1e6) } ?? "—",
                        result.firstUDPAnswer.map { String(format: "%.2f ms", Double($0) / 1e6) } ?? "—",
                        result.dualOwnerWindows.count, result.claimConflicts.count, result.ownersAtEnd.joined(separator: "+")))
                } catch {
                    failedRuns.append(FailedRun(system: system.description, scenario: kind.rawValue))
                    errors.append("\(system) \(kind.rawValue) rep \(repetition): \(error)")
                    progress("    failed: \(error)")
                }
            }
        }
    }

    let cells = summarize(
        runs: results.values.flatMap { $0 }, failed: failedRuns, systems: options.systems.map(\.description),
        scenarios: options.scenarios.map(\.rawValue), topology: options.topology.rawValue,
        clientStallBound: options.clientStallBound)

    var system = utsname()
    _ = uname(&system)
    let kernel = withUnsafeBytes(of: system.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    var load = [Double](repeating: 0, count: 3)
    _ = getloadavg(&load, 3)
    let machine = "Linux \(kernel), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, load average at end "
        + load.map { String(format: "%.2f", $0) }.joined(separator: " ")
    let report = Report(
        date: ISO8601DateFormatter().string(from: Date()), command: CommandLine.arguments.joined(separator: " "),
        machine: machine, repetitions: options.repetitions, cells: cells,
        runs: results.values.flatMap { $0 }.map { var run = $0; run.samples = nil; return run }, failedRuns: failedRuns,
        errors: errors, clientStallBoundMs: options.clientStallBound.map(milliseconds))
    let markdown = try write(report, to: options.output)
    var picture: String?
    if let pictureRun {
        picture = options.output + "/run.svg"
        try Data(FailoverPicture.svg(pictureRun).utf8).write(to: URL(fileURLWithPath: picture!))
    }
    print(markdown)
    print("JSON: \(options.output)/failover.json")
    print("summary: \(options.output)/summary.md")
    if let picture { print("picture of one run (\(pictureRun!.system), \(pictureRun!.failure)): \(picture)") }
}

func milliseconds(_ duration: Duration) -> Double { Double(duration.labNanoseconds) / 1e6 }

func progress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// The markdown summary: one table per scenario.
func summary(_ report: Report) -> String {
    func ms(_ value: Double) -> String { value.isNaN ? "—" : String(format: value < 10 ? "%.2f" : "%.1f", value) }
    func ratio(_ value: Double?) -> String { value.map { $0.isFinite ? String(format: "%.2f", $0) : "—" } ?? "—" }
    var text = "## Failover, client-visible (\(report.date))\n\n`\(report.command)`  \n\(report.machine); "
        + "\(report.repetitions) runs per system and scenario. Times in ms from the failure; gap = longest time between "
        + "two answers the client received (UDP probe every 1 ms; TCP request/response every 1 ms on one connection). "
        + "runs = runs counted; a run in which the standby answered for the address before the failure (a false "
        + "failover) is left out of every figure and counted in its own column"
        + (report.clientStallBoundMs.map {
            ", and so is a run in which the client's own UDP or TCP thread did not run for more than \(ms($0)) ms "
                + "during the run's UDP gap or TCP stall (client stalled): the client shares the lab's CPUs with the systems "
                + "under test, and while it does not run it neither asks nor hears. Such a run is left out of the times only: "
                + "the counts (reconnects, losses, dual-owner windows, owners, takeovers) include it. The last columns give the "
                + "percentiles over all runs, those included, and the most steal time in one run (the host not running the "
                + "VM's CPUs, 10 ms resolution)"
        } ?? "") + ".\n"
    for scenario in Set(report.cells.map(\.scenario)).sorted() {
        text += "\n### \(scenario)\n\n"
        text += "| system | runs | UDP gap p50 / p90 / p99 / max | TCP stall p50 / p99 / max | TCP reconnects | UDP lost | "
            + "TCP lost / dup | detection p50 | first GARP p50 | first answer p50 | dual-owner windows (ARP/UDP only) | ended with 2 owners | "
            + "standby took over after the failure | false failovers before it | UDP p50 ratio | TCP p50 ratio | "
            + "client stalled | all runs: UDP gap p99 / max, TCP stall p99 / max | host steal max |\n"
        text += "|---|---:|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n"
        for cell in report.cells where cell.scenario == scenario {
            let u = cell.udpGapMs, t = cell.tcpStallMs
            text += "| \(cell.system) | \(cell.runs)\(cell.failedRuns > 0 ? " (+\(cell.failedRuns) failed)" : "") "
                + "| \(ms(u.p50)) / \(ms(u.p90)) / \(ms(u.p99)) / \(ms(u.max)) | \(ms(t.p50)) / \(ms(t.p99)) / \(ms(t.max)) "
                + "| \(cell.tcpReconnects) | \(cell.udpLost) | \(cell.tcpLost) / \(cell.tcpDuplicated) "
                + "| \(ms(cell.detectionMs.p50)) | \(ms(cell.firstAnnouncementMs.p50)) | \(ms(cell.firstAnswerMs.p50)) "
                + "| \(cell.dualOwnerWindows) (\(cell.claimConflicts)) | \(cell.runsEndingWithTwoOwners) "
                + "| \(cell.runsWhereStandbyTookOver)/\(cell.runs + (cell.clientStalledRuns ?? 0)) "
                + "| \(cell.falseFailovers) "
                + "| \(ratio(cell.udpGapRatioToKeepalived)) | \(ratio(cell.tcpStallRatioToKeepalived)) "
                + "| \(cell.clientStalledRuns.map(String.init) ?? "—") "
                + "| \(cell.udpGapAllRunsMs.map { "\(ms($0.p99)) / \(ms($0.max))" } ?? "—"), "
                + "\(cell.tcpStallAllRunsMs.map { "\(ms($0.p99)) / \(ms($0.max))" } ?? "—") "
                + "| \(cell.hostStealMaxMs.map(ms) ?? "—") |\n"
        }
    }
    let timed = report.cells.filter { $0.standbyDecisionMs != nil }
    if !timed.isEmpty {
        text += "\n### The standby's own timeline (`takeover status`), p50 in ms\n\n"
            + "| scenario | system | decision after the failure | each step finished, after the decision |\n|---|---|---:|---|\n"
        for cell in timed {
            let steps = (cell.standbyStepsMs ?? []).map { "\($0.step) \(ms($0.finishedMs.p50))" }.joined(separator: " · ")
            text += "| \(cell.scenario) | \(cell.system) | \(ms(cell.standbyDecisionMs!.p50)) | \(steps) |\n"
        }
    }
    if let source = report.summarizedFrom {
        text += "\nSummarized again from the runs in `\(source)` (`takeover-bench failover --from-json`).\n"
    }
    if let reference = report.cells.compactMap(\.ratioReference).first {
        text += "\nRatios: p50 of the system divided by p50 of \(reference) in the same scenario and invocation.\n"
    }
    if !report.errors.isEmpty {
        text += "\nFailed runs (the first line of each error; the JSON has them whole):\n"
            + report.errors.map { "- \($0.split(separator: "\n").first.map { String($0.prefix(300)) } ?? "")\n" }.joined()
    }
    return text
}
