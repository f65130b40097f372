// takeover-bench: data-plane measurements on a veth lab (root).
//
//     swift run -c release takeover-bench capture [--seconds 5] [--flows 64] [--frame-length 60] [--no-tcpdump]
//     swift run -c release takeover-bench announce [--takeovers 1000]     (AnnounceLatency.swift)
//
// One run, one veth pair (gen:g0 ↔ cap:c0), one flood configuration; every path is measured on the same
// flood in turn, each for the same bounded time, with the XDP program attached to c0 in monitor mode as the
// common instrument: its per-CPU counters count every frame that reached c0, whichever path then took it.
import Foundation
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#endif

struct CaptureBenchmarkOptions {
    var seconds = 5.0
    var flows = 64
    var frameLength = 60
    var tcpdump = true
    /// Run c0's NAPI polling in a kernel thread (sysfs `threaded`), so the receive side's softirq work can
    /// run on the other core instead of on the sender's.
    var threadedNAPI = false
    /// Busy polling on the AF_XDP socket (`--busy-poll USEC[:BUDGET]`): the receive thread drives c0's NAPI.
    var busyPoll: AFXDPConfiguration.BusyPoll?
    /// c0's napi_defer_hard_irqs and gro_flush_timeout (`--defer-hard-irqs N:NANOSECONDS`): NAPI defers
    /// rescheduling itself, so a busy-polling socket does the receive work instead of the kernel's softirq/kthread.
    var deferHardIRQs: (count: Int, flushTimeoutNanoseconds: Int)?

    init(_ arguments: ArraySlice<String>) throws {
        var rest = arguments
        while let flag = rest.popFirst() {
            func value() throws -> String {
                guard let value = rest.popFirst() else { throw BenchError.usage("\(flag) needs a value") }
                return value
            }
            switch flag {
            case "--seconds":
                seconds =
                    try Double(value()).flatMap { (0.5...30).contains($0) ? $0 : nil }
                    ?? { throw BenchError.usage("--seconds: 0.5 to 30") }()
            case "--flows":
                flows =
                    try Int(value()).flatMap { (1...4096).contains($0) ? $0 : nil }
                    ?? { throw BenchError.usage("--flows: 1 to 4096") }()
            case "--frame-length":
                frameLength =
                    try Int(value()).flatMap { (60...1514).contains($0) ? $0 : nil }
                    ?? { throw BenchError.usage("--frame-length: 60 to 1514") }()
            case "--no-tcpdump": tcpdump = false
            case "--threaded-napi": threadedNAPI = true
            case "--busy-poll":
                let parts = try value().split(separator: ":").map { Int($0) }
                guard (1...2).contains(parts.count), let microseconds = parts[0], microseconds > 0,
                    let budget = parts.count == 2 ? parts[1] : 64, (1...65535).contains(budget)
                else { throw BenchError.usage("--busy-poll: USEC[:BUDGET], e.g. 20:64") }
                busyPoll = AFXDPConfiguration.BusyPoll(microseconds: microseconds, budget: budget)
            case "--defer-hard-irqs":
                let parts = try value().split(separator: ":").map { Int($0) }
                guard parts.count == 2, let count = parts[0], count >= 0, let timeout = parts[1], timeout >= 0
                else { throw BenchError.usage("--defer-hard-irqs: N:NANOSECONDS, e.g. 2:200000") }
                deferHardIRQs = (count, timeout)
            default: throw BenchError.usage("unknown option \(flag)")
            }
        }
    }
}

enum BenchError: Error, CustomStringConvertible {
    case usage(String)
    case failed(String)
    var description: String {
        switch self {
        case .usage(let message):
            "usage: takeover-bench capture [--seconds S] [--flows N] [--frame-length L] [--no-tcpdump] "
                + "[--threaded-napi] [--busy-poll USEC[:BUDGET]] [--defer-hard-irqs N:NS]\n       takeover-bench failover --help\n\(message)"
        case .failed(let message): message
        }
    }
}

