import Foundation
import Glibc
import TakeoverCore
import TakeoverLinux
import Testing

/// LinkStateMonitor against real carrier changes: nl0's veth peer nl1 is taken down and up with `ip`, and
/// deleted. Root only; the namespace is deleted in a `defer`.
@Suite("link state monitor (root, namespaces)")
struct LinkStateMonitorTests {
    /// Reads events (each wait ≤ 2 s, at most 50 events) until one for `name` satisfies `match`.
    static func awaitEvent(
        _ monitor: LinkStateMonitor, for name: String, _ match: (LinkEvent) -> Bool
    ) throws -> LinkEvent? {
        for _ in 0..<50 {
            guard let event = try monitor.nextEvent(timeout: .seconds(2)) else { return nil }
            if event.link?.name == name, match(event) { return event }
        }
        return nil
    }

    @Test func carrierDownUpAndRemoval() async throws {
        let lab = NamespaceLab(test: "nlwatch")
        defer { lab.destroy() }
        let namespace = try RouteNetlinkSocketTests.makeLab(lab)
        let socket = try RouteNetlinkSocketTests.openSocket(in: namespace)
        // The kernel announces carrier from its linkwatch work, up to a second after the change: wait for
        // nl0 to be operationally up (≤ 3 s) so no announcement of the set-up is still on its way.
        let settle = ContinuousClock.now + .seconds(3)
        while try socket.link(named: "nl0").operationalState != .up, ContinuousClock.now < settle {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try socket.link(named: "nl0").hasCarrier)
        let monitor = try NamespaceLab.inNamespace(namespace) { try LinkStateMonitor() }
        // Nothing has changed since the monitor opened: a short wait times out.
        #expect(try monitor.nextEvent(timeout: .milliseconds(50)) == nil)

        try NamespaceLab.run(["ip", "-n", namespace, "link", "set", "nl1", "down"])
        let lost = try Self.awaitEvent(monitor, for: "nl0") { event in
            if case .changed(let link) = event { !link.hasCarrier } else { false }
        }
        #expect(lost?.link?.operationalState == .lowerLayerDown)
        #expect(lost?.link?.index == (try socket.link(named: "nl0").index))

        try NamespaceLab.run(["ip", "-n", namespace, "link", "set", "nl1", "up"])
        let regained = try Self.awaitEvent(monitor, for: "nl0") { event in
            if case .changed(let link) = event { link.hasCarrier } else { false }
        }
        #expect(regained?.link?.operationalState == .up)
        #expect(regained?.link?.hardwareAddress == RouteNetlinkSocketTests.mac)

        try NamespaceLab.run(["ip", "-n", namespace, "link", "del", "nl1"])  // takes its peer nl0 with it
        let removed = try Self.awaitEvent(monitor, for: "nl0") { event in
            if case .removed = event { true } else { false }
        }
        #expect(removed != nil)
    }

    /// Changes nobody reads fill the socket's receive queue; the monitor then reports `.overrun` (ENOBUFS)
    /// once, so the engine knows to re-read link state, and carries on with the events still queued.
    @Test func unreadBurstReportsOverrun() throws {
        let lab = NamespaceLab(test: "nlburst")
        defer { lab.destroy() }
        let namespace = try RouteNetlinkSocketTests.makeLab(lab)
        let monitor = try NamespaceLab.inNamespace(namespace) { try LinkStateMonitor() }
        // 2000 MTU changes in one `ip -batch` run: each is an RTM_NEWLINK of about 1 KB (several KB of
        // socket memory), far beyond the default receive buffer.
        let batch = FileManager.default.temporaryDirectory.appendingPathComponent("tkx-nlburst-\(getpid()).batch")
        defer { try? FileManager.default.removeItem(at: batch) }
        try (0..<2000).map { "link set nl1 mtu \(1280 + $0 % 200)" }.joined(separator: "\n")
            .write(to: batch, atomically: true, encoding: .utf8)
        try NamespaceLab.run(["ip", "-n", namespace, "-batch", batch.path])

        var overruns = 0
        var changes = 0
        for _ in 0..<5000 {
            guard let event = try monitor.nextEvent(timeout: .milliseconds(200)) else { break }
            if event == .overrun { overruns += 1 } else { changes += 1 }
        }
        #expect(overruns >= 1)
        #expect(changes > 0 && changes < 2000)
    }
}
