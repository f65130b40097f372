import TakeoverCore
import TakeoverLab
import Testing

/// The capture side of the failover lab, without root: reading pcap files and telling who answered for an address.
@Suite struct OwnershipTimelineTests {
    static let address = IPv4Address(192, 0, 2, 100)
    static let client = IPv4Address(192, 0, 2, 10)
    static let standbyIP = IPv4Address(192, 0, 2, 30)
    static let a = MACAddress(0x02, 0, 0, 0, 0, 0x0A)
    static let b = MACAddress(0x02, 0, 0, 0, 0, 0x0B)
    static let clientMAC = MACAddress(0x02, 0, 0, 0, 0, 0x10)

    static func bytes(_ mac: MACAddress) -> [UInt8] { mac.description.split(separator: ":").map { UInt8($0, radix: 16)! } }
    static func bytes(_ ip: IPv4Address) -> [UInt8] {
        [UInt8(ip.rawValue >> 24), UInt8(ip.rawValue >> 16 & 0xFF), UInt8(ip.rawValue >> 8 & 0xFF), UInt8(ip.rawValue & 0xFF)]
    }

    /// An ARP frame from `mac` claiming `sender`; `reply` or a request for `target`.
    static func arp(from mac: MACAddress, sender: IPv4Address, target: IPv4Address, reply: Bool) -> [UInt8] {
        [UInt8](repeating: 0xFF, count: 6) + bytes(mac) + [0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, reply ? 2 : 1]
            + bytes(mac) + bytes(sender) + [UInt8](repeating: 0, count: 6) + bytes(target)
    }

    static func udp(from mac: MACAddress, source: IPv4Address, port: UInt16 = 9000, payload: [UInt8] = [1, 2, 3]) -> [UInt8] {
        FrameInjector.udpFrame(
            from: mac, to: clientMAC, source: source, destination: client, sourcePort: port, destinationPort: port,
            payload: payload)
    }

    static func tcp(from mac: MACAddress) -> [UInt8] {
        var frame = udp(from: mac, source: address)
        frame[23] = 6  // the protocol byte: the timeline classifies by it
        return frame
    }

    static func record(_ milliseconds: UInt64, _ frame: [UInt8]) -> PcapRecord {
        PcapRecord(timestampNanoseconds: 1_000_000_000_000 + milliseconds * 1_000_000, data: frame)
    }

    static func timeline(_ records: [PcapRecord]) -> OwnershipTimeline {
        OwnershipTimeline(records: records, address: address, standbyIP: standbyIP)
    }

    @Test func cleanFailoverHasNoDualOwnerWindowAndFindsTheAnnouncement() {
        let timeline = Self.timeline([
            Self.record(0, Self.udp(from: Self.a, source: Self.address)),
            Self.record(1, Self.udp(from: Self.a, source: Self.address)),
            Self.record(40, Self.arp(from: Self.b, sender: Self.address, target: Self.address, reply: false)),
            Self.record(41, Self.udp(from: Self.b, source: Self.address)),
            // Not claims: an ARP request from the standby's own address, and traffic from another address.
            Self.record(42, Self.arp(from: Self.a, sender: IPv4Address(192, 0, 2, 20), target: Self.client, reply: false)),
            Self.record(43, Self.udp(from: Self.a, source: IPv4Address(192, 0, 2, 20))),
        ])
        #expect(timeline.answers.count == 4)
        #expect(timeline.dualOwnerWindows().isEmpty)
        let failure = 1_000_000_000_000 + 2_000_000 as UInt64
        #expect(timeline.firstAnnouncement(after: failure, excluding: Self.a) == 1_000_000_000_000 + 40_000_000)
        #expect(timeline.firstAnswer(after: failure, excluding: Self.a) == 1_000_000_000_000 + 40_000_000)
        #expect(timeline.macs(answeringAfter: failure) == [Self.b])
    }

    @Test func interleavedAnswersFormOneWindowAndASlowFailbackDoesNot() {
        let flapping = Self.timeline([
            Self.record(0, Self.udp(from: Self.a, source: Self.address)),
            Self.record(40, Self.arp(from: Self.b, sender: Self.address, target: Self.address, reply: true)),
            Self.record(60, Self.arp(from: Self.a, sender: Self.address, target: Self.client, reply: true)),
            Self.record(70, Self.udp(from: Self.b, source: Self.address)),
        ])
        let expected = OwnershipTimeline.DualOwnerWindow(
            start: 1_000_000_000_000 + 40_000_000, end: 1_000_000_000_000 + 70_000_000, switches: 3)
        #expect(flapping.dualOwnerWindows() == [expected])
        let failback = Self.timeline([
            Self.record(0, Self.udp(from: Self.a, source: Self.address)),
            Self.record(40, Self.udp(from: Self.b, source: Self.address)),
            Self.record(2_500, Self.udp(from: Self.a, source: Self.address)),
        ])
        #expect(failback.dualOwnerWindows().isEmpty)
    }

    @Test func tcpSegmentsCanBeLeftOutOfTheCount() {
        let timeline = Self.timeline([
            Self.record(0, Self.udp(from: Self.a, source: Self.address)),
            Self.record(40, Self.udp(from: Self.b, source: Self.address)),
            Self.record(240, Self.tcp(from: Self.a)),
            Self.record(241, Self.udp(from: Self.b, source: Self.address)),
        ])
        #expect(timeline.dualOwnerWindows().count == 1)
        #expect(timeline.dualOwnerWindows { $0.kind != "TCP" }.isEmpty)
    }

    @Test func masterAdvertisementsAreActiveHeartbeatsAndVRRPFromTheStandby() {
        var heartbeat = [UInt8](repeating: 0, count: 80)
        heartbeat[12] = 1  // standby: not an advertisement of mastership
        let waiting = Self.udp(from: Self.b, source: Self.standbyIP, port: 7410, payload: heartbeat)
        heartbeat[12] = 2  // active
        let active = Self.udp(from: Self.b, source: Self.standbyIP, port: 7410, payload: heartbeat)
        var vrrp = Self.udp(from: Self.b, source: Self.standbyIP)
        vrrp[23] = 112
        let timeline = Self.timeline([Self.record(1, waiting), Self.record(2, active), Self.record(3, vrrp)])
        #expect(timeline.standbyMasterAdvertisements == [1_000_000_000_000 + 2_000_000, 1_000_000_000_000 + 3_000_000])
    }
}