/// CPU time of threads, from the scheduler's own account: `se.sum_exec_runtime` (milliseconds) in
/// /proc/<pid>/task/<tid>/sched. Exact, unlike the tick-sampled utime/stime of `stat`, which misses threads
/// that run in short bursts between ticks (the tracker thread does).
enum ThreadCPU {
    static func seconds(directory: String) -> (comm: String, seconds: Double)? {
        guard let comm = try? String(contentsOfFile: directory + "/comm", encoding: .utf8),
            let sched = try? String(contentsOfFile: directory + "/sched", encoding: .utf8)
        else { return nil }
        for line in sched.split(separator: "\n") where line.hasPrefix("se.sum_exec_runtime") {
            guard
                let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) })
            else { return nil }
            return (comm.trimmingCharacters(in: .whitespacesAndNewlines), value / 1000)
        }
        return nil
    }

    /// Sum over this process's threads whose name starts with `prefix`.
    static func ownThreads(_ prefix: String) -> Double {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { seconds(directory: "/proc/self/task/\($0)") }
            .filter { $0.comm.hasPrefix(prefix) }.reduce(0) { $0 + $1.seconds }
    }

    /// Sum over every process (kernel threads included) whose name starts with `prefix`.
    static func processes(_ prefix: String) -> Double {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.compactMap { seconds(directory: "/proc/\($0)") }
            .filter { $0.comm.hasPrefix(prefix) }.reduce(0) { $0 + $1.seconds }
    }

    static func process(_ pid: Int32) -> Double { seconds(directory: "/proc/\(pid)")?.seconds ?? 0 }
}

/// One measured path in one phase.
struct PhaseResult {
    var path: String
    var pacedRate: Int?
    var sent: TrafficGenerator.Report
    /// Frames that reached c0's XDP hook during the phase.
    var arrived: UInt64
    /// Frames the path delivered to its consumer (the tracker for our pipeline, the file for tcpdump).
    var captured: UInt64
    /// Drops the path itself reports, by cause.
    var reportedDrops: [(String, UInt64)]
    /// CPU seconds spent during the phase, by thread: the receive side's NAPI kernel thread (with
    /// --threaded-napi), and the path's own threads.
    var cpu: [(String, Double)]

    var capturedPerSecond: Double { Double(captured) / max(sent.seconds, 1e-9) }
    var arrivedPerSecond: Double { Double(arrived) / max(sent.seconds, 1e-9) }
    var reportedDropTotal: UInt64 { reportedDrops.reduce(0) { $0 + $1.1 } }
}

final class CaptureBenchmark {
    static let peerMAC = MACAddress(0x02, 0x74, 0x6B, 0xEE, 0x00, 0x20)
    static let generatorMAC = MACAddress(0x02, 0x74, 0x6B, 0xEE, 0x00, 0x01)
    static let captureMAC = MACAddress(0x02, 0x74, 0x6B, 0xEE, 0x00, 0x02)
    static let sourceIP = IPv4Address(198, 51, 100, 1)
    static let destinationIP = IPv4Address(198, 51, 100, 20)

    let options: CaptureBenchmarkOptions
    let lab: NetworkLab
    let generator: LabHost
    let capture: LabHost
    let program: XDPProgram
    var attachment: XDPAttachment?
    var bindMode = "not opened"
    var busyPollState = "off"

    init(_ options: CaptureBenchmarkOptions) throws {
        self.options = options
        lab = try NetworkLab("bench")
        generator = try lab.addHost("gen")
        capture = try lab.addHost("cap")
        try lab.runChecked(
            in: generator,
            [
                "ip", "link", "add", "g0", "address", "\(Self.generatorMAC)", "type", "veth", "peer", "name", "c0",
                "address", "\(Self.captureMAC)", "netns", capture.namespace,
            ])
        try lab.runChecked(in: generator, ["ip", "link", "set", "g0", "up"])
        try lab.runChecked(in: capture, ["ip", "link", "set", "c0", "up"])
        program = try XDPProgram()
        try program.configure(ownMAC: Self.captureMAC, peerMAC: Self.peerMAC)
        try program.setMode(.monitor)
        let program = self.program
        attachment = try lab.withNamespace(of: capture) { try program.attach(toInterface: "c0") }
        if options.threadedNAPI {
            // A veth has NAPI only while an XDP program is attached: set it after the attach.
            try lab.runChecked(in: capture, ["sh", "-c", "echo 1 > /sys/class/net/c0/threaded"])
        }
        if let deferral = options.deferHardIRQs {
            try lab.runChecked(
                in: capture,
                ["sh", "-c", "echo \(deferral.count) > /sys/class/net/c0/napi_defer_hard_irqs && "
                    + "echo \(deferral.flushTimeoutNanoseconds) > /sys/class/net/c0/gro_flush_timeout"])
        }
    }

