import Foundation
public import TakeoverCore

/// Who answered for the group address on the wire, read from a capture of the hub.
///
/// An *answer* is a frame by which a host claims the address: an ARP reply or a gratuitous ARP (sender address =
/// the group address), or an IPv4 frame sent from the group address (the service's replies). An *announcement* is a
/// gratuitous ARP (sender = target = the group address). A *master advertisement* is the standby telling the wire
/// it serves: a takeover heartbeat with state active, or a VRRP/CARP advertisement (IP protocol 112) from it.
public struct OwnershipTimeline: Sendable {
    public struct Answer: Sendable, Hashable {
        public var time: UInt64
        public var mac: MACAddress
        public var isAnnouncement: Bool
        /// "gratuitous ARP", "ARP reply", "IPv4 (UDP)", ...
        public var kind: String
    }

    /// A window in which two MACs answered for the address: ownership moved and moved back (or flapped) within
    /// `window` of the previous move. Clean moves (failover, later failback) are not windows.
    public struct DualOwnerWindow: Sendable, Hashable, Codable {
        public var start: UInt64
        public var end: UInt64
        public var switches: Int
        public var durationNanoseconds: UInt64 { end - start }

        public init(start: UInt64, end: UInt64, switches: Int) {
            self.start = start
            self.end = end
            self.switches = switches
        }
    }

    public var answers: [Answer] = []
    /// Wall-clock ns of every master advertisement by `standbyIP`.
    public var standbyMasterAdvertisements: [UInt64] = []

    public init(records: [PcapRecord], address: IPv4Address, standbyIP: IPv4Address, heartbeatPort: UInt16 = 7410) {
        let target = address.rawValue
        for record in records {
            let frame = record.data
            guard frame.count >= 14 else { continue }
            let source = MACAddress(frame[6], frame[7], frame[8], frame[9], frame[10], frame[11])
            let etherType = UInt16(frame[12]) << 8 | UInt16(frame[13])
            func u32(_ offset: Int) -> UInt32 {
                UInt32(frame[offset]) << 24 | UInt32(frame[offset + 1]) << 16 | UInt32(frame[offset + 2]) << 8 | UInt32(frame[offset + 3])
            }
            if etherType == 0x0806, frame.count >= 42 {
                let operation = UInt16(frame[20]) << 8 | UInt16(frame[21])
                let senderIP = u32(28), targetIP = u32(38)
                guard senderIP == target else { continue }
                let gratuitous = targetIP == target
                if operation == 2 || gratuitous {
                    answers.append(Answer(
                        time: record.timestampNanoseconds, mac: source, isAnnouncement: gratuitous,
                        kind: gratuitous ? "gratuitous ARP" : "ARP reply"))
                }
            } else if etherType == 0x0800, frame.count >= 34 {
                let headerLength = Int(frame[14] & 0x0F) * 4
                let sourceIP = u32(26)
                let proto = frame[23]
                if sourceIP == target {
                    answers.append(Answer(
                        time: record.timestampNanoseconds, mac: source, isAnnouncement: false,
                        kind: proto == 17 ? "UDP" : proto == 6 ? "TCP" : proto == 1 ? "ICMP" : "IPv4 \(proto)"))
                } else if sourceIP == standbyIP.rawValue {
                    if proto == 112 {
                        standbyMasterAdvertisements.append(record.timestampNanoseconds)
                    } else if proto == 17, frame.count >= 14 + headerLength + 8 + 13 {
                        let udp = 14 + headerLength
                        let port = UInt16(frame[udp + 2]) << 8 | UInt16(frame[udp + 3])
                        // The heartbeat's state byte is at offset 12 of its payload (docs/heartbeat.md); 2 = active.
                        if port == heartbeatPort, frame[udp + 8 + 12] == 2 {
                            standbyMasterAdvertisements.append(record.timestampNanoseconds)
                        }
                    }
                }
            }
        }
        answers.sort { $0.time < $1.time }
    }

    /// The first announcement at or after `time` from a MAC other than `excluding`.
    public func firstAnnouncement(after time: UInt64, excluding: MACAddress) -> UInt64? {
        answers.first { $0.time >= time && $0.isAnnouncement && $0.mac != excluding }?.time
    }

    /// The first answer at or after `time` from a MAC other than `excluding`, of any kind or of `kind` ("UDP"…).
    public func firstAnswer(after time: UInt64, excluding: MACAddress, kind: String? = nil) -> UInt64? {
        answers.first { $0.time >= time && $0.mac != excluding && (kind == nil || $0.kind == kind) }?.time
    }

    public func firstMasterAdvertisement(after time: UInt64) -> UInt64? {
        standbyMasterAdvertisements.first { $0 >= time }
    }

    /// Every MAC that answered at or after `time`.
    public func macs(answeringAfter time: UInt64) -> Set<MACAddress> {
        Set(answers.filter { $0.time >= time }.map(\.mac))
    }

    /// Ownership moves (consecutive answers from different MACs) grouped: moves closer than `window` to the previous
    /// one belong to one episode; an episode of two or more moves is a dual-owner window (A→B→A: both answered).
    /// `counting` picks the answers that count (all by default).
    public func dualOwnerWindows(window: UInt64 = 1_000_000_000, counting: (Answer) -> Bool = { _ in true }) -> [DualOwnerWindow] {
        let answers = self.answers.filter(counting)
        var moves: [UInt64] = []
        for (previous, next) in zip(answers, answers.dropFirst()) where previous.mac != next.mac {
            moves.append(next.time)
        }
        var windows: [DualOwnerWindow] = []
        var episode: [UInt64] = []
        func close() {
            if episode.count >= 2 { windows.append(DualOwnerWindow(start: episode.first!, end: episode.last!, switches: episode.count)) }
            episode = []
        }
        for move in moves {
            if let last = episode.last, move - last > window { close() }
            episode.append(move)
        }
        close()
        return windows
    }
}

extension PcapFile {
    /// Reads a capture file (what tcpdump `-w` wrote).
    public static func read(_ path: String) throws -> PcapFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
        return try PcapFile(bytes: [UInt8](data))
    }
}
