import TakeoverCore
import Testing

/// Requests built by `RouteNetlinkRequest` against what iproute2 and the Python reference send
/// (NetlinkFixtures). Where we deliberately differ from `ip`, the test applies the difference to `ip`'s bytes
/// and says why.
@Suite("rtnetlink request encoding")
struct NetlinkEncodingTests {
    static let vc0: UInt32 = 3

    static func encode(_ request: RouteNetlinkRequest, sequence: UInt32, capacity: Int = 256) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0xAA, count: capacity)  // not zero: padding must be written
        let length = try buffer.withUnsafeMutableBytes { try request.encode(sequence: sequence, into: $0) }
        return Array(buffer[0..<length])
    }

    @Test func addIPv4MatchesIproute2() throws {
        let request = InterfaceAddressRequest(
            address: .v4(IPv4Address(192, 0, 2, 1)), prefixLength: 24, interfaceIndex: Self.vc0)
        #expect(request.flags.isEmpty)
        #expect(try Self.encode(.addAddress(request), sequence: 0x6b02_7078) == NetlinkFixtures.ipAddIPv4)
    }

    @Test func removeIPv4MatchesIproute2() throws {
        let request = InterfaceAddressRequest(
            address: .v4(IPv4Address(192, 0, 2, 99)), prefixLength: 24, interfaceIndex: Self.vc0)
        #expect(try Self.encode(.removeAddress(request), sequence: 0x6b02_7078) == NetlinkFixtures.ipRemoveIPv4)
    }

    @Test func addIPv4WithLabelMatchesIproute2() throws {
        let request = InterfaceAddressRequest(
            address: .v4(IPv4Address(192, 0, 2, 7)), prefixLength: 24, interfaceIndex: Self.vc0, label: "vc0:tk")
        #expect(try Self.encode(.addAddress(request), sequence: 0x6b02_7078) == NetlinkFixtures.ipAddIPv4Label)
    }

    /// IPv6 defaults to NODAD. `ip … nodad` sets it in the 8-bit ifa_flags only; we also append IFA_FLAGS
    /// (len 8, type 8, value 0x00000002), which the kernel prefers when present: 8 more bytes.
    @Test func addIPv6NoDADMatchesIproute2PlusFlagsAttribute() throws {
        let request = InterfaceAddressRequest(
            address: .v6(IPv6Address("2001:db8::1")!), prefixLength: 64, interfaceIndex: Self.vc0)
        #expect(request.flags == .noDAD)
        var expected = NetlinkFixtures.ipAddIPv6NoDAD
        expected[0] += 8
        expected += [0x08, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00]
        #expect(try Self.encode(.addAddress(request), sequence: 0x6b02_7078) == expected)
    }

    /// `ip link show dev vc0` asks for VF info too (mask 9); we ask only to skip statistics (mask 8).
    @Test func getLinkByNameMatchesIproute2ExceptFilterMask() throws {
        var expected = NetlinkFixtures.ipGetLinkByName
        #expect(expected[36] == 9)
        expected[36] = 8
        #expect(try Self.encode(.getLink(.name("vc0")), sequence: 0x6b02_7067) == expected)
    }

    @Test func getLinkByIndexMatchesPythonReference() throws {
        #expect(try Self.encode(.getLink(.index(3)), sequence: 101) == NetlinkFixtures.pythonGetLinkByIndexRequest)
    }

    @Test func dumpsMatchPythonReference() throws {
        #expect(try Self.encode(.dumpLinks, sequence: 105) == NetlinkFixtures.pythonDumpLinksRequest)
        #expect(try Self.encode(.dumpAddresses(.ipv4), sequence: 102) == NetlinkFixtures.pythonDumpIPv4AddressesRequest)
        #expect(RouteNetlinkRequest.dumpAddresses(.ipv4).isDump)
        #expect(!RouteNetlinkRequest.getLink(.index(1)).isDump)
    }

    @Test func portIDIsWrittenWhereTheHeaderSaysItGoes() throws {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = try buffer.withUnsafeMutableBytes {
            try RouteNetlinkRequest.dumpLinks.encode(sequence: 1, portID: 0x0102_0304, into: $0)
        }
        #expect(length == 40)
        #expect(Array(buffer[12..<16]) == [0x04, 0x03, 0x02, 0x01])  // host order, x86-64 little-endian
    }

    /// Every buffer shorter than the message is refused with the length it would take, and nothing is
    /// written past the buffer's end.
    @Test func shortBuffersAreRefusedWithoutOverrun() throws {
        let requests: [RouteNetlinkRequest] = [
            .addAddress(InterfaceAddressRequest(
                address: .v6(IPv6Address("2001:db8::5")!), prefixLength: 128, interfaceIndex: 9, label: "eth0:a")),
            .getLink(.name("a-long-name-15c")), .dumpAddresses(.unspecified),
        ]
        for request in requests {
            let full = try Self.encode(request, sequence: 7)
            for capacity in 0..<full.count {
                var storage = [UInt8](repeating: 0x5C, count: capacity + 16)
                let outcome = storage.withUnsafeMutableBytes { raw -> Result<Int, NetlinkError> in
                    let slice = UnsafeMutableRawBufferPointer(rebasing: raw[0..<capacity])
                    return Result { () throws(NetlinkError) -> Int in try request.encode(sequence: 7, into: slice) }
                }
                guard case .failure(.bufferTooSmall(let needed, let available)) = outcome else {
                    Issue.record("capacity \(capacity): \(outcome)")
                    continue
                }
                // `needed` is where the part that did not fit would have ended.
                #expect(available == capacity && needed > capacity && needed <= full.count, "capacity \(capacity)")
                #expect(storage[capacity...].allSatisfy { $0 == 0x5C }, "wrote past a \(capacity)-byte buffer")
            }
        }
    }

    @Test func invalidRequestsAreRefused() throws {
        func failure(_ request: RouteNetlinkRequest) -> NetlinkError? {
            do {
                _ = try Self.encode(request, sequence: 1)
                return nil
            } catch let error as NetlinkError {
                return error
            } catch {
                return nil
            }
        }
        let v4 = IPAddress.v4(IPv4Address(192, 0, 2, 1))
        let v6 = IPAddress.v6(IPv6Address("2001:db8::1")!)
        #expect(failure(.addAddress(InterfaceAddressRequest(address: v4, prefixLength: 33, interfaceIndex: 1)))
                == .invalidPrefixLength(33, family: .ipv4))
        #expect(failure(.removeAddress(InterfaceAddressRequest(address: v6, prefixLength: 129, interfaceIndex: 1)))
                == .invalidPrefixLength(129, family: .ipv6))
        #expect(failure(.addAddress(InterfaceAddressRequest(address: v6, prefixLength: 128, interfaceIndex: 1))) == nil)
        #expect(failure(.addAddress(InterfaceAddressRequest(
            address: v4, prefixLength: 24, interfaceIndex: 1, label: "sixteen-bytes-xx"))) == .invalidName("sixteen-bytes-xx"))
        #expect(failure(.getLink(.name(""))) == .invalidName(""))
        #expect(failure(.getLink(.name("a\u{0}b"))) == .invalidName("a\u{0}b"))
        #expect(failure(.getLink(.name("fifteen-bytes-x"))) == nil)
    }
}