    func teardown() {
        if let attachment { _ = try? lab.withNamespace(of: capture) { try attachment.detach() } }
        attachment = nil
        lab.teardown()
    }

    func flood(rate: Int?) throws -> TrafficGenerator.Report {
        let configuration = TrafficGenerator.Configuration(
            interface: "g0", sourceMAC: Self.generatorMAC, destinationMAC: Self.peerMAC, sourceIP: Self.sourceIP,
            destinationIP: Self.destinationIP, flowCount: options.flows, frameLength: options.frameLength,
            maximumFrames: 200_000_000, maximumDuration: .milliseconds(Int64(options.seconds * 1000)),
            framesPerSecond: rate)
        return try lab.withNamespace(of: generator) { try TrafficGenerator.run(configuration) }
    }

    /// Runs one phase: `start` begins the path's capture, the flood runs, then `finish` stops it after the
    /// frames in flight have landed and returns (captured, reported drops).
    func phase(
        _ path: String, rate: Int?, start: () throws -> Void, pathCPU: () -> [(String, Double)] = { [] },
        finish: () throws -> (UInt64, [(String, UInt64)])
    ) throws -> PhaseResult {
        let before = try program.counters()
        let napiBefore = ThreadCPU.processes("napi/c0")
        try start()
        let sent = try flood(rate: rate)
        Thread.sleep(forTimeInterval: 0.3)
        var cpu = options.threadedNAPI ? [("NAPI kthread", ThreadCPU.processes("napi/c0") - napiBefore)] : []
        cpu += pathCPU()
        let (captured, drops) = try finish()
        let counted = try program.counters().since(before)
        let arrived = counted[.monitorNoSocket].packets + counted[.monitorRedirected].packets
        let result = PhaseResult(
            path: path, pacedRate: rate, sent: sent, arrived: arrived, captured: captured, reportedDrops: drops,
            cpu: cpu)
        let line = "\(path)\(rate.map { " @\($0)/s" } ?? ""): \(sent); arrived \(arrived); captured \(captured); "
            + "drops \(drops); CPU s \(cpu)\n"
        FileHandle.standardError.write(Data(line.utf8))
        return result
    }

    func ceiling(rate: Int?) throws -> PhaseResult {
        try phase("kernel ceiling (XDP counter, monitor, no socket)", rate: rate, start: {}, finish: { (0, []) })
    }

    func pcapPipeline(rate: Int?) throws -> PhaseResult {
        var pipeline: CapturePipeline?
        return try phase(
            "takeover pipeline over libpcap", rate: rate,
            start: {
                let source = try lab.withNamespace(of: capture) {
                    try PcapCapture(
                        PcapCaptureConfiguration(interface: "c0", delivery: .blocks(timeout: .milliseconds(1))))
                }
                try source.setFilter("ether host \(Self.peerMAC)")
                pipeline = try CapturePipeline(
                    source: source,
                    configuration: CapturePipelineConfiguration(
                        peerMAC: Self.peerMAC, ringCapacity: 8192, sessionCapacity: 1 << 14),
                    clock: MonotonicClock.now)
            },
            pathCPU: {
                [
                    ("takeover-rx", ThreadCPU.ownThreads("takeover-rx")),
                    ("takeover-track", ThreadCPU.ownThreads("takeover-track")),
                ]
            },
            finish: {
                let result = pipeline!.stop(timeout: .seconds(5))
                guard result.joined, result.receiveFailure == nil else {
                    throw BenchError.failed(
                        "pipeline did not stop cleanly: \(result.receiveFailure ?? "join timed out")")
                }
                let statistics = result.statistics
                logBatching(statistics.receive)
                return (
                    statistics.recordsTracked,
                    [
                        ("kernel ring (pcap_stats ps_drop)", statistics.source.dropped),
                        ("interface (ps_ifdrop)", statistics.source.interfaceDropped),
                        ("pipeline ring full", statistics.receive.droppedRingFull),
                        ("malformed", statistics.receive.malformed.total),
                    ]
                )
            })
    }

