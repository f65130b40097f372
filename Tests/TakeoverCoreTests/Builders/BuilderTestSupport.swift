// Independent judges of the frames the builders write: tshark and scapy, run as child processes on a pcap
// written with `PcapFile`. Neither shares a line of code with the builders, so a frame both accept (and
// whose checksums both recompute to the same value) is right by two outside opinions. Also the addresses,
// random generator and buffer check the builder suites share (`BuilderLab`).
//
// Everything sits in two namespaces so these helpers cannot clash with other suites in this test target.

import Foundation
import TakeoverCore
import Testing

/// The outside judges and the process plumbing they need.
enum Judge {
    /// One packet as tshark decoded it: every field of every layer, nested trees flattened, by tshark name.
    struct Packet: CustomStringConvertible {
        var fields: [String: [String]] = [:]

        /// The single value of `name`, nil when absent. Fields that repeat (e.g. two VLAN tags) use `values`.
        subscript(_ name: String) -> String? { fields[name]?.first }
        func values(_ name: String) -> [String] { fields[name] ?? [] }

        /// tshark's expert messages of warning severity or worse (malformed, bad checksum, …). Each expert item
        /// contributes one message and one severity in the same visit, so the two lists pair up by index.
        var expertWarnings: [String] {
            let warning = 0x0060_0000  // PI_WARN in epan/proto.h; PI_ERROR is 0x0080_0000
            return zip(values("_ws.expert.message"), values("_ws.expert.severity"))
                .filter { (Int($0.1) ?? 0) >= warning }.map(\.0)
        }

        var description: String {
            fields.keys.sorted().map { "\($0)=\(fields[$0]!.joined(separator: ","))" }.joined(separator: " ")
        }
    }

    enum Failure: Error, CustomStringConvertible {
        case processFailed(tool: String, status: Int32, standardError: String)
        case unexpectedOutput(tool: String, output: String)

        var description: String {
            switch self {
            case .processFailed(let tool, let status, let standardError): "\(tool) exited \(status): \(standardError)"
            case .unexpectedOutput(let tool, let output): "\(tool) printed unexpected output: \(output.prefix(500))"
            }
        }
    }

    /// Runs `executable` with `arguments` to completion and returns its standard output.
    static func run(_ executable: String, _ arguments: [String]) throws -> Data {
        // Standard error goes to a file: a second pipe could fill up while we block reading the first.
        let errorPath = temporaryPath(suffix: ".stderr")
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        let errorFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        defer { try? errorFile.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = errorFile
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let standardError = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            throw Failure.processFailed(
                tool: executable, status: process.terminationStatus, standardError: standardError)
        }
        return data
    }

    static func temporaryPath(suffix: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("takeover-builders-\(UUID().uuidString)\(suffix)")
            .path
    }

