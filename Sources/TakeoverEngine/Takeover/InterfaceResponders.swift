import TakeoverCore
import TakeoverLinux
import Synchronization
import Logging

/// The engine's `AddressResponder`: one `TakeoverResponder` per interface, over a libpcap port that sees only
/// ARP and IPv6 neighbour discovery. Several groups on one interface share its responder: it answers for, and
/// announces, the union of the addresses of the groups we serve there.
final class InterfaceResponders: AddressResponder {
    private struct Entry: Sendable {
        let responder: TakeoverResponder
        var serving: [IPAddress] = []
    }

    private let entries: Mutex<[String: Entry]>
    /// Per interface, the peer's correspondents and their MACs as the session tracker saw them: they get a
    /// unicast announcement at takeover too, even those that never asked for the address while we watched.
    private let correspondents: [String: LinkAddressBook]
    private let log: Logger

    /// Opens the responders; `watched` are the peer's group addresses per interface, whose askers are learned
    /// while we stand by so they get a unicast announcement at takeover. `inbox`: the ARP/ND frames the AF_XDP
    /// capture diverts to the responder (nil when the interface's capture is libpcap).
    init(
        interfaces: [(name: String, mac: MACAddress, watched: [IPAddress], inbox: FrameInbox?)],
        announcements: AnnouncementSettings, correspondents: [String: LinkAddressBook], log: Logger
    ) throws(EngineError) {
        var entries: [String: Entry] = [:]
        for interface in interfaces {
            do {
                // ARP and ND only pass its filter: a small ring (see `PcapCaptureConfiguration.bufferSize`).
                let port = try PcapCapture(
                    PcapCaptureConfiguration(
                        interface: interface.name, bufferSize: PcapCaptureConfiguration.smallRing, delivery: .immediate))
                try port.setFilter("arp or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))")
                let responder = try TakeoverResponder(
                    port: port,
                    configuration: TakeoverResponderConfiguration(
                        mac: interface.mac,
                        announcements: AnnouncementSchedule.Configuration(
                            count: announcements.count, spacing: announcements.spacing, refresh: announcements.refresh)),
                    inbox: interface.inbox)
                if !interface.watched.isEmpty { try responder.watch(addresses: interface.watched) }
                entries[interface.name] = Entry(responder: responder)
            } catch {
                entries.values.forEach { _ = $0.responder.shutdown() }
                throw .responderFailed(interface: interface.name, "\(error)")
            }
        }
        self.entries = Mutex(entries)
        self.correspondents = correspondents
        self.log = log
    }

    func startAnswering(_ addresses: [IPAddress], on interface: String) {
        let update = entries.withLock { entries -> (TakeoverResponder, [IPAddress])? in
            guard var entry = entries[interface] else { return nil }
            entry.serving += addresses.filter { !entry.serving.contains($0) }
            entries[interface] = entry
            return (entry.responder, entry.serving)
        }
        guard let (responder, serving) = update else { return }
        do {
            try responder.takeOver(addresses: serving)
            // Posted after the takeover, so copying them out does not delay its first announcement; the loop
            // usually takes both commands at once, and the unicasts join the first round.
            let clients =
                correspondents[interface]?.withEntries { entries in
                    entries.map { KnownClient(mac: $0.value, address: $0.key) }
                } ?? []
            if !clients.isEmpty { try responder.announce(to: clients) }
        } catch {
            log.error("\(interface): responder did not take over \(serving): \(error)")
        }
    }

    func stopAnswering(_ addresses: [IPAddress], on interface: String) {
        let update = entries.withLock { entries -> (TakeoverResponder, [IPAddress])? in
            guard var entry = entries[interface] else { return nil }
            entry.serving.removeAll { addresses.contains($0) }
            entries[interface] = entry
            return (entry.responder, entry.serving)
        }
        guard let (responder, remaining) = update else { return }
        if remaining.isEmpty {
            if !responder.release() { log.warning("\(interface): responder did not confirm its release in time") }
        } else {
            do {
                try responder.takeOver(addresses: remaining)
            } catch {
                log.error("\(interface): responder did not narrow to \(remaining): \(error)")
            }
        }
    }

    /// Each interface's responder status (for `takeover status` and the metrics).
    func statuses() -> [String: TakeoverResponderStatus] {
        entries.withLock { $0.mapValues(\.responder) }.mapValues(\.status)
    }

    /// Sends the announcements again, now, for the addresses served on each interface (operator's `announce`):
    /// a repeated `takeOver` restarts the schedule at round 0. Returns what was announced, per interface.
    func announceAgain() -> [String: [IPAddress]] {
        let serving = entries.withLock { entries in
            entries.compactMapValues { $0.serving.isEmpty ? nil : ($0.responder, $0.serving) }
        }
        var announced: [String: [IPAddress]] = [:]
        for (interface, (responder, addresses)) in serving {
            do {
                try responder.takeOver(addresses: addresses)
                announced[interface] = addresses
            } catch {
                log.error("\(interface): announcing \(addresses) again failed: \(error)")
            }
        }
        return announced
    }

    func shutdown() {
        let responders = entries.withLock { $0.values.map(\.responder) }
        for responder in responders { _ = responder.shutdown() }
    }
}