    func afxdpPipeline(rate: Int?) throws -> PhaseResult {
        var pipeline: CapturePipeline?
        let program = self.program
        return try phase(
            "takeover pipeline over AF_XDP", rate: rate,
            start: {
                let socket = try lab.withNamespace(of: capture) {
                    try AFXDPSocket(
                        interface: "c0",
                        configuration: AFXDPConfiguration(
                            frameCount: 8192, transmitFrameCount: 0, busyPoll: options.busyPoll),
                        program: program)
                }
                bindMode = "\(socket.bindMode)"
                busyPollState =
                    socket.busyPollRefusal
                    ?? (socket.busyPolling ? "\(options.busyPoll!.microseconds) µs, budget \(options.busyPoll!.budget)" : "off")
                pipeline = try CapturePipeline(
                    source: AFXDPPacketSource(socket, clock: MonotonicClock.now),
                    configuration: CapturePipelineConfiguration(
                        peerMAC: Self.peerMAC, ringCapacity: 8192, sessionCapacity: 1 << 14),
                    clock: MonotonicClock.now)
            },
            pathCPU: {
                [
                    ("takeover-rx", ThreadCPU.ownThreads("takeover-rx")),
                    ("takeover-track", ThreadCPU.ownThreads("takeover-track")),
                ]
            },
            finish: {
                let result = pipeline!.stop(timeout: .seconds(5))
                // Later phases must find no socket in the map (the socket itself closes with the pipeline).
                try program.unregisterSocket(queue: 0)
                guard result.joined, result.receiveFailure == nil else {
                    throw BenchError.failed(
                        "pipeline did not stop cleanly: \(result.receiveFailure ?? "join timed out")")
                }
                let statistics = result.statistics
                logBatching(statistics.receive)
                return (
                    statistics.recordsTracked,
                    [
                        ("AF_XDP socket (RX ring full, no fill buffer)", statistics.source.dropped),
                        ("pipeline ring full", statistics.receive.droppedRingFull),
                        ("malformed", statistics.receive.malformed.total),
                    ]
                )
            })
    }

    func tcpdump(rate: Int?) throws -> PhaseResult {
        var process: LabProcess?
        return try phase(
            "tcpdump -w /dev/null", rate: rate,
            start: {
                let started = try lab.start(
                    in: capture, ["tcpdump", "-i", "c0", "-n", "-w", "/dev/null", "ether host \(Self.peerMAC)"])
                guard started.waitForOutput(containing: "listening on", timeout: .seconds(10)) else {
                    throw BenchError.failed("tcpdump did not start: \(started.standardError)")
                }
                process = started
            }, pathCPU: { [("tcpdump", ThreadCPU.process(process!.processIdentifier))] },
            finish: {
                process!.stop(grace: .seconds(5))
                let report = process!.standardError
                func number(before suffix: String) -> UInt64 {
                    for line in report.split(separator: "\n") where line.hasSuffix(suffix) {
                        return UInt64(line.split(separator: " ").first ?? "") ?? 0
                    }
                    return 0
                }
                return (
                    number(before: "packets captured"),
                    [("dropped by kernel", number(before: "packets dropped by kernel"))]
                )
            })
    }
}

/// How many frames each `receive` call brought (the backend's batching), on standard error.
func logBatching(_ receive: CaptureReceiveCounters) {
    let perBatch = receive.framesReceived / max(receive.batches, 1)
    FileHandle.standardError.write(
        Data("  \(receive.framesReceived) frames in \(receive.batches) batches (\(perBatch) per batch)\n".utf8))
}

/// "NAPI 1.23 + takeover-rx 0.45 + … = 2.34": CPU µs per arrived frame, by thread.
func cpuPerFrame(_ result: PhaseResult) -> String {
    guard result.arrived > 0, !result.cpu.isEmpty else { return "—" }
    let perFrame = result.cpu.map { ($0.0, $0.1 * 1e6 / Double(result.arrived)) }
    let parts = perFrame.map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: " + ")
    return perFrame.count == 1 ? parts : "\(parts) = \(String(format: "%.2f", perFrame.reduce(0) { $0 + $1.1 }))"
}

func formatRate(_ value: Double) -> String { String(format: "%.0f", value) }
func percent(_ part: Double, of whole: Double) -> String {
    whole > 0 ? String(format: "%.1f %%", 100 * part / whole) : "n/a"
}

