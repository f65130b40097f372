// What more than one benchmark suite needs: a seeded generator, the repository's captured frames, and
// random flows. Used in setup only, never inside a measurement.
import Foundation
import TakeoverCore

/// SplitMix64, seeded: the same frames and keys in every run, so runs compare.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

public enum Fixtures {
    /// Tests/TakeoverCoreTests/Fixtures of this checkout (bench/ sits next to Tests/).
    public static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/TakeoverCoreTests/Fixtures")

    /// The frames of every recorded TCP capture (Fixtures/tcp/*.pcap), one array per capture, sorted by name.
    public static func tcpCaptures() -> [(name: String, frames: [[UInt8]])] {
        let folder = directory.appendingPathComponent("tcp")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let captures = names.filter { $0.hasSuffix(".pcap") }.sorted().map { name in
            let bytes = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path)!
            let file = try! PcapFile(bytes: [UInt8](bytes))
            return (name: name, frames: file.records.map(\.data))
        }
        precondition(!captures.isEmpty, "no captures in \(folder.path)")
        return captures
    }

    /// The scapy table's frames (Fixtures/frames/frames.json), by name.
    public static func frameTable() -> [(name: String, frame: [UInt8])] {
        let data = FileManager.default.contents(atPath: directory.appendingPathComponent("frames/frames.json").path)!
        let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (root["vectors"] as! [[String: Any]]).map { vector in
            let hex = Array((vector["hex"] as! String).utf8)
            let bytes = stride(from: 0, to: hex.count, by: 2).map {
                UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)!
            }
            return (name: vector["name"] as! String, frame: bytes)
        }
    }
}

extension FlowKey {
    /// A random TCP 5-tuple: IPv4 (three in four) or IPv6 documentation addresses, random ports.
    public static func random(using generator: inout SplitMix64) -> FlowKey {
        let bits = generator.next()
        let ports = generator.next()
        let (source, destination): (FlowAddress, FlowAddress)
        if bits & 3 != 0 {
            source = FlowAddress(IPv4Address(rawValue: 0xC633_6400 | UInt32(truncatingIfNeeded: bits >> 8) & 0xFF))
            destination = FlowAddress(IPv4Address(rawValue: UInt32(truncatingIfNeeded: bits >> 32)))
        } else {
            source = FlowAddress(high: 0x2001_0DB8_0000_0000, low: generator.next())
            destination = FlowAddress(high: 0x2001_0DB8_0001_0000, low: generator.next())
        }
        return FlowKey(
            source: source, destination: destination, sourcePort: UInt16(truncatingIfNeeded: ports),
            destinationPort: UInt16(truncatingIfNeeded: ports >> 16), protocolNumber: IPProtocolNumber.tcp)
    }
}

extension TCPSegment {
    /// An ACK carrying 1000 bytes with timestamps, the `round`th of its flow: the session-table benchmarks' update.
    public static func benchACK(round: UInt32) -> TCPSegment {
        var options = TCPOptionsSummary()
        options.hasTimestamp = true
        options.timestampValue = 1000 &+ round
        options.timestampEcho = 500 &+ round
        return TCPSegment(
            sequence: 1_000_000 &+ round &* 1000, acknowledgment: 2_000_000 &+ round, flags: .ack, window: 502,
            payloadLength: 1000, payloadOffset: 66, options: options)
    }
}
