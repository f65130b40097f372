// takeover-bench announce [--takeovers N]: how long from a takeover decision to its first announcement on the
// wire (issue #4's budget: ≤ 100 µs at p99).
//
// A hub lab with two hosts: `standby` runs a `TakeoverResponder` over libpcap, as the engine does;
// `observer` captures with libpcap in immediate mode, kernel timestamps. The decision is stamped on the
// monotonic clock just before `takeOver(addresses:)`, the first gratuitous ARP by the observer's kernel (realtime
// stamp, moved to the monotonic clock by PcapCapture): one machine, one clock. Between takeovers the responder
// is released and the loop rests for a random 1–5 ms, so decisions fall at random points of its wait.
//
// Two responders in turn, same lab, same run: over the PcapCapture itself (a `PollablePacketSource`: the
// command's EventFD wakes the loop) and over a wrapper that hides the descriptor (the loop wakes every
// `pollInterval`, 1 ms: how the responder worked before the wake-up).
import Foundation
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import TakeoverLinux

struct AnnounceLatencyOptions {
    var takeovers = 1000

    init(_ arguments: ArraySlice<String>) throws {
        var rest = arguments
        while let flag = rest.popFirst() {
            switch flag {
            case "--takeovers":
                takeovers =
                    try rest.popFirst().flatMap(Int.init).flatMap { (10...100_000).contains($0) ? $0 : nil }
                    ?? { throw BenchError.usage("--takeovers: 10 to 100000") }()
            default: throw BenchError.usage("announce: unknown option \(flag)")
            }
        }
    }
}

/// A PcapCapture that does not show its descriptor: the responder can only wait in `waitForFrames`.
final class PolledOnlyPort: PacketSource, PacketSink {
    let capture: PcapCapture
    init(_ capture: PcapCapture) { self.capture = capture }
    var maximumFrameLength: Int { capture.maximumFrameLength }
    func waitForFrames(timeout: Duration) throws(PcapCaptureError) -> Bool {
        try capture.waitForFrames(timeout: timeout)
    }
    func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(PcapCaptureError) -> Int {
        try capture.receive(limit: limit, handler)
    }
    func statistics() throws(PcapCaptureError) -> PacketSourceStatistics { try capture.statistics() }
    func transmit(_ build: (UnsafeMutableRawBufferPointer) -> Int) throws(PcapCaptureError) -> TransmitOutcome {
        try capture.transmit(build)
    }
    func flush() throws(PcapCaptureError) { try capture.flush() }
}

struct LatencySummary {
    var label: String
    var samples: [Double]  // µs

    func percentile(_ p: Double) -> Double {
        let sorted = samples.sorted()
        return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)]
    }

    var row: String {
        let columns = [50.0, 90, 99].map { String(format: "%.1f", percentile($0)) }
        return "| \(label) | \(samples.count) | " + columns.joined(separator: " | ")
            + " | \(String(format: "%.1f", samples.max() ?? 0)) |"
    }
}

func runAnnounceLatency(_ options: AnnounceLatencyOptions) throws {
    let lab = try NetworkLab("annlat")
    defer { lab.teardown() }
    let hub = try lab.addHub()
    let observer = try lab.connect(try lab.addHost("observer"), to: hub, addresses: ["192.0.2.10/24"])
    let standby = try lab.connect(try lab.addHost("standby"), to: hub, addresses: ["192.0.2.30/24"])
    let wire = try lab.withNamespace(of: observer.host) {
        try PcapCapture(PcapCaptureConfiguration(interface: observer.name, delivery: .immediate))
    }
    try wire.setFilter("arp and ether src \(standby.mac)")
    let taken: [IPAddress] = [.v4(IPv4Address(192, 0, 2, 99))]

    func openPort() throws -> PcapCapture {
        let port = try lab.withNamespace(of: standby.host) {
            try PcapCapture(PcapCaptureConfiguration(interface: standby.name, delivery: .immediate))
        }
        try port.setFilter("arp")
        return port
    }
    let configuration = TakeoverResponderConfiguration(mac: standby.mac, announcements: .init(count: 1))

    func drainWire() throws {
        while try wire.receive(limit: 64, { _ in }) > 0 {}
    }

    /// N takeovers: (decision → first frame on the observer's wire, decision → the responder's own stamp).
    func measure(_ responder: TakeoverResponder, label: String) throws -> [LatencySummary] {
        var onWire: [Double] = []
        var stamped: [Double] = []
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<options.takeovers {
            try drainWire()
            let decided = MonotonicClock.now()
            try responder.takeOver(addresses: taken)
            var first: MonotonicTime?
            let deadline = decided + 1_000_000_000
            while first == nil && MonotonicClock.now() < deadline {
                if try wire.waitForFrames(timeout: .milliseconds(20)) {
                    _ = try wire.receive(limit: 16) { frame in first = first ?? frame.timestamp }
                }
            }
            guard let first else { throw BenchError.failed("\(label): no announcement within 1 s") }
            onWire.append(Double(Int64(bitPattern: first.nanoseconds &- decided.nanoseconds)) / 1000)
            guard responder.release(timeout: .seconds(1)) else { throw BenchError.failed("\(label): no release") }
            if let own = responder.status.firstAnnouncementAt {
                stamped.append(Double(own.nanoseconds(since: decided)) / 1000)
            }
            usleep(UInt32.random(in: 1000...5000, using: &generator))
        }
        return [
            LatencySummary(label: "\(label): decision → first frame on the observer's wire", samples: onWire),
            LatencySummary(label: "\(label): decision → responder's firstAnnouncementAt", samples: stamped),
        ]
    }

    var rows: [LatencySummary] = []
    let woken = try TakeoverResponder(port: try openPort(), configuration: configuration)
    usleep(100_000)
    rows += try measure(woken, label: "EventFD wake (PollablePacketSource)")
    woken.shutdown()
    let polled = try TakeoverResponder(port: PolledOnlyPort(try openPort()), configuration: configuration)
    usleep(100_000)
    rows += try measure(polled, label: "1 ms poll interval (no wake-up)")
    polled.shutdown()

    var load = [Double](repeating: 0, count: 3)
    _ = getloadavg(&load, 3)
    print("\(options.takeovers) takeovers per responder; load average \(load.map { String(format: "%.2f", $0) })")
    print("")
    print("| path | takeovers | p50 µs | p90 µs | p99 µs | max µs |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows { print(row.row) }
}
