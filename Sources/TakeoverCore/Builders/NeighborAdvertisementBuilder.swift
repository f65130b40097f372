// IPv6 neighbor advertisement (RFC 4861 §4.4) with a target link-layer address option, hop limit 255 (a
// receiver drops ND messages with any other, proof they were not routed).
//
//   IPv6 header | type 136 | code 0 | checksum | R S O reserved (32 bits) | target (16) | 2 | 1 | MAC (6) |

extension FrameBuilder {
    /// A neighbor advertisement announcing that `target` is at `senderMAC` (also the Ethernet source).
    public struct NeighborAdvertisement: Hashable, Sendable, BitwiseCopyable {
        /// The R, S and O bits, in place in the 32-bit word that follows the checksum.
        public struct Flags: OptionSet, Hashable, Sendable, BitwiseCopyable {
            public var rawValue: UInt32
            @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

            /// The sender is a router.
            public static let router = Flags(rawValue: 0x8000_0000)
            /// Sent in response to a neighbor solicitation.
            public static let solicited = Flags(rawValue: 0x4000_0000)
            /// Replace the cached link-layer address: what a takeover needs receivers to do.
            public static let override = Flags(rawValue: 0x2000_0000)
        }

        public var ethernetDestination: MACAddress
        public var senderMAC: MACAddress
        public var source: IPv6Address
        public var destination: IPv6Address
        public var target: IPv6Address
        public var flags: Flags
        public var vlan: VLANTag?

        @inlinable
        public init(
            ethernetDestination: MACAddress, senderMAC: MACAddress, source: IPv6Address, destination: IPv6Address,
            target: IPv6Address, flags: Flags, vlan: VLANTag? = nil
        ) {
            self.ethernetDestination = ethernetDestination
            self.senderMAC = senderMAC
            self.source = source
            self.destination = destination
            self.target = target
            self.flags = flags
            self.vlan = vlan
        }

        /// Unsolicited advertisement (RFC 4861 §7.2.6) to all nodes (ff02::1), Override set, Solicited clear.
        /// `source` defaults to `target`, the address being taken over.
        @inlinable
        public static func unsolicited(
            senderMAC: MACAddress, target: IPv6Address, source: IPv6Address? = nil, vlan: VLANTag? = nil
        ) -> NeighborAdvertisement {
            NeighborAdvertisement(
                ethernetDestination: .ipv6Multicast(.allNodes), senderMAC: senderMAC, source: source ?? target,
                destination: .allNodes, target: target, flags: .override, vlan: vlan)
        }

        /// The answer to a neighbor solicitation for `target` (RFC 4861 §7.2.4): Solicited and Override, unicast
        /// to the requester. A solicitation from the unspecified address (duplicate address detection) is
        /// answered to all nodes with Solicited clear, as the RFC requires.
        @inlinable
        public static func solicited(
            senderMAC: MACAddress, target: IPv6Address, requesterMAC: MACAddress, requesterAddress: IPv6Address,
            vlan: VLANTag? = nil
        ) -> NeighborAdvertisement {
            if requesterAddress == .any {
                return unsolicited(senderMAC: senderMAC, target: target, vlan: vlan)
            }
            return NeighborAdvertisement(
                ethernetDestination: requesterMAC, senderMAC: senderMAC, source: target,
                destination: requesterAddress, target: target, flags: [.solicited, .override], vlan: vlan)
        }

        /// ICMPv6 message: 4-byte header, flags word, target, 8-byte target link-layer address option.
        @inlinable static var messageLength: Int { 32 }

        /// Bytes `write(into:)` needs and writes.
        @inlinable
        public static func frameLength(vlan: VLANTag?) -> Int {
            FrameBuilder.frameLength(contentLength: FrameBuilder.ipv6HeaderLength + messageLength, vlan: vlan)
        }

        /// Writes the frame at the start of `buffer` and returns its length.
        @inlinable
        public func write(into buffer: UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int {
            let layout = try FrameBuilder.beginFrame(
                in: buffer, destination: ethernetDestination, source: senderMAC, vlan: vlan,
                etherType: EtherType.ipv6,
                contentLength: FrameBuilder.ipv6HeaderLength + Self.messageLength)
            FrameBuilder.writeIPv6Header(
                into: buffer, at: layout.contentOffset, source: source, destination: destination,
                nextHeader: IPProtocolNumber.icmpv6, payloadLength: Self.messageLength, hopLimit: 255)
            let icmp = layout.contentOffset + FrameBuilder.ipv6HeaderLength
            let typeAndCode = UInt16(136) << 8
            let flagsWord = flags.rawValue & 0xE000_0000
            let optionTypeAndLength = UInt16(2) << 8 | 1  // target link-layer address, 8 bytes
            buffer.storeBigEndian(typeAndCode, at: icmp)
            buffer.storeBigEndian(flagsWord, at: icmp + 4)
            target.write(to: buffer, at: icmp + 8)
            buffer.storeBigEndian(optionTypeAndLength, at: icmp + 24)
            senderMAC.write(to: buffer, at: icmp + 26)
            // Summed from the values, not read back (see `FrameBuilder.writeIPv4Header`).
            var sum = InternetChecksum.ipv6PseudoHeader(
                source: source, destination: destination, nextHeader: IPProtocolNumber.icmpv6,
                length: UInt32(Self.messageLength))
            sum.add(typeAndCode)
            sum.add(flagsWord)
            sum.add(target)
            sum.add(optionTypeAndLength)
            sum.add(senderMAC)
            buffer.storeBigEndian(sum.checksum, at: icmp + 2)
            return layout.frameLength
        }
    }
}
