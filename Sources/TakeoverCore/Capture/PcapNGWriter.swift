// pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html), the writing half only, streamed:
// one section header, one interface description per capture interface, then an enhanced packet block per
// frame. Little-endian, nanosecond timestamps (if_tsresol = 9), interface names recorded, so Wireshark shows
// which link a frame came from. `takeover capture` writes what the daemon's filter sees with it.
//
//   ┌ SHB ┐┌ IDB 0 ┐┌ IDB 1 ┐┌ EPB (if 0) ┐┌ EPB (if 1) ┐ …
//   every block: type u32 | total length u32 | body (padded to 4) | total length u32

/// Builds pcapng blocks into a caller's byte array (append-only: a block is complete once appended).
public struct PcapNGWriter: Sendable {
    public struct Interface: Hashable, Sendable {
        public var name: String
        public var linkType: PcapLinkType
        public var snapLength: UInt32

        public init(name: String, linkType: PcapLinkType = .ethernet, snapLength: UInt32 = 262_144) {
            self.name = name
            self.linkType = linkType
            self.snapLength = snapLength
        }
    }

    public let interfaces: [Interface]

    static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
    static let interfaceDescriptionType: UInt32 = 0x0000_0001
    static let enhancedPacketType: UInt32 = 0x0000_0006
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D

    public init(interfaces: [Interface]) {
        self.interfaces = interfaces
    }

    /// The section header and one interface description per interface: what a file starts with.
    public func header(into out: inout [UInt8]) {
        block(Self.sectionHeaderType, into: &out) { body in
            Self.put(Self.byteOrderMagic, &body)
            Self.put(UInt16(1), &body)  // major
            Self.put(UInt16(0), &body)  // minor
            Self.put(UInt64.max, &body)  // section length: not given (-1)
            Self.option(4, Array("takeover".utf8), &body)  // shb_userappl
            Self.endOfOptions(&body)
        }
        for interface in interfaces {
            block(Self.interfaceDescriptionType, into: &out) { body in
                Self.put(UInt16(truncatingIfNeeded: interface.linkType.rawValue), &body)
                Self.put(UInt16(0), &body)
                Self.put(interface.snapLength, &body)
                Self.option(2, Array(interface.name.utf8), &body)  // if_name
                Self.option(9, [9], &body)  // if_tsresol: 10^-9 s
                Self.endOfOptions(&body)
            }
        }
    }

    public enum WriteError: Error, Equatable, Sendable {
        case unknownInterface(Int)
        case frameLongerThanSnapLength(length: Int, snapLength: UInt32)
    }

    /// One enhanced packet block: `data` captured on `interface` (an index into `interfaces`) at
    /// `timestampNanoseconds` since the epoch, `originalLength` bytes long on the wire.
    public func packet(
        interface: Int, timestampNanoseconds: UInt64, originalLength: Int? = nil, data: some Collection<UInt8>,
        into out: inout [UInt8]
    ) throws(WriteError) {
        guard interfaces.indices.contains(interface) else { throw .unknownInterface(interface) }
        guard data.count <= Int(interfaces[interface].snapLength) else {
            throw .frameLongerThanSnapLength(length: data.count, snapLength: interfaces[interface].snapLength)
        }
        block(Self.enhancedPacketType, into: &out) { body in
            Self.put(UInt32(interface), &body)
            Self.put(UInt32(truncatingIfNeeded: timestampNanoseconds >> 32), &body)
            Self.put(UInt32(truncatingIfNeeded: timestampNanoseconds), &body)
            Self.put(UInt32(data.count), &body)
            Self.put(UInt32(clamping: max(originalLength ?? data.count, data.count)), &body)
            body.append(contentsOf: data)
            Self.pad(&body)
        }
    }

    /// The body is built on its own so its padding counts from the block's start, wherever `out` ends.
    private func block(_ type: UInt32, into out: inout [UInt8], _ fill: (inout [UInt8]) -> Void) {
        var body: [UInt8] = []
        fill(&body)
        let total = UInt32(12 + body.count)
        Self.put(type, &out)
        Self.put(total, &out)
        out.append(contentsOf: body)
        Self.put(total, &out)
    }

    private static func put<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func pad(_ out: inout [UInt8]) {
        while out.count % 4 != 0 { out.append(0) }
    }

    private static func option(_ code: UInt16, _ value: [UInt8], _ out: inout [UInt8]) {
        put(code, &out)
        put(UInt16(value.count), &out)
        out.append(contentsOf: value)
        pad(&out)
    }

    private static func endOfOptions(_ out: inout [UInt8]) {
        put(UInt32(0), &out)
    }
}