func runCapture(_ options: CaptureBenchmarkOptions) throws {
    let bench = try CaptureBenchmark(options)
    defer { bench.teardown() }
    var results: [PhaseResult] = []
    let ceiling = try bench.ceiling(rate: nil)
    results.append(ceiling)
    let afxdp = try bench.afxdpPipeline(rate: nil)
    results.append(afxdp)
    let pcap = try bench.pcapPipeline(rate: nil)
    results.append(pcap)
    if options.tcpdump { results.append(try bench.tcpdump(rate: nil)) }
    // The rate the libpcap pipeline held, offered again, paced: does each path keep up without drops?
    let held = Int(pcap.capturedPerSecond)
    if held > 0 {
        results.append(try bench.ceiling(rate: held))
        results.append(try bench.afxdpPipeline(rate: held))
        results.append(try bench.pcapPipeline(rate: held))
        if options.tcpdump { results.append(try bench.tcpdump(rate: held)) }
    }

    var load = [Double](repeating: 0, count: 3)
    _ = getloadavg(&load, 3)
    let loadText = load.map { String(format: "%.2f", $0) }.joined(separator: " ")
    print(
        "XDP attach: \(bench.attachment.map { "\($0.mode)" } ?? "none"); AF_XDP bind: \(bench.bindMode); "
            + "AF_XDP busy poll: \(bench.busyPollState); "
            + "c0 NAPI: \(options.threadedNAPI ? "threaded" : "softirq")"
            + "\(options.deferHardIRQs.map { ", defer hard IRQs \($0.count), gro_flush_timeout \($0.flushTimeoutNanoseconds) ns" } ?? ""); "
            + "\(options.frameLength)-byte frames, \(options.flows) UDP flows, "
            + "\(options.seconds) s per phase; load average \(loadText)")
    print("")
    print(
        "| path | offered | sent frames/s | arrived at c0 frames/s (XDP) | captured frames/s | captured / arrived "
            + "| % of ceiling | drops reported by the path | not captured, not reported "
            + "| receive-side CPU per frame (µs) |")
    print("|---|---|---:|---:|---:|---:|---:|---|---:|---|")
    for result in results {
        // Paced phases compare with the ceiling phase at the same pace.
        let reference =
            result.pacedRate == nil
            ? ceiling : results.first { $0.pacedRate == result.pacedRate && $0.path.hasPrefix("kernel") }!
        let isCeiling = result.path.hasPrefix("kernel")
        let captured = isCeiling ? result.arrived : result.captured
        let capturedRate = isCeiling ? result.arrivedPerSecond : result.capturedPerSecond
        let unexplained = Int64(result.arrived) - Int64(captured) - Int64(result.reportedDropTotal)
        let drops = result.reportedDrops.filter { $0.1 > 0 || $0.0.hasPrefix("kernel") || $0.0.hasPrefix("dropped") }
            .map { "\($0.0): \($0.1)" }.joined(separator: "; ")
        let columns = [
            result.path, result.pacedRate.map { "paced \($0)/s" } ?? "flood", formatRate(result.sent.framesPerSecond),
            formatRate(result.arrivedPerSecond), formatRate(capturedRate),
            percent(Double(captured), of: Double(result.arrived)),
            percent(capturedRate, of: reference.arrivedPerSecond),
            drops.isEmpty ? "—" : drops, isCeiling ? "—" : "\(unexplained)", cpuPerFrame(result),
        ]
        print("| " + columns.joined(separator: " | ") + " |")
    }
    print("")
    let ratio = String(format: "%.2f", afxdp.capturedPerSecond / max(pcap.capturedPerSecond, 1e-9))
    let afxdpShare = percent(afxdp.capturedPerSecond, of: ceiling.arrivedPerSecond)
    let pcapShare = percent(pcap.capturedPerSecond, of: ceiling.arrivedPerSecond)
    print(
        "flood: AF_XDP / libpcap captured = \(ratio)×; AF_XDP = \(afxdpShare) of the ceiling; "
            + "libpcap = \(pcapShare) of the ceiling")
}

let arguments = CommandLine.arguments.dropFirst()
do {
    switch arguments.first {
    case "capture": try runCapture(try CaptureBenchmarkOptions(arguments.dropFirst()))
    case "announce": try runAnnounceLatency(try AnnounceLatencyOptions(arguments.dropFirst()))
    case "failover": try runFailover(try FailoverBenchmarkOptions(arguments.dropFirst()))
    default: throw BenchError.usage("subcommands: capture, announce, failover")
    }
} catch {
    FileHandle.standardError.write(Data("takeover-bench: \(error)\n".utf8))
    exit(1)
}