    /// Writes `frames` to a fresh temporary pcap, runs `body` with its path, deletes it.
    static func withPcapFile<Result>(_ frames: [[UInt8]], _ body: (String) throws -> Result) throws -> Result {
        let file = PcapFile(
            records: frames.enumerated().map { index, frame in
                PcapRecord(timestampNanoseconds: 1_700_000_000_000_000_000 + UInt64(index) * 1000, data: frame)
            })
        let path = temporaryPath(suffix: ".pcap")
        try Data(file.serialized()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// Decodes `frames` with tshark, checksum validation on for IPv4, TCP and UDP (ICMP and ICMPv6 are
    /// always validated), and returns one flattened field map per frame.
    static func tshark(_ frames: [[UInt8]]) throws -> [Packet] {
        let json = try withPcapFile(frames) { path in
            try run(
                "/usr/bin/tshark",
                [
                    "-r", path, "-T", "json", "--no-duplicate-keys",
                    "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                ])
        }
        guard let packets = try JSONSerialization.jsonObject(with: json) as? [[String: Any]] else {
            throw Failure.unexpectedOutput(tool: "tshark", output: String(decoding: json, as: UTF8.self))
        }
        return try packets.map { packet in
            guard let source = packet["_source"] as? [String: Any], let layers = source["layers"] as? [String: Any]
            else { throw Failure.unexpectedOutput(tool: "tshark", output: "\(packet)") }
            var dissected = Packet()
            flatten(layers, into: &dissected.fields)
            return dissected
        }
    }

    private static func flatten(_ tree: [String: Any], into fields: inout [String: [String]]) {
        for (name, value) in tree { flatten(name, value, into: &fields) }
    }

    private static func flatten(_ name: String, _ value: Any, into fields: inout [String: [String]]) {
        switch value {
        case let text as String: fields[name, default: []].append(text)
        case let subtree as [String: Any]: flatten(subtree, into: &fields)
        case let repeated as [Any]: for element in repeated { flatten(name, element, into: &fields) }
        default: fields[name, default: []].append("\(value)")
        }
    }

    /// tshark's value of `*.checksum.status` for a checksum it verified and found correct. In epan/proto.h
    /// (tshark 4.0): PROTO_CHECKSUM_E_BAD = 0, _GOOD = 1, _UNVERIFIED = 2, _NOT_PRESENT = 3.
    static let checksumGood = "1"

    /// Debian's interpreter, which has python3-scapy (a pyenv `python3` may come first on PATH).
    static let python = "/usr/bin/python3"

    /// What scapy makes of one frame: per layer (by scapy class name, e.g. `TCP`, `ICMPv6ND_NA`) the
    /// field values as text, and whether recomputing every checksum field from scratch reproduced the frame.
    struct Verdict: Decodable {
        var layers: [String: [String: String]]
        var checksumFields: [String]
        var checksumsRecomputeIdentically: Bool
    }

    private static let scapyVerifyScript = """
        import json, sys
        from scapy.all import rdpcap, Ether
        verdicts = []
        for packet in rdpcap(sys.argv[1]):
            raw = bytes(packet)
            frame = Ether(raw)
            layers, checksum_fields = {}, []
            layer = frame
            while layer and layer.name != "NoPayload":
                name = type(layer).__name__
                layers[name] = {f.name: str(layer.getfieldval(f.name)) for f in layer.fields_desc}
                for field in ("chksum", "cksum"):
                    if field in layer.fields:
                        checksum_fields.append(name + "." + field)
                        layer.setfieldval(field, None)  # scapy recomputes it when building
                layer = layer.payload
            verdicts.append({"layers": layers, "checksumFields": checksum_fields,
                             "checksumsRecomputeIdentically": bytes(frame) == raw})
        print(json.dumps(verdicts))
        """

    /// Decodes `frames` with scapy and recomputes their checksums.
    static func scapy(_ frames: [[UInt8]]) throws -> [Verdict] {
        let json = try withPcapFile(frames) { path in try run(python, ["-c", scapyVerifyScript, path]) }
        return try JSONDecoder().decode([Verdict].self, from: json)
    }

    /// Frames scapy builds from Python expressions (`Ether()/IP()/ICMP()` …), checksums filled in by scapy.
    static func scapyBuild(_ expressions: [String]) throws -> [[UInt8]] {
        let script = """
            import json
            from scapy.all import *
            frames = [\(expressions.joined(separator: ", "))]
            print(json.dumps([list(bytes(f)) for f in frames]))
            """
        return try JSONDecoder().decode([[UInt8]].self, from: run(python, ["-c", script]))
    }
}

/// What the builder tests share: documentation addresses only (RFC 5737, RFC 3849) and locally
/// administered MACs, a seeded generator, and a checked way to run a builder.
enum BuilderLab {
    static let ourMAC = MACAddress("02:00:00:00:00:0b")!
    static let clientMAC = MACAddress("02:00:00:00:00:0c")!
    static let peerIPv4 = IPv4Address(192, 0, 2, 10)
    static let clientIPv4 = IPv4Address(198, 51, 100, 20)
    static let peerIPv6 = IPv6Address("2001:db8::a")!
    static let clientIPv6 = IPv6Address("2001:db8:1::c")!
    static let vlan = VLANTag(identifier: 42, priority: 5)

    typealias Random = SplitMix64

    /// Runs a builder on a 256-byte buffer pre-filled with a marker, checks the bytes past the frame length it
    /// returned are untouched, and returns the frame.
    static func build(
        sourceLocation: SourceLocation = #_sourceLocation,
        _ build: (UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int
    ) throws -> [UInt8] {
        let marker: UInt8 = 0xA5
        var buffer = [UInt8](repeating: marker, count: 256)
        let length = try buffer.withUnsafeMutableBytes { bytes throws(FrameBuildError) in try build(bytes) }
        #expect(
            buffer[length...].allSatisfy { $0 == marker }, "wrote past the frame it reported",
            sourceLocation: sourceLocation)
        return Array(buffer[..<length])
    }
}
