// TCP RST and ACK segments for a tracked session, IPv4 or IPv6, with the pseudo-header checksum.
//
//   | src port | dst port | sequence | acknowledgment | offset·flags | window | checksum | urgent 0 |
//   [ NOP | NOP | kind 8 | len 10 | TSval | TSecr ]   (ACK only, when a timestamp is given)

extension FrameBuilder {
    /// One direction of a tracked TCP session as a segment will carry it: sent from `sourceMAC` / `source`
    /// (usually the taken-over peer's address, from our own MAC) to `destinationMAC` / `destination`.
    public struct TCPControl: Hashable, Sendable, BitwiseCopyable {
        /// RFC 7323 timestamps: our clock's value and the latest value seen from the other side.
        public struct Timestamp: Hashable, Sendable, BitwiseCopyable {
            public var value: UInt32
            public var echoReply: UInt32
            @inlinable public init(value: UInt32, echoReply: UInt32) {
                self.value = value
                self.echoReply = echoReply
            }
        }

        public var sourceMAC: MACAddress
        public var destinationMAC: MACAddress
        /// Both the same family: IPv4 (in `FlowAddress`'s mapped form) or IPv6.
        public var source: FlowAddress
        public var destination: FlowAddress
        public var sourcePort: UInt16
        public var destinationPort: UInt16
        public var sequence: UInt32
        public var acknowledgment: UInt32
        /// Advertised window as on the wire (already scaled down by the session's window scale).
        public var window: UInt16
        /// Carried by the ACK when present; the RST never carries options.
        public var timestamp: Timestamp?
        public var vlan: VLANTag?

        @inlinable
        public init(
            sourceMAC: MACAddress, destinationMAC: MACAddress, source: FlowAddress, destination: FlowAddress,
            sourcePort: UInt16, destinationPort: UInt16, sequence: UInt32, acknowledgment: UInt32, window: UInt16,
            timestamp: Timestamp? = nil, vlan: VLANTag? = nil
        ) {
            self.sourceMAC = sourceMAC
            self.destinationMAC = destinationMAC
            self.source = source
            self.destination = destination
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.sequence = sequence
            self.acknowledgment = acknowledgment
            self.window = window
            self.timestamp = timestamp
            self.vlan = vlan
        }

        /// Bytes `writeReset(into:)` needs and writes.
        @inlinable public var resetFrameLength: Int { frameLength(tcpHeaderLength: 20) }

        /// Bytes `writeAcknowledgment(into:)` needs and writes.
        @inlinable public var acknowledgmentFrameLength: Int {
            frameLength(tcpHeaderLength: timestamp == nil ? 20 : 32)
        }

        /// Writes RST+ACK with `sequence` and `acknowledgment`, window 0 and no options (as Linux's active
        /// reset does). To be accepted at once (RFC 5961 §3.2) `sequence` must equal the receiver's next
        /// expected sequence number; anything else in the window only draws a challenge ACK.
        @inlinable
        public func writeReset(into buffer: UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int {
            try write(into: buffer, flags: [.rst, .ack], window: 0, timestamp: nil)
        }

        /// Writes a pure ACK with `sequence`, `acknowledgment`, `window` and, when set, the timestamp option.
        @inlinable
        public func writeAcknowledgment(into buffer: UnsafeMutableRawBufferPointer) throws(FrameBuildError) -> Int {
            try write(into: buffer, flags: .ack, window: window, timestamp: timestamp)
        }

        @inlinable
        func frameLength(tcpHeaderLength: Int) -> Int {
            let ipHeaderLength = source.isIPv4 ? FrameBuilder.ipv4HeaderLength : FrameBuilder.ipv6HeaderLength
            return FrameBuilder.frameLength(contentLength: ipHeaderLength + tcpHeaderLength, vlan: vlan)
        }

        @inlinable
        func write(
            into buffer: UnsafeMutableRawBufferPointer, flags: TCPFlags, window: UInt16, timestamp: Timestamp?
        ) throws(FrameBuildError) -> Int {
            let isIPv4 = source.isIPv4
            guard destination.isIPv4 == isIPv4 else { throw .mixedAddressFamilies }
            let tcpLength = timestamp == nil ? 20 : 32
            let ipHeaderLength = isIPv4 ? FrameBuilder.ipv4HeaderLength : FrameBuilder.ipv6HeaderLength
            let layout = try FrameBuilder.beginFrame(
                in: buffer, destination: destinationMAC, source: sourceMAC, vlan: vlan,
                etherType: isIPv4 ? EtherType.ipv4 : EtherType.ipv6,
                contentLength: ipHeaderLength + tcpLength)
            let ip = layout.contentOffset
            let pseudoHeader: InternetChecksum
            if isIPv4 {
                let sourceV4 = IPv4Address(rawValue: UInt32(truncatingIfNeeded: source.low))
                let destinationV4 = IPv4Address(rawValue: UInt32(truncatingIfNeeded: destination.low))
                FrameBuilder.writeIPv4Header(
                    into: buffer, at: ip, source: sourceV4, destination: destinationV4,
                    protocolNumber: IPProtocolNumber.tcp, payloadLength: tcpLength,
                    timeToLive: FrameBuilder.defaultHopLimit)
                pseudoHeader = .ipv4PseudoHeader(
                    source: sourceV4, destination: destinationV4, protocolNumber: IPProtocolNumber.tcp,
                    length: UInt16(tcpLength))
            } else {
                let sourceV6 = IPv6Address(high: source.high, low: source.low)
                let destinationV6 = IPv6Address(high: destination.high, low: destination.low)
                FrameBuilder.writeIPv6Header(
                    into: buffer, at: ip, source: sourceV6, destination: destinationV6,
                    nextHeader: IPProtocolNumber.tcp, payloadLength: tcpLength,
                    hopLimit: FrameBuilder.defaultHopLimit)
                pseudoHeader = .ipv6PseudoHeader(
                    source: sourceV6, destination: destinationV6, nextHeader: IPProtocolNumber.tcp,
                    length: UInt32(tcpLength))
            }
            let tcp = ip + ipHeaderLength
            let acknowledgment = flags.contains(.ack) ? self.acknowledgment : 0
            let offsetAndFlags = UInt16(tcpLength / 4) << 12 | flags.rawValue
            buffer.storeBigEndian(sourcePort, at: tcp)
            buffer.storeBigEndian(destinationPort, at: tcp + 2)
            buffer.storeBigEndian(sequence, at: tcp + 4)
            buffer.storeBigEndian(acknowledgment, at: tcp + 8)
            buffer.storeBigEndian(offsetAndFlags, at: tcp + 12)
            buffer.storeBigEndian(window, at: tcp + 14)
            buffer.storeBigEndian(UInt16(0), at: tcp + 18)  // urgent pointer
            // Summed from the values, not read back (see `FrameBuilder.writeIPv4Header`).
            var sum = pseudoHeader
            sum.add(sourcePort)
            sum.add(destinationPort)
            sum.add(sequence)
            sum.add(acknowledgment)
            sum.add(offsetAndFlags)
            sum.add(window)
            if let timestamp {
                let optionHeader: UInt32 = 0x0101_080A  // NOP, NOP, kind 8, length 10
                buffer.storeBigEndian(optionHeader, at: tcp + 20)
                buffer.storeBigEndian(timestamp.value, at: tcp + 24)
                buffer.storeBigEndian(timestamp.echoReply, at: tcp + 28)
                sum.add(optionHeader)
                sum.add(timestamp.value)
                sum.add(timestamp.echoReply)
            }
            buffer.storeBigEndian(sum.checksum, at: tcp + 16)
            return layout.frameLength
        }
    }
}
