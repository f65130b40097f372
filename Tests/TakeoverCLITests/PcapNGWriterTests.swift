import Foundation
import TakeoverCore
import TakeoverLab
import Testing

@Suite("pcapng writer, read back by tshark")
struct PcapNGWriterTests {
    /// An Ethernet frame: ARP request from `source` (60 bytes with padding).
    func arpRequest(from source: [UInt8], asking target: [UInt8]) -> [UInt8] {
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + source + [0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01]
            + source + [192, 0, 2, 50] + [0, 0, 0, 0, 0, 0] + target + [UInt8](repeating: 0, count: 18)
    }

    @Test("two interfaces, nanosecond timestamps, a frame cut by the snap length: tshark decodes each as written")
    func tsharkReadsIt() throws {
        let scratch = try ScratchDirectory()
        let writer = PcapNGWriter(interfaces: [.init(name: "eth0"), .init(name: "eth1", snapLength: 64)])
        var bytes: [UInt8] = []
        writer.header(into: &bytes)
        let first = arpRequest(from: [0x02, 0, 0, 0, 0, 0x50], asking: [192, 0, 2, 100])
        let second = arpRequest(from: [0x02, 0, 0, 0, 0, 0x51], asking: [192, 0, 2, 101]) + [1, 2, 3]  // 63 bytes: padded
        try writer.packet(interface: 0, timestampNanoseconds: 1_700_000_000_123_456_789, data: first, into: &bytes)
        try writer.packet(
            interface: 1, timestampNanoseconds: 1_700_000_001_000_000_001, originalLength: 1500, data: second, into: &bytes)
        #expect(throws: PcapNGWriter.WriteError.unknownInterface(2)) {
            var scratchBytes: [UInt8] = []
            try writer.packet(interface: 2, timestampNanoseconds: 0, data: first, into: &scratchBytes)
        }
        #expect(bytes.count % 4 == 0)
        let file = scratch.path + "/capture.pcapng"
        try Data(bytes).write(to: URL(fileURLWithPath: file))

        let result = try LabProcess.run(
            [
                "tshark", "-r", file, "-T", "fields", "-E", "separator=|", "-e", "frame.interface_name",
                "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e", "eth.src", "-e", "arp.dst.proto_ipv4",
            ], timeout: .seconds(30))
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(result.standardOutput)")
        guard lines.count == 2 else { return }
        let firstFields = lines[0].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        let secondFields = lines[1].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        #expect(firstFields[0] == "eth0" && firstFields[1].hasPrefix("1700000000.123456789"), "\(firstFields)")
        #expect(firstFields[2] == "60" && firstFields[3] == "60")
        #expect(firstFields[4] == "02:00:00:00:00:50" && firstFields[5] == "192.0.2.100")
        #expect(secondFields[0] == "eth1" && secondFields[1].hasPrefix("1700000001.000000001"), "\(secondFields)")
        #expect(secondFields[2] == "1500" && secondFields[3] == "63", "original length kept beside the captured one")
        #expect(secondFields[5] == "192.0.2.101")
    }
}
