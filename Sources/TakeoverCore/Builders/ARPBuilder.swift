// ARP for IPv4 over Ethernet (RFC 826), and the two gratuitous forms (RFC 5227 §3): hosts differ in which
// they heed, so a takeover announces itself with both.
//
//   | htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op | sender MAC | sender IP | target MAC | target IP |

extension FrameBuilder {
    /// An ARP message sent from `senderMAC` (also the frame's Ethernet source).
    public struct ARP: Hashable, Sendable, BitwiseCopyable {
        public enum Operation: UInt16, Hashable, Sendable, BitwiseCopyable {
            case request = 1
            case reply = 2
        }

        public var operation: Operation
        public var ethernetDestination: MACAddress
        public var senderMAC: MACAddress
        public var senderAddress: IPv4Address
        public var targetMAC: MACAddress
        public var targetAddress: IPv4Address
        public var vlan: VLANTag?

        @inlinable
        public init(
            operation: Operation, ethernetDestination: MACAddress, senderMAC: MACAddress,
            senderAddress: IPv4Address, targetMAC: MACAddress, targetAddress: IPv4Address, vlan: VLANTag? = nil
        ) {
            self.operation = operation
            self.ethernetDestination = ethernetDestination
            self.senderMAC = senderMAC
            self.senderAddress = senderAddress
            self.targetMAC = targetMAC
            self.targetAddress = targetAddress
            self.vlan = vlan
        }

        /// Who has `targetAddress`? Broadcast, target MAC zero.
        @inlinable
        public static func request(
            senderMAC: MACAddress, senderAddress: IPv4Address, targetAddress: IPv4Address, vlan: VLANTag? = nil
        ) -> ARP {
            ARP(
                operation: .request, ethernetDestination: .broadcast, senderMAC: senderMAC,
                senderAddress: senderAddress, targetMAC: .zero, targetAddress: targetAddress, vlan: vlan)
        }

        /// `senderAddress` is at `senderMAC`, unicast to the asker (or to any known client, to refresh its
        /// cache after a takeover).
        @inlinable
        public static func reply(
            senderMAC: MACAddress, senderAddress: IPv4Address, targetMAC: MACAddress, targetAddress: IPv4Address,
            vlan: VLANTag? = nil
        ) -> ARP {
            ARP(
                operation: .reply, ethernetDestination: targetMAC, senderMAC: senderMAC,
                senderAddress: senderAddress, targetMAC: targetMAC, targetAddress: targetAddress, vlan: vlan)
        }

        /// Gratuitous ARP, request form: op 1, broadcast, sender IP = target IP, target MAC zero.
        @inlinable
        public static func gratuitousRequest(mac: MACAddress, address: IPv4Address, vlan: VLANTag? = nil) -> ARP {
            ARP(
                operation: .request, ethernetDestination: .broadcast, senderMAC: mac, senderAddress: address,
                targetMAC: .zero, targetAddress: address, vlan: vlan)
        }

        /// Gratuitous ARP, reply form: op 2, broadcast, target MAC = sender MAC, target IP = sender IP.
        @inlinable
        public static func gratuitousReply(mac: MACAddress, address: IPv4Address, vlan: VLANTag? = nil) -> ARP {
            ARP(
                operation: .reply, ethernetDestination: .broadcast, senderMAC: mac, senderAddress: address,
                targetMAC: mac, targetAddress: address, vlan: vlan)
        }

        @inlinable static var messageLength: Int { 28 }

        /// Bytes `write(into:)` needs and writes (padded to the Ethernet minimum).
        @inlinable
        public static func frameLength(vlan: VLANTag?) -> Int {
            FrameBuilder.frameLength(contentLength: messageLength, vlan: vlan)
        }

        /// Writes the frame at the start of `buffer` and returns its length.
        @inlinable
        public func write(into buffer: UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int {
            let layout = try FrameBuilder.beginFrame(
                in: buffer, destination: ethernetDestination, source: senderMAC, vlan: vlan,
                etherType: EtherType.arp, contentLength: Self.messageLength)
            let offset = layout.contentOffset
            buffer.storeBigEndian(UInt16(1), at: offset)  // hardware type: Ethernet
            buffer.storeBigEndian(EtherType.ipv4, at: offset + 2)
            buffer.storeBigEndian(UInt16(6 << 8 | 4), at: offset + 4)  // hardware and protocol address lengths
            buffer.storeBigEndian(operation.rawValue, at: offset + 6)
            senderMAC.write(to: buffer, at: offset + 8)
            senderAddress.write(to: buffer, at: offset + 14)
            targetMAC.write(to: buffer, at: offset + 18)
            targetAddress.write(to: buffer, at: offset + 24)
            return layout.frameLength
        }
    }
}
