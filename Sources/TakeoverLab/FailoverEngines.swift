import Foundation
import TakeoverCore

#if canImport(Glibc)
import Glibc
#endif

/// Our daemon's detection settings beyond the interval and the miss count.
public struct TakeoverDetection: Sendable, Hashable, Codable {
    /// `heartbeat.unanswered-window`: the unanswered-requests rule's W; nil: the rule is off.
    public var unansweredWindow: Duration?
    /// `heartbeat.peer-traffic` (the lab's default is off, to compare with keepalived on heartbeats alone).
    public var peerTraffic: Bool
    /// `heartbeat.stall-cover`; nil leaves the daemon's default (`.zero`: off).
    public var stallCover: Duration?

    public init(unansweredWindow: Duration? = nil, peerTraffic: Bool = false, stallCover: Duration? = nil) {
        self.unansweredWindow = unansweredWindow
        self.peerTraffic = peerTraffic
        self.stallCover = stallCover
    }

    /// " unanswered=8ms", " peer-traffic", " stall-cover=0s": what the system's name adds (nothing for the defaults).
    var suffix: String {
        (unansweredWindow.map { " unanswered=\($0.labText)" } ?? "") + (peerTraffic ? " peer-traffic" : "")
            + (stallCover.map { " stall-cover=\($0.labText)" } ?? "")
    }
}

/// A failover system under test, with its settings.
public enum FailoverSystem: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Our daemon: heartbeat interval, miss count, TCP policy (`none`, `reset`, `resume`), on two channels (the
    /// service segment and the dedicated link), and further detection settings.
    case takeover(interval: Duration, missCount: Int, tcpPolicy: String, detection: TakeoverDetection = .init())
    /// keepalived, VRRPv3, one instance, priorities 200/100, `advert_int` (10 ms is its minimum).
    case keepalived(advertInterval: Duration)
    /// ucarp, advbase in whole seconds (1 s is its minimum), advskew 0/100.
    case ucarp(advertBase: Int)

    public var description: String {
        switch self {
        case .takeover(let interval, let missCount, let policy, let detection):
            "takeover \(interval.labText)×\(missCount) tcp=\(policy)\(detection.suffix)"
        case .keepalived(let interval): "keepalived \(interval.labText)"
        case .ucarp(let base): "ucarp \(base)s"
        }
    }

    /// How long a run watches after the failure: comfortably past the system's own detection time.
    public var settleTime: Duration {
        switch self {
        // Past detection and past TCP's retransmission backoff at that time (200 ms doubling: a client stream that
        // stalled 3 s waits until about 6 s for its next try).
        case .takeover(let interval, let missCount, _, _): max(.milliseconds(800), interval * (missCount * 3) + .milliseconds(500))
        case .keepalived(let interval): max(.milliseconds(800), interval * 8)
        case .ucarp(let base): .seconds(base * 8)
        }
    }

    /// How long both nodes may take to settle into primary active / standby waiting after their start.
    var startupBound: Duration {
        switch self {
        case .takeover: .seconds(10)
        case .keepalived(let interval): max(.seconds(5), interval * 10)
        case .ucarp(let base): .seconds(base * 8)
        }
    }
}

extension Duration {
    /// "1ms", "10ms", "1s", "1500us": the form our configuration file reads.
    public var labText: String {
        let nanoseconds = components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        if nanoseconds % 1000 == 0 { return "\(nanoseconds / 1000)us" }
        return "\(nanoseconds)ns"
    }

    public var labNanoseconds: UInt64 { UInt64(components.seconds) * 1_000_000_000 + UInt64(components.attoseconds / 1_000_000_000) }
}

/// One node of the pair as an engine sees it.
public struct FailoverNode: Sendable {
    public var name: String
    public var id: Int
    public var priority: Int
    public var lan: LabInterface
    public var heartbeat: LabInterface?

    public init(name: String, id: Int, priority: Int, lan: LabInterface, heartbeat: LabInterface?) {
        self.name = name
        self.id = id
        self.priority = priority
        self.lan = lan
        self.heartbeat = heartbeat
    }

    /// The service link, then the dedicated heartbeat link if any.
    public var links: [LabInterface] { [lan] + (heartbeat.map { [$0] } ?? []) }
}

/// Starts one failover system's daemons in the lab, as real processes in the server namespaces, with a
/// configuration written to a scratch directory for this run.
public struct FailoverEngineLauncher: Sendable {
    public let system: FailoverSystem
    public let groupAddress: String
    public let scratch: String
    public let takeoverExecutable: String
    public let preempt: Bool

    public init(system: FailoverSystem, groupAddress: String, scratch: String, takeoverExecutable: String, preempt: Bool) {
        self.system = system
        self.groupAddress = groupAddress
        self.scratch = scratch
        self.takeoverExecutable = takeoverExecutable
        self.preempt = preempt
    }

    /// Text in a node's log that says it settled as the waiting standby (nil: watch the address instead).
    public var standbyMarker: String? {
        switch system {
        case .takeover: "→ standby"
        case .keepalived: "Entering BACKUP STATE"
        case .ucarp: nil
        }
    }

