import TakeoverCore
import Testing

/// Kernel replies captured from a real kernel (NetlinkFixtures) read by the message walker and the decoders,
/// and malformed variants of them, which must end in a `NetlinkError`, never a trap.
@Suite("rtnetlink reply decoding")
struct NetlinkDecodingTests {
    /// Every message of a datagram, decoded with `body` while the bytes are alive.
    static func messages<T>(
        _ datagram: [UInt8], _ body: (NetlinkMessage) throws -> T
    ) throws -> [T] {
        try datagram.withUnsafeBytes { raw in
            var iterator = NetlinkMessageIterator(raw)
            var results: [T] = []
            while let message = try iterator.next() { results.append(try body(message)) }
            return results
        }
    }

    @Test func linkReplyDecodes() throws {
        let links = try Self.messages(NetlinkFixtures.pythonGetLinkReply) { message in
            #expect(message.type == .newLink)
            #expect(message.sequence == 101)
            #expect(message.portID == 0x35C7)
            return try LinkInfo(decoding: message)
        }
        // The values the capture script set up: vc0 is index 3, its MAC and MTU were set explicitly, it is
        // administratively up while its veth peer is down; a veth allocates one RX queue per CPU (2 there).
        #expect(links == [LinkInfo(
            index: 3, name: "vc0", hardwareAddress: MACAddress("02:00:5e:10:00:01"), mtu: 1400,
            flags: [.up, .broadcast, .multicast], operationalState: .lowerLayerDown, carrier: false,
            hardwareType: LinkInfo.ethernetHardwareType, receiveQueueCount: 2)])
        #expect(links.first?.hasCarrier == false)
    }

    @Test func addressDumpDecodesAcrossDatagrams() throws {
        let first = try Self.messages(NetlinkFixtures.pythonAddressDumpReply0) { message in
            #expect(message.flags.contains(.multipart))
            #expect(message.sequence == 102)
            return try InterfaceAddressInfo(decoding: message)
        }
        #expect(first == [
            InterfaceAddressInfo(
                address: .v4(IPv4Address(192, 0, 2, 1)), prefixLength: 24, interfaceIndex: 3, flags: .permanent,
                scope: 0, label: "vc0"),
            InterfaceAddressInfo(
                address: .v4(IPv4Address(192, 0, 2, 7)), prefixLength: 24, interfaceIndex: 3,
                flags: [.permanent, .secondary], scope: 0, label: "vc0:tk"),
        ])
        let done = try Self.messages(NetlinkFixtures.pythonAddressDumpReply1) { message in
            #expect(message.type == .done)
            #expect(message.flags.contains(.multipart))
            return try NetlinkAcknowledgement(decoding: message)
        }
        #expect(done.map(\.errorNumber) == [0])
    }

    @Test func cappedRefusalCarriesErrnoAndKernelText() throws {
        let duplicate = try Self.messages(NetlinkFixtures.pythonDuplicateAddReply) {
            try NetlinkAcknowledgement(decoding: $0)
        }
        #expect(duplicate.count == 1)
        #expect(duplicate.first?.errorNumber == 17)  // EEXIST
        #expect(duplicate.first?.requestSequence == 103)
        #expect(duplicate.first?.message == "ipv4: Address already assigned")
        #expect(duplicate.first?.isSuccess == false)

        let prefix = try Self.messages(NetlinkFixtures.pythonPrefix33Reply) { try NetlinkAcknowledgement(decoding: $0) }
        #expect(prefix.first?.errorNumber == 22)  // EINVAL
        #expect(prefix.first?.message == "ipv4: Invalid prefix length")
    }

    /// Without NETLINK_CAP_ACK the kernel echoes the whole request before the TLVs; the reader must skip it.
    @Test func uncappedRefusalSkipsTheEchoedRequest() throws {
        let duplicate = try Self.messages(NetlinkFixtures.ipDuplicateAddReply) { try NetlinkAcknowledgement(decoding: $0) }
        #expect(duplicate.first?.errorNumber == 17)
        #expect(duplicate.first?.requestSequence == 0x6b02_7078)
        #expect(duplicate.first?.message == "ipv4: Address already assigned")

        let missing = try Self.messages(NetlinkFixtures.ipMissingRemoveReply) { try NetlinkAcknowledgement(decoding: $0) }
        #expect(missing.first?.errorNumber == 99)  // EADDRNOTAVAIL
        #expect(missing.first?.message == "ipv4: Address not found")
    }

    @Test func successAcknowledgement() throws {
        let ack = try Self.acknowledgement(NetlinkFixtures.ipSuccessAckReply)
        #expect(ack.isSuccess)
        #expect(ack.requestSequence == 0x6b02_7067)
        #expect(ack.message == nil)
    }

    static func acknowledgement(_ datagram: [UInt8]) throws -> NetlinkAcknowledgement {
        let all = try messages(datagram) { try NetlinkAcknowledgement(decoding: $0) }
        try #require(all.count == 1)
        return all[0]
    }

    // MARK: malformed input

    static let allFixtures: [[UInt8]] = [
        NetlinkFixtures.pythonGetLinkReply, NetlinkFixtures.pythonAddressDumpReply0,
        NetlinkFixtures.pythonAddressDumpReply1, NetlinkFixtures.pythonDuplicateAddReply,
        NetlinkFixtures.pythonPrefix33Reply, NetlinkFixtures.ipDuplicateAddReply, NetlinkFixtures.ipSuccessAckReply,
        NetlinkFixtures.ipMissingRemoveReply,
    ]

    /// Reads a datagram the way the socket does: every message, decoded by its type. Returns the error, if any.
    static func readAll(_ datagram: [UInt8]) -> NetlinkError? {
        datagram.withUnsafeBytes { raw in
            do throws(NetlinkError) {
                var iterator = NetlinkMessageIterator(raw)
                while let message = try iterator.next() {
                    switch message.type {
                    case .newLink: _ = try LinkInfo(decoding: message)
                    case .newAddress: _ = try InterfaceAddressInfo(decoding: message)
                    case .error, .done: _ = try NetlinkAcknowledgement(decoding: message)
                    default: break
                    }
                }
                return nil
            } catch {
                return error
            }
        }
    }

    /// A datagram cut anywhere inside a message is refused (nlmsg_len no longer fits); cut at a message
    /// boundary it reads as the messages before the cut.
    @Test func everyTruncationIsATypedError() {
        for fixture in Self.allFixtures {
            #expect(Self.readAll(fixture) == nil)
            let boundaries = Self.messageBoundaries(fixture)
            for cut in 1..<fixture.count {
                let error = Self.readAll(Array(fixture[0..<cut]))
                if boundaries.contains(cut) {
                    #expect(error == nil, "cut at boundary \(cut)")
                } else {
                    #expect(error != nil, "cut at \(cut) of \(fixture.count) read without error")
                }
            }
        }
    }

    /// Independent of the reader: offsets where messages end, from each nlmsg_len.
    static func messageBoundaries(_ datagram: [UInt8]) -> Set<Int> {
        var boundaries: Set<Int> = []
        var offset = 0
        while offset + 4 <= datagram.count {
            let length = Int(datagram[offset]) | Int(datagram[offset + 1]) << 8 | Int(datagram[offset + 2]) << 16
            guard length >= 16 else { break }
            offset += (length + 3) & ~3
            boundaries.insert(offset)
        }
        return boundaries
    }

    @Test func corruptLengthsAndShapesAreNamed() {
        var linkReply = NetlinkFixtures.pythonGetLinkReply
        linkReply[0] = 15
        linkReply[1] = 0
        #expect(Self.readAll(linkReply) == .truncatedHeader(offset: 0))

        var overrun = NetlinkFixtures.pythonPrefix33Reply
        overrun[0] += 4
        #expect(Self.readAll(overrun) == .messageOverrunsBuffer(offset: 0, length: 72, available: 68))

        // The first attribute of the link reply (IFLA_IFNAME at offset 32): length 2, then length past the end.
        var shortAttribute = NetlinkFixtures.pythonGetLinkReply
        shortAttribute[32] = 2
        #expect(Self.readAll(shortAttribute) == .malformedAttribute(offset: 32))
        var longAttribute = NetlinkFixtures.pythonGetLinkReply
        longAttribute[32] = 0xFF
        longAttribute[33] = 0xFF
        #expect(Self.readAll(longAttribute) == .malformedAttribute(offset: 32))

        // Name without its NUL: "vc0\0" → "vc0x".
        var unterminated = NetlinkFixtures.pythonGetLinkReply
        #expect(unterminated[39] == 0)
        unterminated[39] = 0x78
        #expect(Self.readAll(unterminated) == .malformedString(type: LinkAttributeType.interfaceName))

        // IFLA_MTU (offset 40) claiming 6 bytes: a u32 of the wrong size. The next attribute still lines up
        // because 6 rounds up to 8.
        var mtu = NetlinkFixtures.pythonGetLinkReply
        let mtuOffset = Self.attributeOffset(in: mtu, messageOffset: 0, fixedHeader: 16, type: 4)
        mtu[mtuOffset] = 6
        #expect(Self.readAll(mtu) == .attributeLength(type: 4, expected: 4, actual: 2))

        // An address message of family 7.
        var family = NetlinkFixtures.pythonAddressDumpReply0
        family[16] = 7
        #expect(Self.readAll(family) == .unsupportedAddressFamily(7))

        // An NLMSG_ERROR too short for its nlmsgerr.
        let shortError: [UInt8] = [20, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xEF, 0xFF, 0xFF, 0xFF]
        #expect(Self.readAll(shortError) == .truncatedPayload(type: .error, needed: 20, available: 4))

        // A link reply without IFLA_IFNAME: retype that attribute to an unused number.
        var nameless = NetlinkFixtures.pythonGetLinkReply
        nameless[34] = 0x7F
        #expect(Self.readAll(nameless) == .missingAttribute(type: LinkAttributeType.interfaceName))
    }

    /// Offset of the first attribute of `type` in the message at `messageOffset` (walked independently).
    static func attributeOffset(in bytes: [UInt8], messageOffset: Int, fixedHeader: Int, type: UInt16) -> Int {
        let end = messageOffset + (Int(bytes[messageOffset]) | Int(bytes[messageOffset + 1]) << 8)
        var offset = messageOffset + 16 + fixedHeader
        while offset + 4 <= end {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
            if UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8 == type { return offset }
            offset += (length + 3) & ~3
        }
        return -1
    }

    /// Random corruption of the real replies (seeded, so a failure reproduces): the readers must return or
    /// throw, never trap or read out of bounds (which would trap on the rebased buffer slices).
    @Test func randomCorruptionNeverTraps() {
        var generator = SplitMix64(seed: 0x7E57_0A11)
        var errors = 0
        var rounds = 0
        for fixture in Self.allFixtures {
            for _ in 0..<2000 {
                var bytes = fixture
                for _ in 0...Int(generator.next() % 4) {
                    let position = Int(generator.next() % UInt64(bytes.count))
                    bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                }
                if generator.next() % 4 == 0 { bytes.removeLast(Int(generator.next() % UInt64(bytes.count))) }
                if Self.readAll(bytes) != nil { errors += 1 }
                rounds += 1
            }
        }
        // Corruption that hits a length, a family or a string is caught; most single-byte hits land in values.
        #expect(errors > rounds / 20)
        #expect(errors < rounds)
    }
}

