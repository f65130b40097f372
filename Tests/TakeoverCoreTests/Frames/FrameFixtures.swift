import Foundation
import TakeoverCore
import Testing

/// One row of Fixtures/frames/frames.json, written by Fixtures/frames/generate.py from scapy's encoder and
/// dissector (the independent side of every assertion here).
struct FrameVector: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var hex: String
    var expected: ExpectedFrame

    var testDescription: String { name }

    var bytes: [UInt8] {
        var result: [UInt8] = []
        var high: UInt8?
        for character in hex.utf8 {
            let nibble = character <= UInt8(ascii: "9") ? character - UInt8(ascii: "0") : character - UInt8(ascii: "a") + 10
            if let value = high {
                result.append(value << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return result
    }
}

/// What scapy read from the frame, in the fixture's snake_case keys.
struct ExpectedFrame: Decodable, Sendable {
    struct VLAN: Decodable, Sendable {
        var tpid: UInt16
        var id: UInt16
        var priority: UInt8
        var dei: UInt8
    }
    struct ARP: Decodable, Sendable {
        var op: UInt16
        var senderMac, senderIp, targetMac, targetIp: String
    }
    struct IP: Decodable, Sendable {
        var version: Int
        var src, dst: String
        var `protocol`: UInt8
        var hopLimit: UInt8
        var isFragment, moreFragments: Bool
        var fragmentOffset: UInt16
        var identification: UInt32
        var extensionHeaders: UInt8
        var transportOffset, transportLength: Int
    }
    struct TCPOptions: Decodable, Sendable {
        var mss: UInt16
        var windowScale: UInt8?
        var sackPermitted: Bool
        var timestamp: [UInt32]?
        var sack: [[UInt32]]
    }
    struct Transport: Decodable, Sendable {
        var kind: String
        var sport, dport: UInt16?
        /// TCP sequence number or ICMP echo sequence.
        var seq: UInt32?
        var ack: UInt32?
        /// TCP flags or neighbor advertisement flags.
        var flags: UInt16?
        var window: UInt16?
        var payloadOffset, payloadLength: Int?
        var options: TCPOptions?
        var isReply: Bool?
        var id: UInt16?
        var dataOffset, dataLength: Int?
        var target, linkLayerAddress: String?
        var type, code: UInt8?
    }

    var dst, src: String
    var vlans: [VLAN]
    var ethertype: UInt16
    var networkOffset: Int
    var arp: ARP?
    var ip: IP?
    var transport: Transport
}

enum FrameFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/frames")

    private struct File: Decodable { var vectors: [FrameVector] }

    static func load() throws -> [FrameVector] {
        let data = try Data(contentsOf: directory.appendingPathComponent("frames.json"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(File.self, from: data).vectors
    }

    static func vector(_ name: String) throws -> FrameVector {
        try #require(try load().first { $0.name == name }, "fixture \(name)")
    }
}

/// Parses a copy of exactly `bytes.count` bytes, so a read past the end would hit the bounds checks that
/// debug builds put on `UnsafeRawBufferPointer` loads.
func parseOutcome(_ bytes: [UInt8]) -> Result<ParsedFrame, FrameError> {
    bytes.withUnsafeBytes { raw in
        Result { () throws(FrameError) in try FrameParser.parse(raw) }
    }
}

func flowAddress(_ text: String) -> FlowAddress? { IPAddress(text).map(FlowAddress.init) }

extension ParsedFrame {
    /// The IP summary, rebuilt by `change`, in the same family.
    func withIP(_ change: (inout IPSummary) -> Void) -> ParsedFrame {
        var copy = self
        switch network {
        case .ipv4(var ip):
            change(&ip)
            copy.network = .ipv4(ip)
        case .ipv6(var ip):
            change(&ip)
            copy.network = .ipv6(ip)
        case .arp:
            break
        }
        return copy
    }
}