    /// Writes what every node of this run shares (the takeover key: `takeover keygen`, mode 0600).
    public func prepare() throws(LabError) {
        if case .takeover = system {
            let result = try LabProcess.run([takeoverExecutable, "keygen", "--output", scratch + "/key"], timeout: .seconds(10))
            guard result.succeeded else {
                throw .commandFailed(arguments: result.arguments, status: result.status, standardError: result.standardError)
            }
        }
    }

    /// `me`'s control socket (takeover only: each node needs its own, the namespaces share the file system).
    public func controlSocket(for me: FailoverNode) -> String { scratch + "/\(me.name).control.sock" }

    /// Where `me`'s service receives resumed connections (`engine.resume-socket` with `tcp-policy = "resume"`).
    public func resumeSocket(for me: FailoverNode) -> String { scratch + "/\(me.name).resume" }

    public func start(_ me: FailoverNode, peer: FailoverNode, in lab: NetworkLab) throws(LabError) -> LabProcess {
        switch system {
        case .takeover(let interval, let missCount, let policy, let detection):
            let path = scratch + "/\(me.name).toml"
            write(
                takeoverConfiguration(
                    me, peer: peer, interval: interval, missCount: missCount, policy: policy, detection: detection),
                to: path)
            return try lab.start(in: me.lan.host, [takeoverExecutable, "run", "--config", path])
        case .keepalived(let interval):
            let path = scratch + "/\(me.name).keepalived.conf"
            write(keepalivedConfiguration(me, interval: interval), to: path)
            let stem = scratch + "/\(me.name).keepalived"
            return try lab.start(in: me.lan.host, [
                "keepalived", "-n", "-l", "-D", "--vrrp", "-f", path, "-p", stem + ".pid", "-r", stem + ".vrrp.pid",
                "-c", stem + ".checkers.pid",
            ])
        case .ucarp(let base):
            let up = scratch + "/\(me.name).up", down = scratch + "/\(me.name).down"
            // ucarp calls its scripts with the interface and the address; they add or remove it.
            write("#!/bin/sh\nip address add \(groupAddress)/24 dev \"$1\"\n", to: up, mode: 0o700)
            write("#!/bin/sh\nip address del \(groupAddress)/24 dev \"$1\"\n", to: down, mode: 0o700)
            write("labpass\n", to: scratch + "/ucarp.pass", mode: 0o600)
            var arguments = [
                "ucarp", "-i", me.lan.name, "-s", me.lan.ipv4!.description, "-v", "10", "-o", scratch + "/ucarp.pass",
                "-a", groupAddress, "-b", "\(base)", "-k", me.priority >= 200 ? "0" : "100", "-u", up, "-d", down, "-z", "-n",
            ]
            if preempt { arguments.append("-P") }
            return try lab.start(in: me.lan.host, arguments)
        }
    }

    private func write(_ text: String, to path: String, mode: mode_t = 0o600) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        chmod(path, mode)
    }

    func takeoverConfiguration(
        _ me: FailoverNode, peer: FailoverNode, interval: Duration, missCount: Int, policy: String,
        detection: TakeoverDetection = .init()
    ) -> String {
        var configuration = LabTakeoverConfiguration(
            me: .init(me), peer: .init(peer), groupAddresses: ["\(groupAddress)/24"], keyFile: "\(scratch)/key",
            controlSocket: controlSocket(for: me))
        configuration.interval = interval
        configuration.missCount = missCount
        configuration.tcpPolicy = policy
        configuration.peerTraffic = detection.peerTraffic
        configuration.unansweredWindow = detection.unansweredWindow
        configuration.stallCover = detection.stallCover
        configuration.resumeSocket = resumeSocket(for: me)
        configuration.preempt = preempt
        configuration.announcementSpacing = .milliseconds(2)
        return configuration.text
    }

    func keepalivedConfiguration(_ me: FailoverNode, interval: Duration) -> String {
        let seconds = Double(interval.labNanoseconds) / 1e9
        return """
            global_defs {
                router_id \(me.name)
                vrrp_version 3
                enable_script_security
                script_user root
            }
            vrrp_instance lab {
                state BACKUP
                interface \(me.lan.name)
                virtual_router_id 51
                priority \(me.priority)
                advert_int \(seconds)
                \(preempt ? "" : "nopreempt")
                virtual_ipaddress {
                    \(groupAddress)/24 dev \(me.lan.name)
                }
            }

            """
    }
}

/// Signals a process and every descendant (keepalived forks its VRRP process; a frozen or killed keepalived must
/// be all of it). Descendants first, so none is left orphaned and running.
public func signalProcessTree(_ root: Int32, _ signal: Int32) {
    signalProcesses(processTree(root), signal)
}

/// `root` and its descendants (at most 64), descendants first. Reads every process's /proc/PID/stat: a few ms of CPU
/// on a busy machine, so a failure injection collects the tree before its instant and only signals at it.
public func processTree(_ root: Int32) -> [Int32] {
    var children: [Int32: [Int32]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 2, let parent = Int32(fields[1]) { children[parent, default: []].append(pid) }
    }
    var order: [Int32] = []
    var stack = [root]
    while let pid = stack.popLast(), order.count < 64 {
        order.append(pid)
        stack.append(contentsOf: children[pid] ?? [])
    }
    return order.reversed()
}

public func signalProcesses(_ processes: [Int32], _ signal: Int32) {
    for pid in processes { kill(pid, signal) }
}
