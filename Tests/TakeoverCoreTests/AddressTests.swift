import Testing
import TakeoverCore

@Suite struct AddressTests {
    @Test(arguments: [
        ("00:11:22:aa:bb:cc", UInt64(0x0011_22AA_BBCC)), ("FF-FF-FF-FF-FF-FF", UInt64(0xFFFF_FFFF_FFFF)),
    ])
    func macParses(text: String, raw: UInt64) throws {
        let mac = try #require(MACAddress(text))
        #expect(mac.rawValue == raw)
        #expect(MACAddress(mac.description) == mac)
    }

    @Test(arguments: ["", "00:11:22:aa:bb", "00:11:22:aa:bb:cc:dd", "0:11:22:aa:bb:cc", "zz:11:22:aa:bb:cc"])
    func macRejects(text: String) { #expect(MACAddress(text) == nil) }

    @Test func macMulticastBit() {
        #expect(MACAddress("01:00:5e:00:00:01")!.isMulticast)
        #expect(!MACAddress("02:00:00:00:00:01")!.isMulticast)
    }

    @Test func macRoundTripsThroughBytes() {
        let mac = MACAddress(0x02, 0x42, 0xAC, 0x11, 0x00, 0x02)
        var buffer = [UInt8](repeating: 0, count: 8)
        buffer.withUnsafeMutableBytes { mac.write(to: $0, at: 1) }
        #expect(buffer == [0, 0x02, 0x42, 0xAC, 0x11, 0x00, 0x02, 0])
        buffer.withUnsafeBytes { #expect(MACAddress(reading: $0, at: 1) == mac) }
    }

    @Test(arguments: ["192.0.2.1", "0.0.0.0", "255.255.255.255", "203.0.113.77"])
    func ipv4RoundTrips(text: String) throws {
        #expect(try #require(IPv4Address(text)).description == text)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "a.b.c.d"])
    func ipv4Rejects(text: String) { #expect(IPv4Address(text) == nil) }

    @Test(arguments: [
        ("2001:db8::1", "2001:db8::1"), ("::", "::"), ("::1", "::1"), ("fe80::1:2", "fe80::1:2"),
        ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("ff02::1:ff00:1", "ff02::1:ff00:1"),
    ])
    func ipv6CanonicalText(text: String, canonical: String) throws {
        #expect(try #require(IPv6Address(text)).description == canonical)
    }

    @Test(arguments: ["", ":::", "1::2::3", "2001:db8:::1", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "g::"])
    func ipv6Rejects(text: String) { #expect(IPv6Address(text) == nil) }

    @Test func solicitedNodeMulticast() {
        #expect(IPv6Address("2001:db8::12:3456")!.solicitedNodeMulticast == IPv6Address("ff02::1:ff12:3456"))
    }

    @Test func flowAddressKeepsFamily() {
        let v4 = FlowAddress(IPv4Address(192, 0, 2, 9))
        #expect(v4.isIPv4)
        #expect(v4.description == "192.0.2.9")
        let v6 = FlowAddress(IPAddress("2001:db8::9")!)
        #expect(!v6.isIPv4)
        #expect(v6.description == "2001:db8::9")
    }

    @Test func sequenceArithmeticWraps() {
        #expect(SequenceNumber.isBefore(0xFFFF_FFF0, 0x10))
        #expect(SequenceNumber.isAfter(0x10, 0xFFFF_FFF0))
        #expect(SequenceNumber.max(0xFFFF_FFF0, 0x10) == 0x10)
        #expect(!SequenceNumber.isBefore(5, 5))
    }

    @Test func segmentLengthCountsSynAndFin() {
        #expect(TCPSegment(sequence: 0, acknowledgment: 0, flags: [.syn], window: 0, payloadLength: 0).sequenceLength == 1)
        #expect(TCPSegment(sequence: 0, acknowledgment: 0, flags: [.fin, .ack], window: 0, payloadLength: 10).sequenceLength == 11)
    }
}
